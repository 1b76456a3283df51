"""Pipelines: waveform in, waveform (or bitstream) out. Never trains, never imports Lightning.

All share `Pipeline` (loading, device, any rate / channels / array type) and `ChunkedRunner` (long inputs in
chunks of STFT frames with context, phase carried across chunk joins, bounded memory). Files of any length stream
through them a block at a time (`Pipeline.process_file`, `Codec.encode_file` / `decode_to_file`: `files`).
A .vqa file also decodes as it arrives, packet by packet, concealing lost packets (`codec_stream.StreamDecoder`).
"""

from vqaudio.pipelines.base import Pipeline, pipelines_for
from vqaudio.pipelines.ceiling import TrueMagnitudeGriffinLim
from vqaudio.pipelines.codec import Codec
from vqaudio.pipelines.codec_stream import StreamDecoder, decode_lossy
from vqaudio.pipelines.denoise import Denoiser
from vqaudio.pipelines.reconstruct import Reconstructor
from vqaudio.pipelines.runner import ChunkedRunner
from vqaudio.pipelines.separate import Separator

__all__ = [
    "ChunkedRunner",
    "Codec",
    "Denoiser",
    "Pipeline",
    "Reconstructor",
    "Separator",
    "StreamDecoder",
    "TrueMagnitudeGriffinLim",
    "decode_lossy",
    "pipelines_for",
]
