"""Hostile .vqa files: every header field is bounded and checked against the model before the decoder uses it.

The adversarial cases rewrite a real file's header and recompute both CRCs the way `write_vqa` does, so only the
header's own checks stand between the values and the decoder. The property-based part (hypothesis) feeds the
codec random bytes, truncations, bit flips and valid-CRC files with edited header fields: each either decodes to
audio of the length and rate the file states or raises BitstreamError, never another exception, and quickly.

The header checks are the same in every version; the cases up to "version 4" use version-3 files (one payload).
Version 4 (packets) is fuzzed through both decoders: the strict one (`Codec.decode`) and the lenient one that
conceals lost packets (`decode_lossy`), with every CRC (the header's and each packet's) recomputed after an edit.
"""

from __future__ import annotations

import json
import math
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from vqaudio.bitstream import MAGIC, BitstreamError, VqaHeader, packed_size, read_vqa, write_vqa
from vqaudio.bitstream.format import MAX_HEADER_BYTES, PREAMBLE_BYTES
from vqaudio.bitstream.packets import MAX_PACKET_FRAMES, encode_packets
from vqaudio.models import VQVAE, VQVAEConfig
from vqaudio.pipelines import Codec
from vqaudio.pipelines.codec_stream import StreamDecoder

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# 8000 / 64 / 2 = 62.5 latent frames/s, 3 stages of 16 entries (4 bits)
TINY = dict(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=3)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is a bug, never bad luck
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
SECONDS_PER_CASE = 10.0  # a tiny decode takes milliseconds; a header that makes it run long is a bug


@pytest.fixture(scope="module")
def codec() -> Iterator[Codec]:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny decodes: threads only add overhead (and contention on a busy machine)
    yield Codec(VQVAE(VQVAEConfig(**TINY)), griffin_lim_iters=2, model_id="tiny", packet_frames=None)  # version 3
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mono(codec: Codec) -> bytes:
    wave = (np.random.default_rng(0).standard_normal(2000) * 0.1).astype(np.float32)
    return codec.encode(wave, 8000)


@pytest.fixture(scope="module")
def stereo(codec: Codec) -> bytes:
    wave = (np.random.default_rng(1).standard_normal((2, 3001)) * 0.1).astype(np.float32)
    return codec.encode(wave, 16000)


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A valid file's (header as stored, with short keys; payload)."""
    _, _, header_len, payload_len = struct.unpack_from("<4sHIQ", data)
    header = json.loads(data[PREAMBLE_BYTES : PREAMBLE_BYTES + header_len])
    return header, data[PREAMBLE_BYTES + header_len : PREAMBLE_BYTES + header_len + payload_len]


def build(header: dict[str, Any] | bytes, payload: bytes) -> bytes:
    """A version-3 file with this header and payload and both CRCs right, as write_vqa makes them."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    preamble = struct.pack("<4sHIQ", MAGIC, 3, len(text), len(payload))
    body = preamble + struct.pack("<I", zlib.crc32(preamble)) + text + payload
    return body + struct.pack("<I", zlib.crc32(body))


def edited(data: bytes, payload: bytes | None = None, **changes: Any) -> bytes:
    """`data` with header fields (short keys) changed or, given None, removed; the payload kept unless given."""
    header, old_payload = split(data)
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    return build(header, old_payload if payload is None else payload)


def decode_or_refuse(codec: Codec, data: bytes) -> None:
    """The property: audio of the file's stated rate, channels and length, or BitstreamError; and soon."""
    start = time.perf_counter()
    try:
        out, rate = codec.decode(data)
    except BitstreamError:
        pass
    else:
        header, _ = read_vqa(data)
        shape = (header.n_samples,) if header.n_channels == 1 else (header.n_channels, header.n_samples)
        assert out.shape == shape and rate == header.sample_rate
        assert out.dtype == np.float32 and np.isfinite(out).all()
    assert time.perf_counter() - start < SECONDS_PER_CASE


# ---------------------------------------------------------------- what an adversarial tester found


def test_one_entry_codebook_claiming_ten_hours_is_refused_at_once(codec: Codec, mono: bytes) -> None:
    hours = 10 * 3600
    frames = math.ceil(hours * 62.5) + 1
    data = edited(mono, payload=b"", cb=[1], st=1, n=frames, len=hours * 8000)
    assert len(data) < 200
    start = time.perf_counter()
    with pytest.raises(BitstreamError, match="0 bits"):
        codec.decode(data)
    assert time.perf_counter() - start < 1.0


