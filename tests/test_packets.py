""".vqa format version 4 (packets), lenient reading, concealment, streaming decode and its latency (issue 16, part 4).

Most tests use a tiny random model (fast; its STFT, stride and context are the shipped codec's, so its latency is
too); the stated figures for the shipped codec-8k are checked on it directly.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vqaudio.audio.io import load, save
from vqaudio.bitstream import BitstreamError, VqaHeader, read_vqa, write_vqa
from vqaudio.bitstream.format import PACKET_VERSION, PREAMBLE_BYTES
from vqaudio.bitstream.packets import DEFAULT_PACKET_FRAMES, MAX_PACKET_FRAMES
from vqaudio.bitstream.stream import PacketReader, damage_packets, loss_mask, read_lossy
from vqaudio.cli import main
from vqaudio.data.synth import synth_speech
from vqaudio.models import VQVAE, VQVAEConfig, save_model
from vqaudio.pipelines import Codec
from vqaudio.pipelines.codec_stream import (
    Concealment,
    StreamDecoder,
    decode_file_lossy,
    decode_lossy,
    stream_latency,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

# 8000 / 64 / 2 = 62.5 latent frames/s (16 ms), 3 stages of 16 entries: the shipped codec's framing, a tiny model
TINY = dict(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=3)
MS = 1000.0 / 8000


@pytest.fixture(scope="module")
def codec() -> Codec:
    torch.manual_seed(0)
    return Codec(VQVAE(VQVAEConfig(**TINY)), griffin_lim_iters=4, model_id="tiny", phase="griffin-lim")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synth_speech(2.5, 8000, seed=3)


@pytest.fixture(scope="module")
def data(codec: Codec, speech: np.ndarray) -> bytes:
    return codec.encode(speech, 8000)


def make_header(n_frames: int, sizes: list[int], channels: int = 1, packet_frames: int | None = 8) -> VqaHeader:
    return VqaHeader(model_id="m", model_hash="h", sample_rate=8000, model_sample_rate=8000,
                     n_samples=128 * n_frames, n_channels=channels, frame_rate=62.5, n_frames=n_frames,
                     stages_used=len(sizes), codebook_sizes=sizes, packet_frames=packet_frames)  # fmt: skip


def random_codes(header: VqaHeader, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [np.stack([rng.integers(0, k, header.n_frames) for k in header.codebook_sizes], -1)
         for _ in range(header.n_channels)]
    )  # fmt: skip


def payload_start(data: bytes) -> int:
    header_len = struct.unpack_from("<I", data, 6)[0]
    return PREAMBLE_BYTES + header_len + 4


def joined(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks, axis=-1)


# ---------------------------------------------------------------- the format


@pytest.mark.parametrize(
    ("n_frames", "sizes", "channels", "packet_frames"),
    [(251, [512] * 4, 1, 8), (37, [1024, 300, 2], 2, 3), (5, [16], 1, 8), (1, [512, 512], 1, 1), (0, [512], 1, 8),
     (64, [512] * 2, 3, MAX_PACKET_FRAMES)],
)  # fmt: skip
def test_version_4_round_trip_and_sizes(n_frames: int, sizes: list[int], channels: int, packet_frames: int) -> None:
    header = make_header(n_frames, sizes, channels, packet_frames)
    codes = random_codes(header)
    data = write_vqa(header, codes)
    assert struct.unpack_from("<H", data, 4)[0] == PACKET_VERSION == header.version
    again, got = read_vqa(data)
    assert again == header and np.array_equal(got, codes)
    assert len(data) == header.total_bytes == header.header_bytes + header.payload_bytes
    layout = header.layout()
    assert header.stored_payload_bytes == layout.total_bytes == len(data) - payload_start(data) - 4
    assert layout.n_packets == -(-n_frames // packet_frames)


def test_shipped_packets_cost_62_5_bits_a_second_and_need_no_padding() -> None:
    for stages in range(1, 5):  # every rung of codec-8k: 9-bit codes, 8 frames a packet
        layout = make_header(80, [512] * stages).layout()
        assert layout.data_bytes(8) * 8 == 8 * 9 * stages  # whole bytes: no padding
        assert layout.overhead_bits_per_second(62.5) == 62.5
    assert DEFAULT_PACKET_FRAMES == 8


def test_header_without_packets_writes_version_3_and_older_versions_still_read() -> None:
    header = make_header(40, [512, 512], packet_frames=None)
    codes = random_codes(header)
    data = write_vqa(header, codes)
    assert struct.unpack_from("<H", data, 4)[0] == 3 and b'"pf"' not in data
    assert np.array_equal(read_vqa(data)[1], codes)
    for version in (1, 2):
        old = bytearray(data)
        struct.pack_into("<H", old, 4, version)
        struct.pack_into("<I", old, 18, zlib.crc32(bytes(old[:18])))
        struct.pack_into("<I", old, len(old) - 4, zlib.crc32(bytes(old[:-4])))
        assert np.array_equal(read_vqa(bytes(old))[1], codes)
        _, got, lost, report = read_lossy(bytes(old))  # the lenient reader reads them whole
        assert np.array_equal(got, codes) and not lost.any() and report.file_crc_ok


def _head(version: int, text: bytes, payload_len: int) -> bytes:
    """Preamble (promising `payload_len` bytes) and JSON header, with their CRCs (the header's own for version 4)."""
    preamble = struct.pack("<4sHIQ", b"VQA\x00", version, len(text), payload_len)
    head = preamble + struct.pack("<I", zlib.crc32(preamble)) + text
    return head + (struct.pack("<I", zlib.crc32(head)) if version >= 4 else b"")


def _rewrite(version: int, text: bytes, payload: bytes) -> bytes:
    """A file with this version, JSON and payload, every CRC right."""
    body = _head(version, text, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_version_and_packets_must_agree() -> None:
    header = make_header(16, [512])
    data = write_vqa(header, random_codes(header))
    text = data[PREAMBLE_BYTES : payload_start(data) - 4]
    payload = data[payload_start(data) : -4]
    with pytest.raises(BitstreamError, match="version-3 file with packets"):
        read_vqa(_rewrite(3, text, payload))
    plain = text.replace(b',"pf":8', b"")
    assert plain != text
    with pytest.raises(BitstreamError, match="version-4 file with no packet size"):
        read_vqa(_rewrite(4, plain, payload))
    for bad in (0, -1, MAX_PACKET_FRAMES + 1, 2.5, True, "8"):
        with pytest.raises(BitstreamError, match="packet_frames"):
            read_vqa(_rewrite(4, text.replace(b'"pf":8', b'"pf":' + json.dumps(bad).encode()), payload))


def test_strict_read_catches_any_flipped_byte_and_names_where_a_cut_ends() -> None:
    header = make_header(21, [512, 16], packet_frames=4)
    data = write_vqa(header, random_codes(header))
    for position in range(4, len(data)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0x5A
        with pytest.raises(BitstreamError, match=r"corrupt \.vqa file: .*CRC mismatch"):
            read_vqa(bytes(corrupt))
    start = payload_start(data)
    with pytest.raises(BitstreamError, match=r"truncated \.vqa file: 12 bytes, the preamble alone"):
        read_vqa(data[:12])
    for cut, where in {start - 10: "JSON header", start - 2: "header CRC", start + 5: "payload",
                       len(data) - 1: "final CRC"}.items():  # fmt: skip
        with pytest.raises(BitstreamError, match=rf"truncated \.vqa file: expected {len(data)} .*{where}"):
            read_vqa(data[:cut])


def test_packet_check_binds_a_packet_to_its_place_and_catches_every_short_burst() -> None:
    header = make_header(40, [512, 512], packet_frames=8)
    codes = random_codes(header)
    data = write_vqa(header, codes)
    layout, start = header.layout(), payload_start(data)
    size = layout.full_size
    swapped = bytearray(data)  # packets 1 and 2 trade places: same bytes, wrong indices
    swapped[start + size : start + 3 * size] = (
        data[start + 2 * size : start + 3 * size] + data[start + size : start + 2 * size]
    )
    assert read_lossy(bytes(swapped))[3].damaged == [1, 2]
    bits = 8 * size
    for burst in range(1, 9):  # every burst of 1..8 bits, at every position of packet 3
        for at in range(bits - burst + 1):
            corrupt = bytearray(data)
            for bit in range(at, at + burst):
                corrupt[start + 3 * size + bit // 8] ^= 0x80 >> (bit % 8)
            assert read_lossy(bytes(corrupt))[3].damaged == [3], (burst, at)


# ---------------------------------------------------------------- lenient and incremental reading


def test_reader_gives_the_same_codes_whatever_the_pieces(data: bytes) -> None:
    _, codes = read_vqa(data)
    rng = np.random.default_rng(0)
    reader, runs, at = PacketReader(), [], 0
    while at < len(data):
        step = int(rng.integers(1, 40))
        runs += reader.feed(data[at : at + step])
        at += step
    runs += reader.close()
    got = np.zeros_like(codes)
    for run in runs:
        assert not run.lost.any()
        got[:, run.start : run.stop] = run.codes
    assert np.array_equal(got, codes) and reader.report.file_crc_ok is True and not reader.report.lost


def test_damaged_packets_are_found_and_the_rest_decode(data: bytes) -> None:
    header, codes = read_vqa(data)
    layout = header.layout()
    for lost in (loss_mask(layout.n_packets, 0.3, seed=1), np.eye(layout.n_packets, dtype=bool)[-1]):
        again, got, lost_frames, report = read_lossy(damage_packets(data, lost))
        assert again == header and report.damaged == np.flatnonzero(lost).tolist() and report.missing == []
        assert np.array_equal(lost_frames, np.repeat(lost, 8)[: header.n_frames])
        assert np.array_equal(got[:, ~lost_frames], codes[:, ~lost_frames])
        assert report.file_crc_ok is False
    damaged = damage_packets(data, lost)
    with pytest.raises(BitstreamError, match="CRC mismatch"):
        read_vqa(damaged)  # strict: refused
    rewritten = damaged[:-4] + struct.pack("<I", zlib.crc32(damaged[:-4]))  # a file CRC over the damage
    with pytest.raises(BitstreamError, match="1 of 20 packets fail their check"):
        read_vqa(rewritten)


def test_damaged_header_is_refused_whatever_the_mode(data: bytes) -> None:
    for position in (5, 30, payload_start(data) - 2):  # preamble, JSON, the header's CRC
        corrupt = bytearray(data)
        corrupt[position] ^= 1
        with pytest.raises(BitstreamError, match="CRC mismatch"):
            read_lossy(bytes(corrupt))


def test_damaged_file_crc_alone_is_flagged(data: bytes) -> None:
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    _, codes, lost, report = read_lossy(bytes(corrupt))
    assert not lost.any() and report.lost == [] and report.file_crc_ok is False
    assert np.array_equal(codes, read_vqa(data)[1])


def test_truncation_decodes_what_is_there_down_to_half_the_packets(data: bytes) -> None:
    header, codes = read_vqa(data)
    layout = header.layout()
    start = payload_start(data)
    for whole in (layout.n_packets - 1, layout.n_packets // 2 + 1):
        cut = start + layout.offset(whole) + 3  # a few bytes into the next packet
        _, got, lost, report = read_lossy(data[:cut])
        assert report.missing == list(range(whole, layout.n_packets)) and report.file_crc_ok is None
        assert not lost[: 8 * whole].any() and lost[8 * whole :].all()
        assert np.array_equal(got[:, : 8 * whole], codes[:, : 8 * whole])
    with pytest.raises(BitstreamError, match="fewer than 50%"):
        read_lossy(data[: start + layout.offset(layout.n_packets // 3)])
    _, _, lost, report = read_lossy(data[:-2])  # every packet, the file's CRC cut
    assert not lost.any() and report.file_crc_ok is None
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        read_lossy(data + b"xyz")
    reader = PacketReader(strict=True)
    reader.feed(data[:-20])
    with pytest.raises(BitstreamError, match="truncated"):
        reader.close()


def test_a_header_alone_cannot_ask_for_hours_of_concealment() -> None:
    header = make_header(10 * 3600 * 62, [512] * 4)  # ten hours, claimed by a header with no payload behind it
    hostile = _head(4, header._json(), header.stored_payload_bytes)
    assert len(hostile) < 300
    started = time.perf_counter()
    with pytest.raises(BitstreamError, match=r"0 of \d+ packets arrived"):
        read_lossy(hostile)
    assert time.perf_counter() - started < 1.0


def test_datagrams_missing_late_and_resized(data: bytes) -> None:
    header, _ = read_vqa(data)
    layout, start = header.layout(), payload_start(data)
    packets = [
        data[start + layout.offset(i) : start + layout.offset(i) + layout.size(i)] for i in range(layout.n_packets)
    ]
    reader = PacketReader()
    with pytest.raises(ValueError, match="header"):
        reader.receive(0, packets[0])
    assert reader.feed(data[:start]) == [] and reader.header == header
    runs = reader.receive(0, packets[0]) + reader.receive(3, packets[3])  # 1 and 2 never came
    runs += reader.receive(2, packets[2])  # late: its frames are concealed already
    runs += reader.receive(4, None) + reader.receive(5, packets[5][:-1])  # known lost; cut short on the way
    for i in range(6, layout.n_packets):
        runs += reader.receive(i, packets[i])
    runs += reader.close()
    assert reader.report.missing == [1, 2, 4] and reader.report.damaged == [5] and reader.report.file_crc_ok is None
    assert [(run.start, run.stop) for run in runs[:3]] == [(0, 8), (8, 24), (24, 32)]
    lost = np.concatenate([run.lost for run in runs])
    assert np.array_equal(np.flatnonzero(lost[::8]), [1, 2, 4, 5])
    fresh = PacketReader()
    fresh.feed(data[:start])
    with pytest.raises(BitstreamError, match="outside"):
        fresh.receive(layout.n_packets, packets[0])


def test_simulated_loss_is_seeded_and_at_the_rate() -> None:
    assert not loss_mask(100, 0.0, seed=1).any() and loss_mask(100, 1.0, seed=1).all()
    a, b = loss_mask(20_000, 0.05, seed=7), loss_mask(20_000, 0.05, seed=7)
    assert np.array_equal(a, b) and abs(a.mean() - 0.05) < 0.005
    assert not np.array_equal(a, loss_mask(20_000, 0.05, seed=8))
    with pytest.raises(ValueError, match="rate"):
        loss_mask(10, 1.5, seed=0)


# ---------------------------------------------------------------- concealment in the decoder


def test_intact_file_decodes_as_codec_decode_does(codec: Codec, data: bytes) -> None:
    stereo = (np.random.default_rng(1).standard_normal((2, 9001)) * 0.1).astype(np.float32)
    for coded, rate in ((data, 8000), (codec.encode(stereo, 16000), 16000)):
        expected, _ = codec.decode(coded)
        out, out_rate, report = decode_lossy(codec, coded)
        assert out_rate == rate and not report and report.time_ranges() == []
        np.testing.assert_array_equal(out, expected)


def test_lost_packets_are_concealed_flagged_and_refused_when_strict(codec: Codec, data: bytes, tmp_path: Path) -> None:
    header, _ = read_vqa(data)
    lost = np.zeros(header.layout().n_packets, dtype=bool)
    lost[[2, 3, 9]] = True
    damaged = damage_packets(data, lost)
    out, rate, report = decode_lossy(codec, damaged)
    assert out.shape == (header.n_samples,) and np.isfinite(out).all() and rate == 8000
    assert report.frames == [(16, 32), (72, 80)] and report.damaged_packets == [2, 3, 9]
    assert report.time_ranges() == [(0.256, 0.512), (1.152, 1.28)]
    assert "0.26-0.51 s, 1.15-1.28 s" in report.describe() and "3 packets lost" in report.describe()
    assert not np.allclose(out, codec.decode(data)[0])
    with pytest.raises(BitstreamError, match="packet 2 fails its check"):
        decode_file_lossy(codec, damaged, tmp_path / "x.wav", strict=True)
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(BitstreamError):
        codec.decode(damaged)


def test_a_long_gap_fades_to_silence(codec: Codec, speech: np.ndarray) -> None:
    data = codec.encode(speech, 8000)
    n = read_vqa(data)[0].layout().n_packets
    lost = np.zeros(n, dtype=bool)
    lost[4:] = True  # 2 s lost after the first half second
    out, _, report = decode_lossy(codec, damage_packets(data, lost))
    assert report.frames == [(32, read_vqa(data)[0].n_frames)]
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    assert rms(out[-4000:]) < min(1e-4, 0.05 * rms(out[:4000]))  # the last half second: silence (below -80 dBFS)
    silent = decode_lossy(codec, damage_packets(data, np.ones(n, dtype=bool)), concealment=Concealment())[0]
    assert rms(silent) < 1e-4  # nothing to repeat at all: silence


# ---------------------------------------------------------------- streaming


def test_streamed_output_equals_decode_in_packet_sized_chunks(codec: Codec, data: bytes) -> None:
    header, _ = read_vqa(data)
    packet_s = header.packet_frames / header.frame_rate
    chunked = Codec(codec.model, griffin_lim_iters=4, model_id="tiny", phase="griffin-lim", chunk_seconds=packet_s)
    lost = loss_mask(header.layout().n_packets, 0.2, seed=3)
    for coded in (data, damage_packets(data, lost)):
        decoder, blocks = StreamDecoder(codec), []
        rng = np.random.default_rng(0)
        at = 0
        while at < len(coded):
            step = int(rng.integers(1, 30))
            blocks += decoder.feed(coded[at : at + step])
            at += step
        streamed = joined(blocks + decoder.close())[0]
        whole, _, report = decode_lossy(chunked, coded)
        np.testing.assert_allclose(streamed, whole, atol=1e-6, rtol=0)
        assert decoder.report.frames == report.frames


def test_output_for_time_t_comes_before_input_beyond_t_plus_the_latency(codec: Codec, data: bytes) -> None:
    header, _ = read_vqa(data)
    layout, start = header.layout(), payload_start(data)
    latency = stream_latency(codec)
    decoder_samples = round(latency.decoder_ms / MS)
    per_packet = header.packet_frames * 128
    decoder = StreamDecoder(codec)
    assert decoder.feed(data[:start]) == []
    produced, lags = 0, []
    for i in range(layout.n_packets):
        given = min((i + 1) * per_packet, header.n_samples)  # the input will cover this much audio
        # every sample t with t + latency < given came out before this packet was given
        assert produced >= given - decoder_samples, (i, produced, given)
        lags.append(given - produced)
        packet = data[start + layout.offset(i) : start + layout.offset(i) + layout.size(i)]
        produced += sum(block.shape[-1] for block in decoder.receive(i, packet))
    assert produced >= header.n_samples - decoder_samples
    assert max(lags) == decoder_samples  # met exactly: the latency, not a loose bound
    assert produced + sum(block.shape[-1] for block in decoder.close()) == header.n_samples
    assert decoder.latency == latency


def test_a_stream_conceals_without_looking_ahead(codec: Codec, data: bytes) -> None:
    """What a stream has put out before a packet is lost does not change: concealment uses no later packet."""
    header, _ = read_vqa(data)
    lost = np.zeros(header.layout().n_packets, dtype=bool)
    lost[[5, 6, 12]] = True
    decoders = StreamDecoder(codec), StreamDecoder(codec)
    inputs = data, damage_packets(data, lost)
    intact, damaged = (joined(d.feed(x) + d.close())[0] for d, x in zip(decoders, inputs, strict=True))
    untouched = 5 * header.packet_frames * 128 - round(stream_latency(codec).decoder_ms / MS)
    assert untouched > 0
    np.testing.assert_array_equal(damaged[:untouched], intact[:untouched])
    assert not np.allclose(damaged[untouched:], intact[untouched:])
    assert decoders[1].report.frames == [(40, 56), (96, 104)]


def test_shipped_codec_latency_is_as_stated() -> None:
    codec = Codec.default(phase="griffin-lim")
    latency = stream_latency(codec)
    # 11 latent frames of context (the decoder reaches 10 each side) need the packet after next: 80 ms of rounding
    assert (latency.packet_ms, latency.lookahead_ms, latency.synthesis_ms, latency.rounding_ms) == (128, 176, 16, 80)
    # the encoder reaches 6 latent frames each side and gets the 8-frame minimum of context: 128 + 8 frames of input
    assert (latency.decoder_ms, latency.encoder_ms, latency.total_ms) == (400, 136, 536)
    assert "536 ms" in latency.describe()
    assert stream_latency(codec, packet_frames=1).decoder_ms == 16 + 176 + 16  # smaller packets: less latency


def test_streamed_output_is_within_tolerance_of_the_whole_file_decode() -> None:
    """Streaming changes only Griffin-Lim's chunks: the same spectrum and intelligibility, another phase."""
    pytest.importorskip("pystoi")
    from vqaudio.metrics import evaluate_pair

    codec = Codec.default(phase="griffin-lim")
    wave = synth_speech(3.0, 8000, seed=1)
    data = codec.encode(wave, 8000)
    whole, _ = codec.decode(data)
    decoder = StreamDecoder(codec)
    streamed = joined(decoder.feed(data) + decoder.close())[0]
    a = evaluate_pair(wave, whole, 8000, metrics=("stoi", "lsd"))
    b = evaluate_pair(wave, streamed, 8000, metrics=("stoi", "lsd"))
    assert abs(a["stoi"] - b["stoi"]) < 0.01 and abs(a["lsd"] - b["lsd"]) < 0.2, (a, b)
    assert evaluate_pair(whole, streamed, 8000, metrics=("stoi",))["stoi"] > 0.97


# ---------------------------------------------------------------- the command line


def test_cli_conceals_with_a_warning_refuses_when_strict_and_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    ckpt = save_model(VQVAE(VQVAEConfig(**TINY)), tmp_path / "tiny.safetensors")
    wav = save(tmp_path / "in.wav", synth_speech(2.0, 8000, seed=0), 8000)
    vqa = tmp_path / "in.vqa"
    assert main(["encode", str(wav), "-o", str(vqa), "--model", str(ckpt)]) == 0
    header, _ = read_vqa(vqa.read_bytes())
    lost = np.zeros(header.layout().n_packets, dtype=bool)
    lost[3] = True
    vqa.write_bytes(damage_packets(vqa.read_bytes(), lost))
    capsys.readouterr()
    assert main(["decode", str(vqa), "-o", str(tmp_path / "a.wav"), "--model", str(ckpt)]) == 0
    err = capsys.readouterr().err
    assert "concealed 0.13 s" in err and "0.38-0.51 s" in err
    assert load(tmp_path / "a.wav")[0].shape == (16000,)
    assert main(["decode", str(vqa), "-o", str(tmp_path / "b.wav"), "--model", str(ckpt), "--strict"]) == 2
    assert "CRC mismatch" in capsys.readouterr().err and not (tmp_path / "b.wav").exists()
    assert main(["decode", str(vqa), "-o", str(tmp_path / "c.wav"), "--model", str(ckpt), "--stream", "-v"]) == 0
    err = capsys.readouterr().err
    assert "408 ms algorithmic latency" in err and "0.38-0.51 s" in err
    v3 = tmp_path / "v3.vqa"
    assert main(["encode", str(wav), "-o", str(v3), "--model", str(ckpt), "--packet-frames", "0"]) == 0
    assert struct.unpack_from("<H", v3.read_bytes(), 4)[0] == 3
    out = tmp_path / "rt.wav"
    assert (
        main(["codec", str(wav), "-o", str(out), "--model", str(ckpt), "--packet-loss", "20", "--loss-seed", "1"]) == 0
    )
    assert "concealed" in capsys.readouterr().err and load(out)[0].shape == (16000,)
    with pytest.raises(SystemExit):
        main(["encode", str(wav), "-o", str(v3), "--model", str(ckpt), "--packet-frames", "-1", "--force"])
    assert "expected 0..4096 latent frames" in capsys.readouterr().err


# ---------------------------------------------------------------- the benchmark


@pytest.mark.shared_data
@pytest.mark.slow
def test_packet_loss_benchmark_one_utterance(shared_data_dir: Path, tmp_path: Path) -> None:
    import importlib.util
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "packet_loss.py"
    spec = importlib.util.spec_from_file_location("benchmark_packet_loss", script)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_packet_loss", bench)
    spec.loader.exec_module(bench)
    out = tmp_path / "packet_loss.json"
    argv = ["--data", str(shared_data_dir / "speech"), "--max-utterances", "1", "--loss", "0", "20", "--stream"]
    assert bench.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "packet_loss" and report["latency_ms"]["total"] == 536  # the shipped codec-8k
    rows = report["rows"]
    assert {row["system"] for row in rows} >= {"vqaudio-1125", "vqaudio-1125-stream"}
    for system in {row["system"] for row in rows if not row["system"].endswith("-stream")}:
        clean, lossy = (next(r for r in rows if r["system"] == system and r["loss_pct"] == p) for p in (0, 20))
        assert clean["lost_pct"] == 0 and lossy["lost_pct"] > 0 and lossy["concealed_s"] > 0
        assert lossy["pesq_nb"] < clean["pesq_nb"] and lossy["pesq_nb"] >= 1.0 and 0 < lossy["stoi"] <= 1
        assert abs(clean["packet_overhead"] - 62.5) < 2 and clean["bitrate_with_header"] > clean["bitrate"]
