"""Perceptual and signal-level quality scores (PESQ, STOI, SI-SDR, NSR) and `evaluate_pair`, which benchmarks use.

PESQ and STOI come from the `pesq` and `pystoi` packages; this module resamples for them, trims small length
differences, and turns silence / too-short input into a readable MetricError instead of their exceptions.
Both packages are the `eval` extra (`pip install 'vqaudio[eval]'`) and are imported on first use,
so inference never needs them.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from vqaudio.audio.io import resample
from vqaudio.metrics._checks import MetricError, as_signal, check_sample_rate, match_lengths, require_sound
from vqaudio.metrics.alignment import align
from vqaudio.metrics.spectral import log_spectral_distance

__all__ = ["METRIC_NAMES", "evaluate_pair", "nsr", "pesq", "si_sdr", "stoi"]

_PESQ_RATES = {"nb": 8000, "wb": 16000}
_PESQ_MIN_SECONDS = 0.25  # the P.862 implementation refuses shorter buffers
_STOI_RATE = 10000  # pystoi resamples to this and needs 30 frames of 256 with hop 128 after silence removal
_STOI_MIN_SAMPLES = 29 * 128 + 256
# SI-SDR's ratio gets this much of the estimate's energy added to both terms: identical signals give
# +120 dB (not inf), an all-zero estimate gives 0 dB (as its plain SNR does), and both stay scale invariant.
_SI_SDR_EPS = 1e-12
# NSR's floor: an estimate equal to the reference scores -120 dB (not -inf).
_NSR_FLOOR = 1e-12


def _eval_extra(module: str, metric: str) -> ModuleType:
    """Import `module` (pesq, pystoi) on first use; its absence says which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise  # the package is there but something it imports is not: its own message says what
        raise ModuleNotFoundError(
            f"{metric} needs the '{module}' package, which is not installed: pip install 'vqaudio[eval]'",
            name=module,
        ) from err


def pesq(reference: Any, degraded: Any, sample_rate: int, mode: str = "nb") -> float:
    """PESQ MOS-LQO of `degraded` vs `reference` (P.862 'nb': about 1.0-4.5; P.862.2 'wb': 1.0-4.6).

    Any input rate: audio is resampled (soxr) to 8 kHz for 'nb' and 16 kHz for 'wb'; 'wb' refuses audio
    sampled below 16 kHz (there is no wideband content to score). Lengths differing by a little are trimmed
    to the shorter. Raises MetricError for silent or shorter-than-0.25 s input, or when PESQ detects no
    speech, and ValueError for a bad mode or sample rate.
    """
    name = f"pesq_{mode}"
    _pesq = _eval_extra("pesq", "PESQ")
    if mode not in _PESQ_RATES:
        raise ValueError(f"pesq: mode must be 'nb' (narrowband, 8 kHz) or 'wb' (wideband, 16 kHz), got {mode!r}")
    sample_rate = check_sample_rate(sample_rate, name)
    target = _PESQ_RATES[mode]
    if sample_rate < target:
        raise ValueError(
            f"pesq: mode {mode!r} needs audio sampled at {target} Hz or more, got {sample_rate} Hz; "
            "upsampling adds no bandwidth to score. Use mode='nb' for narrowband (8 kHz) audio"
        )
    ref = as_signal(reference, "reference", name)
    deg = as_signal(degraded, "degraded", name)
    ref, deg = match_lengths(ref, deg, name, sample_rate)
    seconds = ref.size / sample_rate
    if seconds < _PESQ_MIN_SECONDS:
        raise MetricError(
            f"{name}: signals are too short ({seconds:.3f} s); PESQ needs at least {_PESQ_MIN_SECONDS} s "
            "of audio (a few seconds of speech for a reliable score)"
        )
    require_sound(ref, "reference", name)
    require_sound(deg, "degraded", name)
    if sample_rate != target:
        ref = resample(ref, sample_rate, target).astype(np.float64)
        deg = resample(deg, sample_rate, target).astype(np.float64)
        n = min(ref.size, deg.size)
        ref, deg = ref[:n], deg[:n]
    try:
        return float(_pesq.pesq(target, ref, deg, mode))
    except _pesq.NoUtterancesError as err:
        raise MetricError(
            f"{name}: PESQ detected no speech (no utterances) in the signals ({seconds:.2f} s); "
            "they may be too quiet, noise-only or too short to score"
        ) from err
    except _pesq.PesqError as err:
        raise MetricError(f"{name}: the PESQ library refused the signals: {_decode(err)}") from err


