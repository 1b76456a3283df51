"""Google Speech Commands layout: `<root>/<word>/<speakerhash>_nohash_<n>.wav` plus the split lists.

"val" is `validation_list.txt`, "train" is everything in neither list, and files in `testing_list.txt`
appear only under "all" (split "test"). Without the lists, speakers are split by the stable-hash rule.
"""

from __future__ import annotations

import re
from pathlib import Path

from vqaudio.data.base import SpeechFile, assign_splits, audio_files_in, subfolders

__all__ = ["is_speech_commands", "speech_commands_files"]

_NAME = re.compile(r"^([0-9a-f]{8})_nohash_\d+\.", re.IGNORECASE)
_LISTS = {"validation_list.txt": "val", "testing_list.txt": "test"}


def _word_folders(root: Path) -> list[Path]:
    # `_background_noise_` holds long noise recordings, not commands.
    return [s for s in subfolders(root) if not s.name.startswith("_")]


def is_speech_commands(root: Path) -> bool:
    """True when `root` has the split lists, or a word folder with `<hash>_nohash_<n>` files."""
    if any((root / name).is_file() for name in _LISTS):
        return True
    return any(any(_NAME.match(p.name) for p in audio_files_in(f)) for f in _word_folders(root))


def _read_lists(root: Path) -> dict[str, str]:
    splits: dict[str, str] = {}
    for name, split in _LISTS.items():
        path = root / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    splits[line.strip().replace("\\", "/")] = split
    return splits


def speech_commands_files(root: Path) -> list[SpeechFile]:
    """Every clip under the word folders; speaker = the hash before `_nohash_`, word = the folder."""
    listed = _read_lists(root)
    files = []
    for folder in _word_folders(root):
        for path in audio_files_in(folder):
            match = _NAME.match(path.name)
            speaker = match.group(1).lower() if match else path.stem
            split = listed.get(f"{folder.name}/{path.name}", "train") if listed else None
            files.append(SpeechFile(path, speaker, "speech_commands", word=folder.name, split=split))
    return assign_splits(files, relative_to=root)
