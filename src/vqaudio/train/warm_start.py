"""Starting a run from trained weights (`vqaudio train --init-from WEIGHTS`): fine-tuning, or growing a model.

The recipe's model may add modules the weights lack (a recurrent stage, say): those start as built (the blocks
meant for this begin as the identity) and every other tensor is taken from the weights. The input scaling
(norm_mean, norm_std) is taken from the weights too, since the loaded layers were trained on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from safetensors import safe_open
from torch import nn

from vqaudio.models.io import decode_metadata_value, read_metadata

log = logging.getLogger(__name__)

__all__ = ["INPUT_SCALING", "describe_initial_weights", "init_config", "load_initial_weights"]

INPUT_SCALING = ("norm_mean", "norm_std")


def init_config(path: str | Path, model_type: str) -> dict[str, Any]:
    """The config stored with the weights at `path`; ValueError when they are another kind of model."""
    meta = read_metadata(path)
    if meta["model_type"] != model_type:
        raise ValueError(f"init_from {path}: holds a {meta['model_type']} model, the recipe trains a {model_type}")
    return json.loads(meta["config"])


def describe_initial_weights(path: str | Path) -> str:
    """`path` with the recipe that trained it and the first 12 hex digits of its sha256, for the run's metadata.

    A path alone (runs/NAME/best.safetensors) names a file that the next training run replaces; the recipe and the
    digest still say which weights a shipped model grew from.
    """
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    recipe = decode_metadata_value(read_metadata(path).get("recipe", "null"))
    return f"{path} (recipe {recipe}, sha256 {digest})" if recipe else f"{path} (sha256 {digest})"


def load_initial_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Copy every tensor of `path` into `model`; returns the names of the model's tensors the file lacked.

    ValueError when the file holds a tensor the model has no place for, or one of another shape: the recipe's
    model is then not the stored one grown, and starting from it would silently drop what was learnt.
    """
    with safe_open(str(path), framework="pt") as f:
        state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    try:  # load_state_dict, not a key comparison: models rename keys of older files in a load hook
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of another shape
        raise ValueError(f"init_from {path}: its weights do not fit the recipe's model: {err}") from err
    if result.unexpected_keys:
        raise ValueError(
            f"init_from {path}: the recipe's model has no place for {len(result.unexpected_keys)} of its tensors "
            f"({', '.join(result.unexpected_keys[:5])}); the recipe may only add modules to the stored model"
        )
    missing = result.missing_keys
    if missing:
        log.info("--init-from %s: %d tensors new in this model start as built: %s", path, len(missing), missing)
    return list(missing)
