"""Model types by name, so recipes and checkpoints can name a model and rebuild it from a plain dict."""

from __future__ import annotations

from typing import Any

from torch import nn

from vqaudio.models.config import FramedConfig, VAEConfig, VQVAEConfig
from vqaudio.models.envelope import EnvelopeVQVAE, EnvelopeVQVAEConfig
from vqaudio.models.phase import PhaseNet, PhaseNetConfig
from vqaudio.models.separator import DualDecoderVAE, DualDecoderVAEConfig
from vqaudio.models.unet import VQUNet, VQUNetConfig
from vqaudio.models.vae import VAE
from vqaudio.models.vqvae import VQVAE

MODEL_TYPES: dict[str, type[nn.Module]] = {
    "vqvae": VQVAE,
    "vae": VAE,
    "envelope-vqvae": EnvelopeVQVAE,
    "vqunet": VQUNet,
    "dual-vae": DualDecoderVAE,
    "phase-net": PhaseNet,
}
CONFIG_TYPES: dict[str, type[Any]] = {
    "vqvae": VQVAEConfig,
    "vae": VAEConfig,
    "envelope-vqvae": EnvelopeVQVAEConfig,
    "vqunet": VQUNetConfig,
    "dual-vae": DualDecoderVAEConfig,
    "phase-net": PhaseNetConfig,
}

# The job a recipe trains a model type for when it names no task (train.tasks holds the tasks themselves).
DEFAULT_TASKS: dict[str, str] = {
    "vqvae": "reconstruct",
    "vae": "reconstruct",
    "envelope-vqvae": "envelope",
    "vqunet": "denoise",
    "dual-vae": "separate",
    "phase-net": "phase",
}

ConfigLike = dict[str, Any] | FramedConfig | None


def _check_type(model_type: str) -> str:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; known types: {sorted(MODEL_TYPES)}")
    return model_type


def build_config(model_type: str, config: ConfigLike = None) -> Any:
    """The typed config of model_type from a (partial) dict, an existing config object, or defaults."""
    cls = CONFIG_TYPES[_check_type(model_type)]
    if isinstance(config, cls):
        return config
    if isinstance(config, FramedConfig):
        raise TypeError(f"model type {model_type!r} needs a {cls.__name__}, got {type(config).__name__}")
    return cls.from_dict(config)


def build_model(model_type: str, config: ConfigLike = None) -> nn.Module:
    """A fresh, randomly initialised model of a registered type: build_model('vqvae', {'latent_dim': 32})."""
    return MODEL_TYPES[_check_type(model_type)](build_config(model_type, config))


def model_type_of(model: nn.Module) -> str:
    """The registry name of a model instance (exact class match), or a ValueError."""
    for name, cls in MODEL_TYPES.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered vqaudio model type ({sorted(MODEL_TYPES)})")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
