"""The `vqaudio` command: help, info, reconstruct, evaluate, decode of folders, --device, -q and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_fsdd_folder
from tests.test_train import tiny_recipe
from vqaudio.audio.io import load, save
from vqaudio.cli import build_parser, main
from vqaudio.data.synth import synth_speech
from vqaudio.models import VQVAE, VQVAEConfig, save_model
from vqaudio.train import fit

COMMANDS = ("train", "reconstruct", "evaluate", "info", "report", "encode", "decode", "codec", "denoise", "separate")
MODEL_COMMANDS = ("reconstruct", "evaluate", "encode", "decode", "codec", "denoise", "separate")


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
    for command in COMMANDS:
        assert command in text
    assert "--quiet" in text and "--verbose" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "--quiet" in text
    assert ("--device DEVICE" in text) == (command in MODEL_COMMANDS)
    assert ("--threads N" in text) == (command in MODEL_COMMANDS)  # every model command, all of them write
    assert ("--force" in text) == (command in MODEL_COMMANDS or command == "train")  # train: replace best weights


def test_help_does_not_import_torch() -> None:
    code = "import sys, vqaudio.cli; vqaudio.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


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
    page = ckpt.parent / "report.html"
    page.unlink(missing_ok=True)
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
    assert (ckpt.parent / "recipe.yaml").is_file() and page.is_file()  # the run's report, rewritten


def test_bad_input_is_a_clear_error(
    checkpoint: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not really audio")
    assert main(["reconstruct", str(checkpoint[0]), str(bad), "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert "broken.wav" in err
    assert main(["info", str(tmp_path / "missing.safetensors")]) == 2


def tiny_codec_weights(path: Path) -> Path:
    torch.manual_seed(0)
    config = VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=2)
    return save_model(VQVAE(config), path)


def test_decode_a_folder_keeps_relative_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(tiny_codec_weights(tmp_path / "tiny.safetensors"))
    save(tmp_path / "in" / "a.wav", synth_speech(0.5, 8000, seed=1), 8000)
    save(tmp_path / "in" / "sub" / "b.flac", np.stack([synth_speech(0.3, 16000, seed=s) for s in (2, 3)]), 16000)
    assert main(["encode", str(tmp_path / "in"), "-o", str(tmp_path / "vqa"), "--model", model]) == 0
    (tmp_path / "vqa" / "notes.txt").write_text("not a bitstream")  # other files are left alone
    assert main(["decode", str(tmp_path / "vqa"), "-o", str(tmp_path / "out"), "--model", model]) == 0
    assert "wrote 2 .wav files" in capsys.readouterr().out
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "a.wav",
        "sub",
        "sub/b.wav",
    ]
    b, sr = load(tmp_path / "out" / "sub" / "b.wav", mono=False)
    assert sr == 16000 and b.shape == (2, 4800)
    # a folder with no .vqa files in it is a clear error
    (tmp_path / "empty" / "deep").mkdir(parents=True)
    assert main(["decode", str(tmp_path / "empty"), "-o", str(tmp_path / "o"), "--model", model]) == 2
    err = capsys.readouterr().err
    assert "no .vqa files" in err and "empty" in err
    # a file as the output of a folder is a clear error too
    assert main(["decode", str(tmp_path / "vqa"), "-o", str(tmp_path / "in" / "a.wav"), "--model", model]) == 2
    assert "folder" in capsys.readouterr().err


BAD_DEVICES = ["bogus", "cuda:7"] + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", BAD_DEVICES)
@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_unusable_device_is_a_clear_error(
    command: str, device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    wav = save(tmp_path / "in.wav", synth_speech(0.3, 8000, seed=1), 8000)
    args = {
        "reconstruct": ["reconstruct", "model.safetensors", str(wav), "-o", str(tmp_path / "o.wav")],
        "evaluate": ["evaluate", "model.safetensors", "--data", str(tmp_path)],
        "encode": ["encode", str(wav), "-o", str(tmp_path / "o.vqa")],
        "decode": ["decode", str(tmp_path / "o.vqa"), "-o", str(tmp_path / "o.wav")],
        "codec": ["codec", str(wav), "-o", str(tmp_path / "o.wav")],
        "denoise": ["denoise", str(wav), "-o", str(tmp_path / "o.wav")],
        "separate": ["separate", str(wav), "-o", str(tmp_path / "sep")],
    }[command]
    assert main([*args, "--device", device]) == 2  # checked before any model or file is read
    err = capsys.readouterr().err
    assert f"vqaudio {command}: error: --device {device!r}" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "o.vqa").exists() and not (tmp_path / "sep").exists()


def test_device_cpu_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(tiny_codec_weights(tmp_path / "tiny.safetensors"))
    wav = save(tmp_path / "in.wav", synth_speech(0.5, 8000, seed=1), 8000)
    assert main(["codec", str(wav), "-o", str(tmp_path / "o.wav"), "--model", model, "--device", "cpu:0"]) == 0
    assert load(tmp_path / "o.wav")[0].shape == (4000,)


def test_quiet_silences_info_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(tiny_codec_weights(tmp_path / "tiny.safetensors"))
    wav = save(tmp_path / "in.wav", synth_speech(0.5, 8000, seed=1), 8000)
    encode = ["encode", str(wav), "-o", str(tmp_path / "o.vqa"), "--model", model, "--force"]  # run again and again
    assert main(encode) == 0
    out, err = capsys.readouterr()
    assert "model: tiny" in err and "wrote" in out  # log lines on stderr, results on stdout
    for argv in (["-q", *encode], [*encode, "--quiet"]):  # before or after the command name
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert err == "" and "wrote" in out
    assert main(["-v", *encode]) == 0
    assert "device: cpu" in capsys.readouterr().err  # a debug line
    assert main(["-q", *encode]) == 0 and capsys.readouterr().err == ""  # and -q again after -v
    assert build_parser().parse_args(encode).quiet is False


def test_missing_extras_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "lightning", None)  # as if `pip install vqaudio` without [train]
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 2
    assert "pip install 'vqaudio[train]'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pesq", None)  # ... without [eval]
    wav = save(tmp_path / "in.wav", synth_speech(0.5, 8000, seed=1), 8000)
    model = str(tiny_codec_weights(tmp_path / "tiny.safetensors"))
    assert main(["codec", str(wav), "-o", str(tmp_path / "o.wav"), "--model", model, "--score"]) == 2
    assert "pip install 'vqaudio[eval]'" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()  # refused before the work, not after
    assert main(["evaluate", model, "--data", str(tmp_path)]) == 2
    assert "pip install 'vqaudio[eval]'" in capsys.readouterr().err
