"""Checkpoints: one .safetensors file holding the weights and buffers, with the config in its metadata.

The metadata (strings only) carries format="vqaudio", format_version, model_type, config (JSON), vqaudio_version
and any caller metadata, so load_model(path) rebuilds the model from that file alone. No pickle anywhere.

Format versions: 1 = files written before the version was recorded (no format_version key; read as 1);
2 = the same layout with format_version written. A reader takes every version up to FORMAT_VERSION and refuses a
newer one (its layout may differ) with a message naming both versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from vqaudio import __version__
from vqaudio.models.registry import MODEL_TYPES, build_model, model_type_of

FORMAT = "vqaudio"
FORMAT_VERSION = 2  # the newest checkpoint layout this vqaudio writes and reads (see the module docstring)
RESERVED_KEYS = ("format", "format_version", "model_type", "config", "vqaudio_version")


def _metadata_strings(metadata: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        key = str(key)
        if key in RESERVED_KEYS:
            raise ValueError(f"metadata key {key!r} is reserved by the checkpoint format {RESERVED_KEYS}")
        out[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def decode_metadata_value(value: str) -> Any:
    """A metadata string as the value it encodes (save_model stores non-strings as JSON); plain text as is."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def save_model(model: nn.Module, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write model (weights + buffers + config) to one .safetensors file; returns the path.

    Non-string metadata values are stored JSON-encoded. The write goes to a temporary file that is then
    renamed, so a reader (or a crash mid-save) never sees a half-written checkpoint.
    """
    model_type = model_type_of(model)
    config = model.config.to_dict()  # type: ignore[union-attr]
    header = {
        **_metadata_strings(metadata),
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_type": model_type,
        "config": json.dumps(config),
        "vqaudio_version": __version__,
    }
    # clone() gives every tensor its own storage: safetensors refuses tied/shared tensors and views.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The checkpoint's metadata strings (format, model_type, config JSON, vqaudio_version, extras).

    Raises FileNotFoundError for a missing file and ValueError for anything that is not a vqaudio
    safetensors checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .safetensors file ({err})") from err
    if meta.get("format") != FORMAT or "config" not in meta or "model_type" not in meta:
        raise ValueError(
            f"{path} is a safetensors file but not a vqaudio checkpoint (no vqaudio model_type/config in its "
            "metadata); save models with vqaudio.models.save_model"
        )
    format_version(meta, path)
    return meta


def format_version(meta: dict[str, str], path: str | Path = "checkpoint") -> int:
    """The checkpoint format version in `meta` (1 when absent: files from before it was recorded).

    ValueError for a version that is not a whole number >= 1, or newer than this vqaudio reads.
    """
    raw = meta.get("format_version", "1")
    try:
        version = int(raw)
    except ValueError:
        version = 0
    if version < 1:
        raise ValueError(f"{path}: format_version {raw!r} in its metadata is not a whole number >= 1 (corrupt file?)")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by format {version} (vqaudio {meta.get('vqaudio_version', '?')}), "
            f"this vqaudio {__version__} reads up to format {FORMAT_VERSION}: upgrade vqaudio (pip install -U vqaudio)"
        )
    return version


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored at path, with its weights, on device, in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    model_type = meta["model_type"]
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"{path} holds a model of type {model_type!r}, which this vqaudio {__version__} does not know "
            f"(known: {sorted(MODEL_TYPES)}; saved by vqaudio {meta.get('vqaudio_version', '?')})"
        )
    try:
        config = json.loads(meta["config"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the config in its metadata is not valid JSON ({err})") from err
    model = build_model(model_type, config)
    with safe_open(str(path), framework="pt") as f:
        state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not match a {model_type} built from its config: {err}") from err
    return model.to(device).eval()
