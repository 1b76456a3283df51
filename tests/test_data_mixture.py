"""Mixture datasets, their transforms and source lists: SNR, stems, seeding, remixing, clip protection, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from vqaudio.audio.level import active_level_db
from vqaudio.data import (
    NOISE_VAL_NAMES,
    Compose,
    FixedCrop,
    MusicRemixDataset,
    NoisySpeechDataset,
    RandomCrop,
    RandomEqualizer,
    RandomGain,
    RandomLevel,
    SpeedPerturb,
    music_clips,
    noise_files,
    noise_split,
    snr_gain,
    speech_files,
    synth_speech,
)

SR = 16000
N = 8000  # 0.5 s items


def _write(path: Path, wave: np.ndarray, sample_rate: int = SR) -> Path:
    """(T,) or (C, T) samples; wav keeps float values exactly, flac (integer only) at 24 bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if path.suffix == ".wav" else "PCM_24"
    sf.write(str(path), np.asarray(wave, dtype=np.float32).T, sample_rate, subtype=subtype)
    return path


def _snr(stems: torch.Tensor) -> float:
    speech, noise = stems.double().numpy()
    level = active_level_db(speech, SR)
    assert level is not None
    return level - 10.0 * np.log10(np.mean(noise**2))


def _peak_hz(wave: np.ndarray, sample_rate: int = SR) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation (sub-bin accuracy)."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave)), n=8 * len(wave)))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate / (8 * len(wave))


def _sine(hz: float, n: int, amp: float = 0.5, sample_rate: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / sample_rate)).astype(np.float32)


@pytest.fixture()
def speech(tmp_path: Path) -> list[Path]:
    """Speech-like clips (pauses included); one at 8 kHz, resampled at load."""
    files = [_write(tmp_path / "speech" / f"s{i}.wav", synth_speech(1.0, SR, seed=i)) for i in range(3)]
    files.append(_write(tmp_path / "speech" / "s8k.wav", synth_speech(1.0, 8000, seed=9), 8000))
    return files


