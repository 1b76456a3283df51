"""Whatever file a user hands the file commands, they end in one of two ways: exit 0 with an output of the input's
rate, channel count and length, or exit 2 with one line `vqaudio <cmd>: error: ...` naming the file. Never a
traceback, never a hang. Run in-process through `vqaudio.cli.main` with the shipped models."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vqaudio.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

SECONDS = 0.5
TIME_LIMIT_S = 60  # per command: far above what any case needs, so only a hang trips it


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail (instead of hanging the suite) when a command runs past TIME_LIMIT_S."""

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"command still running after {TIME_LIMIT_S} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(TIME_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def speech_like(n: int, channels: int = 1, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    """(n,) or (n, channels) float32 noise-modulated tones: a cheap signal with some structure."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    rows = [
        np.sin(2 * np.pi * (0.01 + 0.003 * c) * t) * (0.5 + 0.5 * rng.random(n)) + 0.1 * rng.standard_normal(n)
        for c in range(channels)
    ]
    wave = (amplitude / 1.6 * np.stack(rows, axis=1)).astype(np.float32)
    return wave[:, 0] if channels == 1 else wave


def write(path: Path, wave: np.ndarray, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), wave, sample_rate, subtype=subtype)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], command: str, source: Path, output: Path) -> tuple[int, str]:
    """`vqaudio <command> source -o output -q`; its exit code and stderr. A raised exception fails the test."""
    capsys.readouterr()
    code = main([command, str(source), "-o", str(output), "-q"])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def assert_refused(code: int, err: str, command: str, source: Path) -> None:
    """Exit 2 with one `vqaudio <command>: error: ...` line that names the input file."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vqaudio {command}: error: "), err
    assert source.name in lines[0], err


def assert_like(output: Path, sample_rate: int, channels: int, n_samples: int) -> np.ndarray:
    """`output` holds (n_samples, channels) finite samples at `sample_rate`; returns them."""
    data, rate = sf.read(str(output), dtype="float32", always_2d=True)
    assert (rate, data.shape) == (sample_rate, (n_samples, channels))
    assert np.isfinite(data).all()
    return data


# ---- files that cannot be used: exit 2, one line naming the file -----------------------------------------------


def _missing(folder: Path) -> Path:
    return folder / "missing.wav"


def _empty(folder: Path) -> Path:
    path = folder / "empty.wav"
    path.write_bytes(b"")
    return path


def _text(folder: Path) -> Path:
    path = folder / "x.wav"
    path.write_text("this is not audio\n" * 20)
    return path


def _random_flac(folder: Path) -> Path:
    path = folder / "noise.flac"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    return path


def _random_xyz(folder: Path) -> Path:
    path = folder / "data.xyz"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    return path


def _nonfinite(value: float, name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        wave = speech_like(int(SECONDS * 16000))
        wave[1000:1003] = value
        return write(folder / name, wave, subtype="FLOAT")

    return make


def _nine_channels(folder: Path) -> Path:
    return write(folder / "nine.wav", speech_like(int(SECONDS * 16000), channels=9))


BAD_INPUTS = {
    "missing": _missing,
    "empty": _empty,
    "text-named-wav": _text,
    "random-bytes-flac": _random_flac,
    "random-bytes-xyz": _random_xyz,
    "nan": _nonfinite(np.nan, "nan.wav"),
    "inf": _nonfinite(np.inf, "inf.wav"),
    "minus-inf": _nonfinite(-np.inf, "minus-inf.wav"),
    "nine-channels": _nine_channels,  # the pipelines take at most 8 (vqaudio.pipelines.inputs.MAX_CHANNELS)
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_denoise_refuses_bad_input_in_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = BAD_INPUTS[case](tmp_path)
    output = tmp_path / "out" / "clean.wav"
    code, err = run_cli(capsys, "denoise", source, output)
    assert_refused(code, err, "denoise", source)
    assert not output.exists()


@pytest.mark.parametrize("command", ["encode", "separate"])
@pytest.mark.parametrize("case", ["missing", "text-named-wav", "nan", "nine-channels"])
def test_encode_and_separate_refuse_bad_input(
    command: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = BAD_INPUTS[case](tmp_path)
    output = tmp_path / ("out.vqa" if command == "encode" else "separated")
    code, err = run_cli(capsys, command, source, output)
    assert_refused(code, err, command, source)
    assert not output.exists() or not [p for p in output.rglob("*") if p.is_file()]  # (an empty folder may be left)


@pytest.mark.parametrize("content", [b"", b"this is not a bitstream\n", b"VQA\x00" + bytes(range(40))])
def test_decode_refuses_bad_bitstreams(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "bad.vqa"
    source.write_bytes(content)
    code, err = run_cli(capsys, "decode", source, tmp_path / "out.wav")
    assert_refused(code, err, "decode", source)
    assert not (tmp_path / "out.wav").exists()


def test_truncated_wav_gives_the_samples_it_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A WAV cut in the middle of its data: libsndfile reads the samples that are there (its header's size is
    corrected on opening), so the output is as long as what is decodable, not what the header promised."""
    full = write(tmp_path / "full.wav", speech_like(int(SECONDS * 16000), channels=2))
    source = tmp_path / "truncated.wav"
    data = full.read_bytes()
    source.write_bytes(data[: len(data) // 2 + 1])  # cut off half the data, and mid-frame
    held = sf.info(str(source)).frames
    assert 0 < held < int(SECONDS * 16000)
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    assert_like(tmp_path / "out.wav", 16000, 2, held)


# ---- files that can be used: exit 0, the input's rate, channels and length --------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_denoise_keeps_the_channel_count(channels: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = int(SECONDS * 16000)
    source = write(tmp_path / "in.wav", speech_like(n, channels))
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    assert_like(tmp_path / "out.wav", 16000, channels, n)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 44100, 48000, 96000])
def test_denoise_keeps_the_sample_rate(sample_rate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = int(SECONDS * sample_rate)
    source = write(tmp_path / "in.wav", speech_like(n), sample_rate)
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    assert_like(tmp_path / "out.wav", sample_rate, 1, n)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_denoise_reads_every_wav_subtype(subtype: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = int(SECONDS * 16000)
    source = write(tmp_path / "in.wav", speech_like(n), subtype=subtype)
    assert sf.info(str(source)).subtype == subtype
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    out = assert_like(tmp_path / "out.wav", 16000, 1, n)
    assert np.abs(out).max() > 0  # the speech-like input is not all removed


@pytest.mark.parametrize("command", ["denoise", "separate", "codec"])
def test_digital_silence_stays_silence(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = int(SECONDS * 16000)
    source = write(tmp_path / "in.wav", np.zeros((n, 2), dtype=np.float32))
    output = tmp_path / ("separated" if command == "separate" else "out.wav")
    code, err = run_cli(capsys, command, source, output)
    assert code == 0, err
    stems = [output / "in" / f"{stem}.wav" for stem in ("vocals", "accompaniment")]
    for written in stems if command == "separate" else [output]:
        data = assert_like(written, 16000, 2, n)
        if command != "codec":  # the codec's decoder may add a faint floor; the others must not invent sound
            assert not data.any()
        else:
            assert np.abs(data).max() < 0.01


def test_very_quiet_input_is_not_blown_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1e-6 amplitude (-120 dBFS): scaled up to the model's level and back down, it must stay that quiet."""
    n = int(SECONDS * 16000)
    source = write(tmp_path / "in.wav", speech_like(n, amplitude=1e-6), subtype="FLOAT")
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    out = assert_like(tmp_path / "out.wav", 16000, 1, n)
    assert np.abs(out).max() <= 2.0 / 32768  # at most a step or so of the 16-bit output


@pytest.mark.parametrize("sample_rate", [8000, 16000, 48000, 96000])
@pytest.mark.parametrize("n_samples", [1, 2, 10])
def test_denoise_takes_files_shorter_than_one_frame(
    n_samples: int, sample_rate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Down to one sample, at rates where that is less than one sample at the model's 16 kHz."""
    source = write(tmp_path / "in.wav", np.full((n_samples, 2), 0.1, dtype=np.float32), sample_rate)
    code, err = run_cli(capsys, "denoise", source, tmp_path / "out.wav")
    assert code == 0, err
    assert_like(tmp_path / "out.wav", sample_rate, 2, n_samples)


@pytest.mark.parametrize(
    ("n_samples", "channels", "sample_rate"), [(4000, 1, 8000), (22050, 2, 44100), (10, 2, 16000), (1, 1, 48000)]
)
def test_encode_decode_keeps_rate_channels_and_length(
    n_samples: int, channels: int, sample_rate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.wav", speech_like(n_samples, channels), sample_rate)
    code, err = run_cli(capsys, "encode", source, tmp_path / "in.vqa")
    assert code == 0, err
    code, err = run_cli(capsys, "decode", tmp_path / "in.vqa", tmp_path / "out.wav")
    assert code == 0, err
    assert_like(tmp_path / "out.wav", sample_rate, channels, n_samples)


@pytest.mark.parametrize(("n_samples", "channels", "sample_rate"), [(22050, 2, 44100), (1, 2, 48000), (10, 1, 8000)])
def test_separate_keeps_rate_channels_and_length(
    n_samples: int, channels: int, sample_rate: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "song.wav", speech_like(n_samples, channels), sample_rate)
    code, err = run_cli(capsys, "separate", source, tmp_path / "separated")
    assert code == 0, err
    for stem in ("vocals", "accompaniment"):
        assert_like(tmp_path / "separated" / "song" / f"{stem}.wav", sample_rate, channels, n_samples)


@pytest.mark.parametrize("sample_rate", [48000, 96000])
def test_under_one_model_sample_in_memory_matches_the_file(sample_rate: int, tmp_path: Path) -> None:
    """1 sample at 48/96 kHz is 0 samples at the model's 16 kHz: both paths give the model one zero sample."""
    from vqaudio.pipelines import Denoiser

    denoiser = Denoiser.from_pretrained()
    wave = np.full((2, 1), 0.1, dtype=np.float32)
    in_memory = denoiser(wave, sample_rate)
    assert in_memory.shape == (2, 1) and np.isfinite(in_memory).all()
    source = write(tmp_path / "in.wav", wave.T, sample_rate, subtype="FLOAT")
    denoiser.process_file(source, tmp_path / "out.wav", subtype="FLOAT")
    np.testing.assert_array_equal(sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)[0].T, in_memory)
