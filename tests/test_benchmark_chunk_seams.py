"""Smoke test of benchmarks/chunk_seams.py's denoise and separate jobs on folders and tiny models made here: the
rows, the joins where the pipelines' runners put them, and the whole-vs-chunked figures (zero for a model whose
receptive field the context covers, not zero for one with a GRU over time)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_fsdd_folder
from vqaudio.audio import save
from vqaudio.models import build_model, save_model

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "chunk_seams.py"
RATE = 16000
UNET = {"channels": [16, 24], "n_bottleneck_blocks": 1, "latent_dim": 8, "codebook_size": 16}


def _load_benchmark(monkeypatch):
    monkeypatch.syspath_prepend(str(_SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("benchmark_chunk_seams", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_chunk_seams", module)
    spec.loader.exec_module(module)
    return module


def _folders(root: Path) -> tuple[Path, Path, Path]:
    """(speech, noise, music): 8 kHz FSDD-like validation speech (~32 s), the three validation noises, and
    MIR-1K-like stereo clips (left = a chord, right = a tone in syllables) in val/, at levels far apart."""
    speech = make_fsdd_folder(root / "speech", speakers=("yweweler",), clips=40, seconds=0.8).parent
    rng = np.random.default_rng(0)
    for name in ("city", "rain", "wind", "birds"):
        save(root / "noise" / f"{name}.flac", (0.1 * rng.standard_normal(3 * RATE)).astype(np.float32), RATE)
    t = np.arange(7 * RATE) / RATE
    for i, level in enumerate((1.0, 0.03, 0.3, 0.01)):  # levels far apart: each chunk's mean differs
        voice = 0.1 * np.sin(2 * np.pi * (220 + 20 * i) * t) * (np.sin(2 * np.pi * 2 * t) > 0)
        chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 165.0)) / 15
        chord = chord + 0.02 * rng.standard_normal(t.size)
        clip = level * np.stack([chord, voice])
        save(root / "music" / "val" / f"singer_{i}_01.flac", clip.astype(np.float32), RATE)
    return speech, root / "noise", root / "music"


def test_denoise_and_separate_jobs_rows_joins_and_whole_vs_chunked(tmp_path: Path, monkeypatch) -> None:
    bench = _load_benchmark(monkeypatch)
    speech, noise, music = _folders(tmp_path)
    torch.manual_seed(0)
    # no squeeze-excite, no GRU: the 0.5 s context covers the receptive field, so chunked == whole
    denoiser = build_model("vqunet", {"sample_rate": RATE, "n_fft": 512, "hop_length": 128, "se": False, **UNET})
    # a GRU over time and squeeze-excite (a mean over the whole chunk): chunked != whole. Both start as the identity
    # (zero output projections, zero last convs of the residual branches): given weights here
    separator = build_model("dual-vae", {"sample_rate": RATE, "n_fft": 1024, "hop_length": 256, "recurrent_stages": 1,
                                         **UNET})  # fmt: skip
    with torch.no_grad():
        for parameter in separator.parameters():
            if not parameter.any():
                parameter.normal_(std=1.0)
    out = tmp_path / "seams.json"
    argv = ["--data", str(speech), "--jobs", "denoise", "separate", "--seconds", "24", "--denoise-corpora", "all",
            "--noise", str(noise), "--music", str(music), "--json", str(out),
            "--denoise-model", str(save_model(denoiser, tmp_path / "den.safetensors")),
            "--separate-model", str(save_model(separator, tmp_path / "sep.safetensors"))]  # fmt: skip
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "chunk_seams" and report["jobs"] == ["denoise", "separate"]
    rows = {(r["system"], r["chunking"]): r for r in report["rows"]}
    den_rows = [("noisy", "none"), ("vqaudio-den", "whole"), ("vqaudio-den", "chunked")]
    sep_rows = [("mixture", "none"), ("vqaudio-sep-vocals", "whole"), ("vqaudio-sep-vocals", "chunked")]
    assert list(rows) == den_rows + sep_rows
    assert all(r["joins"] == 2 for r in rows.values())  # 24 s in the pipelines' default 10 s chunks
    den, sep = report["denoise"], report["separate"]
    assert den["noises"] == ["city", "rain", "wind"] and den["seconds"] == sep["seconds"] == 24.0
    # the default chunking, rounded up to whole multiples of the model stride (2 here) in frames
    assert (den["chunk_frames"], den["context_frames"]) == (1250, 62) and den["join_seconds"] == [10.0, 20.0]
    assert (sep["chunk_frames"], sep["context_frames"]) == (626, 62) and sep["join_seconds"] == [10.016, 20.032]
    whole, chunked = rows[("vqaudio-den", "whole")], rows[("vqaudio-den", "chunked")]
    assert chunked["max_abs_diff"] < 1e-4 and chunked["diff_near_joins_db"] < -60 and chunked["diff_away_db"] < -60
    assert chunked["err_near_joins_db"] == pytest.approx(whole["err_near_joins_db"], abs=0.01)
    assert chunked["si_sdr_db"] == pytest.approx(whole["si_sdr_db"], abs=0.01)
    assert whole["diff_near_joins_db"] is None and whole["rtf_x"] > 0 and rows[("noisy", "none")]["rtf_x"] is None
    # with a GRU and squeeze-excite, chunks differ from the whole file (a little, for this untrained model), far
    # above the float rounding of two ways to the same numbers (the denoiser's ~-140 dB)
    recurrent = rows[("vqaudio-sep-vocals", "chunked")]
    assert recurrent["max_abs_diff"] > 1e-6 and recurrent["diff_away_db"] > chunked["diff_away_db"] + 30
