"""Speed and memory of vqaudio's VectorQuantizer against vector-quantize-pytorch's VectorQuantize.

    python benchmarks/quantize.py --json quantize.json [--device cpu|cuda] [--repeats 5] [--quick]

Both layers get the same job: one training step (forward + backward of sum(quantized * g) + loss) on an
(1, N, D) input with K codes, with matching settings and no extra features: EMA codebook (decay 0.99) or a
learned codebook, commitment weight 0.25, plain straight-through gradients (their rotation trick off), no
k-means init, no dead-code replacement. Times are the median of `--repeats` steps after one warm-up step,
ours and theirs interleaved (alternating which goes first) so that load from other processes hits both
alike; `speedup` = their median / our median.

Peak memory is the extra memory one step needs above the resident input, model and upstream gradient:
- cuda: torch.cuda.max_memory_allocated() minus the allocation before the step;
- cpu: the growth of the process's peak resident set (VmHWM, reset through /proc/self/clear_refs after
  malloc_trim so freed heap pages are given back first). It counts every page the step touches, ours and
  theirs alike (the outputs and gradients included), so it is an honest upper bound, not an estimate.
The last row is the large-batch check (N=262144, K=4096, D=64), ours only: a full fp32 distance matrix
would be 4096 MB (theirs also builds an int64 one-hot of the same shape), which this machine cannot spare.

CPU threads (both libraries): --threads, by default the cores that were idle when the run started
(os.cpu_count() minus the 1-minute load average, at least 1). On a machine shared with other jobs, more
OpenMP threads than idle cores make every parallel region wait for a descheduled thread: on the 2-core
box behind benchmarks/RESULTS.md (load ~2 from other jobs) a 2048x64 @ 64x512 matmul took 13 ms with 2
threads against 1.9 ms with 1, and both libraries slowed down 4-15x, so that run measured the scheduler.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from vqaudio.evaluation import machine_description
from vqaudio.quantize import VectorQuantizer
from vqaudio.quantize.distance import search_peak_bytes

SIZES_N = (4096, 65536)
SIZES_D = (64, 256)
SIZES_K = (512, 1024, 4096)
MEMORY_CHECK = (262144, 64, 4096)  # (N, D, K)
OURS, THEIRS = "vqaudio-vq", "vector-quantize-pytorch"


# ------------------------------------------------------------------------------------------------ memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_extra_mb(fn: Callable[[], object], device: torch.device) -> float:
    """Peak extra memory (MB) while `fn` runs (see the module docstring for how, per device)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    _trim()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_kb("VmRSS")
    fn()
    return (_status_kb("VmHWM") - before) / 1024


# ------------------------------------------------------------------------------------------------- steps
def make_ours(n_codes: int, dim: int, ema: bool, device: torch.device) -> torch.nn.Module:
    return VectorQuantizer(n_codes, dim, beta=0.25, ema=ema, decay=0.99, restart=False).to(device).train()


def make_theirs(n_codes: int, dim: int, ema: bool, device: torch.device) -> torch.nn.Module:
    from vector_quantize_pytorch import VectorQuantize

    return (
        VectorQuantize(
            dim=dim,
            codebook_size=n_codes,
            decay=0.99,
            commitment_weight=0.25,
            rotation_trick=False,
            kmeans_init=False,
            threshold_ema_dead_code=0,
            ema_update=ema,
            learnable_codebook=not ema,
        )
        .to(device)
        .train()
    )


def train_step(model: torch.nn.Module, z: torch.Tensor, upstream: torch.Tensor, ours: bool) -> None:
    z.grad = None
    for p in model.parameters():
        p.grad = None
    if ours:
        out = model(z)
        quantized, loss = out.quantized, out.loss
    else:
        quantized, _, loss = model(z)
    (quantized * upstream).sum().add(loss).backward()


def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000


