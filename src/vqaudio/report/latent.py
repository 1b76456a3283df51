"""The latent space of a model as a picture: a 2-D PCA histogram of what its encoder gives, codebook on top.

This is the Codec 2 experiments' picture (../shared/reference/codec2-amplitude-vq-experiments.txt: "a 2D histogram
of the encoder space, white dots are the stage 1 VQ entries", 16 dimensions reduced to 2 by PCA), one panel per
place a model quantizes:
- a residual VQ: stage k sees the residual the earlier stages left, so its panel is the PCA of those residuals
  with stage k's codebook (stage 1: the encoder output itself);
- a VQ per source (the separator): one panel per source;
- a continuous latent (VAE, Gaussian separator, a U-Net without a bottleneck): the PCA of the means, no codebook;
- FSQ: its input, without a codebook (the grid lives after a bounding tanh, in another space).

Vectors are caught on their way into the quantizer (forward pre-hooks), so the picture shows exactly what the
nearest-code search compared, whatever the model does around it; a cosine or factorised quantizer is shown in the
space it searches (normalised, projected).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vqaudio.quantize.fsq import FSQ
from vqaudio.quantize.residual import ResidualVQ
from vqaudio.quantize.vq import VectorQuantizer
from vqaudio.report.training import pyplot

__all__ = [
    "LatentFigure",
    "LatentPanel",
    "LatentSet",
    "collect_latents",
    "pca_2d",
    "plot_latent_space",
    "rate_k_set",
]

ENOUGH_VECTORS = 30_000  # per latent, for a dense histogram; more only costs time
MAX_VECTORS = 200_000  # per panel: PCA and the histogram stay fast on a long conv2d latent map
BINS = 64  # at most, per axis
VIEW_PERCENTILES = (0.1, 99.9)  # the histogram's view; a dead code far out must not squash the picture


@dataclass
class LatentSet:
    """The vectors one quantizer (stage) saw, (N, D), its codebook in the same space (K, D) or None, and a title."""

    title: str
    vectors: np.ndarray
    codebook: np.ndarray | None = None


@dataclass
class LatentPanel:
    """What one panel shows: its title, counts, the share of variance PC1 and PC2 explain, and the codebook's
    2-D coordinates (K, 2) (None without a codebook) and how many fall outside the view."""

    title: str
    n_vectors: int
    n_codes: int
    explained: tuple[float, float]
    codes_2d: np.ndarray | None
    codes_outside: int


@dataclass
class LatentFigure:
    path: Path
    panels: list[LatentPanel]


def collect_latents(model: nn.Module, inputs: Sequence[Tensor], enough: int = ENOUGH_VECTORS) -> list[LatentSet]:
    """Run `model` (eval, no gradients) on each of `inputs` (its input features, (..., F, N)) and return the latent
    vectors of every quantizer in it, or of its continuous latent; [] for a model with no latent to show. Inputs
    after the one that brings every latent to `enough` vectors are left out (a conv2d map has thousands per second)."""
    catches = _quantizer_catches(model)
    if not catches:
        catches = _continuous_catches(model)
    if not catches:
        return []
    store: dict[str, list[Tensor]] = {name: [] for name, *_ in catches}
    seen = [0]  # inputs run so far

    def caught() -> None:
        # every latent of this input is in: stop the forward pass (the decoders' work would be thrown away)
        if all(len(caught_vectors) >= seen[0] for caught_vectors in store.values()):
            raise _AllCaughtError

    handles = [hook(store[name], caught) for name, _, hook in catches]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x in inputs:
                if all(sum(len(v) for v in caught_vectors) >= enough for caught_vectors in store.values()):
                    break
                seen[0] += 1
                if catches[0][1] == "encode":  # a VAE: its encoder mean, without decoding
                    store[catches[0][0]].append(_channels_last(model.encode(x)))  # type: ignore[operator]
                    continue
                with contextlib.suppress(_AllCaughtError):
                    model(x)
    finally:
        for handle in handles:
            if handle is not None:
                handle.remove()
        model.train(was_training)
    sets = []
    for name, kind, _ in catches:
        vectors = torch.cat(store[name]).float().numpy() if store[name] else np.zeros((0, 1), np.float32)
        module = model.get_submodule(name) if name else model
        codebook = _codebook(module) if isinstance(module, VectorQuantizer) else None
        sets.append(LatentSet(_title(model, name, kind), vectors, codebook))
    return sets


def _quantizer_catches(model: nn.Module) -> list[tuple[str, str, Installer]]:
    """(module name, kind, hook installer) for each VectorQuantizer / FSQ: catches its input, channels last, in the
    space the quantizer searches."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, (VectorQuantizer, FSQ)):
            found.append((name, "fsq" if isinstance(module, FSQ) else "vq", _pre_hook(module)))
    return found


