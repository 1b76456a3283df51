"""Pipelines on audio files, a block at a time: memory stays flat whatever the file's length.

`run_file(pipeline, source, outputs)` does what `save(output, pipeline(*load(source, mono=False)))` does, with the
same result (to the last bit: tests check), without holding the file: blocks are read (`AudioReader`), each channel
is resampled to the model's rate by its own soxr stream, run through the pipeline's chunked runner as the samples
arrive (`ChunkedRunner.stream`), scaled back, resampled to the file's rate and written (`AudioWriter`, atomically),
while the next block is read. Held at any time: a block of input, one chunk (with context) of each channel, and
the output samples a chunk join still waits for.

Input level: a model trained at one speech level (its config's input_level_db) gets each channel scaled to that
level, and the level (`active_level_db`) is a measurement over the whole channel. So such files are read twice:
a first, cheap pass reads, resamples and meters each channel (`measure_gains`: 20 ms frame powers, a few kB a
minute), the second processes it. Models without an input level are read once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from vqaudio.audio.io import AudioInfo, AudioReader, AudioWriter
from vqaudio.audio.stream import ChannelMerge, LengthFit, LevelMeter, StreamResampler
from vqaudio.pipelines.inputs import MAX_CHANNELS, check_rate
from vqaudio.pipelines.runner import ChunkedRunner, FrameWindow, OutputPiece, RunnerStream


class ChunkedPipeline(Protocol):
    """What a file is streamed through: a pipeline on the shared runner (Denoiser, Reconstructor, Separator)."""

    runner: ChunkedRunner
    device: torch.device
    sample_rate: int
    scale_to_input_level: bool
    input_level_db: float | None

    def piece(self, window: FrameWindow) -> OutputPiece: ...


__all__ = ["BLOCK_SECONDS", "measure_gains", "model_rate_blocks", "open_input", "run_file"]

BLOCK_SECONDS = 5.0  # of input read at a time (1.8 MB of 44.1 kHz stereo float32)


def open_input(path: str | os.PathLike[str]) -> AudioReader:
    """An AudioReader for `path`, refused (ValueError naming it) if its rate or channel count is beyond vqaudio's."""
    reader = AudioReader(path)
    try:
        check_rate(reader.sample_rate)
        if reader.channels > MAX_CHANNELS:
            raise ValueError(f"{reader.channels} channels; vqaudio takes at most {MAX_CHANNELS}")
    except ValueError as err:
        reader.close()
        raise ValueError(f"{path}: {err}") from None
    return reader


def block_frames(sample_rate: int, seconds: float = BLOCK_SECONDS) -> int:
    return max(1, round(seconds * sample_rate))


def model_rate_blocks(
    blocks: Iterable[np.ndarray], sample_rate: int, model_rate: int, length: int | None = None
) -> Iterator[list[np.ndarray]]:
    """(C, n) blocks at `sample_rate` -> for each block, then once more at the end (the resamplers' tails), the list
    of each channel's float32 samples at `model_rate`; `length`: each channel cut or zero-padded to that many."""
    resamplers: list[StreamResampler] = []
    fits: list[LengthFit] = []
    for block in blocks:
        if not resamplers:
            resamplers = [StreamResampler(sample_rate, model_rate) for _ in block]
            fits = [LengthFit(length) for _ in block] if length is not None else []
        out = [r.push(channel) for r, channel in zip(resamplers, block, strict=True)]
        yield [f.push(x) for f, x in zip(fits, out, strict=True)] if fits else out
    tails = [r.finish() for r in resamplers]
    if fits:
        tails = [np.concatenate([f.push(x), f.finish()]) for f, x in zip(fits, tails, strict=True)]
    yield tails


def measure_gains(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    model_rate: int,
    target_db: float,
    length: int | None = None,
    decimals: int | None = None,
) -> list[float]:
    """The gain (dB) of each channel to `target_db` active level at the model rate (`scale_to_level`'s gain), in
    one pass over the blocks; `length` and `decimals` as the caller fits and rounds them."""
    meters: list[LevelMeter] = []
    for step in model_rate_blocks(blocks, sample_rate, model_rate, length):
        meters = meters or [LevelMeter(model_rate) for _ in step]
        for meter, samples in zip(meters, step, strict=True):
            meter.push(samples)
    return [meter.gain_db(target_db, decimals) for meter in meters]


