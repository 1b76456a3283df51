"""The packets of a version-4 .vqa payload: a fixed number of latent frames each, with its own CRC-8, so that a
damaged or missing packet is found and the others still decode.

Layout of packet i (latent frames i*F .. min((i+1)*F, n) - 1, F = the header's packet_frames): the codes of those
frames for every channel (channel, then frame, then stage), bit-packed as `bitpack.pack_bits` packs them and
zero-padded to a whole byte, then one CRC-8 byte. Every size follows from the header, so no length, sync or sequence
field is stored: all packets but the last have the same size.

Why 8 frames (128 ms) by default: the cost of the check. The shipped codec codes 562.5..2250 bit/s; a byte per packet
costs 8 bit / 0.128 s = 62.5 bit/s, 11 % of the lowest rung and 2.8 % of the top, where 20 ms packets would cost
400 bit/s, most of the lowest rung. 8 frames of 9-bit codes are 9 bytes a stage, so the shipped codec's packets need
no padding. What a big packet costs instead: one loss conceals 128 ms, and a packet is sent only once complete (it
adds to the latency). A file may choose its own size (1..MAX_PACKET_FRAMES).

Why the CRC covers the packet's index and the header's CRC32 (neither stored in the packet): a packet read at the
wrong place, or from another file, fails its check, for no stored bit (an index is what a sequence number would
tell). CRC-8 with polynomial 0x07 (x^8 + x^2 + x + 1, CRC-8/SMBUS; (x + 1) is a factor) catches every odd number of
flipped bits, every burst of at most 8 bits and any two flips fewer than 127 bits apart; other damage 255 times in 256.

Bottom layer: numpy and the standard library only.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vqaudio.bitstream.bitpack import BitstreamError, pack_bits, unpack_bits

__all__ = [
    "DEFAULT_PACKET_FRAMES",
    "MAX_PACKET_FRAMES",
    "PacketLayout",
    "crc8",
    "decode_packets",
    "encode_packets",
]

DEFAULT_PACKET_FRAMES = 8  # 128 ms at the shipped codec's 62.5 latent frames/s (see the module's docstring)
MAX_PACKET_FRAMES = 1 << 12  # a header's packet size is bounded like every other field (65 s at 62.5 frames/s)
CRC8_POLY = 0x07


def _crc8_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC8_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[byte] = crc
    return table


_TABLE = _crc8_table()


def crc8(rows: np.ndarray, state: np.ndarray | int = 0) -> np.ndarray:
    """CRC-8 (poly 0x07, no reflection, no final xor) of each row of a (N, L) uint8 array, from `state` (N,)."""
    rows = np.asarray(rows, dtype=np.uint8)
    crc = np.broadcast_to(np.asarray(state, dtype=np.uint8), rows.shape[:1]).copy()
    for column in rows.T:  # one table lookup per byte position, for every row at once
        crc = _TABLE[crc ^ column]
    return crc


def _prefix_state(seed: int, indices: np.ndarray) -> np.ndarray:
    """CRC-8 state after the bytes each packet's check starts from: the seed (uint32 LE), then its index (uint32 LE)."""
    seed_state = crc8(np.frombuffer(struct.pack("<I", seed & 0xFFFFFFFF), dtype=np.uint8)[None])
    index_bytes = indices.astype("<u4").view(np.uint8).reshape(-1, 4)
    return crc8(index_bytes, seed_state)


