"""Files shipped inside the package: example speech for the demo and pretrained weights with model cards."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
EXAMPLES = ASSETS / "examples"
PRETRAINED = ASSETS / "pretrained"


def example_files() -> list[Path]:
    """The demo's example speech (synthesized by examples/make_examples.py, 8 kHz FLAC)."""
    return sorted(EXAMPLES.glob("*.flac"))


def pretrained_names() -> list[str]:
    return sorted(p.stem for p in PRETRAINED.glob("*.safetensors"))


def pretrained_path(name: str) -> Path:
    """Path of shipped weights by name, e.g. 'reconstruct-vqvae-8k'; a clear error lists what exists."""
    path = PRETRAINED / f"{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained model '{name}'; shipped: {', '.join(pretrained_names()) or 'none'}")
    return path