@pytest.fixture()
def noise(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    white = _write(tmp_path / "noise" / "white.flac", 0.1 * rng.standard_normal(3 * SR))
    hum = _write(tmp_path / "noise" / "hum.flac", _sine(100.0, SR // 4, 0.3) + 0.01 * rng.standard_normal(SR // 4))
    return [white, hum]  # hum is shorter than an item: repeated


@pytest.fixture()
def clips(tmp_path: Path) -> list[Path]:
    """Stereo clips: clip k = accompaniment sine at 300 + 100 k Hz (left), vocals at 1000 + 200 k Hz (right)."""
    return [
        _write(tmp_path / "music" / f"clip{k}.flac", np.stack([_sine(300 + 100 * k, SR), _sine(1000 + 200 * k, SR)]))
        for k in range(4)
    ]


def _noisy(speech: list[Path], noise: list[Path], **kw: object) -> NoisySpeechDataset:
    return NoisySpeechDataset(speech, noise, SR, N, **kw)  # type: ignore[arg-type]


# -- transforms ---------------------------------------------------------------------------------------------


def test_random_and_fixed_crops() -> None:
    ramp = np.arange(1, 1001, dtype=np.float32)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(30):
        crop = RandomCrop(100)(ramp, rng)
        assert crop.shape == (100,) and crop.dtype == np.float32
        np.testing.assert_array_equal(np.diff(crop), 1.0)  # one contiguous slice
        starts.add(int(crop[0]))
    assert len(starts) > 20
    short = RandomCrop(300)(ramp[:100], rng)
    assert np.count_nonzero(short) == 100 and short[short > 0].tolist() == ramp[:100].tolist()
    wrapped = RandomCrop(300, wrap=True)(ramp[:100], rng)
    assert np.count_nonzero(wrapped) == 300 and set(wrapped.tolist()) == set(ramp[:100].tolist())
    assert FixedCrop(100)(ramp, rng).tolist() == ramp[450:550].tolist()  # centred
    assert FixedCrop(100, position=0.0)(ramp, rng).tolist() == ramp[:100].tolist()
    assert np.flatnonzero(FixedCrop(300)(ramp[:100], rng)).tolist() == list(range(100, 200))


def test_gain_level_and_compose() -> None:
    wave = synth_speech(1.0, SR, seed=1)
    rng = np.random.default_rng(1)
    ratios = [float(np.max(np.abs(RandomGain(-6, 6)(wave, rng))) / np.max(np.abs(wave))) for _ in range(20)]
    assert all(10 ** (-6 / 20) - 1e-6 <= r <= 10 ** (6 / 20) + 1e-6 for r in ratios) and np.ptp(ratios) > 0.5
    for _ in range(5):
        level = active_level_db(RandomLevel(-30, -20, SR)(wave, rng), SR)
        assert level is not None and -30.01 <= level <= -19.99
    assert not RandomLevel(-30, -20, SR)(np.zeros(100, np.float32), rng).any()  # silence stays silence, no NaN
    chain = Compose([RandomCrop(4000), RandomGain(-3, 3)])
    a = chain(wave, np.random.default_rng(5))
    r = np.random.default_rng(5)
    b = RandomGain(-3, 3)(RandomCrop(4000)(wave, r), r)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4000,)
    with pytest.raises(TypeError, match="not callable"):
        Compose([RandomCrop(10), 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="low <= high"):
        RandomGain(6, -6)
    with pytest.raises(ValueError, match="n_samples"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="max_change"):
        SpeedPerturb(0.7)


def test_speed_perturb_moves_pitch_with_length() -> None:
    tone = _sine(500.0, SR)
    rng = np.random.default_rng(2)
    pitches = []
    for _ in range(6):
        out = SpeedPerturb(0.2)(tone, rng)
        hz = _peak_hz(out[500:-500])  # away from the resampler's edges
        # played x faster: x shorter and x higher, so pitch times length is what it was
        assert hz * len(out) == pytest.approx(500.0 * len(tone), rel=2e-3)
        pitches.append(hz)
    assert min(pitches) >= 400 and max(pitches) <= 600 and np.ptp(pitches) > 20
    fixed_len = [SpeedPerturb(0.2, out_samples=4000)(tone, rng) for _ in range(6)]
    assert all(o.shape == (4000,) for o in fixed_len)
    ratios = [_peak_hz(o[200:-200]) / 500.0 for o in fixed_len]
    assert all(0.799 <= r <= 1.201 for r in ratios) and np.ptp(ratios) > 0.04
    assert np.array_equal(SpeedPerturb(0.0)(tone, rng), tone)


def _band_db(wave: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1.0 / SR)
    return float(10.0 * np.log10(spectrum[(freqs >= low) & (freqs < high)].mean()))


def test_random_equalizer_recolours_within_its_bound() -> None:
    white = np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32)
    eq = RandomEqualizer(12.0, SR)
    rng = np.random.default_rng(1)
    tilts = []
    for _ in range(8):
        out = eq(white, rng)
        assert out.shape == white.shape and out.dtype == np.float32 and np.isfinite(out).all()
        # every octave band moves by at most max_db against the input's
        bands = [(125, 250), (250, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 7900)]
        changes = [_band_db(out, lo, hi) - _band_db(white, lo, hi) for lo, hi in bands]
        assert max(abs(c) for c in changes) <= 12.5
        tilts.append(changes[-1] - changes[0])
    assert np.ptp(tilts) > 6.0  # draws differ: the colour is not one fixed filter
    # same generator state, same curve; max_db 0 leaves the wave alone but still draws
    a, b = (eq(white, np.random.default_rng(5)) for _ in range(2))
    assert np.array_equal(a, b)
    flat, r1, r2 = RandomEqualizer(0.0, SR), np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(flat(white, r1), white)
    eq(white, r2)
    assert r1.random() == r2.random()
    # keep_rms: the same curve, scaled back to the input's RMS
    kept = RandomEqualizer(12.0, SR, keep_rms=True)(white, np.random.default_rng(5))
    assert np.sqrt(np.mean(kept**2)) == pytest.approx(np.sqrt(np.mean(white**2)), rel=1e-4)
    assert np.allclose(kept / np.sqrt(np.mean(kept**2)), a / np.sqrt(np.mean(a**2)), atol=1e-4)
    with pytest.raises(ValueError, match="max_db"):
        RandomEqualizer(-1.0, SR)
    with pytest.raises(ValueError, match="low_hz"):
        RandomEqualizer(6.0, SR, low_hz=9000.0)


# -- speech + noise -----------------------------------------------------------------------------------------


def test_noisy_speech_items_snr_and_level(speech: list[Path], noise: list[Path]) -> None:
    ds = _noisy(speech, noise, snr_db=(-5.0, 20.0), level_dbfs=(-30.0, -20.0), length=40)
    assert ds.stem_names == ("speech", "noise") and len(ds) == 40
    snrs = []
    for i in range(len(ds)):
        mixture, stems = ds[i]
        assert mixture.shape == (N,) and stems.shape == (2, N)
        assert mixture.dtype == stems.dtype == torch.float32
        assert torch.equal(stems.sum(0), mixture)
        snrs.append(_snr(stems))
        if mixture.abs().max() < 0.999:  # not scaled down for its peak: at the drawn level
            level = active_level_db(mixture.numpy(), SR)
            assert level is not None and -30.01 <= level <= -19.99
    assert min(snrs) >= -5.01 and max(snrs) <= 20.01 and np.ptp(snrs) > 10
    exact = _noisy(speech, noise, snr_db=(7.0, 7.0), fixed=True, length=6)
    assert all(_snr(exact[i][1]) == pytest.approx(7.0, abs=0.01) for i in range(len(exact)))
    assert ds.total_seconds[0] == pytest.approx(4.0, abs=1e-3)  # the 8 kHz clip was resampled to 1 s at 16 kHz


def _tone_power_db(wave: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1.0 / SR)
    return float(10.0 * np.log10(spectrum[np.abs(freqs - hz) <= 20.0].sum() + 1e-12))


def test_layered_noise_adds_a_second_recording(tmp_path: Path, speech: list[Path]) -> None:
    """layer_prob 1: every mixture's noise holds two recordings (a 100 Hz and a 3 kHz tone here), the second
    0 to 10 dB below the first; layer_prob 0: one recording each."""
    low = _write(tmp_path / "n" / "low.wav", _sine(100.0, SR, 0.3))
    high = _write(tmp_path / "n" / "high.wav", _sine(3000.0, SR, 0.3))
    layered = _noisy(speech, [low, high], layer_prob=1.0, length=12)
    single = _noisy(speech, [low, high], layer_prob=0.0, length=12)
    for i in range(12):
        both = layered[i][1][1].numpy()
        ratio = _tone_power_db(both, 3000.0) - _tone_power_db(both, 100.0)
        assert abs(ratio) <= 10.5  # either may be first; the second is 0 to 10 dB below it
        one = single[i][1][1].numpy()
        assert abs(_tone_power_db(one, 3000.0) - _tone_power_db(one, 100.0)) > 30.0  # one tone only
        assert -5.01 <= _snr(layered[i][1]) <= 20.01  # the SNR is set on the two together
    with pytest.raises(ValueError, match="layer_prob"):
        _noisy(speech, [low, high], layer_prob=1.5)


def _slope_db_per_octave(wave: np.ndarray) -> float:
    """Least-squares slope of the power spectrum (dB) against log2 frequency, 100 Hz to 6 kHz."""
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1.0 / SR)
    band = (freqs >= 100.0) & (freqs <= 6000.0)
    return float(np.polyfit(np.log2(freqs[band]), 10.0 * np.log10(power[band] + 1e-20), 1)[0])


def test_coloured_noise_has_its_slope_and_stands_in_for_recordings(tmp_path: Path, speech: list[Path]) -> None:
    """coloured_noise: unit RMS, power falling 3 dB per octave per unit of exponent; coloured_prob 1: every
    mixture's noise is such noise, not the (tonal) recording; 0: the recording every time."""
    from vqaudio.data.mixture import coloured_noise

    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        wave = coloured_noise(4 * SR, exponent, rng)
        assert wave.dtype == np.float32 and np.sqrt(np.mean(wave**2)) == pytest.approx(1.0, rel=1e-4)
        assert _slope_db_per_octave(wave) == pytest.approx(-3.0103 * exponent, abs=0.5)
    tone = _write(tmp_path / "n" / "tone.wav", _sine(1000.0, SR, 0.3))
    coloured = _noisy(speech, [tone], coloured_prob=1.0, length=8)
    recorded = _noisy(speech, [tone], coloured_prob=0.0, length=8)
    slopes = []
    for i in range(8):
        noise = coloured[i][1][1].numpy()
        share = 10.0 ** (_tone_power_db(noise, 1000.0) / 10.0) / float(np.sum(np.abs(np.fft.rfft(noise)) ** 2))
        assert share < 0.05  # broadband: the 1 kHz tone is not in it
        slopes.append(_slope_db_per_octave(noise))
        assert -5.01 <= _snr(coloured[i][1]) <= 20.01
        tonal = recorded[i][1][1].numpy()
        assert 10.0 ** (_tone_power_db(tonal, 1000.0) / 10.0) / float(np.sum(np.abs(np.fft.rfft(tonal)) ** 2)) > 0.9
    assert min(slopes) > -6.6 and max(slopes) < 0.6 and np.ptp(slopes) > 1.0  # white to brown, drawn per mixture
    with pytest.raises(ValueError, match="coloured_prob"):
        _noisy(speech, [tone], coloured_prob=-0.1)


def test_fixed_mode_repeats_training_mode_varies(speech: list[Path], noise: list[Path]) -> None:
    a = _noisy(speech, noise, fixed=True, seed=3, length=5)
    b = _noisy(speech, noise, fixed=True, seed=3, length=5)
    first = [a[i] for i in range(5)]
    for i in range(5):
        for x, y, z in zip(first[i], a[i], b[i], strict=True):  # a second epoch, a second instance
            assert torch.equal(x, y) and torch.equal(x, z)
    other = _noisy(speech, noise, fixed=True, seed=4, length=5)
    assert not torch.equal(other[0][0], first[0][0])
    train = _noisy(speech, noise, seed=3, length=5)
    again = _noisy(speech, noise, seed=3, length=5)
    epoch1 = [train[i][0] for i in range(5)]
    assert all(torch.equal(x, again[i][0]) for i, x in enumerate(epoch1))  # a seeded run repeats
    assert not all(torch.equal(x, train[i][0]) for i, x in enumerate(epoch1))  # the next epoch differs


def test_dataloader_workers(speech: list[Path], noise: list[Path]) -> None:
    fixed = _noisy(speech, noise, fixed=True, length=8)
    loader = DataLoader(fixed, batch_size=4, num_workers=2)
    mixtures, stems = zip(*loader, strict=True)
    assert mixtures[0].shape == (4, N) and stems[0].shape == (4, 2, N)
    assert torch.equal(torch.cat(mixtures), torch.stack([fixed[i][0] for i in range(8)]))

    train = _noisy(speech, noise, length=8)

    def epoch() -> torch.Tensor:
        return torch.cat([m for m, _ in DataLoader(train, batch_size=4, num_workers=2)])

    torch.manual_seed(0)
    one = epoch()
    torch.manual_seed(0)
    assert torch.equal(epoch(), one)  # seeded runs repeat
    assert not torch.equal(epoch(), one)  # epochs differ
    assert not torch.equal(one[0], one[4])  # so do workers (same speech file, other draws)


def test_clip_protection_and_silence(tmp_path: Path, noise: list[Path]) -> None:
    loud = [_write(tmp_path / "loud.wav", 0.99 * np.sign(_sine(200.0, SR)))]
    ds = _noisy(loud, noise, snr_db=(-5.0, -5.0), level_dbfs=None, fixed=True, length=4)
    for i in range(len(ds)):
        mixture, stems = ds[i]
        assert mixture.abs().max() <= 1.0 and stems.abs().max() <= 1.0
        assert mixture.abs().max() > 0.99  # scaled down to the limit, not below it
        assert torch.equal(stems.sum(0), mixture)
        assert _snr(stems) == pytest.approx(-5.0, abs=0.01)  # both scaled together
    silent = [_write(tmp_path / "silent.wav", np.zeros(SR, np.float32))]
    for i in range(3):
        mixture, stems = _noisy(silent, noise, fixed=True, length=3)[i]
        assert torch.isfinite(mixture).all() and not stems[0].any() and stems[1].abs().max() > 0
    quiet_noise = [_write(tmp_path / "zeros.wav", np.zeros(SR, np.float32))]
    mixture, stems = _noisy(loud, quiet_noise, fixed=True, length=1)[0]
    assert torch.isfinite(mixture).all() and not stems[1].any()
    assert snr_gain(np.zeros(10), np.zeros(10), 5.0, SR) == 1.0


def test_noisy_speech_errors(tmp_path: Path, speech: list[Path], noise: list[Path]) -> None:
    with pytest.raises(ValueError, match="no speech files"):
        _noisy([], noise)
    with pytest.raises(ValueError, match="no noise files"):
        _noisy(speech, [])
    with pytest.raises(ValueError, match="snr_db"):
        _noisy(speech, noise, snr_db=(20.0, -5.0))
    with pytest.raises(ValueError, match="n_samples"):
        NoisySpeechDataset(speech, noise, SR, 0)
    with pytest.raises(ValueError, match="length"):
        _noisy(speech, noise, length=0)
    with pytest.raises(IndexError):
        _noisy(speech, noise, length=2)[2]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    with pytest.warns(UserWarning, match="skipped 1 of 5"):
        ds = _noisy([*speech, broken], noise)
    assert len(ds) == 4 and broken not in ds.speech_files
    bad = _noisy(speech, noise, speech_transform=lambda w, rng: np.stack([w, w]), length=1)
    with pytest.raises(ValueError, match="mono wave"):
        bad[0]


# -- music --------------------------------------------------------------------------------------------------


def _pair_of(stems: torch.Tensor) -> tuple[int, int]:
    """(vocals clip, accompaniment clip) read back from the stems' frequencies."""
    vocals, accompaniment = stems.numpy()
    return round((_peak_hz(vocals) - 1000) / 200), round((_peak_hz(accompaniment) - 300) / 100)


def test_music_remix_pairs(clips: list[Path]) -> None:
    remix = MusicRemixDataset(clips, SR, N, remix_prob=1.0, fixed=True, length=24)
    assert remix.stem_names == ("vocals", "accompaniment") and len(remix) == 24
    pairs = []
    for i in range(len(remix)):
        mixture, stems = remix[i]
        assert stems.shape == (2, N) and torch.equal(stems.sum(0), mixture)
        pairs.append(_pair_of(stems))
    assert all(v == i % 4 and a != v for i, (v, a) in enumerate(pairs))  # vocals in turn, another's backing
    assert len({a for v, a in pairs if v == 0}) >= 2
    original = MusicRemixDataset(clips, SR, N, remix_prob=0.0, fixed=True)
    assert [_pair_of(original[i][1]) for i in range(4)] == [(k, k) for k in range(4)]
    half = MusicRemixDataset(clips, SR, N, fixed=True, length=40)
    same = sum(v == a for v, a in (_pair_of(half[i][1]) for i in range(40)))
    assert 5 <= same <= 35
    gains = [float(remix[i][1][0].abs().max() / remix[i][1][1].abs().max()) for i in range(8)]
    assert np.ptp(20 * np.log10(gains)) > 3  # each stem at its own random gain


def test_music_original_pairs_stay_aligned(tmp_path: Path) -> None:
    ramp = np.linspace(0.01, 0.4, SR, dtype=np.float32)
    clip = [_write(tmp_path / "ramp.flac", np.stack([ramp, ramp]))]  # left == right: aligned stems are equal
    for transform in (None, Compose([SpeedPerturb(0.1, out_samples=N), RandomGain(-3, 3)])):
        ds = MusicRemixDataset(clip, SR, N, transform=transform, level_dbfs=None, stem_gain_db=(0, 0), length=5)
        for i in range(len(ds)):
            _, stems = ds[i]
            assert torch.equal(stems[0], stems[1])


def test_music_errors_and_fixed_mode(tmp_path: Path, clips: list[Path]) -> None:
    mono = _write(tmp_path / "mono.flac", _sine(440.0, SR))
    with pytest.raises(ValueError, match=r"1 channel.*stereo"):
        MusicRemixDataset([*clips, mono], SR, N)
    with pytest.raises(ValueError, match="remix_prob"):
        MusicRemixDataset(clips, SR, N, remix_prob=1.5)
    a = MusicRemixDataset(clips, SR, N, fixed=True, seed=1)
    b = MusicRemixDataset(clips, SR, N, fixed=True, seed=1)
    assert all(torch.equal(a[i][1], b[i][1]) and torch.equal(a[i][1], a[i][1]) for i in range(len(a)))
    one = MusicRemixDataset(clips[:1], SR, N, remix_prob=1.0, length=3)  # nothing to remix with: original pairs
    assert all(_pair_of(one[i][1]) == (0, 0) for i in range(3))


def test_extra_vocals_stand_in_for_the_vocal_stem_over_some_clips_accompaniment(clips: list[Path]) -> None:
    voices = [_sine(3000.0 + 500 * k, 3 * N // 2, amp=0.3) for k in range(3)]  # apart from every clip's vocals
    ds = MusicRemixDataset(clips, SR, N, fixed=True, length=60, extra_vocals=voices, extra_vocals_prob=0.5)
    drawn = []
    for i in range(len(ds)):
        mixture, stems = ds[i]
        assert torch.equal(stems.sum(0), mixture)
        vocals_hz = _peak_hz(stems[0].numpy())
        if vocals_hz > 2500:  # an extra voice
            drawn.append(round((vocals_hz - 3000) / 500))
            assert 0 <= round((_peak_hz(stems[1].numpy()) - 300) / 100) < 4  # over a clip's accompaniment
    assert 15 <= len(drawn) <= 45 and set(drawn) == {0, 1, 2}
    plain = MusicRemixDataset(clips, SR, N, fixed=True, length=20)
    assert all(_peak_hz(plain[i][1][0].numpy()) < 2500 for i in range(20))
    assert ds.extra_vocals_seconds == pytest.approx(3 * 1.5 * N / SR) and plain.extra_vocals_seconds == 0
    with pytest.raises(ValueError, match="extra_vocals_prob"):
        MusicRemixDataset(clips, SR, N, extra_vocals=voices, extra_vocals_prob=2.0)
    with pytest.raises(ValueError, match="mono waves"):
        MusicRemixDataset(clips, SR, N, extra_vocals=[np.zeros((2, N), np.float32)], extra_vocals_prob=0.5)


# -- source lists -------------------------------------------------------------------------------------------


def test_noise_split_and_files(tmp_path: Path) -> None:
    assert NOISE_VAL_NAMES == ("city", "rain", "wind")
    assert noise_split("rain.flac") == "val" and noise_split("City_Traffic.wav") == "val"
    assert noise_split("x/heavy-rain-2.flac") == "val"
    assert noise_split("train.flac") == "train" and noise_split("windows.wav") == "train"
    folder = tmp_path / "noise"
    for name in ("birds", "train", "city", "wind"):
        _write(folder / f"{name}.flac", np.zeros(100, np.float32))
    (folder / "LICENSE.md").write_text("not audio")
    assert [p.stem for p in noise_files(folder, "val")] == ["city", "wind"]
    assert [p.stem for p in noise_files(folder, "train")] == ["birds", "train"]
    assert len(noise_files(folder)) == 4
    with pytest.raises(ValueError, match="not found"):
        noise_files(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown split"):
        noise_files(folder, "test")  # type: ignore[arg-type]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        noise_files(tmp_path / "empty")
    only_train = tmp_path / "only_train"
    _write(only_train / "birds.flac", np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="no val noise files"):
        noise_files(only_train, "val")


def test_music_clip_layouts(tmp_path: Path) -> None:
    stereo = np.zeros((2, 100), np.float32)
    root = tmp_path / "music" / "mir1k"
    _write(root / "train" / "a_1_01.flac", stereo)
    _write(root / "train" / "a_1_02.flac", stereo)
    _write(root / "val" / "b_1_01.flac", stereo)
    assert [p.name for p in music_clips(root, "train")] == ["a_1_01.flac", "a_1_02.flac"]
    assert [p.name for p in music_clips(tmp_path / "music", "val")] == ["b_1_01.flac"]  # finds mir1k/
    assert len(music_clips(root)) == 3
    plain = tmp_path / "plain"
    _write(plain / "song.wav", stereo)
    assert music_clips(plain, "val") == music_clips(plain, "train") == [plain / "song.wav"]
    only = tmp_path / "only"
    _write(only / "train" / "x.flac", stereo)
    with pytest.raises(ValueError, match="no val/ sub-folder"):
        music_clips(only, "val")
    with pytest.raises(ValueError, match="not found"):
        music_clips(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        music_clips(tmp_path / "empty")


# -- real recordings ----------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_source_lists(shared_data_dir: Path) -> None:
    val = noise_files(shared_data_dir / "noise", "val")
    train = noise_files(shared_data_dir / "noise", "train")
    assert [p.stem for p in val] == ["city", "rain", "wind"]
    assert "train" in {p.stem for p in train} and len(train) == 10 and not set(val) & set(train)
    mir1k = shared_data_dir / "music" / "mir1k"
    train_clips, val_clips = music_clips(mir1k, "train"), music_clips(mir1k, "val")
    assert len(train_clips) == 175 and len(val_clips) == 80
    assert {p.name.split("_")[0] for p in train_clips} == {"abjones", "amy"}
    assert {p.name.split("_")[0] for p in val_clips} == {"Ani", "annar"}
    assert music_clips(shared_data_dir / "music", "val") == val_clips


@pytest.mark.shared_data
def test_shared_noisy_speech(shared_data_dir: Path) -> None:
    voices = speech_files(shared_data_dir / "speech" / "fsdd", "val")[:6]  # 8 kHz, resampled to 16 kHz
    noises = noise_files(shared_data_dir / "noise", "val")
    ds = NoisySpeechDataset(voices, noises, SR, SR, snr_db=(0.0, 10.0), fixed=True, length=12)
    for i in range(len(ds)):
        mixture, stems = ds[i]
        assert torch.isfinite(mixture).all() and mixture.abs().max() <= 1.0
        assert torch.equal(stems.sum(0), mixture)
        assert -0.01 <= _snr(stems) <= 10.01


@pytest.mark.shared_data
def test_shared_music_stems(shared_data_dir: Path) -> None:
    paths = music_clips(shared_data_dir / "music" / "mir1k", "val")[:3]
    kw = {"remix_prob": 0.0, "stem_gain_db": (0.0, 0.0), "level_dbfs": None, "fixed": True}
    ds = MusicRemixDataset(paths, SR, SR, transform=FixedCrop(SR), **kw)  # type: ignore[arg-type]
    for i, path in enumerate(paths):
        left_right = sf.read(str(path), dtype="float32")[0].T
        start = (left_right.shape[1] - SR) // 2
        _, stems = ds[i]
        for stem, channel in zip(stems.numpy(), (1, 0), strict=True):  # vocals = right, accompaniment = left
            ref = left_right[channel, start : start + SR]
            assert np.corrcoef(stem, ref)[0, 1] > 0.999
    remix = MusicRemixDataset(paths, SR, SR, remix_prob=1.0, fixed=True, length=6)
    assert all(torch.equal(remix[i][1].sum(0), remix[i][0]) for i in range(6))
