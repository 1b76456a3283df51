"""Free Spoken Digit Dataset layout: `recordings/{digit}_{speaker}_{n}.wav`.

The split is the one in ../shared/data/README.md: five speakers train, yweweler validates (an unseen
voice). Speakers a newer FSDD release adds are split by the stable-hash rule in `base.assign_splits`.
"""

from __future__ import annotations

import re
from pathlib import Path

from vqaudio.data.base import SpeechFile, assign_splits, audio_files_in

__all__ = ["DIGIT_WORDS", "FSDD_SPLIT", "fsdd_files", "fsdd_recordings_folder", "parse_fsdd_name"]

FSDD_SPLIT: dict[str, str] = {
    "george": "train",
    "jackson": "train",
    "lucas": "train",
    "nicolas": "train",
    "theo": "train",
    "yweweler": "val",
}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_NAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.wav$", re.IGNORECASE)


def parse_fsdd_name(name: str) -> tuple[str, str] | None:
    """'7_theo_12.wav' -> ('seven', 'theo'); None for a name that is not FSDD's."""
    match = _NAME.match(name)
    if match is None:
        return None
    return DIGIT_WORDS[int(match.group(1))], match.group(2)


def fsdd_recordings_folder(root: Path) -> Path | None:
    """The folder holding FSDD clips if `root` is one (or its parent with `recordings/`), else None.

    A folder counts as FSDD when at least 90% of the audio files directly in it have FSDD names (a stray
    file is then ignored rather than turning the folder into one big "speaker").
    """
    for folder in (root / "recordings", root):
        if not folder.is_dir():
            continue
        files = audio_files_in(folder)
        named = sum(parse_fsdd_name(p.name) is not None for p in files)
        if files and named >= 0.9 * len(files):
            return folder
    return None


def fsdd_files(folder: Path) -> list[SpeechFile]:
    """Every clip of an FSDD recordings folder, with speaker, digit word and README split."""
    files = []
    for path in audio_files_in(folder):
        parsed = parse_fsdd_name(path.name)
        if parsed is None:
            continue
        word, speaker = parsed
        files.append(SpeechFile(path=path, speaker=speaker, corpus="fsdd", word=word))
    return assign_splits(files, FSDD_SPLIT, relative_to=folder)
