"""Random draws for training datasets: one generator per process, different in every DataLoader worker and rank."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

__all__ = ["WorkerGenerator"]


class WorkerGenerator:
    """`gen()` is this process's numpy Generator, made on first use in each DataLoader worker (and DDP rank).

    Seeded from (seed, rank, worker id, the worker's torch seed): workers and ranks draw differently, torch's
    per-epoch worker seeds (fixed by seed_everything) make seeded runs repeat, and a fresh worker gets a fresh
    stream instead of a copy of the parent's.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._rng: np.random.Generator | None = None
        self._key: tuple[int, int] | None = None

    def __call__(self) -> np.random.Generator:
        info = get_worker_info()
        worker_seed = -1 if info is None else int(info.seed)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = torch.distributed.get_rank() if distributed else 0
        key = (worker_seed, rank)
        if self._rng is None or self._key != key:
            entropy = [self.seed, rank] + ([] if info is None else [int(info.id), worker_seed % 2**63])
            self._rng = np.random.default_rng(np.random.SeedSequence(entropy))
            self._key = key
        return self._rng

    def get_state(self) -> dict[str, Any] | None:
        """Where this process's stream stands (None before its first draw), for a training checkpoint."""
        if self._rng is None or self._key is None:
            return None
        return {"key": list(self._key), "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict[str, Any] | None) -> None:
        """Continue the stream from `get_state()`'s result (None: start afresh on the next draw).

        The state applies in the process (worker, rank) that saved it; elsewhere the next draw starts that
        process's own stream as usual.
        """
        if state is None:
            self._rng, self._key = None, None
            return
        bit_generator = getattr(np.random, state["bit_generator"]["bit_generator"])()
        bit_generator.state = state["bit_generator"]
        self._rng = np.random.Generator(bit_generator)
        worker_seed, rank = state["key"]
        self._key = (int(worker_seed), int(rank))
