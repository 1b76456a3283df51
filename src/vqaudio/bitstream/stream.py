"""Reading a .vqa file as it arrives, packet by packet, and leniently: damaged or missing packets are reported, not
fatal.

`PacketReader` takes the bytes of a file in any pieces (`feed`: a file read a block at a time, a pipe, a socket) or
its packets one at a time (`receive`: datagrams carrying a packet index, as RTP would), and returns `PacketRun`s:
consecutive latent frames with their codes and which of them were lost. A packet is lost when its check fails
(damaged) or when it never comes (missing: skipped by `receive`, or cut off by the end of the input). The header
itself must arrive intact: without it nothing can be decoded.

Why a truncated file is decoded only when at least half of its packets arrived: a header alone (a few hundred
bytes) could otherwise ask for hours of concealed output; format.py's bounds keep a decoder's work proportional to
the bytes it is given, and this keeps that true within a factor of two.

Versions 1..3 have no packets: their one CRC32 cannot say where damage lies, so the reader waits for the whole file
and reads it strictly (`read_vqa`), as before.

`loss_mask` and `damage_packets` simulate packet loss for measurements.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from vqaudio.bitstream.bitpack import BitstreamError
from vqaudio.bitstream.format import (
    MAGIC,
    PACKET_VERSION,
    PREAMBLE_BYTES,
    Preamble,
    VqaHeader,
    check_model_hash,
    header_from_bytes,
    read_preamble,
    read_vqa,
)
from vqaudio.bitstream.packets import PacketLayout, decode_packets, packet_spans

__all__ = ["MIN_PRESENT_FRACTION", "PacketReader", "PacketRun", "damage_packets", "loss_mask", "read_lossy"]

MIN_PRESENT_FRACTION = 0.5  # of a truncated file's packets that must have arrived for it to be decoded
_CRC = struct.Struct("<I")


@dataclass
class PacketRun:
    """Latent frames start .. start + m - 1: their codes (C, m, k) int64 (zeros where lost) and lost (m,) bool."""

    start: int
    codes: np.ndarray
    lost: np.ndarray

    @property
    def stop(self) -> int:
        return self.start + self.codes.shape[1]


@dataclass
class LossReport:
    """What a reader found wrong: damaged and missing packet indices, and the file's CRC32 (None: never read)."""

    damaged: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    file_crc_ok: bool | None = None

    @property
    def lost(self) -> list[int]:
        return sorted(self.damaged + self.missing)


