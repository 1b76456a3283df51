"""vqaudio.audio.io: round trips over formats/rates/depths/channels, resampling, and every bad-file case."""

from __future__ import annotations

import logging
import os
import wave as wave_module
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vqaudio.audio import AUDIO_EXTENSIONS, AudioError, load, resample, save, to_mono
from vqaudio.audio.atomic import atomic_output, write_bytes_atomic
from vqaudio.audio.io import READABLE_EXTENSIONS, check_writable


def _tones(channels: int, sample_rate: int, seconds: float = 0.25) -> np.ndarray:
    """(C, T) float32: a different pair of tones per channel, peak 0.6."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rows = [
        0.4 * np.sin(2 * np.pi * (220.0 * (c + 1)) * t) + 0.2 * np.sin(2 * np.pi * (330.0 + 50 * c) * t)
        for c in range(channels)
    ]
    return np.stack(rows).astype(np.float32)


def _snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-20)))


@pytest.mark.parametrize(
    ("ext", "subtype", "sample_rate", "channels", "max_error"),
    [
        (".wav", "PCM_16", 8000, 1, 1.0 / 32768),
        (".wav", "PCM_24", 44100, 2, 1.0 / 2**23),
        (".wav", "FLOAT", 16000, 3, 0.0),
        (".flac", "PCM_16", 22050, 2, 1.0 / 32768),
        (".flac", "PCM_24", 48000, 1, 1.0 / 2**23),
        (".ogg", "PCM_16", 16000, 2, None),  # lossy: PCM_16 is replaced by VORBIS, checked by SNR
    ],
)
def test_save_load_round_trip(
    tmp_path: Path, ext: str, subtype: str, sample_rate: int, channels: int, max_error: float | None
) -> None:
    x = _tones(channels, sample_rate)
    path = save(tmp_path / f"clip{ext}", x, sample_rate, subtype=subtype)
    assert path.suffix == ext and path.is_file()
    y, sr = load(path, mono=False)
    assert sr == sample_rate
    assert y.dtype == np.float32
    assert y.shape == x.shape
    if max_error is None:
        assert sf.info(str(path)).subtype == "VORBIS"
        assert _snr_db(x, y) > 15.0
    else:
        assert np.max(np.abs(y - x)) <= max_error * 1.01
        expected_subtype = subtype
        assert sf.info(str(path)).subtype == expected_subtype


def test_mono_load_averages_channels_and_one_channel_is_1d(tmp_path: Path) -> None:
    x = _tones(2, 8000)
    save(tmp_path / "st.wav", x, 8000, subtype="FLOAT")
    y, _ = load(tmp_path / "st.wav")
    assert y.shape == (x.shape[1],)
    np.testing.assert_allclose(y, x.mean(axis=0), atol=1e-7)
    save(tmp_path / "mono.wav", x[0], 8000, subtype="FLOAT")
    z, _ = load(tmp_path / "mono.wav", mono=False)
    assert z.shape == (1, x.shape[1])


def test_load_resamples_to_the_requested_rate(tmp_path: Path) -> None:
    x = _tones(1, 44100, seconds=0.5)[0]
    save(tmp_path / "hi.flac", x, 44100)
    y, sr = load(tmp_path / "hi.flac", sample_rate=8000)
    assert sr == 8000
    assert abs(y.shape[0] - 4000) <= 1
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert abs(np.argmax(spectrum) * 8000 / y.size - 220.0) < 5.0  # the strongest tone survives at 220 Hz


@pytest.mark.parametrize(("orig", "target"), [(8000, 16000), (16000, 8000), (44100, 8000), (22050, 48000)])
def test_resample_rate_length_and_content(orig: int, target: int) -> None:
    t = np.arange(orig) / orig  # 1 s
    x = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    y = resample(x, orig, target)
    assert y.dtype == np.float32 and y.shape == (2, target)
    t2 = np.arange(target) / target
    core = slice(target // 10, -target // 10)  # ignore filter edges
    np.testing.assert_allclose(y[0, core], np.sin(2 * np.pi * 440 * t2[core]), atol=2e-3)
    assert resample(x[0], orig, target).shape == (target,)


def test_resample_same_rate_is_a_copy_and_tiny_input_works() -> None:
    x = np.ones(5, dtype=np.float32)
    y = resample(x, 8000, 8000)
    assert y is not x and np.array_equal(x, y)
    assert resample(np.zeros(1, np.float32), 8000, 16000).shape == (2,)


def test_to_mono() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_mono(x), [0.5, 0.5])
    np.testing.assert_array_equal(to_mono(x[0]), x[0])


def test_save_accepts_torch_clips_pcm_keeps_float_and_makes_parents(tmp_path: Path) -> None:
    x = torch.linspace(-1.5, 1.5, 101, requires_grad=True)
    path = save(tmp_path / "a" / "b" / "loud.wav", x, 16000)
    y, _ = load(path)
    assert y.max() <= 1.0 and y.min() >= -1.0
    assert np.sum(np.abs(y) > 0.999) >= 30  # clipped, not wrapped around
    f = save(tmp_path / "loud_float.wav", x.detach().numpy(), 16000, subtype="FLOAT")
    z, _ = load(f)
    assert z.max() == pytest.approx(1.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_save_refuses_non_finite(tmp_path: Path, bad: float) -> None:
    x = np.zeros(100, np.float32)
    x[10] = bad
    with pytest.raises(AudioError, match=r"bad\.wav"):
        save(tmp_path / "bad.wav", x, 8000)
    assert not (tmp_path / "bad.wav").exists()


def test_save_refuses_bad_shapes_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="channels"):
        save(tmp_path / "t.wav", np.zeros((4000, 2), np.float32), 8000)  # (T, C) by mistake
    with pytest.raises(AudioError, match="empty"):
        save(tmp_path / "e.wav", np.zeros(0, np.float32), 8000)
    with pytest.raises(AudioError, match="extension"):
        save(tmp_path / "x.xyz", np.zeros(10, np.float32), 8000)
    with pytest.raises(AudioError, match="FLOAT"):
        save(tmp_path / "f.flac", np.zeros(10, np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match="int16"):
        save(tmp_path / "i.wav", np.zeros(10, np.int16), 8000)  # would otherwise clip to full scale


def _wav_bytes(n: int = 400) -> bytes:
    import io

    buf = io.BytesIO()
    with wave_module.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.arange(n, dtype=np.int16) * 10).tobytes())
    return buf.getvalue()


def _make_bad(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}_input.wav"
    if case == "missing":
        return path
    if case == "directory":
        path.mkdir()
    elif case == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(2000))
    elif case == "truncated_header":
        path.write_bytes(_wav_bytes()[:20])
    elif case == "zero_bytes":
        path.write_bytes(b"")
    elif case == "no_samples":
        sf.write(str(path), np.zeros(0, np.float32), 8000)
    elif case in ("nan", "inf"):
        x = np.zeros(200, np.float32)
        x[7] = np.nan if case == "nan" else np.inf
        sf.write(str(path), x, 8000, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "not found"),
        ("directory", "directory"),
        ("random_bytes", "cannot decode"),
        ("truncated_header", "cannot decode"),
        ("zero_bytes", "empty"),
        ("no_samples", "no audio samples"),
        ("nan", "non-finite"),
        ("inf", "non-finite"),
    ],
)
def test_bad_inputs_raise_audio_error_naming_the_file(tmp_path: Path, case: str, reason: str) -> None:
    path = _make_bad(tmp_path, case)
    with pytest.raises(AudioError) as info:
        load(path)
    message = str(info.value)
    assert path.name in message
    assert reason in message
    assert isinstance(info.value, ValueError)


def test_silence_and_single_sample_load_fine(tmp_path: Path) -> None:
    save(tmp_path / "silence.wav", np.zeros(800, np.float32), 8000)
    y, sr = load(tmp_path / "silence.wav")
    assert sr == 8000 and y.shape == (800,) and not y.any()
    save(tmp_path / "one.flac", np.array([0.25], np.float32), 16000)
    z, _ = load(tmp_path / "one.flac")
    assert z.shape == (1,) and z[0] == pytest.approx(0.25, abs=1e-4)
    r, sr = load(tmp_path / "one.flac", sample_rate=8000)
    assert sr == 8000 and r.ndim == 1 and np.isfinite(r).all()


def test_load_rejects_bad_target_rate(tmp_path: Path) -> None:
    save(tmp_path / "a.wav", np.zeros(10, np.float32), 8000)
    with pytest.raises(AudioError, match=r"a\.wav"):
        load(tmp_path / "a.wav", sample_rate=0)


def test_extensions_constant() -> None:
    assert AUDIO_EXTENSIONS == (".wav", ".flac", ".ogg")


def test_readable_extensions_are_what_load_decodes(tmp_path: Path) -> None:
    assert READABLE_EXTENSIONS[:3] == AUDIO_EXTENSIONS and len(set(READABLE_EXTENSIONS)) == len(READABLE_EXTENSIONS)
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 (< 1.1)")
    assert ".mp3" in READABLE_EXTENSIONS
    x = _tones(1, 16000)[0]
    y, sr = load(save(tmp_path / "a.mp3", x, 16000))
    assert sr == 16000 and abs(y.size - x.size) < 2000 and np.isfinite(y).all()


def test_check_writable_is_the_extension_test_save_makes(tmp_path: Path) -> None:
    for name in ("a.wav", "a.FLAC", "a.ogg"):
        assert check_writable(tmp_path / name)
    for name in ("out.txt", "out", "out.opus"):
        with pytest.raises(AudioError, match=r"extension.*\.wav"):
            check_writable(tmp_path / name)
    assert list(tmp_path.iterdir()) == []  # checks only, writes nothing


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_save_is_atomic(tmp_path: Path, ext: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that dies half-way leaves neither a half-written file under the name nor a temporary file."""
    path = tmp_path / f"clip{ext}"
    real_write = sf.write

    def dying_write(file: str, data: np.ndarray, *args: object, **kwargs: object) -> None:
        real_write(file, data[: len(data) // 2], *args, **kwargs)
        raise RuntimeError("killed")

    monkeypatch.setattr(sf, "write", dying_write)
    with pytest.raises(AudioError, match="killed"):
        save(path, _tones(2, 8000), 8000)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    save(path, _tones(2, 8000), 8000)  # an existing complete file survives a failed rewrite
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt), atomic_output(path) as tmp:  # killed while writing
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_atomic_writes_make_folders_and_use_normal_permissions(tmp_path: Path) -> None:
    out = write_bytes_atomic(tmp_path / "a" / "b" / "x.vqa", b"VQA\x00data")
    assert out.read_bytes() == b"VQA\x00data" and [p.name for p in out.parent.iterdir()] == ["x.vqa"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    write_bytes_atomic(out, b"new")
    assert out.read_bytes() == b"new"


def test_clipping_is_a_warning_naming_the_file_and_the_peak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    loud = np.concatenate([np.full(50, 0.5), np.full(50, -2.5)]).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="vqaudio.audio.io"):
        save(tmp_path / "loud.wav", np.stack([loud, loud]), 8000)
    assert len(caplog.records) == 1  # once per file, not per channel or sample
    message = caplog.records[0].getMessage()
    assert "loud.wav" in message and "2.500" in message and "+8.0 dBFS" in message and "clipped" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vqaudio.audio.io"):
        save(tmp_path / "float.wav", loud, 8000, subtype="FLOAT")  # floats keep the peak: nothing to say
        save(tmp_path / "full.wav", np.clip(loud, -1, 1), 8000)  # exactly full scale is not clipping
    assert caplog.records == []
    assert load(tmp_path / "float.wav")[0].min() == pytest.approx(-2.5)


@pytest.mark.shared_data
def test_real_recordings_load(shared_data_dir: Path) -> None:
    fsdd, sr = load(shared_data_dir / "speech" / "fsdd" / "recordings" / "0_george_0.wav")
    assert sr == 8000 and fsdd.ndim == 1 and 0.1 < fsdd.size / sr < 2.0
    assert 0.01 < np.abs(fsdd).max() <= 1.0
    asterisk, sr = load(shared_data_dir / "speech" / "asterisk" / "fr_CA_f_June" / "activated.flac")
    assert sr == 8000 and asterisk.ndim == 1 and asterisk.size > 1000 and np.abs(asterisk).max() > 0.01
    song = shared_data_dir / "music" / "mir1k" / "train" / "abjones_1_01.flac"
    stereo, sr = load(song, mono=False)
    assert sr == 16000 and stereo.shape[0] == 2 and stereo.shape[1] > sr
    assert not np.allclose(stereo[0], stereo[1])  # accompaniment and voice differ
    mono, sr8 = load(song, sample_rate=8000)
    assert sr8 == 8000 and abs(mono.size - stereo.shape[1] // 2) <= 1
