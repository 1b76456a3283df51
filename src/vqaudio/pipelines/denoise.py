"""Denoiser: noisy speech in, the speech out, through a VQ U-Net on the STFT magnitude with the mixture's phase."""

from __future__ import annotations

import torch
from torch import nn

from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.runner import FrameWindow, OutputPiece


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
        self.runner = self.chunked_runner(chunk_seconds, context_seconds)

    def piece(self, window: FrameWindow) -> OutputPiece:
        # model_features: noisy features -> the model's estimate of the speech's; inverted with the noisy phase
        return self.runner.piece(window, self.model_features, use_input_phase=True)

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        return self.runner.run_pieces(mono, self.piece)
