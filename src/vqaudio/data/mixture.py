"""Mixtures made on the fly for the denoise and separate jobs: speech + noise, and music stems remixed across clips.

Item format, for every dataset here: `dataset[i]` is `(mixture, stems)`, float32 torch tensors, `mixture` of
shape (T,) and `stems` of shape (S, T) with T = `n_samples`, `stems.sum(0) == mixture` (exactly: the mixture is
computed from the final stems) and the stem order given by `dataset.stem_names`: ("speech", "noise") for
`NoisySpeechDataset`, ("vocals", "accompaniment") for `MusicRemixDataset`. The DataLoader's default collate
turns a batch into (B, T) and (B, S, T).

Every source file is decoded once, at the dataset's `sample_rate` (resampled at load if need be; undecodable
files are skipped with one warning, see `load_waves`), into one contiguous array that DataLoader workers share.
An item then takes crops of its sources (the per-source `transform`s: crop, gain / level, speed; see
`vqaudio.data.transforms`), mixes them at drawn gains, scales the mixture to a drawn overall level and, if its
peak (or a stem's) would pass 1, scales mixture and stems down together: nothing is clipped, silently or not.

Randomness: with `fixed=True` (validation), item i draws everything from its own generator,
`np.random.SeedSequence([seed, i])`, so it is the same mixture every epoch, in any DataLoader worker, on any
machine. With `fixed=False` (training) draws come from one generator per process, seeded by `seed`, the DDP rank
and the DataLoader worker's seed (torch's, fixed by seed_everything), as in `WaveformCropDataset`: workers, ranks
and epochs differ, and a seeded run repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr
import torch
from torch.utils.data import Dataset

from vqaudio.audio.level import active_level_db, gain_to_level_db
from vqaudio.data.base import SpeechFile
from vqaudio.data.loading import OnError, as_path, load_waves
from vqaudio.data.music import MusicTrack, load_tracks
from vqaudio.data.rng import WorkerGenerator
from vqaudio.data.transforms import RandomCrop, Transform, apply_transform

__all__ = ["BandLimited", "MixtureDataset", "MusicRemixDataset", "NoisySpeechDataset", "load_stereo", "snr_gain"]

LAYER_DB = (-10.0, 0.0)  # a layered second noise's power relative to the first's (NoisySpeechDataset)
COLOURED_EXPONENTS = (0.0, 2.0)  # spectral slopes of coloured noise: white (0) to brown (2) (NoisySpeechDataset)
_TINY_POWER = 1e-12  # -120 dBFS: a noise crop below this is digital silence, nothing to scale to an SNR
_PEAK_LIMIT = 1.0 - 1e-6  # a little under 1, so float32 rounding of the scaled sum cannot land above 1
_PROGRESS_MIN_FILES = 50


class _WaveBank:
    """Waves (T,) or (C, T) held in one contiguous array, one slice per file: workers share one buffer."""

    def __init__(self, waves: Sequence[np.ndarray]) -> None:
        self.lengths = np.array([w.shape[-1] for w in waves], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.data = np.ascontiguousarray(np.concatenate(list(waves), axis=-1), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, k: int) -> np.ndarray:
        """Wave `k` as a view (do not modify)."""
        start = int(self.starts[k])
        return self.data[..., start : start + int(self.lengths[k])]


def _check_range(
    name: str, value: tuple[float, float], low: float = -np.inf, high: float = np.inf
) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from err
    if not (np.isfinite(a) and np.isfinite(b)) or a > b or a < low or b > high:
        raise ValueError(f"{name} must be finite with low <= high (within [{low}, {high}]), got {value!r}")
    return a, b


def _positive_int(name: str, value: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class MixtureDataset(Dataset):
    """What the mixture datasets share: item generators, fitting sources to length, level and clip protection.

    Subclasses set `stem_names` and implement `_draw_stems(i, rng) -> (S, n_samples) float32`.
    `level_dbfs` = (low, high) scales each mixture (and its stems, by the same gain) to an active level drawn in
    that range (audio.level; a model with a fixed input_level_db wants (L, L)); None keeps the sources' levels.
    """

    stem_names: tuple[str, ...] = ()

    def __init__(
        self,
        sample_rate: int,
        n_samples: int,
        fixed: bool,
        seed: int,
        level_dbfs: tuple[float, float] | None,
    ) -> None:
        """Checks and stores the shared settings; call it before loading, and set `length` after."""
        self.sample_rate = _positive_int("sample_rate", sample_rate)
        self.n_samples = _positive_int("n_samples", n_samples)
        self.length = 0
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.fixed = bool(fixed)
        self.seed = int(seed)
        self.level_dbfs = None if level_dbfs is None else _check_range("level_dbfs", level_dbfs, high=0.0)
        self._worker_rng = WorkerGenerator(self.seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"mixture index {i} out of range for {len(self)} mixtures")
        i = int(i) % len(self)
        rng = self._item_generator(i)
        stems = self._finish(self._draw_stems(i, rng), rng)
        mixture = stems.sum(axis=0, dtype=np.float32)
        return torch.from_numpy(mixture), torch.from_numpy(stems)

    def _draw_stems(self, i: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    # -- shared steps ----------------------------------------------------------------------------------------

    def _source(
        self, wave: np.ndarray, transform: Transform | None, rng: np.random.Generator, wrap: bool
    ) -> np.ndarray:
        """`transform(wave)` (a random crop by default), then cropped or padded at random to n_samples if needed."""
        fit = RandomCrop(self.n_samples, wrap=wrap)
        out = fit(wave, rng) if transform is None else apply_transform(transform, wave, rng)
        return out if len(out) == self.n_samples else fit(out, rng)

    def _finish(self, stems: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Stems at the drawn overall level, scaled down together if any peak would pass 1; float32."""
        stems = np.asarray(stems, dtype=np.float64)
        gain = 1.0
        if self.level_dbfs is not None:
            target = float(rng.uniform(*self.level_dbfs))  # drawn even for silence: later draws do not shift
            gain = 10.0 ** (gain_to_level_db(stems.sum(axis=0), self.sample_rate, target) / 20.0)
        mixture_peak = float(np.max(np.abs(stems.sum(axis=0)), initial=0.0))
        peak = gain * max(mixture_peak, float(np.max(np.abs(stems), initial=0.0)))
        if peak > 1.0:
            gain *= _PEAK_LIMIT / peak
        return np.ascontiguousarray(stems * gain, dtype=np.float32)

    def _item_generator(self, i: int) -> np.random.Generator:
        if self.fixed:
            return np.random.default_rng(np.random.SeedSequence([self.seed, i]))
        return self._generator()

    def _generator(self) -> np.random.Generator:
        return self._worker_rng()