class _Channel:
    """One channel's model-rate samples through a pipeline, in blocks: scaled to the model's input level, run in
    chunks, scaled back and resampled to the file's rate (what Pipeline._channel does to a whole channel).
    Output blocks are (S, n): S outputs per input (1 for a single output)."""

    def __init__(self, pipeline: ChunkedPipeline, sample_rate: int, gain_db: float | None) -> None:
        self.stream: RunnerStream = pipeline.runner.stream(pipeline.piece)
        self.device = pipeline.device
        self.gain = None if gain_db is None else np.float32(10.0 ** (gain_db / 20.0))
        self.inverse = np.float32(10.0 ** (-gain_db / 20.0)) if gain_db else None
        self.rates = (pipeline.sample_rate, sample_rate)
        self.back: list[StreamResampler] = []

    def push(self, samples: np.ndarray) -> np.ndarray | None:
        mono = np.ascontiguousarray(samples, dtype=np.float32)
        if self.gain is not None:
            mono = mono * self.gain
        return self._back(self.stream.push(torch.from_numpy(mono).to(self.device)), last=False)

    def finish(self) -> np.ndarray | None:
        # a file shorter than one model-rate sample (1 sample at 48 kHz for a 16 kHz model) gives the model one zero,
        # as Pipeline._channel does
        parts = [] if self.stream.n_samples else self.stream.push(torch.zeros(1, device=self.device))
        return self._back([*parts, *self.stream.finish()], last=True)

    def _back(self, parts: list[torch.Tensor], last: bool) -> np.ndarray | None:
        if not parts and not last:
            return None
        out = torch.cat(parts, dim=-1).float().cpu().numpy() if parts else None
        if out is not None:
            out = out.reshape(-1, out.shape[-1])
            if self.inverse is not None:
                out = out * self.inverse
        if self.rates[0] == self.rates[1]:
            return out
        if out is not None and not self.back:
            self.back = [StreamResampler(*self.rates) for _ in out]
        rows = [r.push(row) for r, row in zip(self.back, out, strict=True)] if out is not None else []
        if last:
            rows = [np.concatenate([row, r.finish()]) for r, row in zip(self.back, rows, strict=True)]
        return np.stack(rows) if rows else None


def run_file(
    pipeline: ChunkedPipeline,
    source: str | os.PathLike[str],
    outputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    block_seconds: float = BLOCK_SECONDS,
    subtype: str = "PCM_16",
) -> AudioInfo:
    """Run `pipeline` on the audio file `source` and write the result to `outputs` (a path, or one path per output
    of a pipeline with several, in its order: a Separator's `sources`), block by block; returns what was read.

    The outputs have the input's rate, channels and length, in `subtype` (see AudioWriter: 16-bit PCM by default,
    FLOAT keeps every bit). The pipeline must run on the chunked runner (`pipeline.runner` and `pipeline.piece`:
    Denoiser, Reconstructor, Separator).
    """
    paths = [Path(outputs)] if isinstance(outputs, (str, os.PathLike)) else [Path(p) for p in outputs]
    if not hasattr(pipeline, "runner"):
        raise TypeError(f"{type(pipeline).__name__} does not run on the chunked runner, so it cannot stream a file")
    with open_input(source) as reader, contextlib.ExitStack() as files:
        info = reader.info
        block = block_frames(info.sample_rate, block_seconds)
        gains: list[float | None] = [None] * info.channels
        if pipeline.scale_to_input_level and pipeline.input_level_db is not None:
            measured = measure_gains(
                reader.blocks(block), info.sample_rate, pipeline.sample_rate, pipeline.input_level_db
            )
            gains = list(measured)
        channels = [_Channel(pipeline, info.sample_rate, gain) for gain in gains]
        writers = [files.enter_context(AudioWriter(path, info.sample_rate, info.channels, subtype)) for path in paths]
        merge, fit = ChannelMerge(info.channels), LengthFit(info.n_samples)

        def write(out: np.ndarray | None) -> None:
            if out is None:
                return
            if out.shape[0] != len(writers):
                name = type(pipeline).__name__
                raise ValueError(f"{name} gives {out.shape[0]} outputs per input, but {len(writers)} files were given")
            for writer, samples in zip(writers, out, strict=True):
                writer.write(samples)

        def put(c: int, out: np.ndarray | None) -> None:
            if out is not None:
                merge.put(c, out)

        with torch.inference_mode():
            for step in model_rate_blocks(reader.blocks(block), info.sample_rate, pipeline.sample_rate):
                for c, samples in enumerate(step):
                    put(c, channels[c].push(samples))
                taken = merge.take()
                write(None if taken is None else fit.push(taken))
            for c, channel in enumerate(channels):
                put(c, channel.finish())
            taken = merge.take()
            write(None if taken is None else fit.push(taken))
            write(fit.finish(lead=(len(writers), info.channels)))
    return info
