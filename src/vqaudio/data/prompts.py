"""Asterisk PBX prompt layout: `asterisk/<voice>/<prompt>.flac`, one voice (speaker) per folder.

The split is the one in ../shared/data/README.md (June and Carlo train, the Russian IVR voice validates).
Sub-folders of a voice (the original download has `digits/`, `silence/`, ...) are listed too; the shared
copy flattens them into `__` in names, and both spellings are recognised when leaving out non-speech.
"""

from __future__ import annotations

import re
from pathlib import Path

from vqaudio.data.base import SpeechFile, assign_splits, audio_files_in, subfolders

__all__ = [
    "ASTERISK_SPLIT",
    "NONSPEECH_PROMPTS",
    "asterisk_files",
    "asterisk_voice_folders",
    "is_nonspeech_prompt",
]

ASTERISK_SPLIT: dict[str, str] = {
    "fr_CA_f_June": "train",
    "it_IT_m_Carlo": "train",
    "ru_RU_f_IvrvoiceRU": "val",
}
# Prompts that hold no speech in every voice: digital silence (silence__1 .. silence__10, 1-10 s of zeros),
# beeps and two-tone signals, and a recording of monkeys. They would teach a speech model nothing
# and make PESQ/STOI fail on silent utterances, so they are left out unless asked for.
NONSPEECH_PROMPTS = frozenset({"beep", "beeperr", "ascending-2tone", "descending-2tone", "tt-monkeys"})
_SILENCE = re.compile(r"^silence__\d+$")
_VOICE = re.compile(r"^[a-z]{2,3}_[A-Z]{2}_[fm]_\w+$")


def is_nonspeech_prompt(name: str) -> bool:
    """`name`: a prompt's path in its voice folder, no extension ('silence/3' or 'silence__3')."""
    flat = name.replace("/", "__")
    return flat in NONSPEECH_PROMPTS or bool(_SILENCE.match(flat))


def looks_like_voice(folder: Path) -> bool:
    return bool(_VOICE.match(folder.name))


def asterisk_voice_folders(root: Path) -> list[Path] | None:
    """Voice folders if `root` is an Asterisk prompt root (or one voice folder), else None.

    A root counts when a sub-folder is named like a voice (`fr_CA_f_June`) or the root is named
    `asterisk`; then every sub-folder holding audio is a voice.
    """
    if looks_like_voice(root) and audio_files_in(root, recursive=True):
        return [root]
    subs = subfolders(root)
    if root.name.lower() == "asterisk" or any(looks_like_voice(s) for s in subs):
        return [s for s in subs if audio_files_in(s, recursive=True)]
    return None


def asterisk_files(voices: list[Path], include_nonspeech: bool = False) -> list[SpeechFile]:
    """Every prompt of the given voice folders, speaker = voice folder name, README split."""
    files = []
    for voice in voices:
        for path in audio_files_in(voice, recursive=True):
            prompt = path.relative_to(voice).with_suffix("").as_posix()
            if not include_nonspeech and is_nonspeech_prompt(prompt):
                continue
            files.append(SpeechFile(path=path, speaker=voice.name, corpus="asterisk"))
    return assign_splits(files, ASTERISK_SPLIT)
