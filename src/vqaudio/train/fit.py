"""fit(recipe) -> path of the best weights. The one entry point to training."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from vqaudio.audio import FrontEnd
from vqaudio.audio.io import AUDIO_EXTENSIONS
from vqaudio.data import MusicRemixDataset, SpeechFile, singer_of
from vqaudio.data.base import is_audio
from vqaudio.data.summary import summarize_training_files
from vqaudio.models import build_config, build_model
from vqaudio.train.callbacks import BestWeights, MovingAverageWeights, RandomStates, ValidateAtEnd
from vqaudio.train.checkpoint_io import AtomicCheckpointIO
from vqaudio.train.config import DataConfig, RecipeConfig, TrainerConfig
from vqaudio.train.datamodule import TaskDataModule
from vqaudio.train.module import NonFiniteLossError
from vqaudio.train.tasks import Task, build_task, default_task, extra_vocal_files
from vqaudio.train.warm_start import INPUT_SCALING, describe_initial_weights, init_config, load_initial_weights

log = logging.getLogger(__name__)

BEST_WEIGHTS = "best.safetensors"
RESUME_STATE = "last.ckpt"  # Lightning's training state (optimizer, schedule): for --resume only, never shipped
MODEL_CONFIG = "model_config.json"


def run_dir(recipe: RecipeConfig) -> Path:
    return Path(recipe.out_dir) / recipe.name


def estimate_norm_stats(
    dataset: torch.utils.data.Dataset, task: Task, front_end: FrontEnd, n_examples: int = 256
) -> tuple[float, float]:
    """Mean and std of the model's input features over a spread of training examples, for its input scaling."""
    n = len(dataset)  # type: ignore[arg-type]
    picks = torch.linspace(0, n - 1, min(n, n_examples)).long().tolist()
    batch = torch.utils.data.default_collate([dataset[i] for i in picks])
    features = front_end.features(task.waves(batch)[0])
    return float(features.mean()), float(features.std().clamp_min(1e-3))


def _model_config(
    recipe: RecipeConfig, task: Task, datamodule: TaskDataModule, out: Path, resume: bool, init_from: Path | None
) -> dict[str, Any]:
    saved = out / MODEL_CONFIG
    if resume and saved.is_file():
        return json.loads(saved.read_text())  # the normalisation must match the weights being resumed
    config = build_config(recipe.model_type, dict(recipe.model))  # defaults filled in, no model built
    if init_from is not None:  # the loaded layers were trained on the stored input scaling
        stored = init_config(init_from, recipe.model_type)
        return {**config.to_dict(), **{key: stored[key] for key in INPUT_SCALING if key in stored}}
    datamodule.setup()
    mean, std = estimate_norm_stats(datamodule.train_dataset, task, config.front_end)
    return {**config.to_dict(), "norm_mean": round(mean, 3), "norm_std": round(std, 3)}


def _training_summary(datamodule: TaskDataModule) -> dict[str, Any]:
    """{"training_summary": corpora, speakers, files, seconds} of the files the run trains on (for model cards)."""
    datamodule.setup()
    dataset = datamodule.train_dataset
    dataset = getattr(dataset, "dataset", dataset)  # a wrapper (BandLimited) around the mixtures
    listed = getattr(dataset, "files", None) or getattr(dataset, "speech_files", [])
    files = [f for f in listed if isinstance(f, SpeechFile)]
    if isinstance(dataset, MusicRemixDataset):  # songs: the singer stands where the speaker does
        files = [SpeechFile(Path(c), singer_of(Path(c).stem), _music_corpus(Path(c))) for c in dataset.clips]
    if not files:
        return {}
    seconds = getattr(dataset, "total_seconds", None)
    seconds = seconds[0] if isinstance(seconds, tuple) else seconds  # mixtures: (speech, noise) seconds
    return {"training_summary": summarize_training_files(files, seconds)}


