"""k-means (Lloyd, with batched k-means++ seeding) for codebook initialisation, exact under DDP.

Each rank assigns its own vectors with the chunked search; per-cluster sums and counts are all-reduced, so
every rank computes the same centroids. Random choices are made on rank 0 and broadcast. A rank with no
vectors still joins every collective (it contributes nothing), so it never hangs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vqaudio.quantize import distributed as D
from vqaudio.quantize.distance import DEFAULT_MEMORY_BUDGET, nearest_codes
from vqaudio.quantize.stats import histogram

SEED_ROUNDS = 16  # k-means++ seeding in this many batched rounds: near k-means++ quality at ~1 search's cost


@torch.no_grad()
def sample_rows(
    x: Tensor, n: int, sync: bool = True, weights: Tensor | None = None
) -> tuple[Tensor, Tensor] | tuple[None, None]:
    """`n` rows drawn from the union of every rank's `x`, identical on all ranks.

    With `weights` (one per row, >= 0; e.g. the squared distance to the nearest code) rows are drawn with
    probability proportional to them over all ranks, else uniformly; without replacement where enough rows
    exist. Returns (rows (n, D) fp32, real (n,) bool: False for repeats made because there were fewer than
    n rows in all), or (None, None) when no rank has a row.
    """
    dim, device, local = x.shape[1], x.device, x.shape[0]
    # Every rank sends exactly n candidates plus a weight each (0 = padding), so all_gather shapes match.
    cand = torch.zeros(n, dim, dtype=torch.float32, device=device)
    mass = torch.zeros(n, dtype=torch.float32, device=device)
    if local > 0 and n > 0:
        w = None if weights is None else weights.float().clamp(min=0)
        if w is not None and float(w.sum()) > 0:
            take = min(n, int((w > 0).sum()))
            idx = torch.multinomial(w, take, replacement=False)
            total = float(w.sum())
        else:
            take = min(n, local)
            idx = torch.randperm(local, device=device)[:take]
            total = float(local) if weights is None else 1e-12 * local
        cand[:take] = x[idx].float()
        mass[:take] = total / take  # each candidate stands for its share of this rank's probability mass
    cand = D.all_gather_cat(cand, sync)
    mass = D.all_gather_cat(mass, sync)
    n_real = int((mass > 0).sum())
    if n_real == 0:
        return None, None
    real = torch.ones(n, dtype=torch.uint8, device=device)
    if n_real >= n:
        pick = torch.multinomial(mass, n, replacement=False)
    else:
        have = mass.nonzero().squeeze(1)
        pick = torch.cat([have, have[torch.randint(n_real, (n - n_real,), device=device)]])
        real[n_real:] = 0
    D.broadcast_(pick, 0, sync)
    D.broadcast_(real, 0, sync)
    return cand[pick], real.bool()


@torch.no_grad()
def kmeans_plusplus(x: Tensor, n_clusters: int, sync: bool = True, memory_budget: int = DEFAULT_MEMORY_BUDGET):
    """Seeds by D² sampling in up to SEED_ROUNDS rounds (exact k-means++ when n_clusters <= SEED_ROUNDS)."""
    rounds = min(n_clusters, SEED_ROUNDS)
    rest = n_clusters - 1
    sizes = [1] + [rest // (rounds - 1) + (i < rest % (rounds - 1)) for i in range(rounds - 1)] if rounds > 1 else [1]
    seeds: list[Tensor] = []
    d2 = None
    for size in sizes:
        rows, _ = sample_rows(x, size, sync, weights=d2)
        if rows is None:
            return None
        seeds.append(rows)
        _, d_new = nearest_codes(x, rows, memory_budget=memory_budget, return_distances=True)
        d2 = d_new if d2 is None else torch.minimum(d2, d_new)
    return torch.cat(seeds)


@torch.no_grad()
def kmeans(
    x: Tensor,
    n_clusters: int,
    iters: int = 10,
    metric: str = "l2",
    sync: bool = True,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Tensor | None:
    """Centroids (n_clusters, D) fp32 of the rows of `x` (N, D) pooled over ranks; None if all are empty.

    Seeding is batched k-means++; with fewer rows than clusters, rows are repeated with a little noise.
    Empty clusters keep their previous centroid. For metric "cosine" centroids are unit vectors.
    """
    if x.ndim != 2:
        raise ValueError(f"kmeans needs x of shape (N, D), got {tuple(x.shape)}")
    x = x.detach().float()
    if metric == "cosine":
        x = F.normalize(x, dim=1)
    count = torch.tensor([float(x.shape[0])], device=x.device)
    D.all_reduce_sum_(count, sync)
    if float(count) == 0:
        return None
    if float(count) > n_clusters:
        centroids = kmeans_plusplus(x, n_clusters, sync, memory_budget)
    else:
        centroids, real = sample_rows(x, n_clusters, sync)
        scale = centroids.std().clamp(min=1e-6) * 1e-3
        noise = torch.randn_like(centroids) * scale
        D.broadcast_(noise, 0, sync)
        centroids = torch.where(real[:, None], centroids, centroids + noise)
    if metric == "cosine":
        centroids = F.normalize(centroids, dim=1)
    dim = x.shape[1]
    for _ in range(iters):
        codes, _ = nearest_codes(x, centroids, memory_budget=memory_budget)
        sums = torch.zeros(n_clusters, dim, dtype=torch.float32, device=x.device).index_add_(0, codes, x)
        counts = histogram(codes, n_clusters)
        D.all_reduce_sum_(sums, sync)
        D.all_reduce_sum_(counts, sync)
        updated = sums / counts.clamp(min=1.0)[:, None]
        if metric == "cosine":
            updated = F.normalize(updated, dim=1)
        centroids = torch.where((counts > 0)[:, None], updated, centroids)
    D.broadcast_(centroids, 0, sync)
    return centroids
