"""One chunked runner for every pipeline: long signals in chunks of STFT frames, bounded memory, no seams.

Why frames, not samples: a model sees the features of whole STFT frames, so the runner cuts the signal's frame
sequence into chunks of `chunk_frames` (a multiple of `align`, the model's time stride, so latent frames and codes
fall where a whole-file pass puts them) and gives the model each chunk with `context_frames` of real signal on
both sides. The input frames of a chunk are computed from the samples they cover, so they are exactly the frames
of a whole-file STFT. The model's output frames for the chunk (context thrown away) become a waveform by
overlap-adding their inverse FFTs (`OverlapAddStream`, the arithmetic of `FrameOverlapAdd`): with the input's phase
(denoising, separation) chunked output equals whole-file output wherever the context covers the model's receptive
field.
Without a phase, Griffin-Lim runs on each chunk plus `lookahead` frames, with the chunk's first frames held at
the phase the previous chunk settled (`griffin_lim_frames(known=...)`), so its phase runs on across the join.

Memory: one chunk of features and model activations, plus the output signal itself (`run`), whatever the length.
Several outputs per input (stems) come back as (S, T).

Streaming: `stream(make_piece)` runs the same chunks on a signal that arrives in blocks (a long file read a block at
a time) and hands back each output sample once no later chunk can overlap-add into it: the samples before the
first sample of the next chunk's first frame. A chunk is cut as soon as the input reaches the end of its right
context, so the input held is one chunk and its context, and the output held one chunk. `run` is `stream` given
the whole wave as one block: the output does not depend on the blocks. Until the input ends its length is not
known; no chunk cut before then reaches the end, so none needs it (`OutputStream.add(piece, None)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

from vqaudio.audio import FrontEnd, STFTConfig, griffin_lim_frames, integrated_phase, num_frames
from vqaudio.audio.stft import stft
from vqaudio.audio.stream import OverlapAddStream

__all__ = ["ChunkedRunner", "FrameStream", "FrameWindow", "OutputPiece", "OutputStream", "RunnerStream"]

MakePiece = Callable[["FrameWindow"], "OutputPiece"]


@dataclass
class FrameWindow:
    """One chunk of the input: output frames [first, last), model input frames [start, stop) around them."""

    first: int
    last: int
    start: int
    stop: int
    spectrogram: torch.Tensor  # complex (F, stop - start): the input's STFT frames start .. stop - 1


@dataclass
class OutputPiece:
    """Model output for frames [start, start + n) of which [first, last) are kept; `phase`: complex frames over the
    same span to invert with (the input's, or a learned phase), or None for Griffin-Lim; `phase_init`: phase angles
    (..., F, n) Griffin-Lim starts from instead of the phase integrated from the magnitude (a learned phase)."""

    start: int
    first: int
    last: int
    features: torch.Tensor  # (..., n_features, n)
    phase: torch.Tensor | None = None
    phase_init: torch.Tensor | None = None


class ChunkedRunner:
    """Chunk planning, chunked analysis and seamless chunked synthesis for one front-end."""

    def __init__(
        self,
        front_end: FrontEnd,
        chunk_frames: int,
        context_frames: int,
        align: int = 1,
        griffin_lim_iters: int = 64,
        lookahead_frames: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if chunk_frames < 1 or context_frames < 0 or align < 1:
            raise ValueError(
                f"ChunkedRunner: need chunk_frames >= 1, context_frames >= 0 and align >= 1, got "
                f"{chunk_frames}, {context_frames}, {align}"
            )
        self.front_end = front_end
        self.stft: STFTConfig = front_end.stft
        self.align = int(align)
        self.chunk_frames = self._aligned(chunk_frames)
        self.context_frames = self._aligned(context_frames) if context_frames else 0
        # Frames that overlap a frame in time: holding these at the previous chunk's phase fixes the join.
        self.carry_frames = math.ceil(self.stft.n_fft / self.stft.hop_length)
        lookahead = 2 * self.carry_frames if lookahead_frames is None else int(lookahead_frames)
        self.lookahead_frames = min(lookahead, self.context_frames)
        self.griffin_lim_iters = int(griffin_lim_iters)
        self.device = torch.device(device)

    def _aligned(self, frames: int) -> int:
        return max(self.align, -(-int(frames) // self.align) * self.align)

    # planning ------------------------------------------------------------------------------------------------
    def plan(self, n_frames: int) -> list[tuple[int, int]]:
        """[(first, last)] output frame ranges covering 0 .. n_frames, each starting on a multiple of `align`."""
        return [(f, min(f + self.chunk_frames, n_frames)) for f in range(0, n_frames, self.chunk_frames)]

    def span(self, first: int, last: int, n_frames: int) -> tuple[int, int]:
        """The model input frames [start, stop) of a chunk: its frames plus context, clipped to the signal."""
        return max(0, first - self.context_frames), min(n_frames, last + self.context_frames)

    # analysis ------------------------------------------------------------------------------------------------
    def first_sample(self, frame: int) -> int:
        """The signal index of the first sample frame `frame` covers (negative near the start: zero padding)."""
        return frame * self.stft.hop_length - self.stft.n_fft // 2

    def end_sample(self, stop: int) -> int:
        """One past the last sample frames .. stop - 1 cover."""
        return (stop - 1) * self.stft.hop_length + self.stft.n_fft - self.stft.n_fft // 2

    def spectrogram(self, wave: torch.Tensor, start: int, stop: int, offset: int = 0) -> torch.Tensor:
        """Complex STFT frames start .. stop - 1 of `wave` (T,), identical to those of a whole-file `stft`.

        `offset`: the signal index of wave[0] (a stream's buffer, which has dropped the samples before it: the frames
        must not need those). Samples the wave lacks at its end are taken as past the signal's end (zeros).
        """
        s0, s1 = self.first_sample(start), self.end_sample(stop)
        lo = max(0, s0)
        if lo < offset:
            raise ValueError(f"ChunkedRunner.spectrogram: frames {start}.. need samples from {lo}, held from {offset}")
        piece = wave[lo - offset : max(lo - offset, min(wave.shape[-1], s1 - offset))]
        left = lo - s0
        piece = torch.nn.functional.pad(piece, (left, s1 - s0 - left - piece.shape[-1]))
        frames_cfg = STFTConfig(**{**self.stft.to_dict(), "center": False})
        return stft(piece, frames_cfg)

    def windows(self, wave: torch.Tensor) -> Iterator[FrameWindow]:
        """The chunks of a mono wave (T,), one at a time (only one chunk's spectrogram is held)."""
        frames = FrameStream(self)
        yield from frames.push(wave)
        yield from frames.finish()

    # synthesis -----------------------------------------------------------------------------------------------
    def synthesize(self, n_samples: int, pieces: Iterable[OutputPiece]) -> torch.Tensor:
        """Overlap-add the kept frames of consecutive pieces into a (..., n_samples) waveform."""
        out = OutputStream(self)
        parts = [out.add(piece, n_samples) for piece in pieces]
        if not parts:
            raise ValueError("ChunkedRunner.synthesize: no pieces to synthesize")
        return torch.cat([*parts, out.finish(n_samples)], dim=-1)

    def _griffin_lim_piece(
        self,
        piece: OutputPiece,
        features: torch.Tensor,
        carried: torch.Tensor | None,
        n_samples: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(kept complex frames [first, last), the frames to carry into the next chunk); `n_samples` None: the
        signal's length is not known yet, but the piece's frames lie inside it."""
        known = 0 if carried is None else carried.shape[-1]
        g0 = piece.first - known
        g1 = min(piece.last + self.lookahead_frames, piece.start + features.shape[-1])
        if n_samples is not None:
            g1 = min(g1, num_frames(n_samples, self.stft))
        if g0 < piece.start:
            raise ValueError(f"ChunkedRunner: piece starting at frame {piece.start} lacks the carried frames {g0}..")
        magnitude = self.front_end.magnitude(features[..., g0 - piece.start : g1 - piece.start])
        if piece.phase_init is not None:
            # a learned phase is absolute (the same frames get the same phase in any chunk): no offset to carry
            init = piece.phase_init[..., g0 - piece.start : g1 - piece.start].to(magnitude.device)
            init = torch.broadcast_to(init, magnitude.shape)
        else:
            init = integrated_phase(magnitude, self.stft)
            if carried is not None and known:
                # continue each bin's phase from where the previous chunk left it
                init = init + (carried[..., -1:].angle() - init[..., known - 1 : known])
        frames = griffin_lim_frames(
            magnitude,
            self.stft,
            first_frame=g0,
            # inside the signal, any length reaching past the frames' support gives the same result
            signal_length=n_samples if n_samples is not None else self.end_sample(g1),
            n_iter=self.griffin_lim_iters,
            init_phase=init,
            known=carried,
        )
        kept = frames[..., known : known + piece.last - piece.first]
        return kept, kept[..., -self.carry_frames :]

    # running -------------------------------------------------------------------------------------------------
    def piece(
        self, window: FrameWindow, process: Callable[[torch.Tensor], torch.Tensor], use_input_phase: bool
    ) -> OutputPiece:
        """One chunk through `process` (features (n_features, n) -> (..., n_features, n)) as an OutputPiece."""
        out = process(self.front_end.from_spectrogram(window.spectrogram))
        phase = window.spectrogram if use_input_phase else None
        return OutputPiece(window.start, window.first, window.last, out, phase)

    def run(
        self,
        wave: torch.Tensor,
        process: Callable[[torch.Tensor], torch.Tensor],
        use_input_phase: bool,
    ) -> torch.Tensor:
        """Mono wave (T,) -> process(features (n_features, n)) -> (..., n_features, n) per chunk -> (..., T).

        `use_input_phase`: invert with the input's STFT phase (mixtures); else Griffin-Lim with carried phase.
        """
        return self.run_pieces(wave, lambda window: self.piece(window, process, use_input_phase))

    def run_pieces(self, wave: torch.Tensor, make_piece: MakePiece) -> torch.Tensor:
        """Mono wave (T,) -> (..., T): each chunk's FrameWindow -> make_piece -> overlap-added."""
        stream = self.stream(make_piece)
        return torch.cat([*stream.push(wave), *stream.finish()], dim=-1)

    def stream(self, make_piece: MakePiece) -> RunnerStream:
        """A RunnerStream: push mono blocks in, get finished output blocks back (see the module's docstring)."""
        return RunnerStream(self, make_piece)


class FrameStream:
    """The runner's chunks (FrameWindows) of a mono signal that arrives in blocks, each as soon as the input covers
    its frames and their context; the same windows `ChunkedRunner.windows` cuts from the whole signal.

    `push(samples)` appends samples (kept now) and returns the windows they complete, `finish()` (the input has
    ended) the rest. Each iterator should be used up before the next call. Holds one chunk and its context.
    """

    def __init__(self, runner: ChunkedRunner) -> None:
        self.runner = runner
        self.n_samples = 0  # samples pushed so far
        self._buffer: torch.Tensor | None = None  # samples [_offset, n_samples)
        self._offset = 0
        self._next = 0  # first frame of the next chunk
        self._ended = False

    def push(self, samples: torch.Tensor) -> Iterator[FrameWindow]:
        if self._ended:
            raise ValueError("FrameStream.push after finish()")
        if samples.ndim != 1:
            raise ValueError(f"FrameStream: expected mono blocks (samples,), got shape {tuple(samples.shape)}")
        if self._buffer is None or self._buffer.shape[-1] == 0:
            self._buffer = samples
        elif samples.shape[-1]:
            self._buffer = torch.cat([self._buffer, samples.to(self._buffer.device)])
        self.n_samples += samples.shape[-1]
        return self._windows(None)

    def finish(self) -> Iterator[FrameWindow]:
        """The chunks left once the input has ended (its length is now known)."""
        if self.n_samples == 0:
            raise ValueError("FrameStream.finish: no samples were pushed")
        self._ended = True
        return self._windows(num_frames(self.n_samples, self.runner.stft))

    def _windows(self, n_frames: int | None) -> Iterator[FrameWindow]:
        runner = self.runner
        while n_frames is None or self._next < n_frames:
            first = self._next
            last = first + runner.chunk_frames if n_frames is None else min(first + runner.chunk_frames, n_frames)
            stop = last + runner.context_frames
            if n_frames is None and self.n_samples < runner.end_sample(stop):
                return  # its right context has not arrived yet
            start, stop = max(0, first - runner.context_frames), stop if n_frames is None else min(n_frames, stop)
            assert self._buffer is not None
            spectrogram = runner.spectrogram(self._buffer, start, stop, offset=self._offset)
            self._next = last
            self._drop_before(max(0, runner.first_sample(max(0, last - runner.context_frames))))
            yield FrameWindow(first, last, start, stop, spectrogram)

    def _drop_before(self, sample: int) -> None:
        """Forget samples before `sample` (no later chunk needs them)."""
        assert self._buffer is not None
        cut = min(max(0, sample - self._offset), self._buffer.shape[-1])
        if cut:
            self._buffer = self._buffer[cut:]
            self._offset += cut


class OutputStream:
    """The runner's synthesis, a piece at a time: `add(piece, n_samples)` overlap-adds the piece's kept frames
    (with the input's phase, or Griffin-Lim continuing the previous piece's phase) and returns the output samples
    that are now final; `finish(n_samples)` returns the rest. Pieces come in order, consecutive and complete.
    `n_samples` is the signal's length, or None while it is unknown (the piece then lies inside the signal).
    """

    def __init__(self, runner: ChunkedRunner) -> None:
        self.runner = runner
        self._ola = OverlapAddStream(runner.stft)
        self._carried: torch.Tensor | None = None  # complex frames [first - m, first) settled by the previous piece

    def add(self, piece: OutputPiece, n_samples: int | None = None) -> torch.Tensor:
        features = piece.features.to(self.runner.device)
        if piece.phase is not None:
            keep = slice(piece.first - piece.start, piece.last - piece.start)
            magnitude = self.runner.front_end.magnitude(features[..., keep])
            # sgn: the unit phasor of each bin, 0 where the phase-giving bin is exactly 0 (digital silence): the
            # magnitude a model estimates from its floored dB input is not written where the input had nothing
            unit = torch.sgn(piece.phase[..., keep].to(magnitude.device))
            frames = magnitude.to(unit.dtype) * unit
        else:
            frames, self._carried = self.runner._griffin_lim_piece(piece, features, self._carried, n_samples)
        self._ola.add(piece.first, frames)
        return self._ola.take(piece.last)

    def finish(self, n_samples: int) -> torch.Tensor:
        return self._ola.finish(n_samples)


class RunnerStream:
    """A mono signal through the runner in blocks: `push(samples)` -> finished output blocks (..., n) (a list, maybe
    empty), `finish()` -> the rest; joined they are `ChunkedRunner.run_pieces` of the whole signal."""

    def __init__(self, runner: ChunkedRunner, make_piece: MakePiece) -> None:
        self.frames = FrameStream(runner)
        self.output = OutputStream(runner)
        self.make_piece = make_piece

    def push(self, samples: torch.Tensor) -> list[torch.Tensor]:
        return [self.output.add(self.make_piece(window)) for window in self.frames.push(samples)]

    def finish(self) -> list[torch.Tensor]:
        n = self.frames.n_samples
        out = [self.output.add(self.make_piece(window), n) for window in self.frames.finish()]
        return [*out, self.output.finish(n)]

    @property
    def n_samples(self) -> int:
        return self.frames.n_samples
