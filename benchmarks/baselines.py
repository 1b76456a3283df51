"""Reference codecs for the codec benchmark: the real Codec 2 and Opus command-line tools, run on temp files.

Why the real tools: the benchmark compares our codec with what a user would otherwise deploy, so the
baselines must be the shipped encoders, not re-implementations. Each call returns the decoded speech at the
input's rate and length, and the measured size of what the encoder wrote, so bit/s is reported as measured.

Delay is not compensated here: Codec 2's output lags its input by CODEC2_DELAY_SAMPLES (20 ms, 30 ms for
700C; see the note there on estimating it); Opus's pre-skip is removed by opusdec, so Opus adds none.
Align before scoring (e.g. `vqaudio.metrics.align(ref, deg, max_delay)`).

Tools: `c2enc`/`c2dec` (Debian package `codec2`), `opusenc`/`opusdec` (Debian package `opus-tools`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

__all__ = [
    "CODEC2_DELAY_MS",
    "CODEC2_DELAY_SAMPLES",
    "CODEC2_MODES",
    "CODEC2_SAMPLE_RATE",
    "OPUS_MAX_BITRATE",
    "OPUS_MIN_BITRATE",
    "BaselineError",
    "CodedAudio",
    "MissingToolError",
    "baseline_systems",
    "codec2",
    "codec2_code",
    "has_codec2",
    "has_opus",
    "opus",
    "opus_code",
]

CODEC2_SAMPLE_RATE = 8000
# mode -> (bits per frame, samples per frame at 8 kHz). c2enc stores each frame in ceil(bits/8) bytes, so the
# file of 1300 and 700C is byte-padded (56 and 32 bits a frame); CodedAudio.bitrate counts the codec's bits.
CODEC2_MODES: dict[str, tuple[int, int]] = {
    "3200": (64, 160),
    "2400": (48, 160),
    "1600": (64, 320),
    "1400": (56, 320),
    "1300": (52, 320),
    "1200": (48, 320),
    "700C": (28, 320),
}
# Output lag of c2dec behind the c2enc input, in samples at 8 kHz (codec2 1.0.5, Debian 12): measured on real
# speech as the shift that maximises STOI, confirmed by log-spectrogram cross-correlation (to +-10 samples).
# Codec 2 synthesises its own phase, so plain waveform cross-correlation misjudges this delay badly (we saw
# anything from -11 to 235 samples on the same speech): align Codec 2 output by magnitude, or by these values.
CODEC2_DELAY_SAMPLES: dict[str, int] = {mode: 160 for mode in CODEC2_MODES} | {"700C": 240}
CODEC2_DELAY_MS = 20.0  # every mode but 700C (30 ms)
OPUS_MIN_BITRATE = 6000  # opusenc's documented floor per channel; below it libopus overshoots the target
OPUS_MAX_BITRATE = 256000
_OPUS_DECODE_RATES = (8000, 12000, 16000, 24000, 48000)
_OPUS_PACKAGE = "opus-tools"
_CODEC2_PACKAGE = "codec2"


class BaselineError(RuntimeError):
    """A baseline codec could not run on this input (the message says which tool and why)."""


class MissingToolError(BaselineError):
    """A codec's command-line tool is not installed; the message names the Debian package."""


@dataclass(frozen=True)
class CodedAudio:
    """One pass through a baseline codec.

    wave: decoded float32 mono at `sample_rate` (the input's), same length as the input, not delay-aligned.
    coded_bits: bits of codec payload (Codec 2 frames at their nominal bits; Opus packets, Ogg excluded).
    file_bytes: size of the file the encoder wrote (Codec 2 byte padding, or Ogg pages + Opus headers).
    """

    system: str
    wave: np.ndarray
    sample_rate: int
    coded_bits: int
    file_bytes: int
    duration_s: float
    expected_delay_samples: int

    @property
    def bitrate(self) -> float:
        """Measured payload bit/s over the input's duration."""
        return self.coded_bits / self.duration_s

    @property
    def file_bitrate(self) -> float:
        """Measured bit/s of the whole file the tool wrote (container / padding included)."""
        return 8.0 * self.file_bytes / self.duration_s


def has_codec2() -> bool:
    return shutil.which("c2enc") is not None and shutil.which("c2dec") is not None


def has_opus() -> bool:
    return shutil.which("opusenc") is not None and shutil.which("opusdec") is not None


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(
            f"`{name}` not found on PATH: install the Debian package `{package}` (apt-get install {package})"
        )
    return path


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-600:]
        raise BaselineError(f"`{' '.join(args)}` failed with exit code {result.returncode}: {tail}")


def _mono_float(wave: np.ndarray, what: str) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"{what} needs mono audio of shape (T,), got shape {wave.shape}; mix down first")
    if wave.size == 0:
        raise ValueError(f"{what} got an empty waveform")
    if not np.all(np.isfinite(wave)):
        raise ValueError(f"{what} got non-finite samples (NaN or inf)")
    return wave.astype(np.float32, copy=False)


