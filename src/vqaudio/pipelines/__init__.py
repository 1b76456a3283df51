"""Pipelines: waveform in, waveform (or bitstream) out. Never trains, never imports Lightning."""

from vqaudio.pipelines.chunking import process_in_chunks
from vqaudio.pipelines.reconstruct import Reconstructor

__all__ = ["Reconstructor", "process_in_chunks"]
