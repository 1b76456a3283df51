"""Learning rate and codebook use of a run over training steps, from its CSV logs (RUN_DIR/logs/version_*/).

Each function draws only the panels its run logged and returns None, writing nothing, when there is nothing to draw
(a VAE has no codebook; a run without a learning-rate monitor has no `lr-AdamW` column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vqaudio.report.curves import read_training_log

__all__ = ["plot_codebook", "plot_learning_rate", "pyplot"]

LEARNING_RATE = "lr-AdamW"
CODEBOOK_USAGE = ("codebook/usage",)
PERPLEXITY = ("codebook/perplexity", "train/perplexity_epoch", "val/perplexity")


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend; ImportError naming the extra when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("run reports need matplotlib: pip install 'vqaudio[eval]'") from err
    return plt


def _save(fig: Any, out: Path) -> Path:
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    pyplot().close(fig)
    return out


def plot_learning_rate(run_dir: str | Path, out: str | Path) -> Path | None:
    """The learning rate (`lr-AdamW`) against training steps, to the PNG `out`; None when the run logged none."""
    points = read_training_log(run_dir).get(LEARNING_RATE)
    if not points:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps, values = zip(*points, strict=True)
    ax.plot(steps, values, lw=1.5)
    ax.set(xlabel="training step", ylabel="learning rate", title=f"{Path(run_dir).name}: learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    return _save(fig, Path(out))


def plot_codebook(run_dir: str | Path, out: str | Path) -> Path | None:
    """Codebook usage (fraction of codes used) and perplexity (train per step and epoch, validation) against
    training steps, one panel each for what the run logged, to the PNG `out`; None for a run with neither (a VAE)."""
    series = read_training_log(run_dir)
    panels = [
        (title, ylabel, [name for name in names if series.get(name)])
        for title, ylabel, names in (
            ("codebook usage", "fraction of codes used", CODEBOOK_USAGE),
            ("codebook perplexity", "perplexity (codes)", PERPLEXITY),
        )
    ]
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.5), squeeze=False)
    for ax, (title, ylabel, names) in zip(axes[0], panels, strict=True):
        for name in names:
            steps, values = zip(*series[name], strict=True)
            style = dict(marker="o", ms=3) if name.startswith("val/") or name.endswith("_epoch") else dict(alpha=0.8)
            ax.plot(steps, values, label=name, lw=1.2, **style)
        ax.set(xlabel="training step", ylabel=ylabel, title=f"{Path(run_dir).name}: {title}")
        ax.legend(fontsize=8)
    return _save(fig, Path(out))
