"""Training end to end on a tiny generated corpus: checkpoints, logs, resume, and DDP on 2 CPU processes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import yaml

from tests.helpers import TINY_MODEL, make_fsdd_folder
from vqaudio.audio.io import save
from vqaudio.models import load_model
from vqaudio.train import RecipeConfig, fit, load_recipe
from vqaudio.train.config import apply_override

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def tiny_recipe(data: Path, out: Path, model_type: str = "vqvae", **trainer: object) -> RecipeConfig:
    model = dict(TINY_MODEL, codebook_size=16) if model_type == "vqvae" else dict(TINY_MODEL)
    return RecipeConfig.from_dict(
        {
            "name": f"tiny-{model_type}",
            "model_type": model_type,
            "model": model,
            "data": {"root": str(data), "crop_seconds": 0.25, "batch_size": 4},
            "optim": {"lr": 1e-3, "warmup_steps": 1},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "log_every_n_steps": 1, **trainer},
            "out_dir": str(out),
        }
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd_folder(tmp_path_factory.mktemp("fsdd"))


NOISE_SIGMA = {"george": 0.1, "yweweler": 0.01}  # train speaker, and a val speaker 20 dB quieter


@pytest.fixture(scope="module")
def noise_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FSDD-layout folder of white Gaussian noise at a known level per speaker (0.5 s clips, 8 kHz)."""
    folder = tmp_path_factory.mktemp("noise") / "recordings"
    rng = np.random.default_rng(0)
    for speaker, sigma in NOISE_SIGMA.items():
        for i in range(8):
            save(folder / f"{i}_{speaker}_{i}.wav", (sigma * rng.standard_normal(4000)).astype(np.float32), 8000)
    return folder


def expected_db_stats(sigma: float, n_fft: int = 256) -> tuple[float, float]:
    """Mean and std of 20 log10 |STFT| of white noise of std `sigma` under a periodic Hann window, from theory.

    Each bin is Gaussian with power P = sigma^2 sum(w^2): complex in the n_fft/2 - 1 inner bins (|X|^2 = P Exp(1):
    mean of ln is -gamma, variance pi^2/6), real at DC and Nyquist (|X|^2 = P chi2_1: mean ln 2 + psi(1/2) =
    -gamma - ln 2, variance pi^2/2). Frames cut by the zero padding at a crop's edges are ignored (~0.2 dB).
    """
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    level = 10 * np.log10(sigma**2 * np.sum(window**2))
    to_db = 10 / np.log(10)
    n_complex, n_real = n_fft // 2 - 1, 2
    means = np.array([-np.euler_gamma, -np.euler_gamma - np.log(2)]) * to_db
    variances = np.array([np.pi**2 / 6, np.pi**2 / 2]) * to_db**2
    weights = np.array([n_complex, n_real]) / (n_complex + n_real)
    mean = float(weights @ means)
    var = float(weights @ (variances + (means - mean) ** 2))
    return float(level) + mean, float(np.sqrt(var))


