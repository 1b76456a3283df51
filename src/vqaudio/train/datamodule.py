"""Lightning data module: the task's training and validation sets, in loaders."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, Dataset

from vqaudio.train.config import DataConfig
from vqaudio.train.tasks import Task


class TaskDataModule(L.LightningDataModule):
    """Random training examples and fixed validation examples of a task, built once on first setup."""

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
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, train=False)
