"""Residual (multi-stage) VQ: stage i quantizes what stages 0..i-1 left over.

This is the multi-stage VQ of speech coding (the two-stage VQ of the Codec 2 experiments is n_stages=2) and
of SoundStream. Any prefix of the stages is a valid, coarser code, so one model serves several bitrates:
`decode(codes[..., :n])` works for every n, and *quantizer dropout* trains every prefix by giving each
batch item a random number of active stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from vqaudio.quantize.vq import QuantizerOutput, VectorQuantizer


class _StraightThrough(torch.autograd.Function):
    """Returns `target` (exactly), sends the incoming gradient to `source` unchanged."""

    @staticmethod
    def forward(ctx, source, target):  # type: ignore[override]
        return target.view_as(target)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad, None


def straight_through(source: Tensor, target: Tensor) -> Tensor:
    """Value of `target`, gradient of identity with respect to `source`."""
    return _StraightThrough.apply(source, target.detach())


class ResidualVQ(nn.Module):
    """Multi-stage residual vector quantizer.

    Args:
        n_stages: number of VQ stages.
        codebook_size: K for every stage, or one K per stage.
        dim: size of the input's last axis.
        beta: commitment weight of every stage.
        quantizer_dropout: while training, the probability that a batch item (index along the first axis;
            every row for 2-D input) uses only a random prefix of `min_stages`..n_stages stages.
        min_stages: the fewest stages dropout leaves.
        **vq_options: passed to every stage's `VectorQuantizer` (ema, kmeans_init, restart, metric, ...).

    The loss is the sum of the stage losses; the perplexity is the mean of the stage perplexities.
    Every stage runs on every rank at every step (dropped items are masked, not skipped), so under DDP all
    ranks make the same collective calls whatever their random draws.
    """

    def __init__(
        self,
        n_stages: int,
        codebook_size: int | Sequence[int],
        dim: int,
        beta: float = 0.25,
        *,
        quantizer_dropout: float = 0.0,
        min_stages: int = 1,
        **vq_options: Any,
    ) -> None:
        super().__init__()
        if n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {n_stages}")
        sizes = [int(codebook_size)] * n_stages if isinstance(codebook_size, int) else list(codebook_size)
        if len(sizes) != n_stages:
            raise ValueError(f"got {len(sizes)} codebook sizes for {n_stages} stages; give one or one per stage")
        if not 0.0 <= quantizer_dropout <= 1.0:
            raise ValueError(f"quantizer_dropout is a probability in [0, 1], got {quantizer_dropout}")
        if not 1 <= min_stages <= n_stages:
            raise ValueError(f"min_stages must be in [1, {n_stages}], got {min_stages}")
        self.n_stages = n_stages
        self.dim = dim
        self.codebook_sizes = sizes
        self.quantizer_dropout = float(quantizer_dropout)
        self.min_stages = min_stages
        self.stages = nn.ModuleList(VectorQuantizer(k, dim, beta, **vq_options) for k in sizes)

    @property
    def codebook_size(self) -> int:
        return self.codebook_sizes[0]

    @property
    def bits_per_vector(self) -> float:
        return float(sum(stage.bits_per_vector for stage in self.stages))

    def _n(self, n_stages: int | None) -> int:
        n = self.n_stages if n_stages is None else int(n_stages)
        if not 1 <= n <= self.n_stages:
            raise ValueError(f"n_stages must be in [1, {self.n_stages}] for this ResidualVQ, got {n_stages}")
        return n

    def _active_stages(self, z: Tensor) -> Tensor | None:
        """Per-position number of active stages (z.shape[:-1]) under quantizer dropout, or None."""
        if not (self.training and self.quantizer_dropout > 0 and self.n_stages > self.min_stages):
            return None
        items = z.shape[0] if z.ndim >= 2 else 1
        drop = torch.rand(items, device=z.device) < self.quantizer_dropout
        random_n = torch.randint(self.min_stages, self.n_stages + 1, (items,), device=z.device)
        n = torch.where(drop, random_n, torch.full_like(random_n, self.n_stages))
        if z.ndim < 2:
            return n.reshape(())
        return n.reshape(items, *([1] * (z.ndim - 2))).expand(z.shape[:-1])

    def forward(self, z: Tensor, mask: Tensor | None = None, n_stages: int | None = None) -> QuantizerOutput:
        """Quantizes with the first `n_stages` stages (all by default); codes are (..., n_used_stages)."""
        n = self._n(n_stages)
        active = self._active_stages(z)
        residual = z
        total = torch.zeros_like(z)
        codes, perplexities = [], []
        loss = z.new_zeros((), dtype=torch.float32)
        for i, stage in enumerate(self.stages[:n]):
            stage_mask = mask
            if active is not None:
                on = active > i
                stage_mask = on if mask is None else (mask.to(torch.bool) & on)
            out = stage(residual, stage_mask)
            q = out.quantized.detach()
            stage_codes = out.codes
            if active is not None:
                q = q * on.unsqueeze(-1).to(q.dtype)
                stage_codes = stage_codes.masked_fill(~on, -1)
            total = total + q
            residual = residual - q
            codes.append(stage_codes)
            perplexities.append(out.perplexity)
            loss = loss + out.loss
        quantized = straight_through(z, total)
        return QuantizerOutput(quantized, torch.stack(codes, dim=-1), loss, torch.stack(perplexities).mean())

    @torch.no_grad()
    def encode(self, z: Tensor, n_stages: int | None = None) -> Tensor:
        """Codes (..., n_stages) of the first `n_stages` stages; changes no state."""
        n = self._n(n_stages)
        residual = z
        codes = []
        for stage in self.stages[:n]:
            c = stage.encode(residual)
            residual = residual - stage.decode(c).to(residual.dtype)
            codes.append(c)
        return torch.stack(codes, dim=-1)

    def decode(self, codes: Tensor) -> Tensor:
        """Sum of the stage vectors for codes (..., n) with any n <= n_stages; code -1 adds nothing."""
        if codes.ndim < 1 or not 1 <= codes.shape[-1] <= self.n_stages:
            raise ValueError(
                f"ResidualVQ.decode needs codes (..., n) with 1 <= n <= {self.n_stages}; got shape {tuple(codes.shape)}"
            )
        out = None
        for i in range(codes.shape[-1]):
            c = codes[..., i]
            used = c >= 0
            vec = self.stages[i].decode(c.clamp(min=0))
            vec = vec * used.unsqueeze(-1).to(vec.dtype)
            out = vec if out is None else out + vec
        return out

    def stats(self) -> dict[str, float]:
        """Mean perplexity and usage, total dead codes and bits, plus every stage's figures (stage{i}_*)."""
        per_stage = [stage.stats() for stage in self.stages]
        out = {
            "perplexity": sum(s["perplexity"] for s in per_stage) / self.n_stages,
            "usage": sum(s["usage"] for s in per_stage) / self.n_stages,
            "dead_codes": float(sum(s["dead_codes"] for s in per_stage)),
            "bits_per_vector": self.bits_per_vector,
        }
        for i, s in enumerate(per_stage):
            out.update({f"stage{i}_{k}": v for k, v in s.items() if k != "bits_per_vector"})
        return out
