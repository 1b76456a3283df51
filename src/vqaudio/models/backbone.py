"""Encoder and decoder conv stacks shared by every feature autoencoder, built from vqaudio.nn blocks.

conv1d treats the feature rows (STFT bins, rate-K bands) as channels and convolves over time; conv2d treats the
feature map as an image. Configs only need the fields of `BackboneConfig`.
"""

from __future__ import annotations

import math
from typing import Protocol

from torch import Tensor, nn

from vqaudio.nn import Downsample, ResidualBlock, Upsample, activation, activation_norm, conv


class BackboneConfig(Protocol):
    """What the encoder and decoder read from a model config."""

    architecture: str
    hidden_channels: int
    n_downsample: int
    n_res_blocks: int
    latent_dim: int
    kernel_size: int
    norm: str
    activation: str
    upsample: str
    decoder_extra_blocks: int
    decoder_pointwise_blocks: int


def _dims(cfg: BackboneConfig) -> int:
    return 1 if cfg.architecture == "conv1d" else 2


def stage_widths(cfg: BackboneConfig) -> list[int]:
    """Channels at each resolution, full resolution first, latent resolution last.

    conv1d keeps hidden_channels throughout (time resolution is all it trades); conv2d doubles the
    channels at each stride-2 stage, as image models do, so cost per stage stays roughly level.
    """
    n = cfg.n_downsample
    if cfg.architecture == "conv1d":
        return [cfg.hidden_channels] * (n + 1)
    return [cfg.hidden_channels // 2 ** (n - i) for i in range(n + 1)]


def _bottleneck_dilation(cfg: BackboneConfig, index: int) -> int:
    # conv1d: dilations 1, 3, 9, 1, ... widen the temporal context cheaply; conv2d keeps plain 3x3 kernels.
    return 3 ** (index % 3) if cfg.architecture == "conv1d" else 1


class SpectrogramEncoder(nn.Module):
    """Normalised features -> latent map with out_channels channels.

    conv1d: (B, in_features, N) -> (B, out, N / 2**n_downsample); conv2d: (B, 1, F, N) -> (B, out, F', N').
    Input lengths (and conv2d heights) must be multiples of 2**n_downsample; the models pad for this.
    """

    def __init__(self, cfg: BackboneConfig, in_features: int, out_channels: int) -> None:
        super().__init__()
        dims, k, norm, act = _dims(cfg), cfg.kernel_size, cfg.norm, cfg.activation
        widths = stage_widths(cfg)
        in_channels = in_features if dims == 1 else 1
        layers: list[nn.Module] = [conv(dims, in_channels, widths[0], k, norm=norm)]
        for i in range(cfg.n_downsample):
            layers.append(ResidualBlock(widths[i], dims, k, norm=norm, act=act))
            layers.append(Downsample(widths[i], widths[i + 1], dims, norm=norm, act=act))
        for j in range(cfg.n_res_blocks):
            dilation = _bottleneck_dilation(cfg, j)
            layers.append(ResidualBlock(widths[-1], dims, k, dilation=dilation, norm=norm, act=act))
        layers += [
            activation_norm(norm, widths[-1]),
            activation(act),
            conv(dims, widths[-1], out_channels, 1, norm=norm),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def encoder_receptive_frames(cfg: BackboneConfig) -> int:
    """Latent frames on each side of a latent frame whose input reaches its code (conv1d; rounded up).

    Chunked encoding (the codec) needs at least this much context for chunked codes to equal a whole-file pass.
    Counted per layer as in `decoder_receptive_frames`: the input conv and each residual block at the 2**i finer
    rate reach k // 2 frames of that rate, a stride-2 conv (kernel 4) two frames of its finer input, and the
    residual blocks at the latent rate k // 2 x dilation latent frames.
    """
    half, n = cfg.kernel_size // 2, cfg.n_downsample
    latent = half / 2**n  # the input conv
    for level in range(n):  # each stage's residual block, then its stride-2 conv, from the full rate down
        latent += half / 2 ** (n - level) + 2 / 2 ** (n - level)
    latent += sum(_bottleneck_dilation(cfg, j) * half for j in range(cfg.n_res_blocks))
    return math.ceil(latent)


def decoder_receptive_frames(cfg: BackboneConfig) -> int:
    """Latent frames on each side of a latent frame that reach its decoded output (conv1d; rounded up).

    Chunked decoding (the codec) needs at least this much context for chunk joins to match a whole-file pass.
    Counted per layer: a kernel-k conv at the latent rate reaches k // 2 x dilation frames, one at the 2**i
    finer rate that much / 2**i, and a stride-2 transposed conv (kernel 4) one frame of its coarser input (an
    upper bound for upsample "nearest", which reaches less).
    """
    half = cfg.kernel_size // 2
    latent = half + sum(_bottleneck_dilation(cfg, j) * half for j in range(cfg.n_res_blocks))
    latent += cfg.decoder_extra_blocks * half
    for level in range(1, cfg.n_downsample + 1):  # each upsampling stage, then its residual block
        latent += 1 / 2 ** (level - 1) + half / 2**level
    latent += half / 2**cfg.n_downsample  # the output conv
    return math.ceil(latent)


class SpectrogramDecoder(nn.Module):
    """Latent map (B, latent_dim, [F',] N') -> normalised feature map, the encoder's mirror image.

    decoder_extra_blocks adds that many residual blocks (kernel_size, no dilation) at the latent resolution, after
    the mirrored ones: more decoder than encoder, for a codec whose decoder must make much from few bits. They are
    a module of their own (`extra`) and start as the identity, so trained weights without them load and a run can
    grow them (--init-from). decoder_pointwise_blocks adds, after those, residual blocks of kernel 1 and a hidden
    width of twice the channels (`pointwise`, also starting as the identity): capacity per latent frame that
    reaches no further in time, so chunked decoding needs no more context and streaming no more latency.
    """

    def __init__(self, cfg: BackboneConfig, out_features: int) -> None:
        super().__init__()
        dims, k, norm, act = _dims(cfg), cfg.kernel_size, cfg.norm, cfg.activation
        widths = stage_widths(cfg)
        out_channels = out_features if dims == 1 else 1
        layers: list[nn.Module] = [conv(dims, cfg.latent_dim, widths[-1], k, norm=norm)]
        for j in range(cfg.n_res_blocks):
            dilation = _bottleneck_dilation(cfg, j)
            layers.append(ResidualBlock(widths[-1], dims, k, dilation=dilation, norm=norm, act=act))
        self._latent_layers = len(layers)
        self.extra = nn.Sequential(
            *(ResidualBlock(widths[-1], dims, k, norm=norm, act=act) for _ in range(cfg.decoder_extra_blocks))
        )
        self.pointwise = nn.Sequential(
            *(
                ResidualBlock(widths[-1], dims, 1, hidden_channels=2 * widths[-1], norm=norm, act=act)
                for _ in range(cfg.decoder_pointwise_blocks)
            )
        )
        for i in reversed(range(cfg.n_downsample)):
            layers.append(Upsample(widths[i + 1], widths[i], dims, norm=norm, act=act, mode=cfg.upsample))
            layers.append(ResidualBlock(widths[i], dims, k, norm=norm, act=act))
        layers += [
            activation_norm(norm, widths[0]),
            activation(act),
            conv(dims, widths[0], out_channels, k, norm=norm),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.net[: self._latent_layers](z)
        return self.net[self._latent_layers :](self.pointwise(self.extra(h)))