@dataclass(frozen=True)
class PacketLayout:
    """Where each packet of a payload lies, from the header's sizes alone (O(1): nothing per packet is stored).

    `codebook_sizes` bound the indices a packet may hold (beyond them the packet is damaged).
    """

    n_channels: int
    n_frames: int
    packet_frames: int
    bits_per_stage: tuple[int, ...]
    codebook_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.packet_frames <= MAX_PACKET_FRAMES:
            raise BitstreamError(f"packet_frames must be in 1..{MAX_PACKET_FRAMES}, got {self.packet_frames}")

    @property
    def row_bits(self) -> int:
        return int(sum(self.bits_per_stage))

    @property
    def n_packets(self) -> int:
        return -(-self.n_frames // self.packet_frames)

    def frames(self, index: int) -> tuple[int, int]:
        """The latent frames [lo, hi) packet `index` holds."""
        lo = index * self.packet_frames
        return lo, min(lo + self.packet_frames, self.n_frames)

    def data_bytes(self, n_frames: int) -> int:
        """Bytes of codes in a packet of `n_frames` frames (bits padded to a byte), without its CRC."""
        return (self.n_channels * n_frames * self.row_bits + 7) // 8

    @property
    def full_size(self) -> int:
        """Bytes of every packet but the last: codes and CRC."""
        return self.data_bytes(self.packet_frames) + 1

    @property
    def last_size(self) -> int:
        lo, hi = self.frames(self.n_packets - 1)
        return self.data_bytes(hi - lo) + 1 if self.n_packets else 0

    def size(self, index: int) -> int:
        return self.last_size if index == self.n_packets - 1 else self.full_size

    def offset(self, index: int) -> int:
        """The byte offset of packet `index` in the payload."""
        return index * self.full_size

    @property
    def total_bytes(self) -> int:
        """The payload's size: every packet with its CRC."""
        return (self.n_packets - 1) * self.full_size + self.last_size if self.n_packets else 0

    def complete_packets(self, n_bytes: int) -> int:
        """How many packets lie whole in the payload's first `n_bytes` bytes."""
        if n_bytes >= self.total_bytes:
            return self.n_packets
        return min(n_bytes // self.full_size, self.n_packets - 1)

    def overhead_bits_per_second(self, frame_rate: float) -> float:
        """Bit/s the packets cost beyond dense packing (CRC bytes and padding), for a long file."""
        dense = self.n_channels * self.packet_frames * self.row_bits
        return (8 * self.full_size - dense) * frame_rate / self.packet_frames


def _packet_rows(codes: np.ndarray, lo: int, n_packets: int, frames: int) -> np.ndarray:
    """The codes of `n_packets` packets of `frames` frames from frame `lo`, (n_packets, C * frames * k) in order."""
    c, _, k = codes.shape
    block = codes[:, lo : lo + n_packets * frames].reshape(c, n_packets, frames, k)
    return block.transpose(1, 0, 2, 3).reshape(n_packets, c * frames * k)


def _pack_group(layout: PacketLayout, rows: np.ndarray, frames: int) -> np.ndarray:
    """Codes of equal-sized packets (n, C * frames * k) -> their code bytes (n, data_bytes(frames))."""
    n, k = rows.shape[0], len(layout.bits_per_stage)
    bits = layout.n_channels * frames * layout.row_bits
    dense = np.frombuffer(pack_bits(rows.reshape(-1, k), layout.bits_per_stage), dtype=np.uint8)
    bit_rows = np.unpackbits(dense, count=n * bits).reshape(n, bits)
    return np.packbits(bit_rows, axis=1)  # each row zero-padded to a whole byte


def encode_packets(layout: PacketLayout, codes: np.ndarray, seed: int) -> bytes:
    """Codes (C, n, k), each within its stage's bits, -> the payload: every packet with its CRC-8 (`seed`: the
    header's CRC32)."""
    codes = np.asarray(codes, dtype=np.int64)
    groups = [(0, layout.n_packets - 1, layout.packet_frames)]
    if layout.n_packets:
        lo, hi = layout.frames(layout.n_packets - 1)
        groups.append((layout.n_packets - 1, 1, hi - lo))
    body = []
    for first, count, frames in groups:
        if count <= 0:
            continue
        data = _pack_group(layout, _packet_rows(codes, first * layout.packet_frames, count, frames), frames)
        check = crc8(data, _prefix_state(seed, np.arange(first, first + count)))
        body.append(np.concatenate([data, check[:, None]], axis=1).tobytes())
    return b"".join(body)


def decode_packets(
    layout: PacketLayout, payload: bytes | memoryview, first: int, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Packets first .. first + count - 1, whole in `payload` (their bytes, from packet `first`'s offset) ->
    (int64 codes (C, frames, k) with zeros in damaged packets, damaged (count,) bool).

    A packet is damaged when its CRC-8 fails, its padding bits are not zero or it holds an index beyond a codebook.
    """
    c, k = layout.n_channels, len(layout.bits_per_stage)
    lo = first * layout.packet_frames
    hi = layout.frames(first + count - 1)[1] if count else lo
    codes = np.zeros((c, hi - lo, k), dtype=np.int64)
    damaged = np.zeros(count, dtype=bool)
    buffer = np.frombuffer(payload, dtype=np.uint8)
    at = 0
    last = layout.n_packets - 1
    groups = [(first, min(count, last - first), layout.packet_frames)]  # full-size packets
    if count and first + count - 1 == last:
        groups.append((last, 1, hi - layout.frames(last)[0]))
    for start, n, frames in groups:
        if n <= 0:
            continue
        size = layout.data_bytes(frames) + 1
        block = buffer[at : at + n * size].reshape(n, size)
        at += n * size
        data, stored = block[:, :-1], block[:, -1]
        bad = crc8(data, _prefix_state(seed, np.arange(start, start + n))) != stored
        bits = c * frames * layout.row_bits
        bit_rows = np.unpackbits(data, axis=1)
        bad |= bit_rows[:, bits:].any(axis=1)  # padding the writer left at zero
        dense = np.packbits(bit_rows[:, :bits].reshape(-1))
        values = unpack_bits(dense.tobytes(), n * c * frames, layout.bits_per_stage).reshape(n, c, frames, k)
        bad |= (values >= np.asarray(layout.codebook_sizes, dtype=np.int64)).any(axis=(1, 2, 3))
        values[bad] = 0
        f0 = (start - first) * layout.packet_frames
        codes[:, f0 : f0 + n * frames] = values.transpose(1, 0, 2, 3).reshape(c, n * frames, k)
        damaged[start - first : start - first + n] = bad
    return codes, damaged


def packet_spans(damaged: Sequence[bool] | np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a per-packet flag array as [(first, stop)] packet ranges."""
    flags = np.asarray(damaged, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
