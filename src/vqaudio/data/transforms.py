"""Composable waveform transforms for the mixture datasets: crop, gain / level and speed, one small callable each.

A transform is any callable `(wave, rng) -> wave` taking a mono float32 wave (T,) and a numpy Generator, and
returning a new mono float32 wave; the output may have another length (crops, speed). All randomness comes from
the `rng` passed in, never from global state, so a dataset that hands every item its own seeded generator gets
the same output for that item every time (fixed validation mixtures), and one handed the same generator state
twice transforms two waves identically (the vocals and accompaniment of one song stay aligned).

`Compose([SpeedPerturb(0.1, out_samples=n), RandomGain(-6, 6)])` chains them; `RandomEqualizer` recolours a
wave's spectrum. Transforms are frozen dataclasses:
they check their arguments once, print what they are, and pickle into DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soxr

from vqaudio.audio.level import scale_to_level

__all__ = [
    "Compose",
    "FixedCrop",
    "RandomCrop",
    "RandomEqualizer",
    "RandomGain",
    "RandomLevel",
    "SpeedPerturb",
    "Transform",
    "apply_transform",
]

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def apply_transform(transform: Transform, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`transform(wave, rng)`, checked: a user's callable that returns (C, T) or NaN fails here, naming itself."""
    out = np.asarray(transform(wave, rng), dtype=np.float32)
    if out.ndim != 1:
        raise ValueError(
            f"transform {transform!r} returned shape {out.shape}; a transform must return a mono wave (T,)"
        )
    if not np.isfinite(out).all():
        raise ValueError(f"transform {transform!r} returned NaN or infinite samples")
    return out


@dataclass(frozen=True)
class Compose:
    """Apply `transforms` in order, each drawing from the same generator."""

    transforms: Sequence[Transform]

    def __post_init__(self) -> None:
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable; pass transforms (wave, rng) -> wave")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            wave = apply_transform(t, wave, rng)
        return np.asarray(wave, dtype=np.float32)


def _check_samples(name: str, n_samples: int) -> None:
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples <= 0:
        raise ValueError(f"{name}: n_samples must be a positive integer, got {n_samples!r}")


def _check_range(name: str, low: float, high: float, what: str) -> None:
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError(f"{name}: need finite {what} with low <= high, got ({low}, {high})")


def _window(wave: np.ndarray, offset: int, n: int) -> np.ndarray:
    """wave[offset : offset + n] as a new float32 array, zeros where that range leaves the wave."""
    out = np.zeros(n, dtype=np.float32)
    lo, hi = max(offset, 0), min(offset + n, len(wave))
    if hi > lo:
        out[lo - offset : hi - offset] = wave[lo:hi]
    return out


def _random_window(wave: np.ndarray, n: int, rng: np.random.Generator, wrap: bool) -> np.ndarray:
    """A random n-sample window; a shorter wave is zero-padded at a random place, or with `wrap` repeated."""
    wave = np.asarray(wave, dtype=np.float32)
    if wrap and 0 < len(wave) < n:
        start = int(rng.integers(0, len(wave)))
        return np.resize(np.roll(wave, -start), n).astype(np.float32, copy=False)
    span = len(wave) - n
    offset = int(rng.integers(min(0, span), max(0, span) + 1))
    return _window(wave, offset, n)


@dataclass(frozen=True)
class RandomCrop:
    """A random window of `n_samples`; a shorter wave is zero-padded at a random position.

    `wrap=True` repeats a shorter wave from a random start instead (for noise, where a stretch of digital
    silence would be a kind of noise nobody hears).
    """

    n_samples: int
    wrap: bool = False

    def __post_init__(self) -> None:
        _check_samples("RandomCrop", self.n_samples)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _random_window(wave, int(self.n_samples), rng, self.wrap)


@dataclass(frozen=True)
class FixedCrop:
    """The window of `n_samples` at `position` (0 = start, 0.5 = centre, 1 = end) of the wave; draws nothing.

    A shorter wave sits at that position inside the window (centred for 0.5), zero-padded around it.
    """

    n_samples: int
    position: float = 0.5

    def __post_init__(self) -> None:
        _check_samples("FixedCrop", self.n_samples)
        if not 0.0 <= self.position <= 1.0:
            raise ValueError(f"FixedCrop: position must lie in [0, 1], got {self.position}")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        offset = round(self.position * (len(wave) - self.n_samples))
        return _window(wave, int(offset), int(self.n_samples))


@dataclass(frozen=True)
class RandomGain:
    """Multiply by a gain drawn uniformly in [low_db, high_db] dB."""

    low_db: float
    high_db: float

    def __post_init__(self) -> None:
        _check_range("RandomGain", self.low_db, self.high_db, "gains in dB")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gain_db = rng.uniform(self.low_db, self.high_db)
        return np.asarray(wave, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))


@dataclass(frozen=True)
class RandomLevel:
    """Scale to an active level (audio.level: pauses do not count) drawn uniformly in [low_dbfs, high_dbfs].

    Unlike a gain, the result's level no longer depends on how loud the recording was; digital silence is left
    as it is. The draw happens even for silence, so later draws do not shift with the content.
    """

    low_dbfs: float
    high_dbfs: float
    sample_rate: int

    def __post_init__(self) -> None:
        _check_range("RandomLevel", self.low_dbfs, self.high_dbfs, "levels in dBFS")
        if not isinstance(self.sample_rate, (int, np.integer)) or self.sample_rate <= 0:
            raise ValueError(f"RandomLevel: sample_rate must be a positive integer, got {self.sample_rate!r}")

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        target = float(rng.uniform(self.low_dbfs, self.high_dbfs))
        return scale_to_level(np.asarray(wave, dtype=np.float32), int(self.sample_rate), target)[0]


