"""Clip by clip: how the systems of a `benchmarks/separate.py --json` file compare with one of them.

GNSDR is a length-weighted mean, so it can rise while most clips fall; this prints, per system, the vocal NSDR
clip median and 10th percentile, the worst clip and the best score, and against `--base` how many clips gain, the
mean change and the worst change (dB).

    python benchmarks/separate_clips.py benchmarks/results/separate-ema.json --base vqaudio-separate-16k
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

SKIPPED = ("mixture", "oracle-irm")  # rows that are not systems under test


def clip_nsdr(report: dict[str, Any], source: str = "vocals") -> dict[str, dict[str, float]]:
    """system -> clip -> NSDR (dB) of `source`, from a separate.py JSON's `clips`."""
    table: dict[str, dict[str, float]] = {}
    for row in report["clips"]:
        table.setdefault(row["system"], {})[row["clip"]] = float(row[f"nsdr_{source}"])
    return table


def compare(table: dict[str, dict[str, float]], base: str) -> list[dict[str, Any]]:
    """One row per system (the base first): clip median, 10th percentile, worst clip, and changes against `base`."""
    if base not in table:
        raise ValueError(f"--base {base!r} is not a system of this report: {sorted(table)}")
    clips = sorted(table[base])
    reference = np.array([table[base][c] for c in clips])
    rows = []
    for system, scores in table.items():
        if system in SKIPPED:
            continue
        missing = [c for c in clips if c not in scores]
        if missing:
            raise ValueError(f"{system} has no score for clips {missing[:3]}")
        values = np.array([scores[c] for c in clips])
        change = values - reference
        worst = int(np.argmin(values))
        rows.append(
            {
                "system": system,
                "clips": len(clips),
                "median": round(float(np.median(values)), 2),
                "p10": round(float(np.percentile(values, 10)), 2),
                "worst_clip": f"{clips[worst]} {values[worst]:.2f}",
                "best": round(float(values.max()), 2),
                "clips_gaining": int((change > 0).sum()),
                "mean_change": round(float(change.mean()), 3),
                "worst_change": round(float(change.min()), 2),
            }
        )
    return sorted(rows, key=lambda r: r["system"] != base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="JSON written by benchmarks/separate.py --json")
    parser.add_argument("--base", required=True, help="the system to compare with, e.g. vqaudio-separate-16k")
    parser.add_argument("--source", default="vocals", choices=["vocals", "accompaniment"])
    args = parser.parse_args(argv)
    rows = compare(clip_nsdr(json.loads(args.report.read_text()), args.source), args.base)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
