"""The pipeline base: loading, device, and bringing any input to what a model wants and the output back.

Every pipeline (Reconstructor, Codec, and the coming Denoiser and Separator) runs a mono model at one sample rate.
The base takes numpy or torch input shaped (T,), (C, T) or (B, C, T) with C <= 8 (a (T, C) array, what
soundfile.read returns, is refused with a hint to pass its transpose), float or integer PCM (scaled to [-1, 1] as
soundfile reads it), at any sample rate from 1 to 384 kHz, runs each channel at the model's rate (and, for models
trained at one speech level, at that level), and returns the same type, on the same device, with the input's
shape, rate and length; a pipeline with several outputs per input (stems) puts them first: (S, *input shape).
Pipelines on the chunked runner also run on files of any length in bounded memory: `process_file`
(`vqaudio.pipelines.files`), from `piece`, their step for one chunk.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from vqaudio.audio import FrontEnd, resample, scale_to_level
from vqaudio.models import load_model
from vqaudio.models.registry import model_type_of
from vqaudio.pipelines.runner import ChunkedRunner, FrameWindow, OutputPiece

if TYPE_CHECKING:
    from vqaudio.audio.io import AudioInfo

__all__ = [
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "Pipeline",
    "as_float_array",
    "check_rate",
    "fit_length",
    "pipelines_for",
]

P = TypeVar("P", bound="Pipeline")


class Pipeline:
    """A mono model at one rate, applied to audio of any rate, channel count, length and array type.

    Subclasses set `model_types` (registry names they can run) and `default_model` (the shipped weights
    `from_pretrained()` loads), and implement `process(mono)`: a float32 torch wave (T,) at the model's rate ->
    (T,) or (S, T).
    """

    model_types: ClassVar[tuple[str, ...]] = ()
    default_model: ClassVar[str | None] = None
    scale_to_input_level: ClassVar[bool] = True  # scale inputs to the model's input_level_db and outputs back

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        kind = model_type_of(model) if hasattr(model, "config") else type(model).__name__
        if kind not in self.model_types:
            able = pipelines_for(kind)
            raise ValueError(
                f"{type(self).__name__} cannot run a {kind!r} model (it runs {', '.join(self.model_types)}); "
                + (f"use {', '.join(able)}" if able else "no pipeline runs that kind")
            )
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.model_type = kind
        cfg = model.config
        self.sample_rate = int(cfg.sample_rate)
        self.front_end: FrontEnd = cfg.front_end
        self.input_level_db: float | None = getattr(cfg, "input_level_db", None)

    # construction ----------------------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls: type[P], path: str | Path, **kwargs: Any) -> P:
        """Weights from a .safetensors checkpoint (config inside); kwargs go to the constructor."""
        return cls(load_model(path), **kwargs)

    @classmethod
    def from_pretrained(cls: type[P], name: str | None = None, **kwargs: Any) -> P:
        """Shipped weights by name (default: the pipeline's `default_model`); FileNotFoundError lists what ships."""
        from vqaudio.assets import pretrained_path

        name = name or cls.default_model
        if name is None:
            raise ValueError(f"{cls.__name__} has no default shipped model; pass a name")
        return cls.from_checkpoint(pretrained_path(name), **kwargs)

    # running ---------------------------------------------------------------------------------------------------
    def chunked_runner(
        self, chunk_seconds: float, context_seconds: float, griffin_lim_iters: int = 64
    ) -> ChunkedRunner:
        """The shared runner for this model: chunks and context in seconds, aligned to the model's time stride."""
        fps = self.front_end.stft.frames_per_second
        return ChunkedRunner(
            self.front_end,
            chunk_frames=round(chunk_seconds * fps),
            context_frames=round(context_seconds * fps),
            align=int(self.model.config.downsample_factor),
            griffin_lim_iters=griffin_lim_iters,
            device=self.device,
        )

    def model_features(self, features: torch.Tensor) -> torch.Tensor:
        """Model input features (..., n_features, N) -> the model's output features (no gradients)."""
        with torch.inference_mode():
            return self.model(features.to(self.device)).reconstruction_db

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        """Mono float32 wave (T,) at the model's rate -> (T,) or (S, T) at the same rate."""
        raise NotImplementedError

    def piece(self, window: FrameWindow) -> OutputPiece:
        """One chunk of `self.runner` through the model (pipelines on the chunked runner define it; `process` is
        then `self.runner.run_pieces(mono, self.piece)`, and files can stream through `process_file`)."""
        raise NotImplementedError(f"{type(self).__name__} does not run in chunks of the shared runner")

    def process_file(
        self,
        source: str | os.PathLike[str],
        output: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        subtype: str = "PCM_16",
    ) -> AudioInfo:
        """The audio file `source` through the pipeline into `output` (one path per output for several), a block
        at a time: the result of `save(output, self(*load(source, mono=False)))` in memory that does not grow
        with the file's length (see `vqaudio.pipelines.files.run_file`; `subtype` as `save` takes it). Returns the
        input's length, rate and channel count.
        """
        from vqaudio.pipelines.files import run_file

        return run_file(self, source, output, subtype=subtype)

    def __call__(self, wave: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray | torch.Tensor:
        """Audio (T,), (C, T) or (B, C, T), numpy or torch, at `sample_rate` -> the same kind, shape, rate, length
        (with (S, ...) in front for several outputs)."""
        as_torch = isinstance(wave, torch.Tensor)
        out_device = wave.device if as_torch else None
        array = as_float_array(wave)
        sample_rate = check_rate(sample_rate)
        channels = array.reshape(-1, array.shape[-1])
        outputs = [self._channel(channel, sample_rate) for channel in channels]
        stacked = np.stack(outputs, axis=-2)  # (C', T) or (S, C', T)
        out = stacked.reshape(*stacked.shape[:-2], *array.shape)
        return torch.from_numpy(out).to(out_device) if as_torch else out

    def _channel(self, channel: np.ndarray, sample_rate: int) -> np.ndarray:
        """One channel at the input rate -> (T,) or (S, T) at the input rate and length."""
        n = channel.shape[-1]
        mono = resample(channel, sample_rate, self.sample_rate) if sample_rate != self.sample_rate else channel
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if mono.shape[-1] == 0:  # shorter than one model-rate sample (1 sample at 48 kHz for a 16 kHz model)
            mono = np.zeros(1, dtype=np.float32)
        gain_db = 0.0
        if self.scale_to_input_level and self.input_level_db is not None:
            mono, gain_db = scale_to_level(mono, self.sample_rate, self.input_level_db)
        with torch.inference_mode():
            out = self.process(torch.from_numpy(mono).to(self.device)).float().cpu().numpy()
        if gain_db:
            out = out * np.float32(10.0 ** (-gain_db / 20.0))
        if sample_rate != self.sample_rate:
            rows = [fit_length(resample(o, self.sample_rate, sample_rate), n) for o in out.reshape(-1, out.shape[-1])]
            out = np.stack(rows) if out.ndim == 2 else rows[0]
        return fit_length(np.asarray(out, dtype=np.float32), n)


MAX_CHANNELS = 8  # channels of one recording; more is taken for a (samples, channels) array read the wrong way
MIN_SAMPLE_RATE = 1_000  # Hz; the same bounds as a .vqa header's (vqaudio.bitstream.format)
MAX_SAMPLE_RATE = 384_000
# integer PCM -> float in [-1, 1), as soundfile reads it: (offset, scale) with float = (x - offset) / scale
_PCM_SCALES: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.int16): (0.0, 32768.0),
    np.dtype(np.int32): (0.0, 2.0**31),
    np.dtype(np.int8): (0.0, 128.0),
    np.dtype(np.uint8): (128.0, 128.0),
}


