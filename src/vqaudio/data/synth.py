"""Speech-like test signals: a source-filter model, so tests and the offline demo need no recordings.

A band-limited harmonic (glottal-pulse-like) source with a smooth pitch contour is shaped by a cascade of
time-varying formant resonators moving between vowel targets; voiced stretches alternate with pauses and
noisy fricative-like bursts under smooth amplitude envelopes. It is not speech, but it has what a speech
model and its metrics care about: harmonics, formants, onsets, silences and noise. Deterministic for a
seed; numpy + scipy.signal.lfilter only, well over 100x real time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter

__all__ = ["SynthVoice", "synth_corpus", "synth_speech", "synth_voices"]

# Formant targets F1..F4 (Hz) of an adult male voice, after Peterson & Barney (1952).
_VOWELS = np.array(
    [
        [730, 1090, 2440, 3400],  # a
        [270, 2290, 3010, 3500],  # i
        [300, 870, 2240, 3300],  # u
        [530, 1840, 2480, 3450],  # e
        [570, 840, 2410, 3350],  # o
        [660, 1720, 2410, 3400],  # ae
        [490, 1350, 1690, 3300],  # er
    ],
    dtype=np.float64,
)
_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])
_BLOCK_SECONDS = 0.01  # formant coefficients change every 10 ms
_PEAK = 0.5


@dataclass(frozen=True)
class SynthVoice:
    """A synthetic "speaker": mean pitch and how far its formants sit above an adult male's."""

    pitch_hz: float
    formant_scale: float