def snr_gain(speech: np.ndarray, noise: np.ndarray, snr_db: float, sample_rate: int) -> float:
    """The gain for `noise` that puts `speech` `snr_db` dB above it; 1.0 when either is digital silence.

    SNR = active speech level (audio.level: pauses do not count, so a crop that is half pause still gets the
    noise its spoken half calls for) minus the noise's mean power over the crop, in dB. A silent speech crop
    keeps the noise at its own level (the overall level sets the rest); a silent noise crop stays silent.
    Never divides by zero, never returns NaN.
    """
    speech_db = active_level_db(np.asarray(speech), sample_rate)
    noise_power = float(np.mean(np.square(noise, dtype=np.float64))) if len(noise) else 0.0
    if speech_db is None or noise_power <= _TINY_POWER:
        return 1.0
    return float(10.0 ** ((speech_db - snr_db - 10.0 * np.log10(noise_power)) / 20.0))


class NoisySpeechDataset(MixtureDataset):
    """Speech + noise at an SNR drawn uniformly in `snr_db`, at a drawn overall level (see the module docstring).

    Item i uses speech file i % (number of speech files) and a noise recording drawn uniformly (by file, so short
    and long recordings are as likely). `length` (default: one item per speech file) is the number of mixtures
    per epoch. `speech_transform` / `noise_transform` run on the whole decoded file (default: a random crop of
    n_samples; noise shorter than that is repeated, speech zero-padded); their output is then cropped or padded
    at random to n_samples if it is not that long already. Put a crop first in a transform that does more than
    crop (`Compose([SpeedPerturb(0.1, out_samples=n), RandomGain(-3, 3)])`), so the work is on the crop rather
    than a 90 s recording. The SNR is measured after the transforms (`snr_gain`).

    `layer_prob`: the share of mixtures whose noise is two recordings at once (another one, drawn and transformed
    the same way, at a power `LAYER_DB` below or up to the first's): rain in a city, a fire in a coffee shop.
    `coloured_prob`: the share of mixtures whose noise is stationary Gaussian noise with a power spectrum falling as
    f^-a, a drawn in `COLOURED_EXPONENTS` (white to brown: hiss, fans, air), instead of a recording; layering may
    still put a recording under it. Recordings of places hold little such noise.
    """

    stem_names = ("speech", "noise")

    def __init__(
        self,
        speech: Sequence[SpeechFile | str | Path],
        noise: Sequence[str | Path],
        sample_rate: int,
        n_samples: int,
        *,
        snr_db: tuple[float, float] = (-5.0, 20.0),
        level_dbfs: tuple[float, float] | None = (-35.0, -15.0),
        fixed: bool = False,
        seed: int = 0,
        length: int | None = None,
        speech_transform: Transform | None = None,
        noise_transform: Transform | None = None,
        layer_prob: float = 0.0,
        coloured_prob: float = 0.0,
        on_error: OnError = "warn",
        progress: bool | None = None,
    ) -> None:
        if not speech:
            raise ValueError("NoisySpeechDataset: no speech files given (empty list); check the folder and split")
        if not noise:
            raise ValueError("NoisySpeechDataset: no noise files given (empty list); check the folder and split")
        super().__init__(sample_rate, n_samples, fixed, seed, level_dbfs)
        self.snr_db = _check_range("snr_db", snr_db)
        if not 0.0 <= layer_prob <= 1.0:
            raise ValueError(f"layer_prob must lie in [0, 1], got {layer_prob}")
        self.layer_prob = float(layer_prob)
        if not 0.0 <= coloured_prob <= 1.0:
            raise ValueError(f"coloured_prob must lie in [0, 1], got {coloured_prob}")
        self.coloured_prob = float(coloured_prob)
        if length is not None:
            _positive_int("length", length)
        loaded_speech = load_waves(speech, self.sample_rate, on_error, progress, desc="loading speech")
        loaded_noise = load_waves(noise, self.sample_rate, on_error, progress, desc="loading noise")
        self.speech_files: list[SpeechFile | str | Path] = [speech[i] for i, _ in loaded_speech]
        self.noise_files: list[Path] = [as_path(noise[i]) for i, _ in loaded_noise]
        self._speech = _WaveBank([w for _, w in loaded_speech])
        self._noise = _WaveBank([w for _, w in loaded_noise])
        self.speech_transform = speech_transform
        self.noise_transform = noise_transform
        self.length = len(self._speech) if length is None else int(length)

    @property
    def total_seconds(self) -> tuple[float, float]:
        """(speech, noise) seconds held in memory."""
        return float(self._speech.lengths.sum()) / self.sample_rate, float(self._noise.lengths.sum()) / self.sample_rate

    def _draw_stems(self, i: int, rng: np.random.Generator) -> np.ndarray:
        speech = self._source(self._speech[i % len(self._speech)], self.speech_transform, rng, wrap=False)
        first = int(rng.integers(len(self._noise)))
        if self.coloured_prob and rng.random() < self.coloured_prob:
            noise = coloured_noise(self.n_samples, float(rng.uniform(*COLOURED_EXPONENTS)), rng)
        else:
            noise = self._source(self._noise[first], self.noise_transform, rng, wrap=True)
        if self.layer_prob and len(self._noise) > 1 and rng.random() < self.layer_prob:
            noise = self._layered(noise, first, rng)
        snr = float(rng.uniform(*self.snr_db))
        return np.stack([speech, noise * np.float32(snr_gain(speech, noise, snr, self.sample_rate))])

    def _layered(self, noise: np.ndarray, first: int, rng: np.random.Generator) -> np.ndarray:
        """`noise` plus another recording (not `first`) at a power drawn in LAYER_DB relative to it."""
        other = (first + 1 + int(rng.integers(len(self._noise) - 1))) % len(self._noise)
        second = self._source(self._noise[other], self.noise_transform, rng, wrap=True)
        relative_db = float(rng.uniform(*LAYER_DB))
        power, second_power = (float(np.mean(np.square(x, dtype=np.float64))) for x in (noise, second))
        if power <= _TINY_POWER or second_power <= _TINY_POWER:
            return noise + second  # one is digital silence: nothing to set a level against
        gain = np.float32(10.0 ** ((10.0 * np.log10(power / second_power) + relative_db) / 20.0))
        return noise + second * gain


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of stationary Gaussian noise, unit RMS, power falling as f^-exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= np.maximum(np.arange(spectrum.size), 1.0) ** (-exponent / 2.0)
    noise = np.fft.irfft(spectrum, n)
    return (noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)).astype(np.float32)