def compare(n: int, dim: int, n_codes: int, ema: bool, repeats: int, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    z = torch.randn(1, n, dim, device=device, requires_grad=True)
    upstream = torch.randn(1, n, dim, device=device)
    ours, theirs = make_ours(n_codes, dim, ema, device), make_theirs(n_codes, dim, ema, device)
    with torch.no_grad():  # same codebook, spread like the data, so both do the same assignments
        ours.codebook.copy_(torch.randn(n_codes, dim, device=device))
        theirs._codebook.embed.copy_(ours.codebook[None])
        if ema:
            ours.ema_sums.copy_(ours.codebook)
            theirs._codebook.embed_avg.copy_(ours.codebook[None])
    steps = {
        OURS: lambda: train_step(ours, z, upstream, True),
        THEIRS: lambda: train_step(theirs, z, upstream, False),
    }
    for fn in steps.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {OURS: [], THEIRS: []}
    for r in range(repeats):
        order = (OURS, THEIRS) if r % 2 == 0 else (THEIRS, OURS)
        for name in order:
            times[name].append(timed(steps[name], device))
    peaks = {name: peak_extra_mb(fn, device) for name, fn in steps.items()}
    med = {name: statistics.median(v) for name, v in times.items()}
    mode = "ema" if ema else "learned"
    base = {"mode": mode, "n": n, "d": dim, "k": n_codes}
    return [
        {"system": OURS, **base, "time_ms": round(med[OURS], 2), "peak_mb": round(peaks[OURS], 1),
         "speedup": round(med[THEIRS] / med[OURS], 2)},
        {"system": THEIRS, **base, "time_ms": round(med[THEIRS], 2), "peak_mb": round(peaks[THEIRS], 1)},
    ]  # fmt: skip


def memory_check(ema: bool, device: torch.device) -> dict:
    n, dim, n_codes = MEMORY_CHECK
    torch.manual_seed(0)
    z = torch.randn(1, n, dim, device=device, requires_grad=True)
    upstream = torch.randn(1, n, dim, device=device)
    ours = make_ours(n_codes, dim, ema, device)
    with torch.no_grad():
        ours.codebook.copy_(torch.randn(n_codes, dim, device=device))
        if ema:
            ours.ema_sums.copy_(ours.codebook)
    train_step(ours, z, upstream, True)
    t = timed(lambda: train_step(ours, z, upstream, True), device)
    peak = peak_extra_mb(lambda: train_step(ours, z, upstream, True), device)
    return {
        "system": OURS,
        "mode": "ema" if ema else "learned",
        "n": n,
        "d": dim,
        "k": n_codes,
        "time_ms": round(t, 2),
        "peak_mb": round(peak, 1),
        "search_bound_mb": round(search_peak_bytes(n, n_codes, dim, device) / 2**20, 1),
        "full_matrix_mb": n * n_codes * 4 / 2**20,
        "check": "memory",
    }


# -------------------------------------------------------------------------------------------------- main
def idle_cores() -> int:
    """Cores not busy with other work right now (see the module docstring)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, cores - round(load)))


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return machine_description()


def markdown(rows: list[dict]) -> str:
    header = (
        "| mode | N | D | K | vqaudio ms | vector-quantize-pytorch ms | speedup | vqaudio peak MB | theirs peak MB |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    theirs = {(r["mode"], r["n"], r["d"], r["k"]): r for r in rows if r["system"] == THEIRS}
    for r in rows:
        if r["system"] != OURS:
            continue
        t = theirs.get((r["mode"], r["n"], r["d"], r["k"]))
        if t is None:
            lines.append(
                f"| {r['mode']} | {r['n']} | {r['d']} | {r['k']} | {r['time_ms']:.1f} | not run | - | "
                f"{r['peak_mb']:.0f} | (full matrix {r['full_matrix_mb']:.0f}) |"
            )
        else:
            lines.append(
                f"| {r['mode']} | {r['n']} | {r['d']} | {r['k']} | {r['time_ms']:.1f} | {t['time_ms']:.1f} | "
                f"{r['speedup']:.2f}x | {r['peak_mb']:.0f} | {t['peak_mb']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per system and size (median)")
    parser.add_argument("--quick", action="store_true", help="N=4096 only, 3 repeats, no large-batch check")
    parser.add_argument("--modes", default="ema,learned", help="comma-separated: ema, learned")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: idle cores)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.device == "cpu" and not Path("/proc/self/clear_refs").exists():
        parser.error("CPU peak memory is read from /proc/self (Linux only)")
    try:
        import vector_quantize_pytorch  # noqa: F401
    except ImportError:
        parser.error("needs vector-quantize-pytorch (pip install -e '.[dev]')")
    torch.set_num_threads(args.threads if args.threads > 0 else idle_cores())
    device = torch.device(args.device)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in ("ema", "learned") for m in modes):
        parser.error(f"--modes takes ema and/or learned, got {args.modes!r}")
    sizes_n = SIZES_N[:1] if args.quick else SIZES_N
    repeats = 3 if args.quick else args.repeats
    rows: list[dict] = []
    for mode in modes:
        for n in sizes_n:
            for dim in SIZES_D:
                for n_codes in SIZES_K:
                    new = compare(n, dim, n_codes, mode == "ema", repeats, device)
                    rows.extend(new)
                    ours, theirs = new[0]["time_ms"], new[1]["time_ms"]
                    line = f"{mode:7s} N={n:6d} D={dim:3d} K={n_codes:4d}: ours {ours:9.1f} ms"
                    line += f", theirs {theirs:9.1f} ms"
                    print(f"{line}, {new[0]['speedup']:.2f}x", file=sys.stderr)
    if not args.quick:
        for mode in modes:
            rows.append(memory_check(mode == "ema", device))
    result = {
        "benchmark": "quantize",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(device),
        "rows": rows,
    }
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
