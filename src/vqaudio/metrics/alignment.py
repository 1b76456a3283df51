"""Estimate and remove the delay between a reference and a degraded signal before scoring them.

Codecs delay their output (Codec 2 by about 15 ms, 120 samples at 8 kHz); STOI, SI-SDR and LSD compare
sample by sample or frame by frame, so an unaligned pair scores far worse than it sounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal

from vqaudio.metrics._checks import MetricError, as_signal, require_sound

__all__ = ["align", "estimate_delay"]


def estimate_delay(reference: Any, degraded: Any, max_delay: int) -> int:
    """Lag in samples, within +/- `max_delay`, that maximises the cross-correlation of the two signals.

    Positive means `degraded` lags `reference` (degraded[n] ~ reference[n - delay]), as a codec's output does.
    Both are made zero-mean first; the correlation is computed with FFTs, so long clips are cheap. Lengths
    may differ. Raises MetricError if either signal is silent (no delay can be measured).
    """
    max_delay = _check_max_delay(max_delay)
    ref = as_signal(reference, "reference", "estimate_delay")
    deg = as_signal(degraded, "degraded", "estimate_delay")
    require_sound(ref, "reference", "estimate_delay")
    require_sound(deg, "degraded", "estimate_delay")
    if max_delay == 0:
        return 0
    ref = ref - ref.mean()
    deg = deg - deg.mean()
    # correlate(deg, ref)[k] = sum_n deg[n + k] * ref[n]: peaks at k = d when deg[n] = ref[n - d].
    corr = signal.correlate(deg, ref, mode="full", method="fft")
    lags = signal.correlation_lags(deg.size, ref.size, mode="full")
    window = np.abs(lags) <= max_delay
    return int(lags[window][np.argmax(corr[window])])


def align(reference: Any, degraded: Any, max_delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift out the delay found by `estimate_delay` and trim both to their common overlapping part.

    Returns (reference, degraded) as numpy arrays of equal length (dtype kept), e.g. for a delay d > 0:
    reference[:n] and degraded[d:d + n]. With max_delay=0 this only trims to the shorter length.
    """
    delay = estimate_delay(reference, degraded, max_delay)
    ref = _as_array(reference)
    deg = _as_array(degraded)
    if delay > 0:
        deg = deg[delay:]
    elif delay < 0:
        ref = ref[-delay:]
    n = min(ref.shape[-1], deg.shape[-1])
    if n == 0:
        raise MetricError(f"align: no overlap left after removing a delay of {delay} samples; inputs too short")
    return ref[:n], deg[:n]


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    return arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr


def _check_max_delay(max_delay: Any) -> int:
    if isinstance(max_delay, bool) or not isinstance(max_delay, (int, np.integer)) or max_delay < 0:
        raise ValueError(f"max_delay must be a non-negative integer number of samples, got {max_delay!r}")
    return int(max_delay)
