"""A benchmark's JSON report (what `benchmarks/*.py --json` writes) as a page: its rows as a table, and pictures
chosen by the benchmark's name.

- codec: rate-distortion, PESQ-NB and STOI against the measured bitrate: each vqaudio ladder (`vqaudio-RATE`,
  `vqaudio-RATE-SUFFIX`) as a line, Codec 2 and Opus (every other row) as labelled points on the same axes;
- denoise: PESQ (NB, and WB where scored), STOI and SI-SDR against the input SNR, one line per system (the noisy
  input, every baseline, the oracle and each vqaudio model), a figure per kind of noise;
- separate: NSDR per clip as a box per system, vocals and accompaniment, with the oracle's GNSDR and the published
  numbers as horizontal markers (boxes need the per-clip `clips` list the separation benchmark writes);
- quantize: time and peak memory of one training step against the codebook size, vqaudio's quantizer against
  vector-quantize-pytorch;
- any other benchmark: the table alone.

The page (index.html) and its PNGs go in one folder, by default `<stem>-report/` beside the JSON; the page links
its pictures by relative path, so the folder opens from disk and can be moved whole. The plot functions return a
`Plot` saying what they drew.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from html import escape
from pathlib import Path
from typing import Any

from vqaudio.report.html import pairs_table
from vqaudio.report.pages import Canvas, Plot, details, figure_html, json_block, note, rows_table, save, write_page
from vqaudio.report.training import pyplot

__all__ = [
    "PLOTTED_BENCHMARKS",
    "benchmark_plots",
    "plot_codec",
    "plot_denoise",
    "plot_quantize",
    "plot_separate",
    "read_benchmark",
    "write_benchmark_report",
]

PAGE_NAME = "index.html"
LAYOUT = '{"benchmark": NAME, "rows": [{"system": ..., ...}, ...], ...}'
# one vqaudio codec rung: vqaudio-RATE, or vqaudio-RATE-SUFFIX for a variant of the ladder (pf0, truephase, ...)
RUNG = re.compile(r"vqaudio-(\d+(?:\.\d+)?)(?:-(.+))?")
FAMILIES = {"codec2": ("Codec 2", "tab:red", "s"), "opus": ("Opus", "tab:green", "^")}
OTHER_FAMILY = ("other", "tab:gray", "x")
OURS = ("tab:blue", "tab:purple", "tab:orange", "tab:cyan", "tab:brown", "tab:pink", "tab:olive")
BASELINES = ("tab:red", "tab:green", "tab:olive", "tab:brown", "tab:pink", "tab:cyan", "tab:orange")
DENOISE_METRICS = {"pesq_nb": "PESQ-NB", "pesq_wb": "PESQ-WB", "stoi": "STOI", "si_sdr": "SI-SDR (dB)"}
NOISE_NAMES = {"real": "recorded noise", "gaussian": "white Gaussian noise"}
SOURCES = ("vocals", "accompaniment")
QUANTIZE_FIGURES = {"time_ms": "time per training step (ms)", "peak_mb": "peak extra memory per step (MB)"}
ABOUT = {
    "codec": "Speech coding at each bitrate: vqaudio's ladder against the Codec 2 and Opus tools, scored with PESQ-NB "
    "and STOI on the same utterances; bitrates are measured (bits written / audio duration, header excluded).",
    "denoise": "Speech mixed with noise at each input SNR, cleaned by every system; means over utterances of PESQ, "
    "STOI and SI-SDR (the noisy row is the unprocessed input, oracle-irm the ceiling of magnitude masking).",
    "separate": "Singing-voice separation: NSDR per clip (SDR gain over the mixture, dB) of each system; GNSDR is its "
    "length-weighted mean over clips.",
    "quantize": "One training step of vqaudio's vector quantizer against vector-quantize-pytorch's, same job and "
    "settings; medians over repeats.",
}


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_benchmark(path: str | Path) -> dict[str, Any]:
    """The report in a benchmark JSON file. FileNotFoundError for a missing file; ValueError, saying what is wrong,
    for a folder, a file that is not JSON, or JSON without a "benchmark" name and a "rows" list of objects."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such benchmark JSON: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; give a benchmark JSON written by a benchmarks/*.py script's --json")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a benchmark report: not JSON ({err})") from None
    if not isinstance(report, dict):
        problem = "the JSON is not an object"
    elif not isinstance(report.get("benchmark"), str) or not report["benchmark"]:
        problem = 'no "benchmark" name'
    elif not isinstance(report.get("rows"), list) or not all(isinstance(r, dict) for r in report["rows"]):
        problem = 'no "rows" list of objects'
    else:
        return report
    raise ValueError(
        f"{path} is not a benchmark report: {problem} (expected {LAYOUT}, as benchmarks/*.py --json write)"
    )


