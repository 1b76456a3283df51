"""Pre-activation residual block for 1-D (time) or 2-D (frequency x time) feature maps."""

from __future__ import annotations

from torch import Tensor, nn

from vqaudio.nn.conv import activation, activation_norm, conv, zero_last_layer_scale
from vqaudio.nn.se import SqueezeExcite


class ResidualBlock(nn.Module):
    """x + branch(x), branch = [norm, act, conv k (dilated), norm, act, conv 1x1] (+ optional SE gate).

    Pre-activation keeps an identity path from input to output, and the last conv starts at zero
    (`zero_init`), so a deep stack begins as the identity and trains stably without warm-up tricks.
    The middle width (`hidden_channels`, default channels // 2) is a bottleneck that halves the cost.
    `se_window`: the SE gate's moving window along time (None: the whole input; see SqueezeExcite).
    """

    def __init__(
        self,
        channels: int,
        dims: int = 1,
        kernel_size: int = 3,
        dilation: int = 1,
        hidden_channels: int | None = None,
        norm: str = "weight",
        act: str = "gelu",
        squeeze_excite: bool = False,
        zero_init: bool = True,
        se_window: int | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden_channels or max(1, channels // 2)
        self.branch = nn.Sequential(
            activation_norm(norm, channels),
            activation(act),
            conv(dims, channels, hidden, kernel_size, dilation=dilation, norm=norm),
            activation_norm(norm, hidden),
            activation(act),
            conv(dims, hidden, channels, 1, norm=norm),
        )
        if zero_init:
            zero_last_layer_scale(self.branch[-1])
        self.se = SqueezeExcite(channels, window=se_window) if squeeze_excite else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.se(self.branch(x))
