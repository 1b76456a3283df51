"""Reference systems that bound what a magnitude-only model can reach (true magnitude, Griffin-Lim phase)."""

from __future__ import annotations

import numpy as np
import torch

from vqaudio.audio.spectral import STFTConfig, griffin_lim, stft
from vqaudio.pipelines.adapt import per_channel_at_rate


class TrueMagnitudeGriffinLim:
    """Ceiling for spectrogram models: the exact STFT magnitude, phase rebuilt by fast Griffin-Lim."""

    def __init__(self, config: STFTConfig | None = None, n_iter: int = 64) -> None:
        self.config = config or STFTConfig()
        self.n_iter = n_iter

    @torch.inference_mode()
    def _mono(self, wave: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        magnitude = stft(x, self.config).abs()
        return griffin_lim(magnitude, self.config, n_iter=self.n_iter, length=x.shape[-1]).numpy()

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        return per_channel_at_rate(wave, sample_rate, self.config.sample_rate, self._mono)