class _AllCaughtError(Exception):
    """Raised from a hook once every latent of the current input is caught."""


Installer = Callable[[list[Tensor], Callable[[], None]], "torch.utils.hooks.RemovableHandle | None"]


def _pre_hook(module: nn.Module) -> Installer:
    def install(store: list[Tensor], caught: Callable[[], None]) -> torch.utils.hooks.RemovableHandle:
        def catch(mod: nn.Module, args: tuple[Tensor, ...]) -> None:
            z = args[0].detach()
            flat = z.reshape(-1, z.shape[-1])
            # the search space: identity for plain L2; normalised / projected for cosine or factorised lookups
            to_space = getattr(mod, "_to_code_space", None)
            if isinstance(mod, VectorQuantizer) and to_space is not None:
                flat = to_space(flat)
            store.append(flat.float().cpu())
            caught()

        return module.register_forward_pre_hook(catch)

    return install


def _continuous_catches(model: nn.Module) -> list[tuple[str, str, Installer]]:
    """Continuous latents: the separator's per-source `to_latents` maps and the U-Net's `to_latent` (means: the first
    latent_dim channels of a Gaussian's), or a VAE's `encode`."""
    latent_dim = int(getattr(getattr(model, "config", None), "latent_dim", 0) or 0)
    maps = getattr(model, "to_latents", None)
    if isinstance(maps, nn.ModuleList):
        kind = "mean" if getattr(model.config, "latent", None) == "gaussian" else "latent"
        return [(f"to_latents.{i}", kind, _output_hook(m, latent_dim)) for i, m in enumerate(maps)]
    single = getattr(model, "to_latent", None)
    if isinstance(single, nn.Module):
        return [("to_latent", "latent", _output_hook(single, latent_dim))]
    if callable(getattr(model, "encode", None)) and not hasattr(model, "quantizer"):
        return [("", "encode", lambda store, caught: None)]
    return []


