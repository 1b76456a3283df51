"""Factor-2 down- and up-sampling blocks for 1-D (time) or 2-D (frequency x time) maps.

Down: strided conv, kernel 4, stride 2, padding 1: exactly halves an even length.
Up: transposed conv with the same geometry (exactly doubles), or nearest-neighbour repeat followed by
a 3-tap conv ('nearest'), which avoids the checkerboard pattern transposed convs can leave.
"""

from __future__ import annotations

from torch import Tensor, nn

from vqaudio.nn.conv import activation, activation_norm, check_choice, conv

UPSAMPLE_MODES = ("transposed", "nearest")


class Downsample(nn.Module):
    """[norm, act,] conv k4 s2: halves every spatial axis (each must be even)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        dims: int = 1,
        norm: str = "weight",
        act: str | None = "gelu",
    ) -> None:
        super().__init__()
        out = out_channels or in_channels
        pre = [activation_norm(norm, in_channels), activation(act)] if act else []
        self.net = nn.Sequential(*pre, conv(dims, in_channels, out, 4, stride=2, padding=1, norm=norm))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Upsample(nn.Module):
    """[norm, act,] then x2 on every spatial axis by a transposed conv or nearest repeat + conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        dims: int = 1,
        norm: str = "weight",
        act: str | None = "gelu",
        mode: str = "transposed",
    ) -> None:
        super().__init__()
        check_choice("upsample mode", mode, UPSAMPLE_MODES)
        out = out_channels or in_channels
        pre = [activation_norm(norm, in_channels), activation(act)] if act else []
        if mode == "transposed":
            layers = [conv(dims, in_channels, out, 4, stride=2, padding=1, norm=norm, transposed=True)]
        else:
            layers = [nn.Upsample(scale_factor=2, mode="nearest"), conv(dims, in_channels, out, 3, norm=norm)]
        self.net = nn.Sequential(*pre, *layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
