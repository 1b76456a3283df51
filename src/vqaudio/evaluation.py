"""Score systems over a set of utterances, and make tables/JSON the way every benchmark does (DESIGN.md).

Nothing here prints: functions return the table text and write files; commands and benchmarks print.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vqaudio.data import Utterance, join_utterances, speech_files
from vqaudio.metrics import MetricError, evaluate_pair

System = Callable[[np.ndarray, int], np.ndarray]  # (wave, sample_rate) -> wave of the same length


def score_system(
    name: str,
    system: System,
    utterances: Sequence[Utterance],
    metrics: Sequence[str] = ("pesq_nb", "stoi", "lsd"),
    max_delay: int = 0,
    progress: bool = True,
    on_output: Callable[[Utterance, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Mean of each metric over the utterances, plus speed as a multiple of real time (`rtf_x`).

    `on_output(utterance, estimate)` sees every output (to save audio, say); it is not timed.
    """
    totals: dict[str, list[float]] = {m: [] for m in metrics}
    audio_seconds = 0.0
    compute_seconds = 0.0
    skipped = 0
    # disable=None: tqdm shows the bar on a terminal only, so logs and CI output stay clean
    for utt in tqdm(utterances, desc=name, unit="utt", disable=None if progress else True, leave=False):
        start = time.perf_counter()
        estimate = system(utt.wave, utt.sample_rate)
        compute_seconds += time.perf_counter() - start
        audio_seconds += utt.wave.shape[-1] / utt.sample_rate
        if on_output is not None:
            on_output(utt, estimate)
        try:
            scores = evaluate_pair(utt.wave, estimate, utt.sample_rate, metrics=tuple(metrics), max_delay=max_delay)
        except MetricError:
            skipped += 1  # e.g. an utterance PESQ finds no speech in; counted, not hidden
            continue
        for metric, value in scores.items():
            totals[metric].append(float(value))
    row: dict[str, Any] = {"system": name}
    for metric, values in totals.items():
        row[metric] = round(float(np.mean(values)), 4) if values else None
    row["rtf_x"] = round(audio_seconds / compute_seconds, 2) if compute_seconds > 0 else None
    row["utterances"] = len(utterances) - skipped
    row["audio_seconds"] = round(audio_seconds, 1)
    return row


def held_out_utterances(
    data: str | Path,
    split: str,
    sample_rate: int,
    max_utterances: int | None = None,
    corpora: list[str] | str | None = None,
) -> list[Utterance]:
    """The utterances every scorer uses: a split's clips, joined per speaker into ~4 s (data/README).

    `corpora` as speech_files takes it: None = FSDD + Asterisk of a speech root, "all", or a list of names.
    """
    return join_utterances(speech_files(data, split, corpora=corpora), sample_rate, max_utterances=max_utterances)


def finish_report(
    benchmark: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None,
    json_path: str | Path | None,
    **extra: Any,
) -> str:
    """The markdown table of `rows`, for the caller to print; with json_path, also writes the DESIGN.md JSON
    report there (`extra` goes into it) and the text ends with a line saying so.
    """
    text = markdown_table(rows, columns)
    if json_path:
        write_json(json_path, benchmark_report(benchmark, rows, **extra))
        text += f"\nwrote {json_path}"
    return text


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or _columns(rows))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def breakdown_table(
    rows: Sequence[dict[str, Any]], systems: Sequence[str], by: str, cell: Callable[[dict[str, Any]], str]
) -> str:
    """Markdown: one line per group of the rows' `by` breakdown (e.g. "per_speaker": {speaker: figures}), with the
    group's utterance count and a cell per system of `systems`, `cell(figures)` ("—" where it has none for the group);
    "" when no chosen row has that breakdown. Rows are picked in the order of `systems`."""
    chosen = [r for name in systems for r in rows if r["system"] == name and by in r]
    lines = []
    for group in sorted({g for r in chosen for g in r[by]}):
        line: dict[str, Any] = {by.removeprefix("per_"): group}
        for r in chosen:
            figures = r[by].get(group)
            line["n"] = figures["utterances"] if figures else line.get("n")
            line[r["system"]] = cell(figures) if figures else "—"
        lines.append(line)
    return markdown_table(lines, None) if lines else ""


def benchmark_report(benchmark: str, rows: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "date": date.today().isoformat(),
        "machine": machine_description(),
        **extra,
        "rows": list(rows),
    }


def write_json(path: str | Path, report: dict[str, Any]) -> Path:
    """Write a report as indented JSON (making the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        seen.extend(k for k in row if k not in seen)
    return seen


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)
