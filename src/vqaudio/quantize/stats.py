"""Codebook statistics: perplexity, usage, dead codes, bits per vector.

`UsageTracker` keeps a short, recency-weighted memory of which codes training used (identical on every rank,
because it is fed all-reduced counts), so `stats()` describes the codebook *now* rather than since the start.
`code_stats` measures the same figures on any set of codes (an evaluation set, a bitstream).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def histogram(index: Tensor, size: int) -> Tensor:
    """Float counts (size,) of the int64 values in `index` (each in [0, size)).

    bincount, except on CUDA under torch.use_deterministic_algorithms (where bincount refuses to run), which
    gets index_add_ (deterministic there).
    """
    index = index.reshape(-1)
    if index.is_cuda and torch.are_deterministic_algorithms_enabled():
        ones = torch.ones(index.shape[0], dtype=torch.float32, device=index.device)
        return torch.zeros(size, dtype=torch.float32, device=index.device).index_add_(0, index, ones)
    return torch.bincount(index, minlength=size).float()


def perplexity_from_counts(counts: Tensor) -> Tensor:
    """exp(entropy) of the code histogram `counts` (K,); 0 when nothing was counted."""
    counts = counts.detach().float()
    total = counts.sum()
    if counts.numel() == 0:
        return counts.new_zeros(())
    probs = counts / total.clamp(min=1e-12)
    entropy = -torch.special.xlogy(probs, probs).sum()
    return torch.where(total > 0, entropy.exp(), torch.zeros_like(entropy))


def code_counts(codes: Tensor, codebook_size: int, mask: Tensor | None = None) -> Tensor:
    """Histogram (K,) float of `codes`, skipping masked-out positions and negative (unused-stage) codes."""
    flat = codes.reshape(-1)
    keep = flat >= 0
    if mask is not None:
        keep = keep & mask.reshape(-1).to(torch.bool)
    return histogram(flat[keep], codebook_size)


def code_stats(codes: Tensor, codebook_size: int, mask: Tensor | None = None) -> dict[str, float]:
    """Perplexity, usage (fraction of codes that occur), dead (never occurring) codes and bits of `codes`."""
    counts = code_counts(codes, codebook_size, mask)
    used = int((counts > 0).sum())
    perplexity = float(perplexity_from_counts(counts))
    return {
        "perplexity": perplexity,
        "usage": used / codebook_size,
        "dead_codes": float(codebook_size - used),
        "bits_per_vector": math.log2(codebook_size),
        "entropy_bits": math.log2(perplexity) if perplexity > 0 else 0.0,
    }


class UsageTracker(nn.Module):
    """Per-code training usage: when each code was last used, and a decayed histogram for perplexity.

    A code is *dead* when it has not been used for more than `dead_after` training steps (a code that was
    just seeded by k-means or a restart gets a fresh `dead_after` steps of grace). `usage` is the fraction of
    codes used within the last `dead_after` steps.
    """

    def __init__(self, codebook_size: int, dead_after: int = 100, decay: float = 0.99) -> None:
        super().__init__()
        if dead_after < 1:
            raise ValueError(f"dead_after must be >= 1 training step, got {dead_after}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"stats decay must be in [0, 1), got {decay}")
        self.codebook_size = codebook_size
        self.dead_after = dead_after
        self.decay = decay
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("last_used", torch.full((codebook_size,), -1, dtype=torch.long))
        self.register_buffer("seeded_at", torch.zeros(codebook_size, dtype=torch.long))
        self.register_buffer("histogram", torch.zeros(codebook_size))

    @torch.no_grad()
    def update(self, counts: Tensor) -> None:
        """Records one training step's (already all-reduced) code histogram `counts` (K,)."""
        # Written without host syncs (no .item()), so a GPU step never waits on this bookkeeping.
        self.steps += 1
        self.last_used.masked_fill_(counts > 0, self.steps)
        total = counts.sum()
        keep = torch.where(total > 0, self.decay, 1.0)  # a step with no data leaves the histogram alone
        self.histogram.mul_(keep).add_((1.0 - keep) * counts / total.clamp(min=1e-12))

    @torch.no_grad()
    def refresh(self, which: Tensor) -> None:
        """Marks codes (bool mask or indices) as just seeded, restarting their grace period."""
        self.seeded_at[which] = self.steps

    def dead_mask(self) -> Tensor:
        """Codes neither used nor seeded for more than `dead_after` training steps (bool, (K,))."""
        return (self.steps - torch.maximum(self.last_used, self.seeded_at)) > self.dead_after

    def stats(self) -> dict[str, float]:
        steps = int(self.steps)
        recent = (self.last_used > 0) & ((steps - self.last_used) < self.dead_after)
        hist = self.histogram
        return {
            "perplexity": float(perplexity_from_counts(hist)),
            "usage": float(recent.float().mean()) if steps > 0 else 0.0,
            "dead_codes": float(self.dead_mask().sum()),
            "bits_per_vector": math.log2(self.codebook_size),
        }
