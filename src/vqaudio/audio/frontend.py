"""Front-ends: what a model sees of a waveform (wave -> features) and how features become a waveform again.

A model's config owns one front-end (`config.front_end`), and training, pipelines and benchmarks all get their
features from it, so they cannot drift apart. Features are (..., n_features, N) with one column per STFT frame
(centred framing, see `stft`), so a chunked runner can cut frames from the middle of a file and join them again.

Two kinds exist:
- `LogMagnitudeFrontEnd`: the STFT magnitude in dB, floored (the spectrogram autoencoders).
- `RateKFrontEnd`: Codec 2-style rate-K envelope, K mel-spaced band powers in dB (the envelope codec).

Back to a waveform: `magnitude(features)` gives a linear STFT magnitude (F, N); with a phase (the mixture's, for
denoising and separation) `inverse_with_phase` inverts it exactly, without one `griffin_lim` estimates a phase.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from vqaudio.audio.filterbanks import rate_k, rate_k_to_magnitude
from vqaudio.audio.phase import griffin_lim
from vqaudio.audio.stft import STFTConfig, amplitude_to_db, db_to_amplitude, inverse_with_phase, stft

__all__ = ["FrontEnd", "LogMagnitudeFrontEnd", "RateKFrontEnd"]


@dataclass(frozen=True)
class FrontEnd(ABC):
    """wave (..., T) -> features (..., n_features, N), and features -> STFT magnitude -> wave."""

    stft: STFTConfig
    floor_db: float = -80.0

    @property
    @abstractmethod
    def n_features(self) -> int:
        """Feature rows per frame."""

    @property
    def sample_rate(self) -> int:
        return self.stft.sample_rate

    @abstractmethod
    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Complex STFT (..., F, N) (as `stft` makes it with this front-end's settings) -> features (..., n, N)."""

    @abstractmethod
    def magnitude(self, features: torch.Tensor) -> torch.Tensor:
        """Features (..., n_features, N) -> linear STFT magnitude (..., F, N) on `stft`'s scale."""

    def features(self, wave: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Waveform (..., T) at `sample_rate` -> features (..., n_features, N)."""
        return self.from_spectrogram(stft(wave, self.stft))

    def to_wave(
        self,
        features: torch.Tensor,
        length: int,
        phase: torch.Tensor | None = None,
        griffin_lim_iters: int = 64,
    ) -> torch.Tensor:
        """Features (..., n_features, N) -> waveform (..., length).

        With `phase` (angles or a complex spectrogram of the same frames, e.g. the noisy mixture's) the magnitude
        is inverted exactly with that phase; without, fast Griffin-Lim estimates one.
        """
        mag = self.magnitude(features)
        if phase is not None:
            return inverse_with_phase(mag, phase, self.stft, length)
        return griffin_lim(mag, self.stft, n_iter=griffin_lim_iters, length=length)


@dataclass(frozen=True)
class LogMagnitudeFrontEnd(FrontEnd):
    """20 log10 |STFT|, floored at floor_db: F = n_fft // 2 + 1 rows."""

    @property
    def n_features(self) -> int:
        return self.stft.n_freqs

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        return amplitude_to_db(spec.abs(), self.floor_db)

    def magnitude(self, features: torch.Tensor) -> torch.Tensor:
        # No floor here: a decoder's postfilter may deepen valleys below it on purpose.
        return db_to_amplitude(features)


@dataclass(frozen=True)
class RateKFrontEnd(FrontEnd):
    """Rate-K envelope (`rate_k`): k mel-spaced band powers in dB between f_min and f_max.

    The STFT magnitude is floored at floor_db before the band means; peak_hz > 0 takes the envelope through the
    harmonic peaks (see `rate_k`). The inverse interpolates the envelope back over the bins: a smooth magnitude
    with no harmonics, for scoring or for Griffin-Lim.
    """

    k: int = 20
    f_min: float = 200.0
    f_max: float = 3700.0
    peak_hz: float = 0.0

    @property
    def n_features(self) -> int:
        return self.k

    def from_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        mag = spec.abs().clamp_min(10.0 ** (self.floor_db / 20.0))
        return rate_k(mag, self.stft, self.k, self.f_min, self.f_max, floor_db=self.floor_db, peak_hz=self.peak_hz)

    def magnitude(self, features: torch.Tensor) -> torch.Tensor:
        return rate_k_to_magnitude(features, self.stft, self.f_min, self.f_max)
