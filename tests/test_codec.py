"""Codec pipeline: .vqa round trips, the bitrate ladder, chunking, errors and the encode/decode/codec CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vqaudio.assets import PRETRAINED
from vqaudio.audio.io import load, save
from vqaudio.bitstream import BitstreamError, read_vqa
from vqaudio.cli import main
from vqaudio.models import VQVAE, VQVAEConfig, save_model
from vqaudio.pipelines import Codec
from vqaudio.pipelines.codec import bitrate_of

TINY = dict(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=3)


def tiny_model(seed: int = 0) -> VQVAE:
    torch.manual_seed(seed)
    return VQVAE(VQVAEConfig(**TINY))


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(tiny_model(), griffin_lim_iters=4, model_id="tiny")


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.1).astype(np.float32)


def test_ladder_arithmetic(codec: Codec) -> None:
    # 8000 / 64 / 2 = 62.5 latent frames/s, 16 entries = 4 bits per stage
    assert codec.bitrates == [250.0, 500.0, 750.0]
    assert codec.stages_for_bitrate(None) == 3
    assert codec.stages_for_bitrate(750) == 3
    assert codec.stages_for_bitrate(749) == 2
    assert codec.stages_for_bitrate(250) == 1
    with pytest.raises(ValueError, match="lowest rung"):
        codec.stages_for_bitrate(100)


@pytest.mark.parametrize(("shape", "rate"), [((8000,), 8000), ((2, 16001), 16000)])
def test_round_trip_keeps_length_rate_channels(codec: Codec, shape: tuple[int, ...], rate: int) -> None:
    wave = noise(shape)
    data = codec.encode(wave, rate)
    out, out_rate = codec.decode(data)
    assert out_rate == rate
    assert out.shape == wave.shape
    assert out.dtype == np.float32 and np.isfinite(out).all()
    header, codes = read_vqa(data)
    assert header.n_channels == (1 if wave.ndim == 1 else 2)
    assert header.sample_rate == rate and header.model_sample_rate == 8000
    assert header.n_samples == shape[-1] and header.model_id == "tiny"
    assert header.model_hash == codec.model_hash and len(codec.model_hash) == 16
    assert codes.shape == (header.n_channels, header.n_frames, 3)


def test_file_size_matches_header_and_bitrates(codec: Codec) -> None:
    data = codec.encode(noise((16000,)), 8000)
    header, _ = read_vqa(data)
    assert len(data) == header.total_bytes == header.header_bytes + header.payload_bytes
    rates = bitrate_of(data, header)
    assert rates["bitrate"] == pytest.approx(len(data) * 8 / 2.0)
    assert rates["payload_bitrate"] == pytest.approx(header.payload_bytes * 8 / 2.0)
    assert rates["payload_bitrate"] == pytest.approx(750, rel=0.02)  # the top rung, up to rounding


def test_lower_bitrate_fewer_stages_smaller_file(codec: Codec) -> None:
    wave = noise((16000,))
    sizes = []
    for bitrate, stages in ((750, 3), (500, 2), (300, 1)):
        data = codec.encode(wave, 8000, bitrate=bitrate)
        header, codes = read_vqa(data)
        assert header.stages_used == stages and codes.shape[-1] == stages
        assert codec.decode(data)[0].shape == wave.shape
        sizes.append(len(data))
    assert sizes[0] > sizes[1] > sizes[2]


def test_other_model_is_refused(codec: Codec) -> None:
    data = codec.encode(noise((4000,)), 8000)
    other = Codec(tiny_model(seed=1), griffin_lim_iters=4)
    assert other.model_hash != codec.model_hash
    with pytest.raises(BitstreamError, match="hash"):
        other.decode(data)


def test_truncated_and_corrupt_data_are_refused(codec: Codec) -> None:
    data = codec.encode(noise((4000,)), 8000)
    with pytest.raises(BitstreamError, match="truncated"):
        codec.decode(data[:-7])
    corrupt = bytearray(data)
    corrupt[-10] ^= 0xFF
    with pytest.raises(BitstreamError):
        codec.decode(bytes(corrupt))


def test_long_input_chunked_keeps_length() -> None:
    small = Codec(tiny_model(), griffin_lim_iters=2, chunk_seconds=2.0, context_frames=4)
    whole = Codec(tiny_model(), griffin_lim_iters=2, chunk_seconds=100.0, context_frames=4)
    wave = noise((25 * 8000 + 37,))
    data = small.encode(wave, 8000)
    out, rate = small.decode(data)
    assert rate == 8000 and out.shape == wave.shape and np.isfinite(out).all()
    # context margins wider than the tiny model's receptive field: chunked codes equal one-pass codes
    np.testing.assert_array_equal(read_vqa(data)[1], read_vqa(whole.encode(wave, 8000))[1])


def test_silence_and_tiny_input(codec: Codec) -> None:
    for n in (8000, 50):
        out, rate = codec.decode(codec.encode(np.zeros(n, dtype=np.float32), 8000))
        assert out.shape == (n,) and rate == 8000 and np.isfinite(out).all()


def test_input_level_makes_codes_level_invariant_and_output_keeps_the_input_level() -> None:
    from vqaudio.audio.level import active_level_db

    torch.manual_seed(0)
    levelled = Codec(VQVAE(VQVAEConfig(**TINY, input_level_db=-20.0)), griffin_lim_iters=4)
    loud = noise((2, 8000), seed=4) * np.hanning(8000).astype(np.float32)  # two channels, different gains
    loud[1] *= 0.3
    quiet = loud * np.float32(0.1)  # 20 dB down
    data_loud, data_quiet = levelled.encode(loud, 8000), levelled.encode(quiet, 8000)
    header, codes = read_vqa(data_quiet)
    expected = [-20.0 - active_level_db(channel, 8000) for channel in quiet]
    assert header.gain_db == pytest.approx(expected, abs=0.006)  # rounded to 0.01 dB
    np.testing.assert_array_equal(codes, read_vqa(data_loud)[1])  # the model saw the same input
    out_loud, out_quiet = levelled.decode(data_loud)[0], levelled.decode(data_quiet)[0]
    np.testing.assert_allclose(out_quiet, 0.1 * out_loud, rtol=1e-3, atol=1e-7)
    # a model trained as recorded sends no gain
    plain = Codec(tiny_model(), griffin_lim_iters=2)
    assert plain.input_level_db is None and read_vqa(plain.encode(loud, 8000))[0].gain_db is None


def test_single_stage_model_has_one_rung() -> None:
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(**{**TINY, "n_stages": 1}))
    single = Codec(model, griffin_lim_iters=2)
    assert single.bitrates == [250.0]
    out, _ = single.decode(single.encode(noise((4000,)), 8000))
    assert out.shape == (4000,)


def test_from_pretrained_missing_lists_shipped() -> None:
    with pytest.raises(FileNotFoundError, match="shipped"):
        Codec.from_pretrained("no-such-model")


def test_cli_encode_decode_codec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_model(tiny_model(), tmp_path / "tiny.safetensors")
    wav = save(tmp_path / "in.wav", noise((2, 8000)), 16000)
    vqa = tmp_path / "in.vqa"
    assert main(["encode", str(wav), "-o", str(vqa), "--bitrate", "500", "--model", str(ckpt)]) == 0
    header, _ = read_vqa(vqa.read_bytes())
    assert header.stages_used == 2 and header.model_id == "tiny"
    assert "bit/s payload only" in capsys.readouterr().out
    out_wav = tmp_path / "out.wav"
    assert main(["decode", str(vqa), "-o", str(out_wav), "--model", str(ckpt), "--postfilter", "0"]) == 0
    wave, sr = load(out_wav, mono=False)
    assert sr == 16000 and wave.shape == (2, 8000)
    assert main(["codec", str(wav), "-o", str(tmp_path / "rt.wav"), "--model", str(ckpt)]) == 0
    printed = capsys.readouterr().out
    assert "with header" in printed and "payload only" in printed
    # a folder in, a folder of .vqa files out
    folder = tmp_path / "dir"
    save(folder / "a.wav", noise((4000,)), 8000)
    save(folder / "sub" / "b.flac", noise((4000,), seed=2), 8000)
    assert main(["encode", str(folder), "-o", str(tmp_path / "out"), "--model", str(ckpt)]) == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.vqa")) == [
        "a.vqa",
        "sub/b.vqa",
    ]


def test_postfilter_is_a_decoder_choice(codec: Codec, capsys: pytest.CaptureFixture[str]) -> None:
    from vqaudio.cli import POSTFILTER_HELP
    from vqaudio.pipelines.codec import DEFAULT_POSTFILTER

    assert f"default {DEFAULT_POSTFILTER:g}" in POSTFILTER_HELP and codec.postfilter == DEFAULT_POSTFILTER
    wave = noise((4000,), seed=5)
    data = codec.encode(wave, 8000)
    plain = Codec(codec.model, griffin_lim_iters=4, model_id="tiny", postfilter=0.0)
    sharp = Codec(codec.model, griffin_lim_iters=4, model_id="tiny", postfilter=0.5)
    a, b = plain.decode(data)[0], sharp.decode(data)[0]  # the same file decodes either way
    assert a.shape == b.shape == wave.shape and not np.allclose(a, b)
    with pytest.raises(ValueError, match="postfilter"):
        Codec(codec.model, postfilter=1.5)
    with pytest.raises(ValueError, match="postfilter"):
        plain.postfilter = -0.1  # checked when changed later too


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_model(tiny_model(), tmp_path / "tiny.safetensors")
    other = save_model(tiny_model(seed=1), tmp_path / "other.safetensors")
    wav = save(tmp_path / "in.wav", noise((4000,)), 8000)
    vqa = tmp_path / "in.vqa"
    assert main(["encode", str(wav), "-o", str(vqa), "--model", str(ckpt)]) == 0
    capsys.readouterr()
    assert main(["decode", str(vqa), "-o", str(tmp_path / "x.wav"), "--model", str(other)]) == 2
    assert "hash" in capsys.readouterr().err
    vqa.write_bytes(vqa.read_bytes()[:30])
    assert main(["decode", str(vqa), "-o", str(tmp_path / "x.wav"), "--model", str(ckpt)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["encode", str(wav), "-o", str(vqa), "--bitrate", "10", "--model", str(ckpt)]) == 2
    assert "lowest rung" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["reconstruct-vqvae-8k", "codec-8k"])
def test_shipped_model_round_trip_quality(name: str) -> None:
    from vqaudio.data.synth import synth_speech

    if not (PRETRAINED / f"{name}.safetensors").is_file():
        pytest.skip(f"shipped {name} weights absent")
    torch.set_num_threads(1)
    codec = Codec.from_pretrained(name, griffin_lim_iters=32)
    assert codec.bitrates == [562.5, 1125.0, 1687.5, 2250.0]
    wave = synth_speech(3.0, seed=3)
    data = codec.encode(wave, 8000)
    assert read_vqa(data)[0].stages_used == 4
    out, rate = codec.decode(data)
    assert rate == 8000 and out.shape == wave.shape  # quality: pinned per rung in tests/test_shipped_scores.py


@pytest.mark.skipif(not (PRETRAINED / "codec-16k.safetensors").is_file(), reason="shipped codec-16k absent")
def test_shipped_wideband_codec_round_trip() -> None:
    """codec-16k: a 6-rung ladder of 562.5 bit/s steps on 16 kHz speech; decode restores rate and length, and more
    stages bring the decoded spectrum closer to the input's."""
    from vqaudio.assets import example_files
    from vqaudio.metrics import log_spectral_distance

    codec = Codec.from_pretrained("codec-16k")
    assert codec.sample_rate == 16000 and codec.bitrates == [562.5 * k for k in range(1, 7)]
    wave, sr = load(example_files()[0])
    wave = wave[: 3 * sr]
    distances = []
    for rung in (codec.bitrates[0], codec.bitrates[-1]):
        out, rate = codec.decode(codec.encode(wave, sr, bitrate=rung))
        assert rate == sr and out.shape == wave.shape and np.isfinite(out).all()
        distances.append(log_spectral_distance(wave, out, sr))
    assert distances[1] < distances[0]


def test_a_decoder_that_reaches_further_gets_more_chunk_context() -> None:
    assert Codec(tiny_model(), griffin_lim_iters=1).context_frames == 8  # the shipped shape's default
    torch.manual_seed(0)
    deep = VQVAE(VQVAEConfig(**{**TINY, "n_res_blocks": 2}, decoder_extra_blocks=6))
    for name, p in deep.decoder.extra.named_parameters():  # let the extra blocks do something
        if "weight" in name:
            torch.nn.init.normal_(p, std=0.2)
    chunked = Codec(deep, griffin_lim_iters=0, chunk_seconds=1.0)
    assert chunked.context_frames == 14  # 7 latent frames from the conv stack + 6 extra, and one spare
    assert chunked.encoder_context_frames == 8  # the encoder has no extra blocks: it reaches 6, the minimum is 8
    whole = Codec(deep, griffin_lim_iters=0, chunk_seconds=100.0)
    data = chunked.encode(noise((5 * 8000,), seed=3), 8000)
    assert data == whole.encode(noise((5 * 8000,), seed=3), 8000)  # the encoder's context is enough for its codes
    np.testing.assert_allclose(chunked.decode(data)[0], whole.decode(data)[0], atol=1e-4)
