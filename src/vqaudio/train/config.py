"""Recipe configuration: one YAML file describes the model, the data and the training run."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
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
    # Training crops drawn per second of audio rather than per file (long recordings weigh as much as they last).
    crops_by_duration: bool = False
    speed_perturb: float = 0.0  # training crops at a random speed in [1 - s, 1 + s] (pitch and formants move)
    # Speech crops (every speech-crop task: reconstruct, codec, phase, envelope) recoloured by a random smooth EQ of
    # up to +-this many dB, level kept: the same voices as other microphones and rooms would record them
    speech_eq_db: float = 0.0
    # Mixtures (the denoise task): speech from `root` + noise from `noise`, at a drawn SNR and overall level.
    noise: str | None = None  # folder of noise recordings (../shared/data/noise); `vqaudio train --noise` sets it
    noise_names: list[str] | None = None  # keep only these recordings (file stems), e.g. [white-noise]
    snr_db: list[float] = field(default_factory=lambda: [-5.0, 20.0])
    level_dbfs: list[float] | None = field(default_factory=lambda: [-35.0, -15.0])
    band_limit_prob: float = 0.0  # share of training mixtures band-limited to 4 kHz, as telephone speech is
    noise_speed_perturb: float = 0.0  # training noise played at a random speed in [1 - s, 1 + s] (its spectrum moves)
    noise_eq_db: float = 0.0  # training noise recoloured by a random smooth EQ of up to +-this many dB (transforms)
    noise_layer_prob: float = 0.0  # share of training mixtures whose noise is two recordings at once
    coloured_noise_prob: float = 0.0  # share whose noise is stationary coloured Gaussian noise, not a recording
    # Music (the separate task): songs from `root`; training pairs a clip's vocals with another clip's accompaniment
    # `remix_prob` of the time, each stem at a gain drawn in `stem_gain_db` (speed_perturb applies to each stem).
    remix_prob: float = 0.5
    stem_gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    stem_eq_db: float = 0.0  # each training stem recoloured by a random smooth EQ of up to +-this many dB
    # More voices for the vocal stem: the train split of a speech root (e.g. ../shared/data/speech; which of its
    # corpora: `extra_vocals_corpora`, a list or "all"), joined per speaker into crop-length utterances, sung over
    # a training clip's accompaniment `extra_vocals_prob` of the time
    extra_vocals: str | None = None
    extra_vocals_corpora: list[str] | str | None = None
    extra_vocals_prob: float = 0.3


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
    devices: int | str | list[int] = 1  # a count, "auto", or which GPUs ([0, 1])
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    log_every_n_steps: int = 20
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    # Validate and save an exponential moving average of the weights instead of the last ones (e.g. 0.995: the
    # last ~200 steps weigh most); it smooths the step-to-step noise a small data set's best round is picked from.
    ema_decay: float | None = None


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
    # trained weights this run starts from (train/warm_start.py), e.g. an earlier stage's runs/NAME/best.safetensors;
    # `vqaudio train --init-from` overrides it
    init_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RecipeConfig:
        """Build from parsed YAML; ValueError names the first unknown key, missing key or value of the wrong type."""
        if not isinstance(raw, dict):
            raise ValueError(f"a recipe must be a mapping of keys to values, got {_shown(raw)}")
        raw = dict(raw)
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown recipe keys: {sorted(map(str, unknown))}")
        for key in ("name", "model_type"):
            if key not in raw:
                raise ValueError(f"recipe is missing the required key '{key}'")
        sections = {"data": DataConfig, "optim": OptimConfig, "trainer": TrainerConfig}
        for key, section_cls in sections.items():
            raw[key] = _build_section(section_cls, {} if raw.get(key) is None else raw[key], key)
        raw["model"] = _section_values({} if raw.get("model") is None else raw["model"], "model")
        hints = typing.get_type_hints(cls)
        for key in set(raw) - set(sections) - {"model"}:
            raw[key] = _checked(raw[key], hints[key], key)
        return cls(**raw)


def _section_values(values: Any, name: str) -> dict[str, Any]:
    """A section's mapping; ValueError for a scalar or list where a section belongs (`--set model=3`)."""
    if not isinstance(values, dict):
        raise ValueError(
            f"recipe section '{name}' must be a mapping of keys to values, got {_shown(values)}; "
            f"set one of its keys instead, e.g. --set {name}.KEY=VALUE"
        )
    return values