def write_benchmark_report(json_path: str | Path, out: str | Path | None = None) -> Path:
    """Write a page about the benchmark JSON `json_path`: index.html and its PNGs in the folder `out` (default
    `<stem>-report/` beside the JSON); return the page's path. Raises as `read_benchmark` does, and ImportError
    (naming 'vqaudio[eval]') without matplotlib."""
    json_path = Path(json_path)
    report = read_benchmark(json_path)
    pyplot()  # matplotlib is needed: say so before any work
    folder = Path(out) if out is not None else json_path.parent / f"{json_path.stem}-report"
    name = report["benchmark"]
    rows = report["rows"]
    plots = benchmark_plots(report, folder)

    sections = []
    about = ABOUT.get(name, "")
    if name not in PLOTTED_BENCHMARKS:
        about += (
            f" No pictures for a {name!r} benchmark (they are drawn for {', '.join(PLOTTED_BENCHMARKS)}): "
            "the table below holds every row."
        )
    sections.append(("About", f"<p>{escape(about.strip())}</p>" if about else ""))
    if name in PLOTTED_BENCHMARKS:
        body = "\n".join(figure_html(folder, plot) for plot in plots)
        sections.append(("Figures", body or note("nothing to plot: the rows lack the figures these plots need")))
    sections.append((f"Results ({len(rows)} rows)", _results_table(rows)))
    sections.append(("Run details", _details(report)))
    subtitle = " · ".join(str(v) for v in (json_path.name, report.get("date"), report.get("machine")) if v)
    return write_page(folder / PAGE_NAME, f"Benchmark: {name}", subtitle, sections)


def benchmark_plots(report: dict[str, Any], folder: str | Path) -> list[Plot]:
    """Every picture for the report's benchmark, written into `folder`; [] for a benchmark with none."""
    plotter = PLOTTERS.get(report["benchmark"])
    return [] if plotter is None else plotter(report, Path(folder))


def _results_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a table; breakdowns a row carries as objects (per_speaker, per_corpus: a mean per group) would be
    a cell of JSON each, so they are left to the JSON file and named under the table."""
    if not rows:
        return note("no rows")
    grouped = sorted({k for r in rows for k, v in r.items() if isinstance(v, dict)})
    table = rows_table([{k: v for k, v in r.items() if k not in grouped} for r in rows])
    return table + (note(f"Per-group means ({', '.join(grouped)}) are in the JSON file.") if grouped else "")


def _details(report: dict[str, Any]) -> str:
    """The report's other fields: plain values in a table, lists of rows as tables and objects as JSON, folded."""
    extra = {k: v for k, v in report.items() if k not in ("benchmark", "rows")}
    plain = [(k, v) for k, v in extra.items() if not isinstance(v, dict) and not _row_list(v)]
    parts = [pairs_table(plain)] if plain else []
    for key, value in extra.items():
        if isinstance(value, dict):
            parts.append(details(key, json_block(value)))
        elif _row_list(value):
            parts.append(details(f"{key} ({len(value)} rows)", rows_table(value)))
    return "\n".join(parts) or note("none")


def _row_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


