"""The .vqa file: a codec's indices plus everything needed to decode them, or to refuse to.

Layout (all integers little-endian):

    offset  size  field
    0       4     magic b"VQA\\x00"
    4       2     format version (uint16), currently 4 (versions 1..3 still read)
    6       4     header length H (uint32)
    10      8     payload length P (uint64)
    18      4     CRC32 of bytes 0..17 (the preamble)
    22      H     header: UTF-8 JSON object with short keys (VqaHeader.to_wire(); WIRE_KEYS names them)
  version 4 (packets: a header with packet_frames):
    22+H    4     CRC32 of bytes 0..22+H-1 (preamble and header: trusted whatever happens to the payload)
    26+H    P     payload: packets of packet_frames latent frames, each with its own CRC-8 (packets.py)
    26+H+P  4     CRC32 of every byte before it
  versions 1..3 (a header without packet_frames):
    22+H    P     payload: bit-packed indices (bitpack.pack_bits), channel-major then frame then stage
    22+H+P  4     CRC32 of every byte before it

Why both lengths sit in a checksummed preamble: a reader can then tell a truncated file (preamble intact,
fewer bytes than it promises: "expected N bytes, found M") from a corrupt one (a checksum fails), instead of
guessing. Codes are (n_channels, n_frames, n_stages); mono files hold one channel.

Version 3 added `gain_db` ("g"): the gain, per channel, the encoder applied before its model (models trained at
one input level scale every input to it); the decoder divides it back out. Absent (and in older files): 0 dB.

Version 4 cuts the payload into packets (`packet_frames`, "pf"; see packets.py for the sizes and their cost), so a
damaged or missing packet can be found and concealed while the rest decodes (bitstream.stream reads such files
leniently, and as they arrive). It costs a byte per packet (62.5 bit/s at codec-8k's 128 ms packets), the header's
own CRC32 (4 bytes, so the header is trusted whatever happens to the packets) and "pf" in the JSON (7 bytes).
`read_vqa` stays strict: any damage, in any version, refuses the file. The layout a file gets follows its header:
packet_frames None writes version 3 (one payload, the smallest file, nothing a decoder could conceal).

Why bounds: a decoder trusts the header to size its work, so every field is bounded before use (a reader is
given hostile files too): the JSON at most MAX_HEADER_BYTES and MAX_HEADER_DEPTH levels deep, sample rates in
MIN_SAMPLE_RATE..MAX_SAMPLE_RATE, at most MAX_CHANNELS channels, gains within +-MAX_GAIN_DB, every frame at
least one bit (so the payload's size bounds the frame count) and a length that implies no more frames than the
file holds (so it bounds the decoded length too), and packets of 1..MAX_PACKET_FRAMES frames. A decoder then checks
the rest against its model.

Why short keys: the header is paid for in every file. With the long field names it cost about 300 bytes, 600 bit/s
on a 4 s utterance, half the payload of a 1200 bit/s rung; short keys, and leaving out what can be derived
(bits per stage) or is the default (model rate = input rate, no extra), bring it to about 130 bytes (140 with a
gain).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from vqaudio import __version__
from vqaudio.bitstream.bitpack import BitstreamError, bits_for_codebook, pack_bits, packed_size, unpack_bits
from vqaudio.bitstream.packets import MAX_PACKET_FRAMES, PacketLayout, decode_packets, encode_packets

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHANNELS",
    "MAX_GAIN_DB",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "PACKET_VERSION",
    "PREAMBLE_BYTES",
    "Preamble",
    "VqaHeader",
    "check_model_hash",
    "header_from_bytes",
    "load_vqa",
    "read_preamble",
    "read_vqa",
    "save_vqa",
    "write_vqa",
]

MAGIC = b"VQA\x00"
FORMAT_VERSION = 4  # the newest: written for headers with packets; version 3 for one without
READABLE_VERSIONS = (1, 2, 3, 4)
PACKET_VERSION = 4  # the first version with packets
_PREAMBLE = struct.Struct("<4sHIQ")  # magic, version, header length, payload length
_CRC = struct.Struct("<I")
PREAMBLE_BYTES = _PREAMBLE.size + _CRC.size  # 22
_OVERHEAD = PREAMBLE_BYTES + _CRC.size  # bytes besides the JSON and the payload, versions 1..3: 26
_OVERHEAD_V4 = _OVERHEAD + _CRC.size  # and the header's own CRC32: 30

# What a header may hold (see "Why bounds" above); vqaudio writes headers of ~140 bytes, 2 levels deep.
MAX_HEADER_BYTES = 1 << 16
MAX_HEADER_DEPTH = 32  # nesting of JSON objects and lists, the header object itself counting 1
MIN_SAMPLE_RATE = 1_000  # Hz, for the input's and the model's rate (the same bounds as the pipelines')
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8
MAX_GAIN_DB = 60.0  # the encoder's gain is within +-50 dB (audio.level.MAX_GAIN_DB)
_MAX_INT = 1 << 53  # integer fields: beyond this a float of them is inexact; no real file comes near
_LENGTH_SLACK_FRAMES = 16  # frames a length may imply beyond n_frames (a model's framing pads its edges)

_INT_KEYS = ("sample_rate", "model_sample_rate", "n_samples", "n_channels", "n_frames", "stages_used")
_REQUIRED = ("model_id", "model_hash", *_INT_KEYS, "frame_rate", "codebook_sizes")

# field name -> key in the file (format 2). Long names are accepted on reading too (format 1 wrote them).
WIRE_KEYS = {
    "model_id": "id",
    "model_hash": "hash",
    "sample_rate": "sr",
    "model_sample_rate": "msr",
    "n_samples": "len",
    "n_channels": "ch",
    "frame_rate": "fps",
    "n_frames": "n",
    "stages_used": "st",
    "codebook_sizes": "cb",
    "bits_per_stage": "bits",
    "encoder_version": "v",
    "extra": "x",
    "gain_db": "g",
    "packet_frames": "pf",
}
_FIELD_OF_KEY = {short: name for name, short in WIRE_KEYS.items()}


@dataclass
class VqaHeader:
    """What a decoder needs to know about a .vqa file before it touches the indices.

    codebook_sizes lists the sizes of the `stages_used` stages stored (length == stages_used);
    bits_per_stage is derived from them (ceil(log2 K)) and may be omitted. frame_rate is frames per second
    of model audio; n_samples and sample_rate describe the original input, so decode restores its length.
    `extra` holds any further JSON-serialisable metadata the caller wants to carry. gain_db (one per channel, or
    None for none) is the gain in dB the encoder applied before its model; the decoder removes it. packet_frames:
    latent frames per packet (a version-4 file), or None for one payload (the version-3 layout).
    """

    model_id: str
    model_hash: str
    sample_rate: int
    model_sample_rate: int
    n_samples: int
    n_channels: int
    frame_rate: float
    n_frames: int
    stages_used: int
    codebook_sizes: list[int]
    bits_per_stage: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    encoder_version: str = __version__
    gain_db: list[float] | None = None
    packet_frames: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise BitstreamError naming the first field that is missing, mistyped or inconsistent."""
        for name in ("model_id", "model_hash", "encoder_version"):
            if not isinstance(getattr(self, name), str):
                raise BitstreamError(f"header field {name!r} must be a string, got {_short(getattr(self, name))}")
        for name in _INT_KEYS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise BitstreamError(f"header field {name!r} must be a non-negative integer, got {_short(value)}")
            if value > _MAX_INT:
                raise BitstreamError(f"header field {name!r} is {_short(value)}, beyond any real file (at most 2^53)")
            setattr(self, name, int(value))
        for name in ("sample_rate", "model_sample_rate"):
            if not MIN_SAMPLE_RATE <= getattr(self, name) <= MAX_SAMPLE_RATE:
                raise BitstreamError(
                    f"header field {name!r} must be a rate in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, "
                    f"got {getattr(self, name)}"
                )
        if not 1 <= self.n_channels <= MAX_CHANNELS:
            raise BitstreamError(f"header field 'n_channels' must be in 1..{MAX_CHANNELS}, got {self.n_channels}")
        rate = self.frame_rate
        if not _is_number(rate) or not 0 < rate <= self.model_sample_rate:
            raise BitstreamError(
                f"header field 'frame_rate' must be a positive number of frames per second, at most the model rate "
                f"({self.model_sample_rate}), got {_short(rate)}"
            )
        if not isinstance(self.codebook_sizes, list) or len(self.codebook_sizes) != self.stages_used:
            raise BitstreamError(
                f"header field 'codebook_sizes' must list one size per stage used ({self.stages_used}), "
                f"got {_short(self.codebook_sizes)}"
            )
        derived = [bits_for_codebook(k) for k in self.codebook_sizes]  # raises on non-integer sizes
        if sum(derived) == 0:  # no stage, or only 1-entry codebooks: the payload could not bound the frame count
            raise BitstreamError(
                f"header describes frames of 0 bits (codebook sizes {_short(self.codebook_sizes)}); a frame must "
                "carry at least one stage of at least 2 entries"
            )
        self.codebook_sizes = [int(k) for k in self.codebook_sizes]
        if self.bits_per_stage is None:
            self.bits_per_stage = derived
        elif not isinstance(self.bits_per_stage, (list, tuple)) or list(self.bits_per_stage) != derived:
            raise BitstreamError(
                f"bits_per_stage {_short(self.bits_per_stage)} does not match codebook sizes "
                f"{_short(self.codebook_sizes)} (which need {_short(derived)})"
            )
        self.bits_per_stage = [int(b) for b in self.bits_per_stage]
        implied = self.n_samples * self.frame_rate / self.sample_rate  # frames the input's duration takes
        if implied > self.n_frames + _LENGTH_SLACK_FRAMES:
            raise BitstreamError(
                f"header says {self.n_samples} samples at {self.sample_rate} Hz ({self.duration_s:.6g} s, about "
                f"{implied:.0f} frames at {self.frame_rate:g} frames/s) but holds only {self.n_frames} frames"
            )
        if not isinstance(self.extra, dict):
            raise BitstreamError(f"header field 'extra' must be a dict, got {type(self.extra).__name__}")
        if self.gain_db is not None:
            gains = self.gain_db
            if (
                not isinstance(gains, list)
                or len(gains) != self.n_channels
                or not all(_is_number(g) and abs(g) <= MAX_GAIN_DB for g in gains)
            ):
                raise BitstreamError(
                    f"header field 'gain_db' must list one number in -{MAX_GAIN_DB:g}..{MAX_GAIN_DB:g} dB per channel "
                    f"({self.n_channels}), got {_short(gains)}"
                )
            self.gain_db = [float(g) for g in gains]
        if self.packet_frames is not None:
            value = self.packet_frames
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise BitstreamError(f"header field 'packet_frames' must be an integer, got {_short(value)}")
            if not 1 <= value <= MAX_PACKET_FRAMES:
                raise BitstreamError(f"header field 'packet_frames' must be in 1..{MAX_PACKET_FRAMES}, got {value}")
            self.packet_frames = int(value)

    @property
    def version(self) -> int:
        """The format version this header is written in: 4 with packets, 3 without."""
        return PACKET_VERSION if self.packet_frames is not None else 3

    def layout(self) -> PacketLayout:
        """Where each packet lies (a header with packet_frames only)."""
        if self.packet_frames is None:
            raise BitstreamError("this header has no packets (a version-3 layout: one payload)")
        return PacketLayout(
            self.n_channels,
            self.n_frames,
            self.packet_frames,
            tuple(self.bits_per_stage or []),
            tuple(self.codebook_sizes),
        )

    def gains_db(self) -> list[float]:
        """The encoder's gain for each channel (0 dB where the file records none)."""
        return list(self.gain_db) if self.gain_db is not None else [0.0] * self.n_channels

    # sizes, so a codec can report its bitrate with and without the header
    @property
    def payload_bytes(self) -> int:
        """Bytes of bit-packed indices: ceil(n_channels * n_frames * sum(bits_per_stage) / 8)."""
        return packed_size(self.n_channels * self.n_frames, self.bits_per_stage or [])

    @property
    def stored_payload_bytes(self) -> int:
        """Bytes of the payload as stored (the preamble's P): the packed indices, or every packet with its CRC-8."""
        return self.payload_bytes if self.packet_frames is None else self.layout().total_bytes

    @property
    def header_bytes(self) -> int:
        """Every byte of the file that is not packed indices: preamble, JSON header, the CRCs (the packets' too)."""
        return self.total_bytes - self.payload_bytes

    @property
    def total_bytes(self) -> int:
        """Size of the .vqa file this header describes."""
        fixed = _OVERHEAD if self.packet_frames is None else _OVERHEAD_V4
        return fixed + len(self._json()) + self.stored_payload_bytes

    @property
    def duration_s(self) -> float:
        """Duration of the original input in seconds."""
        return self.n_samples / self.sample_rate

    def bits_per_second(self, include_header: bool = True) -> float:
        """Real bitrate of the file over the input's duration (inf for an empty input)."""
        n_bytes = self.total_bytes if include_header else self.payload_bytes
        return 8.0 * n_bytes / self.duration_s if self.n_samples else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_wire(self) -> dict[str, Any]:
        """The header as stored: short keys, without what a reader derives (bits per stage) or defaults."""
        data = self.to_dict()
        del data["bits_per_stage"]
        if data["model_sample_rate"] == data["sample_rate"]:
            del data["model_sample_rate"]
        if not data["extra"]:
            del data["extra"]
        if data["gain_db"] is None:
            del data["gain_db"]
        if data["packet_frames"] is None:
            del data["packet_frames"]
        return {WIRE_KEYS[name]: value for name, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VqaHeader:
        """Build from a parsed JSON object, short (to_wire) or long (to_dict) keys; unknown keys are ignored."""
        if not isinstance(data, dict):
            raise BitstreamError(f"header must be a JSON object, got {type(data).__name__}")
        data = {_FIELD_OF_KEY.get(key, key): value for key, value in data.items()}
        if "model_sample_rate" not in data and "sample_rate" in data:
            data["model_sample_rate"] = data["sample_rate"]
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise BitstreamError(f"header is missing required keys {missing}")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError, OverflowError) as error:  # BitstreamError is a ValueError and passes through
            if isinstance(error, BitstreamError):
                raise
            raise BitstreamError(f"header has invalid values: {error}") from error

    def _json(self) -> bytes:
        try:
            text = json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise BitstreamError(f"header (extra included) must be JSON-serialisable: {error}") from error
        return text.encode("utf-8")


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return abs(value) <= _MAX_INT if isinstance(value, (int, np.integer)) else math.isfinite(value)


