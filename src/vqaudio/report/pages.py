"""Pieces shared by the benchmark and comparison pages: tables of rows, a page in the run report's look, and
figures drawn through a recorder that returns what was drawn (`Plot`, `Panel`), so callers and tests can check a
picture's content (its lines, points, boxes and markers, axis labels) without reading the PNG.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from vqaudio.report.html import PAGE, missing_html, pre_html, section_html, shown_value
from vqaudio.report.training import pyplot

__all__ = ["Canvas", "Panel", "Plot", "figure_html", "rows_table", "write_page"]

DPI = 100


@dataclass
class Panel:
    """What one set of axes shows: its labels, and every labelled thing drawn on it."""

    title: str
    xlabel: str
    ylabel: str
    lines: dict[str, int] = field(default_factory=dict)  # label: number of points on the line
    points: list[str] = field(default_factory=list)  # labelled single points
    boxes: dict[str, int] = field(default_factory=dict)  # label: number of values in the box
    levels: dict[str, float] = field(default_factory=dict)  # horizontal markers, label: height


@dataclass
class Plot:
    """A PNG written by a report function, with its caption and a `Panel` per set of axes."""

    path: Path
    caption: str
    panels: list[Panel]


class Canvas:
    """One set of matplotlib axes and the `Panel` that records what is drawn on it."""

    def __init__(self, ax: Any, title: str, xlabel: str, ylabel: str) -> None:
        self.ax = ax
        self.panel = Panel(title, xlabel, ylabel)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(True, alpha=0.3)

    def line(self, x: Sequence[float], y: Sequence[float], label: str, **style: Any) -> None:
        self.ax.plot(x, y, label=label, **style)
        self.panel.lines[label] = len(x)

    def point(self, x: float, y: float, label: str, legend: str | None = None, **style: Any) -> None:
        """A single point with its label written beside it; `legend` names it in the legend (once per family)."""
        self.ax.plot([x], [y], linestyle="none", label=legend or "_nolegend_", **style)
        self.ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        self.panel.points.append(label)

    def level(self, y: float, label: str, **style: Any) -> None:
        """A horizontal marker across the axes, in the legend as `label`."""
        self.ax.axhline(y, label=label, **{"lw": 1.2, **style})
        self.panel.levels[label] = float(y)

    def boxes(self, groups: dict[str, Sequence[float]], tick_labels: Sequence[str] | None = None) -> None:
        """One box (median, quartiles, 1.5 IQR whiskers, outliers) per group, left to right."""
        labels = list(groups)
        positions = list(range(1, len(labels) + 1))
        self.ax.boxplot([list(groups[k]) for k in labels], positions=positions, widths=0.5, showfliers=True)
        self.ax.set_xticks(positions, list(tick_labels or labels), fontsize=8)
        for label in labels:
            self.panel.boxes[label] = len(groups[label])


def save(fig: Any, out: str | Path, caption: str, drawn: Sequence[Canvas]) -> Plot:
    """Write `fig` to the PNG `out` (making its folder), close it, and return what it shows. The PNG holds a
    palette of 256 colours (a line plot needs no more; the file is a third of the size)."""
    from PIL import Image  # matplotlib's own dependency

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        # Pillow < 9.1 has the constants on Image itself
        method = getattr(Image, "Quantize", Image).MEDIANCUT
        palette = image.convert("RGB").quantize(colors=256, method=method, dither=getattr(Image, "Dither", Image).NONE)
    palette.save(out, format="PNG", optimize=True)
    return Plot(out, caption, [c.panel for c in drawn])


def rows_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of `rows` (dicts), one column per key in order of first appearance (or `columns`)."""
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _cell(value: Any) -> str:
    return "—" if value is None else escape(shown_value(value))


def figure_html(page_dir: Path, plot: Plot) -> str:
    """The PNG by its path relative to the page, with its caption under it."""
    src = plot.path.relative_to(page_dir).as_posix()
    return (
        f'<figure style="margin: 0.5em 0 1.5em">\n<img src="{escape(src, quote=True)}" alt="{escape(plot.caption)}">\n'
        f"<figcaption>{escape(plot.caption)}</figcaption>\n</figure>"
    )


def details(summary: str, body: str) -> str:
    return f"<details>\n<summary>{escape(summary)}</summary>\n{body}\n</details>"


def json_block(value: Any) -> str:
    return pre_html(json.dumps(value, indent=2))


def write_page(page: Path, title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write an HTML page (the run report's look) with `sections` as (heading, HTML body); return its path."""
    html = PAGE.format(
        title=escape(title),
        name=escape(title),
        subtitle=escape(subtitle),
        sections="\n".join(section_html(heading, body) for heading, body in sections),
    )
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html, encoding="utf-8")
    return page


def note(text: str) -> str:
    return missing_html(text)
