"""Squeeze-and-excitation (Hu et al. 2018): re-weights channels from a summary of the map, whole or local."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    """Channel gate for (B, C, ...) maps of any rank: x * sigmoid(MLP(mean over the non-channel axes)).

    Cheap context that lets a conv net emphasise the channels that carry the signal, e.g. speech rather than noise
    in a denoiser. `window` None: one gate per example from the mean over the whole map. `window` N (odd): one gate
    per position of the last (time) axis, from a centred moving mean over N positions (and the mean over the other
    axes): a gate that depends on the input's length makes a long file and its chunks come out different, and a
    model trained on 2 s crops has only learnt gates from 2 s. `mask` (B, 1, ...) or (B, ...) excludes padded
    positions from the mean.
    """

    def __init__(self, channels: int, reduction: int = 4, min_hidden: int = 8, window: int | None = None) -> None:
        super().__init__()
        if window is not None and (window < 1 or window % 2 == 0):
            raise ValueError(f"SqueezeExcite: window must be an odd number of positions >= 1, got {window}")
        hidden = max(min_hidden, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.act = nn.GELU()
        self.window = window

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        m = None if mask is None else mask.to(x.dtype)
        if m is not None and m.dim() == x.dim() - 1:
            m = m.unsqueeze(1)
        if self.window is None:
            axes = tuple(range(2, x.dim()))
            summary = x.mean(dim=axes) if m is None else (x * m).sum(dim=axes) / m.sum(dim=axes).clamp_min(1.0)
            gate = self.fc2(self.act(self.fc1(summary))).sigmoid()
            return x * gate.reshape(*gate.shape, *([1] * len(axes)))
        inner = tuple(range(2, x.dim() - 1))  # axes averaged whole (frequency, for 2-D maps)
        if m is None:  # the inference path: a plain moving mean
            local = self._moving_mean(x.mean(dim=inner) if inner else x)  # (B, C, T)
        else:
            total = (x * m).sum(dim=inner) if inner else x * m
            count = m.sum(dim=inner) if inner else m  # (B, 1, T)
            local = self._moving_mean(total) / self._moving_mean(count).clamp_min(1e-6)
        gate = self.fc2(self.act(self.fc1(local.transpose(1, 2)))).sigmoid().transpose(1, 2)  # (B, C, T)
        return x * gate.reshape(*gate.shape[:2], *([1] * len(inner)), gate.shape[-1])

    def _moving_mean(self, values: Tensor) -> Tensor:
        """Centred mean over `window` positions of the last axis; at the ends, over the positions there are.

        By differences of a running sum: the cost does not grow with the window, as a pooling kernel's does (a
        float32 sum over a minute of frames stays within about 1e-5 relative of the pooled mean)."""
        assert self.window is not None
        window, half, n = self.window, self.window // 2, values.shape[-1]
        running = F.pad(values, (half + 1, half)).cumsum(-1)  # zeros beyond both ends
        sums = running[..., window:] - running[..., :-window]  # position i: the sum over i - half .. i + half
        at = torch.arange(n, device=values.device)
        counts = (at + half).clamp(max=n - 1) - (at - half).clamp(min=0) + 1  # positions inside the signal
        return sums / counts.to(sums.dtype)
