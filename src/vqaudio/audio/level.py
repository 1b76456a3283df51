"""Speech level: how loud the active (non-silent) part of a recording is, and the gain that moves it to a target.

Models that see dB spectrograms learn the level range of their training data: a speaker recorded 20 dB quieter
than any training voice is, to them, a different signal. Scaling every input, in training and at inference, to
one active level removes that mismatch (the codec gained 0.13-0.21 PESQ-NB per rung on unseen speakers,
benchmarks/RESULTS.md); the codec sends the gain beside the codes and undoes it after decoding.

The active level is the mean power of the frames within `range_db` of the loud frames (the 95th percentile of
frame power), so pauses and silence do not pull it down, and one click does not set it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_GAIN_DB", "active_level_db", "gain_to_level_db", "scale_to_level"]

MAX_GAIN_DB = 50.0  # beyond this the input is (near) silence: amplifying it further only lifts noise
_FRAME_SECONDS = 0.02
_LOUD_PERCENTILE = 95.0
_TINY_POWER = 1e-12  # -120 dBFS: below it a frame counts as digital silence


def active_level_db(wave: np.ndarray, sample_rate: int, range_db: float = 30.0) -> float | None:
    """Active speech level of a mono wave in dB relative to full scale (a full-scale sine is -3 dB).

    None when the wave is empty or digital silence (no level to speak of).
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1:
        raise ValueError(f"active_level_db: expected a mono wave (T,), got shape {wave.shape}")
    if sample_rate <= 0 or range_db <= 0:
        raise ValueError(f"active_level_db: sample_rate and range_db must be positive, got {sample_rate}, {range_db}")
    if not np.all(np.isfinite(wave)):
        raise ValueError("active_level_db: the wave contains NaN or infinite samples")
    n = max(1, round(_FRAME_SECONDS * sample_rate))
    if wave.size == 0:
        return None
    if wave.size < n:
        power = np.array([np.mean(wave * wave)])
    else:
        m = wave.size // n
        power = np.mean(wave[: m * n].reshape(m, n) ** 2, axis=1)
    power = power[power > _TINY_POWER]
    if power.size == 0:
        return None
    power_db = 10.0 * np.log10(power)
    loud = np.percentile(power_db, _LOUD_PERCENTILE)
    return float(10.0 * np.log10(np.mean(power[power_db >= loud - range_db])))


def gain_to_level_db(wave: np.ndarray, sample_rate: int, target_db: float) -> float:
    """The gain (dB) that brings the wave's active level to `target_db`, within +-MAX_GAIN_DB; 0 for silence."""
    level = active_level_db(wave, sample_rate)
    if level is None:
        return 0.0
    return float(np.clip(target_db - level, -MAX_GAIN_DB, MAX_GAIN_DB))


def scale_to_level(
    wave: np.ndarray, sample_rate: int, target_db: float, decimals: int | None = None
) -> tuple[np.ndarray, float]:
    """(wave scaled to `target_db` active level as float32, the gain in dB), the gain rounded to `decimals` first
    when given (so a decoder that is sent the rounded gain undoes exactly what was applied)."""
    gain_db = gain_to_level_db(wave, sample_rate, target_db)
    if decimals is not None:
        gain_db = round(gain_db, decimals)
    return (np.asarray(wave, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))), gain_db