def _short(value: Any, limit: int = 80) -> str:
    """repr of a header value, cut to `limit` characters (a hostile header may hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, {} is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_HEADER_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _parse_header(text: bytes, source: str) -> dict[str, Any]:
    """The JSON header as a dict; BitstreamError for bad UTF-8, bad JSON or nesting beyond MAX_HEADER_DEPTH."""
    try:
        parsed = json.loads(text.decode("utf-8"))
    except RecursionError:  # nesting deeper than the interpreter's stack
        raise BitstreamError(
            f"{source}: .vqa header is nested deeper than {MAX_HEADER_DEPTH} levels: the file is corrupt or hostile"
        ) from None
    except ValueError as error:  # UnicodeDecodeError, JSONDecodeError, integers of more than 4300 digits
        raise BitstreamError(f"{source}: .vqa header is not valid UTF-8 JSON: {_short(str(error), 200)}") from None
    if _depth(parsed) > MAX_HEADER_DEPTH:
        raise BitstreamError(
            f"{source}: .vqa header is nested deeper than {MAX_HEADER_DEPTH} levels: the file is corrupt or hostile"
        )
    return parsed


def _as_3d(codes: np.ndarray, header: VqaHeader) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim == 2 and header.n_channels == 1:
        codes = codes[None]
    expected = (header.n_channels, header.n_frames, header.stages_used)
    if codes.shape != expected:
        raise BitstreamError(
            f"codes have shape {codes.shape} but the header describes (n_channels, n_frames, stages_used) = "
            f"{expected}; mono codes may also be (n_frames, stages_used)"
        )
    return codes


def write_vqa(header: VqaHeader, codes: np.ndarray) -> bytes:
    """Serialise header + codes (n_channels, n_frames, stages_used) — or (n_frames, stages_used) for mono — in the
    header's layout: version 4 (packets) when it has packet_frames, else version 3 (one payload)."""
    header.validate()
    codes = _as_3d(codes, header)
    if codes.size and np.issubdtype(codes.dtype, np.integer):
        outside = (codes < 0) | (codes >= np.asarray(header.codebook_sizes, dtype=np.int64))
        if outside.any():
            bad = int(np.flatnonzero(outside.reshape(-1, header.stages_used).any(axis=0))[0])
            raise BitstreamError(
                f"codes of stage {bad} fall outside its codebook of {header.codebook_sizes[bad]} entries"
            )
    text = header._json()
    if len(text) > MAX_HEADER_BYTES or _depth(header.to_wire()) > MAX_HEADER_DEPTH:  # what read_vqa refuses
        raise BitstreamError(
            f"header of {len(text)} bytes, nested {_depth(header.to_wire())} deep, is beyond what a reader accepts "
            f"({MAX_HEADER_BYTES} bytes, {MAX_HEADER_DEPTH} levels): carry less in 'extra'"
        )
    preamble = _PREAMBLE.pack(MAGIC, header.version, len(text), header.stored_payload_bytes)
    head = b"".join([preamble, _CRC.pack(zlib.crc32(preamble)), text])
    if header.packet_frames is None:
        body = head + pack_bits(codes.reshape(-1, header.stages_used), header.bits_per_stage or [])
    else:
        head_crc = zlib.crc32(head)  # also seeds every packet's CRC-8: a packet is bound to its file
        body = head + _CRC.pack(head_crc) + encode_packets(header.layout(), codes, seed=head_crc)
    return body + _CRC.pack(zlib.crc32(body))


