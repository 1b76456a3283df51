"""Folder jobs with --jobs N: worker processes give the same files as one process, and still list failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TINY_MODEL
from vqaudio.audio.io import save
from vqaudio.cli import build_parser, main
from vqaudio.data.synth import synth_speech
from vqaudio.models import build_model, save_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    model = build_model("vqvae", dict(TINY_MODEL, codebook_size=16))
    return save_model(model, tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four clips (8 and 16 kHz, mono and stereo, one in a sub-folder) and one file that is not audio."""
    folder = tmp_path_factory.mktemp("recordings")
    for i, (rate, channels) in enumerate([(8000, 1), (16000, 1), (8000, 2), (11025, 1)]):
        wave = synth_speech(0.4, sample_rate=rate, seed=i)
        wave = np.stack([wave, 0.5 * wave]) if channels == 2 else wave
        save(folder / ("sub" if i == 3 else "") / f"clip{i}.wav", wave, rate)
    (folder / "broken.wav").write_bytes(b"RIFF, but not really a wave file")
    return folder


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _argv(command: str, model: Path, folder: Path, out: Path) -> list[str]:
    if command == "encode":
        return ["encode", str(folder), "-o", str(out), "--model", str(model)]
    return ["reconstruct", str(model), str(folder), "-o", str(out), "--griffin-lim-iters", "4"]


@pytest.mark.parametrize(("command", "suffix"), [("encode", ".vqa"), ("reconstruct", ".wav")])
def test_jobs_2_writes_what_jobs_1_writes_and_lists_the_same_failures(
    tiny_model: Path, recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, suffix: str
) -> None:
    runs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        argv = [*_argv(command, tiny_model, recordings, out), "--jobs", str(jobs), "--threads", "1", "-q"]
        code, stdout, stderr = _run(argv, capsys)
        assert code == 1, stderr  # broken.wav failed, the others were written
        assert f"wrote 4 {suffix} files to {out}" in stdout
        failed = [line for line in stderr.splitlines() if line.startswith(f"vqaudio {command}: ")]
        assert len(failed) == 2 and "broken.wav" in failed[0] and failed[1].endswith("1 of 5 input files failed")
        runs[jobs] = ({p.relative_to(out): p.read_bytes() for p in out.rglob(f"*{suffix}")}, failed[0])
    (files_1, failure_1), (files_2, failure_2) = runs[1], runs[2]
    assert sorted(files_1) == sorted(files_2) == sorted(Path(p).with_suffix(suffix) for p in _clips())
    assert all(files_1[name] == files_2[name] for name in files_1)  # byte for byte
    assert failure_1 == failure_2


def _clips() -> list[str]:
    return ["clip0.wav", "clip1.wav", "clip2.wav", "sub/clip3.wav"]


def test_jobs_must_be_a_whole_number_of_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["decode", "in", "-o", "out"]).jobs == 1
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["denoise", "in", "-o", "out", "--jobs", bad])
        assert "--jobs" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not an option of single-file commands
        parser.parse_args(["codec", "in", "-o", "out", "--jobs", "2"])
