"""Checkpoint format versions: written by save_model, files without one read as version 1, newer ones refused;
a model of the wrong kind for a command is refused naming both kinds. Weights only ever come from safetensors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from tests.helpers import TINY_MODEL
from vqaudio.audio.io import save
from vqaudio.models import build_model, load_model, read_metadata, save_model
from vqaudio.models.io import FORMAT_VERSION, RESERVED_KEYS

SRC = Path(__file__).resolve().parents[1] / "src" / "vqaudio"


def _tiny(tmp_path: Path) -> Path:
    return save_model(build_model("vqvae", dict(TINY_MODEL, codebook_size=16)), tmp_path / "tiny.safetensors")


def _rewrite_metadata(path: Path, out: Path, **changes: str | None) -> Path:
    """A copy of the checkpoint at `path` with metadata keys changed (None: removed)."""
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    save_file(tensors, str(out), metadata=meta)
    return out


def test_save_model_writes_the_format_version(tmp_path: Path) -> None:
    meta = read_metadata(_tiny(tmp_path))
    assert FORMAT_VERSION == 2 and meta["format_version"] == "2" and "format_version" in RESERVED_KEYS
    with pytest.raises(ValueError, match="reserved"):
        save_model(load_model(tmp_path / "tiny.safetensors"), tmp_path / "x.safetensors", {"format_version": 9})


def test_files_without_a_version_load_as_version_1(tmp_path: Path) -> None:
    old = _rewrite_metadata(_tiny(tmp_path), tmp_path / "v1.safetensors", format_version=None)
    assert "format_version" not in read_metadata(old)
    assert load_model(old).config.codebook_size == 16


def test_a_newer_format_is_refused_naming_both_versions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer = _rewrite_metadata(_tiny(tmp_path), tmp_path / "v3.safetensors", format_version="3", vqaudio_version="9.0")
    expected = (
        rf"{re.escape(str(newer))} was written by format 3 \(vqaudio 9\.0\), "
        r"this vqaudio .* reads up to format 2: upgrade vqaudio"
    )
    with pytest.raises(ValueError, match=expected):
        load_model(newer)
    from vqaudio.cli import main

    assert main(["info", str(newer)]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"vqaudio info: error: {expected}", err) and len(err.strip().splitlines()) == 1
    garbled = _rewrite_metadata(newer, tmp_path / "garbled.safetensors", format_version="two")
    with pytest.raises(ValueError, match="format_version 'two' in its metadata is not a whole number"):
        load_model(garbled)


def test_a_model_of_another_kind_is_refused_naming_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vqaudio.cli import main

    wav = tmp_path / "in.wav"
    save(wav, np.zeros(1600, dtype=np.float32), 16000)
    assert main(["denoise", wav.as_posix(), "-o", str(tmp_path / "out.wav"), "--model", str(_tiny(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "'vqvae' model" in err and "vqunet" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.wav").exists()


def test_no_pickle_loading_in_the_package() -> None:
    """Weights users give come from safetensors; torch.load is only Lightning's, on last.ckpt, weights_only."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        patterns = (
            r"torch\.load\((?![^)]*weights_only=True)",
            r"\bpickle\.loads?\(",
            r"import pickle",
            r"allow_pickle=True",
        )
        for pattern in patterns:
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(SRC)}: {pattern}")
    assert not offenders
