"""Lightning module: waveform batches -> log-magnitude -> autoencoder -> losses, logged per step and epoch."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn

from vqaudio.audio.spectral import log_magnitude
from vqaudio.train.config import OptimConfig


class AutoencoderModule(L.LightningModule):
    """Trains any vqaudio spectrogram autoencoder (forward -> reconstruction_db, loss, losses, ...)."""

    def __init__(self, model: nn.Module, optim: OptimConfig) -> None:
        super().__init__()
        self.model = model
        self.stft = model.config.stft  # the front-end the model's config names: one source of truth
        self.floor_db = float(model.config.floor_db)
        self.optim = optim

    def features(self, wave: Tensor) -> Tensor:
        return log_magnitude(wave, self.stft, floor_db=self.floor_db)

    def _step(self, wave: Tensor, stage: str) -> Tensor:
        spec = self.features(wave)
        out = self.model(spec)
        on_step = stage == "train"
        sync = stage != "train"
        batch = wave.shape[0]
        self.log(
            f"{stage}/loss",
            out.loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            sync_dist=sync,
            batch_size=batch,
        )
        for name, value in out.losses.items():
            self.log(f"{stage}/{name}", value, on_step=on_step, on_epoch=True, sync_dist=sync, batch_size=batch)
        if out.perplexity is not None:
            self.log(
                f"{stage}/perplexity",
                out.perplexity,
                on_step=on_step,
                on_epoch=True,
                sync_dist=sync,
                batch_size=batch,
            )
        if stage != "train":
            # The error a listener hears: RMS of the dB difference where the input is above the floor.
            target = spec if out.target_db is None else out.target_db  # e.g. rate-K dB for envelope models
            rmse_db = (out.reconstruction_db - target).pow(2).mean().sqrt()
            self.log(f"{stage}/rmse_db", rmse_db, prog_bar=True, on_epoch=True, sync_dist=sync, batch_size=batch)
        return out.loss

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        quantizer = getattr(self.model, "quantizer", None)
        stats = getattr(quantizer, "stats", None)
        if callable(stats) and not self.trainer.sanity_checking:
            for name, value in stats().items():
                self.log(f"codebook/{name}", float(value), sync_dist=True)

    def configure_optimizers(self):  # type: ignore[override]
        opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.optim.lr,
            betas=self.optim.betas,
            weight_decay=self.optim.weight_decay,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.optim.warmup_steps, total // 4)
        floor = self.optim.min_lr_ratio

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
