"""Pipelines: waveform in, waveform (or bitstream) out. Never trains, never imports Lightning."""

from vqaudio.pipelines.ceiling import TrueMagnitudeGriffinLim
from vqaudio.pipelines.chunking import process_in_chunks
from vqaudio.pipelines.codec import Codec
from vqaudio.pipelines.reconstruct import Reconstructor

__all__ = ["Codec", "Reconstructor", "TrueMagnitudeGriffinLim", "process_in_chunks"]
