"""Reference systems that bound what a magnitude-only model can reach (true magnitude, Griffin-Lim phase)."""

from __future__ import annotations

import numpy as np
import torch

from vqaudio.audio import LogMagnitudeFrontEnd, STFTConfig
from vqaudio.pipelines.inputs import as_float_array, check_rate
from vqaudio.pipelines.runner import ChunkedRunner


class TrueMagnitudeGriffinLim:
    """Ceiling for spectrogram models: the exact STFT magnitude, phase rebuilt by fast Griffin-Lim.

    Runs through the same chunked runner as the pipelines, so it is chunked exactly as they are. Mono input at
    the config's rate ((T,) numpy), as the benchmarks give it.
    """

    def __init__(self, config: STFTConfig | None = None, n_iter: int = 64, chunk_seconds: float = 8.0) -> None:
        self.config = config or STFTConfig()
        self.n_iter = n_iter
        # The floor only keeps log() finite: -300 dB is far below any real magnitude, so nothing is clipped.
        front_end = LogMagnitudeFrontEnd(self.config, floor_db=-300.0)
        fps = self.config.frames_per_second
        self.runner = ChunkedRunner(front_end, round(chunk_seconds * fps), 16, griffin_lim_iters=n_iter)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        wave = as_float_array(wave)
        if wave.ndim != 1 or check_rate(sample_rate) != self.config.sample_rate:
            raise ValueError(
                f"expected a mono (T,) wave at {self.config.sample_rate} Hz, got {wave.shape} at {sample_rate}"
            )
        with torch.inference_mode():
            return self.runner.run(torch.from_numpy(wave), lambda features: features, use_input_phase=False).numpy()
