"""The shared chunked runner and pipeline base: seamless chunk joins, exact overlap-add, any input shape."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from vqaudio.audio import (
    FrameOverlapAdd,
    LogMagnitudeFrontEnd,
    STFTConfig,
    griffin_lim,
    griffin_lim_frames,
    istft,
    num_frames,
    stft,
)
from vqaudio.data.synth import synth_speech
from vqaudio.models import VAE, VQVAE, EnvelopeVQVAE, EnvelopeVQVAEConfig, VAEConfig, VQVAEConfig
from vqaudio.pipelines import ChunkedRunner, Codec, Reconstructor, TrueMagnitudeGriffinLim
from vqaudio.pipelines.base import Pipeline

CFG = STFTConfig()


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def frame_errors_db(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Per-frame RMS over frequency of the dB magnitude difference, on frames within 40 dB of the loudest."""
    ref = 20 * torch.log10(stft(torch.from_numpy(reference), CFG).abs().clamp_min(1e-5))
    est = 20 * torch.log10(stft(torch.from_numpy(estimate), CFG).abs().clamp_min(1e-5))
    err = (est - ref).pow(2).mean(0).sqrt()
    loud = ref.amax(0) > ref.amax() - 40
    return torch.where(loud, err, torch.nan).numpy()


def test_sixty_seconds_chunked_has_no_seams_and_matches_whole() -> None:
    """A 60 s file in 5 s chunks: near the joins the spectrum is as close to the input's as elsewhere, and as
    close as a single whole-file pass gets (phase carried across joins). Bound: 0.5 dB."""
    wave = np.concatenate([synth_speech(6.0, 8000, seed=s) for s in range(10)])
    assert wave.size == 60 * 8000
    chunked = TrueMagnitudeGriffinLim(n_iter=16, chunk_seconds=5.0)(wave, 8000)
    whole = TrueMagnitudeGriffinLim(n_iter=16, chunk_seconds=100.0)(wave, 8000)
    assert chunked.shape == whole.shape == wave.shape
    err_chunked, err_whole = frame_errors_db(wave, chunked), frame_errors_db(wave, whole)
    fps = CFG.frames_per_second
    near = np.zeros(err_chunked.shape, dtype=bool)
    for join in range(1, 12):
        at = round(join * 5 * fps)
        near[at - 4 : at + 5] = True
    near_joins = np.nanmean(err_chunked[near])
    away = np.nanmean(err_chunked[~near])
    assert near_joins < away + 0.5, (near_joins, away)
    assert near_joins < np.nanmean(err_whole[near]) + 0.5
    assert abs(np.nanmean(err_chunked) - np.nanmean(err_whole)) < 0.5


def test_given_phase_chunked_output_equals_whole_exactly() -> None:
    """With the input's phase the runner's overlap-add is exact: identity features come back as the input."""
    front_end = LogMagnitudeFrontEnd(CFG, floor_db=-300.0)
    wave = torch.from_numpy(synth_speech(3.1, 8000, seed=2))
    runner = ChunkedRunner(front_end, chunk_frames=37, context_frames=3)
    out = runner.run(wave, lambda features: torch.stack([features, features - 6.0206]), use_input_phase=True)
    assert out.shape == (2, wave.shape[-1])  # two outputs per input: (S, T)
    torch.testing.assert_close(out[0], wave, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], wave / 2, atol=1e-5, rtol=0)


def test_frame_overlap_add_in_runs_equals_istft() -> None:
    wave = torch.randn(2, 3001, generator=torch.Generator().manual_seed(0))
    spec = stft(wave, CFG)
    ola = FrameOverlapAdd(CFG, 3001, lead=(2,))
    for first in (30, 0, 11):  # any order, any run lengths
        last = {0: 11, 11: 30, 30: spec.shape[-1]}[first]
        ola.add(first, spec[..., first:last])
    torch.testing.assert_close(ola.result(), istft(spec, CFG, 3001), atol=1e-5, rtol=0)
    torch.testing.assert_close(ola.result(), wave, atol=1e-5, rtol=0)


def test_griffin_lim_frames_over_a_whole_signal_is_griffin_lim() -> None:
    wave = torch.from_numpy(synth_speech(0.7, 8000, seed=1))
    mag = stft(wave, CFG).abs()
    frames = griffin_lim_frames(mag, CFG, first_frame=0, signal_length=wave.shape[-1], n_iter=8)
    torch.testing.assert_close(istft(frames, CFG, wave.shape[-1]), griffin_lim(mag, CFG, n_iter=8, length=5600))
    with pytest.raises(ValueError, match="known"):
        griffin_lim_frames(mag, CFG, 0, 5600, known=torch.zeros(3, 2, dtype=torch.complex64))


