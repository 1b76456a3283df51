"""Evaluation utterances: clips of one speaker joined with short silences into ~4 s of speech.

FSDD clips are ~0.5 s, too short for PESQ and STOI to be reliable one by one (../shared/data/README.md),
so scoring joins a speaker's clips, in sorted order, until the utterance reaches `target_seconds`.
Longer recordings (Asterisk prompts) stand alone or are joined the same way. Deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vqaudio.data.base import SpeechFile
from vqaudio.data.loading import OnError, as_path, load_waves

__all__ = ["Utterance", "join_utterances", "spread_quotas"]


@dataclass
class Utterance:
    """A waveform to score, named `<speaker>-<k>`; `sources` are the files it was joined from, in order."""

    name: str
    speaker: str
    wave: np.ndarray
    sample_rate: int
    sources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def seconds(self) -> float:
        return self.wave.shape[-1] / self.sample_rate


def join_utterances(
    files: Sequence[SpeechFile | Path],
    sample_rate: int,
    target_seconds: float = 4.0,
    gap_seconds: float = 0.15,
    max_utterances: int | None = None,
    on_error: OnError = "warn",
    progress: bool | None = None,
) -> list[Utterance]:
    """Join each speaker's files (sorted by path) into utterances of at least `target_seconds`.

    Clips are appended, separated by `gap_seconds` of silence, until the utterance is >= target; a file
    already that long stands alone. A speaker's leftover shorter than half the target is appended to
    that speaker's previous utterance (so none is uselessly short), else kept on its own.
    `max_utterances` keeps an even spread: the same number per speaker (as far as each has), spaced
    evenly through each speaker's utterances. Output is sorted by speaker, then order within speaker.
    Plain paths count as speaker = parent folder name. Files that cannot be decoded are skipped with a
    warning (or raise, with on_error="raise").
    """
    if target_seconds <= 0:
        raise ValueError(f"target_seconds must be positive, got {target_seconds}")
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_seconds}")
    if max_utterances is not None and max_utterances < 1:
        raise ValueError(f"max_utterances must be >= 1 or None, got {max_utterances}")
    items = sorted(((_speaker(f), str(as_path(f)), f) for f in files), key=lambda t: (t[0], t[1]))
    loaded = load_waves([f for _, _, f in items], sample_rate, on_error, progress, desc="loading utterances")
    target = round(target_seconds * sample_rate)
    gap = np.zeros(round(gap_seconds * sample_rate), dtype=np.float32)

    by_speaker: dict[str, list[Utterance]] = {}
    pending: list[tuple[str, np.ndarray]] = []
    pending_len = 0

    def flush(speaker: str, final: bool) -> None:
        nonlocal pending, pending_len
        if not pending:
            return
        done = by_speaker.setdefault(speaker, [])
        if final and pending_len < target / 2 and done:
            last = done[-1]
            waves = [last.wave, *(w for _, w in pending)]
            sources = last.sources + tuple(n for n, _ in pending)
            done[-1] = _make(last.name, speaker, waves, gap, sample_rate, sources)
        else:
            name = f"{speaker}-{len(done):03d}"
            waves, sources = [w for _, w in pending], tuple(n for n, _ in pending)
            done.append(_make(name, speaker, waves, gap, sample_rate, sources))
        pending, pending_len = [], 0

    current: str | None = None
    for index, wave in loaded:
        speaker, path, _ = items[index]
        if speaker != current and current is not None:
            flush(current, final=True)
        current = speaker
        pending_len += len(wave) + (len(gap) if pending else 0)
        pending.append((path, wave))
        if pending_len >= target:
            flush(speaker, final=False)
    if current is not None:
        flush(current, final=True)

    speakers = sorted(by_speaker)
    if max_utterances is None:
        return [u for s in speakers for u in by_speaker[s]]
    quotas = spread_quotas([len(by_speaker[s]) for s in speakers], max_utterances)
    chosen = []
    for speaker, quota in zip(speakers, quotas, strict=True):
        utts = by_speaker[speaker]
        chosen.extend(utts[(j * len(utts)) // quota] for j in range(quota))
    return chosen


def spread_quotas(counts: Sequence[int], total: int) -> list[int]:
    """How many of each group to take so `total` is spread as evenly as the group sizes allow.

    Groups get equal shares; the remainder goes to groups spread evenly over the list (not the first
    ones); a group with fewer items than its share passes the rest on to the others.
    """
    quotas = [0] * len(counts)
    remaining = min(total, sum(counts))
    active = [i for i, c in enumerate(counts) if c > 0]
    while remaining > 0 and active:
        share, extra = divmod(remaining, len(active))
        bonus = {active[(j * len(active)) // extra] for j in range(extra)} if extra else set()
        for i in active:
            give = min(share + (1 if i in bonus else 0), counts[i] - quotas[i])
            quotas[i] += give
            remaining -= give
        active = [i for i in active if quotas[i] < counts[i]]
    return quotas


def _speaker(item: SpeechFile | Path) -> str:
    return item.speaker if isinstance(item, SpeechFile) else Path(item).parent.name


def _make(
    name: str,
    speaker: str,
    waves: list[np.ndarray],
    gap: np.ndarray,
    sample_rate: int,
    sources: tuple[str, ...],
) -> Utterance:
    parts: list[np.ndarray] = []
    for k, wave in enumerate(waves):
        if k:
            parts.append(gap)
        parts.append(wave)
    wave = np.concatenate(parts).astype(np.float32, copy=False)
    return Utterance(name, speaker, wave, sample_rate, sources)
