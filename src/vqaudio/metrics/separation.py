"""Source separation scores: BSS-eval SDR / SIR / SAR per source, NSDR, and the length-weighted GNSDR of MIR-1K.

`bss_eval` wraps `fast_bss_eval.bss_eval_sources` (BSS-eval v4-style: one time-invariant 512-tap distortion filter
per source over the whole clip, not v3's 30 s windows). `separation_scores` adds NSDR, the improvement over using
the mixture itself as every estimate; `global_scores` pools clips into the GNSDR / GSIR / GSAR (and GSDR) of the
MIR-1K literature (Huang et al. 2014): means over clips weighted by clip length.

fast_bss_eval 0.1.4's numpy back end calls `np.linalg.solve` with a stack of vectors, which numpy 2 reads as a
stack of matrices and refuses; its torch back end (the same algorithm) is used instead, in float64, which is both
more accurate and, on CPU, faster than float32. fast_bss_eval is the `eval` extra, imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vqaudio.metrics._checks import SILENT_PEAK, MetricError, is_silent
from vqaudio.metrics.quality import _eval_extra

__all__ = ["CLAMP_DB", "FILTER_LENGTH", "MIN_SAMPLES", "bss_eval", "global_scores", "separation_scores"]

FILTER_LENGTH = 512  # taps of the distortion filter each reference may pass through and still count as target
MIN_SAMPLES = 4 * FILTER_LENGTH  # shorter clips leave the filter fit under-determined: the scores are noise
_METRIC = "bss_eval"
CLAMP_DB = 60.0  # every ratio in [-60, 60] dB: finite for perfect and for silent estimates


def bss_eval(references: Any, estimates: Any) -> dict[str, np.ndarray]:
    """BSS-eval SDR, SIR and SAR in dB of each estimate against its reference: {"sdr", "sir", "sar"}, each (S,).

    `references` and `estimates` are (S, T) arrays (numpy or torch, any float dtype; S >= 2 sources, T >= 2048
    samples), estimate s scored against reference s: the sources are NOT permuted to the best match, so a
    separator that swaps its outputs scores badly (as it should when its outputs are named). Each estimate is
    split by least squares into the target (its reference through a 512-tap filter), interference (the other
    references through 512-tap filters) and artefacts (the rest); SDR = target / (interference + artefacts),
    SIR = target / interference, SAR = (target + interference) / artefacts, as `fast_bss_eval.bss_eval_sources`
    with `filter_length=512, compute_permutation=False` computes them (float64, deterministic).

    Every ratio is clamped to +-CLAMP_DB (60 dB): an estimate equal to its reference scores 60 dB rather than an
    infinite SIR, and a silent estimate scores -60 dB on all three, so a system that drops a source on a clip is
    charged for it in the means rather than excused from them.
    Raises MetricError for shapes that differ or are not (S, T), fewer than 2 sources, too few samples, NaN/inf
    samples, a silent reference (nothing to score against), or references so alike that the projection is
    singular.
    """
    ref = _as_sources(references, "references")
    est = _as_sources(estimates, "estimates")
    if ref.shape != est.shape:
        raise MetricError(
            f"{_METRIC}: references have shape {ref.shape} but estimates have shape {est.shape}; "
            "give one estimate per reference, in the same order and of the same length"
        )
    _require_sources(ref, "reference")
    sdr, sir, sar = _bss_eval_batch(ref[None], est[None])
    silent = np.array([is_silent(source) for source in est])
    scores = {"sdr": sdr[0], "sir": sir[0], "sar": sar[0]}
    for values in scores.values():
        values[silent] = -CLAMP_DB  # (SIR is NaN there: nothing of any reference in it)
    return scores


def separation_scores(
    references: Any,
    estimates: Any,
    mixture: Any,
    names: Sequence[str] = ("vocals", "accompaniment"),
) -> dict[str, dict[str, float]]:
    """{name: {"sdr", "sir", "sar", "nsdr"}} for one clip, in dB; `names` gives the sources' order in the arrays.

    NSDR = SDR(estimate) - SDR(mixture), where SDR(mixture) scores the unprocessed mixture as the estimate of
    every source (`bss_eval(references, [mixture] * S)`): the improvement the separator brings, the figure the
    MIR-1K literature reports. `mixture` is (T,) (or (1, T)) like each reference. Raises MetricError as
    `bss_eval` does, also for a mixture of another length, with NaN/inf or silent; ValueError when `names` does
    not name each source once.
    """
    ref = _as_sources(references, "references")
    est = _as_sources(estimates, "estimates")
    names = tuple(names)
    if len(names) != len(set(names)) or len(names) != ref.shape[0]:
        raise ValueError(
            f"separation_scores: names {names!r} must name each of the {ref.shape[0]} sources once, in order"
        )
    mix = _as_array(mixture, "mixture")
    if mix.ndim == 2 and mix.shape[0] == 1:
        mix = mix[0]
    if mix.ndim != 1:
        raise MetricError(f"{_METRIC}: mixture must be mono, shape (samples,), got shape {mix.shape}")
    if ref.shape != est.shape or mix.shape[-1] != ref.shape[-1]:
        raise MetricError(
            f"{_METRIC}: references {ref.shape}, estimates {est.shape} and mixture {mix.shape} must agree: "
            "(sources, samples), (sources, samples) and (samples,)"
        )
    _require_sources(ref, "reference")
    _require_sources(est, "estimate")
    if is_silent(mix):
        raise MetricError(f"{_METRIC}: mixture is silent (peak <= {SILENT_PEAK:g}); nothing to separate")
    as_mixture = np.broadcast_to(mix, ref.shape)
    sdr, sir, sar = _bss_eval_batch(np.stack([ref, ref]), np.stack([est, as_mixture]))
    return {
        name: {
            "sdr": float(sdr[0, s]),
            "sir": float(sir[0, s]),
            "sar": float(sar[0, s]),
            "nsdr": float(sdr[0, s] - sdr[1, s]),
        }
        for s, name in enumerate(names)
    }


def global_scores(clips: Sequence[tuple[int, dict[str, dict[str, float]]]]) -> dict[str, float]:
    """Length-weighted means over clips: {"g<metric>_<source>": dB}, e.g. gnsdr_vocals, gsir_accompaniment.

    `clips` holds (clip length in samples, `separation_scores` of that clip) pairs; each metric of each source is
    averaged with the clip lengths as weights (GNSDR, GSIR, GSAR as in Huang et al. 2014, and GSDR). Keys come
    source by source in the first clip's order, metrics in the order gnsdr, gsir, gsar, gsdr, then any others.
    Raises ValueError for an empty list, a length that is not a positive integer, or clips that do not all
    score the same sources and metrics.
    """
    if not clips:
        raise ValueError("global_scores: no clips given (empty list); score at least one clip")
    first = clips[0][1]
    layout = {name: set(metrics) for name, metrics in first.items()}
    if not layout:
        raise ValueError("global_scores: clip 0 holds no sources")
    lengths = []
    for k, (length, scores) in enumerate(clips):
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
            raise ValueError(f"global_scores: clip {k} has length {length!r}; give its length in samples (> 0)")
        if {name: set(metrics) for name, metrics in scores.items()} != layout:
            raise ValueError(
                f"global_scores: clip {k} scores {_describe(scores)} but clip 0 scores {_describe(first)}; "
                "every clip needs the same sources and metrics"
            )
        lengths.append(int(length))
    weights = np.asarray(lengths, dtype=np.float64)
    order = ("nsdr", "sir", "sar", "sdr")
    out: dict[str, float] = {}
    for name, metrics in first.items():
        keys = [m for m in order if m in metrics] + [m for m in metrics if m not in order]
        for metric in keys:
            values = np.asarray([scores[name][metric] for _, scores in clips], dtype=np.float64)
            out[f"g{metric}_{name}"] = float(np.sum(weights * values) / np.sum(weights))
    return out


# -- helpers ---------------------------------------------------------------------------------------------------


def _as_array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MetricError(f"{_METRIC}: cannot read {name} as a float array ({err})") from err
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise MetricError(f"{_METRIC}: {name}: {bad} NaN/inf samples; the system that produced them is broken")
    return arr


def _as_sources(x: Any, name: str) -> np.ndarray:
    """A float64 (S, T) array with S >= 2 and T >= MIN_SAMPLES, or MetricError saying what is wrong."""
    arr = _as_array(x, name)
    if arr.ndim != 2:
        raise MetricError(
            f"{_METRIC}: {name} must have shape (sources, samples), got shape {arr.shape}; "
            "mix each source down to mono first"
        )
    if arr.shape[0] < 2:
        raise MetricError(
            f"{_METRIC}: {name} hold {arr.shape[0]} source(s), shape {arr.shape}; BSS-eval needs at least 2 "
            "(for a single source use si_sdr), and a (samples, sources) array must be transposed"
        )
    if arr.shape[1] < MIN_SAMPLES:
        raise MetricError(
            f"{_METRIC}: {name} have {arr.shape[1]} samples; at least {MIN_SAMPLES} are needed to fit the "
            f"{FILTER_LENGTH}-tap distortion filters (score longer clips)"
        )
    return arr


def _require_sources(x: np.ndarray, kind: str) -> None:
    for s, source in enumerate(x):
        if is_silent(source):
            raise MetricError(
                f"{_METRIC}: {kind} source {s} is silent (peak <= {SILENT_PEAK:g}); SDR, SIR and SAR are "
                f"undefined for a silent {kind}, so score clips where every source is present"
            )


def _bss_eval_batch(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fast_bss_eval on (B, S, T) float64 batches -> (sdr, sir, sar), each (B, S) float64 numpy."""
    fast_bss_eval = _eval_extra("fast_bss_eval", _METRIC)  # the `eval` extra, imported on first use
    try:
        sdr, sir, sar = fast_bss_eval.bss_eval_sources(
            torch.from_numpy(np.ascontiguousarray(ref)),
            torch.from_numpy(np.ascontiguousarray(est)),
            filter_length=FILTER_LENGTH,
            compute_permutation=False,
            clamp_db=CLAMP_DB,
        )
    except RuntimeError as err:  # torch.linalg.LinAlgError: the references' correlation matrix is singular
        raise MetricError(
            f"{_METRIC}: cannot project the estimates onto the references ({err}); the references are silent "
            "over long stretches or (filtered copies of) one another, so their contributions cannot be told apart"
        ) from err
    return sdr.numpy(), sir.numpy(), sar.numpy()


def _describe(scores: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{name}: {', '.join(sorted(metrics))}" for name, metrics in scores.items()) or "nothing"
