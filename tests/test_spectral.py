"""vqaudio.audio: STFT pair, dB, phase inverses, Griffin-Lim, filterbanks and the rate-K envelope."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqaudio.audio import (
    STFTConfig,
    amplitude_to_db,
    db_to_amplitude,
    griffin_lim,
    inverse_with_phase,
    istft,
    log_magnitude,
    num_frames,
    num_samples,
    rate_k,
    rate_k_frequencies,
    rate_k_to_magnitude,
    stft,
)
from vqaudio.audio.postfilter import sharpen_db
from vqaudio.metrics import spectral_convergence

# The denoising reference's scipy.signal.stft(fs=8000, nperseg=519, noverlap=488): an odd n_fft, hop 31.
SQUARE_STFT = STFTConfig(sample_rate=8000, n_fft=519, hop_length=31)

CONFIGS = [
    STFTConfig(),
    SQUARE_STFT,
    STFTConfig(sample_rate=16000, n_fft=255, hop_length=50, win_length=200, window="hamming"),
    STFTConfig(n_fft=512, hop_length=128, window="sqrt_hann"),
]


def _harmonic(seconds: float = 1.0, sample_rate: int = 8000) -> torch.Tensor:
    """A gliding 19-harmonic tone with a slow amplitude envelope: speech-like but exactly known."""
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    phase = 2 * math.pi * torch.cumsum(140.0 + 20.0 * t, 0) / sample_rate
    x = sum((0.8**h) * torch.sin(h * phase) for h in range(1, 20)) * (0.5 + 0.5 * torch.sin(2 * math.pi * 2 * t))
    return (0.5 * x / x.abs().max()).float()


# ------------------------------------------------------------------------------------------- config


def test_config_dict_round_trip_and_validation() -> None:
    cfg = STFTConfig(sample_rate=16000, n_fft=512, hop_length=128, win_length=400, window="hamming", center=False)
    assert STFTConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.n_freqs == 257 and cfg.frames_per_second == 125.0 and cfg.win_size == 400
    with pytest.raises(ValueError, match="unknown keys"):
        STFTConfig.from_dict({**cfg.to_dict(), "nperseg": 3})
    with pytest.raises(ValueError, match="window"):
        STFTConfig(window="kaiser")
    with pytest.raises(ValueError, match="hop_length"):
        STFTConfig(n_fft=64, hop_length=100)


def test_reference_square_preset_is_square_for_one_second() -> None:
    spec = stft(torch.zeros(8030), SQUARE_STFT)
    assert spec.shape == (260, 260)


@pytest.mark.parametrize("cfg", [*CONFIGS, STFTConfig(n_fft=256, hop_length=64, center=False)])
@pytest.mark.parametrize("n", [1, 63, 300, 4001])
def test_num_frames_and_num_samples_match_stft(cfg: STFTConfig, n: int) -> None:
    if not cfg.center and n < cfg.n_fft:
        with pytest.raises(ValueError, match="n_fft"):
            stft(torch.zeros(n), cfg)
        return
    frames = stft(torch.zeros(n), cfg).shape[-1]
    assert num_frames(n, cfg) == frames
    assert num_frames(num_samples(frames, cfg), cfg) == frames
    assert istft(torch.zeros(cfg.n_freqs, frames, dtype=torch.complex64), cfg).shape[-1] == num_samples(frames, cfg)


# ------------------------------------------------------------------------------------------- STFT pair


@pytest.mark.parametrize("cfg", CONFIGS)
def test_stft_istft_perfect_reconstruction_batched(cfg: STFTConfig) -> None:
    x = torch.randn(2, 3, 4001, generator=torch.Generator().manual_seed(0))
    spec = stft(x, cfg)
    assert spec.shape == (2, 3, cfg.n_freqs, num_frames(4001, cfg)) and spec.is_complex()
    y = istft(spec, cfg, length=4001)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-4
    # batched equals one at a time
    torch.testing.assert_close(stft(x[1, 2], cfg), spec[1, 2])


@pytest.mark.parametrize("cfg", CONFIGS)
def test_istft_agrees_with_torch_istft(cfg: STFTConfig) -> None:
    spec = torch.randn(2, cfg.n_freqs, 40, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    window = {"hann": torch.hann_window, "hamming": torch.hamming_window}.get(cfg.window)
    win = window(cfg.win_size, dtype=torch.float64) if window else torch.hann_window(cfg.win_size).sqrt().double()
    n = num_samples(40, cfg) - 3
    expected = torch.istft(spec, cfg.n_fft, cfg.hop_length, cfg.win_size, window=win, center=True, length=n)
    torch.testing.assert_close(istft(spec, cfg, n), expected)


def test_istft_is_differentiable_and_stft_accepts_numpy_and_short_input() -> None:
    cfg = STFTConfig()
    x = torch.randn(500, requires_grad=True)
    istft(stft(x, cfg), cfg, 500).square().sum().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach(), atol=1e-4, rtol=1e-4)
    assert stft(np.ones(1, dtype=np.float64), cfg).shape == (cfg.n_freqs, 1)
    one = torch.tensor([0.3])
    assert istft(stft(one, cfg), cfg, 1).item() == pytest.approx(0.3, abs=1e-6)
    with pytest.raises(ValueError, match="complex"):
        istft(torch.ones(cfg.n_freqs, 4), cfg)
    with pytest.raises(ValueError, match="129"):
        istft(torch.ones(100, 4, dtype=torch.complex64), cfg)


def test_windows_cached_in_inference_mode_still_work_with_autograd() -> None:
    cfg = STFTConfig(n_fft=96, hop_length=24, window="blackman")  # used nowhere else, so built here first
    with torch.inference_mode():
        stft(torch.randn(300), cfg)
    x = torch.randn(300, requires_grad=True)
    log_magnitude(x, cfg).mean().backward()  # would fail if the cached window were an inference tensor
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------------------------- dB / phase


def test_db_floor_and_inverse() -> None:
    mag = torch.tensor([0.0, 1e-9, 1.0, 10.0])
    db = amplitude_to_db(mag, floor_db=-100.0)
    torch.testing.assert_close(db, torch.tensor([-100.0, -100.0, 0.0, 20.0]))
    assert amplitude_to_db(torch.zeros(1), floor_db=-60.0).item() == pytest.approx(-60.0)
    torch.testing.assert_close(db_to_amplitude(db[2:]), mag[2:])
    lm = log_magnitude(torch.zeros(3, 1000), STFTConfig(), floor_db=-80.0)
    assert lm.shape == (3, 129, 16) and torch.all(lm == -80.0)


@pytest.mark.parametrize("cfg", [STFTConfig(), SQUARE_STFT])
def test_inverse_with_true_phase_reconstructs(cfg: STFTConfig) -> None:
    x = _harmonic(0.5) + 0.01 * torch.randn(4000, generator=torch.Generator().manual_seed(2))
    spec = stft(x, cfg)
    from_complex = inverse_with_phase(spec.abs(), spec, cfg, length=4000)
    from_angles = inverse_with_phase(spec.abs(), spec.angle(), cfg, length=4000)
    assert (from_complex - x).abs().max().item() < 1e-4
    assert (from_angles - x).abs().max().item() < 1e-4
    # mixture phase: a magnitude borrowed phase broadcasts over a batch of estimates
    both = inverse_with_phase(torch.stack([spec.abs(), 0.5 * spec.abs()]), spec, cfg, length=4000)
    assert both.shape == (2, 4000)
    torch.testing.assert_close(both[1], 0.5 * x, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------- Griffin-Lim


def test_griffin_lim_converges_on_a_harmonic_signal() -> None:
    cfg = STFTConfig()
    x = _harmonic()
    mag = stft(x, cfg).abs()
    sc = {}
    for n_iter in (2, 8, 32):
        y = griffin_lim(mag, cfg, n_iter=n_iter, length=x.shape[-1])
        assert y.shape == x.shape
        sc[n_iter] = spectral_convergence(mag, y, cfg).item()
    assert sc[2] > sc[8] > sc[32]
    assert sc[32] < 0.05


def test_fast_griffin_lim_beats_classic_and_integrated_init_beats_random() -> None:
    cfg = STFTConfig()
    x = _harmonic()
    mag = stft(x, cfg).abs()

    def sc(**kw: object) -> float:
        return spectral_convergence(mag, griffin_lim(mag, cfg, length=x.shape[-1], **kw), cfg).item()

    assert sc(n_iter=32, momentum=0.99, init_phase="random") < 0.7 * sc(n_iter=32, momentum=0.0, init_phase="random")
    assert sc(n_iter=8) < 0.5 * sc(n_iter=8, init_phase="random")
    # deterministic: the same call gives the same waveform
    a = griffin_lim(mag, cfg, n_iter=4, init_phase="random")
    torch.testing.assert_close(a, griffin_lim(mag, cfg, n_iter=4, init_phase="random"))


def test_griffin_lim_batch_true_phase_init_length_and_no_autograd() -> None:
    cfg = SQUARE_STFT
    x = torch.stack([_harmonic(0.3), 0.5 * _harmonic(0.3)])
    spec = stft(x, cfg)
    mag = spec.abs().requires_grad_(True)
    y = griffin_lim(mag, cfg, n_iter=3, length=x.shape[-1], init_phase=spec)
    assert y.shape == x.shape and not y.requires_grad
    assert (y - x).abs().max().item() < 1e-3  # true phase is already a fixed point
    single = griffin_lim(mag[1].detach(), cfg, n_iter=3, length=x.shape[-1], init_phase=spec[1])
    torch.testing.assert_close(single, y[1])
    assert griffin_lim(mag.detach(), cfg, n_iter=1).shape[-1] == num_samples(mag.shape[-1], cfg)
    with pytest.raises(ValueError, match="frames"):
        griffin_lim(mag.detach(), cfg, length=10)
    with pytest.raises(ValueError, match="init_phase"):
        griffin_lim(mag.detach(), cfg, init_phase="bogus")


# ----------------------------------------------------------------------------------------------- rate K


def test_rate_k_frequencies_follow_newamp1() -> None:
    f = rate_k_frequencies()
    assert f.shape == (20,)
    assert f[0] == pytest.approx(200.0) and f[-1] == pytest.approx(3700.0)
    mel = 2595 * np.log10(1 + f / 700)
    np.testing.assert_allclose(np.diff(mel), np.diff(mel)[0], rtol=1e-9)  # equal mel steps


def test_rate_k_shape_flat_level_and_tone_band() -> None:
    cfg = STFTConfig()
    mag = torch.full((3, cfg.n_freqs, 7), 10.0)
    rk = rate_k(mag, cfg)
    assert rk.shape == (3, 20, 7)
    torch.testing.assert_close(rk, torch.full_like(rk, 20.0))  # flat 20 dB stays 20 dB in every band
    centres = rate_k_frequencies()
    t = torch.arange(8000) / 8000
    for tone_hz in (300.0, 1000.0, 2500.0):
        k_expected = int(np.argmin(np.abs(centres - tone_hz)))
        tone_rk = rate_k(stft(torch.sin(2 * math.pi * tone_hz * t), cfg).abs(), cfg)
        assert tone_rk.shape == (20, num_frames(8000, cfg))
        mid = tone_rk[:, 10:-10].mean(dim=-1)
        assert int(mid.argmax()) == k_expected
        assert mid[k_expected] - mid[(k_expected + 5) % 20] > 30.0  # energy stays in its band


def test_rate_k_peak_envelope_does_not_follow_the_pitch() -> None:
    # Pulse trains have flat harmonic amplitudes at any pitch: a true envelope of them is flat. Band means of the
    # low (narrow) bands dip between harmonics by an amount that depends on the pitch; the peak envelope does not.
    cfg = STFTConfig(hop_length=80)

    def shape_at(f0: float, peak_hz: float) -> torch.Tensor:
        wave = np.zeros(8000, np.float32)
        wave[np.arange(0, 8000, 8000 / f0).astype(int)] = 1.0
        rk = rate_k(stft(torch.from_numpy(wave), cfg).abs(), cfg, peak_hz=peak_hz)[:, 10:-10].mean(dim=-1)
        return rk - rk.mean()

    pitches = (110.0, 170.0, 230.0, 290.0)
    band = torch.stack([shape_at(f0, 0.0) for f0 in pitches])
    peak = torch.stack([shape_at(f0, 156.25) for f0 in pitches])
    assert peak.std(dim=0).mean() < 0.4 * band.std(dim=0).mean()
    assert peak.std(dim=1).max() < 1.5 < band.std(dim=1).max()  # ripple across K at the highest pitch
    mag = stft(torch.from_numpy(np.random.default_rng(0).standard_normal(800).astype(np.float32)), cfg).abs()
    torch.testing.assert_close(rate_k(mag, cfg, peak_hz=0.0), rate_k(mag, cfg))
    with pytest.raises(ValueError, match="peak_hz"):
        rate_k(mag, cfg, peak_hz=-1.0)


def test_rate_k_to_magnitude_round_trip_of_smooth_envelope() -> None:
    cfg = STFTConfig()
    freqs = torch.from_numpy(cfg.bin_frequencies())
    # two broad formant-like bumps on a tilt, in dB, varying slowly over 6 frames
    frames = []
    for shift in range(6):
        db = (
            40.0
            - 6.0 * freqs / 1000.0
            + 15.0 * torch.exp(-(((freqs - 600.0 - 30 * shift) / 250.0) ** 2))
            + 10.0 * torch.exp(-(((freqs - 2200.0) / 400.0) ** 2))
        )
        frames.append(db)
    envelope_db = torch.stack(frames, dim=-1).float()  # (F, N)
    rk = rate_k(db_to_amplitude(envelope_db), cfg)
    back = rate_k_to_magnitude(rk, cfg)
    assert back.shape == envelope_db.shape and torch.all(back > 0)
    band = (freqs >= 200.0) & (freqs <= 3700.0)
    err = (amplitude_to_db(back) - envelope_db)[band].abs()
    assert err.mean().item() < 1.0 and err.max().item() < 3.0
    # K is read from the input, and batching works
    rk10 = rate_k(db_to_amplitude(envelope_db).expand(2, -1, -1), cfg, k=10)
    assert rate_k_to_magnitude(rk10, cfg).shape == (2, cfg.n_freqs, 6)


@pytest.mark.parametrize("n_samples", [1, 30, 63, 64, 65])
def test_griffin_lim_handles_inputs_shorter_than_a_hop(n_samples: int) -> None:
    # One STFT frame once broke the integrated initial phase (an empty phase, then an FFT error).
    cfg = STFTConfig()
    wave = torch.randn(n_samples, generator=torch.Generator().manual_seed(n_samples))
    out = griffin_lim(stft(wave, cfg).abs(), cfg, n_iter=4, length=n_samples)
    assert out.shape == (n_samples,) and torch.isfinite(out).all()


def test_sharpen_db_deepens_valleys_raises_peaks_and_keeps_frame_power() -> None:
    bins = torch.arange(129, dtype=torch.float32)
    frame = -40.0 + 10.0 * torch.cos(2 * math.pi * bins / 16)  # harmonics 16 bins apart, 20 dB peak-to-valley
    db = torch.stack([frame, frame - 20.0], dim=-1)[None]  # (1, F, 2)
    out = sharpen_db(db, 0.3)
    assert out.shape == db.shape
    spread_in = (db[0, 8:120, 0].max() - db[0, 8:120, 0].min()).item()
    spread_out = (out[0, 8:120, 0].max() - out[0, 8:120, 0].min()).item()
    assert spread_out > spread_in * 1.1  # the 9-bin mean keeps ~56% of this ripple: 1 + 0.3 x 0.44 = 1.13
    power = torch.pow(10.0, db / 10.0).sum(-2)
    assert torch.allclose(torch.pow(10.0, out / 10.0).sum(-2), power, rtol=1e-4)
    assert torch.equal(sharpen_db(db, 0.0), db)
    flat = torch.full((129, 3), -30.0)
    assert torch.allclose(sharpen_db(flat, 0.5), flat, atol=1e-4)  # nothing to sharpen
    with pytest.raises(ValueError, match="sharpen_db"):
        sharpen_db(db, -0.1)
