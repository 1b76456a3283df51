"""Vector quantization layer (VQ-VAE, van den Oord et al. 2017), hardened for real training.

What it adds to the textbook layer, and why:
- exact nearest-code search in fp32 chunks (`distance.py`): no N×K matrix, so large batches fit;
- one fused autograd op for the lookup, the straight-through gradient and the losses (no one-hot matmuls,
  no `z + (q - z).detach()` rounding: the output *is* the code vector);
- EMA codebook updates with Laplace smoothing as an alternative to the codebook loss (faster, steadier);
- k-means initialisation from the first batch(es) and dead-code restarts: the two standard cures for
  codebook collapse (codes a layer never picks can never learn);
- optional factorised lookup (project to a small dim and L2-normalise; ViT-VQGAN) for better usage;
- masks, so padded frames never touch the codebook, the losses or the statistics;
- DDP: every codebook change is computed from all-reduced sums or broadcast, so ranks never drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqaudio.quantize import distributed as D
from vqaudio.quantize.distance import DEFAULT_MEMORY_BUDGET, METRICS, half_sqnorm, nearest_codes
from vqaudio.quantize.kmeans import kmeans, sample_rows
from vqaudio.quantize.stats import UsageTracker, histogram, perplexity_from_counts

LOSS_BLOCK_ELEMENTS = 2**18  # 1 MiB fp32 blocks for the loss reduction
KMEANS_MAX_BATCHES = 16  # k-means runs on what it has after this many batches even if below kmeans_min_vectors


@dataclass
class QuantizerOutput:
    """What every quantizer returns.

    quantized: same shape and dtype as the input; its gradient passes straight through to the input.
    codes: int64, input.shape[:-1] (ResidualVQ: (..., n_stages), -1 where a stage was dropped).
    loss: scalar to add to the model loss (codebook + beta * commitment; beta * commitment only with EMA).
    perplexity: scalar, exp(entropy) of this batch's code histogram (all ranks pooled while training).
    """

    quantized: Tensor
    codes: Tensor
    loss: Tensor
    perplexity: Tensor


class _LookupWithLoss(torch.autograd.Function):
    """q = codebook[codes] with a straight-through gradient, plus the VQ loss, as one op.

    loss = (w_commit + w_codebook) * sum_valid ||x - q||² / (n_valid * D)   (both terms have the same value)
    d x = d q + g * w_commit * 2 (x - q) / (n_valid * D)                    (straight-through + commitment)
    d codebook[k] = g * w_codebook * sum_{i: code_i = k} 2 (q_i - x_i) / (n_valid * D)
    Backward recomputes x - q (one N×D fp32 temporary) instead of keeping it alive across the network.
    """

    @staticmethod
    def forward(ctx, x, codebook, codes, weights, w_commit, w_codebook):  # type: ignore[override]
        with torch.autocast(device_type=x.device.type, enabled=False):
            return _LookupWithLoss._forward(ctx, x, codebook, codes, weights, w_commit, w_codebook)

    @staticmethod
    def _forward(ctx, x, codebook, codes, weights, w_commit, w_codebook):
        q = codebook.index_select(0, codes)
        if q.dtype != x.dtype:
            q = q.to(x.dtype)
        n, dim = x.shape
        n_valid = weights.sum() if weights is not None else torch.tensor(float(n), device=x.device)
        denom = n_valid.clamp(min=1.0) * dim
        # Sum of squared errors in cache-sized row blocks: no N×D temporary.
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        rows = max(1, min(n, LOSS_BLOCK_ELEMENTS // max(1, dim)))
        block = torch.empty(rows, dim, dtype=torch.float32, device=x.device)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            diff = block[: stop - start]
            diff.copy_(x[start:stop])
            diff.sub_(q[start:stop])  # in fp32 whatever the input dtype
            if weights is not None:
                diff.mul_(weights[start:stop, None])
            flat = diff.view(-1)
            total += torch.dot(flat, flat)
        loss = total.mul_(w_commit + w_codebook).div_(denom)
        ctx.save_for_backward(x, q, codes, weights, denom)
        ctx.w = (w_commit, w_codebook)
        ctx.codebook_meta = (codebook.shape, codebook.dtype)
        return q, loss

    @staticmethod
    def backward(ctx, grad_q, grad_loss):  # type: ignore[override]
        x, q, codes, weights, denom = ctx.saved_tensors
        w_commit, w_codebook = ctx.w
        need_x, need_cb = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_cb = None
        use_loss = grad_loss is not None and ((need_x and w_commit) or (need_cb and w_codebook))
        if use_loss:
            scale = grad_loss.float() * 2.0 / denom
            diff = torch.sub(x.float(), q.float())
            if weights is not None:
                diff.mul_(weights[:, None])
            if need_cb and w_codebook:
                shape, dtype = ctx.codebook_meta
                grad_cb = torch.zeros(shape, dtype=torch.float32, device=diff.device).index_add_(0, codes, diff)
                grad_cb.mul_(scale * -w_codebook)
                grad_cb = grad_cb.to(dtype)
            if need_x:
                grad_x = diff.mul_(scale * w_commit) if w_commit else None
                if grad_x is not None:
                    grad_x = grad_x.to(x.dtype)
                    if grad_q is not None:
                        grad_x.add_(grad_q)
                else:
                    grad_x = grad_q
        elif need_x:
            grad_x = grad_q
        return grad_x, grad_cb, None, None, None, None


class VectorQuantizer(nn.Module):
    """Nearest-code vector quantizer over the last axis (channels last).

    Args:
        codebook_size: K, number of codes (bits per vector = log2 K).
        dim: size of the input's last axis.
        beta: commitment weight (van den Oord et al. use 0.25).
        ema: update the codebook by exponential moving averages of assigned inputs (Laplace-smoothed
            counts) instead of a codebook loss; the codebook then gets no gradient.
        decay, eps: EMA decay and Laplace smoothing constant.
        metric: "l2" or "cosine" (inputs and codes are L2-normalised; the output is the unit code).
        codebook_dim: if set, factorised lookup: project the input to this dim, L2-normalise, quantize,
            project back to `dim` (two learned linear maps; metric becomes cosine).
        kmeans_init: initialise the codebook by k-means on the first training batch(es) (pooled over
            ranks until `kmeans_min_vectors` (default K) vectors were seen, at most 16 batches), with
            `kmeans_iters` Lloyd iterations; at most `kmeans_max_vectors` vectors are kept per rank.
        restart: re-seed codes unused for more than `dead_after` training steps from the current batch's
            inputs (drawn with probability proportional to their squared distance to the codebook).
        dead_after: steps without use after which a code counts as dead (stats and restarts).
        stats_decay: decay of the code histogram behind `stats()["perplexity"]`.
        sync: keep codebooks identical across DDP ranks (default: whenever torch.distributed is running).
        memory_budget, chunk_size: bound the search's score tile (bytes) or fix its rows (see distance.py).

    Masked-out positions (mask False) still get a code and a quantized vector, but never change the codebook,
    the EMA statistics, the usage statistics or the loss.
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        beta: float = 0.25,
        *,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        metric: str = "l2",
        codebook_dim: int | None = None,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        kmeans_min_vectors: int | None = None,
        kmeans_max_vectors: int = 65536,
        restart: bool = True,
        dead_after: int = 100,
        stats_decay: float = 0.99,
        sync: bool | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if codebook_size < 1 or dim < 1:
            raise ValueError(f"codebook_size and dim must be >= 1, got codebook_size={codebook_size}, dim={dim}")
        if beta < 0:
            raise ValueError(f"beta (commitment weight) must be >= 0, got {beta}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if codebook_dim is not None and codebook_dim < 1:
            raise ValueError(f"codebook_dim must be >= 1 (or None for no factorisation), got {codebook_dim}")
        if kmeans_iters < 0:
            raise ValueError(f"kmeans_iters must be >= 0, got {kmeans_iters}")
        self.codebook_size = int(codebook_size)
        self.dim = int(dim)
        self.beta = float(beta)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.eps = float(eps)
        self.factorised = codebook_dim is not None
        self.code_dim = int(codebook_dim) if codebook_dim is not None else self.dim
        self.metric = "cosine" if self.factorised else metric
        self.kmeans_iters = int(kmeans_iters)
        self.kmeans_min_vectors = int(kmeans_min_vectors) if kmeans_min_vectors else self.codebook_size
        self.kmeans_max_vectors = int(kmeans_max_vectors)
        self.restart = bool(restart)
        self.sync = sync
        self.memory_budget = int(memory_budget)
        self.chunk_size = chunk_size
        if self.factorised:
            self.project_in = nn.Linear(self.dim, self.code_dim)
            self.project_out = nn.Linear(self.code_dim, self.dim)
        init = torch.empty(self.codebook_size, self.code_dim).uniform_(-1 / self.codebook_size, 1 / self.codebook_size)
        if self.metric == "cosine":
            init = F.normalize(init, dim=1)
        self.codebook = nn.Parameter(init, requires_grad=not self.ema)
        if self.ema:
            self.register_buffer("ema_counts", torch.ones(self.codebook_size))
            self.register_buffer("ema_sums", init.clone())
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.usage = UsageTracker(self.codebook_size, dead_after, stats_decay)
        self._init_done = not kmeans_init
        self._kmeans_pool: list[Tensor] = []
        self._kmeans_batches = 0

    # ----------------------------------------------------------------------------------------- properties
    @property
    def bits_per_vector(self) -> float:
        return math.log2(self.codebook_size)

    def extra_repr(self) -> str:
        extra = f", codebook_dim={self.code_dim}" if self.factorised else ""
        return (
            f"codebook_size={self.codebook_size}, dim={self.dim}, beta={self.beta}, ema={self.ema}, "
            f"metric={self.metric!r}{extra}, restart={self.restart}"
        )

    def stats(self) -> dict[str, float]:
        """Perplexity, usage (fraction of codes used recently), dead codes and bits per vector (training)."""
        return self.usage.stats()

    # ------------------------------------------------------------------------------------------ helpers
    def _initialized(self) -> bool:
        # Cached on the host once true, so a GPU step does not sync on the flag.
        if not self._init_done:
            self._init_done = bool(self.initialized)
        return self._init_done

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._init_done = False  # re-read the loaded flag

    def _synced(self) -> bool:
        return D.is_distributed() if self.sync is None else bool(self.sync)

    def _check(self, z: Tensor, mask: Tensor | None) -> None:
        if not torch.is_tensor(z) or not z.is_floating_point():
            raise TypeError(f"VectorQuantizer input must be a floating-point tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.dim:
            raise ValueError(
                f"VectorQuantizer expects input (..., {self.dim}) with channels last; "
                f"got shape {tuple(z.shape)}"
                " (move the channel axis last, e.g. z.transpose(1, -1))"
            )
        if mask is not None and tuple(mask.shape) != tuple(z.shape[:-1]):
            raise ValueError(
                f"mask must have the input's shape without the channel axis, {tuple(z.shape[:-1])}; "
                f"got {tuple(mask.shape)}"
            )

    def _to_code_space(self, flat: Tensor) -> Tensor:
        if self.factorised:
            flat = flat.to(self.project_in.weight.dtype)
            return F.normalize(self.project_in(flat), dim=-1)
        if self.metric == "cosine":
            return F.normalize(flat, dim=-1)
        return flat

    def _from_code_space(self, q: Tensor) -> Tensor:
        return self.project_out(q.to(self.project_out.weight.dtype)) if self.factorised else q

    def search_codebook(self) -> Tensor:
        """The codebook as the search sees it (unit rows for cosine), with gradient when it is learned."""
        return F.normalize(self.codebook, dim=1) if self.metric == "cosine" else self.codebook

    # ------------------------------------------------------------------------------------------ public
    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """Codes (int64, z.shape[:-1]) of the nearest codebook entries; changes no state."""
        self._check(z, None)
        x = self._to_code_space(z.reshape(-1, self.dim))
        codes, _ = nearest_codes(
            x, self.search_codebook(), memory_budget=self.memory_budget, chunk_size=self.chunk_size
        )
        return codes.reshape(z.shape[:-1])

    def decode(self, codes: Tensor) -> Tensor:
        """Code vectors (..., dim) for int codes of any shape."""
        if codes.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"codes must be an integer tensor, got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size - 1}] for this codebook; got range "
                f"[{int(codes.min())}, {int(codes.max())}] (were they made by another model?)"
            )
        q = F.embedding(codes.long(), self.search_codebook())
        return self._from_code_space(q)

    def forward(self, z: Tensor, mask: Tensor | None = None) -> QuantizerOutput:
        self._check(z, mask)
        lead = z.shape[:-1]
        x = self._to_code_space(z.reshape(-1, self.dim))
        valid = None if mask is None else mask.reshape(-1).to(device=x.device, dtype=torch.bool)
        sync = self._synced()
        if self.training and not self._initialized():
            self._kmeans_step(x.detach(), valid, sync)
        codebook = self.search_codebook()
        want_dist = self.training and self.restart
        codes, dists = nearest_codes(
            x,
            codebook,
            bias=None if self.metric == "cosine" else half_sqnorm(codebook),
            memory_budget=self.memory_budget,
            chunk_size=self.chunk_size,
            return_distances=want_dist,
        )
        weights = None if valid is None else valid.float()
        q, loss = _LookupWithLoss.apply(x, codebook, codes, weights, self.beta, 0.0 if self.ema else 1.0)
        counted = codes if valid is None else codes.masked_fill(~valid, self.codebook_size)
        counts = histogram(counted, self.codebook_size + 1)[: self.codebook_size]
        if self.training:
            D.all_reduce_sum_(counts, sync)
            with torch.no_grad():
                if self.ema:
                    self._ema_update(x.detach(), counted, counts, sync)
                self.usage.update(counts)
                if self.restart:
                    self._restart_dead(x.detach(), valid, dists, sync)
        quantized = self._from_code_space(q).reshape(*lead, self.dim).to(z.dtype)
        return QuantizerOutput(quantized, codes.reshape(lead), loss, perplexity_from_counts(counts))

    # ---------------------------------------------------------------------------------- codebook updates
    @torch.no_grad()
    def _ema_update(self, x: Tensor, counted: Tensor, counts: Tensor, sync: bool) -> None:
        """EMA of per-code counts and sums; codebook = sums / Laplace-smoothed counts."""
        k = self.codebook_size
        sums = torch.zeros(k + 1, self.code_dim, dtype=torch.float32, device=x.device)
        sums.index_add_(0, counted, x.float())
        sums = sums[:k]
        D.all_reduce_sum_(sums, sync)
        self.ema_counts.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.ema_sums.mul_(self.decay).add_(sums, alpha=1.0 - self.decay)
        total = self.ema_counts.sum()
        smoothed = (self.ema_counts + self.eps) / (total + k * self.eps) * total
        new = self.ema_sums / smoothed[:, None]
        if self.metric == "cosine":
            new = F.normalize(new, dim=1)
        self.codebook.data.copy_(new)

    @torch.no_grad()
    def _seed(self, which: Tensor, rows: Tensor) -> None:
        """Overwrites codes `which` (indices) with `rows`, keeping EMA state and usage grace consistent."""
        if self.metric == "cosine":
            rows = F.normalize(rows, dim=1)
        self.codebook.data[which] = rows.to(self.codebook.dtype)
        if self.ema:
            self.ema_sums[which] = rows.float()
            self.ema_counts[which] = 1.0
        self.usage.refresh(which)

    @torch.no_grad()
    def _restart_dead(self, x: Tensor, valid: Tensor | None, dists: Tensor | None, sync: bool) -> None:
        dead = self.usage.dead_mask()
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        pool, weights = (x, dists) if valid is None else (x[valid], None if dists is None else dists[valid])
        rows, _ = sample_rows(pool, n_dead, sync, weights=weights)
        if rows is not None:
            self._seed(dead.nonzero().squeeze(1), rows)

    @torch.no_grad()
    def _kmeans_step(self, x: Tensor, valid: Tensor | None, sync: bool) -> None:
        """Pools this batch; once enough vectors (all ranks) were seen, seeds the codebook by k-means."""
        part = (x if valid is None else x[valid]).float()
        if part.shape[0] > self.kmeans_max_vectors:
            part = part[torch.randperm(part.shape[0], device=part.device)[: self.kmeans_max_vectors]]
        self._kmeans_pool.append(part.clone())
        self._kmeans_batches += 1
        pooled = torch.cat(self._kmeans_pool)
        if pooled.shape[0] > self.kmeans_max_vectors:
            pooled = pooled[torch.randperm(pooled.shape[0], device=pooled.device)[: self.kmeans_max_vectors]]
        self._kmeans_pool = [pooled]
        seen = torch.tensor([float(pooled.shape[0])], device=x.device)
        D.all_reduce_sum_(seen, sync)
        if float(seen) < self.kmeans_min_vectors and self._kmeans_batches < KMEANS_MAX_BATCHES:
            return
        centroids = kmeans(
            pooled, self.codebook_size, self.kmeans_iters, self.metric, sync, memory_budget=self.memory_budget
        )
        if centroids is None:  # no rank had any data yet: keep waiting
            return
        self._kmeans_pool = []
        self._seed(torch.arange(self.codebook_size, device=x.device), centroids)
        self.initialized.fill_(True)
        self._init_done = True