@dataclass(frozen=True)
class Preamble:
    """A file's first PREAMBLE_BYTES, checked: its version and the sizes of its header and payload."""

    version: int
    header_len: int
    payload_len: int

    @property
    def header_end(self) -> int:
        """Where the JSON header ends."""
        return PREAMBLE_BYTES + self.header_len

    @property
    def payload_start(self) -> int:
        """Where the payload starts (after the header's own CRC32 in version 4)."""
        return self.header_end + (_CRC.size if self.version >= PACKET_VERSION else 0)

    @property
    def total_bytes(self) -> int:
        """The size of the whole file, final CRC32 included."""
        return self.payload_start + self.payload_len + _CRC.size

    def region(self, offset: int) -> str:
        """Which part of the file byte `offset` lies in (for messages about truncation)."""
        if offset < PREAMBLE_BYTES:
            return "preamble"
        if offset < self.header_end:
            return "JSON header"
        if offset < self.payload_start:
            return "header CRC"
        return "payload" if offset < self.payload_start + self.payload_len else "final CRC"


def _as_view(data: bytes | bytearray | memoryview, source: str) -> memoryview:
    try:
        return memoryview(data).cast("B")
    except TypeError:
        raise BitstreamError(f"{source}: expected the bytes of a .vqa file, got {type(data).__name__}") from None


