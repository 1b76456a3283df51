"""Convolution, activation and normalisation factories shared by every block, for 1-D and 2-D signals.

One switch (`norm`) picks how a block is kept well conditioned:
- "weight": weight normalisation on every conv, no activation statistics. Each output depends only on its
  receptive field, so chunked (streaming) inference gives the same numbers as whole-signal inference.
- "layer": LayerNorm over channels at each position before each activation: normalised activations
  (fast, stable training) while staying local, so chunk-stable too.
- "group": GroupNorm before each activation; statistics pool over the whole signal, so outputs depend on
  the chunk length and content (not chunk-stable; kept for comparison).
- "none": plain convs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("layer", "weight", "group", "none")
ACTIVATIONS = ("gelu", "leaky_relu", "relu", "silu")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return value if it is one of choices; otherwise a ValueError that lists them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def activation(name: str) -> nn.Module:
    """A fresh activation module by name ('gelu', 'leaky_relu' (slope 0.2), 'relu', 'silu')."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "gelu":
        return nn.GELU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "silu":
        return nn.SiLU()
    return nn.ReLU()


def group_count(channels: int, max_groups: int = 32) -> int:
    """The largest group count <= max_groups that divides channels (GroupNorm needs an exact split)."""
    return max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, ...) map, independently at every position."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(shape)


def activation_norm(name: str, channels: int) -> nn.Module:
    """The normalisation applied to activations before a non-linearity (identity for 'weight'/'none')."""
    check_choice("norm", name, NORMS)
    if name == "group":
        return nn.GroupNorm(group_count(channels), channels)
    if name == "layer":
        return ChannelLayerNorm(channels)
    return nn.Identity()


def _conv_class(dims: int, transposed: bool) -> type[nn.Module]:
    if dims == 1:
        return nn.ConvTranspose1d if transposed else nn.Conv1d
    if dims == 2:
        return nn.ConvTranspose2d if transposed else nn.Conv2d
    raise ValueError(f"dims must be 1 (time) or 2 (frequency x time), got {dims}")


def conv(
    dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    padding: int | None = None,
    norm: str = "weight",
    transposed: bool = False,
) -> nn.Module:
    """A Conv{1,2}d (or transposed) with 'same' padding by default, weight-normalised if norm='weight'."""
    check_choice("norm", norm, NORMS)
    if padding is None:
        padding = dilation * (kernel_size - 1) // 2
    cls = _conv_class(dims, transposed)
    layer = cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation)
    return WeightNormConv(layer) if norm == "weight" else layer


class WeightNormConv(nn.Module):
    """A conv whose kernel is g * v / ||v||, one norm per output channel (Salimans & Kingma 2016).

    Own small implementation rather than torch's parametrizations: those cannot be pickled, which
    multiprocessing (DDP spawn) and torch.save of whole modules need. Parameters: weight_g, weight_v, bias.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not isinstance(layer, nn.modules.conv._ConvNd) or layer.padding_mode != "zeros":
            raise TypeError(f"WeightNormConv wraps a zero-padded Conv/ConvTranspose 1d/2d, got {layer!r}")
        self.transposed = bool(layer.transposed)
        self.dims = len(layer.kernel_size)
        # Conv weights are (out, in, ...); transposed conv weights are (in, out, ...).
        self.channel_axis = 1 if self.transposed else 0
        self.stride, self.padding, self.dilation = layer.stride, layer.padding, layer.dilation
        self.output_padding, self.groups = layer.output_padding, layer.groups
        weight = layer.weight.detach()
        self.weight_v = nn.Parameter(weight.clone())
        self.weight_g = nn.Parameter(self._norm(weight))
        self.bias = layer.bias

    def _norm(self, v: Tensor) -> Tensor:
        axes = [a for a in range(v.dim()) if a != self.channel_axis]
        return torch.linalg.vector_norm(v, dim=axes, keepdim=True)

    @property
    def weight(self) -> Tensor:
        return self.weight_v * (self.weight_g / self._norm(self.weight_v).clamp_min(1e-12))

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        if self.transposed:
            fn = F.conv_transpose1d if self.dims == 1 else F.conv_transpose2d
            return fn(x, w, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation)
        fn = F.conv1d if self.dims == 1 else F.conv2d
        return fn(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        kind = "transposed " if self.transposed else ""
        return f"{kind}{tuple(self.weight_v.shape)}, stride={self.stride}, padding={self.padding}"


def zero_last_layer_scale(layer: nn.Module) -> None:
    """Make a (possibly weight-normalised) conv output zero at init, so a residual branch starts as identity.

    Weight norm cannot take a zero direction, so its magnitude `g` is zeroed instead: gradients still
    reach g at once, and the direction learns as soon as g moves.
    """
    if isinstance(layer, WeightNormConv):
        nn.init.zeros_(layer.weight_g)
    else:
        nn.init.zeros_(layer.weight)  # type: ignore[arg-type]
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)  # type: ignore[arg-type]