@pytest.mark.parametrize("recipe_path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_parse_and_build(recipe_path: Path) -> None:
    from vqaudio.models import build_model

    recipe = load_recipe(recipe_path)
    model = build_model(recipe.model_type, dict(recipe.model))
    assert recipe.name == recipe_path.stem
    assert sum(p.numel() for p in model.parameters()) > 0


def test_recipes_that_start_from_another_recipes_run_can_hold_its_weights() -> None:
    from vqaudio.models import build_model

    chained = [r for r in map(load_recipe, RECIPES) if r.init_from]
    assert {r.name for r in chained} >= {"codec-8k", "denoise-16k", "separate-16k"}  # the shipped multi-stage models
    makefile = (RECIPES[0].parents[1] / "Makefile").read_text()
    stages = re.search(r"^STAGES := (.*)$", makefile, re.MULTILINE)
    shipped = re.search(r"^SHIPPED := (.*)$", makefile, re.MULTILINE)
    assert stages and shipped, "Makefile: no STAGES / SHIPPED line (`make pretrained` trains STAGES, then SHIPPED)"
    built = stages.group(1).split() + shipped.group(1).split()
    for recipe in chained:
        match = re.fullmatch(r"runs/(.+)/best\.safetensors", str(recipe.init_from))
        assert match, f"{recipe.name}: init_from {recipe.init_from} is not another recipe's run"
        first = load_recipe(RECIPES[0].parent / f"{match.group(1)}.yaml")
        assert first.model_type == recipe.model_type
        if recipe.name in built:  # `make pretrained` must have trained the earlier stage first (a STAGE)
            assert first.name in stages.group(1).split(), f"{recipe.name}: add {first.name} to the Makefile's STAGES"
        start = build_model(first.model_type, dict(first.model))
        result = build_model(recipe.model_type, dict(recipe.model)).load_state_dict(start.state_dict(), strict=False)
        grown = (".recurrent.", "decoder.extra.", "decoder.pointwise.")  # what a later stage may add (GRUs, blocks)
        assert not result.unexpected_keys and all(any(g in key for g in grown) for key in result.missing_keys)


def test_overrides_and_unknown_keys_are_reported() -> None:
    raw: dict = {"name": "x", "model_type": "vqvae"}
    apply_override(raw, "trainer.max_epochs=3")
    apply_override(raw, "model.codebook_size=64")
    recipe = RecipeConfig.from_dict(raw)
    assert recipe.trainer.max_epochs == 3 and recipe.model["codebook_size"] == 64
    with pytest.raises(ValueError, match="unknown keys in recipe section 'trainer'"):
        RecipeConfig.from_dict({"name": "x", "model_type": "vqvae", "trainer": {"max_epoch": 1}})
    with pytest.raises(ValueError, match=r"section\.key=value"):
        apply_override(raw, "no-equals-sign")


@pytest.mark.parametrize("model_type", ["vqvae", "vae"])
def test_fit_writes_loadable_weights_logs_and_resumes(noise_corpus: Path, tmp_path: Path, model_type: str) -> None:
    recipe = tiny_recipe(noise_corpus, tmp_path, model_type)
    best = fit(recipe)
    run = best.parent
    assert best.name == "best.safetensors" and (run / "last.ckpt").is_file()
    model = load_model(best)
    # input normalisation measured on the training speaker's crops (the val speaker is 20 dB lower, the defaults far)
    mean, std = expected_db_stats(NOISE_SIGMA["george"])
    assert model.config.norm_mean == pytest.approx(mean, abs=0.5)
    assert model.config.norm_std == pytest.approx(std, abs=0.3)
    spec = torch.full((1, 129, 20), -40.0)
    assert model(spec).reconstruction_db.shape == spec.shape
    first_log = run / "logs" / "version_0" / "metrics.csv"
    rows = _rows(first_log)
    assert any(r.get("val/loss") for r in rows)
    steps_first = max(int(r["step"]) for r in rows if r.get("step"))

    recipe.trainer.max_epochs = 2
    fit(recipe, resume=True)
    assert len(_rows(first_log)) == len(rows)  # the first run's history is kept
    resumed = _rows(run / "logs" / "version_1" / "metrics.csv")
    assert min(int(r["step"]) for r in resumed if r.get("step")) >= steps_first  # continued, not restarted


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_resume_without_state_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--resume"):
        fit(tiny_recipe(corpus, tmp_path), resume=True)


class QuantizerPerRank(L.Callback):
    """At the end of training, writes this rank's quantizer state (codebook, EMA, usage) to FOLDER/rank-N."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().clone().contiguous() for k, v in pl_module.model.quantizer.state_dict().items()}
        save_file(state, str(self.folder / f"rank-{trainer.global_rank}.safetensors"))


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_one_codebook(corpus: Path, tmp_path: Path) -> None:
    """Lightning's DDP (2 CPU processes, gloo): trains, validates, and both ranks end with the same codebooks."""
    from safetensors.torch import load_file

    # 2 steps on each rank's half of the data; the k-means init, EMA and restarts are all synced across ranks
    recipe = tiny_recipe(corpus, tmp_path, devices=2, strategy="ddp_spawn", max_epochs=2)
    best = fit(recipe, callbacks=[QuantizerPerRank(tmp_path)])
    ranks = [load_file(tmp_path / f"rank-{r}.safetensors") for r in range(2)]
    assert ranks[0].keys() == ranks[1].keys() and "codebook" in ranks[0]
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    model = load_model(best)
    assert bool(model.quantizer.initialized)
    assert model(torch.full((1, 129, 8), -40.0)).reconstruction_db.isfinite().all()


# ---------------------------------------------------------------- errors before any work, as one line from the CLI


def _write_recipe(path: Path, data: Path | None, out: Path, text: str | None = None) -> Path:
    if text is None:
        recipe = tiny_recipe(data or path.parent, out).to_dict()
        recipe["data"]["root"] = None if data is None else str(data)
        text = yaml.safe_dump(recipe, sort_keys=False)
    path.write_text(text)
    return path


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from vqaudio.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vqaudio train: error: ") and "Traceback" not in err, err
    return err


def test_broken_yaml_recipe_names_the_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _write_recipe(tmp_path / "broken.yaml", None, tmp_path, "name: x\nmodel_type: vqvae\nmodel: {a: [1, 2}\n")
    with pytest.raises(ValueError, match=r"broken\.yaml is not valid YAML \(line 3, column \d+\)"):
        load_recipe(recipe)
    assert "line 3" in _cli_error(["train", str(recipe)], capsys)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("optim.lr=abc", r"recipe key 'optim\.lr' must be a number, got 'abc'"),
        ("trainer.max_epochs=two", r"'trainer\.max_epochs' must be an integer, got 'two'"),
        ("optim.betas=[0.9]", r"'optim\.betas' must be a list of 2 numbers"),
        ("data.snr_db=[low, 20]", r"'data\.snr_db' must be a list of numbers"),
        ("model=3", r"recipe section 'model' must be a mapping of keys to values, got 3"),
        ("trainer=fast", r"recipe section 'trainer' must be a mapping"),
        ("colour=blue", r"unknown recipe keys: \['colour'\]"),
        ("optim.lr=[1", r"override 'optim\.lr=\[1': the value is not valid YAML"),
    ],
)
def test_bad_settings_are_one_line_errors(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    recipe = _write_recipe(tmp_path / "tiny.yaml", corpus, tmp_path / "runs")
    with pytest.raises(ValueError, match=message):
        load_recipe(recipe, [setting])
    err = _cli_error(["train", str(recipe), "--set", setting], capsys)
    assert re.search(message, err) and "tiny.yaml" in err
    assert not (tmp_path / "runs").exists()  # refused before any work


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.hiden=3", r"unknown VQVAEConfig keys \['hiden'\]"),
        ("model_type=vqvea", r"unknown model type 'vqvea'; known types"),
        ("task=denoise", r"task 'denoise' trains models of type vqunet; the recipe names 'vqvae'"),
    ],
)
def test_model_and_task_mistakes_are_one_line_errors_before_any_audio_is_read(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    recipe = _write_recipe(tmp_path / "tiny.yaml", corpus, tmp_path / "runs")
    err = _cli_error(["train", str(recipe), "--set", setting], capsys)
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_audio_the_task_cannot_split_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one"
    save(one / "a.wav", np.full(8000, 0.01, dtype=np.float32), 8000)
    recipe = _write_recipe(tmp_path / "tiny.yaml", one, tmp_path / "runs")
    err = _cli_error(["train", str(recipe)], capsys)
    assert "need files in both splits" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_numbers_yaml_reads_as_strings_are_taken_for_numbers() -> None:
    raw: dict = {"name": "x", "model_type": "vqvae"}
    apply_override(raw, "optim.lr=1e-3")  # YAML 1.1 reads this as the string "1e-3"
    apply_override(raw, "trainer.devices=auto")
    apply_override(raw, "out_dir=2024")
    recipe = RecipeConfig.from_dict(raw)
    assert recipe.optim.lr == 1e-3 and recipe.trainer.devices == "auto" and recipe.out_dir == "2024"


def test_gpu_without_a_gpu_is_refused_before_anything_is_built(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recipe = _write_recipe(tmp_path / "tiny.yaml", corpus, tmp_path / "runs")
    err = _cli_error(["train", str(recipe), "--accelerator", "gpu"], capsys)
    assert "no GPU is visible" in err and "--accelerator cpu" in err
    with pytest.raises(ValueError, match="not one Lightning knows"):
        fit(tiny_recipe(corpus, tmp_path / "runs", accelerator="gpu0"))
    assert not (tmp_path / "runs").exists()


def test_missing_or_empty_data_folder_is_refused_early(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _write_recipe(tmp_path / "tiny.yaml", None, tmp_path / "runs")
    err = _cli_error(["train", str(recipe), "--data", str(tmp_path / "absent")], capsys)
    assert "absent: no such folder" in err
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no audio here")
    err = _cli_error(["train", str(recipe), "--data", str(empty)], capsys)
    assert "no audio files" in err
    with_noise = tiny_recipe(corpus, tmp_path / "runs")
    with_noise.data.noise = str(empty)
    with pytest.raises(ValueError, match=r"--noise .*no audio files"):
        fit(with_noise)
    assert not (tmp_path / "runs").exists()


def test_earlier_best_weights_are_kept_unless_resumed_or_forced(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tiny_recipe(corpus, tmp_path / "runs")
    run = tmp_path / "runs" / recipe.name
    run.mkdir(parents=True)
    (run / "best.safetensors").write_bytes(b"weights of an earlier run")
    with pytest.raises(ValueError, match=r"exists from an earlier run.*--resume.*--out.*--force"):
        fit(recipe)
    path = _write_recipe(tmp_path / "tiny.yaml", corpus, tmp_path / "runs")
    assert "exists from an earlier run" in _cli_error(["train", str(path)], capsys)
    assert (run / "best.safetensors").read_bytes() == b"weights of an earlier run"
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors"]  # nothing written
    # forced, a run that saves no weights must not hand back the earlier ones as its own
    recipe.trainer.max_epochs = 0  # trains and validates nothing
    with pytest.raises(RuntimeError, match="no weights were saved"):
        fit(recipe, force=True)
    recipe.trainer.max_epochs = 1
    best = fit(recipe, force=True)
    assert load_model(best).config.codebook_size == 16  # replaced by this run's weights


def test_quiet_train_shows_no_progress_bar(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vqaudio.cli import main

    path = _write_recipe(tmp_path / "tiny.yaml", corpus, tmp_path / "runs")
    assert main(["train", "-q", str(path), "--max-epochs", "1"]) == 0
    captured = capsys.readouterr()
    assert "best weights:" in captured.out
    assert "Epoch 0" not in captured.err and "it/s" not in captured.err  # Lightning's bar is off with -q


class WeightsAtEachRound(L.Callback):
    """After each validation round: the live weights, and the moving average the round was scored on."""

    def __init__(self) -> None:
        self.live: list[dict[str, torch.Tensor]] = []
        self.averaged: list[dict[str, torch.Tensor]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        from vqaudio.train.callbacks import MovingAverageWeights

        averaging = next(c for c in trainer.callbacks if isinstance(c, MovingAverageWeights))
        average = averaging.averaged_model()
        assert average is not None
        self.live.append({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()})
        self.averaged.append({k: v.detach().clone() for k, v in average.state_dict().items()})


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a)


def test_moving_average_of_the_weights_is_what_is_validated_and_saved(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ema_decay"):
        fit(tiny_recipe(corpus, tmp_path / "bad", ema_decay=1.5))
    assert not (tmp_path / "bad").exists()
    rounds = WeightsAtEachRound()
    best = fit(tiny_recipe(corpus, tmp_path, "vae", ema_decay=0.9, max_epochs=3), callbacks=[rounds])
    saved = {k: v.float() for k, v in load_model(best).state_dict().items()}
    assert len(rounds.averaged) == 3
    assert any(_same(saved, averaged) for averaged in rounds.averaged)  # a round's average was written
    assert not any(_same(saved, live) for live in rounds.live)  # and never the live weights
    assert not _same(rounds.averaged[-1], rounds.live[-1])
    from vqaudio.models.io import read_metadata

    assert json.loads(read_metadata(best)["ema_decay"]) == 0.9
    recipe = tiny_recipe(corpus, tmp_path, "vae", ema_decay=0.9, max_epochs=4)
    resumed = WeightsAtEachRound()
    fit(recipe, resume=True, callbacks=[resumed])  # resumes, and still validates the average
    assert len(resumed.averaged) == 1 and not _same(resumed.averaged[0], resumed.live[0])