def synth_voices(n: int, seed: int = 0) -> list[SynthVoice]:
    """`n` voices alternating low (95-135 Hz, formants x0.95-1.05) and high (170-230 Hz, x1.12-1.22)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    voices = []
    for i in range(n):
        if i % 2 == 0:
            voices.append(SynthVoice(float(rng.uniform(95, 135)), float(rng.uniform(0.95, 1.05))))
        else:
            voices.append(SynthVoice(float(rng.uniform(170, 230)), float(rng.uniform(1.12, 1.22))))
    return voices


def synth_corpus(
    n_clips: int, duration_s: float, sample_rate: int = 8000, seed: int = 0, n_speakers: int | None = None
) -> list[np.ndarray]:
    """`n_clips` clips of `n_speakers` voices (default min(n_clips, 6)); clip i has voice i % n_speakers."""
    if n_clips < 0:
        raise ValueError(f"n_clips must be >= 0, got {n_clips}")
    voices = synth_voices(n_speakers or max(1, min(n_clips, 6)), seed)
    clips = []
    for i in range(n_clips):
        voice = voices[i % len(voices)]
        clip_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        clips.append(synth_speech(duration_s, sample_rate, clip_seed, voice.pitch_hz, voice.formant_scale))
    return clips


def synth_speech(
    duration_s: float,
    sample_rate: int = 8000,
    seed: int = 0,
    pitch_hz: float | None = None,
    formant_scale: float | None = None,
) -> np.ndarray:
    """round(duration_s * sample_rate) float32 samples of speech-like sound, peak 0.5.

    `pitch_hz` is the mean pitch (drawn from 100-210 Hz by the seed if None); the contour stays within
    about -15%/+18% of it. `formant_scale` (1.0 = adult male) defaults to rising with pitch.
    """
    n = round(duration_s * sample_rate)
    if n <= 0:
        raise ValueError(f"duration_s * sample_rate must give at least one sample, got {duration_s} s")
    if sample_rate < 4000:
        raise ValueError(f"sample_rate must be >= 4000 Hz for formants to fit, got {sample_rate}")
    rng = np.random.default_rng(seed)
    if pitch_hz is None:
        pitch_hz = float(rng.uniform(100, 210))
    if pitch_hz <= 0:
        raise ValueError(f"pitch_hz must be positive, got {pitch_hz}")
    if formant_scale is None:
        formant_scale = 1.0 + 0.2 * float(np.clip((pitch_hz - 100.0) / 110.0, 0.0, 1.0))
    block = max(1, round(_BLOCK_SECONDS * sample_rate))
    segments = _plan_segments(n, sample_rate, rng)
    f0 = _pitch_contour(n, sample_rate, pitch_hz, rng)
    voiced_env = _envelope(n, sample_rate, [s for s in segments if s[0] == "voiced"], rng)
    fric_env = _envelope(n, sample_rate, [s for s in segments if s[0] == "fricative"], rng)

    source = _harmonic_source(f0, sample_rate, rng) + 0.03 * rng.standard_normal(n)  # + breath noise
    tracks = _formant_tracks(n, block, segments, formant_scale, rng)
    voiced = _formant_cascade(source * voiced_env, tracks, sample_rate, block)
    fricative = _fricative_noise(n, sample_rate, segments, rng) * fric_env

    voiced_rms = _rms(voiced[voiced_env > 0.5]) if np.any(voiced_env > 0.5) else _rms(voiced)
    fric_rms = _rms(fricative[fric_env > 0.5]) if np.any(fric_env > 0.5) else 0.0
    if fric_rms > 0 and voiced_rms > 0:
        fricative *= 0.3 * voiced_rms / fric_rms
    out = voiced + fricative
    peak = float(np.max(np.abs(out)))
    if peak <= 0 or not np.isfinite(peak):
        out = rng.standard_normal(n)  # unreachable in practice: the first segment is voiced
        peak = float(np.max(np.abs(out)))
    out *= _PEAK / peak
    out += 10 ** (-60 / 20) * _PEAK * rng.standard_normal(n)  # recording noise floor, -60 dB re peak
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _plan_segments(n: int, sr: int, rng: np.random.Generator) -> list[tuple[str, int, int]]:
    """(kind, start, end) sample ranges: a short lead-in, then voiced stretches with fricatives and pauses."""
    seconds = n / sr
    t = min(rng.uniform(0.02, 0.08), 0.1 * seconds)
    segments: list[tuple[str, float, float]] = []
    first = True
    while t < seconds:
        if not first and rng.random() < 0.3:
            length = rng.uniform(0.05, 0.14)
            segments.append(("fricative", t, t + length))
            t += length
        length = rng.uniform(0.12, 0.40)
        segments.append(("voiced", t, t + length))
        t += length
        if rng.random() < 0.25:
            length = rng.uniform(0.05, 0.12)
            segments.append(("fricative", t, t + length))
            t += length
        t += rng.uniform(0.06, 0.22) if rng.random() < 0.5 else rng.uniform(0.0, 0.03)
        first = False
    out = []
    for kind, start, end in segments:
        a, b = round(start * sr), min(n, round(end * sr))
        if b - a >= 0.02 * sr or (not out and b > a):  # a sliver cut off by the end would only click
            out.append((kind, a, b))
    return out


def _pitch_contour(n: int, sr: int, pitch_hz: float, rng: np.random.Generator) -> np.ndarray:
    """f0 per sample: mean pitch x smooth wander (three slow sinusoids) x a gentle declination."""
    t = np.arange(n) / sr
    wander = np.zeros(n)
    for _ in range(3):
        wander += np.sin(2 * np.pi * rng.uniform(0.3, 2.5) * t + rng.uniform(0, 2 * np.pi))
    wander *= 0.06  # each term +-6%: up to +-18% together, clipped below
    declination = -0.05 * t / max(t[-1], 1e-9) if n > 1 else 0.0
    ratio = np.clip(np.exp(wander + declination), 0.85, 1.18)
    return pitch_hz * ratio


def _harmonic_source(f0: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited glottal-pulse-like source: equal harmonics up to 0.46 * sr, then a -6 dB/oct tilt.

    The harmonic sum has a closed form (Dirichlet kernel), so the cost does not grow with the number of
    harmonics; the top harmonic fades in and out with its fractional count, so none aliases or clicks
    as the pitch moves.
    """
    phase = 2 * np.pi * np.cumsum(f0) / sr + rng.uniform(0, 2 * np.pi)
    count = 0.46 * sr / f0
    k = np.floor(count)
    half = np.sin(0.5 * phase)
    safe = np.where(np.abs(half) < 1e-9, 1.0, half)
    dirichlet = np.where(np.abs(half) < 1e-9, k, np.sin((k + 0.5) * phase) / (2 * safe) - 0.5)
    pulses = dirichlet + (count - k) * np.cos((k + 1) * phase)
    pole = np.exp(-2 * np.pi * 100.0 / sr)  # one-pole low-pass at 100 Hz: amplitudes fall as 1/k
    return lfilter([1.0 - pole], [1.0, -pole], pulses)


