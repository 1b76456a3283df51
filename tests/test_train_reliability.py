"""Training that survives: SIGKILL then --resume repeats an unbroken run, atomic checkpoints read without pickle's
code, a NaN loss stops the run naming the step and the term, and a run too short to validate still leaves weights."""

from __future__ import annotations

import csv
import importlib
import math
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from tests.helpers import TINY_MODEL, make_fsdd_folder
from tests.test_train import tiny_recipe
from vqaudio.models import load_model, read_metadata
from vqaudio.models.io import decode_metadata_value
from vqaudio.train import fit
from vqaudio.train.checkpoint_io import AtomicCheckpointIO, write_atomic

# A run resumed from the last epoch-end checkpoint restores weights, optimizer, schedule, the shuffling generator
# and every random stream, so on one machine it repeats the unbroken run bit for bit; the tolerance only allows
# for a BLAS that orders sums differently in another process.
RESUME_REL_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd_folder(tmp_path_factory.mktemp("fsdd"))  # 8 training clips: 2 steps per epoch at batch 4


def _val_rows(run: Path) -> list[dict[str, str]]:
    """Every validation row of every logs/version_N of a run, oldest first."""
    rows: list[dict[str, str]] = []
    for version in sorted((run / "logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        with open(version / "metrics.csv") as f:
            rows += [r for r in csv.DictReader(f) if r.get("val/loss")]
    return rows


KILLED_RUN = """
import sys, time
from pathlib import Path
import lightning as L
from vqaudio.train import fit, load_recipe

class StallMidEpoch(L.Callback):
    # After the epoch-0 checkpoint and one step of epoch 1, say so and wait to be killed.
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 1:
            Path(sys.argv[2]).write_text(str(trainer.global_step))
            time.sleep(120)

fit(load_recipe(sys.argv[1]), callbacks=[StallMidEpoch()])
"""


def test_sigkill_mid_epoch_then_resume_matches_an_unbroken_run(corpus: Path, tmp_path: Path, one_thread: None) -> None:
    # threads=1 in both runs (and in the killed process): the same arithmetic, so the same numbers
    killed = tiny_recipe(corpus, tmp_path / "killed", max_epochs=3, threads=1)
    recipe_file = tmp_path / "tiny.yaml"
    recipe_file.write_text(yaml.safe_dump(killed.to_dict(), sort_keys=False))
    script, marker = tmp_path / "killed_run.py", tmp_path / "stalled"
    script.write_text(textwrap.dedent(KILLED_RUN))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(recipe_file), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "exited"
            assert time.monotonic() < deadline, "the run never reached epoch 1"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    run = tmp_path / "killed" / killed.name
    state = torch.load(run / "last.ckpt", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 2)  # the epoch-0 checkpoint; step 3 was under way
    assert marker.read_text() == "3"

    resumed = fit(killed, resume=True)
    unbroken = fit(tiny_recipe(corpus, tmp_path / "unbroken", max_epochs=3, threads=1))

    a, b = _val_rows(unbroken.parent)[-1], _val_rows(resumed.parent)[-1]
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == ("2", "5")
    figures = [k for k in a if k.startswith("val/") and a[k]]
    assert "val/loss" in figures and "val/rmse_db" in figures
    for key in figures:
        assert float(b[key]) == pytest.approx(float(a[key]), rel=RESUME_REL_TOLERANCE), key
    assert not list(run.glob(".*.tmp"))


# ------------------------------------------------------------------------------------------- atomic checkpoints


class _NotAState:
    """Anything pickle would rebuild by running code: weights_only loading must refuse it."""


def test_checkpoint_io_replaces_atomically_and_loads_weights_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "run" / "last.ckpt"
    io.save_checkpoint({"step": 1, "weights": torch.ones(3)}, path)
    assert io.load_checkpoint(path)["step"] == 1
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()  # a plain file's permissions, not mkstemp's 0600

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": 2, "weights": torch.zeros(3)}, path)
    monkeypatch.undo()
    kept = io.load_checkpoint(path)
    assert kept["step"] == 1 and torch.equal(kept["weights"], torch.ones(3))  # the old checkpoint, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temporary left behind

    write_atomic(path, _pickled(_NotAState()))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        io.load_checkpoint(path)


def _pickled(obj: object) -> bytes:
    import io as _io

    buffer = _io.BytesIO()
    torch.save({"state": obj}, buffer)
    return buffer.getvalue()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_best_weights_survive_a_save_that_dies_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vqaudio.models import build_model
    from vqaudio.train.callbacks import BestWeights

    def trainer(val_loss: float) -> SimpleNamespace:  # what BestWeights reads of Lightning's trainer
        metrics = {"val/loss": torch.tensor(val_loss)}
        return SimpleNamespace(
            sanity_checking=False, is_global_zero=True, current_epoch=0, global_step=1, callback_metrics=metrics
        )

    module = SimpleNamespace(model=build_model("vqvae", dict(TINY_MODEL, codebook_size=16)))
    path = tmp_path / "best.safetensors"
    callback = BestWeights(path, {"recipe": "tiny"})
    callback.on_validation_end(trainer(0.5), module)  # type: ignore[arg-type]
    before = path.read_bytes()
    io_module = importlib.import_module("vqaudio.models.io")

    def dying_save_file(tensors: dict, filename: str, metadata: dict) -> None:
        Path(filename).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(io_module, "save_file", dying_save_file)
    with pytest.raises(KeyboardInterrupt):
        callback.on_validation_end(trainer(0.25), module)  # type: ignore[arg-type]
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert load_model(path).config.codebook_size == 16


# ------------------------------------------------------------------------------------------------- NaN / inf loss


def test_nan_loss_stops_the_run_naming_step_and_term_and_keeps_the_checkpoints(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fit_module = importlib.import_module("vqaudio.train.fit")  # vqaudio.train.fit is also the function's name
    real_build_task = fit_module.build_task
    calls = {"train": 0}

    def build_task(name: str):  # the real task, whose loss turns NaN in its "vq" term at the 4th training step
        task = real_build_task(name)
        loss = task.loss

        def poisoned(model, output, targets):
            total, parts = loss(model, output, targets)
            if model.training:
                calls["train"] += 1
                if calls["train"] == 4:
                    parts = {**parts, "vq": torch.tensor(math.nan)}
                    total = total + parts["vq"]
            return total, parts

        task.loss = poisoned
        return task

    monkeypatch.setattr(fit_module, "build_task", build_task)
    recipe = tiny_recipe(corpus, tmp_path / "runs", max_epochs=3)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    from vqaudio.cli import main

    assert main(["train", str(path)]) == 2
    out = capsys.readouterr().err
    err = out.strip().splitlines()[-1]  # above it: Lightning's progress and messages
    assert err.startswith("vqaudio train: error: training loss is not finite at step 3 (epoch 1) in vq=nan"), err
    assert "Traceback" not in out
    run = tmp_path / "runs" / recipe.name
    assert f"kept as they were: {run / 'last.ckpt'} and {run / 'best.safetensors'}" in err
    state = torch.load(run / "last.ckpt", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (0, 2)  # the last good epoch end
    assert all(v.isfinite().all() for v in state["state_dict"].values() if v.is_floating_point())
    assert decode_metadata_value(read_metadata(run / "best.safetensors")["step"]) == 2
    model = load_model(run / "best.safetensors")
    assert all(p.isfinite().all() for p in model.parameters())


# ------------------------------------------------------------------------------ a run too short to validate


@pytest.mark.parametrize(
    "trainer",
    [
        {"max_steps": 1},  # ends mid-epoch: EarlyStopping used to fail for want of val/loss
        {"max_steps": 1, "val_every_n_steps": 5},
    ],
    ids=["mid-epoch", "before-val-interval"],
)
def test_run_ending_before_its_first_validation_is_validated_at_the_end(
    corpus: Path, tmp_path: Path, trainer: dict[str, int]
) -> None:
    best = fit(tiny_recipe(corpus, tmp_path, max_epochs=5, **trainer))
    meta = read_metadata(best)
    assert decode_metadata_value(meta["step"]) == 1 and math.isfinite(decode_metadata_value(meta["val/loss"]))
    assert _val_rows(best.parent)  # the final round is in the logs too
