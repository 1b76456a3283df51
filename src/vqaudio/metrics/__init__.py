"""Scores for a (reference, estimate) pair of signals: PESQ, STOI, SI-SDR, NSR, LSD, SD in dB², bitrates;
for separated sources: BSS-eval SDR / SIR / SAR, NSDR and the length-weighted GNSDR / GSIR / GSAR.

numpy (or torch) in, floats out. Inputs a metric cannot score (silent, too short, mismatched) raise
MetricError, which a benchmark may catch to skip and count that utterance.
"""

from __future__ import annotations

from vqaudio.metrics._checks import MetricError
from vqaudio.metrics.alignment import align, estimate_delay
from vqaudio.metrics.quality import METRIC_NAMES, evaluate_pair, nsr, pesq, si_sdr, stoi
from vqaudio.metrics.rates import bits_per_second, bits_per_vector, codebook_bitrate
from vqaudio.metrics.separation import bss_eval, global_scores, separation_scores
from vqaudio.metrics.spectral import log_spectral_distance, spectral_convergence, spectral_distortion_db2

__all__ = [
    "METRIC_NAMES",
    "MetricError",
    "align",
    "bits_per_second",
    "bits_per_vector",
    "bss_eval",
    "codebook_bitrate",
    "estimate_delay",
    "evaluate_pair",
    "global_scores",
    "log_spectral_distance",
    "nsr",
    "pesq",
    "separation_scores",
    "si_sdr",
    "spectral_convergence",
    "spectral_distortion_db2",
    "stoi",
]
