"""Reconstructor: speech through a trained autoencoder and back to a waveform (waveform in, waveform out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from vqaudio.audio.level import scale_to_level
from vqaudio.audio.spectral import griffin_lim, log_magnitude
from vqaudio.models import load_model
from vqaudio.pipelines.adapt import per_channel_at_rate
from vqaudio.pipelines.chunking import process_in_chunks


class Reconstructor:
    """Encodes and decodes speech with a VQ-VAE or VAE; phase comes from fast Griffin-Lim.

    Any length (chunked overlap-add, bounded memory), any sample rate and channel count: the output has
    the input's rate, channels and length. A model with an input_level_db gets each channel at that active
    speech level, and the output is scaled back to the input's level.
    """

    def __init__(
        self,
        model: nn.Module,
        griffin_lim_iters: int = 64,
        chunk_seconds: float = 8.0,
        overlap_seconds: float = 0.25,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        cfg = model.config
        self.sample_rate = int(cfg.sample_rate)
        self.stft = cfg.stft
        self.floor_db = float(cfg.floor_db)
        self.input_level_db: float | None = getattr(cfg, "input_level_db", None)
        self.griffin_lim_iters = griffin_lim_iters
        self.chunk_samples = round(chunk_seconds * self.sample_rate)
        self.overlap_samples = round(overlap_seconds * self.sample_rate)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: object) -> Reconstructor:
        return cls(load_model(path), **kwargs)  # type: ignore[arg-type]

    @torch.inference_mode()
    def reconstruct_spectrogram(self, wave: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(input dB spectrogram, reconstructed dB spectrogram) of a mono model-rate waveform."""
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).to(self.device)
        spec = log_magnitude(x[None], self.stft, floor_db=self.floor_db)
        out = self.model(spec)
        return spec[0], out.reconstruction_db[0]

    @torch.inference_mode()
    def _mono(self, wave: np.ndarray) -> np.ndarray:
        _, rec_db = self.reconstruct_spectrogram(wave)
        magnitude = torch.pow(10.0, rec_db / 20.0)
        out = griffin_lim(magnitude, self.stft, n_iter=self.griffin_lim_iters, length=wave.shape[-1])
        return out.cpu().numpy()

    def __call__(self, wave: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
        def chunked(mono: np.ndarray) -> np.ndarray:
            if self.input_level_db is None:
                return process_in_chunks(mono, self._mono, self.chunk_samples, self.overlap_samples)
            scaled, gain_db = scale_to_level(mono, self.sample_rate, self.input_level_db)
            out = process_in_chunks(scaled, self._mono, self.chunk_samples, self.overlap_samples)
            return out * np.float32(10.0 ** (-gain_db / 20.0))

        return per_channel_at_rate(wave, sample_rate, self.sample_rate, chunked)
