"""Two training runs side by side (`vqaudio report --compare RUN_A RUN_B`): one page with their final and best
validation figures in one table, their loss curves on the same axes and what differs between their recipes and
model configs.

Everything comes from the files `vqaudio train` writes, read as the run report reads them (report/html.py,
report/curves.py); no model is loaded. The page (index.html) and its PNGs go in one folder, by default
`compare-A-vs-B/` in the current folder, linked by relative path so it opens from disk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from vqaudio.report.curves import read_training_log
from vqaudio.report.html import BEST_WEIGHTS, check_run, pre_html, read_best, read_recipe
from vqaudio.report.pages import Canvas, Plot, details, figure_html, note, rows_table, save, write_page
from vqaudio.report.training import pyplot

__all__ = ["Run", "compare_runs", "config_differences", "plot_comparison", "read_run", "validation_table"]

PAGE_NAME = "index.html"
COLORS = ("tab:blue", "tab:orange")
WIDTHS = (2.6, 1.3)  # the first run drawn wider, so it shows where the second one lies on top of it
# validation figures where higher is better; every other one (losses, distortions) is better lower
HIGHER_IS_BETTER = ("pesq", "stoi", "sdr", "sir", "sar", "snr", "perplexity", "usage", "accuracy")
MAX_METRIC_PANELS = 6


@dataclass
class Run:
    """What the comparison shows of one run folder."""

    folder: Path
    label: str
    recipe_text: str | None
    recipe: dict[str, Any]
    model_config: dict[str, Any]
    best: dict[str, Any] | None
    series: dict[str, list[tuple[int, float]]]


def read_run(folder: str | Path, label: str | None = None) -> Run:
    """A run folder's recipe, model config, best weights' metadata and CSV log. FileNotFoundError for a missing
    folder, ValueError for one that is not a `vqaudio train` run."""
    folder = Path(folder)
    check_run(folder)
    text, recipe = read_recipe(folder)
    config_path = folder / "model_config.json"
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    except json.JSONDecodeError:
        config = {}
    return Run(
        folder=folder,
        label=label or str(recipe.get("name") or folder.resolve().name),
        recipe_text=text,
        recipe=recipe,
        model_config=config if isinstance(config, dict) else {},
        best=read_best(folder),
        series=read_training_log(folder),
    )


def _labels(a: Path, b: Path) -> tuple[str, str]:
    """Short names for the two runs: their folder names, with parents (or A/B) where those are the same."""
    a, b = a.resolve(), b.resolve()
    if a.name != b.name:
        return a.name, b.name
    if a.parent.name != b.parent.name:
        return f"{a.parent.name}/{a.name}", f"{b.parent.name}/{b.name}"
    return f"{a.name} (A)", f"{b.name} (B)"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], int]:
    """The (dotted key, value in a, value in b) of every setting that differs between two nested configs (a
    setting only one has shows as missing in the other), and the number of settings they share unchanged."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = list(dict.fromkeys([*flat_a, *flat_b]))
    missing = object()
    differ = []
    for key in keys:
        value_a, value_b = flat_a.get(key, missing), flat_b.get(key, missing)
        if value_a != value_b:
            differ.append((key, None if value_a is missing else value_a, None if value_b is missing else value_b))
    return differ, len(keys) - len(differ)


def _higher_is_better(metric: str) -> bool:
    name = metric.lower()
    return "loss" not in name and any(word in name for word in HIGHER_IS_BETTER)


def _validation_metrics(runs: Sequence[Run]) -> list[str]:
    names = list(dict.fromkeys(n for run in runs for n in run.series if n.startswith("val/")))
    return sorted(names, key=lambda n: (n != "val/loss", n))


