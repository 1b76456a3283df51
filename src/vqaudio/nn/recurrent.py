"""Residual recurrent block over time for 1-D (channels x time) feature maps."""

from __future__ import annotations

from torch import Tensor, nn


class RecurrentBlock(nn.Module):
    """x + proj(GRU(LayerNorm(x))) on (B, C, N): a stage that sees the whole signal (a noise floor, a voice) where
    a conv stack sees a few frames.

    The GRU runs both ways by default (offline use; the chunked runner feeds it overlapping chunks), or forward
    only (`bidirectional=False`, causal). The output projection starts at zero, so the block begins as the
    identity: weights trained without it load unchanged and the model starts where they left off.
    """

    def __init__(self, channels: int, hidden_channels: int | None = None, bidirectional: bool = True) -> None:
        super().__init__()
        hidden = hidden_channels or (channels // 2 if bidirectional else channels)
        self.norm = nn.LayerNorm(channels)
        self.rnn = nn.GRU(channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.proj = nn.Linear(hidden * (2 if bidirectional else 1), channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"RecurrentBlock takes (batch, channels, frames), got shape {tuple(x.shape)}")
        h, _ = self.rnn(self.norm(x.transpose(1, 2)))
        return x + self.proj(h).transpose(1, 2)
