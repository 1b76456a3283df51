"""synth_speech / synth_corpus: deterministic, right length, speech-like pitch, pauses and spectrum."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vqaudio.data import synth_corpus, synth_speech, synth_voices


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    n = 1 + (len(x) - size) // hop
    return np.stack([x[i * hop : i * hop + size] for i in range(n)])


def _pitch_track(x: np.ndarray, sr: int) -> np.ndarray:
    """Autocorrelation pitch (60-400 Hz) of the loud 50 ms frames."""
    frames = _frames(x.astype(np.float64), round(0.05 * sr), round(0.025 * sr))
    rms = np.sqrt(np.mean(frames**2, axis=1))
    lo, hi = sr // 400, sr // 60
    pitches = []
    for frame in frames[rms > 0.3 * rms.max()]:
        frame = frame - frame.mean()
        ac = np.correlate(frame, frame, "full")[len(frame) - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:  # clearly periodic
            pitches.append(sr / lag)
    return np.array(pitches)


def test_deterministic_length_and_level() -> None:
    a = synth_speech(1.3, 8000, seed=4)
    assert a.dtype == np.float32 and a.shape == (10400,)
    assert np.array_equal(a, synth_speech(1.3, 8000, seed=4))
    assert not np.array_equal(a, synth_speech(1.3, 8000, seed=5))
    assert np.isfinite(a).all()
    assert 0.45 <= np.abs(a).max() <= 0.55
    assert synth_speech(0.5, 16000, seed=0).shape == (8000,)


@pytest.mark.parametrize("pitch", [110.0, 200.0])
def test_pitch_follows_request(pitch: float) -> None:
    track = _pitch_track(synth_speech(3.0, 8000, seed=1, pitch_hz=pitch), 8000)
    assert len(track) >= 20
    assert abs(np.median(track) - pitch) < 0.12 * pitch
    assert np.all((track > 0.8 * pitch) & (track < 1.25 * pitch))


def test_default_pitch_in_speech_range() -> None:
    for seed in range(4):
        track = _pitch_track(synth_speech(1.5, 8000, seed=seed), 8000)
        assert len(track) >= 5
        assert 80 <= np.median(track) <= 260


def test_pauses_voicing_and_fricatives() -> None:
    sr = 8000
    x = synth_speech(4.0, sr, seed=2).astype(np.float64)
    frames = _frames(x, 160, 80)
    energy = np.mean(frames**2, axis=1)
    level = 10 * np.log10(energy / energy.max() + 1e-12)
    silent = np.mean(level < -40)
    assert 0.05 < silent < 0.6  # pauses, but mostly sound
    spectra = np.abs(np.fft.rfft(frames * np.hanning(160), axis=1)) ** 2
    freqs = np.fft.rfftfreq(160, 1 / sr)
    loud = level > -20
    centroid = (spectra @ freqs) / spectra.sum(axis=1)
    assert np.median(centroid[loud]) < 1500  # voiced frames: energy low, in the formants
    assert np.any(centroid[loud] > 2000)  # and some noisy, high fricative-like frames


def test_corpus_has_distinct_voices_and_is_deterministic() -> None:
    clips = synth_corpus(4, 1.0, 8000, seed=3)
    assert len(clips) == 4 and all(c.shape == (8000,) for c in clips)
    assert all(np.array_equal(a, b) for a, b in zip(clips, synth_corpus(4, 1.0, 8000, seed=3), strict=True))
    voices = synth_voices(4, seed=3)
    low = np.median(_pitch_track(clips[0], 8000))
    high = np.median(_pitch_track(clips[1], 8000))
    assert abs(low - voices[0].pitch_hz) < 0.15 * voices[0].pitch_hz
    assert high - low > 40  # alternating low and high voices


def test_fast_and_validates() -> None:
    start = time.perf_counter()
    synth_speech(10.0, 16000, seed=0)
    assert time.perf_counter() - start < 2.0  # ~0.1 s here; generous for slow CI machines
    with pytest.raises(ValueError, match="duration"):
        synth_speech(0.0)
