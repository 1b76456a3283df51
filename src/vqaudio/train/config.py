"""Recipe configuration: one YAML file describes the model, the data and the training run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    """Where the audio comes from and how it is cut into training examples."""

    root: str | None = None  # folder of speech (songs for separate); `vqaudio train --data` overrides it
    crop_seconds: float = 1.0
    crops_per_file: int = 1
    val_crops_per_file: int = 1
    batch_size: int = 32
    num_workers: int = 0
    words: list[str] | None = None  # Speech Commands word filter, e.g. ["right"]
    # Which corpora of a speech root (../shared/data/speech): a list of names, "all", or None = FSDD + Asterisk.
    corpora: list[str] | str | None = None
    max_files: int | None = None  # cap per split, for quick runs and tests
    speed_perturb: float = 0.0  # training crops at a random speed in [1 - s, 1 + s] (pitch and formants move)
    # Mixtures (the denoise task): speech from `root` + noise from `noise`, at a drawn SNR and overall level.
    noise: str | None = None  # folder of noise recordings (../shared/data/noise); `vqaudio train --noise` sets it
    noise_names: list[str] | None = None  # keep only these recordings (file stems), e.g. [white-noise]
    snr_db: list[float] = field(default_factory=lambda: [-5.0, 20.0])
    level_dbfs: list[float] | None = field(default_factory=lambda: [-35.0, -15.0])
    band_limit_prob: float = 0.0  # share of training mixtures band-limited to 4 kHz, as telephone speech is
    noise_speed_perturb: float = 0.0  # training noise played at a random speed in [1 - s, 1 + s] (its spectrum moves)
    # Music (the separate task): songs from `root`; training pairs a clip's vocals with another clip's accompaniment
    # `remix_prob` of the time, each stem at a gain drawn in `stem_gain_db` (speed_perturb applies to each stem).
    remix_prob: float = 0.5
    stem_gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])


@dataclass
class OptimConfig:
    """AdamW with a warm-up and cosine decay over max_steps (or max_epochs)."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0


@dataclass
class TrainerConfig:
    """What Lightning is told; devices/num_nodes/strategy pass straight through, so DDP works unchanged."""

    max_epochs: int = 30
    max_steps: int = -1
    max_minutes: float | None = None  # wall-clock budget; stops cleanly and keeps the best checkpoint
    patience: int = 8  # early stopping on val/loss, in validation rounds
    val_every_n_epochs: int = 1
    val_every_n_steps: int | None = None  # also validate (and keep the best weights) every N training steps
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    log_every_n_steps: int = 20
    threads: int | None = None  # torch CPU threads; None leaves torch's default


@dataclass
class RecipeConfig:
    """A whole recipe: a named model of one type with its config, the task it is trained for, data and training."""

    name: str
    model_type: str  # "vqvae" | "vae" | "envelope-vqvae" | "vqunet" | "dual-vae" (vqaudio.models.MODEL_TYPES)
    task: str | None = None  # "reconstruct" | "codec" | "envelope" | "denoise" | "separate" (train.tasks.TASKS)
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    out_dir: str = "runs"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RecipeConfig:
        raw = dict(raw)
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown recipe keys: {sorted(unknown)}")
        for key in ("name", "model_type"):
            if key not in raw:
                raise ValueError(f"recipe is missing the required key '{key}'")
        sections = {"data": DataConfig, "optim": OptimConfig, "trainer": TrainerConfig}
        for key, section_cls in sections.items():
            raw[key] = _build_section(section_cls, raw.get(key) or {}, key)
        if isinstance(raw["optim"].betas, list):
            raw["optim"].betas = tuple(raw["optim"].betas)
        return cls(**raw)


def _build_section(section_cls: type, values: dict[str, Any], name: str) -> Any:
    allowed = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown keys in recipe section '{name}': {sorted(unknown)}; allowed: {sorted(allowed)}")
    return section_cls(**values)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeConfig:
    """Read a YAML recipe, then apply `section.key=value` overrides (values parsed as YAML)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping, got {type(raw).__name__}")
    for override in overrides or []:
        apply_override(raw, override)
    return RecipeConfig.from_dict(raw)


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set a nested key, e.g. 'trainer.max_epochs=2' or 'model.codebook_size=256'."""
    if "=" not in override:
        raise ValueError(f"override '{override}' must look like section.key=value")
    dotted, value = override.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override '{override}': '{part}' is not a section")
    node[leaf] = yaml.safe_load(value)
