"""Callbacks: the best weights as safetensors (loadable without Lightning), a moving average of the weights, and the
random streams for --resume."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging

from vqaudio.data.rng import WorkerGenerator
from vqaudio.models import save_model
from vqaudio.train.checkpoint_io import sync_to_disk

log = logging.getLogger(__name__)


class MovingAverageWeights(EMAWeightAveraging):
    """Lightning's exponential moving average of the weights (parameters and buffers), updated after every step.

    Validation rounds run on the average (Lightning swaps it in and back), and training ends with it in the model;
    `averaged_model()` hands `BestWeights` the averaged task model, which is what a round scored.
    """

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"trainer.ema_decay must lie between 0 and 1 (e.g. 0.995), got {decay}")
        super().__init__(decay=decay)
        self.decay = float(decay)

    def averaged_model(self) -> torch.nn.Module | None:
        """The averaged copy of the task's model (TaskModule.model), or None before training has set it up."""
        average = self._average_model
        return None if average is None else average.module.model


class BestWeights(L.Callback):
    """Writes `best.safetensors` whenever the monitored validation figure improves (rank 0 only).

    A NaN or infinite figure never counts as an improvement. With `averaging`, the weights written are its moving
    average, the weights the validation round scored (Lightning has swapped the live ones back by then).
    """

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        monitor: str = "val/loss",
        averaging: MovingAverageWeights | None = None,
    ) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.monitor = monitor
        self.averaging = averaging
        self.best: float | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value) or (self.best is not None and value >= self.best):
            return
        self.best = value
        if trainer.is_global_zero:
            meta = {
                **self.metadata,
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,
                self.monitor: value,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **({"ema_decay": self.averaging.decay} if self.averaging is not None else {}),
            }
            # save_model writes a temporary file and renames it over the old one: never a torn best.safetensors
            averaged = self.averaging.averaged_model() if self.averaging is not None else None
            model = averaged if averaged is not None else pl_module.model
            save_model(model, self.path, metadata={k: json.dumps(v) for k, v in meta.items()})
            sync_to_disk(self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")


class ValidateAtEnd(L.Callback):
    """Runs a validation round after the last training step when no round has seen that step yet.

    A run cut short by max_steps (mid-epoch, or before the first `val_every_n_steps`), or whose last epoch ends
    between step-based rounds, would otherwise end with its last steps unmeasured, or with no best weights at
    all. Setting `should_stop` on the last batch makes Lightning validate before it stops, on every rank alike.
    (Where the epoch is not one validation is allowed in, `val_every_n_epochs` > 1, Lightning still skips it.)
    """

    def __init__(self) -> None:
        self.validated_step = -1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validated_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step <= self.validated_step:
            return
        last_step = 0 < trainer.max_steps <= trainer.global_step
        max_epochs = trainer.max_epochs
        last_epoch = max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs
        if last_step or (last_epoch and batch_idx + 1 >= trainer.num_training_batches):
            trainer.should_stop = True


class RandomStates(L.Callback):
    """Puts every random stream training draws from into the checkpoint, and back on `--resume`.

    Streams: torch's (CPU, and CUDA where used), numpy's and Python's global generators, and the training set's own
    generators (`vqaudio.data.rng.WorkerGenerator`: crops, mixtures, speed). Restored when training starts (after
    the sanity check), a run resumed from an epoch-end checkpoint shuffles, crops, drops out and restarts codebooks
    exactly as a run that never stopped. (A checkpoint is only written at epoch ends: the loader cannot resume
    mid-epoch.) Under DDP every rank's streams are gathered into the checkpoint and each rank gets its own back,
    when resumed on as many processes; otherwise the ranks start fresh streams, with a warning.
    """

    def __init__(self) -> None:
        self._trainer: L.Trainer | None = None
        self._pending: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        mine = self._collect()
        if _world_size() > 1:  # state_dict runs on every rank when a checkpoint is saved
            ranks: list[Any] = [None] * _world_size()
            torch.distributed.all_gather_object(ranks, mine)
            return {"ranks": ranks}
        return {"ranks": [mine]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pending, self._pending = self._pending, None
        if not pending:
            return
        ranks = pending.get("ranks") or []
        if len(ranks) != trainer.world_size:
            log.warning(
                "resuming on %d process(es) a run saved on %d: the random streams start afresh, so the run goes on "
                "but does not repeat an unbroken one draw for draw",
                trainer.world_size,
                len(ranks),
            )
            return
        self._restore(ranks[trainer.global_rank])

    def _generators(self) -> dict[str, WorkerGenerator]:
        datamodule = getattr(self._trainer, "datamodule", None)
        dataset = getattr(datamodule, "train_dataset", None)
        return dict(_find_generators(dataset, "train_dataset")) if dataset is not None else {}

    def _collect(self) -> dict[str, Any]:
        numpy_state = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
            "python": random.getstate(),
            # JSON: numpy's bit-generator states hold 128-bit integers, kept plain for weights_only loading
            "data": {name: json.dumps(gen.get_state()) for name, gen in self._generators().items()},
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        generators = self._generators()
        for name, saved in state.get("data", {}).items():
            if name in generators:
                generators[name].set_state(json.loads(saved))


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _find_generators(obj: Any, name: str, seen: set[int] | None = None) -> list[tuple[str, WorkerGenerator]]:
    """(attribute path, generator) for every WorkerGenerator in a data set and the data sets it wraps."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, WorkerGenerator):
        return [(name, obj)]
    found: list[tuple[str, WorkerGenerator]] = []
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            if isinstance(item, (torch.utils.data.Dataset, WorkerGenerator)):
                found += _find_generators(item, f"{name}[{i}]", seen)
        return found
    if isinstance(obj, torch.utils.data.Dataset):
        for key, value in vars(obj).items():
            if isinstance(value, (torch.utils.data.Dataset, WorkerGenerator, list, tuple)):
                found += _find_generators(value, f"{name}.{key}", seen)
    return found