def _envelope(n: int, sr: int, segments: list[tuple[str, int, int]], rng: np.random.Generator) -> np.ndarray:
    """Raised-cosine onsets (~25 ms) and offsets (~40 ms) with a syllabic swell in the middle."""
    env = np.zeros(n)
    for _, a, b in segments:
        length = b - a
        u = (np.arange(length) + 0.5) / length
        attack = min(length // 2, round(0.025 * sr))
        release = min(length // 2, round(0.04 * sr))
        shape = (0.65 + 0.35 * np.sin(np.pi * u)) * rng.uniform(0.6, 1.0)
        if attack > 0:
            shape[:attack] *= 0.5 - 0.5 * np.cos(np.pi * (np.arange(attack) + 0.5) / attack)
        if release > 0:
            shape[length - release :] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(release) + 0.5) / release)
        env[a:b] = np.maximum(env[a:b], shape)
    return env


def _formant_tracks(
    n: int, block: int, segments: list[tuple[str, int, int]], scale: float, rng: np.random.Generator
) -> np.ndarray:
    """(n_blocks, 4) formant frequencies: each voiced stretch glides between two vowel targets."""
    n_blocks = -(-n // block)
    tracks = np.empty((n_blocks, 4))
    current = _VOWELS[rng.integers(len(_VOWELS))]
    tracks[:] = current
    for kind, a, b in segments:
        if kind != "voiced":
            continue
        target = _VOWELS[rng.integers(len(_VOWELS))] * rng.uniform(0.95, 1.05, size=4)
        start = _VOWELS[rng.integers(len(_VOWELS))] if rng.random() < 0.5 else current
        ba, bb = a // block, max(a // block + 1, -(-b // block))
        u = np.linspace(0.0, 1.0, bb - ba)[:, None]
        glide = u * u * (3 - 2 * u)  # smoothstep
        tracks[ba:bb] = start + (target - start) * glide
        tracks[bb:] = target
        current = target
    return tracks * scale


def _formant_cascade(x: np.ndarray, tracks: np.ndarray, sr: int, block: int) -> np.ndarray:
    """Klatt-style cascade of 2-pole resonators (unity gain at DC), coefficients updated every block.

    Each resonator keeps its own 2-sample state across blocks, so gliding formants make no clicks.
    """
    keep = np.max(tracks, axis=0) < 0.46 * sr  # a formant above Nyquist (high voices at 8 kHz) is absent
    freqs, bandwidths = tracks[:, keep], _BANDWIDTHS[keep]
    r = np.exp(-np.pi * bandwidths / sr)
    c1 = 2 * r * np.cos(2 * np.pi * freqs / sr)  # (n_blocks, n_formants)
    c2 = -r * r
    gain = 1.0 - c1 - c2
    y = np.asarray(x, dtype=np.float64)
    for j in range(c1.shape[1]):
        out = np.empty_like(y)
        zi = np.zeros(2)
        a = np.array([1.0, 0.0, -c2[j]])
        for b in range(c1.shape[0]):
            sl = slice(b * block, min((b + 1) * block, len(y)))
            a[1] = -c1[b, j]
            out[sl], zi = lfilter(gain[b, j : j + 1], a, y[sl], zi=zi)
        y = out
    return y


def _fricative_noise(n: int, sr: int, segments: list[tuple[str, int, int]], rng: np.random.Generator) -> np.ndarray:
    """White noise band-passed high in the spectrum, a different band per fricative."""
    out = np.zeros(n)
    nyquist = sr / 2
    for kind, a, b in segments:
        if kind != "fricative":
            continue
        centre = rng.uniform(0.55, 0.8) * nyquist
        low = (centre - 0.15 * nyquist) / nyquist
        high = min(centre + 0.15 * nyquist, 0.97 * nyquist) / nyquist
        bb, aa = butter(2, [low, high], btype="bandpass")
        pad = min(a, round(0.02 * sr))  # let the filter settle before the burst starts
        noise = rng.standard_normal(b - a + pad)
        out[a:b] = lfilter(bb, aa, noise)[pad:]
    return out
