"""Exact nearest-code search that never holds the whole N×K distance matrix.

Squared L2 distance expands to ||x||² - 2x·c + ||c||²; ||x||² is the same for every code, so the nearest
code is argmax_k (x·c_k - ||c_k||²/2): one `addmm` (bias = -||c||²/2, computed once per call) and one
argmax per chunk of rows (no one-hot, no sqrt, no N×K clamp). Chunks are sized so the fp32 score tile
stays small (cache-sized on CPU, up to `memory_budget` on GPU). Scores are always computed in fp32,
whatever the input dtype, and outside autograd (the search is not differentiable; gradients reach the
codebook through the losses instead).

Peak extra memory of one call (`search_peak_bytes`), with R rows per chunk and K' = K rounded up to a
multiple of the B argmax lanes (CPU only, see `_argmax_rows`):
    R·K'·4              the score tile (R is chosen so this stays within `memory_budget`)
  + R·D·4               an fp32 / unit-norm copy of the chunk (only for non-fp32 input or cosine)
  + R·(K'/B·4 + 4B)     lane maxima and the winning lane's entries (CPU)
  + K'·(D+1)·4          an fp32 / unit-norm / padded copy of the codebook (when needed) and the bias
  + N·8 (+ N·4)         the returned codes (and distances)
With the default 64 MiB budget, K = 4096 and D = 64, R = 4032 rows on GPU (504 on CPU, where an 8 MiB tile
stays in cache), so N = 262144 needs at most 67 MiB on GPU and 12 MiB on CPU; the full matrix is 4 GiB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MEMORY_BUDGET = 64 * 2**20
# On CPU an 8 MiB score tile stays in L2/L3 between the addmm that writes it and the argmax that reads it;
# measured faster than larger tiles on a 2-core EPYC. GPUs prefer big tiles (fewer launches).
CPU_TILE_BYTES = 8 * 2**20
MIN_CPU_ROWS = 128
METRICS = ("l2", "cosine")


def search_chunk_rows(
    n_codes: int,
    dim: int,
    device: torch.device | str = "cpu",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    chunk_size: int | None = None,
) -> int:
    """Rows per chunk: `chunk_size` if given, else what fits `memory_budget` (a cache-sized tile on CPU)."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    if memory_budget < 1:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget}")
    per_row = 4 * (n_codes + dim)
    rows = max(1, memory_budget // per_row)
    if torch.device(device).type == "cpu":
        rows = min(rows, max(MIN_CPU_ROWS, CPU_TILE_BYTES // per_row))
    return int(rows)


def search_peak_bytes(
    n: int,
    n_codes: int,
    dim: int,
    device: torch.device | str = "cpu",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    chunk_size: int | None = None,
    return_distances: bool = False,
) -> int:
    """Upper bound on the extra bytes `nearest_codes` allocates (the formula in this module's docstring)."""
    lanes = argmax_lanes(n_codes, device)
    width = n_codes + (-n_codes) % lanes
    rows = min(max(n, 1), search_chunk_rows(width, dim, device, memory_budget, chunk_size))
    per_row = 4 * (width + dim) + (4 * (width // lanes) + 4 * lanes + 32 if lanes > 1 else 8)
    return rows * per_row + 4 * width * (dim + 1) + n * (12 if return_distances else 8)


def half_sqnorm(codebook: Tensor) -> Tensor:
    """-||c||²/2 per code in fp32: the addmm bias of the search (computed once per call, reused per chunk)."""
    cb = codebook.detach().float()
    return torch.linalg.vector_norm(cb, dim=1).square_().mul_(-0.5)


@torch.no_grad()
def nearest_codes(
    x: Tensor,
    codebook: Tensor,
    metric: str = "l2",
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    chunk_size: int | None = None,
    bias: Tensor | None = None,
    return_distances: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Index of the nearest code for every row of `x` (N, D); exact, chunked, fp32.

    metric "l2": squared Euclidean distance. metric "cosine": largest cosine similarity (rows and codes are
    L2-normalised first; the returned distance is then the squared distance between unit vectors, 2 - 2cos).
    `bias` may pass a precomputed `half_sqnorm(codebook)` (l2 only). Returns (codes (N,) int64,
    distances (N,) fp32 or None).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if x.ndim != 2 or codebook.ndim != 2 or x.shape[1] != codebook.shape[1]:
        raise ValueError(
            f"nearest_codes needs x (N, D) and codebook (K, D) with the same D; got {tuple(x.shape)} "
            f"and {tuple(codebook.shape)}"
        )
    n, dim = x.shape
    n_codes = codebook.shape[0]
    with torch.autocast(device_type=x.device.type, enabled=False):
        cb = codebook.detach().float()
        if metric == "cosine":
            cb = F.normalize(cb, dim=1)
            bias = None
        if bias is None:
            bias = half_sqnorm(cb)
        codes = torch.empty(n, dtype=torch.long, device=x.device)
        dists = torch.empty(n, dtype=torch.float32, device=x.device) if return_distances else None
        if n == 0:
            return codes, dists
        n_lanes = argmax_lanes(n_codes, x.device)
        cb_t, bias = _pad_codes(cb, bias, n_lanes)
        width = cb_t.shape[1]
        rows = min(n, search_chunk_rows(width, dim, x.device, memory_budget, chunk_size))
        tile = torch.empty(rows, width, dtype=torch.float32, device=x.device)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            chunk = x[start:stop].detach()
            if chunk.dtype != torch.float32:
                chunk = chunk.float()
            if metric == "cosine":
                chunk = F.normalize(chunk, dim=1)
            scores = tile[: stop - start]
            torch.addmm(bias, chunk, cb_t, out=scores)
            top = _argmax_rows(scores, n_lanes, codes[start:stop], want_values=dists is not None)
            if dists is not None:
                # ||x - c||² = ||x||² - 2 (x·c - ||c||²/2), clamped against rounding below zero.
                sq = torch.linalg.vector_norm(chunk, dim=1).square_()
                torch.add(sq, top, alpha=-2.0, out=dists[start:stop]).clamp_(min=0.0)
    return codes, dists


def argmax_lanes(n_codes: int, device: torch.device | str) -> int:
    """How many lanes B the CPU row-argmax splits K into (1 = plain argmax; see `_argmax_rows`)."""
    if torch.device(device).type != "cpu":
        return 1
    lanes = 16
    while lanes > 1 and n_codes // lanes < 64:
        lanes //= 2
    return lanes


def _pad_codes(cb: Tensor, bias: Tensor, lanes: int) -> tuple[Tensor, Tensor]:
    """Codebook transposed (D, K') and bias (K',), padded to a multiple of `lanes` with never-chosen codes."""
    pad = (-cb.shape[0]) % lanes
    if pad == 0:
        return cb.t(), bias
    cb = torch.cat([cb, cb.new_zeros(pad, cb.shape[1])])
    bias = torch.cat([bias, bias.new_full((pad,), float("-inf"))])
    return cb.t(), bias


def _argmax_rows(scores: Tensor, lanes: int, out: Tensor, want_values: bool) -> Tensor | None:
    """Row-wise argmax of `scores` (M, K) into `out`; returns the row maxima when `want_values`.

    torch's CPU argmax over a contiguous row is scalar code (~1.4 ns/element), while a max *across* rows is
    vectorised (~10x faster). So on CPU the row is viewed as (B, K/B): a vectorised max over B leaves K/B
    lane maxima, a plain argmax over those (B times fewer elements) picks the lane, and an argmax over that
    lane's B entries picks the code. Exact; among exactly tied scores the pick is deterministic but not
    necessarily the lowest index.
    """
    if lanes == 1:
        if want_values:
            values = torch.empty(scores.shape[0], dtype=scores.dtype, device=scores.device)
            torch.max(scores, dim=1, out=(values, out))
            return values
        torch.argmax(scores, dim=1, out=out)
        return None
    m, k = scores.shape
    width = k // lanes
    view = scores.view(m, lanes, width)
    lane_max = torch.amax(view, dim=1)  # (M, K/B), vectorised
    lane = lane_max.argmax(dim=1)  # (M,)
    rows = torch.arange(m, device=scores.device)
    block = view[rows, :, lane].argmax(dim=1)  # (M,) which of the B entries of that lane
    torch.add(lane, block, alpha=width, out=out)
    return lane_max.gather(1, lane[:, None]).squeeze(1) if want_values else None


def brute_force_distances(x: Tensor, codebook: Tensor, metric: str = "l2") -> Tensor:
    """Full (N, K) squared distances in float64 (tests and small inputs only: it builds the whole matrix)."""
    x64, cb64 = x.detach().double(), codebook.detach().double()
    if metric == "cosine":
        x64, cb64 = F.normalize(x64, dim=1), F.normalize(cb64, dim=1)
    return torch.cdist(x64, cb64).square()
