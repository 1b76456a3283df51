"""Read and write audio files (wav/flac/ogg, any rate, bit depth and channel count) as float32 arrays.

Everything downstream works on float32 numpy in [-1, 1], shape (T,) or (C, T). This module is the one place
that talks to libsndfile (soundfile) and soxr, so every bad-file case is turned into one clear `AudioError`
here instead of a libsndfile message (or a NaN) surfacing three layers up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from vqaudio.audio.atomic import atomic_output

__all__ = [
    "AUDIO_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "AudioError",
    "check_writable",
    "load",
    "resample",
    "save",
    "to_mono",
]

log = logging.getLogger(__name__)

# The formats the datasets and the docs name (training data is read from these).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# Every extension `load` decodes with this libsndfile (.mp3 needs libsndfile >= 1.1, .opus one built with Opus):
# what a folder job picks up, so a folder of files is handled like each of its files given alone.
_READABLE = {
    ".oga": ("OGG", None),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", None),
    ".aif": ("AIFF", None),
    ".aiff": ("AIFF", None),
    ".au": ("AU", None),
    ".caf": ("CAF", None),
    ".w64": ("W64", None),
    ".rf64": ("RF64", None),
}
READABLE_EXTENSIONS: tuple[str, ...] = AUDIO_EXTENSIONS + tuple(
    ext
    for ext, (fmt, subtype) in _READABLE.items()
    if fmt in sf.available_formats() and (subtype is None or subtype in sf.available_subtypes(fmt))
)

# More channels than this in a "(C, T)" array is almost certainly a (T, C) array passed the wrong way round.
_MAX_CHANNELS = 64
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


class AudioError(ValueError):
    """An audio file (or array bound for one) that cannot be used; the message names it and says why."""


def load(path: str | os.PathLike[str], sample_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read `path` as float32 in [-1, 1]: (T,) if `mono` (channel mean) else (C, T).

    With `sample_rate`, the audio is resampled with soxr to that rate and that rate is returned; otherwise
    the file's own rate is. Raises AudioError for a missing path, a directory, a file libsndfile cannot
    decode, a file with no samples, or one holding NaN/inf samples. Silence and 1-sample files are fine.
    """
    path = Path(path)
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise AudioError(f"{path}: requested sample_rate must be a positive integer, got {sample_rate!r}")
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(
            f"{path}: cannot decode as audio ({_reason(err)}); expected a readable audio file "
            f"({', '.join(e.lstrip('.') for e in READABLE_EXTENSIONS)})"
        ) from err
    except OSError as err:
        raise AudioError(f"{path}: cannot read file ({err.strerror or err})") from err
    wave = np.ascontiguousarray(data.T)  # (C, T)
    if wave.shape[-1] == 0 or wave.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples (empty file)")
    if not np.isfinite(wave).all():
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        raise AudioError(f"{path}: contains {bad} non-finite (NaN or infinite) samples; re-export the file")
    if mono:
        wave = to_mono(wave)
    if sample_rate is not None and sample_rate != file_rate:
        wave = resample(wave, int(file_rate), int(sample_rate))
        file_rate = sample_rate
    return wave, int(file_rate)


