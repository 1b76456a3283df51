"""Separator: a song in, its vocals and accompaniment out, through a DualDecoderVAE on the STFT magnitude."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from vqaudio.audio import amplitude_to_db
from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.runner import FrameWindow, OutputPiece

# Mixture bins are taken to this many dB below full scale at the least, so that log(0) never appears; the masks
# scale the true magnitude, so the sources still add up to the mixture (zero bins stay zero to float precision).
_MIN_DB = -300.0
# 1: the model's own masks. Sharper masks (1.5) raised the mean on MIR-1K train and validation clips a little but
# lowered the weakest validation clips further (benchmarks/RESULTS.md, "sharpened masks"), so they stay an option.
DEFAULT_MASK_POWER = 1.0


def sharpened_masks_db(gain_db: torch.Tensor, power: float) -> torch.Tensor:
    """Masks in dB (..., S, F, N), summing to one over S, raised to `power` and renormalised (in dB, stably)."""
    if power == 1.0:
        return gain_db
    scaled = gain_db * (power * math.log(10.0) / 20.0)  # ln(m_s^p)
    return (scaled - torch.logsumexp(scaled, dim=-3, keepdim=True)) * (20.0 / math.log(10.0))


class Separator(Pipeline):
    """Splits a song into its sources (`sources`: vocals and accompaniment for the shipped model): any length (the
    shared chunked runner), rate, channel count, numpy or torch.

    `separator(wave, sample_rate)` -> {source name: array or tensor shaped like `wave`} (stereo in, stereo out:
    each channel is separated on its own at the model's rate and resampled back); `process_file(song, [one path
    per source])` does the same to a file of any length, a block at a time. For a mask model (the shipped
    one) the masks sum to one and are applied to the mixture's own STFT, with its phase: the sources add back up
    to the mixture. A mapping model (the reference recipe) predicts each source's magnitude, inverted with the
    mixture's phase. `mask_power` p (mask models): each bin's masks raised to p and made to sum to one again,
    m_s^p / sum_k m_k^p, a Wiener-style refinement: p > 1 gives each bin more to the source that dominates it
    (less leakage, more artefacts), p = 1 leaves the model's masks as they are (default DEFAULT_MASK_POWER).
    """

    model_types = ("dual-vae",)
    default_model = "separate-16k"

    def __init__(
        self,
        model: nn.Module,
        chunk_seconds: float = 10.0,
        context_seconds: float = 1.0,
        device: str | torch.device = "cpu",
        mask_power: float = DEFAULT_MASK_POWER,
    ) -> None:
        super().__init__(model, device)
        if not (np.isfinite(mask_power) and mask_power > 0):
            raise ValueError(f"mask_power must be a positive number, got {mask_power}")
        self.mask_power = float(mask_power)
        self.sources: list[str] = list(model.config.sources)
        self.runner = self.chunked_runner(chunk_seconds, context_seconds)

    def piece(self, window: FrameWindow) -> OutputPiece:
        """One chunk: each source's dB magnitude (S, F, n), to invert with the mixture's phase."""
        features = self.front_end.from_spectrogram(window.spectrogram)
        with torch.inference_mode():
            out = self.model(features.to(self.device))
            if out.gain_db is not None:  # masks on the unfloored mixture magnitude
                mixture_db = amplitude_to_db(window.spectrogram.abs().to(self.device), _MIN_DB)
                estimate = mixture_db.unsqueeze(-3) + sharpened_masks_db(out.gain_db, self.mask_power)
            else:
                estimate = out.reconstruction_db
        return OutputPiece(window.start, window.first, window.last, estimate, window.spectrogram)

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        """Mono wave (T,) at the model's rate -> (S, T), sources in `self.sources` order."""
        with torch.inference_mode():
            return self.runner.run_pieces(mono, self.piece)

    def __call__(  # type: ignore[override]
        self, wave: np.ndarray | torch.Tensor, sample_rate: int
    ) -> dict[str, np.ndarray | torch.Tensor]:
        """Audio (T,), (C, T) or (B, C, T), numpy or torch -> {source: the same kind, shape, rate and length}."""
        stacked = super().__call__(wave, sample_rate)  # (S, *wave.shape)
        return {name: stacked[i] for i, name in enumerate(self.sources)}