def _extra_vocals_summary(data: DataConfig, datamodule: TaskDataModule) -> dict[str, Any]:
    """{"extra_vocals": folder, "extra_vocals_summary": corpora, speakers, files, seconds} of the speech a separator
    trains on as more vocals (data.extra_vocals), for its model card; {} without."""
    files = extra_vocal_files(data)
    if not files:
        return {}
    seconds = getattr(datamodule.train_dataset, "extra_vocals_seconds", None)
    return {"extra_vocals": data.extra_vocals, "extra_vocals_summary": summarize_training_files(files, seconds)}


def _music_corpus(path: Path) -> str:
    """The corpus a song's licence is found under: MIR-1K clips, MUSDB18 track folders, else a plain folder."""
    if "mir1k" in {part.lower() for part in path.parts}:
        return "mir1k"
    return "musdb" if path.is_dir() else "folder"


_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")  # the names Lightning knows


def check_accelerator(trainer: TrainerConfig) -> None:
    """ValueError, before anything is built, when the recipe asks for a GPU (or MPS) this machine does not have."""
    name = str(trainer.accelerator).lower()
    if name not in _ACCELERATORS:
        raise ValueError(
            f"accelerator {trainer.accelerator!r} (--accelerator, trainer.accelerator) is not one Lightning knows; "
            f"use one of {', '.join(_ACCELERATORS)}"
        )
    if name in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"accelerator {trainer.accelerator!r} (--accelerator, trainer.accelerator): no GPU is visible to "
                "torch (torch.cuda.is_available() is False); use --accelerator cpu (or auto)"
            )
        count = torch.cuda.device_count()
        if isinstance(trainer.devices, int) and trainer.devices > count:
            raise ValueError(
                f"devices {trainer.devices} (--devices, trainer.devices): only {count} GPU(s) visible; "
                f"use --devices {count} or fewer"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "accelerator 'mps' (--accelerator, trainer.accelerator): Apple MPS is not available on this machine; "
            "use --accelerator cpu"
        )


def check_data_folders(data: DataConfig) -> None:
    """FileNotFoundError for a data folder that does not exist, ValueError for one with no audio in it (at any depth).

    Only that the folders hold audio at all; which files a task takes (its splits, corpora, words) it checks itself.
    """
    folders = (
        ("--data", "data.root", data.root),
        ("--noise", "data.noise", data.noise),
        ("--set data.extra_vocals=", "data.extra_vocals", data.extra_vocals),
    )
    for flag, key, folder in folders:
        if folder is None:
            continue
        path = Path(folder).expanduser()
        if not path.is_dir():
            what = "is a file, not a folder" if path.exists() else "no such folder"
            raise FileNotFoundError(f"{flag} {folder}: {what}; pass a folder of recordings ({flag} DIR or {key})")
        if not _holds_audio(path):
            raise ValueError(
                f"{flag} {folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in it or its sub-folders; "
                f"pass a folder of recordings ({flag} DIR or {key})"
            )


def _holds_audio(folder: Path) -> bool:
    """Whether any audio file lies under `folder`, walked as the data sets walk it; stops at the first."""
    for _, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(is_audio(name) for name in filenames):
            return True
    return False


def check_run_folder(out: Path, resume: bool, force: bool) -> None:
    """The run folder can take this run: state to resume from, or no earlier weights that a new run would replace."""
    if resume and not (out / RESUME_STATE).is_file():
        raise FileNotFoundError(f"--resume: no training state at {out / RESUME_STATE}; train without --resume first")
    if not resume and not force and (out / BEST_WEIGHTS).is_file():
        raise ValueError(
            f"{out / BEST_WEIGHTS} exists from an earlier run, and a new run would replace it: use --resume to "
            f"continue that run, --out DIR (or another recipe name) to keep both, or --force to replace it "
            f"(or delete {out})"
        )