@dataclass(frozen=True)
class SpeedPerturb:
    """Play the wave at a speed factor drawn uniformly in [1 - max_change, 1 + max_change] (soxr resampling).

    Factor x faster means x shorter and pitch and formants x higher, as in a shorter vocal tract: with few
    training speakers this stands in for the voices not recorded (as `WaveformCropDataset(speed_perturb=...)`).
    Without `out_samples` the whole wave is resampled (length / factor). With it, a random stretch of
    round(out_samples x factor) samples is taken first and resampled to exactly `out_samples`: the crop and the
    speed change in one step, costing the crop's length rather than the file's.
    """

    max_change: float
    out_samples: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_change < 0.5:
            raise ValueError(f"SpeedPerturb: max_change must lie in [0, 0.5), got {self.max_change}")
        if self.out_samples is not None:
            _check_samples("SpeedPerturb(out_samples)", self.out_samples)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factor = float(rng.uniform(1.0 - self.max_change, 1.0 + self.max_change))
        wave = np.asarray(wave, dtype=np.float32)
        if self.out_samples is not None:
            n = int(self.out_samples)
            wave = _random_window(wave, max(1, round(n * factor)), rng, wrap=False)
        if factor == 1.0 or len(wave) == 0:
            out = wave.copy()
        else:
            # Read at rate `factor`, written at rate 1: factor x faster, pitch and formants x factor.
            out = np.asarray(soxr.resample(wave, factor, 1.0, quality="HQ"), dtype=np.float32)
        if self.out_samples is not None:
            out = np.pad(out, (0, max(0, n - len(out))))[:n]
        return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True)
class RandomEqualizer:
    """Recolour the wave with a random smooth gain curve over frequency, at most `max_db` dB up or down.

    The curve (in dB, over log frequency from `low_hz` to Nyquist, flat below `low_hz`) is a tilt whose ends lie
    up to `max_db` apart, plus `n_bells` bells of up to +-`max_db` / 2 at log-uniform centres, 1/3 to 2 octaves
    wide. Applied to the whole wave's spectrum at once (a zero-phase filter; the curve is smooth, so its impulse
    response is short and the circular wrap negligible). For noise: a few recordings heard through many rooms,
    microphones and distances stand for more noises than they are. With `keep_rms` the output is scaled back to
    the input's RMS, so a model trained at one input level (the codec) sees the colour change, not the level.
    """

    max_db: float
    sample_rate: int
    n_bells: int = 2
    low_hz: float = 100.0
    keep_rms: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.max_db) and self.max_db >= 0.0):
            raise ValueError(f"RandomEqualizer: max_db must be finite and >= 0, got {self.max_db}")
        if not isinstance(self.sample_rate, (int, np.integer)) or self.sample_rate <= 0:
            raise ValueError(f"RandomEqualizer: sample_rate must be a positive integer, got {self.sample_rate!r}")
        if not isinstance(self.n_bells, (int, np.integer)) or self.n_bells < 0:
            raise ValueError(f"RandomEqualizer: n_bells must be a non-negative integer, got {self.n_bells!r}")
        if not 0.0 < self.low_hz < self.sample_rate / 2:
            raise ValueError(f"RandomEqualizer: low_hz must lie in (0, {self.sample_rate / 2:g}), got {self.low_hz}")

    def gain_db(self, freqs_hz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A drawn curve at `freqs_hz` (what `__call__` applies); every draw happens, whatever `max_db`."""
        top = np.log2(self.sample_rate / 2)
        octave = np.log2(np.clip(freqs_hz, self.low_hz, None))
        centre = 0.5 * (np.log2(self.low_hz) + top)
        span = top - np.log2(self.low_hz)
        tilt = rng.uniform(-1.0, 1.0) * self.max_db / span  # dB per octave: the ends up to max_db apart
        curve = tilt * (octave - centre)
        for _ in range(int(self.n_bells)):
            height = rng.uniform(-0.5, 0.5) * self.max_db
            middle = rng.uniform(np.log2(self.low_hz), top)
            width = rng.uniform(1.0 / 3.0, 2.0) / 2.0  # octaves either side where the bell is at ~60 %
            curve = curve + height * np.exp(-0.5 * ((octave - middle) / width) ** 2)
        return np.clip(curve, -self.max_db, self.max_db)

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        freqs = np.fft.rfftfreq(len(wave), 1.0 / self.sample_rate) if len(wave) else np.zeros(0)
        gain = 10.0 ** (self.gain_db(freqs, rng) / 20.0)  # drawn even when unused: later draws do not shift
        if len(wave) < 2 or self.max_db == 0.0:
            return wave.copy()
        out = np.fft.irfft(np.fft.rfft(wave) * gain, n=len(wave))
        if self.keep_rms:
            before, after = np.sqrt(np.mean(np.square(wave, dtype=np.float64))), np.sqrt(np.mean(out**2))
            out = out * (before / after) if after > 0.0 else out
        return out.astype(np.float32)