def check_rate(sample_rate: Any) -> int:
    """The sample rate as an int; ValueError unless it is an integer in MIN_SAMPLE_RATE..MAX_SAMPLE_RATE Hz."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1:
        raise ValueError(f"sample rate must be a positive integer (Hz), got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample rate {int(sample_rate)} Hz is outside the {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz vqaudio "
            "handles: pass the rate in Hz (e.g. 16000)"
        )
    return int(sample_rate)


def as_float_array(wave: np.ndarray | torch.Tensor, name: str = "input") -> np.ndarray:
    """float32 numpy (T,), (C, T) or (B, C, T), C <= MAX_CHANNELS; rejects empty, non-finite and other shapes.

    Integer PCM is scaled to [-1, 1] as soundfile reads it (int16 / 2^15, int32 / 2^31, uint8 (x - 128) / 128,
    int8 / 2^7); other integer types are refused, as is complex or boolean input. A 2-D array with more than
    MAX_CHANNELS rows is refused with a hint to transpose it: (T, C), what soundfile.read returns, is the usual cause.
    """
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu()
        wave = (wave.float() if wave.dtype in (torch.bfloat16, torch.float16) else wave).numpy()
    if isinstance(wave, np.ndarray):
        wave = _pcm_to_float(wave, name)
    try:
        wave = np.asarray(wave, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected an array of samples (numpy or torch), could not read it: {err}") from None
    if wave.ndim not in (1, 2, 3):
        raise ValueError(
            f"{name}: expected (samples,), (channels, samples) or (batch, channels, samples), got {wave.shape}"
        )
    if wave.ndim >= 2 and wave.shape[-2] > MAX_CHANNELS:
        raise ValueError(_too_many_channels(wave.shape, name))
    if wave.size == 0 or wave.shape[-1] == 0:
        raise ValueError(f"{name}: no samples (shape {wave.shape})")
    if not np.isfinite(wave).all():
        raise ValueError(f"{name}: contains NaN or infinite samples")
    return wave


def _pcm_to_float(wave: np.ndarray, name: str) -> np.ndarray:
    """Integer PCM scaled to float32 in [-1, 1]; float arrays pass; bool, complex and other integer types refused."""
    kind = wave.dtype.kind
    if kind == "f":
        return wave
    if kind in "iu":
        if wave.dtype not in _PCM_SCALES:
            raise ValueError(
                f"{name}: {wave.dtype} samples have no PCM scale; pass float samples in [-1, 1], or int16, int32 or "
                "uint8 PCM (as soundfile.read returns it)"
            )
        offset, scale = _PCM_SCALES[wave.dtype]
        return ((wave.astype(np.float64) - offset) / scale).astype(np.float32)
    what = {"b": "boolean", "c": "complex"}.get(kind, str(wave.dtype))
    raise ValueError(f"{name}: {what} samples are not audio; pass float samples in [-1, 1] (numpy or torch)")


def _too_many_channels(shape: tuple[int, ...], name: str) -> str:
    expected = "(channels, samples)" if len(shape) == 2 else "(batch, channels, samples)"
    message = f"{name}: expected {expected} with at most {MAX_CHANNELS} channels; got {shape}"
    if shape[-1] <= MAX_CHANNELS:  # looks like (samples, channels): what soundfile.read returns
        swap = "wave.T" if len(shape) == 2 else "the last two axes swapped (wave.transpose(0, 2, 1) in numpy)"
        return f"{message}: that looks like (samples, channels); pass {swap}"
    return f"{message}: split the recording into groups of at most {MAX_CHANNELS} channels"


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis to n samples (resampling can be a sample off)."""
    if wave.shape[-1] >= n:
        return wave[..., :n]
    return np.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(0, n - wave.shape[-1])])


def pipelines_for(model_type: str) -> list[str]:
    """Names of the pipelines that can run a model type (their `model_types` name it)."""
    return sorted(cls.__name__ for cls in _all_subclasses(Pipeline) if model_type in cls.model_types)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found
