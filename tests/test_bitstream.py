"""The .vqa bitstream: exact dense packing, round trips, and a clear BitstreamError for every bad file."""

from __future__ import annotations

import json
import re
import struct
import zlib

import numpy as np
import pytest

from vqaudio.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    BitstreamError,
    VqaHeader,
    bits_for_codebook,
    load_vqa,
    pack_bits,
    read_vqa,
    save_vqa,
    unpack_bits,
    write_vqa,
)
from vqaudio.bitstream.format import PREAMBLE_BYTES, READABLE_VERSIONS, WIRE_KEYS


def random_codes(rng: np.random.Generator, n_frames: int, codebook_sizes: list[int]) -> np.ndarray:
    return np.stack([rng.integers(0, k, n_frames) for k in codebook_sizes], axis=-1)


def make_header(n_frames: int = 50, codebook_sizes: list[int] | None = None, n_channels: int = 1,
                **overrides) -> VqaHeader:  # fmt: skip
    sizes = codebook_sizes if codebook_sizes is not None else [1024, 256]
    # 50 frames/s of 16 kHz input: 320 samples a frame
    fields = dict(model_id="vqaudio-1200", model_hash="abc123", sample_rate=16000, model_sample_rate=8000,
                  n_samples=320 * n_frames, n_channels=n_channels, frame_rate=50.0, n_frames=n_frames,
                  stages_used=len(sizes), codebook_sizes=sizes)  # fmt: skip
    fields.update(overrides)
    return VqaHeader(**fields)


@pytest.fixture
def vqa_file() -> tuple[bytes, VqaHeader, np.ndarray]:
    rng = np.random.default_rng(1)
    header = make_header(n_frames=37, codebook_sizes=[1024, 300, 2], extra={"bitrate": 1200})
    codes = random_codes(rng, 37, header.codebook_sizes)
    return write_vqa(header, codes), header, codes


# ---------------------------------------------------------------- bit packing


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 7, 8, 9, 11, 12, 13, 15, 16])
def test_pack_round_trip_each_width(bits: int) -> None:
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 2**bits, size=(203, 3))
    codes[0] = 2**bits - 1  # the extremes must survive
    codes[1] = 0
    data = pack_bits(codes, [bits] * 3)
    assert len(data) == (203 * 3 * bits + 7) // 8
    np.testing.assert_array_equal(unpack_bits(data, 203, [bits] * 3), codes)


