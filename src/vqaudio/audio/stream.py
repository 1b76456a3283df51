"""Audio a block at a time: resampling, length fitting, level metering and overlap-add over signals of any length.

Each class takes a long signal in consecutive blocks and keeps only what later blocks still need, so memory does
not grow with the signal's length, and each gives what its whole-signal counterpart gives for the whole signal:

- `StreamResampler`: soxr's streaming resampler; its blocks join into `resample`'s output bit for bit;
- `LengthFit`: cuts or zero-pads a stream to a known length (`fit_length` of the pipelines, a block at a time);
- `LevelMeter`: the active speech level of `active_level_db` from 20 ms frame powers (a few floats a second);
- `OverlapAddStream`: `FrameOverlapAdd` for frames handed over in order, giving back each sample once no later
  frame can add to it;
- `ChannelMerge`: per-channel streams joined into multi-channel blocks.
"""

from __future__ import annotations

import numpy as np
import soxr
import torch

from vqaudio.audio.level import _FRAME_SECONDS, _LOUD_PERCENTILE, _TINY_POWER, MAX_GAIN_DB
from vqaudio.audio.stft import STFTConfig, _check_spec, _full_window

__all__ = ["ChannelMerge", "LengthFit", "LevelMeter", "OverlapAddStream", "StreamResampler"]


class StreamResampler:
    """One channel from `orig_sr` to `target_sr` in blocks, with soxr "HQ" as `resample` uses it.

    `push(block)` returns what is ready so far, `finish()` the rest; together they equal `resample(whole signal)`
    (same samples, same length). Equal rates pass blocks through as float32 copies.
    """

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        if orig_sr <= 0 or target_sr <= 0:
            raise ValueError(f"StreamResampler: sample rates must be positive, got {orig_sr} -> {target_sr}")
        self.orig_sr, self.target_sr = int(orig_sr), int(target_sr)
        same = self.orig_sr == self.target_sr
        self._soxr = None if same else soxr.ResampleStream(self.orig_sr, self.target_sr, 1, "float32", "HQ")
        self._finished = False

    def push(self, block: np.ndarray) -> np.ndarray:
        """Mono float samples (n,) -> the float32 output samples they complete."""
        if self._finished:
            raise ValueError("StreamResampler.push after finish()")
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 1:
            raise ValueError(f"StreamResampler: expected a mono block (samples,), got shape {block.shape}")
        if self._soxr is None:
            return block.copy()
        return self._soxr.resample_chunk(block) if block.size else np.zeros(0, np.float32)

    def finish(self) -> np.ndarray:
        """The samples still held back by the filter (call once, after the last block)."""
        self._finished = True
        if self._soxr is None:
            return np.zeros(0, np.float32)
        return self._soxr.resample_chunk(np.zeros(0, np.float32), last=True)


class LengthFit:
    """Cuts a stream of (..., n) blocks after `length` samples, and pads it with zeros up to `length` at the end."""

    def __init__(self, length: int) -> None:
        if length < 0:
            raise ValueError(f"LengthFit: length must be >= 0, got {length}")
        self.length = int(length)
        self.seen = 0  # samples passed on so far
        self._shape: tuple[int, ...] | None = None  # the leading dims, from the first block
        self._dtype: np.dtype = np.dtype(np.float32)

    def push(self, block: np.ndarray) -> np.ndarray:
        self._shape, self._dtype = block.shape[:-1], block.dtype
        keep = block[..., : max(0, self.length - self.seen)]
        self.seen += keep.shape[-1]
        return keep

    def finish(self, lead: tuple[int, ...] | None = None) -> np.ndarray:
        """Zeros (..., length - samples passed on); `lead` gives the leading dims if no block came."""
        shape = self._shape if self._shape is not None else (lead or ())
        missing = self.length - self.seen
        self.seen = self.length
        return np.zeros((*shape, missing), dtype=self._dtype)


