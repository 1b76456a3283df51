"""Lightning data module: speech folders -> random training crops and fixed validation crops."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from vqaudio.data import SpeechFile, WaveformCropDataset, speech_files
from vqaudio.train.config import DataConfig


def _spread(files: list[SpeechFile], limit: int | None) -> list[SpeechFile]:
    """Keep `limit` files spread evenly over the sorted list, so every speaker stays represented."""
    if limit is None or len(files) <= limit:
        return files
    step = len(files) / limit
    return [files[int(i * step)] for i in range(limit)]


class SpeechDataModule(L.LightningDataModule):
    def __init__(self, config: DataConfig, sample_rate: int, seed: int = 0, level_db: float | None = None) -> None:
        """`level_db`: the active speech level (dBFS) every file is scaled to (the model's input_level_db)."""
        super().__init__()
        if not config.root:
            raise ValueError("no training data given: pass --data DIR or set data.root in the recipe")
        self.config = config
        self.sample_rate = sample_rate
        self.seed = seed
        self.level_db = level_db
        self.crop_samples = round(config.crop_seconds * sample_rate)
        self.train_dataset: WaveformCropDataset | None = None
        self.val_dataset: WaveformCropDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is not None:
            return
        cfg = self.config
        train_files = _spread(speech_files(cfg.root, "train", words=cfg.words), cfg.max_files)
        val_files = _spread(speech_files(cfg.root, "val", words=cfg.words), cfg.max_files)
        if not train_files or not val_files:
            raise ValueError(
                f"{cfg.root}: need files in both splits, found {len(train_files)} train and {len(val_files)} val"
            )
        self.train_dataset = WaveformCropDataset(
            train_files,
            self.sample_rate,
            self.crop_samples,
            random_crops=True,
            crops_per_file=cfg.crops_per_file,
            seed=self.seed,
            speed_perturb=cfg.speed_perturb,
            level_db=self.level_db,
        )
        self.val_dataset = WaveformCropDataset(
            val_files,
            self.sample_rate,
            self.crop_samples,
            random_crops=False,
            crops_per_file=cfg.val_crops_per_file,
            seed=self.seed,
            level_db=self.level_db,
        )

    def _loader(self, dataset: WaveformCropDataset | None, train: bool) -> DataLoader:
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