class MusicRemixDataset(MixtureDataset):
    """Vocals + accompaniment from stereo clips (left = accompaniment, right = vocals, as MIR-1K), remixed.

    `clips` are stereo file paths, or `MusicTrack`s (`music_tracks`: MIR-1K files or MUSDB track folders, whose
    stems are downmixed to mono), or both.

    Item i takes the vocals of clip i % (number of clips); with probability `remix_prob` the accompaniment of
    another clip drawn uniformly (a remix: new pairs of voice and backing, many more mixtures than songs),
    otherwise the clip's own (the original pairing; always so with a single clip). Each stem then gets a gain
    drawn uniformly in `stem_gain_db`, then the mixture an overall level (`level_dbfs`). `transform` runs on each
    stem's whole clip (default: a random crop of n_samples); for an original pair both stems get the same draws,
    so crops and speed changes stay aligned (a level transform still scales each stem to its own drawn level).
    `length` defaults to one item per clip. For scores comparable with the MIR-1K literature validate on the
    original songs: remix_prob=0, stem_gain_db=(0, 0), level_dbfs=None.
    `extra_vocals`: more voices (speech recordings, say: two MIR-1K training singers are few) that stand in for
    the vocal stem `extra_vocals_prob` of the time, over a clip's accompaniment drawn uniformly.
    Raises ValueError for a clip that is not stereo (a mono file has no stems to separate).
    """

    stem_names = ("vocals", "accompaniment")

    def __init__(
        self,
        clips: Sequence[MusicTrack | str | Path],
        sample_rate: int,
        n_samples: int,
        *,
        remix_prob: float = 0.5,
        stem_gain_db: tuple[float, float] = (-6.0, 6.0),
        level_dbfs: tuple[float, float] | None = (-35.0, -15.0),
        fixed: bool = False,
        seed: int = 0,
        length: int | None = None,
        transform: Transform | None = None,
        on_error: OnError = "warn",
        progress: bool | None = None,
        extra_vocals: Sequence[np.ndarray] = (),
        extra_vocals_prob: float = 0.0,
    ) -> None:
        for name, prob in (("remix_prob", remix_prob), ("extra_vocals_prob", extra_vocals_prob)):
            if not 0.0 <= prob <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {prob}")
        self.remix_prob = float(remix_prob)
        self.extra_vocals_prob = float(extra_vocals_prob) if len(extra_vocals) else 0.0
        if any(np.ndim(w) != 1 or np.size(w) == 0 for w in extra_vocals):
            raise ValueError("extra_vocals must be non-empty mono waves (T,)")
        self._extra_vocals = _WaveBank(extra_vocals) if len(extra_vocals) else None
        super().__init__(sample_rate, n_samples, fixed, seed, level_dbfs)
        self.stem_gain_db = _check_range("stem_gain_db", stem_gain_db)
        if length is not None:
            _positive_int("length", length)
        loaded = _music_rows(clips, self.sample_rate, on_error, progress)
        chosen = [clips[i] for i, _ in loaded]
        self.clips: list[Path] = [c.path if isinstance(c, MusicTrack) else Path(c) for c in chosen]  # files or folders
        self._clips = _WaveBank([w for _, w in loaded])  # (2, total): row 0 left = accompaniment, row 1 = vocals
        self.transform = transform
        self.length = len(self._clips) if length is None else int(length)

    @property
    def total_seconds(self) -> float:
        return float(self._clips.lengths.sum()) / self.sample_rate

    @property
    def extra_vocals_seconds(self) -> float:
        bank = self._extra_vocals
        return 0.0 if bank is None else float(bank.lengths.sum()) / self.sample_rate

    def pair(self, i: int, rng: np.random.Generator) -> tuple[int, int]:
        """(vocals clip, accompaniment clip) for item i, drawn from `rng`; equal for an original pairing."""
        n = len(self._clips)
        vocals = i % n
        remix = rng.random() < self.remix_prob
        other = (vocals + 1 + int(rng.integers(max(1, n - 1)))) % n
        return (vocals, other) if remix and n > 1 else (vocals, vocals)

    def _draw_stems(self, i: int, rng: np.random.Generator) -> np.ndarray:
        v, a = self.pair(i, rng)
        if self._extra_vocals is not None and rng.random() < self.extra_vocals_prob:
            voice = self._extra_vocals[int(rng.integers(len(self._extra_vocals)))]
            vocals = self._source(voice, self.transform, rng, wrap=False)
            accompaniment = self._source(self._clips[a][0], self.transform, rng, wrap=False)
        elif v == a:
            shared = int(rng.integers(2**63))  # one draw for both stems: the same crop, speed and gain
            vocals = self._source(self._clips[v][1], self.transform, np.random.default_rng(shared), wrap=False)
            accompaniment = self._source(self._clips[v][0], self.transform, np.random.default_rng(shared), wrap=False)
        else:
            vocals = self._source(self._clips[v][1], self.transform, rng, wrap=False)
            accompaniment = self._source(self._clips[a][0], self.transform, rng, wrap=False)
        gains = 10.0 ** (rng.uniform(*self.stem_gain_db, size=2) / 20.0)
        return np.stack([vocals * np.float32(gains[0]), accompaniment * np.float32(gains[1])])


