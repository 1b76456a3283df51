"""vqaudio.data: speech, noise and music folders -> files and splits, crops, mixtures, utterances, test signals.

Music comes as MIR-1K stereo clips or MUSDB stem folders (`music_tracks` -> `MusicTrack`s of vocals and accompaniment).
"""

from __future__ import annotations

from vqaudio.data.base import SpeechFile, Split, spread_evenly, stable_fraction
from vqaudio.data.crops import WaveformCropDataset, crop_offsets
from vqaudio.data.fsdd import FSDD_SPLIT
from vqaudio.data.loading import load_waves
from vqaudio.data.mixture import (
    BandLimited,
    MixtureDataset,
    MusicRemixDataset,
    NoisySpeechDataset,
    load_stereo,
    snr_gain,
)
from vqaudio.data.music import MusicTrack, load_tracks, music_tracks, singer_of
from vqaudio.data.prompts import ASTERISK_SPLIT, NONSPEECH_PROMPTS
from vqaudio.data.sources import NOISE_VAL_NAMES, music_clips, noise_files, noise_split
from vqaudio.data.speech import DEFAULT_SPEECH_CORPORA, SPEECH_CORPORA, detect_layout, speech_files
from vqaudio.data.synth import SynthVoice, synth_corpus, synth_speech, synth_voices
from vqaudio.data.transforms import (
    Compose,
    FixedCrop,
    RandomCrop,
    RandomEqualizer,
    RandomGain,
    RandomLevel,
    SpeedPerturb,
    Transform,
    apply_transform,
)
from vqaudio.data.utterances import Utterance, join_utterances

__all__ = [
    "ASTERISK_SPLIT",
    "DEFAULT_SPEECH_CORPORA",
    "FSDD_SPLIT",
    "NOISE_VAL_NAMES",
    "NONSPEECH_PROMPTS",
    "SPEECH_CORPORA",
    "BandLimited",
    "Compose",
    "FixedCrop",
    "MixtureDataset",
    "MusicRemixDataset",
    "MusicTrack",
    "NoisySpeechDataset",
    "RandomCrop",
    "RandomEqualizer",
    "RandomGain",
    "RandomLevel",
    "SpeechFile",
    "SpeedPerturb",
    "Split",
    "SynthVoice",
    "Transform",
    "Utterance",
    "WaveformCropDataset",
    "apply_transform",
    "crop_offsets",
    "detect_layout",
    "join_utterances",
    "load_stereo",
    "load_tracks",
    "load_waves",
    "music_clips",
    "music_tracks",
    "noise_files",
    "noise_split",
    "singer_of",
    "snr_gain",
    "speech_files",
    "spread_evenly",
    "stable_fraction",
    "synth_corpus",
    "synth_speech",
    "synth_voices",
]