def read_preamble(view: memoryview, source: str = "input") -> Preamble:
    """Check a file's first bytes (at least PREAMBLE_BYTES of them, else it is truncated): magic, the preamble's CRC,
    a readable version and a header within MAX_HEADER_BYTES. Raises BitstreamError naming `source`."""
    n = len(view)
    if n < len(MAGIC):
        if n and bytes(view) == MAGIC[:n]:
            raise BitstreamError(f"{source}: truncated .vqa file: {n} bytes, expected at least {_OVERHEAD}")
        raise BitstreamError(f"{source}: not a .vqa file ({n} bytes, too short for the magic {MAGIC!r})")
    if bytes(view[:4]) != MAGIC:
        raise BitstreamError(f"{source}: not a .vqa file (starts with {bytes(view[:4])!r}, expected {MAGIC!r})")
    if n < PREAMBLE_BYTES:
        raise BitstreamError(
            f"{source}: truncated .vqa file: {n} bytes, the preamble alone needs {PREAMBLE_BYTES} "
            f"(a file needs at least {_OVERHEAD})"
        )
    _, version, header_len, payload_len = _PREAMBLE.unpack_from(view)
    (preamble_crc,) = _CRC.unpack_from(view, _PREAMBLE.size)
    if zlib.crc32(view[: _PREAMBLE.size]) != preamble_crc:
        newer = version not in READABLE_VERSIONS
        hint = f" (version field reads {version}, perhaps from a newer vqaudio)" if newer else ""
        raise BitstreamError(f"{source}: corrupt .vqa file: preamble CRC mismatch{hint}")
    if version not in READABLE_VERSIONS:
        raise BitstreamError(
            f"{source}: unsupported .vqa format version {version}; this vqaudio ({__version__}) reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}: upgrade vqaudio"
        )
    if header_len > MAX_HEADER_BYTES:
        raise BitstreamError(
            f"{source}: .vqa header claims {header_len} bytes, more than the {MAX_HEADER_BYTES} a header may have "
            "(vqaudio writes about 140): the file is corrupt or not from vqaudio"
        )
    return Preamble(version, header_len, payload_len)