def test_length_beyond_the_payload_is_refused(codec: Codec, mono: bytes) -> None:
    with pytest.raises(BitstreamError, match="holds only"):
        codec.decode(edited(mono, len=10**11))
    with pytest.raises(BitstreamError, match="'n_samples' is 1000"):
        codec.decode(edited(mono, len=10**400))  # more than 2^53, and too large for a float


def test_length_a_little_off_is_refused_by_the_model_check(codec: Codec, mono: bytes) -> None:
    header, _ = split(mono)
    with pytest.raises(BitstreamError, match="inconsistent"):
        codec.decode(edited(mono, len=header["len"] + 500))


def test_deeply_nested_header_is_refused(codec: Codec, mono: bytes) -> None:
    header, payload = split(mono)
    deep = json.dumps(header)[:-1].encode() + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(deep) > MAX_HEADER_BYTES
    with pytest.raises(BitstreamError, match="header claims"):
        codec.decode(build(deep, payload))
    nested = json.dumps(header)[:-1].encode() + b',"x":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    assert len(nested) <= MAX_HEADER_BYTES  # within the size bound, and deeper than the interpreter's stack
    with pytest.raises(BitstreamError, match="nested deeper"):
        codec.decode(build(nested, payload))
    with pytest.raises(BitstreamError, match="nested deeper"):
        codec.decode(edited(mono, x={"a": json.loads("[" * 40 + "]" * 40)}))  # within the stack, past the bound


def test_huge_integer_literal_in_header_is_refused(codec: Codec, mono: bytes) -> None:
    header, payload = split(mono)
    text = json.dumps(header)[:-1].encode() + b',"x":{"big":' + b"9" * 5000 + b"}}"  # past Python's 4300 digits
    with pytest.raises(BitstreamError, match="not valid UTF-8 JSON"):
        codec.decode(build(text, payload))


@pytest.mark.parametrize("rate", [2**40, 999, 384_001, 0])
def test_sample_rate_out_of_bounds_is_refused(codec: Codec, mono: bytes, rate: int) -> None:
    with pytest.raises(BitstreamError, match=r"'sample_rate' must be a rate in 1000\.\.384000 Hz"):
        codec.decode(edited(mono, sr=rate))


@pytest.mark.parametrize("rate", [2**40, 999, 500_000])
def test_encode_refuses_the_rates_decode_would(codec: Codec, rate: int) -> None:
    with pytest.raises(ValueError, match=r"outside the 1000\.\.384000 Hz"):
        codec.encode(np.zeros(4000, dtype=np.float32), rate)


