"""Finite scalar quantization (Mentzer et al. 2023): round each of a few bounded channels to a fixed grid.

The implicit codebook is the grid itself (prod(levels) codes), so nothing can collapse or die and there is
no codebook loss; the price is a fixed, axis-aligned grid. Gradients pass straight through the rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vqaudio.quantize import distributed as D
from vqaudio.quantize.stats import UsageTracker, histogram, perplexity_from_counts
from vqaudio.quantize.vq import QuantizerOutput

_BOUND_EPS = 1e-3


class _RoundST(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad


class FSQ(nn.Module):
    """Finite scalar quantizer with `levels[i]` values on channel i (codebook_size = prod(levels)).

    Args:
        levels: values per channel, each >= 2 (e.g. [8, 5, 5, 5] for 1000 codes, ~10 bits).
        dim: size of the input's last axis; when it differs from len(levels), learned linear maps project
            into and out of the len(levels) quantized channels.
        dead_after, stats_decay, sync: usage statistics, as in VectorQuantizer.

    Quantized values lie in [-1, 1] per channel. `loss` is always zero (there is no codebook to train).
    """

    def __init__(
        self,
        levels: Sequence[int],
        dim: int | None = None,
        *,
        dead_after: int = 100,
        stats_decay: float = 0.99,
        sync: bool | None = None,
    ) -> None:
        super().__init__()
        levels = [int(v) for v in levels]
        if not levels or any(v < 2 for v in levels):
            raise ValueError(f"FSQ levels must be a non-empty list of integers >= 2, got {levels}")
        self.levels = levels
        self.n_channels = len(levels)
        self.dim = int(dim) if dim is not None else self.n_channels
        self.codebook_size = math.prod(levels)
        self.sync = sync
        self.projected = self.dim != self.n_channels
        if self.projected:
            self.project_in = nn.Linear(self.dim, self.n_channels)
            self.project_out = nn.Linear(self.n_channels, self.dim)
        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]], dtype=torch.long), dim=0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        self.usage = UsageTracker(self.codebook_size, dead_after, stats_decay)

    @property
    def bits_per_vector(self) -> float:
        return math.log2(self.codebook_size)

    def stats(self) -> dict[str, float]:
        return self.usage.stats()

    def _check(self, z: Tensor, mask: Tensor | None) -> None:
        if z.ndim < 1 or z.shape[-1] != self.dim:
            raise ValueError(f"FSQ expects input (..., {self.dim}) with channels last; got shape {tuple(z.shape)}")
        if mask is not None and tuple(mask.shape) != tuple(z.shape[:-1]):
            raise ValueError(f"mask must have shape {tuple(z.shape[:-1])}, got {tuple(mask.shape)}")

    def _grid(self, z: Tensor) -> Tensor:
        """Bounded, rounded (straight-through) integer grid values, fp32, in [-(L//2), (L-1) - L//2]."""
        x = z.float()
        if self.projected:
            x = self.project_in(x.to(self.project_in.weight.dtype)).float()
        half = (self._levels - 1) * (1 - _BOUND_EPS) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        bounded = torch.tanh(x + shift) * half - offset
        return _RoundST.apply(bounded)

    def _to_output(self, grid: Tensor, dtype: torch.dtype) -> Tensor:
        values = grid / torch.div(self._levels, 2, rounding_mode="floor")
        if self.projected:
            values = self.project_out(values.to(self.project_out.weight.dtype))
        return values.to(dtype)

    def _codes(self, grid: Tensor) -> Tensor:
        digits = (grid.detach() + torch.div(self._levels, 2, rounding_mode="floor")).long()
        return (digits * self._basis).sum(-1)

    def forward(self, z: Tensor, mask: Tensor | None = None) -> QuantizerOutput:
        self._check(z, mask)
        grid = self._grid(z)
        codes = self._codes(grid)
        flat = codes.reshape(-1)
        if mask is not None:
            flat = flat.masked_fill(~mask.reshape(-1).to(torch.bool), self.codebook_size)
        counts = histogram(flat, self.codebook_size + 1)[: self.codebook_size]
        if self.training:
            D.all_reduce_sum_(counts, D.is_distributed() if self.sync is None else self.sync)
            self.usage.update(counts)
        loss = z.new_zeros((), dtype=torch.float32)
        return QuantizerOutput(self._to_output(grid, z.dtype), codes, loss, perplexity_from_counts(counts))

    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        self._check(z, None)
        return self._codes(self._grid(z))

    def values_to_codes(self, values: Tensor) -> Tensor:
        """Codes of grid values (..., len(levels)) in [-1, 1]: the inverse of decode without projection."""
        half = torch.div(self._levels, 2, rounding_mode="floor")
        return self._codes(torch.round(values.float() * half))

    def decode(self, codes: Tensor) -> Tensor:
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size - 1}] for FSQ levels {self.levels}; got range "
                f"[{int(codes.min())}, {int(codes.max())}]"
            )
        digits = (codes.long().unsqueeze(-1) // self._basis) % self._levels.long()
        grid = digits.float() - torch.div(self._levels, 2, rounding_mode="floor")
        return self._to_output(grid, torch.float32)
