"""Keeps the best weights as safetensors (loadable without Lightning) as validation improves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L

from vqaudio.models import save_model


class BestWeights(L.Callback):
    """Writes `best.safetensors` whenever the monitored validation figure improves (rank 0 only)."""

    def __init__(self, path: Path, metadata: dict[str, Any], monitor: str = "val/loss") -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.monitor = monitor
        self.best: float | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self.best is not None and value >= self.best:
            return
        self.best = value
        if trainer.is_global_zero:
            meta = {
                **self.metadata,
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,
                self.monitor: value,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            save_model(pl_module.model, self.path, metadata={k: json.dumps(v) for k, v in meta.items()})

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
