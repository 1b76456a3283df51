"""metrics/: PESQ, STOI, SI-SDR, LSD, SD dB², delay/alignment, bitrates, and their errors."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from vqaudio.audio.io import resample
from vqaudio.metrics import (
    METRIC_NAMES,
    MetricError,
    align,
    bits_per_second,
    bits_per_vector,
    codebook_bitrate,
    estimate_delay,
    evaluate_pair,
    log_spectral_distance,
    pesq,
    si_sdr,
    spectral_distortion_db2,
    stoi,
)

SR = 8000


def speech_like(seconds: float = 2.0, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    """Voiced-speech stand-in: gliding f0 with vibrato, moving formants, syllable-rate envelope, faint noise.

    The gliding pitch matters for the delay tests: a steady pitch would make the cross-correlation peak
    repeat every pitch period.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.6 * t + rng.uniform(0, 6)) + 5 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    formants = np.array([500.0, 1500.0, 2500.0]) * (1 + 0.15 * np.sin(2 * np.pi * 1.3 * t[:, None] + np.arange(3)))
    wave = np.zeros_like(t)
    for k in range(1, sample_rate // 200):
        fk = k * f0
        gain = np.exp(-0.5 * ((fk[:, None] - formants) / 150.0) ** 2).sum(axis=1) + 0.05
        wave += np.where(fk < sample_rate / 2 - 100, gain, 0.0) * np.sin(k * phase) / np.sqrt(k)
    syllables = np.clip(np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    wave = wave * syllables + 0.002 * rng.standard_normal(t.size)
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.size)
    noise *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def delayed(x: np.ndarray, shift: int) -> np.ndarray:
    """x shifted right by `shift` samples (left if negative), same length, zeros shifted in."""
    out = np.zeros_like(x)
    if shift >= 0:
        out[shift:] = x[: x.size - shift]
    else:
        out[:shift] = x[-shift:]
    return out


def decreasing(values: list[float]) -> bool:
    return all(a > b for a, b in pairwise(values))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_like(2.0, SR, seed=0)


# --- identical and noisy signals -----------------------------------------------------------------------


def test_identical_signals_score_perfectly(speech: np.ndarray) -> None:
    assert pesq(speech, speech, SR) > 4.0
    assert stoi(speech, speech, SR) == pytest.approx(1.0, abs=1e-6)
    assert stoi(speech, speech, SR, extended=True) == pytest.approx(1.0, abs=1e-6)
    assert si_sdr(speech, speech) > 100.0
    assert log_spectral_distance(speech, speech, SR) == pytest.approx(0.0, abs=1e-9)


def test_more_noise_makes_every_metric_worse(speech: np.ndarray) -> None:
    metrics = ("pesq_nb", "stoi", "estoi", "si_sdr", "lsd")
    rows = [evaluate_pair(speech, add_noise(speech, snr), SR, metrics=metrics) for snr in (30, 15, 5, -5)]
    for name in ("pesq_nb", "stoi", "estoi", "si_sdr"):
        values = [r[name] for r in rows]
        assert decreasing(values), f"{name} not decreasing with noise: {values}"
    lsd = [r["lsd"] for r in rows]
    assert decreasing([-v for v in lsd]), f"lsd not increasing with noise: {lsd}"
    assert rows[0]["pesq_nb"] > 3.0 and rows[-1]["pesq_nb"] < 2.0


@pytest.mark.parametrize("snr_db", [20.0, 3.0, -6.0])
def test_si_sdr_equals_snr_for_orthogonal_noise(snr_db: float) -> None:
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(4000)
    ref -= ref.mean()
    noise = rng.standard_normal(4000)
    noise -= noise.mean()
    noise -= (noise @ ref) / (ref @ ref) * ref  # orthogonal to the reference, still zero-mean
    noise *= np.sqrt((ref @ ref) / (noise @ noise) / 10 ** (snr_db / 10))
    assert si_sdr(ref, ref + noise) == pytest.approx(snr_db, abs=0.1)


def test_si_sdr_is_scale_invariant(speech: np.ndarray) -> None:
    noisy = add_noise(speech, 10.0)
    base = si_sdr(speech, noisy)
    assert si_sdr(speech, 3.7 * noisy) == pytest.approx(base, abs=1e-6)
    assert si_sdr(0.01 * speech, noisy) == pytest.approx(base, abs=1e-6)
    assert si_sdr(speech, 1e-4 * noisy) == pytest.approx(base, abs=1e-6)
    # a plain SNR would punish the gain; SI-SDR ignores it but still sees a sign flip as perfect, noise as bad
    assert si_sdr(speech, -speech) > 100.0
    assert si_sdr(speech, np.zeros_like(speech)) == pytest.approx(0.0, abs=1e-6)


def test_lsd_of_a_uniform_gain_is_that_gain_in_db(speech: np.ndarray) -> None:
    assert log_spectral_distance(speech, 2.0 * speech, SR) == pytest.approx(20 * np.log10(2.0), abs=0.05)


def test_lsd_ignores_silent_reference_frames(speech: np.ndarray) -> None:
    """Garbage in the estimate where the reference is silent must not dominate the score."""
    pause = np.zeros(SR, dtype=np.float32)
    ref = np.concatenate([speech, pause])
    est = np.concatenate([speech, 1e-3 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)])
    assert log_spectral_distance(ref, est, SR) < 0.5


