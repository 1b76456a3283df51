"""Denoiser: noisy speech in, the speech out, through a VQ U-Net on the STFT magnitude with the mixture's phase."""

from __future__ import annotations

import torch
from torch import nn

from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.runner import ChunkedRunner


class Denoiser(Pipeline):
    """Removes noise from speech: any length (the shared chunked runner), rate, channel count, numpy or torch.

    The model maps the noisy dB magnitude to the speech's (a bounded mask for the shipped model); the waveform is
    rebuilt with the noisy input's own phase, so the output is aligned sample for sample with the input (no delay).
    Each channel is denoised on its own at the model's rate and resampled back.
    """

    model_types = ("vqunet",)
    default_model = "denoise-16k"

    def __init__(
        self,
        model: nn.Module,
        chunk_seconds: float = 10.0,
        context_seconds: float = 0.5,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(model, device)
        fps = self.front_end.stft.frames_per_second
        self.runner = ChunkedRunner(
            self.front_end,
            chunk_frames=round(chunk_seconds * fps),
            context_frames=round(context_seconds * fps),
            align=int(model.config.downsample_factor),
            device=self.device,
        )

    def denoise_features(self, noisy_features: torch.Tensor) -> torch.Tensor:
        """Noisy features (..., F, N) -> the model's estimate of the speech's features (no gradients)."""
        with torch.inference_mode():
            return self.model(noisy_features.to(self.device)).reconstruction_db

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        return self.runner.run(mono, self.denoise_features, use_input_phase=True)
