"""What pipelines accept as input: sample rates, channel counts, sample types and lengths, checked in one place."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# One set of bounds for what encode takes and what a .vqa header may hold: more than MAX_CHANNELS channels is
# taken for a (samples, channels) array read the wrong way.
from vqaudio.bitstream.format import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = ["MAX_CHANNELS", "MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "as_float_array", "check_rate", "fit_length"]


# integer PCM -> float in [-1, 1), as soundfile reads it: (offset, scale) with float = (x - offset) / scale
_PCM_SCALES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.int16): (0.0, 32768.0),
    np.dtype(np.int32): (0.0, 2.0**31),
    np.dtype(np.int8): (0.0, 128.0),
    np.dtype(np.uint8): (128.0, 128.0),
}


def check_rate(sample_rate: Any) -> int:
    """The sample rate as an int; ValueError unless it is an integer in MIN_SAMPLE_RATE..MAX_SAMPLE_RATE Hz."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1:
        raise ValueError(f"sample rate must be a positive integer (Hz), got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample rate {int(sample_rate)} Hz is outside the {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz vqaudio "
            "handles: pass the rate in Hz (e.g. 16000)"
        )
    return int(sample_rate)


def as_float_array(wave: np.ndarray | torch.Tensor, name: str = "input") -> np.ndarray:
    """float32 numpy (T,), (C, T) or (B, C, T), C <= MAX_CHANNELS; rejects empty, non-finite and other shapes.

    Integer PCM is scaled to [-1, 1] as soundfile reads it (int16 / 2^15, int32 / 2^31, uint8 (x - 128) / 128,
    int8 / 2^7); other integer types are refused, as is complex or boolean input. A 2-D array with more than
    MAX_CHANNELS rows is refused with a hint to transpose it: (T, C), what soundfile.read returns, is the usual cause.
    """
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu()
        wave = (wave.float() if wave.dtype in (torch.bfloat16, torch.float16) else wave).numpy()
    if isinstance(wave, np.ndarray):
        wave = _pcm_to_float(wave, name)
    try:
        wave = np.asarray(wave, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected an array of samples (numpy or torch), could not read it: {err}") from None
    if wave.ndim not in (1, 2, 3):
        raise ValueError(
            f"{name}: expected (samples,), (channels, samples) or (batch, channels, samples), got {wave.shape}"
        )
    if wave.ndim >= 2 and wave.shape[-2] > MAX_CHANNELS:
        raise ValueError(_too_many_channels(wave.shape, name))
    if wave.size == 0 or wave.shape[-1] == 0:
        raise ValueError(f"{name}: no samples (shape {wave.shape})")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name}: contains NaN or infinite samples")
    return wave


def _pcm_to_float(wave: np.ndarray, name: str) -> np.ndarray:
    """Integer PCM scaled to float32 in [-1, 1]; float arrays pass; bool, complex and other integer types refused."""
    kind = wave.dtype.kind
    if kind == "f":
        return wave
    if kind in "iu":
        if wave.dtype not in _PCM_SCALES:
            raise ValueError(
                f"{name}: {wave.dtype} samples have no PCM scale; pass float samples in [-1, 1], or int16, int32 or "
                "uint8 PCM (as soundfile.read returns it)"
            )
        offset, scale = _PCM_SCALES[wave.dtype]
        return ((wave.astype(np.float64) - offset) / scale).astype(np.float32)
    what = {"b": "boolean", "c": "complex"}.get(kind, str(wave.dtype))
    raise ValueError(f"{name}: {what} samples are not audio; pass float samples in [-1, 1] (numpy or torch)")


def _too_many_channels(shape: tuple[int, ...], name: str) -> str:
    expected = "(channels, samples)" if len(shape) == 2 else "(batch, channels, samples)"
    message = f"{name}: expected {expected} with at most {MAX_CHANNELS} channels; got {shape}"
    if shape[-1] <= MAX_CHANNELS:  # looks like (samples, channels): what soundfile.read returns
        swap = "wave.T" if len(shape) == 2 else "the last two axes swapped (wave.transpose(0, 2, 1) in numpy)"
        return f"{message}: that looks like (samples, channels); pass {swap}"
    return f"{message}: split the recording into groups of at most {MAX_CHANNELS} channels"


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis to n samples (resampling can be a sample off)."""
    if wave.shape[-1] >= n:
        return wave[..., :n]
    return np.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(0, n - wave.shape[-1])])
