"""The README's figures, redrawn from the benchmarks' JSON reports (benchmarks/results/*.json) as small PNGs.

    python benchmarks/figures.py [--results benchmarks/results] [--out docs/figures]

Each figure is drawn by the same function as the benchmark pages of `vqaudio report BENCHMARK.json`
(vqaudio.report.benchmarks), from one JSON written by the benchmark script named beside it; rerun that script
to refresh the numbers, then this one to refresh the pictures. A figure whose JSON is absent is skipped with a
message (exit status 1). PNGs are written at 100 dpi; one over 150 KB is reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqaudio.report.benchmarks import plot_codec, plot_denoise, plot_separate, read_benchmark
from vqaudio.report.pages import Plot

HERE = Path(__file__).resolve().parent
MAX_BYTES = 150_000


@dataclass(frozen=True)
class Figure:
    png: str
    source: str  # the JSON in --results
    script: str  # the benchmark script that writes it
    draw: Callable[..., Plot | None]
    options: dict[str, Any] = field(default_factory=dict)


FIGURES = (
    Figure("codec-rate-distortion.png", "codec-pointwise.json", "codec.py", plot_codec, {"ladders": [""]}),
    Figure(
        "denoise-8k-snr.png",
        "denoise-8k-col35-shipped.json",
        "denoise.py --rate 8000",
        plot_denoise,
        {"noise": "real", "metrics": ["pesq_nb", "stoi", "si_sdr"]},
    ),
    Figure(
        "denoise-16k-snr.png",
        "denoise-16k-col35-shipped.json",
        "denoise.py --rate 16000",
        plot_denoise,
        {"noise": "real", "metrics": ["pesq_wb", "stoi", "si_sdr"]},
    ),
    Figure("separate-gnsdr.png", "separate-gru.json", "separate.py", plot_separate),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=HERE / "results", help="folder of benchmark JSON reports")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "figures", help="folder for the PNGs")
    args = parser.parse_args(argv)

    missing = 0
    for figure in FIGURES:
        source = args.results / figure.source
        if not source.is_file():
            print(
                f"skipped {figure.png}: no {source} (write it with benchmarks/{figure.script} --json)", file=sys.stderr
            )
            missing += 1
            continue
        plot = figure.draw(read_benchmark(source), args.out / figure.png, **figure.options)
        if plot is None:
            print(f"skipped {figure.png}: {source} holds nothing this figure plots", file=sys.stderr)
            missing += 1
            continue
        size = plot.path.stat().st_size
        warning = f" (over {MAX_BYTES // 1000} KB)" if size > MAX_BYTES else ""
        print(f"wrote {plot.path} ({size / 1000:.0f} KB{warning}) from {source.name}: {plot.caption}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
