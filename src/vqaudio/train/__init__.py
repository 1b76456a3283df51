"""Training: recipes (YAML) -> Lightning -> best weights as safetensors.

The only place Lightning is imported.
"""

from vqaudio.train.config import DataConfig, OptimConfig, RecipeConfig, TrainerConfig, load_recipe
from vqaudio.train.fit import fit

__all__ = ["DataConfig", "OptimConfig", "RecipeConfig", "TrainerConfig", "fit", "load_recipe"]
