"""Input checks shared by the metrics: one place that turns bad inputs into a readable `MetricError`.

The scoring libraries (pesq, pystoi) answer silence, short clips and NaN with cryptic exceptions, a NaN, or a
warning and a made-up score; every metric here checks its inputs first so the caller learns which input was
wrong and what to do. Problems with *one pair of signals* raise MetricError (a benchmark may skip that
utterance and count it); misuse such as an unknown mode raises a plain ValueError so it is never skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Peak amplitude at or below which a signal counts as silent: about -140 dBFS, far below a 16-bit LSB.
SILENT_PEAK = 1e-7

# Lengths may differ by this fraction of the longer signal (or by LENGTH_TOLERANCE_S seconds where the sample
# rate is known) and are trimmed to the shorter; a codec that pads its last frame should still be scored.
LENGTH_TOLERANCE = 0.05
LENGTH_TOLERANCE_S = 0.05


class MetricError(ValueError):
    """A pair of signals a metric cannot score (silent, too short, mismatched, NaN); says which and why."""


def as_signal(x: Any, name: str, metric: str) -> np.ndarray:
    """A mono float64 copy of numpy / torch / list input; (1, T) and (T, 1) are accepted as (T,)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise MetricError(
            f"{metric}: {name} must be a mono signal of shape (samples,), got shape {arr.shape}; "
            "mix down first (vqaudio.audio.io.to_mono) or score each channel separately"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise MetricError(f"{metric}: {name} holds {bad} NaN/inf samples; the system producing it is broken")
    return arr


def is_silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) <= SILENT_PEAK


def require_sound(x: np.ndarray, name: str, metric: str) -> None:
    if is_silent(x):
        raise MetricError(
            f"{metric}: {name} signal is silent (peak <= {SILENT_PEAK:g}); {metric} is undefined for "
            "silence, so score utterances that contain speech"
        )


def check_sample_rate(sample_rate: Any, metric: str) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"{metric}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return int(sample_rate)


def match_lengths(
    reference: np.ndarray, estimate: np.ndarray, metric: str, sample_rate: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Trim both to the shorter length when they differ a little; MetricError when they differ a lot."""
    n_ref, n_est = reference.shape[-1], estimate.shape[-1]
    if n_ref == n_est:
        return reference, estimate
    longer = max(n_ref, n_est)
    allowed = max(round(LENGTH_TOLERANCE * longer), round(LENGTH_TOLERANCE_S * sample_rate) if sample_rate else 0)
    if abs(n_ref - n_est) > allowed:
        rate = f" at {sample_rate} Hz" if sample_rate else ""
        raise MetricError(
            f"{metric}: reference has {n_ref} samples but estimate has {n_est}{rate} "
            f"(more than {allowed} apart); check both use the same sample rate, "
            "or align them first (vqaudio.metrics.align)"
        )
    n = min(n_ref, n_est)
    return reference[..., :n], estimate[..., :n]
