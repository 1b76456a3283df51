"""Songs split into vocals and accompaniment, in either of two layouts, listed by split and loaded as stems.

- "mir1k": one stereo file per clip, accompaniment on the left channel and the singing voice on the right
  (MIR-1K, ../shared/data/music/mir1k/{train,val}); listed by `sources.music_clips`, whose folder rules apply.
- "musdb": one folder per track holding `mixture`, `vocals`, `drums`, `bass` and `other` audio files (wav / flac /
  ogg, the MUSDB18-HQ stem-folder layout; the .stem.mp4 files of plain MUSDB18 are not read). The accompaniment
  is drums + bass + other, or mixture - vocals when any of those three is missing.

`music_tracks(root, split)` detects the layout (MUSDB when some folder under `root` holds `vocals.*` beside
`mixture.*` or another stem) and returns `MusicTrack`s; `MusicTrack.load(sample_rate)` returns (vocals,
accompaniment); `load_tracks` loads many, with a progress bar and broken files skipped as `load_waves` does.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vqaudio.audio.io import AUDIO_EXTENSIONS, AudioError, load
from vqaudio.data.base import Split, audio_files_in
from vqaudio.data.loading import OnError
from vqaudio.data.sources import _check_split, _existing_folder, music_clips

__all__ = [
    "LAYOUTS",
    "MUSDB_STEMS",
    "STEM_LENGTH_TOLERANCE",
    "MusicTrack",
    "load_tracks",
    "music_tracks",
    "singer_of",
]

LAYOUTS: tuple[str, ...] = ("mir1k", "musdb")
MUSDB_STEMS: tuple[str, ...] = ("mixture", "vocals", "drums", "bass", "other")
_BACKING_STEMS = ("drums", "bass", "other")
# Stems whose lengths differ by less than this fraction of the longest are trimmed to the shortest.
STEM_LENGTH_TOLERANCE = 0.01
_PROGRESS_MIN_FILES = 50


_MIR1K_NAME = re.compile(r"^([^_]+)_\d+_\d+$")


def singer_of(name: str) -> str:
    """MIR-1K `<singer>_<n>_<m>` -> singer; any other name (a MUSDB track) is its own group."""
    match = _MIR1K_NAME.match(name)
    return match.group(1) if match else name


@dataclass(frozen=True)
class MusicTrack:
    """One song: `name` (file stem or track folder name), `layout` ("mir1k" | "musdb"), `path` (file or folder)."""

    name: str
    layout: str
    path: Path

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"MusicTrack {self.name!r}: unknown layout {self.layout!r}; use one of {LAYOUTS}")
        object.__setattr__(self, "path", Path(self.path))

    @property
    def singer(self) -> str:
        """Who sings: the MIR-1K clip name's first part; a MUSDB track is its own group."""
        return singer_of(self.name)

    def load(self, sample_rate: int, mono: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(vocals, accompaniment) float32 at `sample_rate` (resampled with soxr): (T,) each if `mono`, else (C, T).

        `mono` averages channels. A MIR-1K clip has one channel per stem, so mono=False gives (1, T) each; MUSDB
        stems keep their channels (all stems must then have the same count). MUSDB stems whose lengths differ by
        less than 1% (STEM_LENGTH_TOLERANCE) of the longest are trimmed to the shortest without complaint.
        Raises AudioError for a missing or undecodable file, ValueError for a MIR-1K-layout file that is not
        stereo, a MUSDB folder without vocals (or without the mixture where a backing stem is missing), or stems
        whose lengths or channel counts differ more than that; each message names the file or folder.
        """
        if self.layout == "mir1k":
            return self._load_mir1k(sample_rate, mono)
        return self._load_musdb(sample_rate, mono)

    def _load_mir1k(self, sample_rate: int, mono: bool) -> tuple[np.ndarray, np.ndarray]:
        wave, _ = load(self.path, sample_rate=sample_rate, mono=False)
        if wave.shape[0] != 2:
            raise ValueError(
                f"{self.path}: has {wave.shape[0]} channel(s), expected 2: a MIR-1K-layout clip must be stereo, "
                "accompaniment left and vocals right"
            )
        accompaniment, vocals = wave[0:1], wave[1:2]
        return (vocals[0], accompaniment[0]) if mono else (vocals.copy(), accompaniment.copy())

    def _load_musdb(self, sample_rate: int, mono: bool) -> tuple[np.ndarray, np.ndarray]:
        files = _stem_files(self.path)
        if "vocals" not in files:
            raise ValueError(
                f"{self.path}: no vocals file (vocals.wav / .flac / .ogg); a MUSDB-style track folder needs "
                f"vocals and either {', '.join(_BACKING_STEMS)} or mixture"
            )
        backing = [s for s in _BACKING_STEMS if s in files]
        missing = [s for s in _BACKING_STEMS if s not in files]
        if missing and "mixture" not in files:
            raise ValueError(
                f"{self.path}: has no {', '.join(missing)} and no mixture file, so the accompaniment cannot be "
                "made (it is drums + bass + other, or mixture - vocals)"
            )
        names = ["vocals", *(backing if not missing else ["mixture"])]
        stems = {name: load(files[name], sample_rate=sample_rate, mono=mono)[0] for name in names}
        stems = _same_shape(stems, files)
        vocals = np.ascontiguousarray(stems.pop("vocals"), dtype=np.float32)
        parts = [stems["mixture"], -vocals] if missing else list(stems.values())
        return vocals, np.sum(parts, axis=0, dtype=np.float32)


def music_tracks(root: str | Path, split: Split = "all") -> list[MusicTrack]:
    """The tracks of `split` under `root`, in MUSDB stem-folder or MIR-1K stereo-file layout, sorted by name.

    MUSDB layout (some folder under `root` holds `vocals.*` with `mixture.*` or another stem): every folder holding
    a stem file is a track. A track's split is its nearest folder below `root` named train, val or test: "train"
    takes train/, "val" takes val/, or test/ where there is no val/ (MUSDB18 ships train/ and test/ only), "all"
    takes every track; where no track sits under such a folder, the folder is used whole for any split.
    Otherwise stereo files as `sources.music_clips(root, split)` lists them (train/ and val/ sub-folders, a
    `mir1k/` one level down, or a plain folder used whole).
    Raises ValueError for an unknown split, a missing folder, a split with no tracks, no audio at all, or files
    named as MUSDB stems with no vocals beside them (they are not stereo clips either).
    """
    _check_split(split)
    folder = _existing_folder(root, "music")
    by_folder: dict[Path, set[str]] = {}
    for path in audio_files_in(folder, recursive=True):
        stem = _stem_name(path)
        if stem is not None:
            by_folder.setdefault(path.parent, set()).add(stem)
    if any("vocals" in stems and len(stems) > 1 for stems in by_folder.values()):
        return _musdb_tracks(folder, sorted(by_folder), split)
    try:
        clips = music_clips(folder, split)
    except ValueError as err:
        if "no audio files" not in str(err):
            raise
        raise ValueError(f"{err}, or to MUSDB-style track folders ({', '.join(MUSDB_STEMS)} audio files)") from err
    stem_named = [p for p in clips if _stem_name(p) is not None]
    if stem_named:
        raise ValueError(
            f"{stem_named[0].parent}: holds {stem_named[0].name} but no vocals file beside it; a MUSDB-style track "
            f"folder needs vocals.wav (and drums, bass, other or mixture), and a stem is not a stereo MIR-1K clip"
        )
    return sorted((MusicTrack(p.stem, "mir1k", p) for p in clips), key=lambda t: (t.name, str(t.path)))


def load_tracks(
    tracks: Sequence[MusicTrack],
    sample_rate: int,
    mono: bool = True,
    on_error: OnError = "warn",
    progress: bool | None = None,
    desc: str = "loading music",
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(index into `tracks`, vocals, accompaniment) for every track that loads, as `MusicTrack.load` gives them.

    As `load_waves`: with on_error="warn" tracks whose audio cannot be decoded (AudioError) are skipped with one
    warning naming them, "raise" re-raises; a track of the wrong kind (ValueError: not stereo, no vocals, stems
    of different lengths) always raises. If no track loads, ValueError either way.
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    if not tracks:
        raise ValueError("no music tracks given (empty list); check the folder and split")
    disable = (None if len(tracks) >= _PROGRESS_MIN_FILES else True) if progress is None else not progress
    loaded: list[tuple[int, np.ndarray, np.ndarray]] = []
    failed: list[str] = []
    for i, track in enumerate(tqdm(tracks, desc=desc, unit="track", disable=disable, leave=False)):
        try:
            vocals, accompaniment = track.load(sample_rate, mono=mono)
        except AudioError as err:
            if on_error == "raise":
                raise
            failed.append(str(err))
            continue
        loaded.append((i, vocals, accompaniment))
    if not loaded:
        raise ValueError(f"none of the {len(tracks)} music tracks could be loaded; first error: {failed[0]}")
    if failed:
        shown = "; ".join(failed[:5]) + (f"; ... and {len(failed) - 5} more" if len(failed) > 5 else "")
        warnings.warn(f"skipped {len(failed)} of {len(tracks)} music tracks that cannot load: {shown}", stacklevel=2)
    return loaded


# -- helpers ---------------------------------------------------------------------------------------------------


def _musdb_tracks(root: Path, folders: list[Path], split: str) -> list[MusicTrack]:
    """The track folders of `split`, by the nearest train / val / test folder between `root` and each track."""
    splits = {f: _split_of(root, f) for f in folders}
    present = {s for s in splits.values() if s is not None}
    if split == "all" or not present:
        chosen = folders
    else:
        wanted = "test" if split == "val" and "val" not in present else split
        chosen = [f for f in folders if splits[f] == wanted]
        if not chosen:
            found = ", ".join(f"{s}/" for s in sorted(present))
            raise ValueError(f"{root}: no {split} tracks: no {wanted}/ folder of tracks (found {found})")
    return sorted((MusicTrack(f.name, "musdb", f) for f in chosen), key=lambda t: (t.name, str(t.path)))


def _split_of(root: Path, track: Path) -> str | None:
    parts = track.relative_to(root).parts[:-1]  # the folders between root and the track folder
    for part in reversed(parts):
        if part.lower() in ("train", "val", "test"):
            return part.lower()
    return None


def _stem_files(folder: Path) -> dict[str, Path]:
    """{stem name: file} for the MUSDB stems in `folder` (first by extension order: wav, flac, ogg)."""
    if not folder.is_dir():
        raise AudioError(f"{folder}: track folder not found")
    files: dict[str, Path] = {}
    for path in sorted(audio_files_in(folder), key=lambda p: AUDIO_EXTENSIONS.index(p.suffix.lower())):
        stem = _stem_name(path)
        if stem is not None:
            files.setdefault(stem, path)
    return files


def _stem_name(path: Path) -> str | None:
    """The stem a file is named for ("vocals" for Vocals.wav, any audio extension), or None."""
    stem = path.stem.lower()
    return stem if stem in MUSDB_STEMS else None


def _same_shape(stems: dict[str, np.ndarray], files: dict[str, Path]) -> dict[str, np.ndarray]:
    """Stems trimmed to the shortest when lengths differ by < STEM_LENGTH_TOLERANCE; ValueError otherwise."""
    channels = {name: (1 if w.ndim == 1 else w.shape[0]) for name, w in stems.items()}
    if len(set(channels.values())) > 1:
        listed = ", ".join(f"{files[n].name}: {c}" for n, c in channels.items())
        raise ValueError(f"{files['vocals'].parent}: stems have different channel counts ({listed}); load with mono")
    lengths = {name: w.shape[-1] for name, w in stems.items()}
    shortest, longest = min(lengths.values()), max(lengths.values())
    if longest - shortest >= STEM_LENGTH_TOLERANCE * longest:
        listed = ", ".join(f"{files[n].name}: {k}" for n, k in lengths.items())
        raise ValueError(
            f"{files['vocals'].parent}: stems differ in length by more than {STEM_LENGTH_TOLERANCE:.0%} "
            f"({listed} samples); they must be cut from the same song, from its start"
        )
    return {name: w[..., :shortest] for name, w in stems.items()}
