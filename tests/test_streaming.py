"""Streaming: files go through every model a block at a time, give what whole-file processing gives, in flat memory."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vqaudio.audio import LogMagnitudeFrontEnd, STFTConfig, active_level_db, istft, load, resample, stft
from vqaudio.audio.io import AudioError, AudioReader, AudioWriter
from vqaudio.audio.stream import ChannelMerge, LengthFit, LevelMeter, OverlapAddStream, StreamResampler
from vqaudio.data.synth import synth_speech
from vqaudio.models import VQVAE, VQVAEConfig, build_model, save_model
from vqaudio.pipelines import ChunkedRunner, Codec, Denoiser, Reconstructor, Separator
from vqaudio.pipelines.files import run_file

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

CFG = STFTConfig()
UNET = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 24], "n_bottleneck_blocks": 1}
SMALL = {"hidden_channels": 16, "n_res_blocks": 1, "n_downsample": 1, "latent_dim": 8, "codebook_size": 16}


def blocks_of(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """`x` cut into consecutive blocks of the given sizes, cycled (the last one shorter)."""
    out, at, i = [], 0, 0
    while at < x.shape[-1]:
        out.append(x[..., at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    return out


def stereo_file(path: Path, seconds: float, rate: int) -> Path:
    """Speech-like left, a quieter voice over a chord right, 16-bit: a small song and a small talk in one."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0)) * 0.05
    left = synth_speech(seconds, rate, seed=1)
    right = 0.3 * synth_speech(seconds, rate, seed=2) + chord
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), rate, subtype="PCM_16")
    return path


# the audio layer's streaming pieces ----------------------------------------------------------------------------
@pytest.mark.parametrize(("orig", "target"), [(44100, 8000), (8000, 44100), (16000, 16000), (22050, 16000)])
def test_stream_resampler_equals_resample_whatever_the_blocks(orig: int, target: int) -> None:
    x = np.random.default_rng(0).standard_normal(50_001).astype(np.float32) * 0.1
    stream = StreamResampler(orig, target)
    out = np.concatenate([*(stream.push(b) for b in blocks_of(x, [1, 4097, 300, 0, 12345])), stream.finish()])
    np.testing.assert_array_equal(out, resample(x, orig, target))


def test_level_meter_equals_active_level_db() -> None:
    x = synth_speech(3.0, 8000, seed=4) * np.linspace(0.1, 1.0, 24000, dtype=np.float32)
    for wave in (x, x[:77], np.zeros(5000, np.float32)):  # speech; shorter than one 20 ms frame; silence
        meter = LevelMeter(8000)
        for block in blocks_of(wave, [1000, 159, 7]):
            meter.push(block)
        assert meter.level_db() == active_level_db(wave, 8000)


def test_overlap_add_stream_hands_out_final_samples_that_join_into_istft() -> None:
    wave = torch.randn(2, 5001, generator=torch.Generator().manual_seed(0))
    spec = stft(wave, CFG)
    ola = OverlapAddStream(CFG)
    parts = []
    for first, last in ((0, 7), (7, 8), (8, 40), (40, spec.shape[-1])):
        ola.add(first, spec[..., first:last])
        parts.append(ola.take(last))
    parts.append(ola.finish(5001))
    torch.testing.assert_close(torch.cat(parts, dim=-1), istft(spec, CFG, 5001), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="in order"):
        ola.add(0, spec[..., :3])


def test_length_fit_and_channel_merge() -> None:
    fit = LengthFit(10)
    assert fit.push(np.ones((2, 4))).shape == (2, 4) and fit.push(np.ones((2, 9))).shape == (2, 6)
    assert fit.finish().shape == (2, 0) and LengthFit(3).finish(lead=(2,)).shape == (2, 3)
    merge = ChannelMerge(2)
    merge.put(0, np.arange(5.0))
    assert merge.take() is None  # channel 1 has given nothing yet
    merge.put(1, np.arange(3.0))
    np.testing.assert_array_equal(merge.take(), [np.arange(3.0), np.arange(3.0)])
    merge.put(1, np.arange(3.0, 6.0))
    np.testing.assert_array_equal(merge.take(), [[3.0, 4.0], [3.0, 4.0]])


