"""Where a magnitude-only decoder gets its phase: a learned phase model (models.phase), Griffin-Lim, or both.

`phase="auto"` takes the shipped phase model made for the decoder's STFT (same rate, n_fft, hop) when there is one,
else Griffin-Lim; `"griffin-lim"` always Griffin-Lim from the phase integrated from the magnitude; a path (or a
PhaseNet) that phase model. With a learned phase, `griffin_lim_iters` Griffin-Lim iterations refine it (0: the
learned phase as it is). The choice is the decoder's: a .vqa file carries codes, not phases, and decodes either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vqaudio.audio import STFTConfig
from vqaudio.models.io import load_model
from vqaudio.models.phase import PhaseNet
from vqaudio.pipelines.runner import OutputPiece

__all__ = ["GRIFFIN_LIM", "PhaseChoice", "PhaseSource", "resolve_phase"]

GRIFFIN_LIM = "griffin-lim"
AUTO = "auto"
PhaseChoice = str | Path | PhaseNet | None
# Griffin-Lim iterations after a learned phase (benchmarks/RESULTS.md, "Learned phase"), and from scratch: 32, not
# 64, decodes the shipped codecs 1.2-2x faster for at most 0.012 PESQ (RESULTS, "Griffin-Lim iterations").
LEARNED_REFINE_ITERS = 16
GRIFFIN_LIM_ITERS = 32


def _matches(model: PhaseNet, stft: STFTConfig) -> bool:
    cfg = model.config.stft
    return (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.window) == (
        stft.sample_rate,
        stft.n_fft,
        stft.hop_length,
        stft.window,
    )


def shipped_phase_model(stft: STFTConfig) -> PhaseNet | None:
    """The shipped phase model (assets/pretrained/phase-*.safetensors) made for this STFT, or None."""
    from vqaudio.assets import pretrained_names, pretrained_path

    for name in pretrained_names():
        if name.startswith("phase-"):
            model = load_model(pretrained_path(name))
            if isinstance(model, PhaseNet) and _matches(model, stft):
                return model
    return None


def resolve_phase(phase: PhaseChoice, stft: STFTConfig) -> PhaseNet | None:
    """The phase model a decoder with this STFT uses for `phase` (see the module's docstring), None: Griffin-Lim."""
    if phase is None or phase == GRIFFIN_LIM:
        return None
    if phase == AUTO:
        return shipped_phase_model(stft)
    model = phase if isinstance(phase, PhaseNet) else load_model(Path(phase))
    if not isinstance(model, PhaseNet):
        raise ValueError(f"phase {phase!r}: expected a phase model (type phase-net), got {type(model).__name__}")
    if not _matches(model, stft):
        raise ValueError(
            f"phase model made for {model.config.stft.sample_rate} Hz, n_fft {model.config.n_fft}, hop "
            f"{model.config.hop_length}; the decoder's STFT is {stft.sample_rate} Hz, n_fft {stft.n_fft}, "
            f"hop {stft.hop_length}"
        )
    return model


@dataclass
class PhaseSource:
    """Gives each output piece of a decoder its phase: the learned one (refined by Griffin-Lim when iters > 0)."""

    model: PhaseNet | None
    device: torch.device

    def __post_init__(self) -> None:
        if self.model is not None:
            self.model = self.model.to(self.device).eval()

    @property
    def name(self) -> str:
        return GRIFFIN_LIM if self.model is None else "learned"

    def default_iters(self) -> int:
        return GRIFFIN_LIM_ITERS if self.model is None else LEARNED_REFINE_ITERS

    def piece(self, start: int, first: int, last: int, features: torch.Tensor, griffin_lim_iters: int) -> OutputPiece:
        """An OutputPiece of dB features (..., F, n): Griffin-Lim's (phase None), or with the learned phase."""
        if self.model is None:
            return OutputPiece(start, first, last, features)
        with torch.inference_mode():
            angle = self.model(features.to(self.device)).phase
        if griffin_lim_iters > 0:
            return OutputPiece(start, first, last, features, phase_init=angle)
        return OutputPiece(start, first, last, features, phase=torch.polar(torch.ones_like(angle), angle))
