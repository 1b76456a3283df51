"""Squeeze-and-excitation (Hu et al. 2018): re-weights channels from a summary of the whole map."""

from __future__ import annotations

from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    """Channel gate for (B, C, ...) maps of any rank: x * sigmoid(MLP(mean over all non-channel axes)).

    Cheap global context (one vector per example) that lets a conv net emphasise the channels that carry
    the signal, e.g. speech rather than noise in a denoiser. `mask` (B, 1, ...) or (B, ...) excludes
    padded positions from the mean.
    """

    def __init__(self, channels: int, reduction: int = 4, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.act = nn.GELU()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        axes = tuple(range(2, x.dim()))
        if mask is None:
            summary = x.mean(dim=axes)
        else:
            m = mask.to(x.dtype)
            if m.dim() == x.dim() - 1:
                m = m.unsqueeze(1)
            summary = (x * m).sum(dim=axes) / m.sum(dim=axes).clamp_min(1.0)
        gate = self.fc2(self.act(self.fc1(summary))).sigmoid()
        return x * gate.reshape(*gate.shape, *([1] * len(axes)))
