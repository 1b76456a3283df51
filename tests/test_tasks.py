"""Training tasks: every recipe names a task that can train its model; tasks own the loss, models only output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vqaudio.models import build_model
from vqaudio.train import load_recipe
from vqaudio.train.tasks import TASKS, CodecTask, ReconstructTask, build_task, default_task

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_names_a_task_that_trains_its_model(path: Path) -> None:
    recipe = load_recipe(path)
    task = build_task(recipe.task or default_task(recipe.model_type))
    task.check_model(recipe.model_type)  # raises if the pairing is wrong
    model = build_model(recipe.model_type, recipe.model)
    wave = torch.randn(2, 4000) * 0.1
    batch = (wave, torch.stack([0.8 * wave, 0.2 * wave], dim=1)) if task.name == "denoise" else wave
    inputs, targets = task.features(model, batch)
    assert inputs.shape[-2] == model.config.n_features
    loss, parts = task.loss(model, model(inputs), targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert ("inst_freq" if task.name == "phase" else "recon") in parts


def test_wrong_pairings_and_names_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"task 'codec' trains models of type vqvae.*'vae'"):
        CodecTask().check_model("vae")
    with pytest.raises(ValueError, match="unknown task 'separate-later'"):
        build_task("separate-later")
    with pytest.raises(ValueError, match="no default task"):
        default_task("something")
    assert set(TASKS) == {"reconstruct", "codec", "phase", "envelope", "denoise", "separate"}
    assert default_task("vqunet") == "denoise"


def test_vae_loss_weighs_the_kl_by_the_config() -> None:
    torch.manual_seed(0)
    small = {"hidden_channels": 8, "n_res_blocks": 0, "latent_dim": 4, "n_downsample": 1}
    wave = torch.randn(2, 1600) * 0.1
    losses = []
    for kl_weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model("vae", {**small, "kl_weight": kl_weight}).eval()
        inputs, targets = ReconstructTask().features(model, wave)
        out = model(inputs)
        loss, parts = ReconstructTask().loss(model, out, targets)
        losses.append((float(loss), float(parts["recon"]), float(parts["kl"])))
    (plain, recon0, _), (weighted, recon1, kl) = losses
    assert plain == pytest.approx(recon0) and weighted == pytest.approx(recon1 + kl) and kl > 0


def test_speech_eq_recolours_training_crops_only(tmp_path: Path) -> None:
    """data.speech_eq_db reaches the codec's training crops as a level-keeping EQ; validation crops as recorded."""
    from tests.helpers import make_fsdd_folder
    from vqaudio.data import RandomEqualizer
    from vqaudio.train.config import DataConfig

    speech = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    plain = DataConfig(root=str(speech), crop_seconds=0.25)
    assert CodecTask().datasets(plain, 8000, seed=0, level_db=-20.0)[0].transform is None  # type: ignore[attr-defined]
    train, val = CodecTask().datasets(DataConfig(root=str(speech), crop_seconds=0.25, speech_eq_db=8.0), 8000, 0, -20.0)
    assert train.transform == RandomEqualizer(8.0, 8000, keep_rms=True)  # type: ignore[attr-defined]
    assert val.transform is None  # type: ignore[attr-defined]
    assert train[0].shape == (2000,) and torch.isfinite(train[0]).all()
