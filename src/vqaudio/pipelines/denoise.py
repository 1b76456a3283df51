"""Denoiser: noisy speech in, the speech out, through a VQ U-Net on the STFT magnitude with the mixture's phase."""

from __future__ import annotations

import math

import torch
from torch import nn

from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.runner import FrameWindow, OutputPiece


class Denoiser(Pipeline):
    """Removes noise from speech: any length (the shared chunked runner), rate, channel count, numpy or torch.

    The model maps the noisy dB magnitude to the speech's (a bounded mask for the shipped model); the waveform is
    rebuilt with the noisy input's own phase, so the output is aligned sample for sample with the input (no delay).
    Each channel is denoised on its own at the model's rate and resampled back. `max_attenuation_db` (None: the
    model's own range) limits how far any bin is turned down, e.g. 20: a floor of residual noise that masks what
    hard suppression leaves behind (isolated bins of "musical" noise, clipped speech onsets).
    """

    model_types = ("vqunet",)
    default_model = "denoise-16k"

    def __init__(
        self,
        model: nn.Module,
        chunk_seconds: float = 10.0,
        context_seconds: float = 0.5,
        device: str | torch.device = "cpu",
        max_attenuation_db: float | None = None,
    ) -> None:
        if max_attenuation_db is not None and not (math.isfinite(max_attenuation_db) and max_attenuation_db > 0):
            raise ValueError(f"max_attenuation_db must be a number of dB > 0 (or None), got {max_attenuation_db}")
        super().__init__(model, device)
        self.max_attenuation_db = max_attenuation_db
        self.runner = self.chunked_runner(chunk_seconds, context_seconds)

    def piece(self, window: FrameWindow) -> OutputPiece:
        # noisy features -> the model's estimate of the speech's; inverted with the noisy phase
        return self.runner.piece(window, self.limited_features, use_input_phase=True)

    def limited_features(self, features: torch.Tensor) -> torch.Tensor:
        """The model's estimate (dB magnitude), no bin more than `max_attenuation_db` below the noisy input's."""
        estimate = self.model_features(features)
        if self.max_attenuation_db is None:
            return estimate
        return torch.maximum(estimate, features.to(estimate.device) - self.max_attenuation_db)

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        return self.runner.run_pieces(mono, self.piece)
