"""vqaudio.data: speech folders -> files and splits, training crops, evaluation utterances, test signals."""

from __future__ import annotations

from vqaudio.data.base import SpeechFile, Split, stable_fraction
from vqaudio.data.crops import WaveformCropDataset, crop_offsets
from vqaudio.data.fsdd import FSDD_SPLIT
from vqaudio.data.loading import load_waves
from vqaudio.data.prompts import ASTERISK_SPLIT, NONSPEECH_PROMPTS
from vqaudio.data.speech import detect_layout, speech_files
from vqaudio.data.synth import SynthVoice, synth_corpus, synth_speech, synth_voices
from vqaudio.data.utterances import Utterance, join_utterances

__all__ = [
    "ASTERISK_SPLIT",
    "FSDD_SPLIT",
    "NONSPEECH_PROMPTS",
    "SpeechFile",
    "Split",
    "SynthVoice",
    "Utterance",
    "WaveformCropDataset",
    "crop_offsets",
    "detect_layout",
    "join_utterances",
    "load_waves",
    "speech_files",
    "stable_fraction",
    "synth_corpus",
    "synth_speech",
    "synth_voices",
]
