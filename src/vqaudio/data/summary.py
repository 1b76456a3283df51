"""What a training run's files were, in a few lines: corpora, speakers, file counts, hours, and their licences.

`summarize_training_files` gives a JSON-ready dict that training stores in the checkpoint (metadata key
`training_summary`), so a model card can say which voices a model learned from without the data at hand;
`describe_summary` and `licences_for` turn it into the card's words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqaudio.data.base import SpeechFile

__all__ = [
    "CORPUS_LICENCES",
    "CORPUS_TITLES",
    "corpus_of",
    "describe_summary",
    "licences_for",
    "summarize_training_files",
]

# Corpus name (SpeechFile.corpus, as `speech_files` names every corpus it reads) -> its licence,
# as ../shared/data/README.md gives them.
CORPUS_LICENCES: dict[str, str] = {
    "fsdd": "Free Spoken Digit Dataset, CC BY-SA 4.0",
    "asterisk": "Asterisk PBX prompts, CC BY-SA 3.0 / CC BY 3.0",
    "speech_commands": "Speech Commands v0.02, CC BY 4.0",
    "librispeech": "LibriSpeech, CC BY 4.0",
    "gcompris": "GCompris voices, GPL / CC BY-SA / public domain per file",
    "mir1k": "MIR-1K, released for research use (Hsu and Jang, 2010)",
    "musdb": "MUSDB18, for non-commercial research, licences per track",
}
CORPUS_TITLES: dict[str, str] = {
    "fsdd": "FSDD",
    "asterisk": "Asterisk prompts",
    "speech_commands": "Speech Commands",
    "librispeech": "LibriSpeech",
    "gcompris": "GCompris voices",
    "mir1k": "MIR-1K karaoke clips",
    "musdb": "MUSDB18 tracks",
    "folder": "other recordings",
}
# Before LibriSpeech and GCompris had readers of their own they were listed as plain folders; a "folder" file
# (a summary re-listed from an old run's records, or a copy named so) is still recognised by a folder in its path.
_FOLDER_CORPORA = ("librispeech", "gcompris")


def corpus_of(file: SpeechFile) -> str:
    """The file's corpus as its reader named it.

    A plain-folder file under a `librispeech/` or `gcompris/` folder counts as that corpus, so its licence is found.
    """
    if file.corpus != "folder":
        return file.corpus
    parts = {part.lower() for part in Path(file.path).parts[:-1]}
    return next((name for name in _FOLDER_CORPORA if name in parts), "folder")


def summarize_training_files(files: Sequence[SpeechFile], seconds: float | None = None) -> dict[str, Any]:
    """Corpora (files, speakers and sorted speaker names each), totals, and `seconds` of audio when given.

    {"n_files": 3630, "n_speakers": 7, "corpora": {"asterisk": {"files": 1130, "speakers": 2,
    "speaker_names": ["fr_CA_f_June", "it_IT_m_Carlo"]}, ...}, "seconds": 8100.0}. Corpora are sorted by
    name; a speaker is counted once per corpus (two corpora may use the same name for different people).
    """
    by_corpus: dict[str, tuple[int, set[str]]] = {}
    for f in files:
        count, speakers = by_corpus.get(corpus_of(f), (0, set()))
        speakers.add(f.speaker)
        by_corpus[corpus_of(f)] = (count + 1, speakers)
    corpora = {
        name: {"files": count, "speakers": len(speakers), "speaker_names": sorted(speakers)}
        for name, (count, speakers) in sorted(by_corpus.items())
    }
    summary: dict[str, Any] = {
        "n_files": len(files),
        "n_speakers": sum(c["speakers"] for c in corpora.values()),
        "corpora": corpora,
    }
    if seconds is not None:
        summary["seconds"] = round(float(seconds), 1)
    return summary


def licences_for(summary: dict[str, Any]) -> list[str]:
    """The licences of the corpora in `summary`, one per corpus present, in the summary's order."""
    return [
        CORPUS_LICENCES.get(name, f"{CORPUS_TITLES.get(name, name)}: licence not recorded, check the source")
        for name in summary.get("corpora", {})
    ]


def describe_summary(summary: dict[str, Any], max_speakers: int = 8) -> str:
    """One line for a model card: totals, then each corpus with its speakers (long lists cut after `max_speakers`)."""
    total = f"{summary.get('n_files', 0):,} files, {summary.get('n_speakers', 0):,} speakers"
    if summary.get("seconds") is not None:
        total += f", {_duration(float(summary['seconds']))}"
    parts = []
    for name, corpus in summary.get("corpora", {}).items():
        names = list(corpus.get("speaker_names", []))
        shown = ", ".join(names[:max_speakers])
        if len(names) > max_speakers:
            shown += f" and {len(names) - max_speakers:,} more"
        n = corpus.get("speakers", len(names))
        speakers = f"{n:,} speaker{'s' if n != 1 else ''}"
        parts.append(f"{CORPUS_TITLES.get(name, name)} ({corpus.get('files', 0):,} files; {speakers}: {shown})")
    return f"{total}: " + "; ".join(parts) if parts else total


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