# --- codec ---------------------------------------------------------------------------------------------------------


def _ladders(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """vqaudio rungs grouped by ladder suffix ('' for the plain `vqaudio-RATE` rows), and every other row."""
    ladders: dict[str, list[dict[str, Any]]] = {}
    others = []
    for row in rows:
        match = RUNG.fullmatch(str(row.get("system", "")))
        if match:
            ladders.setdefault(match.group(2) or "", []).append(row)
        else:
            others.append(row)
    return ladders, others


def _ladder_label(suffix: str, rows: Sequence[dict[str, Any]]) -> str:
    postfilters = {row.get("postfilter") for row in rows}
    postfilter = next(iter(postfilters)) if len(postfilters) == 1 else None
    if not _num(postfilter):
        return "vqaudio" + (f"-{suffix}" if suffix else "")
    name = "vqaudio" if not suffix or re.fullmatch(r"pf\d+(\.\d+)?", suffix) else f"vqaudio-{suffix}"
    return f"{name} (postfilter {postfilter:g})"


def _bitrate_axis(ax: Any, bitrates: Sequence[float]) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    low, high = min(bitrates), max(bitrates)
    ax.set_xlim(low / 1.25, high * 1.3)
    ticks = [t for t in (250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000) if low / 1.25 <= t <= high * 1.3]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_codec(report: dict[str, Any], out: str | Path, ladders: Collection[str] | None = None) -> Plot | None:
    """PESQ-NB and STOI against the measured bitrate, one panel each, to the PNG `out`: every vqaudio ladder (or
    those whose suffix is in `ladders`, '' for the plain `vqaudio-RATE` rows) as a line, other systems (Codec 2,
    Opus) as labelled points. None when no row has a bitrate and a score."""
    rows = [r for r in report["rows"] if _num(r.get("bitrate"))]
    metrics = [
        (m, label) for m, label in (("pesq_nb", "PESQ-NB"), ("stoi", "STOI")) if any(_num(r.get(m)) for r in rows)
    ]
    if not metrics:
        return None
    groups, others = _ladders(rows)
    if ladders is not None:
        groups = {suffix: group for suffix, group in groups.items() if suffix in ladders}
    labels = {suffix: _ladder_label(suffix, group) for suffix, group in groups.items()}
    if len(set(labels.values())) < len(labels):  # two ladders would read the same: name them by suffix
        labels = {suffix: "vqaudio" + (f"-{suffix}" if suffix else "") for suffix in groups}
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 4.3), squeeze=False)
    drawn = []
    for ax, (metric, label) in zip(axes[0], metrics, strict=True):
        canvas = Canvas(ax, f"{label} against bitrate", "bitrate (bit/s, measured)", label)
        bitrates = []
        for i, (suffix, group) in enumerate(groups.items()):
            points = sorted((r["bitrate"], r[metric]) for r in group if _num(r.get(metric)))
            if points:
                x, y = zip(*points, strict=True)
                style = {"lw": 2.2 if suffix == "" else 1.4, "ls": "-" if suffix == "" else "--"}
                canvas.line(x, y, labels[suffix], marker="o", ms=4, color=OURS[i % len(OURS)], **style)
                bitrates += x
        shown: set[str] = set()
        for row in others:
            if not _num(row.get(metric)):
                continue
            family = str(row.get("system", "")).split("-")[0]
            legend, color, marker = FAMILIES.get(family, OTHER_FAMILY)
            canvas.point(
                row["bitrate"],
                row[metric],
                str(row.get("system", "?")),
                legend=None if legend in shown else legend,
                color=color,
                marker=marker,
                ms=6,
            )
            shown.add(legend)
            bitrates.append(row["bitrate"])
        if bitrates:
            _bitrate_axis(ax, bitrates)
        ax.margins(y=0.08)
        ax.legend(fontsize=8, loc="lower right")
        drawn.append(canvas)
    caption = (
        "Rate-distortion: PESQ-NB and STOI against the measured bitrate (log scale); "
        "lines: vqaudio's bitrate ladder, points: the baselines at their own bitrates"
    )
    return save(fig, out, caption, drawn)


