"""The `vqaudio` command: help, info, reconstruct, evaluate and clear errors, on a tiny trained model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import make_fsdd_folder
from tests.test_train import tiny_recipe
from vqaudio.audio.io import load, save
from vqaudio.cli import main
from vqaudio.data.synth import synth_speech
from vqaudio.train import fit


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    corpus = make_fsdd_folder(root / "fsdd")
    return fit(tiny_recipe(corpus, root / "runs")), corpus


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("train", "reconstruct", "evaluate", "info"):
        assert command in text


def test_inference_commands_do_not_import_lightning() -> None:
    code = "import sys, vqaudio.cli, vqaudio.pipelines, vqaudio.models; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_info_prints_config_and_parameters(checkpoint: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(checkpoint[0])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "vqvae" and info["sample_rate"] == 8000 and info["parameters"] > 0
    assert info["latent_bits_per_second"] > 0
    assert isinstance(info["metadata"]["epoch"], int)  # metadata shown decoded, not as JSON text
    assert not str(info["metadata"]["recipe"]).startswith('"')


def test_reconstruct_keeps_rate_channels_and_length(checkpoint: tuple[Path, Path], tmp_path: Path) -> None:
    stereo_16k = np.stack([synth_speech(1.3, 16000, seed=1), synth_speech(1.3, 16000, seed=2)])
    src = save(tmp_path / "in.flac", stereo_16k, 16000)
    assert main(["reconstruct", str(checkpoint[0]), str(src), "-o", str(tmp_path / "out.wav")]) == 0
    out, sr = load(tmp_path / "out.wav", mono=False)
    assert sr == 16000 and out.shape == stereo_16k.shape and np.isfinite(out).all()


def test_evaluate_prints_a_table_and_json(
    checkpoint: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, corpus = checkpoint
    out_json = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                str(ckpt),
                "--data",
                str(corpus),
                "--json",
                str(out_json),
                "--griffin-lim-iters",
                "4",
            ]
        )
        == 0
    )
    assert "pesq_nb" in capsys.readouterr().out
    report = json.loads(out_json.read_text())
    row = report["rows"][0]
    assert report["benchmark"] == "evaluate" and row["system"].startswith("vqaudio-")
    assert 0.0 <= row["stoi"] <= 1.0 and row["utterances"] >= 1


def test_bad_input_is_a_clear_error(
    checkpoint: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not really audio")
    assert main(["reconstruct", str(checkpoint[0]), str(bad), "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert "broken.wav" in err
    assert main(["info", str(tmp_path / "missing.safetensors")]) == 2
