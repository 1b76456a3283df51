"""Fixed-length waveform crops from speech files held in memory: random for training, fixed for validation.

The whole speech corpus is ~100 min at 8 kHz (~200 MB float32), so every file is decoded once into one
contiguous array; a crop is then a slice, and DataLoader workers share the array instead of re-reading
files every epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr
import torch
from torch.utils.data import Dataset

from vqaudio.audio.level import scale_to_level
from vqaudio.data.base import SpeechFile
from vqaudio.data.loading import OnError, as_path, load_waves
from vqaudio.data.rng import WorkerGenerator
from vqaudio.data.transforms import Transform, apply_transform

__all__ = ["WaveformCropDataset", "crop_offsets"]

_RANDOM_TRIES = 8  # draws per item when looking for a crop above min_rms


def crop_offsets(length: int, crop_samples: int, n: int) -> np.ndarray:
    """`n` fixed crop offsets for a file of `length` samples, evenly spaced (centres of n equal parts).

    An offset may be negative: the file is then shorter than the crop and sits at -offset inside it
    (centred for n=1).
    """
    span = length - crop_samples
    return np.round((np.arange(n) + 0.5) * span / n).astype(np.int64)


class WaveformCropDataset(Dataset):
    """Crops of `crop_samples` samples (float32 tensors) from `files`, resampled to `sample_rate`, mono.

    len = number of loaded files * crops_per_file. With `random_crops`, every call draws a new offset
    (files shorter than the crop are zero-padded at a random position); the random stream depends on
    `seed`, the DataLoader worker and the iteration's worker seed (torch's, fixed by seed_everything), so
    workers differ and seeded runs repeat. Without, crop k of a file is at a fixed offset (evenly spaced,
    `crop_offsets`), the same every epoch. `min_rms` > 0 avoids near-silent crops: random crops retry a few
    draws (keeping the loudest), fixed crops move to the nearest louder position, chosen once at start.
    Files that cannot be decoded are skipped with a warning (on_error="warn") or raise (on_error="raise").

    `speed_perturb` = s > 0 (random crops only) plays each crop at a random speed factor in [1 - s, 1 + s]:
    a stretch of factor x crop_samples is resampled (soxr) to crop_samples, so pitch and formants move by that
    factor, as in a shorter or longer vocal tract. With few training speakers this stands in for the ones
    not recorded, so the model generalises better to unseen voices.

    `level_db` (dBFS) scales every file, once at load, to that active speech level (audio.level): the model then
    trains at the one level its users' inputs are scaled to (see the model configs' input_level_db).

    `transform` (random crops only; `data.transforms`, e.g. `RandomEqualizer(8, sr, keep_rms=True)`) is applied to
    each crop after cropping and speed, with the dataset's generator; it must keep the crop's length.

    `by_duration` (random crops only) keeps the epoch's size but draws crop i from the file under position
    (i + 0.5) / len of the corpus laid end to end: every second of speech is equally likely, so a corpus of a few
    long recordings (read books) is not drowned by one of many half-second clips (spoken digits).
    """

    def __init__(
        self,
        files: Sequence[SpeechFile | Path],
        sample_rate: int,
        crop_samples: int,
        random_crops: bool,
        crops_per_file: int = 1,
        seed: int = 0,
        min_rms: float = 0.0,
        on_error: OnError = "warn",
        progress: bool | None = None,
        speed_perturb: float = 0.0,
        level_db: float | None = None,
        by_duration: bool = False,
        transform: Transform | None = None,
    ) -> None:
        if crop_samples <= 0:
            raise ValueError(f"crop_samples must be positive, got {crop_samples}")
        if crops_per_file < 1:
            raise ValueError(f"crops_per_file must be >= 1, got {crops_per_file}")
        if min_rms < 0:
            raise ValueError(f"min_rms must be >= 0, got {min_rms}")
        if not 0.0 <= speed_perturb < 0.5:
            raise ValueError(f"speed_perturb must lie in [0, 0.5), got {speed_perturb}")
        self.sample_rate = int(sample_rate)
        self.crop_samples = int(crop_samples)
        self.random_crops = bool(random_crops)
        self.crops_per_file = int(crops_per_file)
        self.seed = int(seed)
        self.min_rms = float(min_rms)
        self.speed_perturb = float(speed_perturb) if random_crops else 0.0
        self.transform = transform if random_crops else None
        loaded = load_waves(files, self.sample_rate, on_error, progress, desc="loading crops")
        if level_db is not None:
            loaded = [(i, scale_to_level(w, self.sample_rate, level_db)[0]) for i, w in loaded]
        self.files: list[SpeechFile | Path] = [files[i] for i, _ in loaded]
        lengths = np.array([len(w) for _, w in loaded], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._lengths = lengths
        self._data = np.concatenate([w for _, w in loaded]) if len(loaded) > 1 else loaded[0][1]
        self._fixed: np.ndarray | None = None if self.random_crops else self._fixed_offsets()
        self._file_of_crop: np.ndarray | None = None
        if by_duration and self.random_crops:
            n = len(self.files) * self.crops_per_file
            positions = (np.arange(n) + 0.5) / n * float(lengths.sum())
            self._file_of_crop = np.searchsorted(np.cumsum(lengths), positions, side="right").clip(0, len(lengths) - 1)
        self._worker_rng = WorkerGenerator(self.seed)

    @property
    def paths(self) -> list[Path]:
        return [as_path(f) for f in self.files]

    @property
    def total_seconds(self) -> float:
        return float(self._lengths.sum()) / self.sample_rate

    def file_wave(self, index: int) -> np.ndarray:
        """The whole loaded wave of file `index` (a view; do not modify)."""
        start = self._starts[index]
        return self._data[start : start + self._lengths[index]]

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_file

    def __getitem__(self, i: int) -> torch.Tensor:
        if not -len(self) <= i < len(self):
            raise IndexError(f"crop index {i} out of range for {len(self)} crops")
        i = int(i) % len(self)
        file_index, k = divmod(i, self.crops_per_file)
        if self._file_of_crop is not None:
            file_index = int(self._file_of_crop[i])
        if self._fixed is not None:
            crop = self._crop(file_index, int(self._fixed[file_index, k]))
        elif self.speed_perturb > 0:
            crop = self._random_speed_crop(file_index)
        else:
            crop = self._random_crop(file_index, self.crop_samples)
        if self.transform is not None:
            crop = apply_transform(self.transform, crop, self._generator())
            if len(crop) != self.crop_samples:
                raise ValueError(f"transform {self.transform!r} returned {len(crop)} samples; crops keep their "
                                 f"length ({self.crop_samples})")  # fmt: skip
        return torch.from_numpy(crop)

    # -- crops ---------------------------------------------------------------------------------------------

    def _crop(self, file_index: int, offset: int, n: int | None = None) -> np.ndarray:
        """Samples [offset, offset + n) of the file (n = crop_samples by default), zeros where that range leaves it."""
        n = self.crop_samples if n is None else n
        length = int(self._lengths[file_index])
        out = np.zeros(n, dtype=np.float32)
        lo, hi = max(offset, 0), min(offset + n, length)
        if hi > lo:
            start = int(self._starts[file_index])
            out[lo - offset : hi - offset] = self._data[start + lo : start + hi]
        return out

    def _random_speed_crop(self, file_index: int) -> np.ndarray:
        """A random crop played at a random speed in [1 - s, 1 + s], exactly crop_samples long."""
        factor = float(self._generator().uniform(1.0 - self.speed_perturb, 1.0 + self.speed_perturb))
        source = self._random_crop(file_index, round(self.crop_samples * factor))
        # Read at rate sr * factor, written at sr: factor x faster, pitch and formants x factor.
        out = soxr.resample(source, self.sample_rate * factor, self.sample_rate, quality="HQ")
        if len(out) < self.crop_samples:
            out = np.pad(out, (0, self.crop_samples - len(out)))
        return np.ascontiguousarray(out[: self.crop_samples], dtype=np.float32)

    def _random_crop(self, file_index: int, n: int) -> np.ndarray:
        rng = self._generator()
        span = int(self._lengths[file_index]) - n
        low, high = min(0, span), max(0, span)
        best, best_rms = None, -1.0
        for _ in range(_RANDOM_TRIES if self.min_rms > 0 else 1):
            crop = self._crop(file_index, int(rng.integers(low, high + 1)), n)
            if self.min_rms <= 0:
                return crop
            rms = float(np.sqrt(np.mean(np.square(crop, dtype=np.float64))))
            if rms >= self.min_rms:
                return crop
            if rms > best_rms:
                best, best_rms = crop, rms
        assert best is not None
        return best

    def _fixed_offsets(self) -> np.ndarray:
        n = self.crops_per_file
        offsets = np.stack([crop_offsets(int(length), self.crop_samples, n) for length in self._lengths])
        if self.min_rms > 0:
            for f in range(len(self._lengths)):
                offsets[f] = [self._louder_offset(f, int(o)) for o in offsets[f]]
        return offsets

    def _louder_offset(self, file_index: int, offset: int) -> int:
        """The offset nearest `offset` (quarter-crop steps) whose crop reaches min_rms, else `offset`."""
        wave = self.file_wave(file_index).astype(np.float64)
        span = len(wave) - self.crop_samples
        if span <= 0:
            return offset  # the whole file is in the crop already; nothing louder to find
        energy = np.concatenate([[0.0], np.cumsum(wave * wave)])
        step = max(1, self.crop_samples // 4)
        candidates = np.unique(np.concatenate([[offset], np.arange(0, span + 1, step), [span]]))
        candidates = candidates[np.argsort(np.abs(candidates - offset), kind="stable")]
        for c in candidates:
            rms = np.sqrt((energy[c + self.crop_samples] - energy[c]) / self.crop_samples)
            if rms >= self.min_rms:
                return int(c)
        return offset

    def _generator(self) -> np.random.Generator:
        return self._worker_rng()