def _codec_plots(report: dict[str, Any], folder: Path) -> list[Plot]:
    plot = plot_codec(report, folder / "codec-rate-distortion.png")
    return [plot] if plot else []


# --- denoise -------------------------------------------------------------------------------------------------------


def _noise_name(report: dict[str, Any], noise: str | None) -> str:
    if noise is None:
        return "all rows"
    name = NOISE_NAMES.get(noise, f"{noise} noise")
    if noise == "real" and isinstance(report.get("noises"), list) and report["noises"]:
        name += f" ({', '.join(map(str, report['noises']))})"
    return name


def _denoise_style(system: str, ours: int, baselines: int) -> dict[str, Any]:
    if system == "noisy":
        return {"color": "tab:gray", "ls": "--", "marker": "o", "lw": 1.4}
    if system.startswith("oracle"):
        return {"color": "black", "ls": ":", "marker": "s", "lw": 1.4}
    if system.startswith("vqaudio"):
        return {"color": OURS[ours % len(OURS)], "ls": "-", "marker": "o", "lw": 2.4}
    return {"color": BASELINES[baselines % len(BASELINES)], "ls": "-", "marker": ".", "lw": 1.2}


def plot_denoise(
    report: dict[str, Any],
    out: str | Path,
    noise: str | None = None,
    metrics: Sequence[str] | None = None,
) -> Plot | None:
    """Each figure of `metrics` (default: every one of PESQ-NB, PESQ-WB, STOI, SI-SDR the rows hold) against the
    input SNR, a panel each, one line per system (in row order), from the rows of one kind of `noise` (default:
    all rows), to the PNG `out`. None when no row has an SNR and one of the figures."""
    rows = [r for r in report["rows"] if _num(r.get("snr_db")) and (noise is None or r.get("noise") == noise)]
    wanted = list(metrics) if metrics is not None else list(DENOISE_METRICS)
    shown = [m for m in wanted if any(_num(r.get(m)) for r in rows)]
    if not shown:
        return None
    systems = list(dict.fromkeys(str(r.get("system", "?")) for r in rows))
    order = sorted(systems, key=lambda s: s.startswith("vqaudio"))  # ours drawn last, on top
    styles, ours, baselines = {}, 0, 0
    for system in systems:
        styles[system] = _denoise_style(system, ours, baselines)
        if system.startswith("vqaudio"):
            ours += 1
        elif system != "noisy" and not system.startswith("oracle"):
            baselines += 1
    columns = len(shown) if len(shown) <= 3 else 2
    grid = math.ceil(len(shown) / columns)
    plt = pyplot()
    fig, axes = plt.subplots(
        grid, columns, figsize=(4.6 * columns, 3.4 * grid + 0.8), squeeze=False, layout="constrained"
    )
    drawn = []
    where = _noise_name(report, noise)
    for ax, metric in zip(axes.flat, shown, strict=False):
        label = DENOISE_METRICS.get(metric, metric)
        title = f"{label}, {NOISE_NAMES.get(noise, f'{noise} noise')}" if noise is not None else label
        canvas = Canvas(ax, title, "input SNR (dB)", label)
        for system in order:
            points = sorted((r["snr_db"], r[metric]) for r in rows if r.get("system") == system and _num(r.get(metric)))
            if points:
                x, y = zip(*points, strict=True)
                canvas.line(x, y, system, ms=5, **styles[system])
        snrs = sorted({r["snr_db"] for r in rows})
        ax.set_xticks(snrs, [f"{s:g}" for s in snrs])
        drawn.append(canvas)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8)
    rate = f" at {report['rate'] / 1000:g} kHz" if _num(report.get("rate")) else ""
    caption = f"Denoising{rate}, {where}: {', '.join(DENOISE_METRICS.get(m, m) for m in shown)} against input SNR"
    return save(fig, out, caption, drawn)


