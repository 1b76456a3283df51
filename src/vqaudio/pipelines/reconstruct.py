"""Reconstructor: audio through a trained autoencoder and back to a waveform (waveform in, waveform out)."""

from __future__ import annotations

import torch
from torch import nn

from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.runner import FrameWindow, OutputPiece


class Reconstructor(Pipeline):
    """Encodes and decodes audio with a VQ-VAE, a VAE or the rate-K envelope VQ-VAE; phase by fast Griffin-Lim.

    Any length (the shared chunked runner: bounded memory, phase carried across chunk joins), any sample rate
    and channel count, numpy or torch: the output has the input's type, shape, rate and length. A model with an
    input_level_db gets each channel at that active speech level, and the output is scaled back to the input's
    level. An envelope model's output is its smooth spectral envelope (no pitch): for listening to what the
    envelope carries, not for quality.
    """

    model_types = ("vqvae", "vae", "envelope-vqvae")
    default_model = "reconstruct-vqvae-8k"

    def __init__(
        self,
        model: nn.Module,
        griffin_lim_iters: int = 64,
        chunk_seconds: float = 8.0,
        context_seconds: float = 0.25,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(model, device)
        self.griffin_lim_iters = int(griffin_lim_iters)
        self.runner = self.chunked_runner(chunk_seconds, context_seconds, self.griffin_lim_iters)

    def piece(self, window: FrameWindow) -> OutputPiece:
        return self.runner.piece(window, self.model_features, use_input_phase=False)

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        return self.runner.run_pieces(mono, self.piece)
