"""Loss terms the training tasks combine. Models return outputs only; these turn outputs and targets into numbers.

Both work on features in the model's normalised domain or in dB, so they serve any front-end.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vqaudio.audio.filterbanks import third_octave_bands

__all__ = [
    "anti_wrapped",
    "frame_weighted_mse",
    "intelligibility_loss",
    "loudest_frames",
    "multi_resolution_stft_loss",
    "phase_derivative_losses",
    "si_sdr_db",
    "spectral_reconstruction_loss",
]


def spectral_reconstruction_loss(
    prediction: Tensor,
    target: Tensor,
    norm_mean: float,
    norm_std: float,
    l1_weight: float = 0.0,
    compressed_weight: float = 0.0,
    compression_power: float = 0.3,
    db_weight: float = 1.0,
) -> Tensor:
    """db_weight x MSE (+ l1_weight x L1) between normalised dB prediction and target, + compressed_weight x the
    relative squared error of power-law compressed magnitudes |X|^compression_power.

    dB weighs every bin alike, the quiet floor included; compressed magnitude weighs loud bins (formants,
    harmonics) above it, as loudness does in the ear and in PESQ. dB = x * norm_std + norm_mean, so
    |X|^p = exp(p * dB / 20 * ln 10); the floor clamp is left out to keep gradients.
    """
    loss = db_weight * F.mse_loss(prediction, target)
    if l1_weight > 0:
        loss = loss + l1_weight * F.l1_loss(prediction, target)
    if compressed_weight > 0:
        scale = compression_power * norm_std / 20.0 * math.log(10.0)
        offset = compression_power * norm_mean / 20.0 * math.log(10.0)
        wanted = torch.exp(target * scale + offset)
        estimate = torch.exp((prediction * scale + offset).clamp(max=30.0))
        relative = F.mse_loss(estimate, wanted) / wanted.pow(2).mean().clamp_min(1e-12)
        loss = loss + compressed_weight * relative
    return loss


def loudest_frames(features_db: Tensor, range_db: float) -> Tensor:
    """(..., K, N) dB features -> (..., N) bool: frames whose energy (10 log10 of the mean band power) lies within
    range_db of the loudest frame of the same example (speech, as opposed to pauses and padding)."""
    energy = 10.0 * torch.log10(torch.pow(10.0, features_db / 10.0).mean(dim=-2))
    return energy >= energy.amax(dim=-1, keepdim=True) - range_db


def frame_weighted_mse(estimate_db: Tensor, target_db: Tensor, weight: Tensor) -> Tensor:
    """Mean over frames of the per-frame MSE in dB² (mean over the K rows), frames weighted by `weight` (..., N)."""
    frame_sq = (estimate_db - target_db).pow(2).mean(dim=-2)
    return (frame_sq * weight).sum() / weight.sum().clamp_min(1e-12)


def si_sdr_db(estimate: Tensor, reference: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """(scale-invariant SDR in dB per example (..., ), which examples count) of waveforms (..., T).

    Both are made zero-mean; the reference is projected out of the estimate (Le Roux et al. 2019). Examples whose
    reference is digital silence (a crop of a pause) have no SI-SDR: they are marked False and should be left out.
    """
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    energy = reference.pow(2).sum(-1, keepdim=True)
    target = (estimate * reference).sum(-1, keepdim=True) / (energy + eps) * reference
    residual = estimate - target
    ratio = target.pow(2).sum(-1) / (residual.pow(2).sum(-1) + eps)
    return 10.0 * torch.log10(ratio + eps), energy[..., 0] > 1e-6


def anti_wrapped(angle: Tensor) -> Tensor:
    """|angle| folded into [0, pi]: the distance on the circle, so 2 pi - eps counts as eps (APNet's anti-wrapping)."""
    return (angle - 2 * math.pi * torch.round(angle / (2 * math.pi))).abs()


def phase_derivative_losses(estimate: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """(instantaneous-frequency error, group-delay error) of phase maps (..., F, N), radians in [0, pi].

    Both compare differences of the phase (along time, along frequency), which a delay of the whole signal leaves
    alone, unlike the phase itself. `weight` (..., F, N) >= 0 weighs each bin (e.g. its compressed magnitude): the
    phase of a bin that is silent does not matter.
    """
    w_time = torch.minimum(weight[..., 1:], weight[..., :-1])
    w_freq = torch.minimum(weight[..., 1:, :], weight[..., :-1, :])
    d_time = anti_wrapped(estimate.diff(dim=-1) - target.diff(dim=-1))
    d_freq = anti_wrapped(estimate.diff(dim=-2) - target.diff(dim=-2))
    return (d_time * w_time).sum() / w_time.sum().clamp_min(1e-8), (d_freq * w_freq).sum() / w_freq.sum().clamp_min(
        1e-8
    )


def multi_resolution_stft_loss(
    estimate: Tensor, target: Tensor, resolutions: tuple[tuple[int, int], ...], eps: float = 1e-5
) -> Tensor:
    """Mean over (n_fft, hop) resolutions of spectral convergence + L1 of log magnitudes, waveforms (..., T).

    Several resolutions, because a phase that fits at the analysis STFT's resolution can still smear time or
    frequency at another (Yamamoto et al. 2020).
    """
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        window = torch.hann_window(n_fft, device=estimate.device, dtype=estimate.dtype)
        spec_e = torch.stft(estimate.reshape(-1, estimate.shape[-1]), n_fft, hop, window=window, return_complex=True)
        spec_t = torch.stft(target.reshape(-1, target.shape[-1]), n_fft, hop, window=window, return_complex=True)
        mag_e, mag_t = spec_e.abs(), spec_t.abs()
        convergence = torch.linalg.norm(mag_t - mag_e) / torch.linalg.norm(mag_t).clamp_min(eps)
        log_l1 = (torch.log(mag_e + eps) - torch.log(mag_t + eps)).abs().mean()
        total = total + convergence + log_l1
    return total / len(resolutions)


STOI_SEGMENT_SECONDS = 0.384  # STOI's 30 frames of 12.8 ms: the span over which band envelopes are correlated
STOI_CLIP_DB = -15.0  # STOI's lower bound on the signal-to-distortion ratio of a band envelope
STOI_RANGE_DB = 40.0  # frames more than this below the loudest reference frame are silence, which STOI drops


def intelligibility_loss(estimate: Tensor, reference: Tensor, sample_rate: int, segment_stride: int = 4) -> Tensor:
    """1 - a differentiable STOI (Taal et al. 2011) of waveforms (..., T): the mean correlation, over one-third octave
    bands and 384 ms segments of the reference's active frames, of the estimate's band envelopes (scaled to the
    reference's energy in each segment, clipped at -15 dB distortion) with the reference's.

    It scores what SI-SDR and magnitude losses weigh least: the envelopes of the quiet bands and syllables that carry
    intelligibility. It differs from pystoi's STOI where a loss must: the signal stays at its own rate (frames of about
    32 ms, half overlapping), silent frames are dropped from the STFT rather than from the waveform, segments start
    every `segment_stride` frames, and a signal shorter than a segment is scored as one. Items with fewer active frames
    than a segment (a crop of a pause) are left out.
    """
    n_fft = 2 ** round(math.log2(0.032 * sample_rate))
    hop = n_fft // 2
    if estimate.shape[-1] < n_fft + hop:
        raise ValueError(f"intelligibility_loss: need at least {n_fft + hop} samples (two frames) per item")
    bands = torch.as_tensor(third_octave_bands(sample_rate, n_fft), dtype=estimate.dtype, device=estimate.device)
    window = torch.hann_window(n_fft, device=estimate.device, dtype=estimate.dtype)

    def envelopes(wave: Tensor) -> Tensor:  # (B', J, N): each band's magnitude per frame
        flat = wave.reshape(-1, wave.shape[-1])
        spec = torch.stft(flat, n_fft, hop, window=window, center=False, return_complex=True)
        return (bands @ spec.abs().pow(2)).clamp_min(1e-12).sqrt()

    est, ref = envelopes(estimate), envelopes(reference)
    frames = min(max(2, round(STOI_SEGMENT_SECONDS * sample_rate / hop)), ref.shape[-1])
    # STOI's silent frames (over 40 dB below the loudest) moved to the end, the active ones kept in order
    frame_db = 10.0 * torch.log10(ref.pow(2).sum(-2).clamp_min(1e-20))  # (B', N)
    active = frame_db > frame_db.amax(-1, keepdim=True) - STOI_RANGE_DB
    active &= frame_db > -100.0  # digital silence (envelopes at their 1e-12 floor, -108 dB) has none
    order = torch.argsort((~active).to(torch.int8), dim=-1, stable=True).unsqueeze(-2).expand_as(ref)
    est_seg = est.gather(-1, order).unfold(-1, frames, segment_stride)  # (B', J, S, frames)
    ref_seg = ref.gather(-1, order).unfold(-1, frames, segment_stride)
    starts = torch.arange(est_seg.shape[-2], device=ref.device) * segment_stride
    valid = (starts[None, :] + frames <= active.sum(-1, keepdim=True)).to(ref.dtype)  # (B', S): active frames only
    scale = ref_seg.norm(dim=-1, keepdim=True) / est_seg.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    clipped = torch.minimum(est_seg * scale, ref_seg * (1.0 + 10.0 ** (-STOI_CLIP_DB / 20.0)))
    x = ref_seg - ref_seg.mean(-1, keepdim=True)
    y = clipped - clipped.mean(-1, keepdim=True)
    corr = (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1)).clamp_min(1e-8)  # (B', J, S)
    per_item = (corr.mean(-2) * valid).sum(-1) / valid.sum(-1).clamp_min(1.0)
    counted = valid.sum(-1) > 0
    if not bool(counted.any()):
        return est.sum() * 0.0  # nothing to score; keeps the graph
    return 1.0 - per_item[counted].mean()