def header_from_bytes(text: bytes, preamble: Preamble, source: str = "input") -> VqaHeader:
    """The JSON header (checked, bounded) of a file with this preamble; its layout must match the version and the
    payload's length."""
    parsed = _parse_header(text, source)
    try:
        header = VqaHeader.from_dict(parsed)
    except BitstreamError as error:
        raise BitstreamError(f"{source}: invalid .vqa header: {error}") from error
    if header.version != max(3, preamble.version):
        has = "packets" if header.packet_frames is not None else "no packet size"
        raise BitstreamError(f"{source}: invalid .vqa header: a version-{preamble.version} file with {has}")
    if preamble.payload_len != header.stored_payload_bytes:
        what = f"{header.n_channels} channels x {header.n_frames} frames x {sum(header.bits_per_stage or [])} bits" + (
            "" if header.packet_frames is None else f", in packets of {header.packet_frames} frames"
        )
        raise BitstreamError(
            f"{source}: payload has {preamble.payload_len} bytes but the header ({what}) needs "
            f"{header.stored_payload_bytes}"
        )
    return header


def check_model_hash(header: VqaHeader, expected_model_hash: str | None, source: str = "input") -> None:
    """BitstreamError unless the file was made by the model with this hash (None: any model)."""
    if expected_model_hash is not None and header.model_hash != expected_model_hash:
        raise BitstreamError(
            f"{source} was made with model {header.model_id!r} (hash {header.model_hash}), but this decoder "
            f"has hash {expected_model_hash}: decode it with the model that encoded it"
        )


