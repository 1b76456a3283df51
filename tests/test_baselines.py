"""Baseline codecs (benchmarks/baselines.py): the real c2enc/c2dec and opusenc/opusdec, measured honestly.

Tests that run the tools skip when they are not installed (Debian packages `codec2`, `opus-tools`).
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks import baselines
from benchmarks.baselines import (
    CODEC2_DELAY_SAMPLES,
    CODEC2_MODES,
    BaselineError,
    MissingToolError,
    baseline_systems,
    codec2,
    codec2_code,
    opus,
    opus_code,
)

needs_codec2 = pytest.mark.skipif(not baselines.has_codec2(), reason="c2enc/c2dec missing (apt-get install codec2)")
needs_opus = pytest.mark.skipif(not baselines.has_opus(), reason="opusenc/opusdec missing (apt-get install opus-tools)")


def vowels(seconds: float = 3.0, sample_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: harmonics of a gliding pitch under two gliding formants, syllable-rate AM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    f1 = 550 + 250 * np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6))
    f2 = 1600 + 600 * np.sin(2 * np.pi * 0.9 * t + rng.uniform(0, 6))
    out = np.zeros_like(t)
    for k in range(1, int(0.45 * sample_rate / 110)):
        fk = k * f0
        gain = np.exp(-(((fk - f1) / 150) ** 2)) + 0.5 * np.exp(-(((fk - f2) / 250) ** 2)) + 0.02
        out += np.where(fk < 0.45 * sample_rate, gain, 0.0) * np.sin(k * phase)
    out *= 0.35 + 0.65 * np.abs(np.sin(2 * np.pi * 2.5 * t + rng.uniform(0, 6)))
    out += 1e-3 * rng.standard_normal(t.size)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def log_spectrogram(x: np.ndarray, hop: int = 4, n_fft: int = 128) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    spec = np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-4)
    return spec - spec.mean(axis=0)


def spectral_delay_and_correlation(ref: np.ndarray, deg: np.ndarray, max_delay: int = 400, hop: int = 4):
    """Lag (samples, deg behind ref) maximising the log-spectrogram cross-correlation, and that correlation.

    By magnitude, not waveform: Codec 2 synthesises its own phase, so waveforms barely correlate.
    """
    R, D = log_spectrogram(ref, hop), log_spectrogram(deg, hop)
    best = (-np.inf, 0)
    for lag in range(max_delay // hop + 1):
        a, b = R[: len(R) - lag], D[lag:]
        best = max(best, (float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), lag * hop))
    return best[1], best[0]


def waveform_delay_and_correlation(ref: np.ndarray, deg: np.ndarray, max_delay: int = 400):
    size = 1 << int(np.ceil(np.log2(len(ref) + len(deg))))
    xcorr = np.fft.irfft(np.fft.rfft(deg, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.r_[np.arange(max_delay + 1), np.arange(-max_delay, 0)]
    lag = int(lags[np.argmax(np.r_[xcorr[: max_delay + 1], xcorr[-max_delay:]])])
    a, b = (ref[: len(ref) - lag], deg[lag:]) if lag >= 0 else (ref[-lag:], deg[: len(deg) + lag])
    return lag, float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------- always run (no tools needed)


def test_missing_tool_names_the_debian_package(monkeypatch) -> None:
    monkeypatch.setattr(baselines.shutil, "which", lambda name: None)
    with pytest.raises(MissingToolError, match=r"c2enc.*apt-get install codec2"):
        codec2(vowels(0.2), "3200")
    with pytest.raises(MissingToolError, match=r"opusenc.*apt-get install opus-tools"):
        opus(vowels(0.2), 8000, 6000)
    assert baseline_systems() == {}


def test_bad_input_is_refused_before_running_anything() -> None:
    wave = vowels(0.2)
    with pytest.raises(ValueError, match="unknown Codec 2 mode"):
        codec2(wave, "9600")
    with pytest.raises(ValueError, match="mono"):
        codec2(np.stack([wave, wave]), "3200")
    with pytest.raises(ValueError, match="empty"):
        codec2(np.zeros(0, np.float32), "3200")
    with pytest.raises(ValueError, match="non-finite"):
        opus(np.full(100, np.nan, np.float32), 8000, 6000)
    with pytest.raises(ValueError, match=r"6000\.\.256000"):
        opus(wave, 8000, 3000)


def test_ogg_packet_sizes_follow_lacing_across_pages() -> None:
    def page(lacing: list[int]) -> bytes:
        head = b"OggS" + bytes(22) + bytes([len(lacing)]) + bytes(lacing)
        return head + bytes(sum(lacing))

    # packet of 19, packet of 300 (255 + 45), then one of 510 spanning two pages (255, 255 | 0), then 7
    stream = page([19, 255, 45, 255, 255]) + page([0, 7])
    assert baselines._ogg_packet_sizes(stream) == [19, 300, 510, 7]
    with pytest.raises(BaselineError, match="Ogg"):
        baselines._ogg_packet_sizes(stream + b"junk" + bytes(30))


# --------------------------------------------------------------------------- Codec 2


@needs_codec2
@pytest.mark.parametrize("mode", ["3200", "1200", "700C"])
def test_codec2_length_bitrate_and_similarity(mode: str) -> None:
    wave = vowels(3.01)  # not a whole number of frames
    coded = codec2_code(wave, mode)
    assert coded.wave.shape == wave.shape and coded.wave.dtype == np.float32
    assert coded.sample_rate == 8000 and coded.system == f"codec2-{mode}"
    bits, samples = CODEC2_MODES[mode]
    frames = -(-wave.size // samples)
    assert coded.coded_bits == frames * bits
    assert coded.file_bytes == frames * -(-bits // 8)
    nominal = 700 if mode == "700C" else int(mode)
    assert abs(coded.bitrate - nominal) / nominal < 0.02  # exact up to the padded last frame
    delay, corr = spectral_delay_and_correlation(wave, coded.wave)
    assert abs(delay - CODEC2_DELAY_SAMPLES[mode]) <= 60, delay  # broad peak on this slow synthetic signal
    _, unrelated = spectral_delay_and_correlation(vowels(3.01, seed=9), coded.wave)
    assert corr > 0.7 and corr > unrelated + 0.2, (corr, unrelated)


@needs_codec2
def test_codec2_at_other_rates_through_the_registry() -> None:
    wave = vowels(1.0, sample_rate=16000)
    coded = baseline_systems(codec2_modes=("2400",), opus_bitrates=())["codec2-2400"](wave, 16000)
    assert coded.sample_rate == 16000 and coded.wave.shape == wave.shape
    assert coded.expected_delay_samples == 2 * CODEC2_DELAY_SAMPLES["2400"]
    assert abs(coded.bitrate - 2400) < 50


# --------------------------------------------------------------------------- Opus


@needs_opus
@pytest.mark.parametrize(
    ("sample_rate", "bitrate", "mode"),
    [(8000, 6000, "vbr"), (8000, 8000, "cvbr"), (16000, 12000, "hard-cbr"), (22050, 16000, "hard-cbr")],
)
def test_opus_length_bitrate_and_similarity(sample_rate: int, bitrate: int, mode: str) -> None:
    wave = vowels(3.0, sample_rate=sample_rate)
    coded = opus_code(wave, sample_rate, bitrate, bitrate_mode=mode)
    assert coded.wave.shape == wave.shape and coded.sample_rate == sample_rate
    assert coded.system == f"opus-{bitrate}" and coded.expected_delay_samples == 0
    tolerance = 0.02 if mode == "hard-cbr" else 0.10  # hard CBR: every packet the same size
    assert abs(coded.bitrate - bitrate) / bitrate < tolerance, coded.bitrate
    assert coded.file_bitrate > coded.bitrate  # Ogg pages and headers come on top
    delay, corr = waveform_delay_and_correlation(wave, coded.wave)
    assert abs(delay) <= 2 * sample_rate // 8000, delay  # pre-skip removed: no added delay
    assert corr > 0.5, corr  # unrelated signals score about 0


@needs_opus
def test_opus_vbr_default_and_wrapper() -> None:
    wave = vowels(2.0)
    decoded = opus(wave, 8000, 8000)
    assert decoded.shape == wave.shape
    assert waveform_delay_and_correlation(wave, decoded)[1] > 0.5


# --------------------------------------------------------------------------- real speech


@needs_codec2
@needs_opus
@pytest.mark.shared_data
def test_real_speech_bitrate_delay_and_similarity(shared_data_dir) -> None:
    soundfile = pytest.importorskip("soundfile")
    files = sorted((shared_data_dir / "speech" / "asterisk" / "ru_RU_f_IvrvoiceRU").glob("*.flac"))[:12]
    if not files:
        pytest.skip("ru_RU_f_IvrvoiceRU prompts not found")
    wave = np.concatenate([soundfile.read(f, dtype="float32")[0] for f in files])[: 4 * 8000]
    for name, system in baseline_systems(codec2_modes=("3200", "700C")).items():
        coded = system(wave, 8000)
        nominal = int(name.split("-")[1].rstrip("C"))  # codec2-700C -> 700
        assert abs(coded.bitrate - nominal) / nominal < 0.10, (name, coded.bitrate)
        assert coded.wave.shape == wave.shape
        delay, corr = spectral_delay_and_correlation(wave, coded.wave)
        assert abs(delay - coded.expected_delay_samples) <= 24, (name, delay)
        assert corr > 0.6, (name, corr)
