"""vqaudio.audio: file I/O and resampling, speech level, spectral front-ends (STFT, dB, mel, rate-K) and inverses.

The bottom layer: it imports nothing else from vqaudio.
"""

from __future__ import annotations

from vqaudio.audio.io import AUDIO_EXTENSIONS, AudioError, load, resample, save, to_mono
from vqaudio.audio.level import active_level_db, gain_to_level_db
from vqaudio.audio.spectral import (
    DENOISER_STFT,
    STFTConfig,
    amplitude_to_db,
    db_to_amplitude,
    griffin_lim,
    hz_to_mel,
    inverse_with_phase,
    istft,
    log_magnitude,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    mel_to_magnitude,
    num_frames,
    num_samples,
    rate_k,
    rate_k_frequencies,
    rate_k_to_magnitude,
    spectral_convergence,
    stft,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "DENOISER_STFT",
    "AudioError",
    "STFTConfig",
    "active_level_db",
    "amplitude_to_db",
    "db_to_amplitude",
    "gain_to_level_db",
    "griffin_lim",
    "hz_to_mel",
    "inverse_with_phase",
    "istft",
    "load",
    "log_magnitude",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
    "mel_to_magnitude",
    "num_frames",
    "num_samples",
    "rate_k",
    "rate_k_frequencies",
    "rate_k_to_magnitude",
    "resample",
    "save",
    "spectral_convergence",
    "stft",
    "to_mono",
]