def read_vqa(
    data: bytes | bytearray | memoryview, expected_model_hash: str | None = None, source: str = "input"
) -> tuple[VqaHeader, np.ndarray]:
    """Parse a .vqa file: (header, int64 codes of shape (n_channels, n_frames, stages_used)).

    Strict: checks, in order, magic, preamble checksum, version, length (truncation / trailing bytes), the header's
    CRC (version 4), the file's CRC, the header, that `expected_model_hash` (if given) matches the model that made
    the file, and every packet's check. Every failure raises BitstreamError naming `source`. To decode what can be
    decoded of a damaged or truncated version-4 file instead, see bitstream.stream.
    """
    view = _as_view(data, source)
    preamble = read_preamble(view, source)
    n, expected = len(view), preamble.total_bytes
    if n < expected:
        raise BitstreamError(
            f"{source}: truncated .vqa file: expected {expected} bytes (header {preamble.header_len}, payload "
            f"{preamble.payload_len}), found {n}; it ends inside the {preamble.region(n)}"
        )
    if n > expected:
        raise BitstreamError(
            f"{source}: {n - expected} unexpected bytes after the end of the .vqa data (expected {expected} "
            f"bytes, found {n})"
        )
    head_crc = 0
    if preamble.version >= PACKET_VERSION:
        (head_crc,) = _CRC.unpack_from(view, preamble.header_end)
        if zlib.crc32(view[: preamble.header_end]) != head_crc:
            raise BitstreamError(f"{source}: corrupt .vqa file: header CRC mismatch (the header changed after writing)")
    (crc,) = _CRC.unpack_from(view, expected - _CRC.size)
    if zlib.crc32(view[: expected - _CRC.size]) != crc:
        raise BitstreamError(f"{source}: corrupt .vqa file: CRC mismatch (the bytes changed after writing)")
    header = header_from_bytes(bytes(view[PREAMBLE_BYTES : preamble.header_end]), preamble, source)
    check_model_hash(header, expected_model_hash, source)
    payload = view[preamble.payload_start : preamble.payload_start + preamble.payload_len]
    if header.packet_frames is not None:
        layout = header.layout()
        codes, damaged = decode_packets(layout, payload, 0, layout.n_packets, seed=head_crc)
        if damaged.any():
            bad = np.flatnonzero(damaged)
            listed = ", ".join(map(str, bad[:10].tolist())) + (", ..." if bad.size > 10 else "")
            raise BitstreamError(
                f"{source}: corrupt .vqa file: {bad.size} of {layout.n_packets} packets fail their check (CRC-8 "
                f"mismatch, padding or an index beyond the codebook sizes): packets {listed}"
            )
        return header, codes
    try:
        flat = unpack_bits(payload, header.n_channels * header.n_frames, header.bits_per_stage or [])
    except BitstreamError as error:
        raise BitstreamError(f"{source}: {error}") from error
    codes = flat.reshape(header.n_channels, header.n_frames, header.stages_used)
    if codes.size and (codes >= np.asarray(header.codebook_sizes, dtype=np.int64)).any():
        raise BitstreamError(f"{source}: payload holds indices beyond the codebook sizes {header.codebook_sizes}")
    return header, codes


def save_vqa(path: str | Path, header: VqaHeader, codes: np.ndarray) -> Path:
    """Write a .vqa file (making parent folders); returns the path."""
    path = Path(path)
    data = write_vqa(header, codes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def load_vqa(path: str | Path, expected_model_hash: str | None = None) -> tuple[VqaHeader, np.ndarray]:
    """Read a .vqa file; see read_vqa. A missing file is a BitstreamError too, naming the path."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise BitstreamError(f"{path}: no such .vqa file") from error
    except IsADirectoryError as error:
        raise BitstreamError(f"{path}: is a folder, not a .vqa file") from error
    return read_vqa(data, expected_model_hash, source=str(path))
