"""Spectral distances: log-spectral distance on waveforms, and Codec 2-style spectral distortion in dB².

LSD scores what a spectrogram model (and Griffin-Lim) gets right or wrong independent of phase; SD in dB²
is the mean squared dB error of envelope vectors that Codec 2's rate-K VQ experiments report ("variance").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.signal import get_window

from vqaudio.audio.stft import STFTConfig, stft
from vqaudio.metrics._checks import MetricError, as_signal, check_sample_rate, match_lengths, require_sound

__all__ = ["log_spectral_distance", "spectral_convergence", "spectral_distortion_db2"]

# Power floor for the dB spectra, relative to the loudest reference bin, so empty bins give finite dB.
LSD_FLOOR_DB = -100.0
# Reference frames this far below the loudest frame are silence and are not scored.
LSD_SILENCE_DB = -60.0


def log_spectral_distance(
    reference: Any, estimate: Any, sample_rate: int, n_fft: int = 256, hop_length: int = 64
) -> float:
    """Log-spectral distance in dB: mean over frames of the RMS over frequency of the dB power difference.

    LSD = mean_t sqrt( mean_f (10 log10 P_ref[f, t] - 10 log10 P_est[f, t])^2 ), with P the power of a
    Hann-windowed FFT of `n_fft` samples every `hop_length` samples (no centring; the last frame is
    zero-padded), both floored at LSD_FLOOR_DB (-100 dB) below the loudest reference bin. Frames whose
    reference energy is more than 60 dB below the loudest reference frame are skipped, so pauses do not
    dominate. Not scale invariant: a uniform 6 dB gain error gives 6 dB. `sample_rate` only sets how much
    length mismatch is tolerated (50 ms, trimmed); the frame sizes are in samples.
    """
    name = "log_spectral_distance"
    sample_rate = check_sample_rate(sample_rate, name)
    if not isinstance(n_fft, (int, np.integer)) or not isinstance(hop_length, (int, np.integer)):
        raise ValueError(f"{name}: n_fft and hop_length must be integers, got {n_fft!r}, {hop_length!r}")
    if n_fft < 2 or hop_length < 1:
        raise ValueError(f"{name}: need n_fft >= 2 and hop_length >= 1, got {n_fft}, {hop_length}")
    ref = as_signal(reference, "reference", name)
    est = as_signal(estimate, "estimate", name)
    ref, est = match_lengths(ref, est, name, sample_rate)
    if ref.size < n_fft:
        raise MetricError(f"{name}: signals are too short ({ref.size} samples); need at least n_fft={n_fft} samples")
    require_sound(ref, "reference", name)
    p_ref = _power_frames(ref, int(n_fft), int(hop_length))
    p_est = _power_frames(est, int(n_fft), int(hop_length))
    floor = p_ref.max() * 10.0 ** (LSD_FLOOR_DB / 10.0)
    energy = p_ref.sum(axis=-1)
    keep = energy >= energy.max() * 10.0 ** (LSD_SILENCE_DB / 10.0)
    diff = 10.0 * (np.log10(np.maximum(p_ref[keep], floor)) - np.log10(np.maximum(p_est[keep], floor)))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=-1))))


def spectral_distortion_db2(reference_db: Any, estimate_db: Any, remove_mean: bool = False) -> float:
    """Spectral distortion in dB²: mean over frames of the mean over K of (reference_db - estimate_db)².

    Inputs are dB envelope vectors of shape (..., K) (numpy or torch; every leading index is a frame), e.g.
    rate-K vectors. This is the Codec 2 convention (MSE in the log-amplitude domain, reported as a variance
    in dB²; a constant 2 dB error gives 4.0). With `remove_mean`, each frame's mean error (a gain offset,
    quantised separately in Codec 2) is removed first.
    """
    name = "spectral_distortion_db2"
    ref = _as_float_array(reference_db)
    est = _as_float_array(estimate_db)
    if ref.shape != est.shape:
        raise MetricError(f"{name}: reference_db has shape {ref.shape} but estimate_db has {est.shape}; "
                          "they must match (..., K)")  # fmt: skip
    if ref.ndim == 0 or ref.size == 0:
        raise MetricError(f"{name}: need dB vectors of shape (..., K) with K >= 1, got shape {ref.shape}")
    for arr, label in ((ref, "reference_db"), (est, "estimate_db")):
        if not np.all(np.isfinite(arr)):
            raise MetricError(f"{name}: {label} holds NaN/inf values; floor dB values before scoring")
    err = ref - est
    if remove_mean:
        err = err - err.mean(axis=-1, keepdims=True)
    # Every frame has the same K, so the mean of per-frame means is the overall mean.
    return float(np.mean(err**2))


def _power_frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(frames, n_fft // 2 + 1) power spectra of Hann-windowed frames; the tail is zero-padded."""
    n_frames = 1 + int(np.ceil((x.size - n_fft) / hop))
    padded = np.zeros((n_frames - 1) * hop + n_fft)
    padded[: x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spec = np.fft.rfft(frames * get_window("hann", n_fft), axis=-1)
    return spec.real**2 + spec.imag**2


def _as_float_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor (any device, with grad)
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def spectral_convergence(magnitude: torch.Tensor, wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """||  |STFT(wave)| - magnitude ||_F / || magnitude ||_F per item: how consistent a phase estimate is."""
    rebuilt = stft(wave, cfg).abs()
    n = min(rebuilt.shape[-1], magnitude.shape[-1])
    diff = (rebuilt[..., :n] - magnitude[..., :n]).flatten(-2).norm(dim=-1)
    return diff / magnitude[..., :n].flatten(-2).norm(dim=-1).clamp(min=1e-12)