def validation_table(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """A row per validation figure either run logged: its final and best value in each run (best = lowest, or
    highest for scores such as PESQ, STOI, SI-SDR, perplexity) and which run's best is better."""
    rows = []
    for metric in _validation_metrics(runs):
        higher = _higher_is_better(metric)
        row: dict[str, Any] = {"figure": metric, "better": "higher" if higher else "lower"}
        bests = []
        for run in runs:
            values = [v for _, v in run.series.get(metric, [])]
            best = (max if higher else min)(values) if values else None
            row[f"{run.label} final"] = values[-1] if values else None
            row[f"{run.label} best"] = best
            bests.append(best)
        known = [(b, run.label) for b, run in zip(bests, runs, strict=True) if b is not None]
        if len(known) == len(runs) and len({b for b, _ in known}) > 1:
            row["best run"] = (max if higher else min)(known)[1]
        else:
            row["best run"] = "tie" if len(known) == len(runs) else None
        rows.append(row)
    return rows


def _train_loss(run: Run) -> tuple[str, list[tuple[int, float]]] | None:
    for name in ("train/loss_epoch", "train/loss_step"):
        if run.series.get(name):
            return name, run.series[name]
    return None


def plot_comparison(runs: Sequence[Run], out: str | Path) -> Plot:
    """Both runs' losses on the same axes (train and validation loss against training steps, a colour per run),
    then a panel per other validation figure both logged (up to six), to the PNG `out`."""
    shared = [m for m in _validation_metrics(runs) if m != "val/loss" and all(run.series.get(m) for run in runs)]
    shared = shared[:MAX_METRIC_PANELS]
    panels = 1 + len(shared)
    columns = min(panels, 3)
    grid = -(-panels // columns)
    plt = pyplot()
    fig, axes = plt.subplots(
        grid, columns, figsize=(5.2 * columns, 3.8 * grid + 0.6), squeeze=False, layout="constrained"
    )
    cells = list(axes.flat)
    drawn = [Canvas(cells[0], "loss", "training step", "loss")]
    for run, color, width in zip(runs, COLORS, WIDTHS, strict=False):
        train = _train_loss(run)
        if train:
            steps, values = zip(*train[1], strict=True)
            drawn[0].line(steps, values, f"{run.label}: {train[0]}", color=color, lw=width, alpha=0.8)
        if run.series.get("val/loss"):
            steps, values = zip(*run.series["val/loss"], strict=True)
            style = {"color": color, "ls": "--", "marker": "o", "ms": 2 + width, "lw": width}
            drawn[0].line(steps, values, f"{run.label}: val/loss", **style)
    drawn[0].ax.legend(fontsize=7)
    for ax, metric in zip(cells[1:], shared, strict=False):
        canvas = Canvas(ax, metric, "training step", metric.removeprefix("val/"))
        for run, color, width in zip(runs, COLORS, WIDTHS, strict=False):
            steps, values = zip(*run.series[metric], strict=True)
            canvas.line(steps, values, run.label, color=color, marker="o", ms=2 + width, lw=width)
        ax.legend(fontsize=7)
        drawn.append(canvas)
    for ax in cells[panels:]:
        ax.set_visible(False)
    caption = "Training and validation loss of both runs on the same axes"
    if shared:
        caption += ", then every other validation figure both logged"
    return save(fig, out, caption, drawn)


def _differences_html(title: str, a: dict[str, Any], b: dict[str, Any], runs: Sequence[Run]) -> str:
    if not a and not b:
        return note(f"neither run has a {title}")
    differ, same = config_differences(a, b)
    rows = [{"setting": key, runs[0].label: va, runs[1].label: vb} for key, va, vb in differ]
    summary = f"<p>{len(differ)} settings differ, {same} are the same.</p>"
    return summary + ("\n" + rows_table(rows) if rows else "")


def _side_by_side(runs: Sequence[Run], texts: Sequence[str]) -> str:
    cells = "".join(
        f'<div style="flex: 1; min-width: 0"><h3>{escape(run.label)}</h3>\n{text}</div>'
        for run, text in zip(runs, texts, strict=True)
    )
    return f'<div style="display: flex; gap: 1em">{cells}</div>'


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Write a page comparing two `vqaudio train` run folders: index.html and its PNG in the folder `out`
    (default ./compare-A-vs-B); return the page's path. FileNotFoundError for a missing folder, ValueError for one
    that is not a run, ImportError (naming 'vqaudio[eval]') without matplotlib."""
    labels = _labels(Path(run_a), Path(run_b))
    runs = [read_run(run_a, labels[0]), read_run(run_b, labels[1])]
    pyplot()
    folder = (
        Path(out) if out is not None else Path(f"compare-{Path(run_a).resolve().name}-vs-{Path(run_b).resolve().name}")
    )
    plot = plot_comparison(runs, folder / "losses.png")

    overview = []
    for key, get in (
        ("name", lambda r: r.recipe.get("name")),
        ("folder", lambda r: str(r.folder)),
        ("model type", lambda r: (r.best or {}).get("model_type") or r.recipe.get("model_type")),
        ("task", lambda r: (r.best or {}).get("task") or r.recipe.get("task")),
        ("steps logged", lambda r: max((s for p in r.series.values() for s, _ in p), default=0)),
        ("best weights: epoch", lambda r: (r.best or {}).get("epoch")),
        ("best weights: step", lambda r: (r.best or {}).get("step")),
        ("best weights: val/loss", lambda r: (r.best or {}).get("val/loss")),
    ):
        overview.append({"": key, **{run.label: get(run) for run in runs}})
    table = validation_table(runs)
    sections = [
        ("Runs", rows_table(overview)),
        (
            "Validation figures (final and best over training)",
            (
                "<p>final: the last validation; best: the lowest over training, or the highest for scores "
                "(PESQ, STOI, SDR, SNR, perplexity, codebook usage).</p>\n" + rows_table(table)
            )
            if table
            else note("neither run logged a validation figure"),
        ),
        ("Losses", figure_html(folder, plot)),
        ("Recipe differences (recipe.yaml)", _differences_html("recipe.yaml", *(r.recipe for r in runs), runs)),
        (
            "Model config differences (model_config.json)",
            _differences_html("model_config.json", *(r.model_config for r in runs), runs),
        ),
        (
            "Recipes",
            details(
                "both recipes in full",
                _side_by_side(
                    runs,
                    [pre_html(r.recipe_text) if r.recipe_text is not None else note("no recipe.yaml") for r in runs],
                ),
            ),
        ),
    ]
    if any(r.best is None for r in runs):
        sections.insert(1, ("Note", note(f"a run without {BEST_WEIGHTS} has not finished a validation yet")))
    title = f"Runs compared: {runs[0].label} vs {runs[1].label}"
    return write_page(folder / PAGE_NAME, title, f"{runs[0].folder} · {runs[1].folder}", sections)
