"""`speech_files`: list a speech folder of any known layout as `SpeechFile`s of one split.

Training, evaluation and the benchmarks all call this one function, so a folder gives the same files,
speakers and split whichever tool reads it. Listing never decodes audio: it is fast on big corpora.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vqaudio.audio.io import AUDIO_EXTENSIONS
from vqaudio.data.base import SPLITS, SpeechFile, Split, assign_splits, audio_files_in, select
from vqaudio.data.fsdd import DIGIT_WORDS, fsdd_files, fsdd_recordings_folder
from vqaudio.data.prompts import asterisk_files, asterisk_voice_folders
from vqaudio.data.speech_commands import is_speech_commands, speech_commands_files

__all__ = ["SpeechFile", "detect_layout", "folder_files", "speech_files"]


def detect_layout(root: str | Path) -> str:
    """Which layout `speech_files` reads `root` as.

    "speech" (a folder holding `fsdd/` and/or `asterisk/`), "fsdd", "speech_commands", "asterisk",
    or "folder" (any other folder of audio files).
    """
    root = _existing_folder(root)
    if (root / "fsdd").is_dir() or (root / "asterisk").is_dir():
        return "speech"
    if fsdd_recordings_folder(root) is not None:
        return "fsdd"
    if is_speech_commands(root):
        return "speech_commands"
    if asterisk_voice_folders(root):
        return "asterisk"
    return "folder"


def speech_files(
    root: str | Path,
    split: Split = "all",
    words: Sequence[str] | None = None,
    include_nonspeech: bool = False,
) -> list[SpeechFile]:
    """The speech files of `split` under `root`, sorted by path.

    Layouts (see `detect_layout`): FSDD and Asterisk follow the split in ../shared/data/README.md;
    Speech Commands follows its validation/testing lists; any other folder is read recursively with
    speaker = the file's parent folder, split by a stable hash of the speaker (about 10% of speakers to
    val, at least one), or of the file path when there is a single speaker.
    `words` keeps only files labelled with one of these words (Speech Commands folders; FSDD digits as
    "zero".."nine" or "0".."9"); corpora without word labels then contribute nothing.
    `include_nonspeech` keeps the Asterisk prompts that are silence, beeps or tones (left out by default).
    Raises ValueError for a missing folder, one without audio, an unknown split, or words matching nothing.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    folder = _existing_folder(root)
    files = _list_layout(folder, include_nonspeech)
    if not files:
        raise ValueError(
            f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found; "
            "point to a folder of speech recordings (FSDD, Asterisk prompts, Speech Commands or any folder)"
        )
    if words is not None:
        files = _filter_words(files, words, folder)
    return select(files, split)


def folder_files(root: Path) -> list[SpeechFile]:
    """Any folder, recursively: speaker = parent folder name, stable-hash split."""
    files = [
        SpeechFile(path=p, speaker=p.parent.name or "speaker", corpus="folder")
        for p in audio_files_in(root, recursive=True)
    ]
    return assign_splits(files, relative_to=root)


def _list_layout(root: Path, include_nonspeech: bool) -> list[SpeechFile]:
    layout = detect_layout(root)
    if layout == "speech":
        files: list[SpeechFile] = []
        for name in ("fsdd", "asterisk"):
            if (root / name).is_dir():
                files.extend(_list_layout(root / name, include_nonspeech))
        return files
    if layout == "fsdd":
        recordings = fsdd_recordings_folder(root)
        assert recordings is not None
        return fsdd_files(recordings)
    if layout == "speech_commands":
        return speech_commands_files(root)
    if layout == "asterisk":
        return asterisk_files(asterisk_voice_folders(root) or [], include_nonspeech)
    return folder_files(root)


def _filter_words(files: list[SpeechFile], words: Sequence[str], root: Path) -> list[SpeechFile]:
    if isinstance(words, str):
        words = [words]
    wanted = {w.strip().lower() for w in words}
    wanted |= {DIGIT_WORDS[int(w)] for w in wanted if w.isdigit() and len(w) == 1}
    kept = [f for f in files if f.word is not None and f.word.lower() in wanted]
    if not kept:
        available = sorted({f.word for f in files if f.word is not None})
        hint = f"words here: {', '.join(available[:40])}" if available else "no file here has a word label"
        raise ValueError(f"{root}: no files for words {sorted(wanted)}; {hint}")
    return kept


def _existing_folder(root: str | Path) -> Path:
    folder = Path(root).expanduser()
    if not folder.exists():
        raise ValueError(f"{folder}: speech folder not found; check the path (or pass --data DIR)")
    if not folder.is_dir():
        raise ValueError(f"{folder}: is a file, not a folder of speech recordings")
    return folder
