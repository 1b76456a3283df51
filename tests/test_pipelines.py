"""Reconstructor and the Griffin-Lim ceiling: shapes, long inputs, quality bounds, and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqaudio.assets import pretrained_names
from vqaudio.data.synth import synth_speech
from vqaudio.metrics import pesq, stoi
from vqaudio.models import VQVAE, VQVAEConfig
from vqaudio.pipelines import Reconstructor, TrueMagnitudeGriffinLim


@pytest.fixture(scope="module")
def small_model() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16))


def test_long_input_is_chunked_to_the_same_length(small_model: VQVAE) -> None:
    wave = synth_speech(3.3, 8000, seed=3)
    rec = Reconstructor(small_model, griffin_lim_iters=2, chunk_seconds=1.0, context_seconds=0.1)
    out = rec(wave, 8000)
    assert out.shape == wave.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_chunked_spectrogram_matches_whole_away_from_seams(small_model: VQVAE) -> None:
    # The conv model is local in time, so processing a chunk must give what the whole input gives in its middle.
    rec = Reconstructor(small_model)
    wave = torch.from_numpy(synth_speech(2.0, 8000, seed=4))
    whole = rec.model_features(rec.front_end.features(wave))
    part = rec.model_features(rec.front_end.features(wave[4000:12000]))
    middle = slice(20, 100)  # frames of the part, well away from its edges
    np.testing.assert_allclose(part[:, middle].numpy(), whole[:, 62:250][:, middle].numpy(), atol=1e-3)


def test_bad_waveforms_are_refused(small_model: VQVAE) -> None:
    rec = Reconstructor(small_model, griffin_lim_iters=1)
    with pytest.raises(ValueError, match="NaN"):
        rec(np.array([0.0, np.nan, 0.0] * 100, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="no samples"):
        rec(np.zeros(0, dtype=np.float32), 8000)
    silence = rec(np.zeros(4000, dtype=np.float32), 8000)
    assert silence.shape == (4000,) and np.isfinite(silence).all()


def test_input_level_makes_reconstruction_level_invariant() -> None:
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16,
                              input_level_db=-20.0))  # fmt: skip
    rec = Reconstructor(model, griffin_lim_iters=4)
    wave = synth_speech(1.0, 8000, seed=5)
    loud, quiet = rec(wave, 8000), rec(wave * np.float32(0.1), 8000)
    np.testing.assert_allclose(quiet, 0.1 * loud, rtol=1e-3, atol=1e-6)  # same model input, output at input level
    plain = Reconstructor(VQVAE(VQVAEConfig(**{**model.config.to_dict(), "input_level_db": None})), griffin_lim_iters=4)
    assert plain.input_level_db is None


def test_true_magnitude_ceiling_is_near_transparent() -> None:
    wave = synth_speech(3.0, 8000, seed=5)
    out = TrueMagnitudeGriffinLim(n_iter=32)(wave, 8000)
    assert out.shape == wave.shape
    assert pesq(wave, out, 8000, "nb") > 3.5 and stoi(wave, out, 8000) > 0.9


@pytest.mark.skipif(not pretrained_names(), reason="no shipped weights in this build")
def test_demo_writes_audio_and_metrics(tmp_path: Path) -> None:
    from vqaudio.demo import run_demo

    out = run_demo(tmp_path / "demo", griffin_lim_iters=8)
    report = json.loads((out / "metrics.json").read_text())
    systems = {row["system"]: row for row in report["rows"]}
    assert "true-magnitude-griffin-lim" in systems
    shipped = [s for s in systems if s.startswith("vqaudio-")]
    assert len(shipped) == len([n for n in pretrained_names() if n.startswith("reconstruct-")])
    for name in shipped:  # their scores are pinned in tests/test_shipped_scores.py
        assert list((out / name).glob("*.wav"))
    assert (out / "metrics.md").read_text().count("|") > 10

    # the codec: one row per rung, its bitrates measured from the .vqa files it wrote
    codec_rows = report["codec_rows"]
    assert len(codec_rows) >= 2
    if "codec-8k" in pretrained_names():  # the shipped codec is the default one
        assert all(row["system"].startswith("codec-8k-") for row in codec_rows)
    folders = sorted((out / "codec").iterdir(), key=lambda p: int(p.name.removesuffix("bps")))
    assert len(folders) == len(codec_rows)
    for row, folder in zip(codec_rows, folders, strict=True):
        assert row["file_bytes"] == sum(f.stat().st_size for f in folder.glob("*.vqa"))
        assert (
            len(list(folder.glob("*.wav")))
            == len(list(folder.glob("*.vqa")))
            == len(list((out / "input").glob("*.wav")))
        )
        assert row["bitrate"] < row["bitrate_with_header"]
        assert row["bitrate"] <= int(folder.name.removesuffix("bps")) * 1.01  # payload rate: the rung, +padding
    assert [r["bitrate"] for r in codec_rows] == sorted(r["bitrate"] for r in codec_rows)
    assert codec_rows[-1]["pesq_nb"] > codec_rows[0]["pesq_nb"]  # more stages, better speech


@pytest.mark.parametrize("as_torch", [False, True])
def test_samples_by_channels_arrays_are_refused_with_a_hint(small_model: VQVAE, as_torch: bool) -> None:
    rec = Reconstructor(small_model, griffin_lim_iters=1)
    wave = synth_speech(1.0, 8000, seed=6)
    stereo = np.stack([wave, 0.5 * wave])  # (2, 8000)
    convert = torch.from_numpy if as_torch else np.asarray
    with pytest.raises(ValueError, match=r"at most 8 channels; got \(8000, 2\).*pass wave\.T"):
        rec(convert(np.ascontiguousarray(stereo.T)), 8000)  # what soundfile.read returns
    with pytest.raises(ValueError, match=r"at most 8 channels; got \(1, 8000, 2\).*swapped"):
        rec(convert(np.ascontiguousarray(stereo.T[None])), 8000)
    with pytest.raises(ValueError, match=r"at most 8 channels; got \(9, 100\)"):
        rec(convert(np.zeros((9, 100), np.float32)), 8000)
    out = rec(convert(stereo), 8000)
    assert tuple(out.shape) == (2, 8000) and isinstance(out, torch.Tensor) == as_torch


@pytest.mark.parametrize("as_torch", [False, True])
def test_integer_pcm_is_scaled_as_soundfile_reads_it(small_model: VQVAE, as_torch: bool) -> None:
    from vqaudio.pipelines.inputs import as_float_array

    convert = torch.from_numpy if as_torch else np.asarray
    pcm = {
        np.int16: (np.array([-32768, 0, 16384, 32767], np.int16), [-1.0, 0.0, 0.5, 32767 / 32768]),
        np.int32: (np.array([-(2**31), 0, 2**30], np.int32), [-1.0, 0.0, 0.5]),
        np.uint8: (np.array([0, 128, 192, 255], np.uint8), [-1.0, 0.0, 0.5, 127 / 128]),
    }
    for dtype, (samples, expected) in pcm.items():
        scaled = as_float_array(convert(samples))
        assert scaled.dtype == np.float32, dtype
        np.testing.assert_allclose(scaled, expected, rtol=0, atol=1e-7)
    rec = Reconstructor(small_model, griffin_lim_iters=2)
    wave = synth_speech(0.5, 8000, seed=7)
    as_int16 = np.round(wave * 32767).astype(np.int16)
    out = np.asarray(rec(convert(as_int16), 8000))
    reference = rec(as_int16 / np.float32(32768), 8000)
    assert out.dtype == np.float32 and np.abs(out).max() < 2.0  # not 32768 times too loud
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-5)
    if as_torch:
        bads = [(torch.arange(10), "int64"), (torch.ones(10, dtype=torch.bool), "boolean"),
                (torch.ones(10, dtype=torch.cfloat), "complex")]  # fmt: skip
    else:
        bads = [(np.arange(10), "int64"), (np.ones(10, bool), "boolean"), (np.ones(10, complex), "complex")]
    for bad, what in bads:
        with pytest.raises(ValueError, match=what):
            as_float_array(bad)


@pytest.mark.parametrize("rate", [0, 999, 384_001, 2**40])
def test_sample_rates_outside_the_range_are_refused(small_model: VQVAE, rate: int) -> None:
    rec = Reconstructor(small_model, griffin_lim_iters=1)
    with pytest.raises(ValueError, match="sample rate"):
        rec(np.zeros(4000, np.float32), rate)