def load_stereo(
    files: Sequence[Path | str],
    sample_rate: int,
    on_error: OnError = "warn",
    progress: bool | None = None,
    desc: str = "loading stereo audio",
) -> list[tuple[int, np.ndarray]]:
    """(index into `files`, (2, T) float32 wave at `sample_rate`) for every file that loads, like `load_waves`.

    A file that decodes but is not stereo raises ValueError: music stems need the accompaniment on the left channel
    and the vocals on the right (as MIR-1K).
    """
    rate = _positive_int("sample_rate", sample_rate)
    try:
        return load_waves(files, rate, on_error, progress, desc, channels=2)
    except ValueError as err:
        if "channel(s)" not in str(err):
            raise
        raise ValueError(f"{err}: music stems need stereo files, accompaniment left and vocals right (MIR-1K)") from err


def _music_rows(
    clips: Sequence[MusicTrack | str | Path], sample_rate: int, on_error: OnError, progress: bool | None
) -> list[tuple[int, np.ndarray]]:
    """(index into `clips`, (2, T) float32 [accompaniment, vocals]) for every clip that loads.

    A list of paths is read by `load_stereo`, as it always was; a list holding `MusicTrack`s by `load_tracks`
    (mono stems), its paths taken as MIR-1K-layout tracks.
    """
    if not any(isinstance(c, MusicTrack) for c in clips):
        return load_stereo(clips, sample_rate, on_error, progress, desc="loading music")  # type: ignore[arg-type]
    tracks = [c if isinstance(c, MusicTrack) else MusicTrack(Path(c).stem, "mir1k", Path(c)) for c in clips]
    loaded = load_tracks(tracks, sample_rate, mono=True, on_error=on_error, progress=progress)
    return [(i, np.stack([accompaniment, vocals])) for i, vocals, accompaniment in loaded]


