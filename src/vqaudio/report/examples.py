"""A few validation examples of a run, for the report to show, play and encode: from the run's own data folders and
validation split, as its recipe names them (data.root, data.noise, data.words, data.corpora).

Why not the training task's validation set itself: it cuts 0.5-2 s crops of single files (a spoken digit is 0.5 s)
and building it imports Lightning (train/). A listener wants a few seconds of one voice, so speech examples join one
validation speaker's clips (in path order, as the scorers' utterances do) up to `seconds`; speakers are spread over
the split. Denoise mixes each with a validation noise at SNRs spread over the recipe's range; separate takes the
validation songs as recorded (no remix, no gain), the `seconds` where the voice is loudest. Deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqaudio.audio import AudioError, gain_to_level_db, load
from vqaudio.data import SpeechFile, music_tracks, noise_files, snr_gain, speech_files, spread_evenly
from vqaudio.data.utterances import spread_quotas

__all__ = ["DataUnavailableError", "Example", "resolve_folder", "validation_examples"]

log = logging.getLogger(__name__)

SPEECH_TASKS = ("reconstruct", "codec", "envelope")
GAP_SECONDS = 0.15  # silence between joined clips, as the scorers' utterances have
MAX_FILES_PER_EXAMPLE = 24  # spoken digits are 0.5 s: enough of them for 4 s, without reading a whole speaker
PEAK_LIMIT = 0.99
GOLDEN = (5**0.5 - 1) / 2


class DataUnavailableError(RuntimeError):
    """The run's validation data cannot be read here (no folder in the recipe, folder absent, split empty)."""


@dataclass
class Example:
    """One validation example: `input` is what the model is given; `references` what its output should sound like,
    by name ({} where the input is its own reference: reconstruct, codec). Mono float32 at `sample_rate`."""

    name: str
    sample_rate: int
    input: np.ndarray
    references: dict[str, np.ndarray] = field(default_factory=dict)


def validation_examples(
    task: str,
    data: Mapping[str, Any],
    sample_rate: int,
    count: int,
    seconds: float = 4.0,
    seed: int = 0,
    search: Sequence[Path] = (),
) -> list[Example]:
    """Up to `count` examples of `task`'s validation split, each at most `seconds` long, at `sample_rate`.

    `data` is the recipe's data section; relative folders are looked up from the working directory, then from each
    folder in `search` (a run folder's parents, so a report finds `../shared/data` from anywhere). Raises
    DataUnavailableError, saying why, when the folders are not there or hold no validation audio.
    """
    if count < 1:
        return []
    if task in SPEECH_TASKS:
        return _speech_examples(data, sample_rate, count, seconds, search)
    if task == "denoise":
        return _noisy_examples(data, sample_rate, count, seconds, seed, search)
    if task == "separate":
        return _song_examples(data, sample_rate, count, seconds, search)
    raise DataUnavailableError(f"no validation examples for task {task!r}")


