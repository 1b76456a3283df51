"""Spectral front-ends and their inverses, in torch, batched over leading dims and device-agnostic.

Waveforms are (..., T); spectrograms are (..., F, N) with F = n_fft // 2 + 1 frequency bins and N frames.
Every matrix or window a function needs is built once per (settings, device, dtype) and cached, because
these functions sit inside training steps and inference loops (Griffin-Lim calls stft/istft 2x per iteration).

Scales: `stft` is unnormalised (a full-scale sinusoid of amplitude A peaks at about A * sum(window) / 2), and
dB values everywhere are 20 * log10 of that magnitude, so `log_magnitude`, `rate_k` and `amplitude_to_db`
share one scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

__all__ = [
    "DENOISER_STFT",
    "STFTConfig",
    "amplitude_to_db",
    "db_to_amplitude",
    "griffin_lim",
    "hz_to_mel",
    "inverse_with_phase",
    "istft",
    "log_magnitude",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
    "mel_to_magnitude",
    "num_frames",
    "num_samples",
    "rate_k",
    "rate_k_frequencies",
    "rate_k_to_magnitude",
    "sharpen_db",
    "spectral_convergence",
    "stft",
]

_WINDOWS = ("hann", "sqrt_hann", "hamming", "blackman", "bartlett", "rectangular")


@dataclass(frozen=True)
class STFTConfig:
    """STFT settings shared by a model's front-end and its inverse (stored in checkpoints via to_dict).

    win_length None means n_fft. Windows are periodic (the DFT-even form, as scipy.signal.stft uses).
    With center=True frames are centred on multiples of hop_length and the signal is zero-padded by
    n_fft // 2 at both ends (zero rather than reflect padding, so inputs of any length, even 1 sample, work).
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    win_length: int | None = None
    window: str = "hann"
    center: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft <= 1 or self.hop_length <= 0:
            raise ValueError(f"STFTConfig: sample_rate, n_fft and hop_length must be positive, got {self}")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"STFTConfig: win_length must be in 1..n_fft ({self.n_fft}), got {self.win_length}")
        if self.window not in _WINDOWS:
            raise ValueError(f"STFTConfig: unknown window {self.window!r}; choose from {', '.join(_WINDOWS)}")
        if self.hop_length > self.win_size:
            raise ValueError(
                f"STFTConfig: hop_length {self.hop_length} > window length {self.win_size} leaves samples "
                "outside every frame, so the STFT cannot be inverted; lower hop_length"
            )

    @property
    def win_size(self) -> int:
        """The window length actually used (win_length, or n_fft when None)."""
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def bin_frequencies(self) -> np.ndarray:
        """Centre frequency in Hz of each of the n_freqs bins."""
        return np.arange(self.n_freqs) * (self.sample_rate / self.n_fft)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> STFTConfig:
        """Inverse of to_dict; unknown keys are an error (they usually mean a config from another version)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"STFTConfig.from_dict: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)


# The denoising reference (VQ-VAE U-Net): scipy.signal.stft(fs=8000, nperseg=519, noverlap=488), i.e. hop 31.
# It gives 260 bins and 8000/31 = 258 frames per second, so ~1 s of audio makes a square 260 x 260 image.
DENOISER_STFT = STFTConfig(sample_rate=8000, n_fft=519, hop_length=31)


# ----------------------------------------------------------------------------------------------- caching


_CACHE: dict[tuple[Any, ...], torch.Tensor] = {}


def _cached(key: tuple[Any, ...], device: torch.device, dtype: torch.dtype, build: Callable[[], Any]) -> torch.Tensor:
    """A constant tensor (window, filterbank, ...) built once per key/device/dtype.

    Built outside inference mode so a cache filled during inference can still be used by training (autograd
    refuses to save inference tensors for backward).
    """
    full_key = (*key, str(device), dtype)
    tensor = _CACHE.get(full_key)
    if tensor is None:
        with torch.inference_mode(False), torch.no_grad():
            tensor = torch.as_tensor(build(), dtype=torch.float64).to(device=device, dtype=dtype)
        _CACHE[full_key] = tensor
    return tensor


def _window_array(name: str, length: int) -> np.ndarray:
    n = np.arange(length) / length  # periodic windows
    if name in ("hann", "sqrt_hann"):
        w = 0.5 - 0.5 * np.cos(2 * np.pi * n)
        return np.sqrt(w) if name == "sqrt_hann" else w
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n)
    if name == "blackman":
        return 0.42 - 0.5 * np.cos(2 * np.pi * n) + 0.08 * np.cos(4 * np.pi * n)
    if name == "bartlett":
        return 1.0 - np.abs(2.0 * n - 1.0)
    return np.ones(length)


def _window(cfg: STFTConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = ("window", cfg.window, cfg.win_size)
    return _cached(key, device, dtype, lambda: _window_array(cfg.window, cfg.win_size))


def _real_tensor(x: Any, name: str) -> torch.Tensor:
    """Float tensor (float32 unless already float64) from a tensor or array."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.is_complex():
        raise ValueError(f"{name}: expected a real tensor, got {t.dtype}")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def _check_spec(spec: torch.Tensor, cfg: STFTConfig, name: str) -> None:
    if spec.ndim < 2 or spec.shape[-2] != cfg.n_freqs:
        raise ValueError(
            f"{name}: expected shape (..., {cfg.n_freqs}, frames) for n_fft={cfg.n_fft}, got {tuple(spec.shape)}"
        )