def save(
    path: str | os.PathLike[str],
    wave: Any,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> Path:
    """Write `wave` ((T,) or (C, T), numpy or torch) to `path`; the format follows the extension.

    Parent folders are created. Integer and lossy subtypes clip to [-1, 1] (so loud output saturates
    instead of wrapping around), with one logged warning naming the file and the peak when anything is
    clipped; FLOAT/DOUBLE keep values as they are. Non-finite samples are refused. The default PCM_16 is
    replaced by the format's own default where the format cannot hold it (ogg -> VORBIS, mp3 -> MPEG layer III).
    The write is atomic: a temporary file beside `path` is renamed onto it once complete, so an error or
    a killed run never leaves a half-written file under `path`. Returns the path written.
    """
    path = Path(path)
    array = _as_numpy(wave, path)
    if array.ndim not in (1, 2):
        raise AudioError(f"{path}: expected a (samples,) or (channels, samples) array, got {array.shape}")
    if array.ndim == 2 and array.shape[0] > _MAX_CHANNELS:
        raise AudioError(
            f"{path}: array of shape {array.shape} has {array.shape[0]} channels; pass (channels, samples) "
            "(transpose a (samples, channels) array)"
        )
    if array.shape[-1] == 0:
        raise AudioError(f"{path}: refusing to write an empty array (0 samples)")
    if not np.isfinite(array).all():
        raise AudioError(f"{path}: refusing to write NaN or infinite samples")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{path}: sample_rate must be a positive integer, got {sample_rate!r}")
    fmt = _format_for(path)
    subtype = subtype.upper()
    if not sf.check_format(fmt, subtype):
        if subtype != "PCM_16":
            choices = ", ".join(sorted(sf.available_subtypes(fmt)))
            raise AudioError(f"{path}: format {fmt} cannot store subtype {subtype}; choose one of {choices}")
        subtype = sf.default_subtype(fmt) or subtype
    if subtype not in _FLOAT_SUBTYPES:
        peak = float(np.max(np.abs(array)))
        if peak > 1.0:
            log.warning(
                "%s: peak %.3f (%+.1f dBFS) is above full scale; clipped to [-1, 1] in the %s file "
                "(lower the input level, or write floats: subtype FLOAT in a .wav)",
                path,
                peak,
                20.0 * np.log10(peak),
                subtype,
            )
            array = np.clip(array, -1.0, 1.0)
    frames = np.ascontiguousarray(array.T if array.ndim == 2 else array)
    try:
        with atomic_output(path) as tmp:
            sf.write(str(tmp), frames, int(sample_rate), subtype=subtype, format=fmt)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(f"{path}: cannot write audio ({_reason(err)})") from err
    return path


def check_writable(path: str | os.PathLike[str]) -> str:
    """The libsndfile format `save` would write `path` in (from its extension); AudioError if it has none.

    Cheap, touches no file: commands call it on their output name before doing any work.
    """
    path = Path(path)
    fmt = _format_for(path)
    if not sf.check_format(fmt, "PCM_16") and sf.default_subtype(fmt) is None:
        choices = ", ".join(AUDIO_EXTENSIONS)
        raise AudioError(f"{path}: {path.suffix} files cannot be written here; use one of {choices}")
    return fmt


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample (T,) or (C, T) float audio from `orig_sr` to `target_sr` with soxr "HQ"; float32 out.

    Output length is round(T * target_sr / orig_sr) (soxr's own rule); equal rates return a float32 copy.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioError(f"resample: sample rates must be positive, got {orig_sr} -> {target_sr}")
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim not in (1, 2):
        raise AudioError(f"resample: expected (samples,) or (channels, samples), got shape {wave.shape}")
    if orig_sr == target_sr:
        return wave.copy()
    if wave.shape[-1] == 0:
        return np.zeros((*wave.shape[:-1], 0), dtype=np.float32)
    frames = np.ascontiguousarray(wave.T)  # soxr wants (frames, channels)
    out = soxr.resample(frames, int(orig_sr), int(target_sr), quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


def to_mono(wave: np.ndarray) -> np.ndarray:
    """(C, T) -> (T,) by averaging channels (keeps both sides of a stereo mix); (T,) passes through."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise AudioError(f"to_mono: expected (samples,) or (channels, samples), got shape {wave.shape}")
    return wave[0].copy() if wave.shape[0] == 1 else wave.mean(axis=0, dtype=np.float32)


def _as_numpy(wave: Any, path: Path) -> np.ndarray:
    """numpy float32 from numpy, torch (any device, with grad) or a list; integer samples are refused."""
    if hasattr(wave, "detach") and hasattr(wave, "cpu"):  # torch.Tensor, without importing torch here
        if wave.is_complex() or not wave.is_floating_point():
            raise AudioError(f"{path}: expected float samples in [-1, 1], got a {wave.dtype} tensor")
        wave = wave.detach().cpu().float().numpy()
    elif isinstance(wave, np.ndarray) and wave.dtype.kind not in "f":
        raise AudioError(
            f"{path}: expected float samples in [-1, 1], got {wave.dtype}; scale integer PCM first (e.g. int16 / 32768)"
        )
    try:
        return np.asarray(wave, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise AudioError(f"{path}: cannot convert {type(wave).__name__} to a float array ({err})") from err


def _format_for(path: Path) -> str:
    """libsndfile major format from the file extension, or a clear error for one it does not know."""
    ext = path.suffix.lower().lstrip(".")
    known = {name.lower(): name for name in sf.available_formats()}
    aliases = {"oga": "OGG", "aif": "AIFF", "aiff": "AIFF", "snd": "AU"}
    fmt = known.get(ext) or aliases.get(ext)
    if fmt is None:
        choices = ", ".join(AUDIO_EXTENSIONS)
        raise AudioError(f"{path}: unknown audio extension {path.suffix!r}; use one of {choices}")
    return fmt


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__
