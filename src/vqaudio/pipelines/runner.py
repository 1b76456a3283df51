"""One chunked runner for every pipeline: long signals in chunks of STFT frames, bounded memory, no seams.

Why frames, not samples: a model sees the features of whole STFT frames, so the runner cuts the signal's frame
sequence into chunks of `chunk_frames` (a multiple of `align`, the model's time stride, so latent frames and codes
fall where a whole-file pass puts them) and gives the model each chunk with `context_frames` of real signal on
both sides. The input frames of a chunk are computed from the samples they cover, so they are exactly the frames
of a whole-file STFT. The model's output frames for the chunk (context thrown away) become a waveform by
overlap-adding their inverse FFTs into one output buffer (`FrameOverlapAdd`): with the input's phase (denoising,
separation) chunked output equals whole-file output wherever the context covers the model's receptive field.
Without a phase, Griffin-Lim runs on each chunk plus `lookahead` frames, with the chunk's first frames held at
the phase the previous chunk settled (`griffin_lim_frames(known=...)`), so its phase runs on across the join.

Memory: one chunk of features and model activations, plus the output signal itself, whatever the length.
Several outputs per input (stems) come back as (S, T).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch

from vqaudio.audio import FrameOverlapAdd, FrontEnd, STFTConfig, griffin_lim_frames, integrated_phase, num_frames
from vqaudio.audio.stft import stft

__all__ = ["ChunkedRunner", "FrameWindow", "OutputPiece"]


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
    """Model output for frames [start, start + n) of which [first, last) are kept; `phase`: complex input frames
    over the same span to invert with, or None for Griffin-Lim."""

    start: int
    first: int
    last: int
    features: torch.Tensor  # (..., n_features, n)
    phase: torch.Tensor | None = None


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
    def spectrogram(self, wave: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Complex STFT frames start .. stop - 1 of `wave` (T,), identical to those of a whole-file `stft`."""
        hop, n_fft = self.stft.hop_length, self.stft.n_fft
        s0 = start * hop - n_fft // 2
        s1 = (stop - 1) * hop + n_fft - n_fft // 2
        piece = wave[max(0, s0) : max(0, min(wave.shape[-1], s1))]
        piece = torch.nn.functional.pad(piece, (max(0, -s0), s1 - s0 - piece.shape[-1] - max(0, -s0)))
        frames_cfg = STFTConfig(**{**self.stft.to_dict(), "center": False})
        return stft(piece, frames_cfg)

    def windows(self, wave: torch.Tensor) -> Iterator[FrameWindow]:
        """The chunks of a mono wave (T,), one at a time (only one chunk's spectrogram is held)."""
        n_frames = num_frames(wave.shape[-1], self.stft)
        for first, last in self.plan(n_frames):
            start, stop = self.span(first, last, n_frames)
            yield FrameWindow(first, last, start, stop, self.spectrogram(wave, start, stop))

    # synthesis -----------------------------------------------------------------------------------------------
    def synthesize(self, n_samples: int, pieces: Iterable[OutputPiece]) -> torch.Tensor:
        """Overlap-add the kept frames of consecutive pieces into a (..., n_samples) waveform."""
        ola: FrameOverlapAdd | None = None
        carried: torch.Tensor | None = None  # complex frames [first - m, first) settled by the previous chunk
        n_frames = num_frames(n_samples, self.stft)
        for piece in pieces:
            features = piece.features.to(self.device)
            lead = tuple(features.shape[:-2])
            if ola is None:
                ola = FrameOverlapAdd(self.stft, n_samples, lead=lead)
            if piece.phase is not None:
                keep = slice(piece.first - piece.start, piece.last - piece.start)
                magnitude = self.front_end.magnitude(features[..., keep])
                angle = piece.phase[..., keep].to(magnitude.device).angle()
                frames = torch.polar(magnitude.contiguous(), torch.broadcast_to(angle, magnitude.shape).contiguous())
            else:
                frames, carried = self._griffin_lim_piece(piece, features, carried, n_samples, n_frames)
            ola.add(piece.first, frames)
        if ola is None:
            raise ValueError("ChunkedRunner.synthesize: no pieces to synthesize")
        return ola.result()

    def _griffin_lim_piece(
        self,
        piece: OutputPiece,
        features: torch.Tensor,
        carried: torch.Tensor | None,
        n_samples: int,
        n_frames: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(kept complex frames [first, last), the frames to carry into the next chunk)."""
        known = 0 if carried is None else carried.shape[-1]
        g0 = piece.first - known
        g1 = min(n_frames, piece.last + self.lookahead_frames, piece.start + features.shape[-1])
        if g0 < piece.start:
            raise ValueError(f"ChunkedRunner: piece starting at frame {piece.start} lacks the carried frames {g0}..")
        magnitude = self.front_end.magnitude(features[..., g0 - piece.start : g1 - piece.start])
        init = integrated_phase(magnitude, self.stft)
        if carried is not None and known:
            # continue each bin's phase from where the previous chunk left it
            init = init + (carried[..., -1:].angle() - init[..., known - 1 : known])
        frames = griffin_lim_frames(
            magnitude,
            self.stft,
            first_frame=g0,
            signal_length=n_samples,
            n_iter=self.griffin_lim_iters,
            init_phase=init,
            known=carried,
        )
        kept = frames[..., known : known + piece.last - piece.first]
        return kept, kept[..., -self.carry_frames :]

    def run(
        self,
        wave: torch.Tensor,
        process: Callable[[torch.Tensor], torch.Tensor],
        use_input_phase: bool,
    ) -> torch.Tensor:
        """Mono wave (T,) -> process(features (n_features, n)) -> (..., n_features, n) per chunk -> (..., T).

        `use_input_phase`: invert with the input's STFT phase (mixtures); else Griffin-Lim with carried phase.
        """
        n = wave.shape[-1]

        def pieces() -> Iterator[OutputPiece]:
            for w in self.windows(wave):
                out = process(self.front_end.from_spectrogram(w.spectrogram))
                yield OutputPiece(w.start, w.first, w.last, out, w.spectrogram if use_input_phase else None)

        return self.synthesize(n, pieces())