def _denoise_plots(report: dict[str, Any], folder: Path) -> list[Plot]:
    noises = list(dict.fromkeys(r.get("noise") for r in report["rows"] if _num(r.get("snr_db"))))
    if noises == [None]:
        plot = plot_denoise(report, folder / "denoise-snr.png")
        return [plot] if plot else []
    plots = []
    for noise in noises:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(noise))
        plot = plot_denoise(report, folder / f"denoise-snr-{slug}.png", noise=noise)
        if plot:
            plots.append(plot)
    return plots


# --- separate ------------------------------------------------------------------------------------------------------


def plot_separate(report: dict[str, Any], out: str | Path) -> Plot | None:
    """NSDR per clip as a box per system (every system with per-clip rows but the oracle and the mixture), vocals
    and accompaniment side by side, each system's GNSDR as a diamond, the oracle's GNSDR and the published figures as
    horizontal markers, to the PNG `out`. Without per-clip rows the systems' GNSDR are drawn as points. None when
    the report has neither."""
    rows = report["rows"]
    clips = report.get("clips") if _row_list(report.get("clips")) else []
    published = (
        report.get("published_not_measured_here") if _row_list(report.get("published_not_measured_here")) else []
    )
    sources = [
        s
        for s in SOURCES
        if any(_num(c.get(f"nsdr_{s}")) for c in clips) or any(_num(r.get(f"gnsdr_{s}")) for r in rows)
    ]
    if not sources:
        return None
    gnsdr = {(str(r.get("system")), s): r[f"gnsdr_{s}"] for r in rows for s in sources if _num(r.get(f"gnsdr_{s}"))}
    systems = list(dict.fromkeys([str(r.get("system")) for r in rows] + [str(c.get("system")) for c in clips]))
    boxed = [s for s in systems if s != "mixture" and not s.startswith("oracle")]
    oracles = [s for s in systems if s.startswith("oracle")]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(sources), figsize=(5.2 * len(sources), 5.2), squeeze=False, layout="constrained")
    drawn = []
    for ax, source in zip(axes[0], sources, strict=True):
        canvas = Canvas(ax, f"{source}: NSDR per clip", "", "NSDR (dB)")
        groups = {
            s: [c[f"nsdr_{source}"] for c in clips if c.get("system") == s and _num(c.get(f"nsdr_{source}"))]
            for s in boxed
        }
        groups = {s: values for s, values in groups.items() if values}
        if groups:
            canvas.boxes(groups, [f"{s}\n({len(v)} clips)" for s, v in groups.items()])
            positions = range(1, len(groups) + 1)
        else:
            groups = {s: [] for s in boxed if (s, source) in gnsdr}
            positions = range(1, len(groups) + 1)
            ax.set_xticks(list(positions), list(groups), fontsize=8)
            ax.set_xlim(0.5, len(groups) + 0.5)
        for position, system in zip(positions, groups, strict=True):
            if (system, source) in gnsdr:
                ax.plot([position], [gnsdr[(system, source)]], "D", color="tab:blue", ms=6, label="_nolegend_")
                canvas.panel.points.append(f"{system} GNSDR")
        for system in oracles:
            if (system, source) in gnsdr:
                value = gnsdr[(system, source)]
                canvas.level(value, f"{system} (GNSDR)", color="black", ls="--")
                _level_value(ax, value)
        for i, entry in enumerate(e for e in published if _num(e.get(f"gnsdr_{source}"))):
            value = entry[f"gnsdr_{source}"]
            style = {"color": BASELINES[i % len(BASELINES)], "ls": (":", "-.")[i % 2]}
            canvas.level(value, f"{entry.get('system', 'published')}, published", **style)
            _level_value(ax, value)
        ax.margins(y=0.08)
        drawn.append(canvas)
    legend: dict[str, Any] = {}
    for ax in axes[0]:
        legend |= {label: handle for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    legend["GNSDR (length-weighted mean)"] = axes[0][0].plot([], [], "D", color="tab:blue")[0]
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=2, fontsize=8)
    caption = (
        "Separation, NSDR per clip (boxes: median, quartiles, whiskers at 1.5 IQR) with each system's GNSDR; "
        "dashed: the oracle mask; dotted, dash-dotted: published results, not measured here"
    )
    if not clips:
        caption = (
            "Separation, GNSDR per system (this JSON has no per-clip rows: rerun benchmarks/separate.py for boxes)"
        )
    return save(fig, out, caption, drawn)


