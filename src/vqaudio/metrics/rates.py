"""Bitrate arithmetic, so every table quotes bits per second computed the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

__all__ = ["bits_per_second", "bits_per_vector", "codebook_bitrate"]


def bits_per_second(n_bits: float, duration_s: float) -> float:
    """Average bitrate of `n_bits` spent on `duration_s` seconds of audio (e.g. 8 * file bytes / seconds)."""
    if not math.isfinite(n_bits) or n_bits < 0:
        raise ValueError(f"bits_per_second: n_bits must be a finite number >= 0, got {n_bits!r}")
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"bits_per_second: duration_s must be a positive number of seconds, got {duration_s!r}")
    return float(n_bits) / float(duration_s)


def bits_per_vector(codebook_sizes: int | Sequence[int], whole_bits: bool = False) -> float:
    """Bits to send one vector through codebooks of these sizes: sum of log2(K) over the stages.

    One int is a single codebook; a sequence is a multi-stage (residual) VQ. `whole_bits` rounds each stage up
    to whole bits, which is what a bit-packed file actually spends (a 1000-entry codebook costs 10 bits).
    """
    sizes = [codebook_sizes] if isinstance(codebook_sizes, Integral) else list(codebook_sizes)
    if not sizes or any(isinstance(k, bool) or not isinstance(k, Integral) or k < 1 for k in sizes):
        raise ValueError(f"bits_per_vector: codebook sizes must be integers >= 1, got {codebook_sizes!r}")
    bits = [math.log2(int(k)) for k in sizes]
    return float(sum(math.ceil(b - 1e-12) for b in bits) if whole_bits else sum(bits))


def codebook_bitrate(frames_per_second: float, codebook_sizes: int | Sequence[int], whole_bits: bool = False) -> float:
    """Bits per second of a stream of one VQ vector per frame: frames_per_second * bits_per_vector."""
    if not math.isfinite(frames_per_second) or frames_per_second <= 0:
        raise ValueError(f"codebook_bitrate: frames_per_second must be positive, got {frames_per_second!r}")
    return float(frames_per_second) * bits_per_vector(codebook_sizes, whole_bits=whole_bits)