def _output_hook(module: nn.Module, latent_dim: int) -> Installer:
    def install(store: list[Tensor], caught: Callable[[], None]) -> torch.utils.hooks.RemovableHandle:
        def catch(mod: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            z = out.detach()[:, :latent_dim] if latent_dim else out.detach()  # Gaussian: (mu, logvar) -> mu
            store.append(_channels_last(z))
            caught()

        return module.register_forward_hook(catch)

    return install


def _channels_last(z: Tensor) -> Tensor:
    """(B, D, ...) map -> (B * ..., D) vectors."""
    return z.detach().movedim(1, -1).reshape(-1, z.shape[1]).float().cpu()


def _codebook(quantizer: VectorQuantizer) -> np.ndarray:
    """The codebook as the search sees it (unit rows for cosine), (K, code dim)."""
    with torch.no_grad():
        return quantizer.search_codebook().detach().float().cpu().numpy()


def _title(model: nn.Module, name: str, kind: str) -> str:
    """A panel title from where the latent sits: 'stage 2 of 4: residual after stage 1', 'vocals: mean', ..."""
    parts = name.split(".")
    parent = model.get_submodule(".".join(parts[:-2])) if len(parts) >= 2 else None
    if isinstance(parent, ResidualVQ) and parts[-2] == "stages":
        k = int(parts[-1])
        entering = "encoder output" if k == 0 else f"residual after stage {k}"
        return f"stage {k + 1} of {parent.n_stages}: {entering}"
    sources = list(getattr(getattr(model, "config", None), "sources", []) or [])
    if len(parts) == 2 and parts[0] in ("quantizers", "to_latents") and int(parts[1]) < len(sources):
        what = {"vq": "latent and codebook", "fsq": "FSQ input (grid not drawn)", "mean": "latent mean",
                "latent": "latent"}[kind]  # fmt: skip
        return f"{sources[int(parts[1])]}: {what}"
    return {
        "vq": "encoder output",
        "fsq": "encoder output (FSQ grid not drawn)",
        "latent": "encoder output (no quantizer)",
        "encode": "encoder mean (continuous latent)",
        "mean": "latent mean",
    }[kind]


def rate_k_set(model: nn.Module, inputs: Sequence[Tensor], repeat: int = 8) -> LatentSet:
    """For the envelope codec (models.envelope): its input rate-K vectors (one per 10 ms frame) with the first
    stage's codebook carried into the same space, each code decoded on its own (`repeat` latent frames of that one
    code, the middle output frame kept, so the conv decoder sees it with itself as context): the Codec 2 picture of
    the envelope space and its stage-1 entries, which the latent panels show only in the encoder's space."""
    cfg = model.config
    vectors = np.concatenate([x.reshape(-1, cfg.k, x.shape[-1])[0].T.numpy() for x in inputs])
    codes = torch.full((cfg.codebook_size, repeat, cfg.n_stages), -1, dtype=torch.long)
    codes[..., 0] = torch.arange(cfg.codebook_size)[:, None]
    with torch.inference_mode():
        decoded = model.decode(codes[..., :1])  # (K codes, k bands, frames)
    middle = decoded.shape[-1] // 2
    return LatentSet("rate-K vectors, stage-1 entries decoded", vectors[:MAX_VECTORS], decoded[..., middle].numpy())


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """(mean (D,), the first two principal axes (2, D), the share of the variance each explains) of (N, D) vectors.

    From the D x D covariance (N is large, D small). Axes are signed so their largest loading is positive (the
    same picture on every run); a 1-D latent gets a zero second axis.
    """
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / max(1, len(x) - 1)
    values, axes = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:2]
    components = axes[:, order].T
    if components.shape[0] < 2:
        components = np.vstack([components, np.zeros_like(components)])
        values = np.concatenate([values, [0.0]])
        order = np.array([0, len(values) - 1])
    signs = np.sign(components[np.arange(2), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = float(values.sum())
    explained = tuple(float(values[i]) / total if total > 0 else 0.0 for i in order)
    return mean, components, (explained[0], explained[1])


def plot_latent_space(sets: Sequence[LatentSet], out: str | Path, title: str = "") -> LatentFigure:
    """One panel per latent set: the 2-D histogram of its vectors on their first two principal components (fitted
    on them), its codebook projected the same way as white dots; written to the PNG `out`."""
    if not sets:
        raise ValueError("no latent sets to draw")
    plt = pyplot()
    from matplotlib.colors import LogNorm

    cols = min(len(sets), 4)
    rows = -(-len(sets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows), squeeze=False)
    panels = []
    rng = np.random.default_rng(0)
    for ax, latent in zip(axes.flat, sets, strict=False):
        vectors = latent.vectors
        if len(vectors) > MAX_VECTORS:
            vectors = vectors[rng.choice(len(vectors), MAX_VECTORS, replace=False)]
        if len(vectors) < 2:
            ax.text(0.5, 0.5, "too few vectors", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(latent.title, fontsize=9)
            panels.append(LatentPanel(latent.title, len(vectors), 0, (0.0, 0.0), None, 0))
            continue
        mean, components, explained = pca_2d(vectors)
        xy = (vectors - mean) @ components.T
        low, high = np.percentile(xy, VIEW_PERCENTILES, axis=0)
        pad = 0.08 * np.maximum(high - low, 1e-6)
        low, high = low - pad, high + pad
        bins = int(np.clip(np.sqrt(len(xy)) / 1.5, 16, BINS))  # a sparse latent (few frames) gets coarser bins
        ax.hist2d(xy[:, 0], xy[:, 1], bins=bins, range=[[low[0], high[0]], [low[1], high[1]]], cmap="viridis",
                  norm=LogNorm(), cmin=1)  # fmt: skip
        codes_2d, outside = None, 0
        if latent.codebook is not None and len(latent.codebook):
            codes_2d = (latent.codebook - mean) @ components.T
            inside = np.all((codes_2d >= low) & (codes_2d <= high), axis=1)
            outside = int((~inside).sum())
            ax.scatter(codes_2d[inside, 0], codes_2d[inside, 1], s=9, c="white", edgecolors="black", linewidths=0.4)
        n_codes = 0 if codes_2d is None else len(codes_2d)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_facecolor("#16002a")
        counts = f"{len(vectors)} vectors" + (f", {n_codes} codes" if n_codes else "")
        if outside:
            counts += f" ({outside} outside the view)"
        ax.set_title(f"{latent.title}\n{counts}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)", fontsize=8)
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
        panels.append(LatentPanel(latent.title, len(vectors), n_codes, explained, codes_2d, outside))
    for ax in list(axes.flat)[len(sets) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return LatentFigure(out, panels)
