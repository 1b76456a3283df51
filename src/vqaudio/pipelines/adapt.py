"""Bring any input (rate, channels, dtype) to what a model wants, and its output back to the input's shape."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vqaudio.audio.io import resample


def as_float_array(wave: np.ndarray | torch.Tensor, name: str = "input") -> np.ndarray:
    """float32 numpy, (T,) or (C, T); rejects empty, non-finite and >2-D input with a clear message."""
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim not in (1, 2):
        raise ValueError(f"{name}: expected (samples,) or (channels, samples), got shape {wave.shape}")
    if wave.shape[-1] == 0:
        raise ValueError(f"{name}: no samples")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name}: contains NaN or infinite samples")
    return wave


def per_channel_at_rate(
    wave: np.ndarray | torch.Tensor,
    sample_rate: int,
    model_rate: int,
    fn: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Run a mono, model-rate `fn` on each channel and return audio at the input's rate, shape and length."""
    wave = as_float_array(wave)
    channels = wave[None] if wave.ndim == 1 else wave
    n = channels.shape[-1]
    outputs = []
    for channel in channels:
        at_model = resample(channel, sample_rate, model_rate) if sample_rate != model_rate else channel
        processed = fn(np.ascontiguousarray(at_model, dtype=np.float32))
        back = resample(processed, model_rate, sample_rate) if sample_rate != model_rate else processed
        outputs.append(_fit_length(back, n))
    out = np.stack(outputs)
    return out[0] if wave.ndim == 1 else out


def _fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    if wave.shape[-1] >= n:
        return wave[:n]
    return np.pad(wave, (0, n - wave.shape[-1]))
