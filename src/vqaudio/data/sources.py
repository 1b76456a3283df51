"""Noise recordings and music clips for the mixture datasets, listed by split (listing never decodes audio).

Noise (`noise_files`): a folder of recordings such as ../shared/data/noise. Validation uses the recordings
whose file name holds one of the words in `NOISE_VAL_NAMES` (city, rain, wind; see ../shared/data/README.md),
training uses all the others. Names are matched as whole words of the stem, split at anything that is not a
letter or digit and ignoring case: `rain.flac`, `City_Traffic.wav` and `heavy-rain-2.flac` validate, while
`train.flac` trains (it contains "rain" only as letters, not as a word).

Music (`music_clips`): stereo clips with the accompaniment on the left channel and the singing voice on the
right, as MIR-1K (../shared/data/music/mir1k/{train,val}). `root` may be the folder holding `train/` and `val/`,
one above it holding `mir1k/`, or a plain folder of stereo files, which is then used whole whatever the split
(point training and validation at different folders).
"""

from __future__ import annotations

import re
from pathlib import Path

from vqaudio.audio.io import AUDIO_EXTENSIONS
from vqaudio.data.base import SPLITS, Split, audio_files_in

__all__ = ["MUSIC_SPLIT_FOLDERS", "NOISE_VAL_NAMES", "music_clips", "noise_files", "noise_split"]

NOISE_VAL_NAMES: tuple[str, ...] = ("city", "rain", "wind")
MUSIC_SPLIT_FOLDERS: tuple[str, ...] = ("train", "val")
_WORD = re.compile(r"[^a-z0-9]+")


def noise_split(path: str | Path) -> str:
    """The split of a noise recording: val if its stem holds one of NOISE_VAL_NAMES as a word, else train."""
    words = set(_WORD.split(Path(path).stem.lower()))
    return "val" if words.intersection(NOISE_VAL_NAMES) else "train"


def noise_files(root: str | Path, split: Split = "all") -> list[Path]:
    """The noise recordings of `split` under `root` (searched recursively), sorted by path.

    Raises ValueError for an unknown split, a missing folder, a folder without audio, or a split left empty
    (no file named for city, rain or wind, say).
    """
    _check_split(split)
    folder = _existing_folder(root, "noise")
    files = audio_files_in(folder, recursive=True)
    if not files:
        raise ValueError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found; point to a folder of noise")
    chosen = [p for p in files if split == "all" or noise_split(p) == split]
    if not chosen:
        names = ", ".join(NOISE_VAL_NAMES)
        rule = f"whose name holds one of the words {names}" if split == "val" else f"not named for {names}"
        raise ValueError(f"{folder}: no {split} noise files (the {split} split takes the recordings {rule})")
    return chosen


def music_clips(root: str | Path, split: Split = "all") -> list[Path]:
    """The stereo music clips of `split` under `root` (left = accompaniment, right = vocals), sorted by path.

    With `train/` and/or `val/` sub-folders (MIR-1K as in ../shared/data) the split picks the sub-folder ("all"
    takes both); a plain folder is taken whole for every split. Channels are checked when the clips are loaded.
    Raises ValueError for an unknown split, a missing folder or split sub-folder, or no audio files.
    """
    _check_split(split)
    folder = _existing_folder(root, "music")
    if (folder / "mir1k").is_dir() and not _split_folders(folder):
        folder = folder / "mir1k"
    split_folders = _split_folders(folder)
    if not split_folders:
        searched = [folder]
    elif split == "all":
        searched = split_folders
    elif (folder / split).is_dir():
        searched = [folder / split]
    else:
        raise ValueError(f"{folder}: has no {split}/ sub-folder (found {', '.join(p.name for p in split_folders)}/)")
    files = sorted(p for f in searched for p in audio_files_in(f, recursive=True))
    if not files:
        where = ", ".join(str(f) for f in searched)
        raise ValueError(
            f"{where}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found; "
            "point to a folder of stereo clips (left = accompaniment, right = vocals), e.g. MIR-1K"
        )
    return files


def _split_folders(folder: Path) -> list[Path]:
    return [folder / s for s in MUSIC_SPLIT_FOLDERS if (folder / s).is_dir()]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def _existing_folder(root: str | Path, what: str) -> Path:
    folder = Path(root).expanduser()
    if not folder.exists():
        raise ValueError(f"{folder}: {what} folder not found; check the path")
    if not folder.is_dir():
        raise ValueError(f"{folder}: is a file, not a folder of {what} recordings")
    return folder
