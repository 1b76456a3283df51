"""LibriSpeech layout: `<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac`, numeric speaker and chapter folders.

Two roots are read. The shared copy (../shared/data/speech/librispeech) holds `train/` and `val/` speaker
trees, and that split is kept as the README gives it (also when one of the two is pointed at). A plain
LibriSpeech download (`LibriSpeech/` holding subsets such as `train-clean-100/`, or one subset folder) has no
train/val of ours, so its speakers are split by the stable-hash rule in `base.assign_splits`. The speaker is
the speaker folder: a reader's chapters are one voice.
"""

from __future__ import annotations

import re
from pathlib import Path

from vqaudio.data.base import SpeechFile, assign_splits, audio_files_in, subfolders

__all__ = ["is_librispeech", "librispeech_files"]

CORPUS = "librispeech"
_SPLIT_FOLDERS = ("train", "val")
_NAME = re.compile(r"^\d+-\d+-\d+\.")


def _numeric_subfolders(folder: Path) -> list[Path]:
    return [s for s in subfolders(folder) if s.name.isdigit()]


def is_speaker_tree(folder: Path) -> bool:
    """True when `folder` holds numeric speaker folders with numeric chapter folders of LibriSpeech-named audio.

    Stops at the first such chapter, so a tree of a thousand speakers is recognised from one listing.
    The names (`19-198-0001.flac`) are required too, so a folder of dated sub-folders is not taken for LibriSpeech.
    """
    if not folder.is_dir():
        return False
    for speaker in _numeric_subfolders(folder):
        for chapter in _numeric_subfolders(speaker):
            if any(_NAME.match(p.name) for p in audio_files_in(chapter)):
                return True
    return False


def _trees(root: Path) -> tuple[dict[str, Path], list[Path]]:
    """(train/val speaker trees by split, other speaker trees): what `root` holds, the root itself included.

    A `train/` or `val/` tree pointed at directly keeps its split: it is one half of the README's split.
    """
    if root.name in _SPLIT_FOLDERS and is_speaker_tree(root):
        return {root.name: root}, []
    split_trees = {name: root / name for name in _SPLIT_FOLDERS if is_speaker_tree(root / name)}
    if split_trees:
        return split_trees, []
    if is_speaker_tree(root):
        return {}, [root]
    return {}, [s for s in subfolders(root) if is_speaker_tree(s)]


def is_librispeech(root: Path) -> bool:
    """True for a LibriSpeech root: `train/`+`val/` speaker trees, a folder of subsets, or one subset."""
    split_trees, trees = _trees(root)
    return bool(split_trees or trees)


def _tree_files(tree: Path, split: str | None) -> list[SpeechFile]:
    files = []
    for speaker in _numeric_subfolders(tree):
        for chapter in _numeric_subfolders(speaker):
            files.extend(SpeechFile(path, speaker.name, CORPUS, split=split) for path in audio_files_in(chapter))
    return files


def librispeech_files(root: Path) -> list[SpeechFile]:
    """Every utterance under `root`, speaker = speaker folder; split from `train/`/`val/`, else by speaker hash."""
    split_trees, trees = _trees(root)
    if split_trees:
        return [f for split, tree in split_trees.items() for f in _tree_files(tree, split)]
    files = [f for tree in trees for f in _tree_files(tree, None)]
    return assign_splits(files, relative_to=root)
