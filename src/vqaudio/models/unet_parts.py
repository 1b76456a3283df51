"""The two halves of a spectrogram U-Net, shared by the denoiser (VQUNet) and the separator (DualDecoderVAE).

`UNetEncoder`: an input conv to widths[0], then per resolution residual blocks (squeeze-and-excitation optional)
and a stride-2 step to the next width, then dilated blocks at the bottleneck; it returns the bottleneck map and
the map of every resolution before its step down (the skips). `UNetDecoder`: the mirror image, from a latent map
back to `out_channels`, merging each skip (concatenate + 1x1 conv) when given skips. dims 1 treats frequency bins
as channels and convolves over time; dims 2 treats the spectrogram as an image (one input channel).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqaudio.audio import LogMagnitudeFrontEnd
from vqaudio.models.config import ARCHITECTURES, FramedConfig, check_input_level
from vqaudio.nn import Downsample, RecurrentBlock, ResidualBlock, Upsample, activation, activation_norm, conv
from vqaudio.nn.conv import ACTIVATIONS, NORMS, check_choice
from vqaudio.nn.resample import UPSAMPLE_MODES

__all__ = ["SpectrogramUNet", "UNetConfig", "UNetDecoder", "UNetEncoder", "residual_stack"]


@dataclass
class UNetConfig(FramedConfig):
    """What the U-Net model configs share (VQUNetConfig, DualDecoderVAEConfig): plain types, YAML-friendly.

    channels: width at each resolution, full resolution first; len(channels) - 1 stride-2 stages (time, and
    frequency too for conv2d). n_res_blocks residual blocks (with SE when se is true: each gate from the
    whole input, or with se_window_frames N from a centred moving window of N input frames, halved at each coarser
    resolution) per stage on each side;
    n_bottleneck_blocks dilated blocks at the bottleneck, which projects to latent_dim (codebook_size codes, beta,
    quantizer_options for VQ; fsq_levels for FSQ). recurrent_stages (conv1d only): that many of the decoder's
    resolutions, coarsest first, end with a residual GRU over time (RecurrentBlock, both directions unless
    recurrent_causal), so the mask is drawn with the whole signal in view. The model sees
    x = (max(db, floor_db) - norm_mean) / norm_std (training fills norm_mean/norm_std). Loss weights read by the
    tasks: recon_db_weight x MSE on normalised dB, recon_l1_weight x L1, recon_compressed_weight x the relative
    error of |X|^compression_power, recon_sisdr_weight x -SI-SDR/10 of the output waveform(s) with the input's
    phase, recon_stoi_weight x (1 - a differentiable STOI) of the same waveform(s) (train/tasks.py).
    Subclasses name their own choice fields in `_choices()` and check the rest in `__post_init__`.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 128
    floor_db: float = -80.0
    norm_mean: float = -45.0
    norm_std: float = 25.0
    architecture: str = "conv1d"
    channels: list[int] = field(default_factory=lambda: [192, 192, 256])
    n_res_blocks: int = 1
    n_bottleneck_blocks: int = 2
    kernel_size: int = 3
    norm: str = "weight"
    activation: str = "gelu"
    upsample: str = "transposed"
    se: bool = True
    se_window_frames: int | None = None
    recurrent_stages: int = 0
    recurrent_causal: bool = False
    latent_dim: int = 32
    codebook_size: int = 512
    beta: float = 0.25
    fsq_levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])
    quantizer_options: dict[str, Any] = field(default_factory=dict)
    output: str = "mask"
    recon_db_weight: float = 1.0
    recon_sisdr_weight: float = 0.0
    recon_stoi_weight: float = 0.0
    recon_l1_weight: float = 0.0
    recon_compressed_weight: float = 0.0
    compression_power: float = 0.3
    input_level_db: float | None = None

    def _choices(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(field, allowed values) of the subclass's own choice fields."""
        return ()

    def __post_init__(self) -> None:
        check_input_level(self.input_level_db)
        layers = (("architecture", ARCHITECTURES), ("norm", NORMS), ("activation", ACTIVATIONS))
        for name, allowed in (*layers, ("upsample", UPSAMPLE_MODES), *self._choices()):
            check_choice(name, getattr(self, name), allowed)
        if not self.channels or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty list of positive widths, got {self.channels}")
        for name in ("sample_rate", "n_fft", "hop_length", "latent_dim", "kernel_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (symmetric 'same' padding), got {self.kernel_size}")
        if self.n_res_blocks < 0 or self.n_bottleneck_blocks < 0:
            raise ValueError("n_res_blocks and n_bottleneck_blocks must be >= 0")
        if not 0 <= self.recurrent_stages <= len(self.channels) - 1:
            raise ValueError(
                f"recurrent_stages must lie in [0, {len(self.channels) - 1}] (one per decoder resolution of "
                f"channels {self.channels}), got {self.recurrent_stages}"
            )
        if self.recurrent_stages and self.architecture != "conv1d":
            raise ValueError("recurrent_stages needs architecture 'conv1d' (a GRU over the time axis)")
        if not self.norm_std > 0:
            raise ValueError(f"norm_std must be > 0, got {self.norm_std}")
        if self.se_window_frames is not None and self.se_window_frames < 1:
            raise ValueError(
                f"se_window_frames must be >= 1 frame (or null: the whole input), got {self.se_window_frames}"
            )
        if self.codebook_size < 2 or any(int(v) < 2 for v in self.fsq_levels):
            raise ValueError("codebook_size and every fsq level must be >= 2")
        weights = ("recon_db", "recon_l1", "recon_compressed", "recon_sisdr", "recon_stoi")
        for name in (f"{w}_weight" for w in weights):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.compression_power <= 1:
            raise ValueError(f"compression_power must lie in (0, 1], got {self.compression_power}")
        self.stft  # noqa: B018 (validates the STFT settings now, with STFTConfig's messages)

    @property
    def n_downsample(self) -> int:  # type: ignore[override]
        return len(self.channels) - 1

    @property
    def front_end(self) -> LogMagnitudeFrontEnd:
        return LogMagnitudeFrontEnd(self.stft, self.floor_db)


def se_window_at(window: int | None, level: int) -> int | None:
    """The SE window in frames at the 2**level coarser resolution of a window of `window` input frames (odd)."""
    return None if window is None else max(1, window >> level) | 1


def residual_stack(
    width: int,
    count: int,
    dims: int,
    kernel_size: int,
    norm: str,
    act: str,
    se: bool,
    dilated: bool = False,
    se_window: int | None = None,
) -> nn.Sequential:
    """`count` residual blocks; `dilated` (1-D only) cycles dilations 1, 3, 9 to widen the receptive field;
    `se_window` the SE gates' window in frames of this resolution (None: the whole input)."""
    return nn.Sequential(
        *[
            ResidualBlock(
                width,
                dims,
                kernel_size,
                dilation=3 ** (j % 3) if dilated and dims == 1 else 1,
                norm=norm,
                act=act,
                squeeze_excite=se,
                se_window=se_window,
            )
            for j in range(count)
        ]
    )


class UNetEncoder(nn.Module):
    """(B, in_channels, [F,] N) -> (bottleneck (B, widths[-1], ...), skips full resolution first)."""

    def __init__(
        self,
        dims: int,
        in_channels: int,
        widths: list[int],
        n_res_blocks: int,
        n_bottleneck_blocks: int,
        kernel_size: int,
        norm: str,
        act: str,
        se: bool,
        se_window: int | None = None,
    ) -> None:
        super().__init__()
        k = kernel_size
        self.input = conv(dims, in_channels, widths[0], k, norm=norm)
        self.down_blocks = nn.ModuleList(
            residual_stack(w, n_res_blocks, dims, k, norm, act, se, se_window=se_window_at(se_window, i))
            for i, w in enumerate(widths[:-1])
        )
        self.downs = nn.ModuleList(Downsample(a, b, dims, norm=norm, act=act) for a, b in itertools.pairwise(widths))
        coarsest = se_window_at(se_window, len(widths) - 1)
        self.middle = residual_stack(
            widths[-1], n_bottleneck_blocks, dims, k, norm, act, se, dilated=True, se_window=coarsest
        )

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h = self.input(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downs, strict=True):
            h = block(h)
            skips.append(h)
            h = down(h)
        return self.middle(h), skips


class UNetDecoder(nn.Module):
    """(latent (B, latent_dim, ...), skips or None) -> (B, out_channels, [F,] N) at full resolution."""

    def __init__(
        self,
        dims: int,
        latent_dim: int,
        widths: list[int],
        out_channels: int,
        n_res_blocks: int,
        kernel_size: int,
        norm: str,
        act: str,
        se: bool,
        upsample: str,
        skips: bool = True,
        recurrent_stages: int = 0,
        recurrent_causal: bool = False,
        se_window: int | None = None,
    ) -> None:
        super().__init__()
        k = kernel_size
        self.from_latent = conv(dims, latent_dim, widths[-1], 1, norm=norm)
        self.ups = nn.ModuleList(
            Upsample(b, a, dims, norm=norm, act=act, mode=upsample) for a, b in itertools.pairwise(widths)
        )
        # without skips each step up is a plain conv stack, as the reference VAE's decoders
        self.merges = nn.ModuleList(conv(dims, 2 * w, w, 1, norm=norm) for w in widths[:-1]) if skips else None
        self.up_blocks = nn.ModuleList(
            residual_stack(w, n_res_blocks, dims, k, norm, act, se, se_window=se_window_at(se_window, i))
            for i, w in enumerate(widths[:-1])
        )
        # keyed by resolution index: the coarsest `recurrent_stages` of them, run after that resolution's blocks
        coarsest = range(len(widths) - 1 - recurrent_stages, len(widths) - 1)
        self.recurrent = nn.ModuleDict(
            {str(i): RecurrentBlock(widths[i], bidirectional=not recurrent_causal) for i in coarsest}
        )
        self.output = nn.Sequential(
            activation_norm(norm, widths[0]), activation(act), conv(dims, widths[0], out_channels, k, norm=norm)
        )

    @classmethod
    def for_config(cls, cfg: UNetConfig, skips: bool = True) -> UNetDecoder:
        """The decoder a U-Net model of `cfg` builds: back from latent_dim to the spectrogram's channels."""
        dims = 1 if cfg.architecture == "conv1d" else 2
        return cls(
            dims,
            cfg.latent_dim,
            [int(c) for c in cfg.channels],
            cfg.n_freqs if dims == 1 else 1,
            cfg.n_res_blocks,
            cfg.kernel_size,
            cfg.norm,
            cfg.activation,
            cfg.se,
            cfg.upsample,
            skips,
            recurrent_stages=cfg.recurrent_stages,
            recurrent_causal=cfg.recurrent_causal,
            se_window=cfg.se_window_frames,
        )

    def forward(self, z: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        if (skips is None) != (self.merges is None):
            raise ValueError("UNetDecoder: pass skips exactly when the decoder was built with skips=True")
        h = self.from_latent(z)
        for i in reversed(range(len(self.ups))):
            h = self.ups[i](h)
            if self.merges is not None and skips is not None:
                h = self.merges[i](torch.cat([h, skips[i]], dim=1))
            h = self.up_blocks[i](h)
            if str(i) in self.recurrent:
                h = self.recurrent[str(i)](h)
        return self.output(h)


class SpectrogramUNet(nn.Module):
    """What the U-Net models share around their halves: the input check, the scaling x = (max(db, floor_db) -
    norm_mean) / norm_std and back, and padding a batch with the floor (silence) up to the total stride.

    Subclasses set `config` (floor_db, norm_mean, norm_std, n_freqs, n_downsample, architecture, sample_rate).
    """

    config: Any

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def _dims(self) -> int:
        return 1 if self.config.architecture == "conv1d" else 2

    def normalize(self, spec_db: Tensor) -> Tensor:
        cfg = self.config
        return (spec_db.clamp_min(cfg.floor_db) - cfg.norm_mean) / cfg.norm_std

    def denormalize(self, x: Tensor) -> Tensor:
        cfg = self.config
        return (x * cfg.norm_std + cfg.norm_mean).clamp_min(cfg.floor_db)

    def _check_input(self, spec_db: Tensor, what: str = "a dB magnitude") -> Tensor:
        n_freqs = self.config.n_freqs
        if not isinstance(spec_db, Tensor) or spec_db.dim() < 2 or spec_db.shape[-2] != n_freqs:
            shape = tuple(spec_db.shape) if isinstance(spec_db, Tensor) else type(spec_db).__name__
            raise ValueError(
                f"expected {what} (..., {n_freqs}, frames) from the model's front-end "
                f"(config.front_end.features), got {shape}"
            )
        if spec_db.shape[-1] < 1:
            raise ValueError("spectrogram has 0 frames; need at least 1")
        return spec_db if spec_db.is_floating_point() else spec_db.float()

    def _padded_input(self, flat_db: Tensor) -> Tensor:
        """(B, F, N) dB -> the encoder's input: normalised, padded with the floor to the stride (time, and frequency
        for conv2d), with a channel axis for conv2d."""
        cfg = self.config
        x = self.normalize(flat_db)
        stride = 2**cfg.n_downsample
        floor = (cfg.floor_db - cfg.norm_mean) / cfg.norm_std
        pad_t = -x.shape[-1] % stride
        if self._dims == 1:
            return F.pad(x, (0, pad_t), value=floor)
        return F.pad(x, (0, pad_t, 0, -x.shape[-2] % stride), value=floor).unsqueeze(1)

    def _cropped(self, out: Tensor, n_frames: int) -> Tensor:
        """A decoder's full-resolution output back to (B, F, n_frames)."""
        return out[..., :n_frames] if self._dims == 1 else out[:, 0, : self.config.n_freqs, :n_frames]