# --- PESQ specifics ------------------------------------------------------------------------------------


def test_pesq_nb_on_16k_input_is_resampled() -> None:
    x16 = speech_like(2.0, 16000, seed=4)
    y16 = add_noise(x16, 15.0)
    assert pesq(x16, x16, 16000, mode="nb") > 4.0
    nb = pesq(x16, y16, 16000, mode="nb")
    assert nb == pytest.approx(pesq(resample(x16, 16000, 8000), resample(y16, 16000, 8000), 8000), abs=1e-6)
    assert 1.0 < nb < 4.0
    assert pesq(x16, x16, 16000, mode="wb") > 4.0


def test_pesq_wideband_refuses_8k_audio_with_a_clear_message(speech: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"'wb' needs audio sampled at 16000 Hz.*mode='nb'") as info:
        pesq(speech, speech, SR, mode="wb")
    assert not isinstance(info.value, MetricError)  # a configuration error a benchmark must not skip
    with pytest.raises(ValueError, match="mode must be 'nb'"):
        pesq(speech, speech, SR, mode="super")


def test_lengths_that_differ_a_little_are_trimmed(speech: np.ndarray) -> None:
    longer = np.concatenate([speech, np.zeros(80, dtype=np.float32)])  # a codec padding its last frame
    assert pesq(speech, longer, SR) > 4.0
    assert si_sdr(longer, speech) > 100.0
    with pytest.raises(MetricError, match=r"16000 samples but estimate has 8000 .*align"):
        si_sdr(speech, speech[:SR])


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s, z: pesq(z, s, SR),
        lambda s, z: stoi(z, s, SR),
        lambda s, z: si_sdr(z, s),
        lambda s, z: log_spectral_distance(z, s, SR),
        lambda s, z: estimate_delay(z, s, 100),
        lambda s, z: evaluate_pair(z, s, SR),
    ],
    ids=["pesq", "stoi", "si_sdr", "lsd", "delay", "evaluate_pair"],
)
def test_silent_reference_is_a_readable_metric_error(speech: np.ndarray, call) -> None:
    with pytest.raises(MetricError, match=r"reference signal is silent"):
        call(speech, np.zeros_like(speech))


def test_silent_degraded_pesq_is_a_metric_error_not_a_nan_crash(speech: np.ndarray) -> None:
    with pytest.raises(MetricError, match=r"pesq_nb: degraded signal is silent"):
        pesq(speech, np.zeros_like(speech), SR)
    assert stoi(speech, np.zeros_like(speech), SR) < 0.1  # STOI is defined for it: unintelligible


