"""Separation: the dual-decoder VAE, the separate task, the Separator pipeline, `vqaudio separate`, loss curves."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.helpers import make_fsdd_folder
from vqaudio.audio import load
from vqaudio.cli import main as cli_main
from vqaudio.models import DualDecoderVAE, DualDecoderVAEConfig, VQUNet, build_model, load_model, save_model
from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.pipelines import Denoiser, Separator
from vqaudio.train.config import DataConfig, RecipeConfig, TrainerConfig
from vqaudio.train.tasks import SeparateTask, build_task, default_task

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

TINY = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 24], "n_bottleneck_blocks": 1}
REFERENCE = {**TINY, "architecture": "conv2d", "skips": False, "se": False, "output": "mapping", "activation": "relu"}


def tiny(**overrides: object) -> DualDecoderVAE:
    torch.manual_seed(0)
    model = build_model("dual-vae", {**TINY, "latent_dim": 8, "codebook_size": 16, **overrides})
    assert isinstance(model, DualDecoderVAE)
    return model


def song(seconds: float, rate: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(vocals, accompaniment): a gliding harmonic 'voice' and a noisy chord, made here."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 220 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    vocals = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2 * (np.sin(2 * np.pi * 1.5 * t) > -0.3)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0)) * 0.1
    accompaniment = chord + 0.02 * rng.standard_normal(len(t))
    return vocals.astype(np.float32), accompaniment.astype(np.float32)


def mir1k_folder(root: Path, clips: int = 3, rate: int = 8000, seconds: float = 1.5) -> Path:
    """train/ and val/ of stereo clips, accompaniment left and vocals right (the MIR-1K layout)."""
    for split in ("train", "val"):
        for i in range(clips):
            vocals, accompaniment = song(seconds, rate, seed=i + (100 if split == "val" else 0))
            (root / split).mkdir(parents=True, exist_ok=True)
            sf.write(root / split / f"singer_{i}_01.flac", np.stack([accompaniment, vocals], axis=1), rate)
    return root


@pytest.mark.parametrize("latent", ["gaussian", "vq", "fsq", "none"])
@pytest.mark.parametrize("n_frames", [1, 13, 40])
def test_model_gives_one_output_per_source_for_any_length(latent: str, n_frames: int) -> None:
    model = tiny(latent=latent)
    mixture = torch.rand(2, 129, n_frames) * 60 - 70
    out = model(mixture)
    assert out.reconstruction_db.shape == out.normalized.shape == out.gain_db.shape == (2, 2, 129, n_frames)
    expected = {"gaussian": {"kl"}, "vq": {"vq"}, "fsq": {"vq"}, "none": set()}[latent]
    assert set(out.aux_losses) == expected
    assert (out.codes is not None) == (latent in ("vq", "fsq"))
    masks = torch.pow(10.0, out.gain_db / 20.0)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 129, n_frames))  # ratio masks: they sum to one
    assert bool((out.reconstruction_db <= mixture.unsqueeze(1) + 1e-4).all())


def test_reference_design_maps_each_source_without_skips() -> None:
    model = tiny(**REFERENCE)
    assert model.decoders[0].merges is None and len(model.decoders) == 2
    out = model(torch.rand(129, 30) * 60 - 70)
    assert out.reconstruction_db.shape == (2, 129, 30) and out.gain_db is None
    assert float(out.reconstruction_db.detach().min()) >= model.config.floor_db
    model.eval()  # the mean of each latent: deterministic
    x = torch.rand(1, 129, 16) * 60 - 70
    torch.testing.assert_close(model(x).reconstruction_db, model(x).reconstruction_db)


def test_config_checks_and_round_trip() -> None:
    cfg = DualDecoderVAEConfig(**TINY)
    assert DualDecoderVAEConfig.from_dict(cfg.to_dict()) == cfg and cfg.n_sources == 2
    for bad, match in (({"latent": "rvq"}, "latent"), ({"sources": ["vocals"]}, "sources"),
                       ({"output": "wave"}, "output"), ({"kl_weight": -1.0}, "kl_weight")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            DualDecoderVAEConfig(**{**TINY, **bad})
    with pytest.raises(ValueError, match="mixture dB magnitude"):
        tiny()(torch.zeros(2, 100, 10))


def test_separator_splits_a_stereo_song_into_sources_that_add_up(tmp_path: Path) -> None:
    model = tiny()
    path = save_model(model, tmp_path / "sep.safetensors")
    separator = Separator.from_checkpoint(path, chunk_seconds=0.5, context_seconds=0.25)
    vocals, accompaniment = song(2.0, 22050, seed=3)
    stereo = np.stack([vocals + accompaniment, 0.5 * vocals + accompaniment])
    out = separator(stereo, 22050)
    assert list(out) == ["vocals", "accompaniment"]
    assert all(v.shape == stereo.shape and v.dtype == np.float32 for v in out.values())
    # masks sum to one on the mixture's own STFT: the parts add back up to the song (resampling to 8 kHz and back
    # keeps only the band below 4 kHz, so compare with the song through the same resampling)
    whole = Separator(model, chunk_seconds=0.5, context_seconds=0.25)
    mono = whole(vocals + accompaniment, 8000)
    np.testing.assert_allclose(mono["vocals"] + mono["accompaniment"], vocals + accompaniment, atol=2e-4)
    as_torch = separator(torch.from_numpy(stereo), 22050)
    assert isinstance(as_torch["vocals"], torch.Tensor) and as_torch["vocals"].shape == stereo.shape


def test_sharpened_masks_still_sum_to_one_and_favour_the_dominant_source() -> None:
    from vqaudio.pipelines.separate import sharpened_masks_db

    masks = torch.tensor([0.7, 0.5, 0.02]).reshape(1, 3, 1)
    masks = torch.cat([masks, 1 - masks])  # (S=2, F=3, N=1)
    gain_db = 20 * torch.log10(masks)
    torch.testing.assert_close(sharpened_masks_db(gain_db, 1.0), gain_db)
    sharp = 10 ** (sharpened_masks_db(gain_db, 2.0) / 20)
    torch.testing.assert_close(sharp.sum(0), torch.ones(3, 1))
    torch.testing.assert_close(sharp[0, :, 0], torch.tensor([0.49 / 0.58, 0.5, 0.0004 / (0.0004 + 0.9604)]))
    soft = 10 ** (sharpened_masks_db(gain_db, 0.5) / 20)
    assert float(soft[0, 0, 0]) < 0.7 < float(sharp[0, 0, 0])  # below 1 softens, above 1 sharpens
    model = tiny(output="mask")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="mask_power"):
            Separator(model, mask_power=bad)
    from vqaudio.cli import DEFAULT_MASK_POWER
    from vqaudio.pipelines.separate import DEFAULT_MASK_POWER as PIPELINE_DEFAULT

    assert DEFAULT_MASK_POWER == PIPELINE_DEFAULT == Separator(model).mask_power  # --help without importing torch
    vocals, accompaniment = song(1.0, 8000, seed=3)
    parts = Separator(model, mask_power=2.0)(vocals + accompaniment, 8000)
    np.testing.assert_allclose(parts["vocals"] + parts["accompaniment"], vocals + accompaniment, atol=1e-4)


def test_chunked_separation_matches_whole_file() -> None:
    model = tiny()
    vocals, accompaniment = song(3.0, 8000, seed=4)
    chunked = Separator(model, chunk_seconds=0.5, context_seconds=0.5)(vocals + accompaniment, 8000)
    whole = Separator(model, chunk_seconds=10.0, context_seconds=0.5)(vocals + accompaniment, 8000)
    for name in chunked:
        np.testing.assert_allclose(chunked[name], whole[name], atol=1e-4)


def test_pipelines_refuse_models_of_the_other_job() -> None:
    with pytest.raises(ValueError, match="Separator cannot run a 'vqunet' model"):
        Separator(build_model("vqunet", {**TINY, "latent_dim": 8, "codebook_size": 16}))
    with pytest.raises(ValueError, match=r"Denoiser cannot run a 'dual-vae' model.*use Separator"):
        Denoiser(tiny())


def test_separate_task_targets_both_stems_and_scores_the_waveforms(tmp_path: Path) -> None:
    from vqaudio.metrics import si_sdr

    assert default_task("dual-vae") == "separate" and isinstance(build_task("separate"), SeparateTask)
    root = mir1k_folder(tmp_path / "mir1k")
    data = DataConfig(root=str(root), crop_seconds=1.0, remix_prob=1.0)
    train, val = SeparateTask().datasets(data, 8000, seed=0, level_db=None)
    assert len(train) == len(val) == 3
    batch = torch.utils.data.default_collate([val[i] for i in range(2)])
    model = tiny(recon_sisdr_weight=1.0)
    x, targets = SeparateTask().features(model, batch)
    assert x.shape == (2, 129, 126) and targets.features.shape == (2, 2, 129, 126)
    # the mixture as the estimate of both sources scores each source's SI-SDR in the mixture
    identity = AutoencoderOutput(
        x.unsqueeze(1).expand(-1, 2, -1, -1), model.normalize(x).unsqueeze(1).repeat(1, 2, 1, 1), {}
    )
    _, parts = SeparateTask().loss(model, identity, targets)
    mixture, stems = batch[0].numpy(), batch[1].numpy()
    expected = np.mean([si_sdr(stems[b, s], mixture[b]) for b in range(2) for s in range(2)])
    assert float(parts["si_sdr"]) == pytest.approx(expected, abs=0.05)
    perfect = AutoencoderOutput(targets.features, model.normalize(targets.features), {})
    assert float(SeparateTask().loss(model, perfect, targets)[1]["si_sdr"]) > expected + 5
    swapped = tiny(sources=["accompaniment", "vocals"])
    with pytest.raises(ValueError, match="trains sources"):
        SeparateTask().features(swapped, batch)


def test_stem_variation_settings_reach_training_stems_only(tmp_path: Path) -> None:
    """data.speed_perturb / stem_eq_db vary each training stem (crop first); validation songs stay as recorded."""
    from vqaudio.data import Compose, RandomCrop, RandomEqualizer, SpeedPerturb

    root = mir1k_folder(tmp_path / "mir1k")
    plain = DataConfig(root=str(root), crop_seconds=1.0, speed_perturb=0.0)
    assert SeparateTask().datasets(plain, 8000, seed=0, level_db=None)[0].transform is None  # type: ignore[attr-defined]
    for speed, first in ((0.1, SpeedPerturb), (0.0, RandomCrop)):
        data = DataConfig(root=str(root), crop_seconds=1.0, speed_perturb=speed, stem_eq_db=8.0)
        train, val = SeparateTask().datasets(data, 8000, seed=0, level_db=None)
        transform = train.transform  # type: ignore[attr-defined]
        assert isinstance(transform, Compose) and isinstance(transform.transforms[0], first)
        assert transform.transforms[1] == RandomEqualizer(8.0, 8000)
        assert val.transform is None  # type: ignore[attr-defined]
        mixture, stems = train[0]
        assert mixture.shape == (8000,) and torch.isfinite(stems).all()


def test_fit_draws_loss_curves_and_cli_separates_a_file_and_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vqaudio.train import fit

    root = mir1k_folder(tmp_path / "mir1k")
    recipe = RecipeConfig(
        name="tiny-separate",
        model_type="dual-vae",
        model={**TINY, "latent_dim": 8},
        data=DataConfig(root=str(root), crop_seconds=0.5, batch_size=2),
        trainer=TrainerConfig(max_epochs=2, accelerator="cpu", log_every_n_steps=1),
        out_dir=str(tmp_path / "runs"),
    )
    best = fit(recipe)
    assert isinstance(load_model(best), DualDecoderVAE)
    assert (best.parent / "loss_curves.png").stat().st_size > 1000
    vocals, accompaniment = song(1.0, 16000, seed=5)
    folder = tmp_path / "songs"
    folder.mkdir()
    sf.write(folder / "duet.flac", np.stack([vocals + accompaniment, accompaniment], axis=1), 16000)
    sf.write(folder / "solo.wav", vocals + accompaniment, 16000)
    out = tmp_path / "out"
    assert cli_main(["separate", str(folder / "duet.flac"), "-o", str(out), "--model", str(best)]) == 0
    parts = [load(out / "duet" / f"{name}.wav", mono=False) for name in ("vocals", "accompaniment")]
    assert all(rate == 16000 and wave.shape == (2, 16000) for wave, rate in parts)
    assert cli_main(["separate", str(folder), "-o", str(tmp_path / "all"), "--model", str(best)]) == 0
    assert (tmp_path / "all" / "solo" / "accompaniment.wav").is_file()
    assert cli_main(["separate", str(tmp_path / "missing.wav"), "-o", str(out)]) == 2
    assert "no such audio file" in capsys.readouterr().err


def test_speech_as_more_vocals_is_trained_on_and_named_in_the_model_card(tmp_path: Path) -> None:
    from vqaudio.train import fit
    from vqaudio.train.publish import publish

    root = mir1k_folder(tmp_path / "mir1k")
    speech = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    data = DataConfig(root=str(root), crop_seconds=0.5, batch_size=2, extra_vocals=str(speech), extra_vocals_prob=0.5)
    train, _ = SeparateTask().datasets(data, 8000, seed=0, level_db=None)
    assert train.extra_vocals_seconds > 1.0  # george's train clips, joined
    recipe = RecipeConfig(
        name="tiny-more-vocals",
        model_type="dual-vae",
        model={**TINY, "latent_dim": 8},
        data=data,
        trainer=TrainerConfig(max_epochs=1, accelerator="cpu", log_every_n_steps=1),
        out_dir=str(tmp_path / "runs"),
    )
    card = publish(fit(recipe), tmp_path / "shipped.safetensors").with_suffix(".md").read_text()
    assert re.search(r"\| more vocals \| `.*speech`, split `train`: 4 files, 1 speakers.*FSDD.*george", card), card
    data.extra_vocals = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"data\.extra_vocals"):
        fit(recipe, force=True)


def test_vqunet_loads_weights_saved_before_the_unet_halves_were_submodules(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("vqunet", {**TINY, "latent_dim": 8, "codebook_size": 16})
    flat = {}
    for key, value in model.state_dict().items():  # the old names: encoder./decoder. prefixes dropped
        flat[key.split(".", 1)[1] if key.startswith(("encoder.", "decoder.")) else key] = value
    fresh = build_model("vqunet", {**TINY, "latent_dim": 8, "codebook_size": 16})
    fresh.load_state_dict(flat, strict=True)
    assert isinstance(fresh, VQUNet)
    x = torch.rand(1, 129, 20) * 60 - 70
    torch.testing.assert_close(fresh.eval()(x).reconstruction_db, model.eval()(x).reconstruction_db)