def fit(
    recipe: RecipeConfig,
    resume: bool = False,
    force: bool = False,
    callbacks: Sequence[L.Callback] = (),
    progress: bool = True,
) -> Path:
    """Train the recipe's model; returns the path of the best weights (safetensors + config). `progress`: show
    Lightning's progress bar (`vqaudio train -q` turns it off).

    Refuses (ValueError / FileNotFoundError, before anything is built or written) a GPU the machine lacks, data
    folders that are missing or hold no audio, `resume` without saved state, and a run folder that already holds
    best weights unless `resume` (continue that run) or `force` (start afresh and replace them) is given.
    The recipe's `init_from`: start from these trained weights (train/warm_start.py: the recipe's model may add
    modules to them; a new run with its own schedule). `resume` continues the run from its own state instead.

    last.ckpt (the state `resume` continues from) is written atomically at every epoch end, with the random
    streams, so a run killed at any point and resumed repeats an unbroken run with the same seed. A NaN or
    infinite loss stops the run with NonFiniteLossError (a ValueError), keeping last.ckpt and best.safetensors as
    they were. The last steps are always validated (ValidateAtEnd), so a run cut short by max_steps before its
    first validation round still leaves best weights. `callbacks` are extra Lightning callbacks (tests, custom logging).
    `trainer.ema_decay`: validation rounds score, and best.safetensors holds, a moving average of the weights.
    At the end, RUN_DIR/report.html is written (`vqaudio report`; a report that fails only warns).
    """
    t = recipe.trainer
    check_accelerator(t)
    averaging = MovingAverageWeights(t.ema_decay) if t.ema_decay is not None else None  # checks the decay
    check_data_folders(recipe.data)
    out = run_dir(recipe)
    check_run_folder(out, resume, force)
    # init_from starts a run; a resumed run continues from its own state, which already holds those weights
    init_from = Path(recipe.init_from) if recipe.init_from and not resume else None
    if init_from is not None:
        init_config(init_from, recipe.model_type)  # a readable checkpoint of this model type, before any audio
    build_config(recipe.model_type, dict(recipe.model))  # model type and keys, before any audio is read
    task_name = recipe.task or default_task(recipe.model_type)
    task = build_task(task_name)
    task.check_model(recipe.model_type)
    earlier = None if resume else _stat(out / BEST_WEIGHTS)  # forced: weights this run must replace
    _remove_stale_temporaries(out)
    if t.threads:
        torch.set_num_threads(t.threads)
    L.seed_everything(t.seed, workers=True, verbose=False)

    sample_rate = int(recipe.model.get("sample_rate", 8000))
    level_db = recipe.model.get("input_level_db")
    datamodule = TaskDataModule(task, recipe.data, sample_rate=sample_rate, seed=t.seed, level_db=level_db)
    model_cfg = _model_config(recipe, task, datamodule, out, resume, init_from)
    out.mkdir(parents=True, exist_ok=True)  # once the data sets are known to be usable
    if rank_zero_only.rank == 0:  # torchrun / SLURM start every rank here; they compute the same config
        (out / MODEL_CONFIG).write_text(json.dumps(model_cfg, indent=2))
        (out / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    model = build_model(recipe.model_type, model_cfg)
    if init_from is not None:
        load_initial_weights(model, init_from)

    from vqaudio.train.module import TaskModule  # after seeding, so weights are reproducible

    module = TaskModule(model, task, recipe.optim)
    metadata = {
        "recipe": recipe.name,
        "task": task_name,
        "description": recipe.description,
        "training_data": str(recipe.data.root),
        "train_split": "train",
        "words": recipe.data.words,
        "corpora": recipe.data.corpora,
        "noise_data": recipe.data.noise,
        **({"initialised_from": describe_initial_weights(init_from)} if init_from is not None else {}),
        **_training_summary(datamodule),
        **_extra_vocals_summary(recipe.data, datamodule),
    }
    every: list[L.Callback] = [
        *([averaging] if averaging is not None else []),
        BestWeights(out / BEST_WEIGHTS, metadata, averaging=averaging),
        RandomStates(),
        ValidateAtEnd(),
        ModelCheckpoint(  # epoch ends only: the data loader cannot resume mid-epoch
            dirpath=out,
            filename="last",
            save_last=False,
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
        ),
        # checked where val/loss exists: a run cut short by max_steps mid-epoch must not fail for want of it
        EarlyStopping(monitor="val/loss", patience=t.patience, mode="min", check_on_train_epoch_end=False),
        LearningRateMonitor(logging_interval="step"),
        *callbacks,
    ]
    # Versioned log folders: a resumed run adds logs/version_N+1 and never overwrites earlier history.
    loggers = [CSVLogger(out, name="logs"), TensorBoardLogger(out, name="tensorboard")]
    trainer = L.Trainer(
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        max_time={"minutes": t.max_minutes} if t.max_minutes else None,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        gradient_clip_val=recipe.optim.grad_clip or None,
        check_val_every_n_epoch=None if t.val_every_n_steps else t.val_every_n_epochs,
        val_check_interval=t.val_every_n_steps,
        log_every_n_steps=t.log_every_n_steps,
        callbacks=every,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=out,
        enable_model_summary=False,
        enable_progress_bar=progress,
        deterministic=False,
    )
    try:
        trainer.fit(
            module, datamodule=datamodule, ckpt_path=str(out / RESUME_STATE) if resume else None, weights_only=True
        )
    except NonFiniteLossError as err:
        raise NonFiniteLossError(f"{err}; {_kept(out)}") from None
    _check_val_loss(trainer, out)
    best = out / BEST_WEIGHTS
    if not trainer.is_global_zero:  # rank 0 wrote the weights, on a file system other nodes may not see
        return best
    if not best.is_file() or (earlier is not None and _stat(best) == earlier):  # not written by this run
        raise RuntimeError(f"training ended without a validation round, so no weights were saved in {out}")
    _draw_loss_curves(out)
    _write_report(out)
    return best


def _kept(out: Path) -> str:
    """What a stopped run leaves to go on from, and what to try."""
    kept = [str(out / name) for name in (RESUME_STATE, BEST_WEIGHTS) if (out / name).is_file()]
    what = f"kept as they were: {' and '.join(kept)}" if kept else "no checkpoint had been written yet"
    return f"{what}; lower optim.lr or optim.grad_clip (--set optim.lr=...) and start again with --force"


def _check_val_loss(trainer: L.Trainer, out: Path) -> None:
    """NonFiniteLossError when the last validation round's loss is NaN or infinite (EarlyStopping stops on it)."""
    value = trainer.callback_metrics.get("val/loss")
    if value is not None and not math.isfinite(float(value)):
        raise NonFiniteLossError(
            f"validation loss is not finite ({float(value):g}) at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}); {_kept(out)}"
        )


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files a killed run left half-written beside last.ckpt or best.safetensors (never read)."""
    for name in (RESUME_STATE, BEST_WEIGHTS):
        for stale in out.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _stat(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of a file, None when absent: whether a file was rewritten."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _draw_loss_curves(out: Path) -> None:
    """RUN_DIR/loss_curves.png, where matplotlib is installed (a picture is no reason to fail a finished run)."""
    try:
        from vqaudio.report import plot_loss_curves

        log.info("loss curves: %s", plot_loss_curves(out))
    except (ImportError, FileNotFoundError, ValueError) as err:
        log.warning("no loss curves drawn for %s: %s", out, err)


def _write_report(out: Path) -> None:
    """RUN_DIR/report.html (`vqaudio report`), where matplotlib is installed; a report that cannot be written only
    warns (a page is no reason to fail a finished run)."""
    try:
        from vqaudio.report import write_run_report

        log.info("report: %s", write_run_report(out))
    except ImportError as err:  # no matplotlib: _draw_loss_curves has said so already
        log.debug("no report written for %s: %s", out, err)
    except Exception as err:  # anything a picture, a clip or the data can throw
        log.warning("no report written for %s: %s", out, err)