# ------------------------------------------------------------------------------------------- STFT pair


def num_frames(n_samples: int, cfg: STFTConfig) -> int:
    """How many STFT frames `stft` makes from n_samples (torch.stft's rule, odd n_fft included)."""
    padded = n_samples + 2 * (cfg.n_fft // 2) if cfg.center else n_samples
    return 0 if padded < cfg.n_fft else 1 + (padded - cfg.n_fft) // cfg.hop_length


def num_samples(n_frames: int, cfg: STFTConfig) -> int:
    """The shortest signal length that gives n_frames frames (what istft returns without `length`)."""
    trimmed = 2 * (cfg.n_fft // 2) if cfg.center else 0
    return max(n_frames - 1, 0) * cfg.hop_length + cfg.n_fft - trimmed


def stft(wave: torch.Tensor | np.ndarray, cfg: STFTConfig) -> torch.Tensor:
    """(..., T) real -> (..., F, N) complex, unnormalised, zero-padded (see STFTConfig)."""
    x = _real_tensor(wave, "stft")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"stft: expected a (..., samples) waveform with samples, got shape {tuple(x.shape)}")
    if not cfg.center and x.shape[-1] < cfg.n_fft:
        raise ValueError(f"stft: center=False needs at least n_fft={cfg.n_fft} samples, got {x.shape[-1]}")
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_size,
        window=_window(cfg, x.device, x.dtype),
        center=cfg.center,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


class _FrameOps:
    """stft / istft for one signal length and frame count, laid out (B, N, F) (Griffin-Lim's inner loop).

    Overlap-add is ceil(n_fft / hop) strided adds (torch.istft's fold is ~3x slower on CPU), and the window
    envelope it divides by is computed once per object, so Griffin-Lim pays for it once, not per iteration.
    """

    def __init__(
        self,
        cfg: STFTConfig,
        length: int,
        device: torch.device,
        dtype: torch.dtype,
        n_frames: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.length = length
        self.pad = cfg.n_fft // 2 if cfg.center else 0
        self.n_frames = num_frames(length, cfg) if n_frames is None else n_frames
        self.chunks = -(-cfg.n_fft // cfg.hop_length)  # frame length in hops, rounded up
        self.n_hops = max(self.n_frames + self.chunks - 1, -(-(self.pad + length) // cfg.hop_length))
        left = (cfg.n_fft - cfg.win_size) // 2
        self.window = _cached(
            ("full_window", cfg.window, cfg.win_size, cfg.n_fft),
            device,
            dtype,
            lambda: np.pad(_window_array(cfg.window, cfg.win_size), (left, cfg.n_fft - cfg.win_size - left)),
        )
        frames = (self.window * self.window).expand(1, self.n_frames, cfg.n_fft)
        envelope = self._overlap_add(frames)[0]
        self.inv_envelope = torch.where(envelope > 1e-11, 1.0 / envelope.clamp(min=1e-11), 0.0)

    def analysis(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, N, F) complex."""
        padded = torch.nn.functional.pad(wave, (self.pad, self.pad)) if self.pad else wave
        return torch.fft.rfft(padded.unfold(-1, self.cfg.n_fft, self.cfg.hop_length) * self.window, dim=-1)

    def synthesis(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, N, F) complex -> (B, T): windowed overlap-add, divided by the summed squared window."""
        frames = torch.fft.irfft(spec, n=self.cfg.n_fft, dim=-1) * self.window
        return self._overlap_add(frames) * self.inv_envelope

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        hop, chunks = self.cfg.hop_length, self.chunks
        extra = chunks * hop - self.cfg.n_fft
        if extra:
            frames = torch.nn.functional.pad(frames, (0, extra))
        b, n = frames.shape[0], frames.shape[1]
        frames = frames.reshape(b, n, chunks, hop)
        out = frames.new_zeros(b, self.n_hops, hop)
        for j in range(chunks):
            out[:, j : j + n] += frames[:, :, j]
        return out.reshape(b, -1)[:, self.pad : self.pad + self.length]


def istft(spec: torch.Tensor, cfg: STFTConfig, length: int | None = None) -> torch.Tensor:
    """(..., F, N) complex -> (..., T) by windowed overlap-add (least-squares inverse of `stft`).

    Without `length` the result has num_samples(N) samples; pass the original length to get it back exactly.
    Same result as torch.istft (tests check), computed with strided adds, which is ~2x faster on CPU and
    returns 0 instead of failing where no window covers a sample (center=False edges). Differentiable.
    """
    if not spec.is_complex():
        raise ValueError(f"istft: expected a complex spectrogram, got {spec.dtype}; see inverse_with_phase")
    _check_spec(spec, cfg, "istft")
    lead, n = spec.shape[:-2], spec.shape[-1]
    real_dtype = torch.float64 if spec.dtype == torch.complex128 else torch.float32
    length = num_samples(n, cfg) if length is None else length
    if length < 0 or (length > 0 and n == 0):
        raise ValueError(f"istft: cannot make {length} samples from {n} frames")
    if length == 0:
        return torch.zeros(*lead, 0, dtype=real_dtype, device=spec.device)
    ops = _FrameOps(cfg, length, spec.device, real_dtype, n_frames=n)
    return ops.synthesis(spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)).reshape(*lead, length)


# ---------------------------------------------------------------------------------------- magnitudes, dB


def amplitude_to_db(mag: torch.Tensor, floor_db: float = -100.0) -> torch.Tensor:
    """20 * log10(|mag|), floored at the absolute level floor_db (so silence maps to floor_db, not -inf)."""
    mag = mag.abs() if mag.is_complex() else mag
    return 20.0 * torch.log10(torch.clamp(mag, min=10.0 ** (floor_db / 20.0)))


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    """Inverse of amplitude_to_db (above the floor)."""
    return torch.pow(10.0, db / 20.0)


def sharpen_db(db: torch.Tensor, amount: float, width: int = 9) -> torch.Tensor:
    """Postfilter for decoded (..., F, N) dB spectrograms: peaks up, valleys down, each frame's power kept.

    db + amount * (db - its moving average over `width` bins), then a per-frame gain restores the frame's
    power. Decoders trained on squared error blur harmonics and formants toward their mean; speech codecs
    (Codec 2 among them) sharpen them back so that voiced speech sounds less muffled. amount 0 returns db.
    """
    if amount < 0 or width < 1 or width % 2 == 0:
        raise ValueError(f"sharpen_db needs amount >= 0 and an odd width >= 1, got {amount}, {width}")
    if amount == 0:
        return db
    images = db.reshape(-1, 1, db.shape[-2], db.shape[-1])  # mean over `width` bins, frame by frame
    local = torch.nn.functional.avg_pool2d(images, (width, 1), 1, (width // 2, 0), count_include_pad=False)
    local = local.reshape(db.shape)
    out = db + amount * (db - local)
    gain_db = 10.0 * (
        torch.log10(torch.pow(10.0, db / 10.0).sum(-2, keepdim=True))
        - torch.log10(torch.pow(10.0, out / 10.0).sum(-2, keepdim=True))
    )
    return out + gain_db


def log_magnitude(wave: torch.Tensor | np.ndarray, cfg: STFTConfig, floor_db: float = -100.0) -> torch.Tensor:
    """(..., T) -> (..., F, N) dB magnitude: what the models see."""
    return amplitude_to_db(stft(wave, cfg).abs(), floor_db)


def inverse_with_phase(
    magnitude: torch.Tensor,
    phase_source: torch.Tensor,
    cfg: STFTConfig,
    length: int | None = None,
) -> torch.Tensor:
    """Waveform from a magnitude and a borrowed phase (the noisy mixture's, for denoising and separation).

    `phase_source` is either a complex spectrogram (its angle is used; zero bins count as phase 0) or real
    phase angles in radians; it must broadcast against `magnitude`. Negative magnitudes are clamped to 0.
    """
    _check_spec(magnitude, cfg, "inverse_with_phase")
    mag = _real_tensor(magnitude, "inverse_with_phase magnitude").clamp(min=0.0)
    angle = phase_source.angle() if phase_source.is_complex() else phase_source
    angle = angle.to(device=mag.device, dtype=mag.dtype)
    mag, angle = torch.broadcast_tensors(mag, angle)
    return istft(torch.polar(mag.contiguous(), angle.contiguous()), cfg, length)


# ------------------------------------------------------------------------------------------ Griffin-Lim


def spectral_convergence(magnitude: torch.Tensor, wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """||  |STFT(wave)| - magnitude ||_F / || magnitude ||_F per item: how consistent a phase estimate is."""
    rebuilt = stft(wave, cfg).abs()
    n = min(rebuilt.shape[-1], magnitude.shape[-1])
    diff = (rebuilt[..., :n] - magnitude[..., :n]).flatten(-2).norm(dim=-1)
    return diff / magnitude[..., :n].flatten(-2).norm(dim=-1).clamp(min=1e-12)


def _integrated_phase(magnitude: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """Phase estimate from the magnitude alone (Griffin-Lim's starting point): phase-gradient integration.

    For a Gaussian-like window of time-frequency spread lambda (samples^2), the STFT phase derivatives follow
    from the log-magnitude s (Portnoff; Prusa et al. 2017): dphi/dt = (1/lambda) ds/domega + 2 pi omega and
    dphi/domega = -lambda ds/dt. We integrate dphi/dt along time (trapezoid rule), so every bin starts with
    the instantaneous frequency its magnitude implies, which puts Griffin-Lim far closer to a good solution
    than zero or random phase. Returned in torch.stft's convention (phase measured at the frame start).
    """
    n_fft, hop = cfg.n_fft, cfg.hop_length
    lam = 0.25645 * cfg.win_size**2 if cfg.window in ("hann", "sqrt_hann") else cfg.win_size**2 / math.pi
    s = torch.log(magnitude.clamp(min=1e-10))
    ds_dbin = torch.zeros_like(s)
    ds_dbin[..., 1:-1, :] = 0.5 * (s[..., 2:, :] - s[..., :-2, :])
    omega = torch.arange(s.shape[-2], device=s.device, dtype=s.dtype)[:, None] / n_fft  # cycles / sample
    inst_freq = (n_fft / lam) * ds_dbin + 2 * math.pi * omega  # rad / sample at each (bin, frame)
    step = 0.5 * hop * (inst_freq[..., 1:] + inst_freq[..., :-1])
    # The zero column comes from inst_freq, not step: with one frame, step is empty along time.
    centred = torch.cat([torch.zeros_like(inst_freq[..., :1]), torch.cumsum(step, dim=-1)], dim=-1)
    # torch.stft measures phase at the frame start, n_fft // 2 samples before the centre: bin m gains
    # 2 pi m (n_fft // 2) / n_fft  (for even n_fft that is pi m, a sign flip on odd bins).
    shift = 2 * math.pi * omega * (n_fft // 2)
    return centred + shift


def griffin_lim(
    magnitude: torch.Tensor,
    cfg: STFTConfig,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    init_phase: torch.Tensor | str | None = None,
) -> torch.Tensor:
    """Waveform whose STFT magnitude approximates `magnitude` (..., F, N): fast Griffin-Lim.

    Perraudin, Balazs & Sondergaard (2013): t_n = P_mag(P_consistent(c_{n-1})), c_n = t_n + momentum *
    (t_n - t_{n-1}); momentum 0 is classic Griffin-Lim (1984). `init_phase` is a tensor of angles or a complex
    spectrogram, or one of "integrated" (the default: phase integrated from the magnitude's phase gradient,
    see _integrated_phase), "zeros" or "random" (seeded, so results repeat). `length` (the original
    signal length) must be one that gives N frames; without it the output has num_samples(N) samples.
    Runs without autograd (gradients through n_iter projections would cost n_iter x the memory).
    """
    _check_spec(magnitude, cfg, "griffin_lim")
    if n_iter < 0:
        raise ValueError(f"griffin_lim: n_iter must be >= 0, got {n_iter}")
    with torch.no_grad():
        return _fast_griffin_lim(magnitude, cfg, n_iter, momentum, length, init_phase)


def _fast_griffin_lim(
    magnitude: torch.Tensor,
    cfg: STFTConfig,
    n_iter: int,
    momentum: float,
    length: int | None,
    init_phase: torch.Tensor | str | None,
) -> torch.Tensor:
    mag = _real_tensor(magnitude, "griffin_lim magnitude").clamp(min=0.0)
    n = mag.shape[-1]
    if length is None:
        length = num_samples(n, cfg)
    elif num_frames(length, cfg) != n:
        raise ValueError(
            f"griffin_lim: length {length} gives {num_frames(length, cfg)} frames but the magnitude has {n}; "
            "pass the length of the signal the magnitude was computed from"
        )
    lead = mag.shape[:-2]
    angles = _initial_phase(mag, cfg, init_phase)
    ops = _FrameOps(cfg, length, mag.device, mag.dtype)
    target = mag.reshape(-1, *mag.shape[-2:]).transpose(-1, -2).contiguous()  # (B, N, F)
    spec = torch.polar(target, angles.reshape(-1, *mag.shape[-2:]).transpose(-1, -2).contiguous())
    previous = spec
    tiny = torch.finfo(mag.dtype).tiny
    for i in range(n_iter):
        rebuilt = ops.analysis(ops.synthesis(spec))
        # P_mag: keep the rebuilt phase, impose the target magnitude (rsqrt: cheaper than complex abs).
        projected = rebuilt * (torch.rsqrt(rebuilt.real.square() + rebuilt.imag.square() + tiny) * target)
        if momentum and i > 0:
            spec = torch.view_as_complex(
                torch.lerp(torch.view_as_real(previous), torch.view_as_real(projected), 1.0 + momentum)
            )
        else:
            spec = projected
        previous = projected
    return ops.synthesis(previous).reshape(*lead, length)


def _initial_phase(mag: torch.Tensor, cfg: STFTConfig, init: torch.Tensor | str | None) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        angles = init.angle() if init.is_complex() else init
        return torch.broadcast_to(angles.to(device=mag.device, dtype=mag.dtype), mag.shape).contiguous()
    method = "integrated" if init is None else init
    if method == "integrated":
        return _integrated_phase(mag, cfg)
    if method == "zeros":
        return torch.zeros_like(mag)
    if method == "random":
        gen = torch.Generator(device="cpu").manual_seed(0)
        return (2 * math.pi * torch.rand(mag.shape, generator=gen, dtype=mag.dtype)).to(mag.device)
    raise ValueError(f"griffin_lim: init_phase must be a tensor, 'integrated', 'zeros' or 'random'; got {init!r}")


# ------------------------------------------------------------------------------------------------- mel


def hz_to_mel(freq: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Hz -> mel: Slaney's (linear below 1 kHz, log above), or HTK's 2595 log10(1 + f/700) with htk=True."""
    f = np.asarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep
    return np.where(f < min_log_hz, f / f_sp, log_part)


def mel_to_hz(mel: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Inverse of hz_to_mel."""
    m = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m < min_log_mel, m * f_sp, min_log_hz * np.exp(logstep * (m - min_log_mel)))


def _triangles(bin_pos: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Triangles over the points `edges` (len n+2), evaluated at `bin_pos` (same axis): (n, F).

    A row that no bin falls inside (band narrower than the bin spacing) gets weight 1 on its nearest bin, so
    no output channel is dead.
    """
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_pos[None, :] - lower) / (centre - lower)
    falling = (upper - bin_pos[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    for row in np.flatnonzero(weights.sum(axis=1) <= 0):
        weights[row, np.argmin(np.abs(bin_pos - edges[row + 1]))] = 1.0
    return weights


def _mel_fb_array(cfg: STFTConfig, n_mels: int, f_min: float, f_max: float, norm: str | None, htk: bool) -> np.ndarray:
    mel_edges = np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2)
    hz_edges = mel_to_hz(mel_edges, htk)
    weights = _triangles(cfg.bin_frequencies(), hz_edges)
    if norm == "slaney":
        weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights


def _mel_args(cfg: STFTConfig, n_mels: int, f_min: float, f_max: float | None, norm: str | None) -> float:
    f_max = cfg.sample_rate / 2 if f_max is None else f_max
    if n_mels <= 0 or not 0.0 <= f_min < f_max <= cfg.sample_rate / 2:
        raise ValueError(
            f"mel: need n_mels > 0 and 0 <= f_min < f_max <= {cfg.sample_rate / 2} Hz, got n_mels={n_mels}, "
            f"f_min={f_min}, f_max={f_max}"
        )
    if norm not in (None, "slaney"):
        raise ValueError(f"mel: norm must be None or 'slaney', got {norm!r}")
    return f_max


def mel_filterbank(
    cfg: STFTConfig,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    htk: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(n_mels, F) triangular filters, equally spaced on the Slaney mel scale (HTK with htk=True).

    norm=None (default): triangles peak at 1, so between the first and last centre the rows sum to 1 at each
    bin (a partition of unity: a flat spectrum keeps its level). norm="slaney": each triangle has unit area
    in Hz instead (librosa's default), which evens out energy per band.
    """
    f_max = _mel_args(cfg, n_mels, f_min, f_max, norm)
    key = ("mel", cfg.sample_rate, cfg.n_fft, n_mels, float(f_min), float(f_max), norm, htk)
    return _cached(
        key,
        torch.device(device or "cpu"),
        dtype,
        lambda: _mel_fb_array(cfg, n_mels, f_min, f_max, norm, htk),
    )


def mel_spectrogram(
    wave: torch.Tensor | np.ndarray,
    cfg: STFTConfig,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    htk: bool = False,
) -> torch.Tensor:
    """(..., T) -> (..., n_mels, N) mel-weighted STFT magnitude (not power, not dB: apply amplitude_to_db)."""
    mag = stft(wave, cfg).abs()
    fb = mel_filterbank(cfg, n_mels, f_min, f_max, norm, htk, device=mag.device, dtype=mag.dtype)
    return torch.matmul(fb, mag)


def mel_to_magnitude(
    mel: torch.Tensor,
    cfg: STFTConfig,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    htk: bool = False,
) -> torch.Tensor:
    """(..., n_mels, N) -> (..., F, N) linear magnitude: pseudo-inverse of the filterbank, clamped at 0.

    n_mels is read from mel.shape[-2]; the other settings must match the forward call. Bins outside
    [f_min, f_max] come back as 0. Pair with griffin_lim for a waveform.
    """
    mel = _real_tensor(mel, "mel_to_magnitude")
    n_mels = mel.shape[-2]
    f_max = _mel_args(cfg, n_mels, f_min, f_max, norm)
    key = ("mel_pinv", cfg.sample_rate, cfg.n_fft, n_mels, float(f_min), float(f_max), norm, htk)
    pinv = _cached(
        key,
        mel.device,
        mel.dtype,
        lambda: np.linalg.pinv(_mel_fb_array(cfg, n_mels, f_min, f_max, norm, htk), rcond=1e-6),
    )
    return torch.matmul(pinv, mel).clamp(min=0.0)


# ----------------------------------------------------------------------------------------------- rate K


def rate_k_frequencies(k: int = 20, f_min: float = 200.0, f_max: float = 3700.0) -> np.ndarray:
    """The K sample frequencies (Hz) of Codec 2 newamp1: equally spaced in mel, 2595 log10(1 + f/700)."""
    if k < 2 or not 0.0 <= f_min < f_max:
        raise ValueError(f"rate_k: need k >= 2 and 0 <= f_min < f_max; got k={k}, f_min={f_min}, f_max={f_max}")
    return mel_to_hz(np.linspace(hz_to_mel(f_min, htk=True), hz_to_mel(f_max, htk=True), k), htk=True)


def _check_rate_k_band(cfg: STFTConfig, f_max: float) -> None:
    if f_max > cfg.sample_rate / 2:
        raise ValueError(f"rate_k: f_max {f_max} Hz is above the Nyquist frequency {cfg.sample_rate / 2} Hz")


def _rate_k_bands(cfg: STFTConfig, k: int, f_min: float, f_max: float) -> np.ndarray:
    """(K, F) weights, each row a triangle in mel between neighbouring sample points, summing to 1."""
    centres = hz_to_mel(rate_k_frequencies(k, f_min, f_max), htk=True)
    step = centres[1] - centres[0]
    edges = np.concatenate([[centres[0] - step], centres, [centres[-1] + step]])
    weights = _triangles(hz_to_mel(cfg.bin_frequencies(), htk=True), edges)
    return weights / weights.sum(axis=1, keepdims=True)


def rate_k(
    magnitude: torch.Tensor,
    cfg: STFTConfig,
    k: int = 20,
    f_min: float = 200.0,
    f_max: float = 3700.0,
    floor_db: float = -100.0,
    peak_hz: float = 0.0,
) -> torch.Tensor:
    """(..., F, N) magnitude -> (..., K, N) dB: Codec 2 newamp1-style rate-K spectral envelope.

    The K points are mel-spaced over [f_min, f_max] (newamp1's K=20, 200-3700 Hz). Each value is the mean
    power of a mel triangle around its point (between the neighbouring points), in dB on the magnitude's
    scale, so a flat spectrum of level L dB gives L everywhere. Averaging over a band, unlike newamp1's
    sampling at harmonics, needs no pitch estimate and does not fall into the gaps between harmonics.

    peak_hz > 0 first replaces each bin's power by the largest within +-peak_hz (a running maximum over
    frequency): the envelope then runs through the harmonic peaks, as newamp1's harmonic amplitudes do, instead
    of averaging in the dips between harmonics. Below ~300 Hz of spacing the low triangles are narrower than
    the harmonic spacing, so their plain means rise and fall with the pitch (noise an envelope coder must pay
    for); with +-156 Hz any pitch up to ~310 Hz has a harmonic in every window.
    """
    _check_spec(magnitude, cfg, "rate_k")
    _check_rate_k_band(cfg, f_max)
    if not peak_hz >= 0:
        raise ValueError(f"rate_k: peak_hz must be >= 0, got {peak_hz}")
    mag = magnitude.abs() if magnitude.is_complex() else _real_tensor(magnitude, "rate_k")
    key = ("rate_k", cfg.sample_rate, cfg.n_fft, k, float(f_min), float(f_max))
    bands = _cached(key, mag.device, mag.dtype, lambda: _rate_k_bands(cfg, k, f_min, f_max))
    half = round(peak_hz * cfg.n_fft / cfg.sample_rate)
    if half > 0:
        flat = mag.reshape(-1, *mag.shape[-2:]).transpose(-1, -2)  # (B, N, F): pool over frequency
        mag = torch.nn.functional.max_pool1d(flat, 2 * half + 1, 1, half).transpose(-1, -2).reshape(mag.shape)
    power = torch.matmul(bands, mag * mag)
    return 10.0 * torch.log10(power.clamp(min=10.0 ** (floor_db / 10.0)))


def _rate_k_interp(cfg: STFTConfig, k: int, f_min: float, f_max: float) -> np.ndarray:
    """(F, K) linear interpolation in mel from the K points to each bin; constant beyond the end points."""
    centres = hz_to_mel(rate_k_frequencies(k, f_min, f_max), htk=True)
    pos = (hz_to_mel(cfg.bin_frequencies(), htk=True) - centres[0]) / (centres[1] - centres[0])
    pos = np.clip(pos, 0.0, k - 1)
    low = np.minimum(np.floor(pos).astype(int), k - 2)
    frac = pos - low
    interp = np.zeros((cfg.n_freqs, k))
    rows = np.arange(cfg.n_freqs)
    interp[rows, low] = 1.0 - frac
    interp[rows, low + 1] += frac
    return interp


def rate_k_to_magnitude(
    rate_k_db: torch.Tensor,
    cfg: STFTConfig,
    f_min: float = 200.0,
    f_max: float = 3700.0,
) -> torch.Tensor:
    """(..., K, N) dB -> (..., F, N) linear magnitude: the envelope interpolated back over frequency.

    Linear interpolation of dB in mel between the K points (the hat functions `rate_k` averages with), held
    constant below f_min and above f_max. K is read from rate_k_db.shape[-2]. It is a smooth envelope with
    no harmonic structure: pair with an excitation or with griffin_lim.
    """
    db = _real_tensor(rate_k_db, "rate_k_to_magnitude")
    if db.ndim < 2:
        raise ValueError(f"rate_k_to_magnitude: expected (..., K, frames), got shape {tuple(db.shape)}")
    _check_rate_k_band(cfg, f_max)
    k = db.shape[-2]
    key = ("rate_k_interp", cfg.sample_rate, cfg.n_fft, k, float(f_min), float(f_max))
    interp = _cached(key, db.device, db.dtype, lambda: _rate_k_interp(cfg, k, f_min, f_max))
    return db_to_amplitude(torch.matmul(interp, db))
