"""GCompris voices layout: `gcompris/{train,val}/<speaker>/<lang>_<activity>_<name>.flac`, one folder per voice.

The speaker is the credited contributor's folder. With `train/` and `val/` the split is the one in
../shared/data/README.md (also when `gcompris/train` or `gcompris/val` is pointed at); a folder of speaker
folders alone is split by the stable-hash rule in `base.assign_splits`. The layout has no structure of its own
to recognise (any folder of speaker folders looks the same), so a root counts as GCompris by its name, as an
`asterisk` root does.
"""

from __future__ import annotations

from pathlib import Path

from vqaudio.data.base import SpeechFile, assign_splits, audio_files_in, subfolders

__all__ = ["gcompris_files", "is_gcompris"]

CORPUS = "gcompris"
_SPLIT_FOLDERS = ("train", "val")


def _is_split_half(root: Path) -> bool:
    """`gcompris/train` or `gcompris/val` pointed at directly: one half of the README's split."""
    return root.name in _SPLIT_FOLDERS and root.parent.name.lower().startswith(CORPUS)


def _split_folders(root: Path) -> dict[str, Path]:
    if _is_split_half(root):
        return {root.name: root}
    return {name: root / name for name in _SPLIT_FOLDERS if (root / name).is_dir()}


def _speaker_files(folder: Path, split: str | None) -> list[SpeechFile]:
    return [
        SpeechFile(path, speaker.name, CORPUS, split=split)
        for speaker in subfolders(folder)
        for path in audio_files_in(speaker, recursive=True)
    ]


def is_gcompris(root: Path) -> bool:
    """True for a folder named `gcompris...` holding speaker folders (under `train/`/`val/` or directly).

    Its `train/` or `val/` folder counts too.
    """
    if not (root.name.lower().startswith(CORPUS) or _is_split_half(root)) or not root.is_dir():
        return False
    folders = list(_split_folders(root).values()) or [root]
    return any(audio_files_in(s, recursive=True) for folder in folders for s in subfolders(folder))


def gcompris_files(root: Path) -> list[SpeechFile]:
    """Every recording, speaker = its folder; split from `train/`/`val/`, else by speaker hash."""
    split_folders = _split_folders(root)
    if split_folders:
        return [f for split, folder in split_folders.items() for f in _speaker_files(folder, split)]
    return assign_splits(_speaker_files(root, None), relative_to=root)
