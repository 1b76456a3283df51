"""Filterbanks on the STFT's bins: the mel scale, Codec 2's rate-K spectral envelope (and its inverse), and STOI's
one-third octave bands."""

from __future__ import annotations

import math

import numpy as np
import torch

from vqaudio.audio.stft import STFTConfig, _cached, _check_spec, _real_tensor, db_to_amplitude

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "rate_k",
    "rate_k_frequencies",
    "rate_k_to_magnitude",
    "third_octave_bands",
]


def hz_to_mel(freq: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Hz -> mel: Slaney's (linear below 1 kHz, log above), or HTK's 2595 log10(1 + f/700) with htk=True."""
    f = np.asarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep
    return np.where(f < min_log_hz, f / f_sp, log_part)


def mel_to_hz(mel: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Inverse of hz_to_mel."""
    m = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m < min_log_mel, m * f_sp, min_log_hz * np.exp(logstep * (m - min_log_mel)))


def _triangles(bin_pos: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Triangles over the points `edges` (len n+2), evaluated at `bin_pos` (same axis): (n, F).

    A row that no bin falls inside (band narrower than the bin spacing) gets weight 1 on its nearest bin, so
    no output channel is dead.
    """
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_pos[None, :] - lower) / (centre - lower)
    falling = (upper - bin_pos[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    for row in np.flatnonzero(weights.sum(axis=1) <= 0):
        weights[row, np.argmin(np.abs(bin_pos - edges[row + 1]))] = 1.0
    return weights


# ----------------------------------------------------------------------------------------------- rate K


def rate_k_frequencies(k: int = 20, f_min: float = 200.0, f_max: float = 3700.0) -> np.ndarray:
    """The K sample frequencies (Hz) of Codec 2 newamp1: equally spaced in mel, 2595 log10(1 + f/700)."""
    if k < 2 or not 0.0 <= f_min < f_max:
        raise ValueError(f"rate_k: need k >= 2 and 0 <= f_min < f_max; got k={k}, f_min={f_min}, f_max={f_max}")
    return mel_to_hz(np.linspace(hz_to_mel(f_min, htk=True), hz_to_mel(f_max, htk=True), k), htk=True)


def _check_rate_k_band(cfg: STFTConfig, f_max: float) -> None:
    if f_max > cfg.sample_rate / 2:
        raise ValueError(f"rate_k: f_max {f_max} Hz is above the Nyquist frequency {cfg.sample_rate / 2} Hz")


def _rate_k_bands(cfg: STFTConfig, k: int, f_min: float, f_max: float) -> np.ndarray:
    """(K, F) weights, each row a triangle in mel between neighbouring sample points, summing to 1."""
    centres = hz_to_mel(rate_k_frequencies(k, f_min, f_max), htk=True)
    step = centres[1] - centres[0]
    edges = np.concatenate([[centres[0] - step], centres, [centres[-1] + step]])
    weights = _triangles(hz_to_mel(cfg.bin_frequencies(), htk=True), edges)
    return weights / weights.sum(axis=1, keepdims=True)


def rate_k(
    magnitude: torch.Tensor,
    cfg: STFTConfig,
    k: int = 20,
    f_min: float = 200.0,
    f_max: float = 3700.0,
    floor_db: float = -100.0,
    peak_hz: float = 0.0,
) -> torch.Tensor:
    """(..., F, N) magnitude -> (..., K, N) dB: Codec 2 newamp1-style rate-K spectral envelope.

    The K points are mel-spaced over [f_min, f_max] (newamp1's K=20, 200-3700 Hz). Each value is the mean
    power of a mel triangle around its point (between the neighbouring points), in dB on the magnitude's
    scale, so a flat spectrum of level L dB gives L everywhere. Averaging over a band, unlike newamp1's
    sampling at harmonics, needs no pitch estimate and does not fall into the gaps between harmonics.

    peak_hz > 0 first replaces each bin's power by the largest within +-peak_hz (a running maximum over
    frequency): the envelope then runs through the harmonic peaks, as newamp1's harmonic amplitudes do, instead
    of averaging in the dips between harmonics. Below ~300 Hz of spacing the low triangles are narrower than
    the harmonic spacing, so their plain means rise and fall with the pitch (noise an envelope coder must pay
    for); with +-156 Hz any pitch up to ~310 Hz has a harmonic in every window.
    """
    _check_spec(magnitude, cfg, "rate_k")
    _check_rate_k_band(cfg, f_max)
    if not peak_hz >= 0:
        raise ValueError(f"rate_k: peak_hz must be >= 0, got {peak_hz}")
    mag = magnitude.abs() if magnitude.is_complex() else _real_tensor(magnitude, "rate_k")
    key = ("rate_k", cfg.sample_rate, cfg.n_fft, k, float(f_min), float(f_max))
    bands = _cached(key, mag.device, mag.dtype, lambda: _rate_k_bands(cfg, k, f_min, f_max))
    half = round(peak_hz * cfg.n_fft / cfg.sample_rate)
    if half > 0:
        flat = mag.reshape(-1, *mag.shape[-2:]).transpose(-1, -2)  # (B, N, F): pool over frequency
        mag = torch.nn.functional.max_pool1d(flat, 2 * half + 1, 1, half).transpose(-1, -2).reshape(mag.shape)
    power = torch.matmul(bands, mag * mag)
    return 10.0 * torch.log10(power.clamp(min=10.0 ** (floor_db / 10.0)))


def _rate_k_interp(cfg: STFTConfig, k: int, f_min: float, f_max: float) -> np.ndarray:
    """(F, K) linear interpolation in mel from the K points to each bin; constant beyond the end points."""
    centres = hz_to_mel(rate_k_frequencies(k, f_min, f_max), htk=True)
    pos = (hz_to_mel(cfg.bin_frequencies(), htk=True) - centres[0]) / (centres[1] - centres[0])
    pos = np.clip(pos, 0.0, k - 1)
    low = np.minimum(np.floor(pos).astype(int), k - 2)
    frac = pos - low
    interp = np.zeros((cfg.n_freqs, k))
    rows = np.arange(cfg.n_freqs)
    interp[rows, low] = 1.0 - frac
    interp[rows, low + 1] += frac
    return interp


def rate_k_to_magnitude(
    rate_k_db: torch.Tensor,
    cfg: STFTConfig,
    f_min: float = 200.0,
    f_max: float = 3700.0,
) -> torch.Tensor:
    """(..., K, N) dB -> (..., F, N) linear magnitude: the envelope interpolated back over frequency.

    Linear interpolation of dB in mel between the K points (the hat functions `rate_k` averages with), held
    constant below f_min and above f_max. K is read from rate_k_db.shape[-2]. It is a smooth envelope with
    no harmonic structure: pair with an excitation or with griffin_lim.
    """
    db = _real_tensor(rate_k_db, "rate_k_to_magnitude")
    if db.ndim < 2:
        raise ValueError(f"rate_k_to_magnitude: expected (..., K, frames), got shape {tuple(db.shape)}")
    _check_rate_k_band(cfg, f_max)
    k = db.shape[-2]
    key = ("rate_k_interp", cfg.sample_rate, cfg.n_fft, k, float(f_min), float(f_max))
    interp = _cached(key, db.device, db.dtype, lambda: _rate_k_interp(cfg, k, f_min, f_max))
    return db_to_amplitude(torch.matmul(interp, db))


# ----------------------------------------------------------------------------------------------- one-third octaves


def third_octave_bands(sample_rate: int, n_fft: int, n_bands: int = 15, low_hz: float = 150.0) -> np.ndarray:
    """(n_bands, n_fft // 2 + 1) 0/1 matrix: bin k belongs to band j when it lies in [c_j 2^(-1/6), c_j 2^(1/6)),
    c_j = low_hz 2^(j/3) (STOI's 15 bands from 150 Hz reach 4.3 kHz, Taal et al. 2011). Bands above the Nyquist
    frequency are dropped; a band narrower than the bin spacing gets its nearest bin, so none is empty.
    """
    if n_bands < 1 or low_hz <= 0 or n_fft < 2:
        raise ValueError(
            f"third_octave_bands: need n_bands >= 1, low_hz > 0, n_fft >= 2; got {n_bands}, {low_hz}, {n_fft}"
        )
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    centres = low_hz * 2.0 ** (np.arange(n_bands) / 3.0)
    centres = centres[centres * 2.0 ** (1 / 6) <= sample_rate / 2]
    if centres.size == 0:
        raise ValueError(f"third_octave_bands: no band from {low_hz} Hz fits under {sample_rate / 2} Hz")
    lower, upper = centres * 2.0 ** (-1 / 6), centres * 2.0 ** (1 / 6)
    bands = ((freqs[None, :] >= lower[:, None]) & (freqs[None, :] < upper[:, None])).astype(np.float64)
    for row in np.flatnonzero(bands.sum(axis=1) == 0):
        bands[row, np.argmin(np.abs(freqs - centres[row]))] = 1.0
    return bands
