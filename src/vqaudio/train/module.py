"""Lightning module: a batch -> the task's features -> the model -> the task's loss, logged per step and epoch."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn

from vqaudio.train.config import OptimConfig
from vqaudio.train.tasks import Task


class NonFiniteLossError(ValueError):
    """A training loss became NaN or infinite; the message names the step and the loss terms that did.

    A ValueError, so `vqaudio train` reports it as one line (exit 2).
    """


class TaskModule(L.LightningModule):
    """Trains any vqaudio model for a task (the task owns features, loss and metrics; the model returns outputs)."""

    def __init__(self, model: nn.Module, task: Task, optim: OptimConfig) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.optim = optim

    def _step(self, batch: Tensor, stage: str) -> Tensor:
        inputs, targets = self.task.features(self.model, batch)
        out = self.model(inputs)
        loss, parts = self.task.loss(self.model, out, targets)
        train = stage == "train"
        if train:
            self._check_finite(loss, parts)
        logged = {"loss": loss, **parts}
        if out.perplexity is not None:
            logged["perplexity"] = out.perplexity
        if not train:
            with torch.no_grad():
                logged.update(self.task.validation_metrics(self.model, out, targets))
        shown = ("loss", "rmse_db")
        for name, value in logged.items():
            self.log(
                f"{stage}/{name}",
                value,
                prog_bar=name in shown,
                on_step=train,
                on_epoch=True,
                sync_dist=not train,
                batch_size=inputs.shape[0],
            )
        return loss

    def _check_finite(self, loss: Tensor, parts: dict[str, Tensor]) -> None:
        """NonFiniteLossError before the backward pass when the loss is NaN or infinite (on any DDP rank).

        Nothing is saved after it: last.ckpt and best.safetensors stay those of the last finished epoch and the best
        validation round. Costs one device sync per step (and, under DDP, one all-reduce of a flag, so that every
        rank stops at the same step instead of waiting on the others).
        """
        finite = bool(torch.isfinite(loss.detach()).all())
        trainer = self._trainer  # None when the module runs outside a Trainer
        stop = not finite if trainer is None else trainer.strategy.reduce_boolean_decision(not finite, all=False)
        if not stop:
            return
        if finite:
            where = "on another process"
        else:
            values = {name: torch.as_tensor(v).detach().float() for name, v in parts.items()}
            terms = [f"{name}={float(v.mean()):g}" for name, v in values.items() if not torch.isfinite(v).all()]
            where = f"in {', '.join(terms)}" if terms else f"in the weighted sum of finite terms (loss={float(loss):g})"
        raise NonFiniteLossError(
            f"training loss is not finite at step {trainer.global_step if trainer else '?'} "
            f"(epoch {self.current_epoch}) {where}"
        )

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