def _build_section(section_cls: type, values: Any, name: str) -> Any:
    values = _section_values(values, name)
    allowed = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(
            f"unknown keys in recipe section '{name}': {sorted(map(str, unknown))}; allowed: {sorted(allowed)}"
        )
    hints = typing.get_type_hints(section_cls)
    return section_cls(**{key: _checked(value, hints[key], f"{name}.{key}") for key, value in values.items()})


def _checked(value: Any, expected: Any, key: str) -> Any:
    """`value` as the field type `expected` wants it, or ValueError naming the key, the type and the value.

    Numbers written as strings YAML 1.1 does not read as numbers ("1e-3") are taken for floats, ints for floats,
    numbers for strings (a run named 2024), lists for tuples.
    """
    converted = _convert(value, expected)
    if converted is _MISMATCH:
        raise ValueError(f"recipe key '{key}' must be {_describe(expected)}, got {_shown(value)}")
    return converted


_MISMATCH = object()


def _convert(value: Any, expected: Any) -> Any:
    """`value` converted to the annotation `expected`, or _MISMATCH."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if expected is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None if type(None) in args else _MISMATCH
        for option in sorted(args, key=lambda a: a is float):  # exact types first: "auto" stays a str in int | str
            converted = _convert(value, option)
            if converted is not _MISMATCH:
                return converted
        return _MISMATCH
    if expected is type(None):
        return None if value is None else _MISMATCH
    if expected is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if expected is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)  # "1e-3": a float to a reader, a string to YAML 1.1
            except ValueError:
                return _MISMATCH
            return number if math.isfinite(number) else _MISMATCH
        return _MISMATCH
    if expected is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # a name or folder YAML read as a number (`--out 2024`)
        return value if isinstance(value, str) else _MISMATCH
    if origin is list:
        if not isinstance(value, list):
            return _MISMATCH
        items = [_convert(item, args[0]) for item in value]
        return _MISMATCH if any(item is _MISMATCH for item in items) else items
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            return _MISMATCH
        items = [_convert(item, arg) for item, arg in zip(value, args, strict=True)]
        return _MISMATCH if any(item is _MISMATCH for item in items) else tuple(items)
    if origin is dict:
        return value if isinstance(value, dict) else _MISMATCH
    return value  # a type this checker does not know: left to the dataclass


def _describe(expected: Any) -> str:
    """An annotation in words: 'a number', 'an integer or none', 'a list of numbers', ..."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s"
    if origin is tuple:
        return f"a list of {len(args)} {_describe(args[0]).split(' ', 1)[1]}s"
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false", type(None): "none"}
    return names.get(expected, getattr(expected, "__name__", str(expected)))


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:77]}..." if len(text) > 80 else text


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeConfig:
    """Read a YAML recipe, then apply `section.key=value` overrides (values parsed as YAML)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ValueError(f"recipe {path} is not UTF-8 text: {err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"recipe {path} is not valid YAML{_yaml_where(err)}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping, got {type(raw).__name__}")
    try:
        for override in overrides or []:
            apply_override(raw, override)
        return RecipeConfig.from_dict(raw)
    except ValueError as err:
        raise ValueError(f"recipe {path}: {err}") from None


def _yaml_where(err: yaml.YAMLError, lines: bool = True) -> str:
    """' (line L, column C): problem' from a YAML error, as far as it tells (without the place for one-line text)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None and lines else ""
    problem = " ".join(str(part) for part in (getattr(err, "context", None), getattr(err, "problem", None)) if part)
    return f"{where}: {problem or err}"


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
    try:
        node[leaf] = yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ValueError(f"override '{override}': the value is not valid YAML{_yaml_where(err, lines=False)}") from None
