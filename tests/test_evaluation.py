"""Benchmark helpers shared by the benchmark scripts (vqaudio.evaluation)."""

from __future__ import annotations

from vqaudio.evaluation import breakdown_table


def test_breakdown_table_lines_up_groups_and_marks_what_a_system_lacks() -> None:
    rows = [
        {"system": "a", "per_speaker": {"s1": {"utterances": 2, "pesq": 2.5}, "s2": {"utterances": 1, "pesq": 3.0}}},
        {"system": "b", "per_speaker": {"s1": {"utterances": 2, "pesq": 2.0}}},
        {"system": "c", "pesq": 1.0},  # no breakdown: left out
    ]
    table = breakdown_table(rows, ["b", "a", "c"], "per_speaker", lambda v: f"{v['pesq']:.1f}")
    assert table.splitlines() == [
        "| speaker | n | b | a |",
        "|---|---|---|---|",
        "| s1 | 2 | 2.0 | 2.5 |",
        "| s2 | 1 | — | 3.0 |",
    ]
    assert breakdown_table(rows, ["c"], "per_speaker", str) == ""