def resolve_folder(folder: Any, key: str, search: Sequence[Path] = ()) -> Path:
    """The recipe's folder `folder` (setting `key`) as an existing path; DataUnavailableError naming where it looked."""
    if not folder:
        raise DataUnavailableError(f"the recipe names no {key}")
    path = Path(str(folder)).expanduser()
    candidates = [path] if path.is_absolute() else [path, *(Path(base) / path for base in search)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    where = ", ".join(str(c) for c in candidates)
    raise DataUnavailableError(f"{key} {folder} is not reachable from here (looked for {where})")


# speech ---------------------------------------------------------------------------------------------------------
def _speech_examples(
    data: Mapping[str, Any], sample_rate: int, count: int, seconds: float, search: Sequence[Path]
) -> list[Example]:
    root = resolve_folder(data.get("root"), "data.root", search)
    try:
        files = speech_files(root, "val", words=data.get("words"), corpora=data.get("corpora"))
    except ValueError as err:
        raise DataUnavailableError(f"data.root {root}: {err}") from err
    files = spread_evenly(files, data.get("max_files"))
    by_speaker: dict[tuple[str, str], list[SpeechFile]] = {}
    for f in sorted(files, key=lambda f: str(f.path)):
        by_speaker.setdefault((f.corpus, f.speaker), []).append(f)
    speakers = sorted(by_speaker)
    # as many speakers as possible, several utterances each where there are fewer speakers than examples (from the
    # speaker's next files: no clip twice); ordered round-robin, and each round so that its first few are spread over
    # the corpora and speakers, so the first examples (those played) are of different voices
    quotas = spread_quotas([len(by_speaker[s]) for s in speakers], count)
    rounds: list[list[Example]] = []
    for (corpus, speaker), quota in zip(speakers, quotas, strict=True):
        speaker_files, used = by_speaker[(corpus, speaker)], 0
        for j in range(quota):
            wave, n_files = _joined(speaker_files[used:], sample_rate, seconds)
            used += n_files
            if wave is not None:
                while len(rounds) <= j:
                    rounds.append([])
                name = f"{corpus} {speaker}" + ("" if quota == 1 else f" ({j + 1})")
                rounds[j].append(Example(name, sample_rate, wave))
            if used >= len(speaker_files):
                break
    examples = [one[i] for one in rounds for i in _spread_order(len(one))]
    if not examples:
        raise DataUnavailableError(f"data.root {root}: no readable validation speech")
    return examples


def _joined(files: Sequence[SpeechFile], sample_rate: int, seconds: float) -> tuple[np.ndarray | None, int]:
    """(One speaker's clips in order, joined with short gaps until `seconds` are filled, cut there (None if none
    could be read); how many of `files` it went through)."""
    target = round(seconds * sample_rate)
    gap = np.zeros(round(GAP_SECONDS * sample_rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    length = used = 0
    for f in files[:MAX_FILES_PER_EXAMPLE]:
        used += 1
        try:
            wave, _ = load(f.path, sample_rate=sample_rate)
        except AudioError as err:
            log.warning("report: skipping %s: %s", f.path, err)
            continue
        if parts:
            parts.append(gap)
            length += len(gap)
        parts.append(np.asarray(wave, dtype=np.float32))
        length += len(wave)
        if length >= target:
            break
    if not parts:
        return None, used
    return np.concatenate(parts)[:target], used


def _spread_order(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix is spread over the range (van der Corput: 0, 1/2, 1/4, 3/4, ...)."""
    order: list[int] = []
    i = 0
    while len(order) < n:
        fraction, base, k = 0.0, 0.5, i
        while k:
            fraction += base * (k & 1)
            k, base = k >> 1, base / 2
        index = int(fraction * n)
        if index not in order:
            order.append(index)
        i += 1
    return order


# denoise --------------------------------------------------------------------------------------------------------
def _noisy_examples(
    data: Mapping[str, Any], sample_rate: int, count: int, seconds: float, seed: int, search: Sequence[Path]
) -> list[Example]:
    speech = _speech_examples(data, sample_rate, count, seconds, search)
    noise_root = resolve_folder(data.get("noise"), "data.noise", search)
    noises = _noise_waves(noise_root, data.get("noise_names"), sample_rate)
    low, high = (float(v) for v in data.get("snr_db") or (-5.0, 20.0))
    # SNRs spread over the range so that any first few are spread too (a golden-ratio sequence from the middle)
    snrs = low + (high - low) * ((0.5 + GOLDEN * np.arange(len(speech))) % 1.0)
    level = data.get("level_dbfs")
    rng = np.random.default_rng(seed)
    examples = []
    for i, (utterance, snr) in enumerate(zip(speech, snrs, strict=True)):
        noise_name, noise_wave = noises[i % len(noises)]
        noise = _crop(noise_wave, len(utterance.input), rng)
        noise = noise * np.float32(snr_gain(utterance.input, noise, float(snr), sample_rate))
        clean, mixture = utterance.input, utterance.input + noise
        if level:  # the middle of the recipe's level range, speech scaled with its mixture
            gain = 10.0 ** (gain_to_level_db(mixture, sample_rate, float(np.mean(level))) / 20.0)
            clean, mixture = clean * gain, mixture * gain
        peak = max(float(np.max(np.abs(mixture))), float(np.max(np.abs(clean))), 1e-9)
        scale = np.float32(min(1.0, PEAK_LIMIT / peak))
        name = f"{utterance.name} + {noise_name} at {snr:.1f} dB SNR"
        clean, mixture = (clean * scale).astype(np.float32), (mixture * scale).astype(np.float32)
        examples.append(Example(name, sample_rate, mixture, {"clean speech": clean}))
    return examples


def _noise_waves(root: Path, names: Sequence[str] | None, sample_rate: int) -> list[tuple[str, np.ndarray]]:
    """The validation noise recordings (or those the recipe names, as the denoise task takes them), loaded."""
    try:
        paths = noise_files(root, "val") if not names else [p for p in noise_files(root, "all") if p.stem in set(names)]
    except ValueError as err:
        raise DataUnavailableError(f"data.noise {root}: {err}") from err
    waves = []
    for path in paths:
        try:
            wave, _ = load(path, sample_rate=sample_rate)
        except AudioError as err:
            log.warning("report: skipping %s: %s", path, err)
            continue
        if len(wave):
            waves.append((path.stem, np.asarray(wave, dtype=np.float32)))
    if not waves:
        raise DataUnavailableError(f"data.noise {root}: no readable validation noise")
    return waves


def _crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of `wave` from a drawn offset, the recording repeated when it is shorter."""
    if len(wave) < n:
        wave = np.tile(wave, -(-n // len(wave)) + 1)
    start = int(rng.integers(len(wave) - n + 1))
    return wave[start : start + n]


# separate -------------------------------------------------------------------------------------------------------
def _song_examples(
    data: Mapping[str, Any], sample_rate: int, count: int, seconds: float, search: Sequence[Path]
) -> list[Example]:
    root = resolve_folder(data.get("root"), "data.root", search)
    try:
        tracks = music_tracks(root, "val")
    except ValueError as err:
        raise DataUnavailableError(f"data.root {root}: {err}") from err
    examples = []
    for track in spread_evenly(spread_evenly(tracks, data.get("max_files")), count):
        try:
            vocals, accompaniment = track.load(sample_rate)
        except (AudioError, ValueError) as err:
            log.warning("report: skipping %s: %s", track.path, err)
            continue
        start, stop = _loudest_window(vocals, round(seconds * sample_rate), sample_rate)
        vocals, accompaniment = vocals[start:stop], accompaniment[start:stop]
        stems = {"vocals": vocals.astype(np.float32), "accompaniment": accompaniment.astype(np.float32)}
        examples.append(Example(track.name, sample_rate, (vocals + accompaniment).astype(np.float32), stems))
    if not examples:
        raise DataUnavailableError(f"data.root {root}: no readable validation songs")
    return examples


def _loudest_window(wave: np.ndarray, n: int, sample_rate: int) -> tuple[int, int]:
    """(start, stop) of the n samples, on a half-second grid, where `wave` has the most energy."""
    if len(wave) <= n:
        return 0, len(wave)
    step = max(1, sample_rate // 2)
    energy = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    starts = np.arange(0, len(wave) - n + 1, step)
    best = int(starts[np.argmax(energy[starts + n] - energy[starts])])
    return best, best + n