class BandLimited(Dataset):
    """A mixture dataset whose items are, with probability `prob`, band-limited to `band_rate` / 2 Hz.

    Every stem goes down to `band_rate` and back up (soxr), and the mixture is their sum again: a wideband model
    trained on some of these also meets telephone-band speech (8 kHz recordings resampled up carry nothing above
    4 kHz) in training, noise included. Draws follow the wrapped dataset's rules: per item for a fixed set,
    per worker otherwise.
    """

    def __init__(self, dataset: MixtureDataset, prob: float, band_rate: int = 8000) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"BandLimited: prob must lie in [0, 1], got {prob}")
        if not 0 < band_rate < dataset.sample_rate:
            raise ValueError(f"BandLimited: band_rate must lie below the dataset's {dataset.sample_rate} Hz")
        self.dataset = dataset
        self.prob = float(prob)
        self.band_rate = int(band_rate)
        self.stem_names = dataset.stem_names
        self._worker_rng = WorkerGenerator(dataset.seed + 7919)  # its own stream: the mixtures' draws stay as they are

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        mixture, stems = self.dataset[i]
        fixed = self.dataset.fixed
        rng = np.random.default_rng(np.random.SeedSequence([self.dataset.seed, i, 1])) if fixed else self._worker_rng()
        if self.prob == 0.0 or rng.random() >= self.prob:
            return mixture, stems
        rate, n = self.dataset.sample_rate, stems.shape[-1]
        limited = np.stack(
            [
                _fit(soxr.resample(soxr.resample(s, rate, self.band_rate), self.band_rate, rate), n)
                for s in stems.numpy()
            ]
        ).astype(np.float32)
        out = torch.from_numpy(limited)
        return out.sum(0), out


def _fit(wave: np.ndarray, n: int) -> np.ndarray:
    return wave[:n] if wave.size >= n else np.pad(wave, (0, n - wave.size))
