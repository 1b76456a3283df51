"""`vqaudio report RUN_DIR`: a self-contained HTML page about a training run, from a hand-made run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import TINY_MODEL
from vqaudio.cli import main
from vqaudio.models import build_model, save_model

pytest.importorskip("matplotlib")

# the columns `vqaudio train` logs for a VQ-VAE, in Lightning's CSV layout: one metric group per row, others empty
COLUMNS = [
    "codebook/perplexity",
    "codebook/usage",
    "epoch",
    "lr-AdamW",
    "step",
    "train/loss_epoch",
    "train/loss_step",
    "train/perplexity_epoch",
    "train/recon_epoch",
    "train/recon_step",
    "val/loss",
    "val/perplexity",
]


def write_run(root: Path, model_type: str = "vqvae", name: str = "tiny-<run>") -> Path:
    """A run folder as `vqaudio train` leaves it: recipe, model config, best weights and a two-epoch CSV log."""
    run = root / "runs" / "tiny"
    logs = run / "logs" / "version_0"
    logs.mkdir(parents=True)
    model_cfg = dict(TINY_MODEL, codebook_size=16) if model_type == "vqvae" else dict(TINY_MODEL)
    recipe = {"name": name, "model_type": model_type, "task": "reconstruct", "model": model_cfg}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (run / "model_config.json").write_text(json.dumps(model_cfg, indent=2))
    metadata = {"recipe": name, "task": "reconstruct", "epoch": 1, "step": 8, "val/loss": 0.5}
    metadata["training_summary"] = {"files": 12, "seconds": 6.0, "speakers": ["george"]}
    save_model(build_model(model_type, model_cfg), run / "best.safetensors", metadata=metadata)
    rows = []
    for step in range(1, 9):
        rows.append({"step": step, "lr-AdamW": 1e-3 * step / 8})
        rows.append({"step": step, "epoch": (step - 1) // 4, "train/loss_step": 2 / step, "train/recon_step": 1 / step})
        if model_type == "vqvae":
            rows.append({"step": step, "codebook/perplexity": 2 + step, "codebook/usage": step / 16})
        if step % 4 == 0:
            epoch = {"train/loss_epoch": 2 / step, "train/recon_epoch": 1 / step, "val/loss": 2.5 / step}
            if model_type == "vqvae":
                epoch |= {"train/perplexity_epoch": 2 + step, "val/perplexity": 1.5 + step}
            rows.append({"step": step, "epoch": step // 4 - 1, **epoch})
    lines = [",".join(COLUMNS)] + [",".join(str(row.get(c, "")) for c in COLUMNS) for row in rows]
    (logs / "metrics.csv").write_text("\n".join(lines) + "\n")
    return run


def images(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text())


def test_report_writes_a_page_with_its_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path)
    assert main(["report", str(run)]) == 0
    page = run / "report.html"
    assert page.is_file() and str(page) in capsys.readouterr().out
    text = page.read_text()
    assert "tiny-&lt;run&gt;" in text and "tiny-<run>" not in text  # named, and escaped
    assert "vqvae" in text and "reconstruct" in text
    assert "<pre>" in text and "codebook_size: 16" in text  # the recipe
    assert "val/loss" in text and "george" in text  # best weights' metadata, with its training summary
    sources = images(page)
    assert len(sources) == 3  # loss, learning rate, codebook
    for src in sources:
        assert not Path(src).is_absolute() and src.startswith("report/")
        assert (run / src).is_file() and (run / src).stat().st_size > 0


def test_report_skips_codebook_for_a_vae(tmp_path: Path) -> None:
    run = write_run(tmp_path, model_type="vae")
    assert main(["-q", "report", str(run)]) == 0
    page = run / "report.html"
    sources = images(page)
    assert len(sources) == 2 and not (run / "report" / "codebook.png").exists()
    assert all((run / src).is_file() for src in sources)
    assert "not a VQ model" in page.read_text()


def test_report_of_a_missing_or_non_run_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a `vqaudio train` run folder" in err
    assert not (tmp_path / "report.html").exists()


def test_report_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else find_spec(name, *a)
    )
    assert main(["report", str(write_run(tmp_path))]) == 2
    assert "pip install 'vqaudio[eval]'" in capsys.readouterr().err