def stoi(reference: Any, degraded: Any, sample_rate: int, extended: bool = False) -> float:
    """STOI (0-1, higher is more intelligible), or extended STOI with `extended=True`, via pystoi.

    Any input rate (pystoi resamples to 10 kHz). Needs about 0.4 s of speech after STOI drops frames more
    than 40 dB below the loudest: shorter or silent input raises MetricError instead of pystoi's warning and
    its placeholder score of 1e-5. Lengths differing by a little are trimmed to the shorter.
    """
    name = "estoi" if extended else "stoi"
    pystoi = _eval_extra("pystoi", "STOI")
    sample_rate = check_sample_rate(sample_rate, name)
    ref = as_signal(reference, "reference", name)
    deg = as_signal(degraded, "degraded", name)
    ref, deg = match_lengths(ref, deg, name, sample_rate)
    min_seconds = _STOI_MIN_SAMPLES / _STOI_RATE
    if ref.size / sample_rate < min_seconds:
        raise MetricError(
            f"{name}: signals are too short ({ref.size / sample_rate:.3f} s); STOI needs at least "
            f"{min_seconds:.2f} s of speech (join short clips into utterances of a few seconds)"
        )
    require_sound(ref, "reference", name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score = float(pystoi.stoi(ref, deg, sample_rate, extended=extended))
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            raise MetricError(
                f"{name}: fewer than 30 frames of speech remain after STOI removes silent frames; "
                "the reference is mostly silence or too short, so score a longer utterance"
            )
        warnings.warn(w.message, w.category, stacklevel=2)
    return score


def si_sdr(reference: Any, estimate: Any) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019): both zero-mean, estimate projected on the reference.

    SI-SDR = 10 log10(|a r|² / |e - a r|²) with a = <e, r> / <r, r>. Scaling either signal changes nothing;
    for noise orthogonal to the reference it equals the SNR. Identical signals give about +120 dB and an
    all-zero estimate 0 dB (see _SI_SDR_EPS). MetricError for a silent (or constant) reference.
    """
    name = "si_sdr"
    ref = as_signal(reference, "reference", name)
    est = as_signal(estimate, "estimate", name)
    ref, est = match_lengths(ref, est, name)
    require_sound(ref, "reference", name)
    ref = ref - ref.mean()
    est = est - est.mean()
    ref_energy = float(np.dot(ref, ref))
    if ref_energy == 0.0:
        raise MetricError(f"{name}: reference is constant (silent once its mean is removed); SI-SDR is undefined")
    target = (np.dot(est, ref) / ref_energy) * ref
    noise = est - target
    eps = _SI_SDR_EPS * float(np.dot(est, est)) + np.finfo(np.float64).tiny
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def nsr(reference: Any, estimate: Any) -> float:
    """Noise-to-signal ratio in dB, the denoising reference's NSR: 10 log10(|e - r|² / |r|²); lower is better.

    The power of what the estimate e got wrong (residual noise and speech distortion together) relative to the
    power of the clean reference r, sample by sample: not scale invariant and not aligned (pass signals aligned to
    the sample). Noisy speech at SNR s dB scores -s dB; an all-zero estimate scores exactly 0 dB; an estimate
    equal to the reference -120 dB (floored, not -inf). The reference reported 3.52 dB noisy -> 0.052 dB
    denoised. MetricError for a silent reference, NaN input, or lengths that differ by more than a little.
    """
    name = "nsr"
    ref = as_signal(reference, "reference", name)
    est = as_signal(estimate, "estimate", name)
    ref, est = match_lengths(ref, est, name)
    require_sound(ref, "reference", name)
    ref_energy = float(np.dot(ref, ref))
    err = est - ref
    err_energy = max(float(np.dot(err, err)), _NSR_FLOOR * ref_energy)
    return float(10.0 * np.log10(err_energy / ref_energy))


Scorer = Callable[[np.ndarray, np.ndarray, int], float]

_SCORERS: dict[str, Scorer] = {
    "pesq_nb": lambda r, e, sr: pesq(r, e, sr, mode="nb"),
    "pesq_wb": lambda r, e, sr: pesq(r, e, sr, mode="wb"),
    "stoi": lambda r, e, sr: stoi(r, e, sr),
    "estoi": lambda r, e, sr: stoi(r, e, sr, extended=True),
    "si_sdr": lambda r, e, sr: si_sdr(r, e),
    "nsr": lambda r, e, sr: nsr(r, e),
    "lsd": lambda r, e, sr: log_spectral_distance(r, e, sr),
}
METRIC_NAMES: tuple[str, ...] = tuple(_SCORERS)


def evaluate_pair(
    reference: Any,
    estimate: Any,
    sample_rate: int,
    metrics: Sequence[str] = ("pesq_nb", "stoi", "si_sdr", "lsd"),
    max_delay: int = 0,
) -> dict[str, float]:
    """Score one (reference, estimate) pair with each named metric (see METRIC_NAMES), in the order asked.

    With `max_delay` > 0 (samples), the estimate is first aligned to the reference (`align`), e.g. 400 at
    8 kHz for a codec with a 15 ms delay. Unknown metric names raise ValueError (not MetricError, so a
    benchmark that skips unscorable utterances does not silently skip every one), as does 'pesq_wb' below
    16 kHz; a pair that cannot be scored raises MetricError.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [m for m in metrics if m not in _SCORERS]
    if unknown:
        raise ValueError(f"evaluate_pair: unknown metric(s) {unknown}; choose from {list(METRIC_NAMES)}")
    sample_rate = check_sample_rate(sample_rate, "evaluate_pair")
    if "pesq_wb" in metrics and sample_rate < _PESQ_RATES["wb"]:
        raise ValueError(
            f"evaluate_pair: 'pesq_wb' (wideband PESQ) needs audio sampled at {_PESQ_RATES['wb']} Hz or more, "
            f"got {sample_rate} Hz; score narrowband audio with 'pesq_nb'"
        )
    ref = as_signal(reference, "reference", "evaluate_pair")
    est = as_signal(estimate, "estimate", "evaluate_pair")
    if max_delay:
        ref, est = align(ref, est, max_delay)
    else:
        ref, est = match_lengths(ref, est, "evaluate_pair", sample_rate)
    return {m: _SCORERS[m](ref, est, sample_rate) for m in metrics}


def _decode(err: BaseException) -> str:
    arg = err.args[0] if err.args else err
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
