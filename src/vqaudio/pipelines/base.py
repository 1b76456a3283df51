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
from vqaudio.pipelines.inputs import as_float_array, check_rate, fit_length
from vqaudio.pipelines.runner import ChunkedRunner, FrameWindow, OutputPiece

if TYPE_CHECKING:
    from vqaudio.audio.io import AudioInfo

__all__ = ["Pipeline", "pipelines_for"]

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

        if type(self).piece is Pipeline.piece:
            raise TypeError(f"{type(self).__name__} does not run on the chunked runner, so it cannot stream a file")
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


def pipelines_for(model_type: str) -> list[str]:
    """Names of the pipelines that can run a model type (their `model_types` name it)."""
    return sorted(cls.__name__ for cls in _all_subclasses(Pipeline) if model_type in cls.model_types)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found