def _to_int16(wave: np.ndarray) -> np.ndarray:
    return np.round(np.clip(wave, -1.0, 1.0) * 32767.0).astype("<i2")


def _fit_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the end (never shift) so decoded audio lines up sample-for-sample with the input."""
    if wave.size >= length:
        return wave[:length]
    return np.concatenate([wave, np.zeros(length - wave.size, dtype=wave.dtype)])


# ---------------------------------------------------------------------------------------------- Codec 2


def codec2_code(wave: np.ndarray, mode: str) -> CodedAudio:
    """Encode and decode 8 kHz mono float speech with c2enc/c2dec in `mode` (a key of CODEC2_MODES).

    The input is zero-padded to whole frames (c2enc drops a partial last frame); the output is cut back to
    the input's length. Its lag (CODEC2_DELAY_SAMPLES[mode]) is left in place.
    """
    if mode not in CODEC2_MODES:
        raise ValueError(f"unknown Codec 2 mode {mode!r}; choose one of {sorted(CODEC2_MODES)}")
    wave = _mono_float(wave, f"codec2 {mode}")
    encoder, decoder = _tool("c2enc", _CODEC2_PACKAGE), _tool("c2dec", _CODEC2_PACKAGE)
    bits_per_frame, samples_per_frame = CODEC2_MODES[mode]
    n_frames = -(-wave.size // samples_per_frame)
    padded = _fit_length(wave, n_frames * samples_per_frame)
    with tempfile.TemporaryDirectory(prefix="vqaudio-codec2-") as tmp:
        raw_in, bits, raw_out = Path(tmp) / "in.raw", Path(tmp) / "coded.bin", Path(tmp) / "out.raw"
        _to_int16(padded).tofile(raw_in)
        _run([encoder, mode, str(raw_in), str(bits)])  # .bin: headerless, one frame after another
        _run([decoder, mode, str(bits), str(raw_out)])
        file_bytes = bits.stat().st_size
        decoded = np.fromfile(raw_out, dtype="<i2").astype(np.float32) / 32768.0
    bytes_per_frame = -(-bits_per_frame // 8)
    if file_bytes != n_frames * bytes_per_frame:
        raise BaselineError(
            f"c2enc {mode} wrote {file_bytes} bytes for {n_frames} frames, expected {n_frames * bytes_per_frame}"
        )
    return CodedAudio(
        system=f"codec2-{mode}",
        wave=_fit_length(decoded, wave.size),
        sample_rate=CODEC2_SAMPLE_RATE,
        coded_bits=n_frames * bits_per_frame,
        file_bytes=file_bytes,
        duration_s=wave.size / CODEC2_SAMPLE_RATE,
        expected_delay_samples=CODEC2_DELAY_SAMPLES[mode],
    )


def codec2(wave: np.ndarray, mode: str) -> np.ndarray:
    """Decoded Codec 2 speech (8 kHz, input's length, not delay-aligned); see codec2_code for the size."""
    return codec2_code(wave, mode).wave


# ---------------------------------------------------------------------------------------------- Opus


def _ogg_packet_sizes(data: bytes) -> list[int]:
    """Sizes of the packets in an Ogg stream, from the pages' lacing values (packets may span pages)."""
    sizes: list[int] = []
    offset, current = 0, 0
    while offset < len(data):
        if data[offset : offset + 4] != b"OggS" or offset + 27 > len(data):
            raise BaselineError(f"opusenc output is not a well-formed Ogg stream (at byte {offset})")
        n_segments = data[offset + 26]
        lacing = data[offset + 27 : offset + 27 + n_segments]
        for value in lacing:
            current += value
            if value < 255:
                sizes.append(current)
                current = 0
        offset += 27 + n_segments + sum(lacing)
    return sizes


def opus_code(
    wave: np.ndarray, sample_rate: int, bitrate_bps: int, framesize_ms: float = 20, bitrate_mode: str = "vbr"
) -> CodedAudio:
    """Encode mono float speech with opusenc at `bitrate_bps` and decode it with opusdec.

    opusdec decodes at the input rate when Opus supports it natively (8/12/16/24/48 kHz), else at 48 kHz
    and soxr resamples back. opusdec removes the encoder's pre-skip and trims to the stored length, so the
    output has the input's length with no added delay. bitrate_mode: "vbr" (opusenc default), "cvbr" or
    "hard-cbr". The measured bitrate counts Opus packets only, not Ogg pages or the Opus headers.
    """
    wave = _mono_float(wave, f"opus {bitrate_bps} bit/s")
    if not OPUS_MIN_BITRATE <= bitrate_bps <= OPUS_MAX_BITRATE:
        raise ValueError(
            f"opus bitrate must be {OPUS_MIN_BITRATE}..{OPUS_MAX_BITRATE} bit/s (opusenc's range for one "
            f"channel), got {bitrate_bps}"
        )
    if bitrate_mode not in ("vbr", "cvbr", "hard-cbr"):
        raise ValueError(f"bitrate_mode must be 'vbr', 'cvbr' or 'hard-cbr', got {bitrate_mode!r}")
    if framesize_ms not in (2.5, 5, 10, 20, 40, 60):
        raise ValueError(f"opus frame size must be 2.5, 5, 10, 20, 40 or 60 ms, got {framesize_ms}")
    encoder, decoder = _tool("opusenc", _OPUS_PACKAGE), _tool("opusdec", _OPUS_PACKAGE)
    decode_rate = sample_rate if sample_rate in _OPUS_DECODE_RATES else 48000
    with tempfile.TemporaryDirectory(prefix="vqaudio-opus-") as tmp:
        raw_in, coded, raw_out = Path(tmp) / "in.raw", Path(tmp) / "coded.opus", Path(tmp) / "out.f32"
        _to_int16(wave).tofile(raw_in)
        command = [encoder, "--quiet", "--raw", "--raw-bits", "16", "--raw-rate", str(sample_rate)]
        command += ["--raw-chan", "1", "--raw-endianness", "0", f"--{bitrate_mode}"]
        command += ["--bitrate", f"{bitrate_bps / 1000:g}", "--framesize", f"{framesize_ms:g}"]
        command += ["--discard-comments", "--padding", "0", str(raw_in), str(coded)]
        _run(command)
        _run([decoder, "--quiet", "--float", "--rate", str(decode_rate), str(coded), str(raw_out)])
        stream = coded.read_bytes()
        decoded = np.fromfile(raw_out, dtype="<f4")
    packets = _ogg_packet_sizes(stream)
    if len(packets) < 2:
        raise BaselineError("opusenc output holds no OpusHead/OpusTags packets")
    if decode_rate != sample_rate:
        decoded = soxr.resample(decoded, decode_rate, sample_rate, quality="HQ").astype(np.float32)
    return CodedAudio(
        system=f"opus-{bitrate_bps}",
        wave=_fit_length(decoded, wave.size),
        sample_rate=sample_rate,
        coded_bits=8 * sum(packets[2:]),  # packets 0 and 1 are the OpusHead and OpusTags headers
        file_bytes=len(stream),
        duration_s=wave.size / sample_rate,
        expected_delay_samples=0,
    )


def opus(wave: np.ndarray, sample_rate: int, bitrate_bps: int, framesize_ms: float = 20) -> np.ndarray:
    """Decoded Opus speech at the input's rate and length; see opus_code for the measured size."""
    return opus_code(wave, sample_rate, bitrate_bps, framesize_ms).wave


# ---------------------------------------------------------------------------------------------- registry


def _codec2_any_rate(mode: str) -> Callable[[np.ndarray, int], CodedAudio]:
    def run(wave: np.ndarray, sample_rate: int) -> CodedAudio:
        narrow = wave if sample_rate == CODEC2_SAMPLE_RATE else soxr.resample(wave, sample_rate, 8000, "HQ")
        coded = codec2_code(np.asarray(narrow, dtype=np.float32), mode)
        if sample_rate == CODEC2_SAMPLE_RATE:
            return coded
        back = soxr.resample(coded.wave, CODEC2_SAMPLE_RATE, sample_rate, "HQ").astype(np.float32)
        delay = round(CODEC2_DELAY_SAMPLES[mode] * sample_rate / CODEC2_SAMPLE_RATE)
        return CodedAudio(coded.system, _fit_length(back, len(wave)), sample_rate, coded.coded_bits,
                          coded.file_bytes, len(wave) / sample_rate, delay)  # fmt: skip

    return run


def baseline_systems(
    codec2_modes: tuple[str, ...] = ("3200", "2400", "1200", "700C"),
    opus_bitrates: tuple[int, ...] = (6000, 8000),
) -> dict[str, Callable[[np.ndarray, int], CodedAudio]]:
    """Benchmark rows by name ("codec2-3200", "opus-6000"): each maps (wave, sample_rate) -> CodedAudio.

    Codec 2 runs at 8 kHz (other rates are resampled there and back). Tools that are not installed are
    left out, so check `has_codec2()` / `has_opus()` to say why a row is missing.
    """
    systems: dict[str, Callable[[np.ndarray, int], CodedAudio]] = {}
    if has_codec2():
        for mode in codec2_modes:
            systems[f"codec2-{mode}"] = _codec2_any_rate(mode)
    if has_opus():
        for bitrate in opus_bitrates:
            systems[f"opus-{bitrate}"] = lambda wave, sr, b=bitrate: opus_code(wave, sr, b)
    return systems