def test_reader_blocks_and_writer_round_trip_atomically(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    wave = np.stack([synth_speech(1.3, 8000, seed=0), -synth_speech(1.3, 8000, seed=0)]) * 2.5  # clips
    with caplog.at_level(logging.WARNING, logger="vqaudio.audio.io"), AudioWriter(tmp_path / "a.flac", 8000, 2) as w:
        for block in blocks_of(wave, [3000, 1]):
            w.write(block)
    assert len(caplog.records) == 1 and "clipped" in caplog.records[0].getMessage()  # one warning per file
    with AudioReader(tmp_path / "a.flac") as reader:
        assert (reader.n_samples, reader.sample_rate, reader.channels) == (wave.shape[-1], 8000, 2)
        for _ in range(2):  # another pass reads the file again
            got = np.concatenate(list(reader.blocks(4096)), axis=-1)
            np.testing.assert_array_equal(got, load(tmp_path / "a.flac", mono=False)[0])
    with pytest.raises(RuntimeError, match="killed"), AudioWriter(tmp_path / "b.wav", 8000, 1) as w:
        w.write(wave[0, :100])
        raise RuntimeError("killed")
    with pytest.raises(AudioError, match="NaN"), AudioWriter(tmp_path / "c.wav", 8000, 1) as w:
        w.write(np.full(10, np.nan, np.float32))
    with pytest.raises(AudioError, match="empty"), AudioWriter(tmp_path / "d.wav", 8000, 1):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac"]  # no partial or temporary files
    with pytest.raises(AudioError, match="not found"):
        AudioReader(tmp_path / "missing.wav")


def test_non_finite_samples_mid_file_fail_the_job_and_leave_no_output(tmp_path: Path) -> None:
    wave = synth_speech(2.0, 8000, seed=0)
    wave[12_000] = np.inf
    sf.write(tmp_path / "bad.wav", wave, 8000, subtype="FLOAT")
    denoiser = Denoiser(tiny_unet())
    with pytest.raises(AudioError, match="non-finite"):
        run_file(denoiser, tmp_path / "bad.wav", tmp_path / "out.wav", block_seconds=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav"]


# the runner in blocks ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_input_phase", [True, False])
def test_runner_stream_equals_run_whatever_the_blocks(use_input_phase: bool) -> None:
    runner = ChunkedRunner(LogMagnitudeFrontEnd(CFG), chunk_frames=40, context_frames=6, griffin_lim_iters=3)
    wave = torch.from_numpy(synth_speech(2.3, 8000, seed=5))

    def process(features: torch.Tensor) -> torch.Tensor:
        return torch.stack([features, features - 6.0])  # two outputs per input

    whole = runner.run(wave, process, use_input_phase)
    stream = runner.stream(lambda window: runner.piece(window, process, use_input_phase))
    parts = [out for block in blocks_of(wave, [1, 999, 64, 3000]) for out in stream.push(block)]
    streamed = torch.cat([*parts, *stream.finish()], dim=-1)
    assert streamed.shape == whole.shape == (2, wave.shape[-1])
    torch.testing.assert_close(streamed, whole, atol=1e-6, rtol=0)


# every model, file in blocks == whole file in memory -------------------------------------------------------------
def tiny_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("vqunet", {**UNET, "latent_dim": 8, "codebook_size": 16})


def tiny_separator() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("dual-vae", {**UNET, "latent_dim": 8, "codebook_size": 16})


def tiny_vqvae(input_level_db: float | None = -20.0) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQVAEConfig(**SMALL, n_stages=2, input_level_db=input_level_db))


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stereo_file(tmp_path_factory.mktemp("song") / "song.wav", 30.0, 22050)


def assert_same_audio(streamed: Path, whole: np.ndarray) -> None:
    """The streamed float file holds the whole-file result, to float tolerance (and it is not silence)."""
    got, _ = load(streamed, mono=False)
    assert got.shape == whole.shape and np.abs(whole).max() > 1e-3
    np.testing.assert_allclose(got, whole, atol=1e-6 * np.abs(whole).max(), rtol=0)


@pytest.mark.parametrize("kind", ["denoise", "reconstruct", "separate"])
def test_pipelines_on_files_in_blocks_equal_whole_file_processing(song: Path, tmp_path: Path, kind: str) -> None:
    pipeline = {
        "denoise": lambda: Denoiser(tiny_unet(), chunk_seconds=4.0),
        "reconstruct": lambda: Reconstructor(tiny_vqvae(), griffin_lim_iters=2, chunk_seconds=3.0),  # 2 passes
        "separate": lambda: Separator(tiny_separator(), chunk_seconds=4.0),
    }[kind]()
    wave, rate = load(song, mono=False)
    whole = pipeline(wave, rate)
    whole = np.stack([whole[name] for name in pipeline.sources]) if isinstance(whole, dict) else whole[None]
    outputs = [tmp_path / f"out{i}.wav" for i in range(whole.shape[0])]
    info = run_file(pipeline, song, outputs, block_seconds=0.7, subtype="FLOAT")  # blocks cut chunks anywhere
    assert (info.n_samples, info.sample_rate, info.channels) == (wave.shape[-1], rate, 2)
    for path, expected in zip(outputs, whole, strict=True):
        assert_same_audio(path, expected)


def test_codec_encode_and_decode_of_files_in_blocks_equal_whole_file(song: Path, tmp_path: Path) -> None:
    codec = Codec(tiny_vqvae(), griffin_lim_iters=2, model_id="tiny", chunk_seconds=3.0)
    wave, rate = load(song, mono=False)
    data = codec.encode(wave, rate)
    assert codec.encode_file(song, tmp_path / "song.vqa") == data  # the same bytes, read in blocks (two passes)
    assert (tmp_path / "song.vqa").read_bytes() == data
    info = codec.decode_to_file(tmp_path / "song.vqa", tmp_path / "decoded.wav", subtype="FLOAT")
    assert (info.n_samples, info.sample_rate, info.channels) == (wave.shape[-1], rate, 2)
    assert_same_audio(tmp_path / "decoded.wav", codec.decode(data)[0])


# memory ---------------------------------------------------------------------------------------------------------
def long_audio_benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "long_audio.py"
    spec = importlib.util.spec_from_file_location("benchmark_long_audio", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc (Linux)")
def test_peak_memory_does_not_grow_with_the_file_length(tmp_path: Path) -> None:
    """2 and 8 minutes of 8 kHz speech through `vqaudio denoise` (tiny model), each in a fresh process: the same
    peak. Held whole, 8 minutes cost about 70 MB more (the input, its copies and the output buffers)."""
    bench = long_audio_benchmark()
    model = save_model(tiny_unet(), tmp_path / "tiny.safetensors")
    peaks = {}
    for minutes in (2, 8):
        source = tmp_path / f"{minutes}.wav"
        with sf.SoundFile(source, "w", 8000, 1, "PCM_16") as f:
            for i in range(minutes * 6):  # 10 s blocks
                f.write(synth_speech(10.0, 8000, seed=i))
        args = ["-q", "denoise", str(source), "-o", str(tmp_path / "out.wav"), "--model", str(model), "--force"]
        peaks[minutes], _, failed = bench.run_measured(args)
        assert not failed and sf.info(tmp_path / "out.wav").frames == minutes * 60 * 8000
    assert peaks[2] > 100 and peaks[8] < peaks[2] + 15.0, peaks  # MB


def test_benchmark_test_files_are_stereo_44k_of_the_asked_length(tmp_path: Path) -> None:
    path = long_audio_benchmark().make_test_file(tmp_path / "x.wav", minutes=0.25)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 15 * 44100)
    wave, _ = load(path, mono=False)
    assert 0.05 < np.abs(wave).max() <= 1.0 and not np.allclose(wave[0], wave[1])
