"""benchmarks/separate_clips.py: clip-by-clip comparison of a separate.py report against one of its systems."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "separate_clips.py"


def _script():
    spec = importlib.util.spec_from_file_location("separate_clips", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["separate_clips"] = module
    spec.loader.exec_module(module)
    return module


def _report(tmp_path: Path) -> Path:
    scores = {"base": [1.0, 5.0, 9.0, 3.0], "new": [0.5, 6.0, 9.5, 3.0], "mixture": [0.0] * 4}
    clips = [
        {"system": system, "clip": f"c{i}", "nsdr_vocals": value, "nsdr_accompaniment": -value}
        for system, values in scores.items()
        for i, value in enumerate(values)
    ]
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"clips": clips}))
    return path


def test_compares_each_clip_with_the_base_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    table = script.clip_nsdr(json.loads(_report(tmp_path).read_text()))
    rows = script.compare(table, "base")
    assert [r["system"] for r in rows] == ["base", "new"]  # base first, the mixture row left out
    new = rows[1]
    assert new["clips_gaining"] == 2  # c1 and c2 gain, c3 ties, c0 loses
    assert new["mean_change"] == pytest.approx(0.25)
    assert new["worst_change"] == pytest.approx(-0.5)
    assert new["median"] == pytest.approx(4.5) and new["worst_clip"] == "c0 0.50"
    assert script.main([str(_report(tmp_path)), "--base", "new", "--source", "accompaniment"]) == 0
    assert "| base | 4 |" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--base 'nope'"):
        script.compare(table, "nope")
