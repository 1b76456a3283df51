"""Properties of the quantizers: exact search, gradients, EMA, restarts, residual stages, FSQ, masks."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vqaudio.quantize import FSQ, ResidualVQ, VectorQuantizer, code_stats, kmeans, nearest_codes
from vqaudio.quantize.distance import brute_force_distances, search_chunk_rows, search_peak_bytes


def _clusters(n_clusters: int, dim: int, per: int, spread: float = 0.05, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_clusters, dim, generator=g) * 3
    labels = torch.arange(n_clusters).repeat_interleave(per)
    x = centers[labels] + spread * torch.randn(n_clusters * per, dim, generator=g)
    perm = torch.randperm(x.shape[0], generator=g)
    return x[perm], labels[perm], centers


# ---------------------------------------------------------------------------------------------- search
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("chunk", [1, 37, None])
def test_search_finds_true_nearest_neighbour(metric: str, chunk: int | None) -> None:
    torch.manual_seed(1)
    x, cb = torch.randn(700, 24) * 2 + 0.5, torch.randn(301, 24)  # 301: padded to the argmax lanes
    codes, dist = nearest_codes(x, cb, metric, chunk_size=chunk, return_distances=True)
    brute = brute_force_distances(x, cb, metric)
    best = brute.min(1).values
    chosen = brute.gather(1, codes[:, None]).squeeze(1)
    # The chosen code is as near as the brute-force nearest (up to fp32 rounding) ...
    assert torch.all(chosen <= best + 1e-4 * (1 + best))
    # ... and is the very same index wherever the runner-up is not a near tie.
    top2 = brute.topk(2, dim=1, largest=False).values
    clear = (top2[:, 1] - top2[:, 0]) > 1e-3
    assert clear.float().mean() > 0.9
    assert torch.equal(codes[clear], brute.argmin(1)[clear])
    assert torch.allclose(dist.double(), best, atol=1e-3, rtol=1e-4)


def test_chunked_equals_unchunked_and_empty_input() -> None:
    torch.manual_seed(2)
    x, cb = torch.randn(2000, 32), torch.randn(512, 32)
    whole, _ = nearest_codes(x, cb, chunk_size=x.shape[0])
    # Different chunk shapes may use different BLAS kernels (rows=1 is a matrix-vector product), so compare
    # where the runner-up is not within fp32 rounding of the winner: that is every row here in practice.
    top2 = brute_force_distances(x, cb).topk(2, dim=1, largest=False).values
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    assert clear.float().mean() > 0.99
    for rows in (1, 3, 128, 1999):
        assert torch.equal(nearest_codes(x, cb, chunk_size=rows)[0][clear], whole[clear])
    budget = nearest_codes(x, cb, memory_budget=4 * 600 * 10)[0]  # ~10 rows per chunk
    assert torch.equal(budget[clear], whole[clear])
    empty, d = nearest_codes(x[:0], cb, return_distances=True)
    assert empty.shape == (0,) and empty.dtype == torch.long and d.shape == (0,)


def test_search_memory_is_bounded() -> None:
    # The score tile never exceeds the budget; for the large case the whole search stays far below
    # the 4 GiB a full 262144 x 4096 fp32 distance matrix would need.
    for k in (512, 4096, 65536):
        assert search_chunk_rows(k, 64, "cuda", 64 * 2**20) * (k + 64) * 4 <= 64 * 2**20
    assert search_peak_bytes(262144, 4096, 64, "cuda") < 80 * 2**20
    assert search_peak_bytes(262144, 4096, 64, "cpu") < 16 * 2**20


def _read_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise KeyError(field)


def test_search_peak_resident_memory_measured() -> None:
    """Measured, not just computed: peak RSS growth of a search whose full matrix would be 1 GiB."""
    clear = Path("/proc/self/clear_refs")
    if not clear.exists() or not os.access(clear, os.W_OK):
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak RSS")
    x, cb = torch.randn(65536, 8), torch.randn(4096, 8)
    nearest_codes(x[:1024], cb)  # warm up kernels and thread pools
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    clear.write_text("5")
    before = _read_kb("VmRSS")
    codes, _ = nearest_codes(x, cb)
    grown_mb = (_read_kb("VmHWM") - before) / 1024
    assert codes.shape == (65536,)
    assert grown_mb < 100, f"search grew RSS by {grown_mb:.0f} MB; the full matrix is 1024 MB"


def test_low_precision_inputs_search_in_fp32() -> None:
    torch.manual_seed(3)
    for dtype in (torch.float16, torch.bfloat16):
        vq = VectorQuantizer(64, 16, restart=False)
        with torch.no_grad():
            vq.codebook.normal_()
        z = torch.randn(2, 50, 16).to(dtype).requires_grad_()
        out = vq(z)
        assert out.quantized.dtype == dtype and torch.isfinite(out.loss)
        ref, _ = nearest_codes(z.detach().float().reshape(-1, 16), vq.codebook)
        assert torch.equal(out.codes.reshape(-1), ref)
        (out.quantized.float().sum() + out.loss).backward()
        assert z.grad is not None and z.grad.dtype == dtype and torch.isfinite(z.grad.float()).all()


# ----------------------------------------------------------------------------------- gradients, losses
def test_straight_through_gradient_equals_upstream_gradient() -> None:
    torch.manual_seed(4)
    vq = VectorQuantizer(32, 8)
    z = torch.randn(3, 10, 8, requires_grad=True)
    upstream = torch.randn(3, 10, 8)
    out = vq(z)
    (out.quantized * upstream).sum().backward()
    assert torch.equal(z.grad, upstream)
    # The output is exactly the code vectors (no z + (q - z) rounding).
    assert torch.equal(out.quantized, vq.codebook.detach()[out.codes])


@pytest.mark.parametrize("ema", [False, True])
def test_fused_loss_and_gradients_match_reference(ema: bool) -> None:
    torch.manual_seed(5)
    vq = VectorQuantizer(16, 6, beta=0.3, ema=ema, restart=False).eval()
    z = torch.randn(40, 6, requires_grad=True)
    mask = torch.rand(40) > 0.3
    upstream = torch.randn(40, 6)
    out = vq(z, mask)
    ((out.quantized * upstream).sum() + 2.0 * out.loss).backward()
    # Reference written with plain autograd ops on the valid rows.
    z_ref = z.detach().clone().requires_grad_()
    cb_ref = vq.codebook.detach().clone().requires_grad_(not ema)
    q = cb_ref[out.codes]
    m = mask[:, None].float()
    mse = lambda a, b: ((a - b).pow(2) * m).sum() / (mask.sum() * 6)  # noqa: E731
    loss_ref = 0.3 * mse(z_ref, q.detach()) + (0.0 if ema else mse(q, z_ref.detach()))
    (((z_ref + (q - z_ref).detach()) * upstream).sum() + 2.0 * loss_ref).backward()
    assert torch.allclose(out.loss, loss_ref, rtol=1e-5)
    assert torch.allclose(z.grad, z_ref.grad, atol=1e-6)
    if not ema:
        assert torch.allclose(vq.codebook.grad, cb_ref.grad, atol=1e-6)
    else:
        assert vq.codebook.grad is None


# ------------------------------------------------------------------------------------ codebook learning
def test_ema_converges_to_cluster_means() -> None:
    x, labels, _ = _clusters(4, 8, 200, spread=0.3)
    means = torch.stack([x[labels == c].mean(0) for c in range(4)])
    vq = VectorQuantizer(4, 8, ema=True, decay=0.8, restart=False)
    with torch.no_grad():  # one sample of each cluster as the starting codebook
        start = torch.stack([x[labels == c][0] for c in range(4)])
        vq.codebook.copy_(start)
        vq.ema_sums.copy_(start)
    for _ in range(60):
        vq(x[torch.randperm(x.shape[0])[:400]])
    assert torch.allclose(vq.codebook, means, atol=0.05)


def test_kmeans_init_recovers_clusters() -> None:
    torch.manual_seed(6)
    x, _, centers = _clusters(8, 4, 100, spread=0.02, seed=6)
    cent = kmeans(x, 8, iters=20)
    nearest = torch.cdist(centers, cent).min(1).values
    assert nearest.max() < 0.1
    vq = VectorQuantizer(8, 4, kmeans_init=True, restart=False)
    assert not bool(vq.initialized)
    vq(x)
    assert bool(vq.initialized)
    # Every cluster is represented after init on the first batch.
    assert code_stats(vq.encode(x), 8)["usage"] == 1.0


def test_kmeans_init_pools_small_batches() -> None:
    torch.manual_seed(7)
    vq = VectorQuantizer(64, 4, kmeans_init=True, restart=False)
    x = torch.randn(40, 4)
    vq(x)  # 40 < 64 vectors: keeps pooling
    assert not bool(vq.initialized)
    vq(torch.randn(40, 4))
    assert bool(vq.initialized)


@pytest.mark.parametrize("ema", [False, True])
def test_collapsed_codebook_recovers_usage_after_restarts(ema: bool) -> None:
    x, _, _ = _clusters(32, 8, 40, spread=0.1, seed=8)
    stats = {}
    for restart in (False, True):
        torch.manual_seed(9)
        vq = VectorQuantizer(32, 8, ema=ema, restart=restart, dead_after=3)
        with torch.no_grad():
            vq.codebook.copy_(x[:1].expand(32, 8))  # collapsed: every code is the same vector
            if ema:
                vq.ema_sums.copy_(vq.codebook)
        for _ in range(40):
            vq(x[torch.randperm(x.shape[0])[:512]])
        stats[restart] = vq.stats()
        stats[restart]["eval_usage"] = code_stats(vq.encode(x), 32)["usage"]
    assert stats[False]["eval_usage"] < 0.5  # without restarts most codes stay dead
    assert stats[True]["eval_usage"] >= 0.9
    assert stats[True]["usage"] >= 0.9 and stats[True]["dead_codes"] <= 3


def test_stats_report_dead_codes_and_bits() -> None:
    vq = VectorQuantizer(16, 2, dead_after=2, restart=False)
    assert set(vq.stats()) == {"perplexity", "usage", "dead_codes", "bits_per_vector"}
    with torch.no_grad():
        vq.codebook.copy_(torch.arange(16.0)[:, None].repeat(1, 2))
    for _ in range(4):
        vq(torch.zeros(10, 2) + torch.tensor([[0.0], [1.0]]).repeat(5, 1))  # only codes 0 and 1
    s = vq.stats()
    assert s["dead_codes"] == 14 and s["usage"] == pytest.approx(2 / 16)
    assert s["perplexity"] == pytest.approx(2.0, rel=1e-3) and s["bits_per_vector"] == 4.0
    assert vq.bits_per_vector == 4.0


# ----------------------------------------------------------------------------------------------- masks
def test_masked_vectors_change_nothing() -> None:
    torch.manual_seed(10)
    z = torch.randn(4, 30, 8)
    mask = torch.ones(4, 30, dtype=torch.bool)
    mask[:, 20:] = False
    z_garbage = z.clone()
    z_garbage[~mask] = 1e3  # padding that would wreck the codebook if it were used
    a = VectorQuantizer(16, 8, ema=True, dead_after=1)
    b = VectorQuantizer(16, 8, ema=True, dead_after=1)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(11)
    out_a = a(z_garbage, mask)
    torch.manual_seed(11)
    out_b = b(z[mask])
    assert torch.allclose(a.codebook, b.codebook) and torch.allclose(a.ema_counts, b.ema_counts)
    assert torch.allclose(out_a.loss, out_b.loss) and torch.allclose(out_a.perplexity, out_b.perplexity)
    assert a.codebook.abs().max() < 100
    assert a.stats() == b.stats()
    # A fully masked batch: zero loss, no NaN, codebook untouched.
    before = a.codebook.clone()
    out = a(z_garbage, torch.zeros(4, 30, dtype=torch.bool))
    assert float(out.loss) == 0.0 and torch.isfinite(out.quantized).all()
    assert torch.allclose(a.codebook, before, atol=1e-4)  # EMA only decays; no restart without data


def test_empty_batch_trains_without_error() -> None:
    for quantizer in (VectorQuantizer(8, 4, kmeans_init=True), ResidualVQ(2, 8, 4, quantizer_dropout=1.0), FSQ([3, 3])):
        z = torch.randn(0, 4 if not isinstance(quantizer, FSQ) else 2, requires_grad=True)
        out = quantizer(z)
        assert out.quantized.shape == z.shape and float(out.loss.detach()) == 0.0
        (out.quantized.sum() + out.loss).backward()


def test_input_errors_are_clear() -> None:
    vq = VectorQuantizer(8, 4)
    with pytest.raises(ValueError, match="channels last"):
        vq(torch.randn(2, 4, 10))
    with pytest.raises(ValueError, match="mask"):
        vq(torch.randn(2, 10, 4), torch.ones(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[0, 7\]"):
        vq.decode(torch.tensor([8]))


# ------------------------------------------------------------------------------- factorised and cosine
def test_factorised_lookup() -> None:
    torch.manual_seed(12)
    vq = VectorQuantizer(64, 32, codebook_dim=8, restart=False)
    z = torch.randn(5, 7, 32, requires_grad=True)
    out = vq(z)
    assert out.quantized.shape == (5, 7, 32) and vq.metric == "cosine"
    assert torch.allclose(vq.search_codebook().norm(dim=1), torch.ones(64))
    assert torch.allclose(vq.eval()(z).quantized, vq.decode(out.codes), atol=1e-6)
    (out.quantized.pow(2).sum() + out.loss).backward()
    assert vq.project_in.weight.grad.abs().sum() > 0 and vq.codebook.grad.abs().sum() > 0


def test_state_dict_round_trip_through_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    torch.manual_seed(13)
    vq = VectorQuantizer(32, 8, ema=True, kmeans_init=True)
    vq(torch.randn(64, 8))
    save_file(vq.state_dict(), tmp_path / "vq.safetensors")
    other = VectorQuantizer(32, 8, ema=True, kmeans_init=True)
    other.load_state_dict(load_file(tmp_path / "vq.safetensors"))
    z = torch.randn(100, 8)
    assert bool(other.initialized) and torch.equal(other.encode(z), vq.encode(z))
    assert other.stats() == vq.stats()


# ----------------------------------------------------------------------------------------- residual VQ
def _trained_rvq(**kw) -> tuple[ResidualVQ, torch.Tensor]:
    torch.manual_seed(14)
    rvq = ResidualVQ(4, 64, 8, kmeans_init=True, ema=True, **kw)
    data = torch.randn(2048, 8)
    for _ in range(3):
        rvq(data)
    return rvq.eval(), data


def test_residual_error_falls_stage_by_stage_and_prefixes_decode() -> None:
    rvq, data = _trained_rvq()
    codes = rvq.encode(data)
    assert codes.shape == (2048, 4)
    errors = [F.mse_loss(rvq.decode(codes[..., :n]), data).item() for n in range(1, 5)]
    assert all(b < a * 0.95 for a, b in itertools.pairwise(errors)), errors
    assert errors[0] < F.mse_loss(torch.zeros_like(data), data).item() * 0.7
    for n in (1, 2, 3):
        out = rvq(data, n_stages=n)
        assert out.codes.shape == (2048, n)
        assert torch.equal(out.codes, codes[..., :n])
        assert torch.allclose(out.quantized, rvq.decode(codes[..., :n]), atol=1e-6)
    assert rvq.bits_per_vector == 24.0 and rvq.stats()["bits_per_vector"] == 24.0


def test_residual_quantizer_dropout_trains_prefixes() -> None:
    torch.manual_seed(15)
    rvq = ResidualVQ(3, 16, 4, quantizer_dropout=1.0)
    z = torch.randn(64, 10, 4, requires_grad=True)
    out = rvq(z)
    n_active = (out.codes >= 0).sum(-1)  # (64, 10)
    # Each batch item uses one prefix for all its frames, and several bitrates occur in one batch.
    assert torch.all(n_active == n_active[:, :1]) and n_active.unique().numel() > 1
    # Dropped stages are a suffix: once a stage is -1, all later ones are too.
    assert torch.all((out.codes[..., 1:] >= 0) <= (out.codes[..., :-1] >= 0))
    assert torch.allclose(out.quantized, rvq.decode(out.codes), atol=1e-6)
    upstream = torch.randn_like(z)
    (out.quantized * upstream).sum().backward()
    assert torch.equal(z.grad, upstream)
    rvq.eval()
    assert (rvq(z).codes >= 0).all()


def test_two_stage_codec_case() -> None:
    rvq = ResidualVQ(2, [512, 256], 20)
    assert rvq.bits_per_vector == 17.0
    with pytest.raises(ValueError, match="codebook sizes"):
        ResidualVQ(2, [512], 20)


# --------------------------------------------------------------------------------------------------- FSQ
def test_fsq_round_trip_and_gradients() -> None:
    fsq = FSQ([8, 5, 5, 5])
    assert fsq.codebook_size == 1000 and math.isclose(fsq.bits_per_vector, math.log2(1000))
    every = torch.arange(1000)
    grid = fsq.decode(every)
    assert grid.abs().max() <= 1.0
    assert torch.equal(fsq.values_to_codes(grid), every)  # codes <-> grid points is a bijection
    assert torch.unique(grid, dim=0).shape[0] == 1000
    assert torch.equal(fsq.encode(grid * 3), fsq.values_to_codes(fsq(grid * 3).quantized))
    z = torch.randn(6, 9, 4, requires_grad=True) * 2
    z.retain_grad()
    out = fsq(z)
    assert torch.equal(out.quantized, fsq.decode(out.codes)) and float(out.loss) == 0.0
    out.quantized.sum().backward()
    assert z.grad.abs().sum() > 0


def test_fsq_with_projection_and_mask() -> None:
    torch.manual_seed(16)
    fsq = FSQ([4, 4, 4], dim=16)
    z = torch.randn(2, 5, 16)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0] = True
    out = fsq(z, mask)
    assert out.quantized.shape == (2, 5, 16) and out.codes.max() < 64
    assert torch.allclose(out.quantized, fsq.decode(out.codes), atol=1e-6)
    assert fsq.usage.histogram.sum() > 0 and fsq.usage.last_used[out.codes[1]].max() <= max(
        0, int(fsq.usage.last_used[out.codes[0]].max())
    )


def test_cosine_metric_and_eval_changes_no_state() -> None:
    torch.manual_seed(17)
    vq = VectorQuantizer(48, 12, metric="cosine", ema=True, kmeans_init=True, dead_after=1)
    z = torch.randn(300, 12) * 5
    vq(z)  # training step: k-means init on unit vectors
    assert torch.allclose(vq.codebook.norm(dim=1), torch.ones(48), atol=1e-5)
    vq.eval()
    state = {k: v.clone() for k, v in vq.state_dict().items()}
    out = vq(z)
    for k, v in vq.state_dict().items():
        assert torch.equal(v, state[k]), f"eval forward changed {k}"
    cos = F.normalize(z, dim=1) @ vq.codebook.t()
    assert torch.allclose(cos.gather(1, out.codes[:, None]).squeeze(1), cos.max(1).values, atol=1e-6)
    assert torch.allclose(out.quantized.norm(dim=1), torch.ones(300), atol=1e-5)
    assert torch.equal(vq.encode(z), out.codes)
