"""Process long signals in overlapping chunks with bounded memory, joined by linear crossfades."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def chunk_starts(n_samples: int, chunk_samples: int, overlap_samples: int) -> list[int]:
    """Chunk start offsets: a regular hop; the last chunk is pulled back to end at the input's end."""
    if n_samples <= chunk_samples:
        return [0]
    hop = chunk_samples - overlap_samples
    starts = list(range(0, n_samples - chunk_samples, hop))
    starts.append(n_samples - chunk_samples)
    return starts


def process_in_chunks(
    wave: np.ndarray,
    fn: Callable[[np.ndarray], np.ndarray],
    chunk_samples: int,
    overlap_samples: int,
) -> np.ndarray:
    """Apply `fn` (1-D in, same length out) to overlapping chunks and crossfade them back together.

    Peak memory is one chunk's worth of model activations whatever the input length; the output has
    exactly the input's length. Chunks are weighted by linear ramps over their overlaps and the sum is
    divided by the summed weights, so a `fn` that is the identity comes back exactly.
    """
    if wave.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {wave.shape}")
    if not 0 <= overlap_samples * 2 <= chunk_samples:
        raise ValueError("overlap must be between zero and half a chunk")
    n = wave.shape[0]
    starts = chunk_starts(n, chunk_samples, overlap_samples)
    if len(starts) == 1:
        return _checked(fn(wave), n)
    out = np.zeros(n, dtype=np.float32)
    total_weight = np.zeros(n, dtype=np.float32)
    for i, start in enumerate(starts):
        end = min(start + chunk_samples, n)
        weight = np.ones(end - start, dtype=np.float32)
        if i > 0:  # fade in over the overlap with the previous chunk
            prev_end = starts[i - 1] + chunk_samples
            weight[: prev_end - start] *= _ramp(prev_end - start)
        if i + 1 < len(starts):  # fade out over the overlap with the next chunk
            overlap = end - starts[i + 1]
            weight[end - start - overlap :] *= _ramp(overlap)[::-1]
        out[start:end] += _checked(fn(wave[start:end]), end - start) * weight
        total_weight[start:end] += weight
    return out / total_weight


def _ramp(length: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, length + 2, dtype=np.float32)[1:-1]


def _checked(piece: np.ndarray, length: int) -> np.ndarray:
    piece = np.asarray(piece, dtype=np.float32).reshape(-1)
    if piece.shape[0] != length:
        raise RuntimeError(f"chunk function returned {piece.shape[0]} samples for {length}")
    return piece
