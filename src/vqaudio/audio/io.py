"""Read and write audio files (wav/flac/ogg, any rate, bit depth and channel count) as float32 arrays.

Everything downstream works on float32 numpy in [-1, 1], shape (T,) or (C, T). This module is the one place
that talks to libsndfile (soundfile) and soxr, so every bad-file case is turned into one clear `AudioError`
here instead of a libsndfile message (or a NaN) surfacing three layers up.

Long files: `AudioReader` reads a file block by block and `AudioWriter` writes one block by block (atomically,
as `save` does), so a command can stream an hour of audio through a model in bounded memory
(`vqaudio.audio.stream` resamples and meters such streams).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from vqaudio.audio.atomic import atomic_output

__all__ = [
    "AUDIO_EXTENSIONS",
    "READABLE_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
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
    _check_path(path)
    with _decoding(path):
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = np.ascontiguousarray(data.T)  # (C, T)
    if wave.shape[-1] == 0 or wave.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples (empty file)")
    _check_finite(wave, path)
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
    subtype = _subtype_for(path, fmt, subtype)
    if subtype not in _FLOAT_SUBTYPES:
        peak = float(np.max(np.abs(array)))
        if peak > 1.0:
            _warn_clipped(path, peak, subtype)
            array = np.clip(array, -1.0, 1.0)
    frames = np.ascontiguousarray(array.T if array.ndim == 2 else array)
    try:
        with atomic_output(path) as tmp:
            sf.write(str(tmp), frames, int(sample_rate), subtype=subtype, format=fmt)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(f"{path}: cannot write audio ({_reason(err)})") from err
    return path


@dataclass(frozen=True)
class AudioInfo:
    """What a streamed file held (or was written with): its length in samples, rate and channel count."""

    n_samples: int
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


class AudioReader:
    """An audio file read in blocks: float32 (C, n) arrays in [-1, 1], as `load(path, mono=False)` reads them.

    Opening checks the file as `load` does (missing, a folder, empty, undecodable: AudioError naming it); `blocks`
    checks each block for NaN/inf and that the file holds the samples its header promises. `blocks` may be called
    again for another pass over the file (a level measurement, then the processing). Use it as a context manager.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        _check_path(self.path)
        with _decoding(self.path):
            self._file = sf.SoundFile(str(self.path))
        self.info = AudioInfo(int(self._file.frames), int(self._file.samplerate), int(self._file.channels))
        if self.info.n_samples <= 0 or self.info.channels <= 0:
            self.close()
            raise AudioError(f"{self.path}: contains no audio samples (empty file)")

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def n_samples(self) -> int:
        return self.info.n_samples

    def blocks(self, block_frames: int = 1 << 16) -> Iterator[np.ndarray]:
        """The whole file from its start, (C, n) float32 blocks of `block_frames` (the last one shorter)."""
        if block_frames < 1:
            raise ValueError(f"AudioReader.blocks: block_frames must be >= 1, got {block_frames}")
        seen = 0
        with _decoding(self.path):
            self._file.seek(0)
            while True:
                data = self._file.read(block_frames, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                block = np.ascontiguousarray(data.T)
                _check_finite(block, self.path, at=seen / self.sample_rate)
                seen += block.shape[-1]
                yield block
        if seen != self.n_samples:
            raise AudioError(
                f"{self.path}: the header promises {self.n_samples} samples but {seen} were decoded; the file is "
                "damaged or truncated: re-export it (e.g. as .wav)"
            )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AudioWriter:
    """An audio file written in blocks, as `save` writes a whole array: the format from the extension, 16-bit PCM
    by default, samples beyond full scale clipped (one warning naming the file and the peak, when it is closed),
    NaN/inf refused, and atomically: into a temporary file renamed onto `path` when the `with` block ends without
    an error (an error or a killed run leaves `path` as it was).

        with AudioWriter(path, 44100, channels=2) as out:
            for block in blocks:   # (C, n) or, for one channel, (n,)
                out.write(block)
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, subtype: str = "PCM_16"):
        self.path = Path(path)
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise AudioError(f"{self.path}: sample_rate must be a positive integer, got {sample_rate!r}")
        if not 1 <= channels <= _MAX_CHANNELS:
            raise AudioError(f"{self.path}: cannot write {channels} channels (1..{_MAX_CHANNELS})")
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.format = _format_for(self.path)
        self.subtype = _subtype_for(self.path, self.format, subtype)
        self.n_samples = 0
        self._peak = 0.0
        self._stack: contextlib.ExitStack | None = None
        self._file: sf.SoundFile | None = None

    def __enter__(self) -> AudioWriter:
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_output(self.path))
            with self._writing():
                self._file = sf.SoundFile(
                    str(tmp), "w", self.sample_rate, self.channels, self.subtype, format=self.format
                )
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def write(self, block: Any) -> None:
        """Append (C, n) samples (or (n,) for a one-channel file), numpy or torch."""
        if self._file is None:
            raise RuntimeError("AudioWriter.write outside its `with` block")
        array = _as_numpy(block, self.path)
        array = array[None] if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[0] != self.channels:
            raise AudioError(f"{self.path}: expected blocks of ({self.channels}, samples), got {array.shape}")
        if not np.isfinite(array).all():
            raise AudioError(f"{self.path}: refusing to write NaN or infinite samples")
        if array.shape[-1] == 0:
            return
        if self.subtype not in _FLOAT_SUBTYPES:
            peak = float(np.max(np.abs(array)))
            if peak > 1.0:
                self._peak = max(self._peak, peak)
                array = np.clip(array, -1.0, 1.0)
        with self._writing():
            self._file.write(np.ascontiguousarray(array.T))
        self.n_samples += array.shape[-1]

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._stack is not None and self._file is not None
        stack, file = self._stack, self._file
        self._stack = self._file = None
        try:
            with self._writing():
                file.close()
            if kind is None and self.n_samples == 0:
                raise AudioError(f"{self.path}: refusing to write an empty file (0 samples)")
        except BaseException as err:
            if kind is None:  # our own failure: no file, and this error
                stack.__exit__(type(err), err, err.__traceback__)
                raise
            # else the error that ended the block is the one to report
        stack.__exit__(kind, error, trace)  # renames the temporary file onto the path, or removes it
        if kind is None and self._peak > 1.0:
            _warn_clipped(self.path, self._peak, self.subtype)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            if isinstance(err, AudioError):
                raise
            raise AudioError(f"{self.path}: cannot write audio ({_reason(err)})") from err


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


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")


@contextlib.contextmanager
def _decoding(path: Path) -> Iterator[None]:
    """libsndfile's errors while opening or reading `path` as one AudioError naming the file."""
    try:
        yield
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(
            f"{path}: cannot decode as audio ({_reason(err)}); expected a readable audio file "
            f"({', '.join(e.lstrip('.') for e in READABLE_EXTENSIONS)})"
        ) from err
    except OSError as err:
        raise AudioError(f"{path}: cannot read file ({err.strerror or err})") from err


def _check_finite(wave: np.ndarray, path: Path, at: float | None = None) -> None:
    if not np.isfinite(wave).all():
        bad = int(np.count_nonzero(~np.isfinite(wave)))
        where = f" (from about {at:.1f} s)" if at else ""
        raise AudioError(f"{path}: contains {bad} non-finite (NaN or infinite) samples{where}; re-export the file")


def _subtype_for(path: Path, fmt: str, subtype: str) -> str:
    """`subtype` if `fmt` can hold it; the format's own default in place of a PCM_16 it cannot hold (ogg, mp3)."""
    subtype = subtype.upper()
    if not sf.check_format(fmt, subtype):
        if subtype != "PCM_16":
            choices = ", ".join(sorted(sf.available_subtypes(fmt)))
            raise AudioError(f"{path}: format {fmt} cannot store subtype {subtype}; choose one of {choices}")
        subtype = sf.default_subtype(fmt) or subtype
    return subtype


def _warn_clipped(path: Path, peak: float, subtype: str) -> None:
    log.warning(
        "%s: peak %.3f (%+.1f dBFS) is above full scale; clipped to [-1, 1] in the %s file "
        "(lower the input level, or write floats: subtype FLOAT in a .wav)",
        path,
        peak,
        20.0 * np.log10(peak),
        subtype,
    )


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
