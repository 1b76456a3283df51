"""Dense bit packing of codebook indices: a codebook of size K costs exactly ceil(log2 K) bits per index.

Why dense: a 1200 bit/s codec spends 12-bit indices; storing them as bytes or uint16 would waste up to a
third of the file. Layout: row-major over (frame, stage), each index written most-significant bit first,
the whole stream zero-padded at the end to a whole byte. So a codebook of 2^b entries takes exactly b bits,
and one of K entries (K not a power of two) takes ceil(log2 K) bits (values K..2^b-1 are never written).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_BITS", "BitstreamError", "bits_for_codebook", "pack_bits", "packed_size", "unpack_bits"]

MAX_BITS = 32  # per index; codebooks up to 2^32 entries
_CHUNK_ROWS = 1 << 15  # rows per vectorised chunk (a multiple of 8, so every chunk ends on a byte boundary)


class BitstreamError(ValueError):
    """A .vqa file or packed payload is invalid: the message names the input, the problem and what to do."""


def bits_for_codebook(codebook_size: int) -> int:
    """Bits one index of a codebook of `codebook_size` entries takes: ceil(log2 K), 0 for K == 1."""
    if isinstance(codebook_size, bool) or not isinstance(codebook_size, (int, np.integer)):
        raise BitstreamError(f"codebook size must be an integer, got {codebook_size!r}")
    if codebook_size < 1 or codebook_size > 2**MAX_BITS:
        raise BitstreamError(f"codebook size must be in 1..2^{MAX_BITS}, got {codebook_size}")
    return int(codebook_size - 1).bit_length()


def _check_bits(bits_per_stage: Sequence[int]) -> np.ndarray:
    bits = np.asarray(list(bits_per_stage), dtype=np.int64)
    if bits.ndim != 1:
        raise BitstreamError(f"bits_per_stage must be a flat sequence of ints, got {bits_per_stage!r}")
    if bits.size and (bits.min() < 0 or bits.max() > MAX_BITS):
        raise BitstreamError(f"bits per stage must be in 0..{MAX_BITS}, got {list(bits_per_stage)}")
    return bits


def packed_size(n_frames: int, bits_per_stage: Sequence[int]) -> int:
    """Bytes that pack_bits writes for `n_frames` rows: ceil(n_frames * sum(bits) / 8)."""
    if n_frames < 0:
        raise BitstreamError(f"n_frames must be >= 0, got {n_frames}")
    total_bits = int(n_frames) * int(_check_bits(bits_per_stage).sum())
    return (total_bits + 7) // 8


def _bit_columns(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each output bit column of a row: which stage it comes from and how far to shift (MSB first)."""
    stage = np.repeat(np.arange(bits.size), bits)
    ends = np.cumsum(bits)
    position = np.arange(int(bits.sum())) - np.repeat(ends - bits, bits)  # 0 = most significant
    shift = np.repeat(bits, bits) - 1 - position
    return stage, shift.astype(np.int64)


def pack_bits(codes: np.ndarray, bits_per_stage: Sequence[int]) -> bytes:
    """Pack integer codes of shape (n_frames, n_stages) densely, stage j taking bits_per_stage[j] bits.

    Vectorised in chunks of rows, so hours of audio pack in well under a second with bounded memory.
    """
    bits = _check_bits(bits_per_stage)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != bits.size:
        raise BitstreamError(
            f"codes must have shape (n_frames, {bits.size}) to match bits_per_stage {bits.tolist()}, "
            f"got shape {codes.shape}"
        )
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise BitstreamError(f"codes must be integers, got dtype {codes.dtype}")
    codes = codes.astype(np.int64, copy=False)
    if codes.size:
        low = codes.min(axis=0)
        high = codes.max(axis=0)
        limit = np.left_shift(np.int64(1), bits)
        bad = np.flatnonzero((low < 0) | (high >= limit))
        if bad.size:
            j = int(bad[0])
            raise BitstreamError(
                f"codes of stage {j} span {int(low[j])}..{int(high[j])} but the stage has {int(bits[j])} "
                f"bits (allowed 0..{int(limit[j]) - 1}): pass the right codebook sizes"
            )
    stage, shift = _bit_columns(bits)
    n_frames = codes.shape[0]
    out = bytearray()
    for start in range(0, n_frames, _CHUNK_ROWS):
        chunk = codes[start : start + _CHUNK_ROWS]
        bit_matrix = ((chunk[:, stage] >> shift) & 1).astype(np.uint8)
        out += np.packbits(bit_matrix.ravel()).tobytes()
    return bytes(out)


def unpack_bits(data: bytes | bytearray | memoryview, n_frames: int, bits_per_stage: Sequence[int]) -> np.ndarray:
    """Inverse of pack_bits: int64 codes of shape (n_frames, n_stages). Checks the exact byte count."""
    bits = _check_bits(bits_per_stage)
    expected = packed_size(n_frames, bits)
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != expected:
        raise BitstreamError(
            f"packed payload has {buffer.size} bytes but {n_frames} frames x {int(bits.sum())} bits need "
            f"exactly {expected} bytes"
        )
    row_bits = int(bits.sum())
    codes = np.zeros((n_frames, bits.size), dtype=np.int64)
    if row_bits == 0 or n_frames == 0:
        return codes
    _, shift = _bit_columns(bits)
    weights = np.left_shift(np.int64(1), shift)
    starts = np.concatenate([[0], np.cumsum(bits)[:-1]])
    nonzero = np.flatnonzero(bits > 0)
    chunk_bytes = _CHUNK_ROWS * row_bits // 8
    for c, start in enumerate(range(0, n_frames, _CHUNK_ROWS)):
        rows = min(_CHUNK_ROWS, n_frames - start)
        raw = buffer[c * chunk_bytes : c * chunk_bytes + (rows * row_bits + 7) // 8]
        bit_matrix = np.unpackbits(raw, count=rows * row_bits).reshape(rows, row_bits)
        weighted = bit_matrix * weights  # int64, (rows, row_bits)
        codes[start : start + rows, nonzero] = np.add.reduceat(weighted, starts[nonzero], axis=1)
    tail_bits = expected * 8 - n_frames * row_bits
    if tail_bits and int(buffer[-1]) & ((1 << tail_bits) - 1):
        raise BitstreamError(f"packed payload has non-zero padding in its last {tail_bits} bits: it is corrupt")
    return codes
