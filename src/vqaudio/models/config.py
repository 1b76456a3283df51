"""Typed, YAML-friendly configs of the spectrogram autoencoders (plain ints, floats, strings and dicts)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vqaudio.audio import FrontEnd, LogMagnitudeFrontEnd, STFTConfig
from vqaudio.nn.conv import ACTIVATIONS, NORMS, check_choice
from vqaudio.nn.resample import UPSAMPLE_MODES

ARCHITECTURES = ("conv1d", "conv2d")

C = TypeVar("C", bound="FramedConfig")


class FramedConfig:
    """What every model config shares: an STFT front-end, time decimation and a plain-dict round trip.

    A mixin for dataclasses that define sample_rate, n_fft, hop_length and n_downsample.
    """

    sample_rate: int
    n_fft: int
    hop_length: int
    n_downsample: int

    # Derived sizes -------------------------------------------------------------------------------
    @property
    def n_freqs(self) -> int:
        """Frequency bins of the input spectrogram (n_fft // 2 + 1)."""
        return self.n_fft // 2 + 1

    @property
    def stft(self) -> STFTConfig:
        """The STFT front-end this model's spectrograms come from (pipelines and training both use it)."""
        return STFTConfig(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length)

    @property
    def front_end(self) -> FrontEnd:
        """wave -> the features this model takes, and back (training, pipelines and benchmarks all use it)."""
        raise NotImplementedError

    @property
    def n_features(self) -> int:
        """Feature rows per frame of the model's input (the front-end's)."""
        return self.front_end.n_features

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def downsample_factor(self) -> int:
        """Input frames per latent frame (and, for conv2d, input bins per latent bin)."""
        return 2**self.n_downsample

    @property
    def latent_frame_rate(self) -> float:
        """Latent time steps per second."""
        return self.frames_per_second / self.downsample_factor

    # Plain-type round trip -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any] | None = None) -> C:
        """Build from a (possibly partial) dict; unknown keys are an error naming the allowed ones."""
        values = dict(values or {})
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; allowed: {allowed}")
        return cls(**values)


def check_input_level(level_db: float | None) -> None:
    """input_level_db is None or a level a recording can have: (-90, 0] dBFS."""
    if level_db is not None and not (isinstance(level_db, (int, float)) and -90.0 < level_db <= 0.0):
        raise ValueError(f"input_level_db must be None or a level in (-90, 0] dBFS, got {level_db!r}")


@dataclass
class SpectrogramAutoencoderConfig(FramedConfig):
    """What VQVAE and VAE share: the front-end they expect, the input scaling and the conv backbone.

    The model sees x = (max(db, floor_db) - norm_mean) / norm_std; training fills norm_mean/norm_std
    from data. architecture 'conv1d' treats the F = n_fft // 2 + 1 bins as channels and convolves
    over time (fast, small); 'conv2d' treats the spectrogram as an image and halves time and frequency
    at each of the n_downsample stages (the reference VQ-VAE design). hidden_channels is the width at
    the latent resolution (conv2d halves it for each step back up to full resolution).
    recon_l1_weight adds that much L1 to the MSE reconstruction loss (both in the normalised domain).
    recon_compressed_weight adds that much of a loss on power-law compressed magnitude |X|^compression_power
    (relative squared error): unlike dB, it weighs loud bins (formants, harmonics) above the quiet floor, as
    loudness does in the ear and in PESQ.
    input_level_db (dBFS, audio.level.active_level_db), when set, is the active speech level every input is
    scaled to: training files by the data module, inputs by the Codec (which sends the gain and undoes it) and
    the Reconstructor (which scales its output back). None: audio is used at the level it was recorded.
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    floor_db: float = -80.0
    norm_mean: float = -50.0  # measured on 8 kHz speech (FSDD + Asterisk) at floor -80: -50.7 +- 28.5 dB
    norm_std: float = 28.0
    architecture: str = "conv1d"
    hidden_channels: int = 256
    n_res_blocks: int = 2
    decoder_extra_blocks: int = 0  # more residual blocks in the decoder only, at the latent rate (backbone.py)
    decoder_pointwise_blocks: int = 0  # and kernel-1 ones after them: capacity without reach (backbone.py)
    n_downsample: int = 2
    latent_dim: int = 64
    kernel_size: int = 3
    norm: str = "weight"
    activation: str = "leaky_relu"
    upsample: str = "transposed"
    recon_l1_weight: float = 0.0
    recon_compressed_weight: float = 0.0
    compression_power: float = 0.3
    input_level_db: float | None = None

    def __post_init__(self) -> None:
        check_input_level(self.input_level_db)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("norm", self.norm, NORMS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("upsample", self.upsample, UPSAMPLE_MODES)
        positive = ("sample_rate", "n_fft", "hop_length", "hidden_channels", "latent_dim", "kernel_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"config field {name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_res_blocks", "n_downsample", "decoder_extra_blocks", "decoder_pointwise_blocks"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"config field {name} must be >= 0, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (symmetric 'same' padding), got {self.kernel_size}")
        if not self.norm_std > 0:
            raise ValueError(f"norm_std must be > 0, got {self.norm_std}")
        for name in ("recon_l1_weight", "recon_compressed_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.compression_power <= 1:
            raise ValueError(f"compression_power must lie in (0, 1], got {self.compression_power}")
        if self.architecture == "conv2d" and self.hidden_channels % (2**self.n_downsample):
            raise ValueError(
                f"conv2d halves hidden_channels={self.hidden_channels} per stage back to full resolution; "
                f"make it a multiple of 2**n_downsample = {2**self.n_downsample}"
            )

    # Derived sizes (the framing ones come from FramedConfig) ------------------------------------------
    @property
    def front_end(self) -> LogMagnitudeFrontEnd:
        """The STFT magnitude in dB, floored at floor_db."""
        return LogMagnitudeFrontEnd(self.stft, self.floor_db)

    @property
    def latent_vectors_per_frame(self) -> int:
        """Latent vectors per latent time step: 1 for conv1d, the latent frequency bins for conv2d."""
        if self.architecture == "conv1d":
            return 1
        return math.ceil(self.n_freqs / self.downsample_factor)

    @property
    def latent_vectors_per_second(self) -> float:
        return self.latent_frame_rate * self.latent_vectors_per_frame

    @property
    def latent_values_per_second(self) -> float:
        """Continuous latent values (floats) per second: vectors/s x latent_dim."""
        return self.latent_vectors_per_second * self.latent_dim


@dataclass
class VQVAEConfig(SpectrogramAutoencoderConfig):
    """VQ-VAE: each latent vector is replaced by its nearest codebook entry (n_stages > 1: residual VQ).

    quantizer_options pass through as keyword arguments to VectorQuantizer / ResidualVQ.
    """

    codebook_size: int = 512
    beta: float = 0.25
    n_stages: int = 1
    quantizer_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {self.n_stages}")
        if not isinstance(self.quantizer_options, dict):
            raise ValueError(f"quantizer_options must be a mapping, got {type(self.quantizer_options).__name__}")

    @property
    def latent_bits_per_second(self) -> float:
        """Bits to send the codes: vectors/s x n_stages x log2(codebook_size)."""
        return self.latent_vectors_per_second * self.n_stages * math.log2(self.codebook_size)


@dataclass
class VAEConfig(SpectrogramAutoencoderConfig):
    """Gaussian VAE: loss = recon + kl_weight * KL(q(z|x) || N(0, I)) averaged per latent element."""

    kl_weight: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")
