"""Collectives that keep codebooks identical across DDP ranks, and do nothing in a single process.

Every quantizer decides *whether* to call a collective from state that is identical on all ranks (the
training flag, step counters, all-reduced counts), never from the local batch, so a rank with an empty or
fully masked batch still joins every collective and nobody hangs.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True when a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def all_reduce_sum_(tensor: Tensor, enabled: bool = True) -> Tensor:
    """Sums `tensor` over ranks in place (no-op when not distributed or not enabled)."""
    if enabled and is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_(tensor: Tensor, src: int = 0, enabled: bool = True) -> Tensor:
    """Overwrites `tensor` on every rank with rank `src`'s copy, in place (no-op when not distributed)."""
    if enabled and is_distributed():
        dist.broadcast(tensor, src=src)
    return tensor


def all_gather_cat(tensor: Tensor, enabled: bool = True) -> Tensor:
    """Concatenates along dim 0 the same-shaped `tensor` from every rank, in rank order."""
    if not (enabled and is_distributed()):
        return tensor
    tensor = tensor.contiguous()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, dim=0)
