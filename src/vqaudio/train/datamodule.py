"""Lightning data module: the task's training and validation sets, in loaders."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from vqaudio.train.config import DataConfig
from vqaudio.train.tasks import Task


class TaskDataModule(L.LightningDataModule):
    """Random training examples and fixed validation examples of a task, built once on first setup.

    The training order (and the loader's worker seeds) come from a generator of its own, seeded by `seed` and kept
    in the checkpoint (`state_dict`), not from torch's global one: a resumed run shuffles as an unbroken run does,
    whatever else drew from the global generator while Lightning restored and sanity-checked.
    """

    def __init__(
        self, task: Task, config: DataConfig, sample_rate: int, seed: int = 0, level_db: float | None = None
    ) -> None:
        """`level_db`: the active speech level (dBFS) every file is scaled to (the model's input_level_db)."""
        super().__init__()
        if not config.root:
            raise ValueError("no training data given: pass --data DIR or set data.root in the recipe")
        self.task = task
        self.config = config
        self.sample_rate = sample_rate
        self.seed = seed
        self.level_db = level_db
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.shuffle_generator = torch.Generator().manual_seed(int(seed))

    def __getstate__(self) -> dict[str, Any]:
        # torch.Generator does not survive pickling into spawned processes (ddp_spawn): send its state as bytes
        state = dict(self.__dict__)
        state["shuffle_generator"] = self.shuffle_generator.get_state().numpy().tobytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator = torch.Generator()
        generator.set_state(torch.frombuffer(bytearray(state["shuffle_generator"]), dtype=torch.uint8))
        self.__dict__.update({**state, "shuffle_generator": generator})

    def state_dict(self) -> dict[str, Any]:
        return {"shuffle_generator": self.shuffle_generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "shuffle_generator" in state_dict:
            self.shuffle_generator.set_state(state_dict["shuffle_generator"])

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is None:
            self.train_dataset, self.val_dataset = self.task.datasets(
                self.config, self.sample_rate, self.seed, self.level_db
            )

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        assert dataset is not None, "call setup() first"
        workers = self.config.num_workers
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            shuffle=train,
            drop_last=False,
            num_workers=workers,
            # Fresh workers each epoch, seeded from the shuffle generator (which last.ckpt holds): a resumed run
            # draws what an unbroken one would. Persistent workers would carry streams no checkpoint can capture.
            persistent_workers=False,
            generator=self.shuffle_generator if train else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, train=False)