def test_pack_round_trip_mixed_widths() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        n_stages = int(rng.integers(1, 9))
        bits = rng.integers(1, 17, n_stages).tolist()
        n_frames = int(rng.integers(0, 70))
        codes = random_codes(rng, n_frames, [2**b for b in bits])
        data = pack_bits(codes, bits)
        assert len(data) == -(-n_frames * sum(bits) // 8)  # exactly ceil(total_bits / 8)
        np.testing.assert_array_equal(unpack_bits(data, n_frames, bits), codes)


def test_pack_is_dense_and_msb_first() -> None:
    # 3-bit values 5 (101) and 3 (011), then 2-bit value 2 (10): 101 011 10 -> 0b10101110
    assert pack_bits(np.array([[5, 3, 2]]), [3, 3, 2]) == bytes([0b10101110])
    assert pack_bits(np.array([[1]]), [1]) == bytes([0b10000000])


def test_pack_handles_chunk_boundaries_and_wide_codes() -> None:
    rng = np.random.default_rng(3)
    n_frames = (1 << 15) + 5  # one row past the internal chunk size
    bits = [13, 32, 1]
    codes = random_codes(rng, n_frames, [2**b for b in bits])
    data = pack_bits(codes, bits)
    assert len(data) == -(-n_frames * 46 // 8)
    np.testing.assert_array_equal(unpack_bits(data, n_frames, bits), codes)


def test_zero_bit_stage_and_empty() -> None:
    codes = np.array([[0, 3], [0, 1]])
    assert len(pack_bits(codes, [0, 2])) == 1
    np.testing.assert_array_equal(unpack_bits(pack_bits(codes, [0, 2]), 2, [0, 2]), codes)
    assert pack_bits(np.zeros((0, 4), dtype=np.int64), [8, 8, 8, 8]) == b""
    assert unpack_bits(b"", 0, [8, 8]).shape == (0, 2)


def test_bits_for_codebook_is_ceil_log2() -> None:
    assert [bits_for_codebook(k) for k in (1, 2, 3, 4, 5, 255, 256, 257, 1000, 1024, 4096)] == [
        0, 1, 2, 2, 3, 8, 8, 9, 10, 10, 12]  # fmt: skip
    for bad in (0, -3, 2.0, True):
        with pytest.raises(BitstreamError):
            bits_for_codebook(bad)


def test_pack_rejects_bad_codes() -> None:
    with pytest.raises(BitstreamError, match=r"stage 1 span 8\.\.8 but the stage has 3 bits"):
        pack_bits(np.array([[0, 8]]), [3, 3])
    with pytest.raises(BitstreamError, match="span -1"):
        pack_bits(np.array([[-1, 0]]), [3, 3])
    with pytest.raises(BitstreamError, match="shape"):
        pack_bits(np.zeros((4, 3), dtype=int), [3, 3])
    with pytest.raises(BitstreamError, match="integers"):
        pack_bits(np.zeros((4, 2)), [3, 3])
    with pytest.raises(BitstreamError, match="exactly 2 bytes"):
        unpack_bits(b"\x00", 2, [4, 4])


# ---------------------------------------------------------------- the file


def test_file_round_trip(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data, header, codes = vqa_file
    read_header, read_codes = read_vqa(data, expected_model_hash="abc123")
    assert read_header == header
    assert read_header.extra == {"bitrate": 1200}
    assert read_header.bits_per_stage == [10, 9, 1]
    assert read_codes.shape == (1, 37, 3) and read_codes.dtype == np.int64
    np.testing.assert_array_equal(read_codes[0], codes)
    assert data[:4] == MAGIC


def test_sizes_match_the_file(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data, header, _ = vqa_file
    assert header.payload_bytes == -(-37 * 20 // 8)
    assert header.header_bytes + header.payload_bytes == header.total_bytes == len(data)
    assert header.duration_s == pytest.approx(37 / 50)
    assert header.bits_per_second() == pytest.approx(8 * len(data) / 0.74)
    assert header.bits_per_second(include_header=False) == pytest.approx(8 * header.payload_bytes / 0.74)


def test_multichannel_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(5)
    header = make_header(n_frames=11, codebook_sizes=[4096, 4096, 16], n_channels=2)
    codes = np.stack([random_codes(rng, 11, header.codebook_sizes) for _ in range(2)])
    path = save_vqa(tmp_path / "sub" / "talk.vqa", header, codes)
    read_header, read_codes = load_vqa(path)
    assert read_header.n_channels == 2
    np.testing.assert_array_equal(read_codes, codes)
    assert path.stat().st_size == header.total_bytes
    with pytest.raises(BitstreamError, match="shape"):
        write_vqa(header, codes[0])  # mono layout for a stereo header


@pytest.mark.parametrize("n_frames", [0, 1])
def test_zero_and_one_frame(n_frames: int) -> None:
    rng = np.random.default_rng(n_frames)
    header = make_header(n_frames=n_frames, codebook_sizes=[1024, 7], n_samples=160 * n_frames)
    codes = random_codes(rng, n_frames, header.codebook_sizes)
    data = write_vqa(header, codes)
    read_header, read_codes = read_vqa(data)
    assert read_codes.shape == (1, n_frames, 2)
    np.testing.assert_array_equal(read_codes[0], codes)
    assert read_header.payload_bytes == (0 if n_frames == 0 else 2)


def test_write_rejects_inconsistent_input() -> None:
    with pytest.raises(BitstreamError, match="outside its codebook of 300"):
        write_vqa(make_header(n_frames=2, codebook_sizes=[8, 300]), np.array([[1, 2], [3, 300]]))
    with pytest.raises(BitstreamError, match="one size per stage"):
        make_header(codebook_sizes=[8, 8], stages_used=3)
    with pytest.raises(BitstreamError, match="does not match codebook sizes"):
        make_header(codebook_sizes=[8, 8], bits_per_stage=[4, 4])
    with pytest.raises(BitstreamError, match="sample_rate"):
        make_header(sample_rate=0)
    with pytest.raises(BitstreamError, match="frame_rate"):
        make_header(frame_rate=float("nan"))
    with pytest.raises(BitstreamError, match="JSON-serialisable"):
        write_vqa(make_header(n_frames=0, extra={"x": object()}), np.zeros((0, 2), dtype=int))
    with pytest.raises(BitstreamError, match="carry less in 'extra'"):  # a header no reader would accept
        write_vqa(make_header(n_frames=0, extra={"x": "a" * 70_000}), np.zeros((0, 2), dtype=int))
    with pytest.raises(BitstreamError, match="carry less in 'extra'"):
        write_vqa(make_header(n_frames=0, extra={"x": json.loads("[" * 40 + "]" * 40)}), np.zeros((0, 2), dtype=int))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("sample_rate", 999, "'sample_rate' must be a rate in 1000"), ("model_sample_rate", 2**40, "'model_sample_rate'"),
     ("n_channels", 9, "'n_channels' must be in 1..8"), ("n_samples", 2**60, "beyond any real file"),
     ("frame_rate", 9000.0, "at most the model rate"), ("gain_db", [-300.0], "gain_db"),
     ("codebook_sizes", [1, 1], "0 bits"), ("n_samples", 32000, "holds only 50 frames")],
)  # fmt: skip
def test_header_fields_are_bounded(field: str, value: object, message: str) -> None:
    with pytest.raises(BitstreamError, match=re.escape(message)):
        make_header(**{field: value})


# ---------------------------------------------------------------- every error


def test_header_is_stored_with_short_keys_and_stays_small() -> None:
    header = make_header(n_frames=251, codebook_sizes=[512] * 4, model_id="codec-8k", model_hash="14f67682656a7b20",
                         sample_rate=8000, model_sample_rate=8000, n_samples=32000, frame_rate=62.5)  # fmt: skip
    data = write_vqa(header, np.zeros((251, 4), dtype=np.int64))
    stored = json.loads(data[PREAMBLE_BYTES : PREAMBLE_BYTES + header.header_bytes - 26])
    assert set(stored) <= set(WIRE_KEYS.values()) and "bits" not in stored and "msr" not in stored
    long_form = 26 + len(json.dumps(header.to_dict(), sort_keys=True, separators=(",", ":")))  # format 1
    assert header.header_bytes <= 0.55 * long_form, (header.header_bytes, long_form)
    again, _ = read_vqa(data)
    assert again == header


def test_format_1_files_with_long_keys_still_read(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    _, header, codes = vqa_file
    assert 1 in READABLE_VERSIONS
    payload = pack_bits(codes.reshape(-1, header.stages_used), header.bits_per_stage)
    old = bytearray(_with_header(json.dumps(header.to_dict()).encode(), payload))
    struct.pack_into("<H", old, 4, 1)  # rewrite the version, then both checksums
    struct.pack_into("<I", old, 18, zlib.crc32(bytes(old[:18])))
    struct.pack_into("<I", old, len(old) - 4, zlib.crc32(bytes(old[:-4])))
    again, got = read_vqa(bytes(old))
    assert again == header and np.array_equal(got[0], codes)


def test_gains_round_trip_and_default_to_zero() -> None:
    rng = np.random.default_rng(3)
    header = make_header(n_frames=9, n_channels=2, gain_db=[17.25, -3.5])
    codes = np.stack([random_codes(rng, 9, header.codebook_sizes) for _ in range(2)])
    again, _ = read_vqa(write_vqa(header, codes))
    assert again.gain_db == [17.25, -3.5] and again.gains_db() == [17.25, -3.5]
    plain = make_header(n_frames=9)
    data = write_vqa(plain, random_codes(rng, 9, plain.codebook_sizes))
    assert b'"g"' not in data  # no gain, no key: the header stays as small as before
    assert read_vqa(data)[0].gains_db() == [0.0]
    for bad in ([1.0], [1.0, float("nan")], [1.0, "2"], 3.0):
        with pytest.raises(BitstreamError, match="gain_db"):
            make_header(n_channels=2, gain_db=bad)


def test_format_2_files_without_gains_still_read(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data, header, codes = vqa_file
    assert 2 in READABLE_VERSIONS
    old = bytearray(data)
    struct.pack_into("<H", old, 4, 2)
    struct.pack_into("<I", old, 18, zlib.crc32(bytes(old[:18])))
    struct.pack_into("<I", old, len(old) - 4, zlib.crc32(bytes(old[:-4])))
    again, got = read_vqa(bytes(old))
    assert again == header and again.gains_db() == [0.0] and np.array_equal(got[0], codes)


def test_bad_magic() -> None:
    with pytest.raises(BitstreamError, match=r"not a \.vqa file"):
        read_vqa(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40))
    with pytest.raises(BitstreamError, match=r"not a \.vqa file"):
        read_vqa(b"")


def test_unsupported_version(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data = bytearray(vqa_file[0])
    struct.pack_into("<H", data, 4, FORMAT_VERSION + 1)
    struct.pack_into("<I", data, 18, zlib.crc32(bytes(data[:18])))  # a well-formed file from a newer writer
    with pytest.raises(BitstreamError, match=f"unsupported .vqa format version {FORMAT_VERSION + 1}"):
        read_vqa(bytes(data))


def test_truncation_in_every_region_names_the_sizes(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data, header, _ = vqa_file
    json_end = PREAMBLE_BYTES + header.header_bytes - 26
    cuts = {2: "truncated", 12: "preamble", PREAMBLE_BYTES + 5: "JSON header", json_end + 3: "payload",
            len(data) - 2: "final CRC"}  # fmt: skip
    for cut, where in cuts.items():
        with pytest.raises(BitstreamError, match=where) as info:
            read_vqa(data[:cut], source="talk.vqa")
        message = str(info.value)
        assert "talk.vqa" in message and "truncated" in message
        if cut >= PREAMBLE_BYTES:
            assert f"expected {len(data)} bytes" in message and f"found {cut}" in message


def test_trailing_bytes(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    with pytest.raises(BitstreamError, match="3 unexpected bytes"):
        read_vqa(vqa_file[0] + b"abc")


def test_any_flipped_byte_is_caught(vqa_file: tuple[bytes, VqaHeader, np.ndarray]) -> None:
    data = vqa_file[0]
    for position in range(len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0x5A
        with pytest.raises(BitstreamError) as info:
            read_vqa(bytes(corrupt))
        expected = r"not a \.vqa file" if position < 4 else "corrupt .vqa file: .*CRC mismatch"
        assert info.match(expected), (position, str(info.value))


def _with_header(header_json: bytes, payload: bytes = b"") -> bytes:
    """A version-3 file (one payload) with this header and payload and both CRCs right."""
    preamble = struct.pack("<4sHIQ", MAGIC, 3, len(header_json), len(payload))
    body = preamble + struct.pack("<I", zlib.crc32(preamble)) + header_json + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_invalid_or_incomplete_json_header() -> None:
    with pytest.raises(BitstreamError, match="not valid UTF-8 JSON"):
        read_vqa(_with_header(b"{not json"))
    with pytest.raises(BitstreamError, match="not valid UTF-8 JSON"):
        read_vqa(_with_header(b"\xff\xfe"))
    with pytest.raises(BitstreamError, match="must be a JSON object"):
        read_vqa(_with_header(b"[1, 2]"))
    good = make_header(n_frames=0).to_dict()
    for key in ("model_hash", "n_frames", "codebook_sizes"):
        partial = {k: v for k, v in good.items() if k != key}
        with pytest.raises(BitstreamError, match=f"missing required keys \\['{key}'\\]"):
            read_vqa(_with_header(json.dumps(partial).encode()))
    with pytest.raises(BitstreamError, match="n_samples"):
        read_vqa(_with_header(json.dumps({**good, "n_samples": "many"}).encode()))
    with pytest.raises(BitstreamError, match="payload has 3 bytes"):
        read_vqa(_with_header(json.dumps(good).encode(), b"abc"))


@pytest.mark.parametrize(
    "key, value",
    [("codebook_sizes", "ab"), ("codebook_sizes", [[1], 2]), ("codebook_sizes", [2.5, 2]),
     ("bits_per_stage", 5), ("bits_per_stage", "xy"), ("frame_rate", "fast"), ("frame_rate", -1),
     ("extra", [1]), ("model_id", None), ("stages_used", True), ("n_channels", 0), ("encoder_version", 1)],
)  # fmt: skip
def test_hostile_header_values_raise_bitstream_error(key: str, value: object) -> None:
    header = {**make_header(n_frames=0).to_dict(), key: value}
    with pytest.raises(BitstreamError, match=r"invalid \.vqa header"):
        read_vqa(_with_header(json.dumps(header).encode()))


def test_indices_beyond_codebook_in_payload() -> None:
    header = make_header(n_frames=1, codebook_sizes=[5]).to_dict()
    with pytest.raises(BitstreamError, match="beyond the codebook sizes"):
        read_vqa(_with_header(json.dumps(header).encode(), bytes([0b11100000])))  # index 7 of a 5-entry book


def test_model_hash_mismatch(vqa_file: tuple[bytes, VqaHeader, np.ndarray], tmp_path) -> None:
    data = vqa_file[0]
    with pytest.raises(BitstreamError) as info:
        read_vqa(data, expected_model_hash="def456", source="talk.vqa")
    message = str(info.value)
    assert "vqaudio-1200" in message and "abc123" in message and "def456" in message and "talk.vqa" in message
    path = tmp_path / "talk.vqa"
    path.write_bytes(data)
    with pytest.raises(BitstreamError, match=str(path)):
        load_vqa(path, expected_model_hash="def456")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(BitstreamError, match=r"no such \.vqa file"):
        load_vqa(tmp_path / "absent.vqa")


def test_random_truncations_and_garbage_only_raise_bitstream_error() -> None:
    rng = np.random.default_rng(7)
    for trial in range(300):
        sizes = rng.integers(1, 5000, int(rng.integers(1, 5))).tolist()
        n_frames = int(rng.integers(0, 40))
        header = make_header(n_frames=n_frames, codebook_sizes=sizes, extra={"trial": trial})
        data = write_vqa(header, random_codes(rng, n_frames, sizes))
        cut = int(rng.integers(0, len(data)))
        with pytest.raises(BitstreamError):
            read_vqa(data[:cut])
        keep = int(rng.integers(0, len(data)))
        garbage = data[:keep] + rng.bytes(int(rng.integers(0, 2 * len(data))))  # random tail, any length
        if garbage != data:
            with pytest.raises(BitstreamError):
                read_vqa(garbage)
