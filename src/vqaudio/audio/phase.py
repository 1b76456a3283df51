"""Phase reconstruction: a waveform from an STFT magnitude alone (fast Griffin-Lim, phase-gradient start).

`griffin_lim` rebuilds a whole signal; `griffin_lim_frames` works on any run of frames of a longer signal and
returns the complex frames, so a chunked runner can carry the phase from one chunk into the next.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from vqaudio.audio.stft import STFTConfig, _check_spec, _FrameOps, _real_tensor, num_frames, num_samples

__all__ = ["griffin_lim", "griffin_lim_frames", "integrated_phase"]


def integrated_phase(magnitude: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
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
    see integrated_phase), "zeros" or "random" (seeded, so results repeat). `length` (the original
    signal length) must be one that gives N frames; without it the output has num_samples(N) samples.
    Runs without autograd (gradients through n_iter projections would cost n_iter x the memory).
    """
    _check_spec(magnitude, cfg, "griffin_lim")
    if n_iter < 0:
        raise ValueError(f"griffin_lim: n_iter must be >= 0, got {n_iter}")
    mag = _real_tensor(magnitude, "griffin_lim magnitude")
    n = mag.shape[-1]
    if length is None:
        length = num_samples(n, cfg)
    elif num_frames(length, cfg) != n:
        raise ValueError(
            f"griffin_lim: length {length} gives {num_frames(length, cfg)} frames but the magnitude has {n}; "
            "pass the length of the signal the magnitude was computed from"
        )
    with torch.no_grad():
        ops = _FrameOps(cfg, length, mag.device, mag.dtype)
        spec = _griffin_lim(mag, cfg, ops, n_iter, momentum, init_phase, None)
        return ops.synthesis(spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)).reshape(*mag.shape[:-2], length)


def griffin_lim_frames(
    magnitude: torch.Tensor,
    cfg: STFTConfig,
    first_frame: int,
    signal_length: int,
    n_iter: int = 32,
    momentum: float = 0.99,
    init_phase: torch.Tensor | str | None = None,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """Complex STFT frames (..., F, N) of frames first_frame .. first_frame + N - 1 of a longer signal.

    `magnitude` holds those frames of a signal of `signal_length` samples (frame j is centred on sample
    j * hop_length, as `stft` makes them). Only what is known is imposed: the signal is zero outside
    [0, signal_length), and nothing is assumed about the samples beyond the run's own frames, so runs cut from
    the middle of a file show no edge effects and a run covering a whole file gives what `griffin_lim` gives.
    `init_phase` as in `griffin_lim`. `known` (complex (..., F, m), m <= N) fixes the first m frames to values
    already settled (the end of the previous run of a chunked process): the rest is solved consistent with them,
    so the runs join without a seam.
    Overlap-adding the returned frames of neighbouring runs (`FrameOverlapAdd`) rebuilds the signal.
    """
    _check_spec(magnitude, cfg, "griffin_lim_frames")
    if not cfg.center:
        raise ValueError("griffin_lim_frames: frame positions follow center=True framing; use a centred STFTConfig")
    if n_iter < 0:
        raise ValueError(f"griffin_lim_frames: n_iter must be >= 0, got {n_iter}")
    mag = _real_tensor(magnitude, "griffin_lim_frames magnitude")
    n = mag.shape[-1]
    support = (n - 1) * cfg.hop_length + cfg.n_fft  # samples the run's frames cover
    start = first_frame * cfg.hop_length - cfg.n_fft // 2  # signal index of the support's first sample
    valid = (max(0, -start), max(0, min(support, signal_length - start)))
    with torch.no_grad():
        ops = _FrameOps(replace(cfg, center=False), support, mag.device, mag.dtype, n_frames=n, valid=valid)
        if known is not None:
            if known.shape[:-1] != mag.shape[:-1] or known.shape[-1] > n or not known.is_complex():
                raise ValueError(
                    f"griffin_lim_frames: known must be complex (..., F, m <= {n}) matching the magnitude "
                    f"{tuple(mag.shape)}, got {known.dtype} {tuple(known.shape)}"
                )
            known = known.to(mag.device).reshape(-1, *known.shape[-2:]).transpose(-1, -2)
        return _griffin_lim(mag, cfg, ops, n_iter, momentum, init_phase, known)


def _griffin_lim(
    mag: torch.Tensor,
    cfg: STFTConfig,
    ops: _FrameOps,
    n_iter: int,
    momentum: float,
    init_phase: torch.Tensor | str | None,
    known: torch.Tensor | None,
) -> torch.Tensor:
    """The iteration shared by griffin_lim and griffin_lim_frames: (..., F, N) magnitude -> complex frames.

    `known` ((B, m, F) complex): the first m frames, held at these values through every iteration.
    """
    mag = mag.clamp(min=0.0)
    angles = _initial_phase(mag, cfg, init_phase)
    target = mag.reshape(-1, *mag.shape[-2:]).transpose(-1, -2).contiguous()  # (B, N, F)
    spec = torch.polar(target, angles.reshape(-1, *mag.shape[-2:]).transpose(-1, -2).contiguous())
    m = 0 if known is None else known.shape[-2]
    if m:
        spec[:, :m] = known
    previous = spec
    tiny = torch.finfo(mag.dtype).tiny
    for i in range(n_iter):
        rebuilt = ops.analysis(ops.synthesis(spec))
        # P_mag: keep the rebuilt phase, impose the target magnitude (rsqrt: cheaper than complex abs).
        projected = rebuilt * (torch.rsqrt(rebuilt.real.square() + rebuilt.imag.square() + tiny) * target)
        if m:
            projected[:, :m] = known
        if momentum and i > 0:
            spec = torch.view_as_complex(
                torch.lerp(torch.view_as_real(previous), torch.view_as_real(projected), 1.0 + momentum)
            )
        else:
            spec = projected
        previous = projected
    return previous.transpose(-1, -2).reshape(mag.shape)


def _initial_phase(mag: torch.Tensor, cfg: STFTConfig, init: torch.Tensor | str | None) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        angles = init.angle() if init.is_complex() else init
        return torch.broadcast_to(angles.to(device=mag.device, dtype=mag.dtype), mag.shape).contiguous()
    method = "integrated" if init is None else init
    if method == "integrated":
        return integrated_phase(mag, cfg)
    if method == "zeros":
        return torch.zeros_like(mag)
    if method == "random":
        gen = torch.Generator(device="cpu").manual_seed(0)
        return (2 * math.pi * torch.rand(mag.shape, generator=gen, dtype=mag.dtype)).to(mag.device)
    raise ValueError(f"griffin_lim: init_phase must be a tensor, 'integrated', 'zeros' or 'random'; got {init!r}")