class PacketReader:
    """A .vqa file's packets as its bytes arrive: `feed(bytes)` or `receive(index, bytes)` -> the PacketRuns they
    complete, `close()` (the input has ended) -> the rest. `header` is set once the header has arrived.

    strict: a damaged or missing packet, or a file CRC mismatch, raises BitstreamError (what `read_vqa` refuses);
    else lost packets come back flagged and `report` lists them. Version-1..3 files come back whole at `close()`.
    """

    def __init__(self, expected_model_hash: str | None = None, source: str = "input", strict: bool = False) -> None:
        self.expected_model_hash = expected_model_hash
        self.source = source
        self.strict = strict
        self.header: VqaHeader | None = None
        self.report = LossReport()
        self._preamble: Preamble | None = None
        self._layout: PacketLayout | None = None
        self._seed = 0
        self._buffer = bytearray()
        self._file_crc = 0  # CRC32 of the bytes consumed so far (the final CRC covers all but itself)
        self._next = 0  # the next packet expected
        self._received = 0  # packets that arrived, whole (intact or damaged)
        self._datagrams = False  # packets come through receive(), not feed()
        self._closed = False

    # the header --------------------------------------------------------------------------------------------------
    @property
    def layout(self) -> PacketLayout | None:
        return self._layout

    def _parse_head(self) -> None:
        """Parse the preamble and header once enough bytes are buffered (raises if they are not intact)."""
        if self._preamble is None:
            if len(self._buffer) < PREAMBLE_BYTES:
                if len(self._buffer) >= len(MAGIC) and bytes(self._buffer[: len(MAGIC)]) != MAGIC:
                    read_preamble(memoryview(self._buffer), self.source)  # raises: not a .vqa file, said at once
                return
            self._preamble = read_preamble(memoryview(self._buffer), self.source)
        pre = self._preamble
        if pre.version < PACKET_VERSION or self.header is not None or len(self._buffer) < pre.payload_start:
            return
        (head_crc,) = _CRC.unpack_from(self._buffer, pre.header_end)
        head = bytes(self._buffer[: pre.header_end])
        if zlib.crc32(head) != head_crc:
            raise BitstreamError(f"{self.source}: corrupt .vqa file: header CRC mismatch (the header changed)")
        header = header_from_bytes(head[PREAMBLE_BYTES:], pre, self.source)
        check_model_hash(header, self.expected_model_hash, self.source)
        self.header, self._layout, self._seed = header, header.layout(), head_crc
        self._consume(pre.payload_start)

    def _consume(self, n: int) -> None:
        """Drop the first n buffered bytes, counting them into the file's CRC32."""
        self._file_crc = zlib.crc32(memoryview(self._buffer)[:n], self._file_crc)
        del self._buffer[:n]

    # byte streams ------------------------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> list[PacketRun]:
        """The next bytes of the file -> the runs of packets they complete (maybe none)."""
        if self._closed or self._datagrams:
            raise ValueError("PacketReader.feed after close() or receive()")
        try:
            self._buffer += memoryview(data).cast("B")
        except TypeError:
            raise BitstreamError(f"{self.source}: expected bytes of a .vqa file, got {type(data).__name__}") from None
        self._parse_head()
        if self._layout is None:
            return []
        runs = self._whole_packets()
        if self._next == self._layout.n_packets and len(self._buffer) > _CRC.size:
            extra = len(self._buffer) - _CRC.size
            raise BitstreamError(f"{self.source}: {extra} unexpected bytes after the end of the .vqa data")
        return runs

    def _whole_packets(self) -> list[PacketRun]:
        """Decode every packet lying whole in the buffer, in one vectorised pass."""
        layout = self._layout
        assert layout is not None
        last = layout.n_packets - 1
        full = max(0, min(len(self._buffer) // layout.full_size, last - self._next))
        size = full * layout.full_size
        count = full
        if self._next + full == last and len(self._buffer) - size >= layout.last_size:
            count, size = full + 1, size + layout.last_size
        if count == 0:
            return []
        run = self._decode(self._next, count, memoryview(self._buffer)[:size])
        self._consume(size)
        return [run]

    def _decode(self, first: int, count: int, data: memoryview | bytes) -> PacketRun:
        layout = self._layout
        assert layout is not None
        codes, damaged = decode_packets(layout, data, first, count, self._seed)
        bad = (first + np.flatnonzero(damaged)).tolist()
        if bad and self.strict:
            raise BitstreamError(
                f"{self.source}: corrupt .vqa file: packet {bad[0]} fails its check (CRC-8 mismatch, padding or an "
                "index beyond the codebook sizes)"
            )
        self.report.damaged += bad
        self._next, self._received = first + count, self._received + count
        lo = layout.frames(first)[0]
        per_frame = np.repeat(damaged, layout.packet_frames)[: codes.shape[1]]
        return PacketRun(lo, codes, per_frame)

    def _missing(self, stop: int, damaged: bool = False) -> list[PacketRun]:
        """Packets next .. stop - 1 never came (or came `damaged` beyond reading): one run of lost frames."""
        layout = self._layout
        assert layout is not None
        if stop <= self._next:
            return []
        if self.strict:
            raise BitstreamError(f"{self.source}: packet {self._next} is {'damaged' if damaged else 'missing'}")
        lo, hi = layout.frames(self._next)[0], layout.frames(stop - 1)[1]
        (self.report.damaged if damaged else self.report.missing).extend(range(self._next, stop))
        self._received += stop - self._next if damaged else 0
        self._next = stop
        shape = (layout.n_channels, hi - lo, len(layout.bits_per_stage))
        return [PacketRun(lo, np.zeros(shape, dtype=np.int64), np.ones(hi - lo, dtype=bool))]

    # datagrams ---------------------------------------------------------------------------------------------------
    def receive(self, index: int, data: bytes | None) -> list[PacketRun]:
        """Packet `index` arrived with these bytes (None: known lost) -> the runs it completes: the packets skipped
        since the last one (missing), then this one. A packet older than the last one received is late and ignored
        (its frames were concealed already). `feed` must have given the header (only) first."""
        if self._closed:
            raise ValueError("PacketReader.receive after close()")
        layout = self._layout
        if layout is None or (not self._datagrams and self._buffer):
            raise ValueError("PacketReader.receive: feed the header's bytes, and only those, first")
        self._datagrams = True
        if not 0 <= index < layout.n_packets:
            raise BitstreamError(f"{self.source}: packet index {index} outside 0..{layout.n_packets - 1}")
        if index < self._next:
            return []
        runs = self._missing(index)
        if data is None:
            return runs + self._missing(index + 1)
        if len(data) != layout.size(index):  # cut or padded on the way: damaged
            return runs + self._missing(index + 1, damaged=True)
        return [*runs, self._decode(index, 1, data)]

    # the end -----------------------------------------------------------------------------------------------------
    def close(self) -> list[PacketRun]:
        """The input has ended: the runs still owed (packets that never came are lost). Raises BitstreamError if the
        header never arrived whole, or (lenient too) if fewer than half of the packets did."""
        if self._closed:
            return []
        self._closed = True
        pre = self._preamble
        if pre is not None and pre.version < PACKET_VERSION:
            header, codes = read_vqa(bytes(self._buffer), self.expected_model_hash, self.source)
            self.header, self.report.file_crc_ok = header, True
            return [PacketRun(0, codes, np.zeros(codes.shape[1], dtype=bool))]
        if self._layout is None:
            got = len(self._buffer)
            if pre is None:
                read_preamble(memoryview(self._buffer), self.source)  # raises: too short, or not a .vqa file
            assert pre is not None
            raise BitstreamError(
                f"{self.source}: truncated .vqa file: {got} bytes, the header alone needs {pre.payload_start}; it ends "
                f"inside the {pre.region(got)}"
            )
        layout = self._layout
        if self._next < layout.n_packets:
            if self._received < MIN_PRESENT_FRACTION * layout.n_packets:
                raise BitstreamError(
                    f"{self.source}: truncated .vqa file: {self._received} of {layout.n_packets} packets arrived, "
                    f"fewer than {MIN_PRESENT_FRACTION:.0%}: too little to conceal the rest (get the whole file)"
                )
            if self.strict:
                raise BitstreamError(
                    f"{self.source}: truncated .vqa file: {self._received} of {layout.n_packets} packets arrived"
                )
            return self._missing(layout.n_packets)
        if self._datagrams:
            return []
        if len(self._buffer) < _CRC.size:
            if self.strict:
                raise BitstreamError(f"{self.source}: truncated .vqa file: it ends inside the final CRC")
            return []
        (crc,) = _CRC.unpack_from(self._buffer)
        self.report.file_crc_ok = crc == self._file_crc
        if self.strict and not self.report.file_crc_ok:
            raise BitstreamError(f"{self.source}: corrupt .vqa file: CRC mismatch (the bytes changed after writing)")
        return []

    def lost_spans(self) -> list[tuple[int, int]]:
        """The runs of lost packets so far, as [(first, stop)] packet ranges."""
        n = self._layout.n_packets if self._layout is not None else 0
        flags = np.zeros(n, dtype=bool)
        flags[self.report.lost] = True
        return packet_spans(flags)


def read_lossy(
    data: bytes | bytearray | memoryview, expected_model_hash: str | None = None, source: str = "input"
) -> tuple[VqaHeader, np.ndarray, np.ndarray, LossReport]:
    """A whole file, leniently: (header, codes (C, n, k) int64, lost (n,) bool per latent frame, report)."""
    reader = PacketReader(expected_model_hash, source)
    runs = [*reader.feed(data), *reader.close()]
    header = reader.header
    assert header is not None
    codes = np.zeros((header.n_channels, header.n_frames, header.stages_used), dtype=np.int64)
    lost = np.zeros(header.n_frames, dtype=bool)
    for run in runs:
        codes[:, run.start : run.stop] = run.codes
        lost[run.start : run.stop] = run.lost
    return header, codes, lost, reader.report


# simulated loss ----------------------------------------------------------------------------------------------------
def loss_mask(n_packets: int, rate: float, seed: int) -> np.ndarray:
    """Which of `n_packets` packets a channel with independent (Bernoulli) loss at `rate` drops: (n_packets,) bool.
    The same seed drops the same packets whatever the rung (the packets' count depends on the length only)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"loss rate must lie in [0, 1], got {rate}")
    return np.random.default_rng(seed).random(n_packets) < rate


def damage_packets(data: bytes, lost: np.ndarray) -> bytes:
    """A version-4 file with the packets flagged in `lost` damaged (every bit of their CRC-8 turned over, so each
    fails its check for sure and keeps its place): what a lenient reader gets from a channel that lost them."""
    view = memoryview(data)
    pre = read_preamble(view)
    if pre.version < PACKET_VERSION:
        raise BitstreamError("damage_packets: a version-3 file has no packets")
    header = header_from_bytes(bytes(view[PREAMBLE_BYTES : pre.header_end]), pre)
    layout = header.layout()
    lost = np.asarray(lost, dtype=bool)
    if lost.shape != (layout.n_packets,):
        raise ValueError(f"damage_packets: need one flag per packet ({layout.n_packets}), got shape {lost.shape}")
    out = bytearray(data)
    for index in np.flatnonzero(lost):
        out[pre.payload_start + layout.offset(int(index)) + layout.size(int(index)) - 1] ^= 0xFF
    return bytes(out)
