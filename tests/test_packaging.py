"""Packaging: inference without the train/eval extras, one version, clear errors for a missing extra, no prints."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vqaudio
from vqaudio.assets import pretrained_names, pretrained_path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vqaudio"
EXTRAS_ONLY = ("lightning", "tensorboard", "pesq", "pystoi", "matplotlib", "fast_bss_eval")
CORE = {"torch", "numpy", "scipy", "soundfile", "soxr", "safetensors", "pyyaml", "tqdm"}


def _requirement_name(spec: str) -> str:
    for i, ch in enumerate(spec):
        if not (ch.isalnum() or ch in "-_."):
            return spec[:i].lower()
    return spec.lower()


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_core_dependencies_leave_training_and_scoring_to_extras() -> None:
    project = _pyproject()["project"]
    assert {_requirement_name(d) for d in project["dependencies"]} == CORE
    extras = {name: {_requirement_name(d) for d in deps} for name, deps in project["optional-dependencies"].items()}
    assert extras["train"] == {"lightning", "tensorboard"}
    assert extras["eval"] == {"pesq", "pystoi", "matplotlib", "fast_bss_eval"}
    dev = project["optional-dependencies"]["dev"]
    assert "vqaudio[train,eval]" in dev and {"pytest", "ruff", "vector-quantize-pytorch"} <= extras["dev"]


def test_one_version_source() -> None:
    pyproject = _pyproject()
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vqaudio.__version__"}
    assert importlib.metadata.version("vqaudio") == vqaudio.__version__


@pytest.mark.skipif(not pretrained_names(), reason="no shipped weights in this build")
def test_inference_runs_without_the_extras(tmp_path: Path) -> None:
    """As after a plain `pip install vqaudio`: the extras cannot be imported, and none is loaded."""
    name = "codec-8k" if "codec-8k" in pretrained_names() else pretrained_names()[0]
    code = f"""
import contextlib, io, sys
for name in {EXTRAS_ONLY!r}:
    sys.modules[name] = None  # `import name` now fails as if it were not installed
import vqaudio.pipelines, vqaudio.cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    assert vqaudio.cli.main(["info", {str(pretrained_path(name))!r}]) == 0
assert '"model_type"' in out.getvalue()
for name in {EXTRAS_ONLY!r}:
    sys.modules.pop(name)
print(sorted(m for m in sys.modules if m.split(".")[0] in {EXTRAS_ONLY!r}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_metrics_without_eval_extra_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from vqaudio.metrics import evaluate_pair, pesq, si_sdr, stoi

    wave = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    with pytest.raises(ImportError, match=r"pip install 'vqaudio\[eval\]'"):
        pesq(wave, wave, 8000)
    with pytest.raises(ModuleNotFoundError, match=r"STOI.*pip install 'vqaudio\[eval\]'"):
        stoi(wave, wave, 8000)
    assert si_sdr(wave, wave) > 100  # the metrics that need no extra still work
    assert set(evaluate_pair(wave, wave, 8000, metrics=("si_sdr", "lsd"))) == {"si_sdr", "lsd"}


def _prints_outside_entry_points(path: Path) -> list[int]:
    """Lines calling print() anywhere but inside a function named main (cli.py may print anywhere)."""
    tree = ast.parse(path.read_text())
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            allowed.update(id(n) for n in ast.walk(node))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and id(node) not in allowed
    ]


def test_the_library_logs_and_only_commands_print() -> None:
    offenders = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "cli.py" and (lines := _prints_outside_entry_points(path))
    }
    assert offenders == {}, "use logging.getLogger(__name__) in the library; print only in cli.py and main()"
