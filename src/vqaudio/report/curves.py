"""Training and validation loss curves of a run, from the CSV logs training writes (RUN_DIR/logs/version_*/)."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["plot_loss_curves", "read_training_log"]


def read_training_log(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{metric name: [(step, value)]} over every logs/version_*/metrics.csv of a run (a resumed run adds versions),
    sorted by step. Raises FileNotFoundError when the run has no CSV log."""
    logs = sorted(Path(run_dir).glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))
    if not logs:
        raise FileNotFoundError(f"{run_dir}: no logs/version_*/metrics.csv (is it a `vqaudio train` run folder?)")
    series: dict[str, list[tuple[int, float]]] = {}
    for log in logs:
        with log.open(newline="") as f:
            for row in csv.DictReader(f):
                step = int(row.get("step") or 0)
                for name, value in row.items():
                    if name in ("step", "epoch") or value in ("", None):
                        continue
                    series.setdefault(name, []).append((step, float(value)))
    return {name: sorted(points) for name, points in series.items()}


def plot_loss_curves(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw the run's training loss (per step and per epoch) and validation loss against training steps, and any
    other logged loss terms (train/recon, train/kl, ...) in a second panel; write a PNG (default
    RUN_DIR/loss_curves.png) and return its path. Needs matplotlib (pip install 'vqaudio[eval]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("loss curves need matplotlib: pip install 'vqaudio[eval]'") from err
    series = read_training_log(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / "loss_curves.png"
    fig, (ax_loss, ax_terms) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("train/loss_step", dict(alpha=0.3, lw=0.8)), ("train/loss_epoch", dict(lw=1.5))):
        if name in series:
            steps, values = zip(*series[name], strict=True)
            ax_loss.plot(steps, values, label=name, **style)
    if "val/loss" in series:
        steps, values = zip(*series["val/loss"], strict=True)
        ax_loss.plot(steps, values, "o-", label="val/loss", lw=1.5, ms=3)
    ax_loss.set(xlabel="training step", ylabel="loss", title=f"{Path(run_dir).name}: loss")
    ax_loss.legend(fontsize=8)
    # loss terms per epoch and their validation values (perplexity, in codes, would flatten the rest)
    terms = [n for n in series if n.endswith("_epoch") and n != "train/loss_epoch"]
    terms += [n for n in series if n.startswith("val/") and n != "val/loss"]
    terms = [n for n in terms if "perplexity" not in n]
    for name in terms:
        steps, values = zip(*series[name], strict=True)
        ax_terms.plot(steps, values, label=name, lw=1.2)
    ax_terms.set(xlabel="training step", title="loss terms and validation metrics")
    if terms:
        ax_terms.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