def test_runner_plan_is_aligned_and_covers_every_frame() -> None:
    runner = ChunkedRunner(LogMagnitudeFrontEnd(CFG), chunk_frames=10, context_frames=3, align=4)
    assert runner.chunk_frames == 12 and runner.context_frames == 4
    plan = runner.plan(50)
    assert plan[0][0] == 0 and plan[-1][1] == 50 and all(a % 4 == 0 for a, _ in plan)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(plan))
    wave = torch.randn(4000)
    window = next(iter(runner.windows(wave)))
    spec = runner.spectrogram(wave, 5, 17)
    torch.testing.assert_close(spec, stft(wave, CFG)[:, 5:17])  # frames cut from the middle are the whole's
    assert window.spectrogram.shape[-1] == window.stop - window.start == 16
    assert num_frames(4000, CFG) == 63


def tiny(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    small = {"hidden_channels": 16, "n_res_blocks": 1, "n_downsample": 1, "latent_dim": 8}
    if kind == "vqvae":
        return VQVAE(VQVAEConfig(**small, codebook_size=16, n_stages=2))
    if kind == "vae":
        return VAE(VAEConfig(**small))
    return EnvelopeVQVAE(EnvelopeVQVAEConfig(**{**small, "latent_dim": 4}, codebook_size=8))


@pytest.mark.parametrize("kind", ["vqvae", "vae", "envelope"])
def test_reconstructor_runs_every_model_kind_on_every_input_shape(kind: str) -> None:
    rec = Reconstructor(tiny(kind), griffin_lim_iters=2)
    wave = synth_speech(0.5, 8000, seed=0)
    mono = rec(wave, 8000)
    assert isinstance(mono, np.ndarray) and mono.shape == wave.shape and np.isfinite(mono).all()
    batch = torch.from_numpy(np.stack([wave, wave * 0.5]))[None].repeat(3, 1, 1)  # (B, C, T)
    out = rec(batch, 8000)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 2, wave.size) and out.dtype == torch.float32
    torch.testing.assert_close(out[0, 0], torch.from_numpy(mono))
    resampled = rec(wave[None], 16000)  # any rate: back at the input's rate and length
    assert resampled.shape == (1, wave.size)


def test_codec_codes_an_envelope_model_and_refuses_a_vae_by_name() -> None:
    codec = Codec(tiny("envelope"), griffin_lim_iters=2)
    wave = synth_speech(0.6, 8000, seed=1)
    decoded, rate = codec.decode(codec.encode(wave, 8000))
    assert rate == 8000 and decoded.shape == wave.shape and np.isfinite(decoded).all()
    with pytest.raises(ValueError, match=r"Codec cannot run a 'vae' model.*use Reconstructor"):
        Codec(tiny("vae"))
    with pytest.raises(ValueError, match="encode: one recording"):
        codec.encode(np.zeros((2, 1, 800), dtype=np.float32), 8000)


def test_pipeline_errors_are_clear() -> None:
    rec = Reconstructor(tiny("vae"), griffin_lim_iters=1)
    with pytest.raises(ValueError, match="sample rate"):
        rec(np.zeros(800, dtype=np.float32), 0)
    with pytest.raises(ValueError, match="batch, channels, samples"):
        rec(np.zeros((1, 1, 1, 800), dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="NaN"):
        rec(torch.full((800,), float("nan")), 8000)
    with pytest.raises(ValueError, match="no default shipped model"):
        Pipeline.from_pretrained()


def test_reconstructor_from_pretrained_loads_the_shipped_default() -> None:
    from vqaudio.assets import pretrained_names

    if "reconstruct-vqvae-8k" not in pretrained_names():
        pytest.skip("no shipped reconstruct-vqvae-8k in this build")
    rec = Reconstructor.from_pretrained(griffin_lim_iters=1)
    assert rec.model_type == "vqvae" and rec.sample_rate == 8000


class _TwoStems(Pipeline):
    """A pipeline with two outputs per input: the input and its negation (stand-in for a separator)."""

    model_types = ("vae",)

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        return torch.stack([mono, -mono])


def test_several_outputs_come_first_for_every_input_shape_and_rate() -> None:
    stems = _TwoStems(tiny("vae"))
    wave = synth_speech(0.3, 8000, seed=3)
    assert stems(wave, 8000).shape == (2, wave.size)
    stereo = np.stack([wave, 0.5 * wave])
    out = stems(stereo, 16000)  # resampled to 8 kHz and back, per stem
    assert out.shape == (2, 2, wave.size)
    batch = torch.from_numpy(stereo)[None].repeat(3, 1, 1)
    out = stems(batch, 8000)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 2, wave.size)
    torch.testing.assert_close(out[1], -batch)


def test_runner_memory_is_one_chunk_whatever_the_length() -> None:
    runner = ChunkedRunner(LogMagnitudeFrontEnd(CFG), chunk_frames=64, context_frames=8, griffin_lim_iters=1)
    seen: list[int] = []

    def record(features: torch.Tensor) -> torch.Tensor:
        seen.append(features.shape[-1])
        return features

    wave = torch.from_numpy(synth_speech(20.0, 8000, seed=6))
    out = runner.run(wave, record, use_input_phase=False)
    assert out.shape == wave.shape and torch.isfinite(out).all()
    assert max(seen) == 64 + 2 * 8 and len(seen) == -(-num_frames(wave.shape[-1], CFG) // 64)
