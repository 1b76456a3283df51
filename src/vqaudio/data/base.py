"""What every corpus lister returns (`SpeechFile`), and the one rule for splitting speakers into train/val.

Splits are by speaker (validation measures unseen voices), decided by fixed lists where a corpus has a
documented split and otherwise by a stable hash, so the same folder gives the same split on every machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from vqaudio.audio.io import AUDIO_EXTENSIONS

T = TypeVar("T")

__all__ = [
    "SPLITS",
    "VAL_FRACTION",
    "SpeechFile",
    "Split",
    "assign_splits",
    "audio_files_in",
    "spread_evenly",
    "stable_fraction",
]

Split = Literal["train", "val", "all"]
SPLITS: tuple[str, ...] = ("train", "val", "all")
VAL_FRACTION = 0.1


@dataclass(frozen=True)
class SpeechFile:
    """One recording: where it is, who speaks, which corpus layout it came from.

    `word` is the spoken word where the corpus labels it (Speech Commands folders, FSDD digits as
    "zero".."nine"); `split` is the split the file belongs to ("train", "val", or "test" for the
    Speech Commands testing list), filled in by `speech_files`.
    """

    path: Path
    speaker: str
    corpus: str  # "fsdd", "asterisk", "librispeech", "gcompris", "speech_commands", "folder"
    word: str | None = None
    split: str | None = None


def stable_fraction(name: str) -> float:
    """A number in [0, 1) fixed by `name` alone (SHA-1), unlike hash(), which changes per process."""
    digest = hashlib.sha1(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _rank_split(names: Sequence[str], fraction: float = VAL_FRACTION) -> dict[str, str]:
    """names -> "train"/"val": about `fraction` to val by stable hash, but at least one of each when >= 2."""
    unique = sorted(set(names))
    if not unique:
        return {}
    if len(unique) == 1:
        return {unique[0]: "train"}
    by_hash = sorted(unique, key=lambda n: (stable_fraction(n), n))
    val = {n for n in unique if stable_fraction(n) < fraction}
    if not val:
        val = {by_hash[0]}
    if len(val) == len(unique):
        val.discard(by_hash[-1])
    return {n: "val" if n in val else "train" for n in unique}


def assign_splits(
    files: Sequence[SpeechFile],
    fixed: Mapping[str, str] | None = None,
    relative_to: Path | None = None,
) -> list[SpeechFile]:
    """Return `files` with `split` set (files that already carry one keep it).

    Speakers named in `fixed` get that split. The other speakers are split among themselves by a stable
    hash of the speaker (about 10% to val, at least one speaker in each split when there are two or more).
    A single unknown speaker beside known ones goes whole to one split by its hash; a single speaker
    on its own is split by a stable hash of each file's path (relative to `relative_to`), since
    no speaker-disjoint split exists.
    """
    fixed = dict(fixed or {})
    pending = [f for f in files if f.split is None]
    unknown = sorted({f.speaker for f in pending if f.speaker not in fixed})
    known_present = any(f.speaker in fixed for f in files)
    by_speaker: dict[str, str] = dict(fixed)
    by_file: dict[str, str] = {}
    if len(unknown) >= 2:
        by_speaker.update(_rank_split(unknown))
    elif len(unknown) == 1 and known_present:
        by_speaker[unknown[0]] = "val" if stable_fraction(unknown[0]) < VAL_FRACTION else "train"
    elif len(unknown) == 1:
        by_file = _rank_split([_file_key(f.path, relative_to) for f in pending])
    out = []
    for f in files:
        if f.split is None:
            split = by_speaker.get(f.speaker) or by_file[_file_key(f.path, relative_to)]
            f = SpeechFile(f.path, f.speaker, f.corpus, f.word, split)
        out.append(f)
    return out


def _file_key(path: Path, relative_to: Path | None) -> str:
    if relative_to is not None:
        try:
            return path.relative_to(relative_to).as_posix()
        except ValueError:
            pass
    return path.name


def is_audio(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)


def audio_files_in(folder: Path, recursive: bool = False) -> list[Path]:
    """Audio files (by extension, hidden ones skipped) in `folder`, sorted; `recursive` walks sub-folders."""
    if not recursive:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if e.is_file() and is_audio(e.name))
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / n for n in filenames if is_audio(n))
    return sorted(found)


def subfolders(folder: Path) -> list[Path]:
    """Visible sub-folders, sorted."""
    with os.scandir(folder) as it:
        return sorted(Path(e.path) for e in it if e.is_dir() and not e.name.startswith("."))


def select(files: Iterable[SpeechFile], split: str) -> list[SpeechFile]:
    """Files of `split` ("all" keeps every file, test lists included), sorted by path."""
    chosen = [f for f in files if split == "all" or f.split == split]
    return sorted(chosen, key=lambda f: str(f.path))


def spread_evenly(items: Sequence[T], limit: int | None) -> list[T]:
    """`limit` items spread evenly over the list, so every speaker (or singer) of a sorted list stays represented;
    all of them when limit is None or not smaller than the list."""
    if limit is None or len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