def _level_value(ax: Any, value: float) -> None:
    """The height of a horizontal marker, written at its right end."""
    ax.annotate(
        f"{value:.2f}",
        (1, value),
        xycoords=("axes fraction", "data"),
        xytext=(-2, 2),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=7,
    )


def _separate_plots(report: dict[str, Any], folder: Path) -> list[Plot]:
    plot = plot_separate(report, folder / "separate-gnsdr.png")
    return [plot] if plot else []


# --- quantize ------------------------------------------------------------------------------------------------------


def plot_quantize(report: dict[str, Any], out: str | Path, figure: str = "time_ms") -> Plot | None:
    """`figure` (time_ms or peak_mb) against the codebook size K, log-log, a panel per codebook mode (ema,
    learned), a line per system and input shape (N vectors of D dimensions), to the PNG `out`. Rows of the
    large-batch memory check (ours only) are left out. None when no row has K and the figure."""
    rows = [r for r in report["rows"] if _num(r.get("k")) and _num(r.get(figure)) and "check" not in r]
    if not rows:
        return None
    modes = list(dict.fromkeys(str(r.get("mode", "")) for r in rows))
    shapes = list(dict.fromkeys((r.get("n"), r.get("d")) for r in rows))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(modes), figsize=(5.6 * len(modes), 4.4), squeeze=False, layout="constrained")
    drawn = []
    ylabel = QUANTIZE_FIGURES.get(figure, figure)
    for ax, mode in zip(axes[0], modes, strict=True):
        canvas = Canvas(ax, f"{mode} codebook" if mode else "", "codebook size K", ylabel)
        lines = list(dict.fromkeys((str(r.get("system")), r.get("n"), r.get("d")) for r in rows))
        for system, n, d in lines:
            points = sorted(
                (r["k"], r[figure])
                for r in rows
                if str(r.get("mode", "")) == mode and (str(r.get("system")), r.get("n"), r.get("d")) == (system, n, d)
            )
            if not points:
                continue
            x, y = zip(*points, strict=True)
            ours = system.startswith("vqaudio")
            style = {"ls": "-" if ours else "--", "marker": "o" if ours else "s", "lw": 1.8 if ours else 1.2}
            color = OURS[shapes.index((n, d)) % len(OURS)]
            canvas.line(x, y, f"{system}, N={n}, D={d}", color=color, ms=4, **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ks = sorted({r["k"] for r in rows})
        ax.set_xticks(ks, [f"{k:g}" for k in ks])
        drawn.append(canvas)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    what = "Speed" if figure == "time_ms" else "Memory"
    caption = (
        f"{what} of one training step against codebook size: vqaudio's quantizer (solid) "
        "against vector-quantize-pytorch (dashed), a colour per input shape"
    )
    return save(fig, out, caption, drawn)


def _quantize_plots(report: dict[str, Any], folder: Path) -> list[Plot]:
    plots = [
        plot_quantize(report, folder / f"quantize-{name}.png", figure)
        for name, figure in (("speed", "time_ms"), ("memory", "peak_mb"))
    ]
    return [p for p in plots if p]


PLOTTERS: dict[str, Callable[[dict[str, Any], Path], list[Plot]]] = {
    "codec": _codec_plots,
    "denoise": _denoise_plots,
    "separate": _separate_plots,
    "quantize": _quantize_plots,
}
PLOTTED_BENCHMARKS = tuple(PLOTTERS)