class LevelMeter:
    """`active_level_db` of a mono signal given in blocks: 20 ms frame powers, with the tail carried over.

    Holds 8 bytes per 20 ms frame (1.4 MB an hour) and one unfinished frame.
    """

    def __init__(self, sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"LevelMeter: sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.frame = max(1, round(_FRAME_SECONDS * self.sample_rate))
        self._powers: list[np.ndarray] = []
        self._tail = np.zeros(0, dtype=np.float64)

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 1:
            raise ValueError(f"LevelMeter: expected a mono block (samples,), got shape {block.shape}")
        if not np.isfinite(block).all():
            raise ValueError("LevelMeter: the signal contains NaN or infinite samples")
        wave = np.concatenate([self._tail, block]) if self._tail.size else block
        m = wave.size // self.frame
        if m:
            self._powers.append(np.mean(wave[: m * self.frame].reshape(m, self.frame) ** 2, axis=1))
        self._tail = wave[m * self.frame :].copy()

    def level_db(self) -> float | None:
        """The active level in dB (what `active_level_db` gives for the whole signal); None for silence or nothing."""
        if self._powers:
            power = np.concatenate(self._powers)
        elif self._tail.size:  # shorter than one frame: its mean power is the one frame
            power = np.array([np.mean(self._tail * self._tail)])
        else:
            return None
        power = power[power > _TINY_POWER]
        if power.size == 0:
            return None
        power_db = 10.0 * np.log10(power)
        loud = np.percentile(power_db, _LOUD_PERCENTILE)
        return float(10.0 * np.log10(np.mean(power[power_db >= loud - 30.0])))

    def gain_db(self, target_db: float, decimals: int | None = None) -> float:
        """The gain that brings the level to `target_db` (as `scale_to_level` computes it; 0 for silence)."""
        level = self.level_db()
        gain = 0.0 if level is None else float(np.clip(target_db - level, -MAX_GAIN_DB, MAX_GAIN_DB))
        return round(gain, decimals) if decimals is not None else gain


class OverlapAddStream:
    """Overlap-add of complex STFT frames (..., F, N) handed over in order, for a signal of unknown length.

    `add(first_frame, frames)` adds frames first_frame.. (centred framing, as `stft` makes them, each run
    starting at or after the previous run's first frame); `take(frame)` returns the samples no frame from
    `frame` on can reach (they are final), `finish(length)` the rest up to `length`. The pieces join into what
    `FrameOverlapAdd` (and `istft`) gives for the same frames, with the same arithmetic in the same order.
    Memory: the samples between the last `take` and the end of the last frame added.
    """

    def __init__(self, cfg: STFTConfig, dtype: torch.dtype = torch.float32) -> None:
        if not cfg.center:
            raise ValueError("OverlapAddStream: frame positions follow center=True framing; use a centred STFTConfig")
        self.cfg = cfg
        self.dtype = dtype
        self.pad = cfg.n_fft // 2
        self._blocks = -(-cfg.n_fft // cfg.hop_length)  # whole hops a frame spans
        self._window = _full_window(cfg, torch.device("cpu"), dtype)
        self._out: torch.Tensor | None = None  # (..., L): padded samples [_start, _start + L)
        self._norm = torch.zeros(0, dtype=dtype)
        self._start = 0
        self.emitted = 0  # samples handed out (unpadded)

    def add(self, first_frame: int, frames: torch.Tensor) -> None:
        _check_spec(frames, self.cfg, "OverlapAddStream.add")
        hop, n_fft = self.cfg.hop_length, self.cfg.n_fft
        at = first_frame * hop - self._start
        if first_frame < 0 or at < 0:
            raise ValueError(
                f"OverlapAddStream.add: frame {first_frame} reaches samples already handed out; add frames in order"
            )
        n = frames.shape[-1]
        pieces = torch.fft.irfft(frames.transpose(-1, -2), n=n_fft, dim=-1).to("cpu", self.dtype) * self._window
        if self._out is None:
            self._out = torch.zeros(*pieces.shape[:-2], 0, dtype=self.dtype)
        elif self._out.shape[:-1] != pieces.shape[:-2]:
            lead = tuple(self._out.shape[:-1])
            raise ValueError(f"OverlapAddStream.add: frames {tuple(frames.shape)} after frames with lead dims {lead}")
        end = at + (n + self._blocks - 1) * hop
        if end > self._norm.shape[-1]:
            grow = end - self._norm.shape[-1]
            self._out = torch.cat([self._out, self._out.new_zeros(*self._out.shape[:-1], grow)], dim=-1)
            self._norm = torch.cat([self._norm, self._norm.new_zeros(grow)])
        self._accumulate(self._out, at, pieces)
        self._accumulate(self._norm, at, self._window.square().expand(n, n_fft))

    def _accumulate(self, target: torch.Tensor, at: int, pieces: torch.Tensor) -> None:
        """target[..., at + j * hop + i] += pieces[..., j, i], as FrameOverlapAdd adds them (whole hops, no loop)."""
        hop, n_fft, blocks = self.cfg.hop_length, self.cfg.n_fft, self._blocks
        n = pieces.shape[-2]
        split = torch.nn.functional.pad(pieces, (0, blocks * hop - n_fft)).reshape(*pieces.shape[:-1], blocks, hop)
        summed = pieces.new_zeros(*pieces.shape[:-2], n + blocks - 1, hop)
        for k in range(blocks):
            summed[..., k : k + n, :] += split[..., k, :]
        target[..., at : at + summed.shape[-2] * hop] += summed.reshape(*pieces.shape[:-2], -1)

    def take(self, frame: int) -> torch.Tensor:
        """The finished samples: those before the first sample of frame `frame` (no later frame reaches them)."""
        return self._hand_out(max(self.emitted, frame * self.cfg.hop_length - self.pad))

    def finish(self, length: int) -> torch.Tensor:
        """The samples from the last `take` up to `length` (the signal's length): call after the last `add`."""
        if length < self.emitted:
            raise ValueError(f"OverlapAddStream.finish: {self.emitted} samples already handed out, past {length}")
        return self._hand_out(length)

    def _hand_out(self, until: int) -> torch.Tensor:
        if self._out is None:
            raise ValueError("OverlapAddStream: no frames added")
        lo, hi = self.emitted + self.pad - self._start, until + self.pad - self._start
        have = self._norm.shape[-1]
        out, norm = self._out[..., lo : min(hi, have)], self._norm[lo : min(hi, have)]
        big = norm > 1e-11
        samples = torch.where(big, out / torch.where(big, norm, torch.ones_like(norm)), torch.zeros_like(out))
        if hi > have:  # past every frame added: nothing reaches there
            samples = torch.nn.functional.pad(samples, (0, hi - max(lo, have)))
        cut = min(hi, have)
        self._out, self._norm = self._out[..., cut:].clone(), self._norm[cut:].clone()
        self._start += cut
        self.emitted = until
        return samples


class ChannelMerge:
    """Joins per-channel streams into multi-channel blocks: `put(c, block (..., n))`, then `take()` returns the
    samples every channel has reached, (..., C, m), or None while one lags (channels can emit at different times)."""

    def __init__(self, n_channels: int) -> None:
        if n_channels < 1:
            raise ValueError(f"ChannelMerge: need at least one channel, got {n_channels}")
        self._pending: list[np.ndarray | None] = [None] * n_channels

    def put(self, channel: int, block: np.ndarray) -> None:
        held = self._pending[channel]
        self._pending[channel] = block if held is None else np.concatenate([held, block], axis=-1)

    def take(self) -> np.ndarray | None:
        if any(p is None for p in self._pending):
            return None
        pending = [p for p in self._pending if p is not None]
        m = min(p.shape[-1] for p in pending)
        if m == 0:
            return None
        out = np.stack([p[..., :m] for p in pending], axis=-2)
        self._pending = [p[..., m:] for p in pending]
        return out
