"""Denoising: the VQ U-Net, the denoise task and its mixtures, the Denoiser pipeline and `vqaudio denoise`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import make_fsdd_folder
from vqaudio.audio import STFTConfig, save, stft
from vqaudio.cli import main as cli_main
from vqaudio.data import BandLimited, NoisySpeechDataset
from vqaudio.data.synth import synth_speech
from vqaudio.models import VQUNet, VQUNetConfig, build_model, load_model, save_model
from vqaudio.models.io import decode_metadata_value, read_metadata
from vqaudio.nn import SqueezeExcite
from vqaudio.pipelines import Denoiser, Reconstructor
from vqaudio.train.config import DataConfig, RecipeConfig, TrainerConfig
from vqaudio.train.tasks import DenoiseTask

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

TINY = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 24], "n_bottleneck_blocks": 1}


def tiny(**overrides: object) -> VQUNet:
    torch.manual_seed(0)
    model = build_model("vqunet", {**TINY, "latent_dim": 8, "codebook_size": 16, **overrides})
    assert isinstance(model, VQUNet)
    return model


@pytest.mark.parametrize("architecture", ["conv1d", "conv2d"])
@pytest.mark.parametrize("bottleneck", ["vq", "fsq", "none"])
@pytest.mark.parametrize("n_frames", [1, 13, 64])
def test_unet_keeps_shape_for_any_length(architecture: str, bottleneck: str, n_frames: int) -> None:
    model = tiny(architecture=architecture, bottleneck=bottleneck, output="mapping")
    spec = torch.rand(2, 129, n_frames) * 60 - 70
    out = model(spec)
    assert out.reconstruction_db.shape == out.normalized.shape == spec.shape
    assert set(out.aux_losses) == (set() if bottleneck == "none" else {"vq"})
    assert float(out.reconstruction_db.detach().min()) >= model.config.floor_db


def test_mask_only_attenuates_and_by_at_most_mask_min_db() -> None:
    model = tiny(output="mask", mask_min_db=-30.0)
    for p in model.decoder.output[-1].parameters():  # push the logits far both ways
        torch.nn.init.normal_(p, std=50.0)
    spec = torch.rand(1, 129, 40) * 50 - 60
    out = model(spec).reconstruction_db
    assert bool((out <= spec + 1e-4).all()) and bool((out >= spec - 30.0 - 1e-4).all())


def test_config_round_trip_errors_and_bitrate(tmp_path: Path) -> None:
    cfg = VQUNetConfig(**TINY)
    assert VQUNetConfig.from_dict(cfg.to_dict()) == cfg and cfg.n_downsample == 1 and cfg.n_features == 129
    assert cfg.latent_bits_per_second == pytest.approx(8000 / 64 / 2 * 9)  # 512 codes per latent frame
    with pytest.raises(ValueError, match="bottleneck"):
        VQUNetConfig(bottleneck="rvq")
    with pytest.raises(ValueError, match="channels"):
        VQUNetConfig(channels=[])
    model = tiny().eval()
    path = save_model(model, tmp_path / "unet.safetensors")
    spec = torch.rand(1, 129, 20) * 60 - 70
    torch.testing.assert_close(load_model(path)(spec).reconstruction_db, model(spec).reconstruction_db)
    with pytest.raises(ValueError, match="expected a dB magnitude"):
        model(torch.zeros(1, 100, 5))


@pytest.mark.parametrize("stages", [1, 2])
def test_recurrent_stages_keep_shape_start_as_the_model_without_them_and_round_trip(
    stages: int, tmp_path: Path
) -> None:
    plain = tiny(channels=[16, 24, 24]).eval()
    grown = tiny(channels=[16, 24, 24], recurrent_stages=stages).eval()
    assert len(grown.decoder.recurrent) == stages
    missing = grown.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(".recurrent." in key for key in missing)
    for n_frames in (1, 13, 64):
        spec = torch.rand(2, 129, n_frames) * 60 - 70
        torch.testing.assert_close(grown(spec).reconstruction_db, plain(spec).reconstruction_db)  # identity start
    path = save_model(grown, tmp_path / "grown.safetensors")
    assert load_model(path).config.recurrent_stages == stages
    with pytest.raises(ValueError, match=r"recurrent_stages must lie in \[0, 2\]"):
        VQUNetConfig(channels=[16, 24, 24], recurrent_stages=3)
    with pytest.raises(ValueError, match="conv1d"):
        VQUNetConfig(architecture="conv2d", recurrent_stages=1)


@pytest.mark.parametrize("architecture", ["conv1d", "conv2d"])
def test_se_window_makes_the_output_independent_of_far_input_and_loads_whole_input_weights(
    architecture: str, tmp_path: Path
) -> None:
    sizes = {"architecture": architecture, "channels": [16, 24, 24], "output": "mapping", "bottleneck": "none"}
    whole = tiny(**sizes).eval()
    local = tiny(**sizes, se_window_frames=9).eval()
    for name, weights in whole.named_parameters():  # residual branches start at zero: give them something to gate
        if name.endswith("weight_g") or ".se." in name:
            torch.nn.init.normal_(weights, std=0.5)
    local.load_state_dict(whole.state_dict())  # the same weights: a window changes what the gates average, only
    windows = [m.window for m in local.modules() if isinstance(m, SqueezeExcite)]
    assert windows and set(windows) == {9, 5, 3}  # 9 input frames, halved (odd) at each coarser resolution
    spec = torch.rand(1, 129, 120) * 60 - 70
    louder = spec.clone()
    louder[..., 100:] += 30.0  # far from the first frames: beyond every conv's and gate's reach
    with torch.no_grad():
        assert torch.equal(local(louder).reconstruction_db[..., :40], local(spec).reconstruction_db[..., :40])
        moved = whole(louder).reconstruction_db[..., :40] - whole(spec).reconstruction_db[..., :40]
        assert float(moved.abs().max()) > 1e-4  # dB, above float noise: whole-input gates carry it everywhere
    path = save_model(local, tmp_path / "local.safetensors")
    assert load_model(path).config.se_window_frames == 9
    with pytest.raises(ValueError, match="se_window_frames"):
        VQUNetConfig(se_window_frames=0)


def test_denoiser_is_aligned_and_keeps_shape_rate_and_type() -> None:
    model = tiny(output="mask")
    with torch.no_grad():  # a mask of 0 dB everywhere: the output must be the input, sample for sample
        last = model.decoder.output[-1]
        for p in last.parameters():
            p.zero_()
        last.bias.fill_(30.0)
    denoiser = Denoiser(model, chunk_seconds=0.5, context_seconds=0.1)
    wave = synth_speech(1.3, 8000, seed=2)
    out = denoiser(wave, 8000)
    np.testing.assert_allclose(out, wave, atol=2e-4)  # chunked, mixture phase: exact up to the mask's 1e-12 dB
    stereo = torch.from_numpy(np.stack([wave, 0.5 * wave]))[None]
    up = denoiser(stereo, 16000)
    assert isinstance(up, torch.Tensor) and up.shape == stereo.shape
    with pytest.raises(ValueError, match=r"Reconstructor cannot run a 'vqunet'.*use Denoiser"):
        Reconstructor(model)


def test_max_attenuation_limits_how_far_any_bin_is_turned_down() -> None:
    model = tiny(output="mask")  # mask_min_db -40
    with torch.no_grad():  # the mask at its full -40 dB everywhere
        last = model.decoder.output[-1]
        for p in last.parameters():
            p.zero_()
        last.bias.fill_(-30.0)
    wave = synth_speech(1.3, 8000, seed=2)
    full = Denoiser(model, chunk_seconds=0.5, context_seconds=0.1)(wave, 8000)
    np.testing.assert_allclose(full, wave * 10 ** (-40 / 20), atol=2e-4)
    limited = Denoiser(model, chunk_seconds=0.5, context_seconds=0.1, max_attenuation_db=12.0)(wave, 8000)
    np.testing.assert_allclose(limited, wave * 10 ** (-12 / 20), atol=2e-4)  # the same phase, 12 dB down only
    for bad in (0.0, -6.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_attenuation_db"):
            Denoiser(model, max_attenuation_db=bad)


def _noise_folder(root: Path, rate: int = 8000) -> Path:
    rng = np.random.default_rng(0)
    for name in ("birds", "wind"):  # wind validates (README split)
        save(root / f"{name}.flac", (0.05 * rng.standard_normal(rate * 2)).astype(np.float32), rate)
    return root


def test_denoise_task_mixes_speech_and_noise_and_targets_the_speech(tmp_path: Path) -> None:
    speech = make_fsdd_folder(tmp_path / "speech", clips=6).parent
    noise = _noise_folder(tmp_path / "noise")
    data = DataConfig(root=str(speech), noise=str(noise), crop_seconds=0.5, snr_db=[5.0, 5.0])
    train, val = DenoiseTask().datasets(data, 8000, seed=0, level_db=None)
    assert isinstance(train, NoisySpeechDataset) and [p.stem for p in train.noise_files] == ["birds"]
    assert [p.stem for p in val.noise_files] == ["wind"]  # type: ignore[attr-defined]
    batch = torch.utils.data.default_collate([val[i] for i in range(3)])
    inputs, targets = DenoiseTask().waves(batch)
    torch.testing.assert_close(inputs, batch[1].sum(1))
    torch.testing.assert_close(targets, batch[1][:, 0])
    model = tiny()
    x, y = DenoiseTask().features(model, batch)
    loss, parts = DenoiseTask().loss(model, model(x), y)
    assert loss.ndim == 0 and torch.isfinite(loss) and {"recon", "vq"} <= set(parts)
    named = DataConfig(root=str(speech), noise=str(noise), noise_names=["birds"], crop_seconds=0.5)
    _, val_named = DenoiseTask().datasets(named, 8000, seed=0, level_db=None)
    assert [p.stem for p in val_named.noise_files] == ["birds"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not found"):
        DenoiseTask().datasets(DataConfig(root=str(speech), noise=str(noise), noise_names=["x"]), 8000, 0, None)
    with pytest.raises(ValueError, match="--noise"):
        DenoiseTask().datasets(DataConfig(root=str(speech)), 8000, 0, None)


def test_noise_variation_settings_reach_training_mixtures_only(tmp_path: Path) -> None:
    """data.noise_eq_db / noise_layer_prob / noise_speed_perturb vary the training noise; validation as recorded."""
    from vqaudio.data import Compose, RandomEqualizer, SpeedPerturb

    speech = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    noise = _noise_folder(tmp_path / "noise")
    plain = DataConfig(root=str(speech), noise=str(noise), crop_seconds=0.5)
    train, val = DenoiseTask().datasets(plain, 8000, seed=0, level_db=None)
    assert train.noise_transform is None and train.layer_prob == 0.0  # type: ignore[attr-defined]
    varied = DataConfig(root=str(speech), noise=str(noise), crop_seconds=0.5, noise_speed_perturb=0.2,
                        noise_eq_db=9.0, noise_layer_prob=0.5)  # fmt: skip
    train, val = DenoiseTask().datasets(varied, 8000, seed=0, level_db=None)
    transform = train.noise_transform  # type: ignore[attr-defined]
    assert isinstance(transform, Compose) and train.layer_prob == 0.5  # type: ignore[attr-defined]
    assert isinstance(transform.transforms[0], SpeedPerturb) and transform.transforms[0].out_samples == 4000
    assert transform.transforms[1] == RandomEqualizer(9.0, 8000)
    assert val.noise_transform is None and val.layer_prob == 0.0  # type: ignore[attr-defined]
    mixture, stems = train[0]
    assert mixture.shape == (4000,) and torch.isfinite(stems).all()


def test_band_limited_mixtures_lose_what_lies_above_4_khz(tmp_path: Path) -> None:
    speech = make_fsdd_folder(tmp_path / "speech", clips=2).parent
    noise = _noise_folder(tmp_path / "noise", rate=16000)  # white up to 8 kHz
    from vqaudio.data import noise_files, speech_files

    mixtures = NoisySpeechDataset(speech_files(speech, "train"), noise_files(noise, "train"), 16000, 8000, fixed=True)
    limited = BandLimited(mixtures, prob=1.0)
    mix, (lmix, lstems) = mixtures[0][0], limited[0]
    torch.testing.assert_close(lmix, lstems.sum(0))

    def high_share(x: torch.Tensor) -> float:
        power = stft(x, STFTConfig(sample_rate=16000, n_fft=512, hop_length=128)).abs().pow(2)
        return float(power[power.shape[0] // 2 + 8 :].sum() / power.sum())

    assert high_share(mix) > 0.2 and high_share(lmix) < 1e-3
    assert BandLimited(mixtures, prob=0.0)[0][0].equal(mix)


def test_fit_and_cli_denoise_a_file_and_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vqaudio.train import fit

    speech = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    noise = _noise_folder(tmp_path / "noise")
    recipe = RecipeConfig(
        name="tiny-denoise",
        model_type="vqunet",
        task="denoise",
        model={**TINY, "latent_dim": 8, "codebook_size": 16},
        data=DataConfig(root=str(speech), noise=str(noise), crop_seconds=0.5, batch_size=4),
        trainer=TrainerConfig(max_epochs=1, accelerator="cpu", log_every_n_steps=1),
        out_dir=str(tmp_path / "runs"),
    )
    best = fit(recipe)
    assert isinstance(load_model(best), VQUNet)
    folder = tmp_path / "in"
    save(folder / "a" / "one.wav", synth_speech(0.7, 8000, seed=1), 8000)
    save(folder / "two.flac", np.stack([synth_speech(0.4, 16000, seed=2)] * 2), 16000)
    assert cli_main(["denoise", str(folder / "two.flac"), "-o", str(tmp_path / "two.wav"), "--model", str(best)]) == 0
    assert cli_main(["denoise", str(folder), "-o", str(tmp_path / "out"), "--model", str(best)]) == 0
    from vqaudio.audio import load

    out, rate = load(tmp_path / "out" / "two.wav", mono=False)
    assert rate == 16000 and out.shape == (2, 6400)
    assert (tmp_path / "out" / "a" / "one.wav").is_file()
    argv = ["denoise", str(folder / "two.flac"), "--model", str(best), "--max-attenuation-db"]
    assert cli_main([*argv, "6", "-o", str(tmp_path / "two-6db.wav")]) == 0
    light, _ = load(tmp_path / "two-6db.wav", mono=False)
    noisy, _ = load(folder / "two.flac", mono=False)
    energy = float(np.sum(light**2))
    assert light.shape == noisy.shape and 0.2 < energy / float(np.sum(noisy**2)) < 1.05  # gains in [-6, 0] dB
    assert energy >= float(np.sum(out**2)) - 1e-9  # turns down no more than the unlimited run
    with pytest.raises(SystemExit):
        cli_main([*argv, "0", "-o", str(tmp_path / "zero.wav")])
    assert "expected a number > 0" in capsys.readouterr().err
    assert cli_main(["denoise", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.wav")]) == 2
    assert "no such audio file" in capsys.readouterr().err

    # a new run grown from these weights: a recurrent stage added, everything else and the input scaling carried over
    recipe_file = tmp_path / "grown.yaml"
    grown = {**recipe.to_dict(), "name": "tiny-grown", "model": {**recipe.model, "recurrent_stages": 1}}
    recipe_file.write_text(yaml.safe_dump(grown))
    argv = ["train", str(recipe_file), "-q", "--init-from", str(best)]
    assert cli_main(argv) == 0
    start, grown_best = load_model(best), tmp_path / "runs" / "tiny-grown" / "best.safetensors"
    model = load_model(grown_best)
    assert len(model.decoder.recurrent) == 1
    assert (model.config.norm_mean, model.config.norm_std) == (start.config.norm_mean, start.config.norm_std)
    started = decode_metadata_value(read_metadata(grown_best)["initialised_from"])
    digest = hashlib.sha256(best.read_bytes()).hexdigest()[:12]
    assert started == f"{best} (recipe tiny-denoise, sha256 {digest})"
    from vqaudio.train.publish import publish

    card = publish(grown_best, tmp_path / "shipped" / "grown.safetensors").with_suffix(".md").read_text()
    assert f"| started from | `{started}`" in card and "trains the earlier stages first" in card
    capsys.readouterr()
    assert cli_main([*argv, "--resume"]) == 2
    assert "pick one" in capsys.readouterr().err
    # a recipe that names its init_from resumes its own run (a killed second stage goes on from last.ckpt)
    recipe_file.write_text(yaml.safe_dump({**grown, "init_from": str(best)}))
    assert cli_main(["train", str(recipe_file), "-q", "--resume", "--max-epochs", "2"]) == 0
    resumed = tmp_path / "runs" / "tiny-grown" / "logs" / "version_1" / "metrics.csv"
    assert resumed.is_file()


def test_init_from_refuses_weights_the_recipe_cannot_hold(tmp_path: Path) -> None:
    from vqaudio.train.warm_start import init_config, load_initial_weights

    path = save_model(tiny(), tmp_path / "small.safetensors")
    with pytest.raises(ValueError, match="do not fit"):
        load_initial_weights(tiny(channels=[16, 32]), path)  # another width
    with pytest.raises(ValueError, match="no place for"):
        load_initial_weights(tiny(bottleneck="none"), path)  # the codebook would be dropped
    with pytest.raises(ValueError, match="holds a vqunet model, the recipe trains a vqvae"):
        init_config(path, "vqvae")


def _validation_batch(tmp_path: Path, crop_seconds: float, snr_db: float) -> list[torch.Tensor]:
    """Two fixed validation mixtures (8 kHz synthetic digits in the test noise at `snr_db`) as one batch."""
    speech = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    noise = _noise_folder(tmp_path / "noise")
    data = DataConfig(root=str(speech), noise=str(noise), crop_seconds=crop_seconds, snr_db=[snr_db, snr_db])
    _, val = DenoiseTask().datasets(data, 8000, seed=0, level_db=None)
    return torch.utils.data.default_collate([val[i] for i in range(2)])


def test_si_sdr_term_scores_the_waveform_the_benchmark_scores(tmp_path: Path) -> None:
    from vqaudio.metrics import si_sdr
    from vqaudio.models.autoencoder import AutoencoderOutput
    from vqaudio.train.losses import si_sdr_db

    batch = _validation_batch(tmp_path, crop_seconds=0.5, snr_db=5.0)
    model = tiny(recon_sisdr_weight=1.0)
    x, targets = DenoiseTask().features(model, batch)
    identity = AutoencoderOutput(x, model.normalize(x), {})
    _, parts = DenoiseTask().loss(model, identity, targets)
    noisy, clean = batch[0].numpy(), batch[1][:, 0].numpy()
    expected = np.mean([si_sdr(c, n) for c, n in zip(clean, noisy, strict=True)])
    assert float(parts["si_sdr"]) == pytest.approx(expected, abs=0.05)  # identity mask: the noisy input's SI-SDR
    perfect = AutoencoderOutput(targets.features, model.normalize(targets.features), {})
    assert float(DenoiseTask().loss(model, perfect, targets)[1]["si_sdr"]) > expected + 5  # clean magnitude helps
    sdr, counted = si_sdr_db(torch.randn(3, 800), torch.cat([torch.randn(2, 800), torch.zeros(1, 800)]))
    assert counted.tolist() == [True, True, False] and torch.isfinite(sdr[:2]).all()


def test_third_octave_bands_are_stoi_bands_and_stop_below_nyquist() -> None:
    from vqaudio.audio import third_octave_bands

    bands = third_octave_bands(16000, 512)
    freqs = np.arange(257) * 16000 / 512
    assert bands.shape == (15, 257) and (bands.sum(axis=1) >= 1).all() and (bands.sum(axis=0) <= 1).all()
    first, last = np.flatnonzero(bands[0]), np.flatnonzero(bands[-1])
    assert freqs[first].min() >= 150 * 2 ** (-1 / 6) and freqs[first].max() < 150 * 2 ** (1 / 6)
    assert freqs[last].max() < 150 * 2 ** (14 / 3 + 1 / 6) < 4500
    narrow = third_octave_bands(8000, 64)  # bins 125 Hz apart: the lowest bands get their nearest bin
    assert (narrow.sum(axis=1) >= 1).all()
    assert third_octave_bands(8000, 256).shape[0] == 14  # the top band reaches 4.28 kHz, above 8 kHz's Nyquist


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_intelligibility_loss_follows_stoi_and_has_gradients(sample_rate: int) -> None:
    pystoi = pytest.importorskip("pystoi")
    from vqaudio.train.losses import intelligibility_loss

    rng = np.random.default_rng(0)
    clean = synth_speech(3.0, sample_rate, seed=1).astype(np.float64)
    noise = rng.standard_normal(clean.size) * clean.std()
    scores = []
    for snr in (-5.0, 0.0, 5.0, 10.0):
        noisy = clean + noise * 10 ** (-snr / 20)
        ours = 1.0 - float(intelligibility_loss(torch.tensor(noisy), torch.tensor(clean), sample_rate))
        # close to pystoi, not equal: it works at 10 kHz and cuts silent frames from the waveform, the loss at the
        # signal's rate and from the STFT (within 0.04 on LibriSpeech at 8 and 16 kHz)
        assert ours == pytest.approx(pystoi.stoi(clean, noisy, sample_rate), abs=0.05)
        scores.append(ours)
    assert scores == sorted(scores) and scores[-1] - scores[0] > 0.1  # less noise, more intelligible
    same = intelligibility_loss(torch.tensor(clean), torch.tensor(clean), sample_rate)
    assert float(same) == pytest.approx(0, abs=1e-4)
    pause = torch.zeros(2, clean.size, dtype=torch.float64)  # nothing to score: no active frame, a zero loss
    assert float(intelligibility_loss(pause + 0.1, pause, sample_rate)) == 0.0
    estimate = torch.tensor(np.stack([clean + noise, clean + 0.3 * noise]), requires_grad=True)
    loss = intelligibility_loss(estimate, torch.tensor(np.stack([clean, clean])), sample_rate)
    loss.backward()
    assert estimate.grad is not None and torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0
    short = torch.tensor(clean[: sample_rate // 5])  # shorter than a 384 ms segment: one segment
    assert torch.isfinite(intelligibility_loss(short + 0.1, short, sample_rate))
    with pytest.raises(ValueError, match="two frames"):
        intelligibility_loss(short[:100], short[:100], sample_rate)


def test_stoi_term_adds_its_weight_and_validation_logs_stoi(tmp_path: Path) -> None:
    from vqaudio.models.autoencoder import AutoencoderOutput

    batch = _validation_batch(tmp_path, crop_seconds=1.0, snr_db=0.0)
    totals = {}
    for weight in (0.0, 3.0):
        model = tiny(recon_stoi_weight=weight)
        x, targets = DenoiseTask().features(model, batch)
        identity = AutoencoderOutput(x, model.normalize(x), {})
        totals[weight], parts = DenoiseTask().loss(model, identity, targets)
        assert ("stoi_loss" in parts) == (weight > 0)
    assert float(totals[3.0] - totals[0.0]) == pytest.approx(3.0 * float(parts["stoi_loss"]), rel=1e-5)
    noisy_stoi = float(DenoiseTask().validation_metrics(model, identity, targets)["stoi_approx"])
    perfect = AutoencoderOutput(targets.features, model.normalize(targets.features), {})
    assert float(DenoiseTask().validation_metrics(model, perfect, targets)["stoi_approx"]) > noisy_stoi + 0.05
    with pytest.raises(ValueError, match="recon_stoi_weight must be >= 0"):
        tiny(recon_stoi_weight=-1.0)