@pytest.mark.parametrize("rate", [1000, 384_000])
def test_extreme_valid_rates_round_trip(codec: Codec, rate: int) -> None:
    wave = (np.random.default_rng(2).standard_normal(rate // 10) * 0.1).astype(np.float32)
    out, out_rate = codec.decode(codec.encode(wave, rate))
    assert out_rate == rate and out.shape == wave.shape and np.isfinite(out).all()


@pytest.mark.parametrize("gain", [-300.0, 61.0, 1e308])
def test_gain_out_of_bounds_is_refused(codec: Codec, mono: bytes, gain: float) -> None:
    with pytest.raises(BitstreamError, match="gain_db"):
        codec.decode(edited(mono, g=[gain]))


def test_gain_within_bounds_is_removed(codec: Codec, mono: bytes) -> None:
    plain, _ = codec.decode(mono)
    louder, _ = codec.decode(edited(mono, g=[-20.0]))  # as if the encoder had turned the input down 20 dB
    np.testing.assert_allclose(louder, 10 * plain, rtol=1e-4, atol=1e-6)


def test_codebook_sizes_must_be_the_models(codec: Codec, mono: bytes) -> None:
    header, payload = split(mono)
    with pytest.raises(BitstreamError, match="codebook sizes"):
        codec.decode(edited(mono, cb=[8] * header["st"], payload=bytes(packed_size(header["n"], [3] * header["st"]))))
    zeros = bytes(len(payload))  # index 0 fits any codebook, so only the codec's own check can refuse it
    with pytest.raises(BitstreamError, match="do not match this model's 3 x 16 entries"):
        codec.decode(edited(mono, cb=[9, 16, 16], payload=zeros))  # the same bits per stage as 16
    with pytest.raises(BitstreamError, match="stages"):
        codec.decode(edited(mono, cb=[16] * 4, st=4, payload=bytes(packed_size(header["n"], [4] * 4))))
    with pytest.raises(BitstreamError, match="0 bits"):
        codec.decode(edited(mono, cb=[], st=0, payload=b""))


def test_frame_rate_must_be_the_models(codec: Codec, mono: bytes) -> None:
    with pytest.raises(BitstreamError, match="frame rate"):
        codec.decode(edited(mono, fps=31.25))
    with pytest.raises(BitstreamError, match="frame_rate"):
        codec.decode(edited(mono, fps=1e9))


def test_channel_count_is_bounded(codec: Codec, mono: bytes) -> None:
    with pytest.raises(BitstreamError, match="n_channels"):
        codec.decode(edited(mono, ch=10**9, n=0, len=0, g=None, payload=b""))


def test_empty_length_is_refused(codec: Codec, mono: bytes) -> None:
    with pytest.raises(BitstreamError, match="no samples"):
        codec.decode(edited(mono, len=0))


def test_non_bytes_input_is_a_bitstream_error(codec: Codec) -> None:
    with pytest.raises(BitstreamError, match="expected the bytes"):
        codec.decode("VQA\x00 not bytes")  # type: ignore[arg-type]


def test_file_bounds_are_the_pipelines() -> None:
    from vqaudio import bitstream
    from vqaudio.pipelines import inputs

    for name in ("MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE", "MAX_CHANNELS"):
        assert getattr(bitstream, name) == getattr(inputs, name), name  # what encode takes, decode reads


# ---------------------------------------------------------------- property-based fuzzing

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)
WILD = st.none() | JSON_VALUES  # a key removed, or any JSON at all
RATES = st.sampled_from([0, 1, 999, 1000, 8000, 11025, 16000, 44100, 48000, 384_000, 384_001, 2**40])
# (short key, values near or past what a real file holds); None removes the key
NEAR_VALID: dict[str, st.SearchStrategy] = {
    "sr": RATES,
    "msr": RATES,
    "len": st.integers(min_value=-1, max_value=8000) | st.sampled_from([10**11, 2**53 + 1]),
    "ch": st.integers(min_value=0, max_value=10),
    "n": st.integers(min_value=0, max_value=80),
    "st": st.integers(min_value=0, max_value=5),
    "fps": st.sampled_from([62.5, 31.25, 62.5000001, 0.0, -1.0, 1e9, 1, math.inf]),
    "cb": st.lists(st.sampled_from([1, 2, 8, 16, 17, 2**32]), max_size=5),
    "g": st.lists(st.floats(min_value=-100, max_value=100), max_size=3),
    "hash": st.sampled_from(["", "0" * 16]),
    "id": st.text(max_size=8),
    "x": JSON_VALUES,
    "v": JSON_SCALARS,
}


@st.composite
def header_edits(draw: st.DrawFn) -> dict[str, Any]:
    """1 to 4 fields, each mostly a value near what a real file holds (so the checks past the types are reached)."""
    keys = draw(st.lists(st.sampled_from(sorted(NEAR_VALID)), min_size=1, max_size=4, unique=True))
    return {key: draw(NEAR_VALID[key] if draw(st.integers(0, 4)) else WILD) for key in keys}


@FUZZ
@given(data=st.binary(max_size=400), prefix=st.booleans())
def test_fuzz_random_bytes(codec: Codec, data: bytes, prefix: bool) -> None:
    decode_or_refuse(codec, MAGIC + data if prefix else data)


@FUZZ
@given(which=st.booleans(), cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_fuzz_truncations(codec: Codec, mono: bytes, stereo: bytes, which: bool, cut: float) -> None:
    data = stereo if which else mono
    with pytest.raises(BitstreamError):
        codec.decode(data[: int(cut * len(data))])


@FUZZ
@given(which=st.booleans(), draw=st.data())
def test_fuzz_bit_flips(codec: Codec, mono: bytes, stereo: bytes, which: bool, draw: st.DataObject) -> None:
    data = bytearray(stereo if which else mono)
    bits = st.integers(min_value=0, max_value=8 * len(data) - 1)
    for bit in draw.draw(st.lists(bits, min_size=1, max_size=4, unique=True)):
        data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BitstreamError):
        codec.decode(bytes(data))


@FUZZ
@given(
    which=st.booleans(),
    changes=header_edits(),
    payload=st.sampled_from(["keep", "fit", "random"]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_fuzz_valid_crc_header_edits(
    codec: Codec, mono: bytes, stereo: bytes, which: bool, changes: dict[str, Any], payload: str, seed: int
) -> None:
    """Edited fields behind valid CRCs; the payload kept, or resized to what the edited header needs (random bits)."""
    data = stereo if which else mono
    header, old = split(data)
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    if "hash" not in changes:
        header["hash"] = codec.model_hash  # mostly the right model, so the checks past the hash are reached
    body = old
    if payload != "keep":
        try:
            size = packed_size(int(header["ch"]) * int(header["n"]), [int(k - 1).bit_length() for k in header["cb"]])
        except (KeyError, TypeError, ValueError, OverflowError, BitstreamError):
            size = len(old)
        size = min(size, 1 << 16)
        rng = np.random.default_rng(seed)
        body = rng.bytes(size) if payload == "random" else bytes(size)
    decode_or_refuse(codec, build(header, body))


@FUZZ
@given(
    rate=st.sampled_from([1000, 8000, 11025, 16000, 44100, 384_000, 999, 384_001, 2**40]),  # the last 3 refused
    # up to 1.2 s of 1 kHz input (9600 model samples), or 10^11 samples (few frames only at a rate of 2^40)
    n_samples=st.integers(min_value=1, max_value=1200) | st.just(10**11),
    channels=st.integers(min_value=1, max_value=3),
    stages=st.integers(min_value=1, max_value=4),
    frames_off=st.sampled_from([0, 0, 0, -1, 1]),
    gains=st.none() | st.lists(st.floats(min_value=-65, max_value=65), min_size=3, max_size=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_fuzz_consistent_headers_decode_to_the_stated_length(
    codec: Codec,
    mono: bytes,
    rate: int,
    n_samples: int,
    channels: int,
    stages: int,
    frames_off: int,
    gains: list[float] | None,
    seed: int,
) -> None:
    """Well-formed headers of any rate, length, channels and stages over random codes: the decoder's own path."""
    header, _ = split(mono)
    n_frames = max(0, codec._n_latents(codec.model_length(n_samples, rate)) + frames_off)  # the codec's own rule
    assume(channels * n_frames < 10_000)  # a file of at most a few kB
    header.update(sr=rate, msr=8000, len=n_samples, ch=channels, st=stages, cb=[16] * stages, n=n_frames)
    header["hash"] = codec.model_hash
    header.pop("g", None)
    if gains is not None:
        header["g"] = gains[:channels]
    payload = bytearray(np.random.default_rng(seed).bytes(packed_size(channels * n_frames, [4] * stages)))
    if payload and seed % 2:
        payload[-1] &= 0xF0  # zero padding, as the writer leaves it (odd frame x stage counts end on half a byte)
    decode_or_refuse(codec, build(header, bytes(payload)))


# ---------------------------------------------------------------- version 4: packets, strict and lenient


def with_packets(codec: Codec, wave: np.ndarray, rate: int, packet_frames: int) -> bytes:
    header, codes = read_vqa(codec.encode(wave, rate))
    header.packet_frames = packet_frames
    return write_vqa(header, codes)


@pytest.fixture(scope="module")
def mono4(codec: Codec) -> bytes:
    """1.5 s in packets of 3 frames: the payload (32 packets) outweighs the header, so damage mostly hits packets."""
    return with_packets(codec, (np.random.default_rng(3).standard_normal(12000) * 0.1).astype(np.float32), 8000, 3)


@pytest.fixture(scope="module")
def stereo4(codec: Codec) -> bytes:
    wave = (np.random.default_rng(4).standard_normal((2, 16001)) * 0.1).astype(np.float32)
    return with_packets(codec, wave, 16000, 8)


def payload_start(data: bytes) -> int:
    return PREAMBLE_BYTES + struct.unpack_from("<I", data, 6)[0] + 4


def split4(data: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """A valid version-4 file's (header as stored, codes)."""
    header_len = struct.unpack_from("<I", data, 6)[0]
    return json.loads(data[PREAMBLE_BYTES : PREAMBLE_BYTES + header_len]), read_vqa(data)[1]


def build4(header: dict[str, Any], payload: bytes | np.ndarray) -> bytes:
    """A version-4 file with this header and every CRC right: the header's own, each packet's (`payload` given as
    codes (C, n, k) is packed with the edited header's layout and seed) and the file's."""
    text = json.dumps(header, separators=(",", ":")).encode()
    data, codes = (payload, None) if isinstance(payload, bytes) else (b"", payload)
    layout = None
    if codes is not None:
        try:
            layout = VqaHeader.from_dict(header).layout()
        except (BitstreamError, TypeError, ValueError, OverflowError):
            data = bytes(min(len(text), 64))  # no layout to pack into: any bytes
    size = layout.total_bytes if layout is not None else len(data)
    preamble = struct.pack("<4sHIQ", MAGIC, 4, len(text), size)
    head = preamble + struct.pack("<I", zlib.crc32(preamble)) + text
    seed = zlib.crc32(head)
    if layout is not None:
        data = encode_packets(layout, codes, seed)
    body = head + struct.pack("<I", seed) + data
    return body + struct.pack("<I", zlib.crc32(body))


def lossy_or_refuse(codec: Codec, data: bytes) -> None:
    """The property for the lenient decoder too: audio of the file's stated rate, channels and length (lost packets
    concealed), or BitstreamError; and soon."""
    start = time.perf_counter()
    decoder = StreamDecoder(codec, chunk_latents=codec.chunk_latents)
    try:
        out = np.concatenate(decoder.feed(data) + decoder.close(), axis=-1)
    except BitstreamError:
        event("lenient: refused")
    else:
        event("lenient: decoded" + (", concealed" if decoder.report.frames else ""))
        header = decoder.header
        assert header is not None
        assert out.shape == (header.n_channels, header.n_samples)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    assert time.perf_counter() - start < SECONDS_PER_CASE


def both_or_refuse(codec: Codec, data: bytes) -> None:
    decode_or_refuse(codec, data)
    lossy_or_refuse(codec, data)


def test_version_4_fixtures_round_trip(codec: Codec, mono4: bytes, stereo4: bytes) -> None:
    for data in (mono4, stereo4):
        header, codes = split4(data)
        assert build4(header, codes) == data  # build4 writes what write_vqa writes
        np.testing.assert_array_equal(codec.decode(data)[0], codec.decode(write_vqa(*read_vqa(data)))[0])


def test_hostile_packet_sizes_are_refused(codec: Codec, mono4: bytes) -> None:
    header, codes = split4(mono4)
    for bad in (0, -3, MAX_PACKET_FRAMES + 1, 2**40, 1.5, True, "3", None, [3]):
        data = build4({**header, "pf": bad}, codes)
        with pytest.raises(BitstreamError, match=r"packet_frames|packet size"):
            codec.decode(data)
        with pytest.raises(BitstreamError, match=r"packet_frames|packet size"):
            StreamDecoder(codec).feed(data)


@FUZZ
@given(data=st.binary(max_size=400), version=st.sampled_from([3, 4]))
def test_fuzz_random_bytes_after_a_valid_preamble(codec: Codec, data: bytes, version: int) -> None:
    """Anything behind a preamble that checks out (its length fields from the random bytes' size)."""
    split_at = len(data) // 3
    preamble = struct.pack("<4sHIQ", MAGIC, version, split_at, max(0, len(data) - split_at - 8))
    both_or_refuse(codec, preamble + struct.pack("<I", zlib.crc32(preamble)) + data)


@FUZZ
@given(
    which=st.booleans(),
    in_payload=st.booleans(),
    cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_fuzz_version_4_truncations(
    codec: Codec, mono4: bytes, stereo4: bytes, which: bool, in_payload: bool, cut: float
) -> None:
    """Cut anywhere, or (half the cases) inside the packets."""
    data = stereo4 if which else mono4
    start = payload_start(data) if in_payload else 0
    data = data[: start + int(cut * (len(data) - start))]
    with pytest.raises(BitstreamError):
        codec.decode(data)
    lossy_or_refuse(codec, data)  # at least half of the packets: decoded, the rest concealed; else refused


@FUZZ
@given(which=st.booleans(), draw=st.data())
def test_fuzz_version_4_bit_flips(codec: Codec, mono4: bytes, stereo4: bytes, which: bool, draw: st.DataObject) -> None:
    """Flips anywhere, or (mostly) inside the packets."""
    data = bytearray(stereo4 if which else mono4)
    first = 8 * payload_start(bytes(data)) if draw.draw(st.integers(0, 3)) else 0
    bits = st.integers(min_value=first, max_value=8 * len(data) - 1)
    for bit in draw.draw(st.lists(bits, min_size=1, max_size=4, unique=True)):
        data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BitstreamError):
        codec.decode(bytes(data))
    lossy_or_refuse(codec, bytes(data))


PACKET_EDITS: dict[str, st.SearchStrategy] = {
    **NEAR_VALID,
    "pf": st.integers(min_value=-1, max_value=12) | st.sampled_from([MAX_PACKET_FRAMES, MAX_PACKET_FRAMES + 1, 2**40]),
}


@FUZZ
@given(
    which=st.booleans(),
    keys=st.lists(st.sampled_from(sorted(PACKET_EDITS)), min_size=1, max_size=4, unique=True),
    draw=st.data(),
    payload=st.sampled_from(["repack", "random"]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_fuzz_version_4_header_edits(
    codec: Codec,
    mono4: bytes,
    stereo4: bytes,
    which: bool,
    keys: list[str],
    draw: st.DataObject,
    payload: str,
    seed: int,
) -> None:
    """Edited fields behind valid CRCs (the header's and every packet's): codes repacked to the edited layout, or
    random packet bytes (which mostly fail their checks: concealed, or refused when strict)."""
    header, _ = split4(stereo4 if which else mono4)
    for key in keys:
        header[key] = draw.draw(PACKET_EDITS[key] if draw.draw(st.integers(0, 4)) else WILD)
    header = {k: v for k, v in header.items() if v is not None}
    if "hash" not in keys:
        header["hash"] = codec.model_hash
    rng = np.random.default_rng(seed)
    body: bytes | np.ndarray
    try:
        parsed = VqaHeader.from_dict(header)
        shape = (parsed.n_channels, parsed.n_frames, parsed.stages_used)
        assume(parsed.n_channels * parsed.n_frames < 10_000)
        if payload == "repack":
            body = rng.integers(0, 2 ** np.asarray(parsed.bits_per_stage), size=shape)
        else:
            body = rng.bytes(min(parsed.layout().total_bytes, 1 << 16))
    except (BitstreamError, TypeError, ValueError, OverflowError):
        body = rng.bytes(int(rng.integers(0, 200)))
    both_or_refuse(codec, build4(header, body))


@FUZZ
@given(
    rate=st.sampled_from([1000, 8000, 16000, 44100]),
    n_samples=st.integers(min_value=1, max_value=1200),
    channels=st.integers(min_value=1, max_value=3),
    stages=st.integers(min_value=1, max_value=3),
    packet_frames=st.integers(min_value=1, max_value=20),
    lost=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_fuzz_version_4_consistent_files_with_lost_packets_decode_to_the_stated_length(
    codec: Codec,
    rate: int,
    n_samples: int,
    channels: int,
    stages: int,
    packet_frames: int,
    lost: float,
    seed: int,
) -> None:
    """Well-formed version-4 files of any length, channels, stages and packet size over random codes, with a share
    of their packets damaged: the lenient decoder's own path."""
    from vqaudio.bitstream.stream import damage_packets, loss_mask

    n_frames = codec._n_latents(codec.model_length(n_samples, rate))
    header = VqaHeader(model_id="tiny", model_hash=codec.model_hash, sample_rate=rate, model_sample_rate=8000,
                       n_samples=n_samples, n_channels=channels, frame_rate=62.5, n_frames=n_frames,
                       stages_used=stages, codebook_sizes=[16] * stages, packet_frames=packet_frames)  # fmt: skip
    codes = np.random.default_rng(seed).integers(0, 16, size=(channels, n_frames, stages))
    data = damage_packets(write_vqa(header, codes), loss_mask(header.layout().n_packets, lost, seed))
    lossy_or_refuse(codec, data)
