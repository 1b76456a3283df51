"""A training run as one HTML page (RUN_DIR/report.html) with its pictures in RUN_DIR/report/.

The page links its PNGs by relative path, so it opens from disk (no server) and the run folder can be moved or
copied whole. Everything shown comes from the files `vqaudio train` writes: recipe.yaml, model_config.json,
best.safetensors (metadata only; no model is loaded) and logs/version_*/metrics.csv.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from vqaudio.report.curves import plot_loss_curves, read_training_log
from vqaudio.report.training import plot_codebook, plot_learning_rate, pyplot

__all__ = ["write_run_report"]

REPORT_PAGE = "report.html"
REPORT_DIR = "report"
BEST_WEIGHTS = "best.safetensors"
# metadata keys shown in the table, in this order; other val/* keys (the monitored value) follow them
META_KEYS = ("recipe", "task", "description", "epoch", "step", "val/loss", "saved_at", "training_data")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }}
.sub {{ color: #666; margin-top: 0; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; font-weight: 600; }}
pre {{ background: #f7f7f7; border: 1px solid #ddd; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 0.3em 0; }}
.none {{ color: #888; font-style: italic; }}
</style>
</head>
<body>
<h1>{name}</h1>
<p class="sub">{subtitle}</p>
{sections}
</body>
</html>
"""


def section_html(title: str, body: str) -> str:
    return f"<section>\n<h2>{escape(title)}</h2>\n{body}\n</section>"


def pre_html(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def missing_html(text: str) -> str:
    return f'<p class="none">{escape(text)}</p>'


def pairs_table(rows: list[tuple[str, Any]]) -> str:
    cells = "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(shown_value(v))}</td></tr>" for k, v in rows)
    return f"<table>\n{cells}\n</table>"


def shown_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def _image(out_dir: Path, path: Path | None, alt: str, missing: str) -> str:
    if path is None:
        return missing_html(missing)
    src = path.relative_to(out_dir).as_posix()
    return f'<img src="{escape(src, quote=True)}" alt="{escape(alt, quote=True)}">'


def check_run(run_dir: Path) -> None:
    if not run_dir.exists():
        raise FileNotFoundError(f"no such run folder: {run_dir}")
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a folder; give a run folder made by `vqaudio train` (e.g. runs/NAME)")
    if not any(run_dir.glob("logs/version_*/metrics.csv")):
        raise ValueError(f"{run_dir} is not a `vqaudio train` run folder: no logs/version_*/metrics.csv")


def read_recipe(run_dir: Path) -> tuple[str | None, dict[str, Any]]:
    path = run_dir / "recipe.yaml"
    if not path.is_file():
        return None, {}
    import yaml

    text = path.read_text()
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    return text, parsed if isinstance(parsed, dict) else {}


def read_best(run_dir: Path) -> dict[str, Any] | None:
    """The best weights' metadata, decoded; None when the run has saved none yet."""
    path = run_dir / BEST_WEIGHTS
    if not path.is_file():
        return None
    from vqaudio.models import decode_metadata_value, read_metadata

    return {k: decode_metadata_value(v) for k, v in read_metadata(path).items()}


def _meta_rows(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = [k for k in META_KEYS if k in meta]
    keys += sorted(k for k in meta if k.startswith("val/") and k not in keys)
    keys += [k for k in ("model_type", "vqaudio_version") if k in meta]
    return [(k, meta[k]) for k in keys]


def write_run_report(run_dir: str | Path, out: str | Path | None = None, examples: int = 3) -> Path:
    """Write RUN_DIR/report.html (or `out`) about a `vqaudio train` run folder, with its pictures (loss curves,
    learning rate, codebook usage and perplexity where logged; the latent space as PCA histograms with the codebook;
    spectrograms and clips of `examples` validation examples through the model; the envelope codec's rate-K pager)
    in a report/ folder beside the page; return the page's path. Pages and pictures are rewritten on each call.
    Where the recipe's data folders are not reachable, the page says so in place of the model's sections.

    Raises FileNotFoundError for a missing folder, ValueError for a folder that is not a run, and ImportError
    (naming 'vqaudio[eval]') without matplotlib.
    """
    run_dir = Path(run_dir)
    check_run(run_dir)
    pyplot()  # matplotlib is needed: say so before any work
    page = Path(out) if out is not None else run_dir / REPORT_PAGE
    pictures = page.parent / REPORT_DIR

    recipe_text, recipe = read_recipe(run_dir)
    meta = read_best(run_dir)
    name = str(recipe.get("name") or run_dir.resolve().name)
    model_type = (meta or {}).get("model_type") or recipe.get("model_type") or "unknown"
    task = (meta or {}).get("task") or recipe.get("task") or "unknown"
    series = read_training_log(run_dir)
    last_step = max((step for points in series.values() for step, _ in points), default=0)

    sections = [
        section_html(
            "Run",
            pairs_table([("name", name), ("folder", str(run_dir)), ("model type", model_type), ("task", task)])
            + (f"\n<p>{escape(recipe['description'])}</p>" if recipe.get("description") else ""),
        ),
        section_html(
            "Recipe", pre_html(recipe_text) if recipe_text is not None else missing_html("no recipe.yaml in the run")
        ),
    ]
    if meta is None:
        best = missing_html(f"no {BEST_WEIGHTS} yet (the run has not finished a validation)")
    else:
        best = pairs_table(_meta_rows(meta))
        if meta.get("training_summary"):
            best += "\n<h3>Training data</h3>\n" + pre_html(json.dumps(meta["training_summary"], indent=2))
    sections.append(section_html(f"Best weights ({BEST_WEIGHTS})", best))

    config = run_dir / "model_config.json"
    if config.is_file():
        sections.append(section_html("Model config", pre_html(config.read_text())))

    plots = [
        ("Loss", plot_loss_curves(run_dir, pictures / "loss_curves.png"), "loss curves", "no loss logged"),
        (
            "Learning rate",
            plot_learning_rate(run_dir, pictures / "learning_rate.png"),
            "learning rate",
            "no learning rate logged",
        ),
        (
            "Codebook",
            plot_codebook(run_dir, pictures / "codebook.png"),
            "codebook usage and perplexity",
            "no codebook usage or perplexity logged (not a VQ model)",
        ),
    ]
    for title, path, alt, missing in plots:
        sections.append(section_html(title, _image(page.parent, path, alt, missing)))
    from vqaudio.report.model_sections import model_sections  # loads the model and the validation audio

    for title, body in model_sections(run_dir, page.parent, pictures, recipe, task, examples=examples):
        sections.append(section_html(title, body))

    html = PAGE.format(
        title=escape(f"{name}: training report"),
        name=escape(name),
        subtitle=escape(f"{model_type} · {task} · {last_step} training steps logged"),
        sections="\n".join(sections),
    )
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html, encoding="utf-8")
    return page
