"""vqaudio.audio: file I/O and resampling, speech level, the STFT and dB, phase reconstruction, filterbanks
(rate-K envelope, one-third octaves), the decoded-spectrum postfilter and the model front-ends built from them.

The bottom layer: it imports nothing else from vqaudio, and knows nothing of models.
"""

from __future__ import annotations

from vqaudio.audio.filterbanks import (
    hz_to_mel,
    mel_to_hz,
    rate_k,
    rate_k_frequencies,
    rate_k_to_magnitude,
    third_octave_bands,
)
from vqaudio.audio.frontend import FrontEnd, LogMagnitudeFrontEnd, RateKFrontEnd
from vqaudio.audio.io import AUDIO_EXTENSIONS, AudioError, load, resample, save, to_mono
from vqaudio.audio.level import active_level_db, gain_to_level_db, scale_to_level
from vqaudio.audio.phase import griffin_lim, griffin_lim_frames, integrated_phase
from vqaudio.audio.postfilter import sharpen_db
from vqaudio.audio.stft import (
    FrameOverlapAdd,
    STFTConfig,
    amplitude_to_db,
    db_to_amplitude,
    inverse_with_phase,
    istft,
    log_magnitude,
    num_frames,
    num_samples,
    stft,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "FrameOverlapAdd",
    "FrontEnd",
    "LogMagnitudeFrontEnd",
    "RateKFrontEnd",
    "STFTConfig",
    "active_level_db",
    "amplitude_to_db",
    "db_to_amplitude",
    "gain_to_level_db",
    "griffin_lim",
    "griffin_lim_frames",
    "hz_to_mel",
    "integrated_phase",
    "inverse_with_phase",
    "istft",
    "load",
    "log_magnitude",
    "mel_to_hz",
    "num_frames",
    "num_samples",
    "rate_k",
    "rate_k_frequencies",
    "rate_k_to_magnitude",
    "resample",
    "save",
    "scale_to_level",
    "sharpen_db",
    "stft",
    "third_octave_bands",
    "to_mono",
]