def test_too_short_input_is_a_readable_metric_error(speech: np.ndarray) -> None:
    short = speech[: SR // 10]
    with pytest.raises(MetricError, match=r"too short \(0\.100 s\); PESQ needs at least 0\.25 s"):
        pesq(short, short, SR)
    with pytest.raises(MetricError, match=r"too short .*STOI needs at least 0\.40 s"):
        stoi(speech[: SR // 4], speech[: SR // 4], SR)
    with pytest.raises(MetricError, match="need at least n_fft=256"):
        log_spectral_distance(speech[:100], speech[:100], SR)


def test_stoi_on_mostly_silent_reference_raises_instead_of_placeholder_score(speech: np.ndarray) -> None:
    x = np.zeros(SR, dtype=np.float32)
    x[3000:3600] = speech[:600]
    with pytest.raises(MetricError, match="fewer than 30 frames"):
        stoi(x, x, SR)


def test_non_finite_and_multichannel_inputs_are_rejected(speech: np.ndarray) -> None:
    bad = speech.copy()
    bad[10] = np.nan
    with pytest.raises(MetricError, match="estimate holds 1 NaN/inf"):
        si_sdr(speech, bad)
    with pytest.raises(MetricError, match=r"mono signal .* shape \(2, 16000\)"):
        stoi(np.stack([speech, speech]), speech, SR)


def test_evaluate_pair_rejects_unknown_metric_names_loudly(speech: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown metric") as info:
        evaluate_pair(speech, speech, SR, metrics=("pesq_nb", "mos"))
    assert not isinstance(info.value, MetricError)
    assert set(METRIC_NAMES) >= {"pesq_nb", "pesq_wb", "stoi", "estoi", "si_sdr", "lsd"}


# --- delay and alignment -------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [120, -120, 0, 37])
def test_estimate_delay_recovers_a_known_shift(shift: int) -> None:
    x = speech_like(1.5, SR, seed=2)
    degraded = add_noise(delayed(x, shift), 10.0, seed=5)
    assert estimate_delay(x, degraded, max_delay=400) == shift


def test_estimate_delay_stays_within_max_delay(speech: np.ndarray) -> None:
    found = estimate_delay(speech, delayed(speech, 120), max_delay=50)
    assert abs(found) <= 50
    assert estimate_delay(speech, delayed(speech, 120), max_delay=0) == 0
    with pytest.raises(ValueError, match="max_delay must be a non-negative integer"):
        estimate_delay(speech, speech, max_delay=-1)


@pytest.mark.parametrize("shift", [120, -120])
def test_align_trims_to_the_common_part(speech: np.ndarray, shift: int) -> None:
    ref, deg = align(speech, delayed(speech, shift), max_delay=400)
    assert ref.shape == deg.shape == (speech.size - abs(shift),)
    assert ref.dtype == np.float32
    if shift > 0:
        np.testing.assert_array_equal(ref, speech[: speech.size - shift])
    else:
        np.testing.assert_array_equal(ref, speech[-shift:])
    np.testing.assert_array_equal(deg, ref)


def test_evaluate_pair_aligns_a_codec_delay_first(speech: np.ndarray) -> None:
    late = delayed(speech, 120)  # Codec 2's ~15 ms at 8 kHz
    unaligned = evaluate_pair(speech, late, SR, metrics=("si_sdr", "stoi"))
    aligned = evaluate_pair(speech, late, SR, metrics=("si_sdr", "stoi"), max_delay=400)
    assert list(aligned) == ["si_sdr", "stoi"]
    assert unaligned["si_sdr"] < 5.0
    assert aligned["si_sdr"] > 100.0
    assert aligned["stoi"] > 0.999 > unaligned["stoi"]


# --- spectral distortion and rates ---------------------------------------------------------------------


def test_spectral_distortion_of_a_constant_2db_offset_is_4_db2() -> None:
    ref = np.random.default_rng(0).normal(40.0, 10.0, size=(3, 50, 20))
    assert spectral_distortion_db2(ref, ref + 2.0) == pytest.approx(4.0)
    assert spectral_distortion_db2(torch.from_numpy(ref), torch.from_numpy(ref - 2.0).float()) == pytest.approx(4.0)
    assert spectral_distortion_db2(ref, ref + 2.0, remove_mean=True) == pytest.approx(0.0, abs=1e-12)
    # mean over frames of the per-frame mean: one frame off by 3 dB in 4 frames -> 9 / 4
    est = ref[0, :4].copy()
    est[1] += 3.0
    assert spectral_distortion_db2(ref[0, :4], est) == pytest.approx(9.0 / 4.0)
    with pytest.raises(MetricError, match="shape"):
        spectral_distortion_db2(ref, ref[..., :10])


def test_bitrates() -> None:
    assert bits_per_second(2400, 2.0) == 1200.0
    assert bits_per_vector(1024) == 10.0
    assert bits_per_vector([512, 512]) == 18.0
    assert bits_per_vector(1000) == pytest.approx(9.9658, abs=1e-4)
    assert bits_per_vector(1000, whole_bits=True) == 10.0
    assert codebook_bitrate(50.0, [512, 512]) == 900.0
    assert codebook_bitrate(25.0, np.array([1024, 256])) == 450.0
    with pytest.raises(ValueError, match="duration_s must be a positive"):
        bits_per_second(100, 0.0)
    with pytest.raises(ValueError, match="integers >= 1"):
        bits_per_vector([512, 0])


# --- real speech ---------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_pesq_and_stoi_on_a_real_asterisk_prompt(shared_data_dir) -> None:
    import soundfile as sf

    from vqaudio.audio.io import load

    folder = shared_data_dir / "speech" / "asterisk" / "ru_RU_f_IvrvoiceRU"
    path = next((p for p in sorted(folder.glob("*.flac")) if 2.5 < sf.info(str(p)).duration < 5.0), None)
    if path is None:
        pytest.skip(f"no 2.5-5 s prompt in {folder}")
    wave, sr = load(path)
    assert sr == 8000
    assert pesq(wave, wave, sr) > 4.4
    assert stoi(wave, wave, sr) > 0.999
    scores = [evaluate_pair(wave, add_noise(wave, snr), sr, metrics=("pesq_nb", "stoi")) for snr in (25, 10, 0)]
    pesq_values = [s["pesq_nb"] for s in scores]
    stoi_values = [s["stoi"] for s in scores]
    assert pesq_values[0] > 2.5 and decreasing(pesq_values), pesq_values
    assert stoi_values[0] > 0.95 and decreasing(stoi_values), stoi_values
    # a codec-like delay of 15 ms is found and removed on real speech
    late = add_noise(delayed(wave, 120), 25)
    assert estimate_delay(wave, late, max_delay=400) == 120
    assert evaluate_pair(wave, late, sr, metrics=("stoi",), max_delay=400)["stoi"] == pytest.approx(
        stoi_values[0], abs=0.02
    )
