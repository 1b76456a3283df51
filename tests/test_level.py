"""audio.level: the active speech level ignores pauses and silence; the gain that reaches a target level."""

from __future__ import annotations

import numpy as np
import pytest

from vqaudio.audio.level import MAX_GAIN_DB, active_level_db, gain_to_level_db, scale_to_level

SR = 8000


def tone(seconds: float, amplitude: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_sine_level_is_its_mean_power() -> None:
    # a sine of amplitude A has power A^2 / 2: 0.1 -> -23.01 dBFS
    assert active_level_db(tone(1.0, 0.1), SR) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.05)


def test_pauses_and_faint_noise_do_not_pull_the_level_down() -> None:
    speechlike = tone(1.0, 0.1)
    padded = np.concatenate([np.zeros(SR * 2, np.float32), speechlike, 1e-4 * np.ones(SR * 3, np.float32)])
    assert active_level_db(padded, SR) == pytest.approx(active_level_db(speechlike, SR), abs=0.05)


def test_level_follows_gain() -> None:
    wave = tone(0.5, 0.05) * np.hanning(4000).astype(np.float32)
    assert active_level_db(wave * 10, SR) - active_level_db(wave, SR) == pytest.approx(20.0, abs=1e-3)


def test_silence_and_empty_have_no_level_and_get_no_gain() -> None:
    assert active_level_db(np.zeros(800, np.float32), SR) is None
    assert active_level_db(np.zeros(0, np.float32), SR) is None
    assert gain_to_level_db(np.zeros(800, np.float32), SR, -20.0) == 0.0


def test_gain_reaches_the_target_and_is_bounded() -> None:
    wave = tone(1.0, 0.01)
    gain = gain_to_level_db(wave, SR, -20.0)
    assert active_level_db(wave * 10 ** (gain / 20), SR) == pytest.approx(-20.0, abs=1e-3)
    assert gain_to_level_db(tone(1.0, 1e-5), SR, -20.0) == MAX_GAIN_DB  # near-silence is not lifted 77 dB


def test_short_wave_and_bad_input() -> None:
    assert active_level_db(tone(0.005, 0.1), SR) == pytest.approx(-23.0, abs=1.0)  # shorter than one frame
    with pytest.raises(ValueError, match="NaN"):
        active_level_db(np.array([0.1, np.nan], np.float32), SR)
    with pytest.raises(ValueError, match="mono"):
        active_level_db(np.zeros((2, 100), np.float32), SR)


def test_scale_to_level_returns_the_applied_gain_rounded_when_asked() -> None:
    wave = tone(1.0, 0.01)
    scaled, gain = scale_to_level(wave, SR, -20.0, decimals=2)
    assert gain == round(gain, 2) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, wave * np.float32(10 ** (gain / 20)), rtol=1e-6)
    assert active_level_db(scaled, SR) == pytest.approx(-20.0, abs=0.006)
