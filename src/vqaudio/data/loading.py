"""Load many speech files once, at one sample rate, with a progress bar and a clear account of bad files."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from vqaudio.audio.io import AudioError, load
from vqaudio.data.base import SpeechFile

__all__ = ["OnError", "as_path", "load_waves"]

OnError = Literal["warn", "raise"]
_PROGRESS_MIN_FILES = 50


def as_path(item: SpeechFile | str | Path) -> Path:
    return item.path if isinstance(item, SpeechFile) else Path(item)


def load_waves(
    files: Sequence[SpeechFile | str | Path],
    sample_rate: int,
    on_error: OnError = "warn",
    progress: bool | None = None,
    desc: str = "loading audio",
    channels: int | None = None,
) -> list[tuple[int, np.ndarray]]:
    """(index into `files`, mono float32 wave at `sample_rate`) for every file that loads.

    `channels` = C keeps the channels, (C, T), and requires exactly C: a file with another count is a ValueError
    either way (it is the wrong kind of file, not a broken one).

    Real corpora hold the odd broken file (the shared Asterisk ru_RU `is.flac` is a 114-byte header):
    with on_error="warn" such files are skipped with one warning naming them, so one bad file does
    not stop a training run; "raise" re-raises the AudioError. If no file loads, ValueError either way.
    `progress=None` shows a bar only on a terminal and for more than a few files.
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not files:
        raise ValueError("no audio files given (empty list); check the folder and split")
    disable = (None if len(files) >= _PROGRESS_MIN_FILES else True) if progress is None else not progress
    loaded: list[tuple[int, np.ndarray]] = []
    failed: list[str] = []
    for i, item in enumerate(tqdm(files, desc=desc, unit="file", disable=disable, leave=False)):
        try:
            wave, _ = load(as_path(item), sample_rate=int(sample_rate), mono=channels is None)
        except AudioError as err:
            if on_error == "raise":
                raise
            failed.append(str(err))
            continue
        if channels is not None and (wave.ndim != 2 or wave.shape[0] != channels):
            found = 1 if wave.ndim == 1 else wave.shape[0]
            raise ValueError(f"{as_path(item)}: has {found} channel(s), expected {channels}")
        loaded.append((i, np.ascontiguousarray(wave, dtype=np.float32)))
    if not loaded:
        raise ValueError(f"none of the {len(files)} audio files could be loaded; first error: {failed[0]}")
    if failed:
        shown = "; ".join(failed[:5]) + (f"; ... and {len(failed) - 5} more" if len(failed) > 5 else "")
        warnings.warn(f"skipped {len(failed)} of {len(files)} audio files that cannot be loaded: {shown}", stacklevel=3)
    return loaded
