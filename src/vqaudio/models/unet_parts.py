"""The two halves of a spectrogram U-Net, shared by the denoiser (VQUNet) and the separator (DualDecoderVAE).

`UNetEncoder`: an input conv to widths[0], then per resolution residual blocks (squeeze-and-excitation optional)
and a stride-2 step to the next width, then dilated blocks at the bottleneck; it returns the bottleneck map and
the map of every resolution before its step down (the skips). `UNetDecoder`: the mirror image, from a latent map
back to `out_channels`, merging each skip (concatenate + 1x1 conv) when given skips. dims 1 treats frequency bins
as channels and convolves over time; dims 2 treats the spectrogram as an image (one input channel).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from vqaudio.nn import Downsample, ResidualBlock, Upsample, activation, activation_norm, conv

__all__ = ["UNetDecoder", "UNetEncoder", "residual_stack"]


def residual_stack(
    width: int, count: int, dims: int, kernel_size: int, norm: str, act: str, se: bool, dilated: bool = False
) -> nn.Sequential:
    """`count` residual blocks; `dilated` (1-D only) cycles dilations 1, 3, 9 to widen the receptive field."""
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
    ) -> None:
        super().__init__()
        k = kernel_size
        self.input = conv(dims, in_channels, widths[0], k, norm=norm)
        self.down_blocks = nn.ModuleList(residual_stack(w, n_res_blocks, dims, k, norm, act, se) for w in widths[:-1])
        self.downs = nn.ModuleList(Downsample(a, b, dims, norm=norm, act=act) for a, b in itertools.pairwise(widths))
        self.middle = residual_stack(widths[-1], n_bottleneck_blocks, dims, k, norm, act, se, dilated=True)

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
    ) -> None:
        super().__init__()
        k = kernel_size
        self.from_latent = conv(dims, latent_dim, widths[-1], 1, norm=norm)
        self.ups = nn.ModuleList(
            Upsample(b, a, dims, norm=norm, act=act, mode=upsample) for a, b in itertools.pairwise(widths)
        )
        # without skips each step up is a plain conv stack, as the reference VAE's decoders
        self.merges = nn.ModuleList(conv(dims, 2 * w, w, 1, norm=norm) for w in widths[:-1]) if skips else None
        self.up_blocks = nn.ModuleList(residual_stack(w, n_res_blocks, dims, k, norm, act, se) for w in widths[:-1])
        self.output = nn.Sequential(
            activation_norm(norm, widths[0]), activation(act), conv(dims, widths[0], out_channels, k, norm=norm)
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
        return self.output(h)
