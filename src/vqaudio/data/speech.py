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
from vqaudio.data.gcompris import gcompris_files, is_gcompris
from vqaudio.data.librispeech import is_librispeech, librispeech_files
from vqaudio.data.prompts import asterisk_files, asterisk_voice_folders
from vqaudio.data.speech_commands import is_speech_commands, speech_commands_files

__all__ = ["DEFAULT_SPEECH_CORPORA", "SPEECH_CORPORA", "SpeechFile", "detect_layout", "folder_files", "speech_files"]

# The corpora a speech root (../shared/data/speech) may hold, each in a sub-folder of this name.
SPEECH_CORPORA: tuple[str, ...] = ("librispeech", "gcompris", "speech_commands", "fsdd", "asterisk")
# What a speech root gives when no corpora are asked for: the 8 kHz telephone-band corpora that the shipped
# models were trained on and every existing benchmark command reads, so their figures reproduce unchanged.
DEFAULT_SPEECH_CORPORA: tuple[str, ...] = ("fsdd", "asterisk")


def detect_layout(root: str | Path) -> str:
    """Which layout `speech_files` reads `root` as.

    "speech" (a folder holding corpus folders named as in `SPEECH_CORPORA`: `fsdd/`, `asterisk/`, `librispeech/`,
    `gcompris/`, `speech_commands/`), one corpus pointed at directly ("fsdd", "speech_commands",
    "librispeech", "gcompris", "asterisk"), or "folder" (any other folder of audio files).
    """
    root = _existing_folder(root)
    if _root_corpora(root):
        return "speech"
    if fsdd_recordings_folder(root) is not None:
        return "fsdd"
    if is_speech_commands(root):
        return "speech_commands"
    if is_librispeech(root):
        return "librispeech"
    if is_gcompris(root):
        return "gcompris"
    if asterisk_voice_folders(root):
        return "asterisk"
    return "folder"


def speech_files(
    root: str | Path,
    split: Split = "all",
    words: Sequence[str] | None = None,
    include_nonspeech: bool = False,
    corpora: Sequence[str] | str | None = None,
) -> list[SpeechFile]:
    """The speech files of `split` under `root`, sorted by path.

    Layouts (see `detect_layout`): FSDD, Asterisk, LibriSpeech and GCompris follow the split in
    ../shared/data/README.md (their `train/`/`val/` folders where they have them); Speech Commands follows
    its validation/testing lists; a plain LibriSpeech download, GCompris speaker folders without train/val and
    any other folder (read recursively, speaker = the file's parent folder) are split by a stable hash of
    the speaker (about 10% of speakers to val, at least one), or of the file path when there is a single speaker.
    `corpora` picks the corpora of a speech root (a folder holding `fsdd/`, `asterisk/`, `librispeech/`,
    `gcompris/`, `speech_commands/`): None gives FSDD + Asterisk, the 8 kHz telephone-band corpora the shipped
    models and existing benchmarks use (every corpus present when the root holds neither); a list of names
    from `SPEECH_CORPORA` gives those; "all" gives every corpus present. For a root that is a single corpus,
    `corpora` must be None, "all", or include that corpus ("folder" for a plain folder).
    `words` keeps only files labelled with one of these words (Speech Commands folders; FSDD digits as
    "zero".."nine" or "0".."9"); corpora without word labels then contribute nothing.
    `include_nonspeech` keeps the Asterisk prompts that are silence, beeps or tones (left out by default).
    Raises ValueError for a missing folder, one without audio, an unknown split, an unknown or absent corpus,
    or words matching nothing.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    folder = _existing_folder(root)
    files = _list_layout(folder, include_nonspeech, corpora)
    if not files:
        raise ValueError(
            f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found; point to a folder of speech "
            "recordings (FSDD, Asterisk prompts, LibriSpeech, GCompris voices, Speech Commands or any folder)"
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


def _root_corpora(root: Path) -> list[str]:
    """The corpora a speech root holds, as folders named in `SPEECH_CORPORA` (in that order); [] for any other folder.

    FSDD and Asterisk count as soon as their folder exists (as they always have); the others when the folder
    is laid out as that corpus, so an empty `librispeech/` does not turn a plain folder into a speech root.
    """
    recognised = {"librispeech": is_librispeech, "gcompris": is_gcompris, "speech_commands": is_speech_commands}
    present = []
    for name in SPEECH_CORPORA:
        folder = root / name
        if folder.is_dir() and (name not in recognised or recognised[name](folder)):
            present.append(name)
    return present


def _wanted_corpora(requested: Sequence[str] | str, where: Path) -> list[str] | None:
    """Names asked for, normalised ("Speech-Commands" -> "speech_commands"), in order; None for "all"."""
    names = [requested] if isinstance(requested, str) else list(requested)
    wanted = [str(name).strip().lower().replace("-", "_") for name in names]
    if "all" in wanted:
        return None
    if not wanted:
        raise ValueError(f"{where}: corpora=[] asks for nothing; name some of {', '.join(SPEECH_CORPORA)}, or 'all'")
    unknown = [name for name in wanted if name not in (*SPEECH_CORPORA, "folder")]
    if unknown:
        raise ValueError(f"{where}: unknown corpora {unknown}; use 'all' or names among {', '.join(SPEECH_CORPORA)}")
    return list(dict.fromkeys(wanted))


def _pick_corpora(root: Path, present: list[str], requested: Sequence[str] | str | None) -> list[str]:
    """The corpora of a speech root to read: the default pair, the ones asked for, or all present."""
    if requested is None:
        return [name for name in DEFAULT_SPEECH_CORPORA if name in present] or present
    wanted = _wanted_corpora(requested, root)
    if wanted is None:
        return present
    absent = [name for name in wanted if name not in present]
    if absent:
        raise ValueError(
            f"{root}: corpora {absent} not found here; this speech folder holds {', '.join(present)} "
            "(pass some of those, or 'all')"
        )
    return wanted


def _list_layout(root: Path, include_nonspeech: bool, corpora: Sequence[str] | str | None = None) -> list[SpeechFile]:
    layout = detect_layout(root)
    if layout == "speech":
        files: list[SpeechFile] = []
        for name in _pick_corpora(root, _root_corpora(root), corpora):
            if name in DEFAULT_SPEECH_CORPORA:  # read by the layout found inside, exactly as before `corpora` existed
                files.extend(_list_layout(root / name, include_nonspeech))
            else:
                files.extend(_list_corpus(root / name, name, include_nonspeech))
        return files
    if corpora is not None:
        wanted = _wanted_corpora(corpora, root)
        if wanted is not None and layout not in wanted:
            raise ValueError(
                f"{root}: this folder is a single corpus, {layout}, not a speech folder of several corpora; "
                f"corpora={wanted} leaves it out (pass None, 'all' or a list including {layout!r})"
            )
    return _list_corpus(root, layout, include_nonspeech)


def _list_corpus(root: Path, layout: str, include_nonspeech: bool) -> list[SpeechFile]:
    """The files of `root` read as the single corpus `layout`."""
    if layout == "fsdd":
        recordings = fsdd_recordings_folder(root)
        assert recordings is not None
        return fsdd_files(recordings)
    if layout == "speech_commands":
        return speech_commands_files(root)
    if layout == "librispeech":
        return librispeech_files(root)
    if layout == "gcompris":
        return gcompris_files(root)
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
