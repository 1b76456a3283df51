"""Learned phase (issue 16, part 1): the PhaseNet model, its losses and task, and the codec's phase choice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqaudio.audio import STFTConfig, sharpen_db, stft
from vqaudio.models import VQVAE, VQVAEConfig, save_model
from vqaudio.models.phase import PhaseNet, PhaseNetConfig
from vqaudio.models.registry import build_model
from vqaudio.pipelines import Codec
from vqaudio.pipelines.phase import GRIFFIN_LIM, PhaseSource, resolve_phase
from vqaudio.train.losses import anti_wrapped, multi_resolution_stft_loss, phase_derivative_losses
from vqaudio.train.tasks import PhaseTask, build_task

TINY_PHASE = dict(hidden_channels=32, dilations=[1, 2], input_noise_db=0.0)


def tiny_phase(seed: int = 0, **overrides: object) -> PhaseNet:
    torch.manual_seed(seed)
    return PhaseNet(PhaseNetConfig(**{**TINY_PHASE, **overrides}))


def harmonic_waves(batch: int, n: int = 4000, seed: int = 0) -> torch.Tensor:
    """Voiced-speech stand-ins: a few harmonics of a random pitch with a slow glide, 8 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 8000
    waves = []
    for _ in range(batch):
        f0 = rng.uniform(100, 220) * (1 + 0.1 * t)
        phase = 2 * np.pi * np.cumsum(f0) / 8000
        waves.append(sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.1)
    return torch.tensor(np.stack(waves), dtype=torch.float32)


def test_config_checks_and_round_trip() -> None:
    cfg = PhaseNetConfig(**TINY_PHASE)
    again = PhaseNetConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.dilations == (1, 2)
    assert cfg.receptive_frames == 1 + 1 + 2  # the input conv, then one tap per dilation on each side
    for bad in ({"n_downsample": 1}, {"kernel_size": 4}, {"dilations": []}, {"input_noise_db": -1.0}):
        with pytest.raises(ValueError):
            PhaseNetConfig(**{**TINY_PHASE, **bad})
    assert isinstance(build_model("phase-net", TINY_PHASE), PhaseNet)


def test_phase_shape_range_and_bad_input() -> None:
    model = tiny_phase()
    db = torch.randn(2, 3, 129, 20) * 10 - 40
    phase = model.phase(db)
    assert phase.shape == db.shape
    assert phase.abs().max() <= math.pi + 1e-6
    assert model.training  # phase() restores the mode it found
    with pytest.raises(ValueError, match="129"):
        model(torch.zeros(2, 100, 20))


def test_anti_wrapped_is_the_distance_on_the_circle() -> None:
    x = torch.tensor([0.0, 0.5, 2 * math.pi - 0.25, -2 * math.pi + 0.1, math.pi])
    assert torch.allclose(anti_wrapped(x), torch.tensor([0.0, 0.5, 0.25, 0.1, math.pi]), atol=1e-6)


def test_phase_losses_ignore_what_the_magnitude_cannot_tell() -> None:
    target = (torch.rand(2, 129, 30) * 2 - 1) * math.pi
    weight = torch.rand(2, 129, 30)
    # the same phase turned by a constant, or wrapped by 2 pi: nothing to learn, no loss
    for same in (target + 1.234, target + 2 * math.pi):
        inst_freq, group_delay = phase_derivative_losses(same, target, weight)
        assert float(inst_freq) < 1e-4 and float(group_delay) < 1e-4
    inst_freq, group_delay = phase_derivative_losses(torch.zeros_like(target), target, weight)
    assert float(inst_freq) > 0.5 and float(group_delay) > 0.5
    # silent bins do not count
    zero_weight = phase_derivative_losses(torch.zeros_like(target), target, torch.zeros_like(weight))
    assert all(float(v) == 0.0 for v in zero_weight)


def test_multi_resolution_stft_loss() -> None:
    waves = harmonic_waves(2)
    resolutions = ((128, 32), (256, 64))
    assert float(multi_resolution_stft_loss(waves, waves, resolutions)) < 1e-4
    assert float(multi_resolution_stft_loss(waves * 0.5, waves, resolutions)) > 0.1


def test_phase_task_learns() -> None:
    """A few dozen steps on harmonic sounds lower the loss and make the resynthesis more consistent."""
    task = build_task("phase")
    assert isinstance(task, PhaseTask)
    model = tiny_phase(hidden_channels=64, dilations=[1, 2, 4])
    waves = harmonic_waves(8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            inputs, targets = task.features(model, waves)
            out = model(inputs)
            loss = float(task.loss(model, out, targets)[0])
            sdr = float(task.validation_metrics(model, out, targets)["consistency_snr_db"])
        model.train()
        return loss, sdr

    loss0, sdr0 = evaluate()
    for _ in range(60):
        inputs, targets = task.features(model, waves)
        loss, parts = task.loss(model, model(inputs), targets)
        assert set(parts) == {"inst_freq", "group_delay", "mr_stft"}
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss1, sdr1 = evaluate()
    assert loss1 < 0.8 * loss0
    assert sdr1 > sdr0 + 0.3


def test_phase_task_on_a_codec_gives_the_decoded_magnitude(tmp_path) -> None:
    """With config.codec, the input and the magnitude the phase goes on are what the codec decodes (postfiltered),
    rungs 1..n along the batch outside training and drawn in training; a wrong codec is refused by name."""
    torch.manual_seed(0)
    vq_cfg = VQVAEConfig(hidden_channels=16, n_res_blocks=1, latent_dim=8, codebook_size=16, n_stages=2)
    codec = VQVAE(vq_cfg).eval()
    path = tmp_path / "codec.safetensors"
    save_model(codec, path)
    task = build_task("phase")
    model = tiny_phase(codec=str(path), codec_postfilter=0.3).eval()
    waves = harmonic_waves(4, n=2000)
    inputs, targets = task.features(model, waves)
    clean_db = vq_cfg.front_end.from_spectrogram(stft(waves, vq_cfg.stft))
    for row, rung in enumerate([1, 2, 1, 2]):
        with torch.no_grad():
            decoded = codec.decode(codec.encode(clean_db[row : row + 1], n_stages=rung), n_frames=clean_db.shape[-1])
        assert torch.allclose(inputs[row], sharpen_db(decoded, 0.3)[0], atol=1e-4)
    assert torch.allclose(targets.magnitude, torch.pow(10.0, inputs / 20.0))
    assert not torch.allclose(targets.magnitude, targets.spectrogram.abs(), rtol=0.1)  # not the clean magnitude
    model.train()
    loss, _ = task.loss(model, model(task.features(model, waves)[0]), targets)
    loss.backward()  # the phase model learns; the codec stays frozen
    assert all(p.grad is None for p in task.codec_model(str(path)).parameters())
    with pytest.raises(FileNotFoundError, match="neither a file nor a shipped model"):
        build_task("phase").features(tiny_phase(codec=str(tmp_path / "none.safetensors")), waves)
    save_model(tiny_phase(), tmp_path / "phase.safetensors")
    with pytest.raises(ValueError, match="not a VQ-VAE"):
        build_task("phase").features(tiny_phase(codec=str(tmp_path / "phase.safetensors")), waves)


def test_resolve_phase_choices(tmp_path) -> None:
    stft_cfg = STFTConfig(sample_rate=8000, n_fft=256, hop_length=64)
    model = tiny_phase()
    assert resolve_phase(GRIFFIN_LIM, stft_cfg) is None and resolve_phase(None, stft_cfg) is None
    assert resolve_phase(model, stft_cfg) is model
    path = tmp_path / "phase.safetensors"
    save_model(model, path)
    assert isinstance(resolve_phase(str(path), stft_cfg), PhaseNet)
    with pytest.raises(ValueError, match="16000 Hz"):
        resolve_phase(model, STFTConfig(sample_rate=16000, n_fft=256, hop_length=64))
    vq_path = tmp_path / "vq.safetensors"
    save_model(VQVAE(VQVAEConfig(hidden_channels=8, n_res_blocks=0, latent_dim=4, codebook_size=4)), vq_path)
    with pytest.raises(ValueError, match="phase model"):
        resolve_phase(vq_path, stft_cfg)


def test_phase_source_pieces() -> None:
    features = torch.randn(129, 12) * 10 - 40
    assert PhaseSource(None, torch.device("cpu")).piece(0, 0, 12, features, 64).phase is None
    learned = PhaseSource(tiny_phase(), torch.device("cpu"))
    direct = learned.piece(0, 0, 12, features, 0)
    assert direct.phase is not None and direct.phase_init is None
    assert torch.allclose(direct.phase.abs(), torch.ones(129, 12))
    refined = learned.piece(0, 0, 12, features, 8)
    assert refined.phase is None and refined.phase_init is not None
    assert torch.allclose(torch.polar(torch.ones(129, 12), refined.phase_init), direct.phase, atol=1e-5)


@pytest.mark.parametrize("iters", [0, 4])
def test_codec_with_learned_phase_keeps_length_and_chunks_join(iters: int) -> None:
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16))
    phase = tiny_phase()
    wave = harmonic_waves(1, n=8000 * 3)[0].numpy()
    whole = Codec(vq, phase=phase, griffin_lim_iters=iters)
    chunked = Codec(vq, phase=phase, griffin_lim_iters=iters, chunk_seconds=0.5)
    assert whole.phase_source.name == "learned" and whole.griffin_lim_iters == iters
    data = whole.encode(wave, 8000)
    a, sr = whole.decode(data)
    b, _ = chunked.decode(data)
    assert sr == 8000 and a.shape == b.shape == wave.shape
    if iters == 0:
        # the learned phase is absolute: with context covering its receptive field, chunks join exactly
        assert np.max(np.abs(a - b)) < 1e-4 * max(1e-3, float(np.max(np.abs(a))))
    else:
        # Griffin-Lim settles each chunk on its own: close, not equal
        assert float(np.sqrt(np.mean((a - b) ** 2))) < 0.25 * float(np.sqrt(np.mean(a**2))) + 1e-6


def test_codec_griffin_lim_choice_has_no_phase_model() -> None:
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16))
    codec = Codec(vq, phase=GRIFFIN_LIM)
    assert codec.phase_source.name == GRIFFIN_LIM and codec.griffin_lim_iters == 32  # the default (phase.py)
    spec = stft(harmonic_waves(1)[0], codec.stft)
    assert spec.shape[-2] == 129


def test_cli_decodes_with_a_chosen_phase_and_iterations(tmp_path) -> None:
    from vqaudio.audio.io import load, save
    from vqaudio.cli import ITERS_HELP, main
    from vqaudio.pipelines.phase import GRIFFIN_LIM_ITERS, LEARNED_REFINE_ITERS

    assert f"{GRIFFIN_LIM_ITERS} alone" in ITERS_HELP and f"{LEARNED_REFINE_ITERS} after" in ITERS_HELP
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16))
    model, phase = tmp_path / "vq.safetensors", tmp_path / "phase.safetensors"
    save_model(vq, model)
    save_model(tiny_phase(), phase)
    wav = save(tmp_path / "in.wav", harmonic_waves(1, n=8000)[0].numpy(), 8000)
    assert main(["encode", str(wav), "-o", str(tmp_path / "a.vqa"), "--model", str(model)]) == 0
    outs = {}
    for name, extra in {"gl8": ["--griffin-lim-iters", "8"], "learned": ["--phase", str(phase)],
                        "learned0": ["--phase", str(phase), "--griffin-lim-iters", "0"]}.items():  # fmt: skip
        out = tmp_path / f"{name}.wav"
        assert main(["decode", str(tmp_path / "a.vqa"), "-o", str(out), "--model", str(model), *extra]) == 0
        outs[name] = load(out)[0]
    assert all(w.shape == (8000,) for w in outs.values())
    assert not np.allclose(outs["gl8"], outs["learned0"])  # the phase option reaches the decoder
    with pytest.raises(SystemExit):
        main(["decode", str(tmp_path / "a.vqa"), "-o", str(tmp_path / "x.wav"), "--griffin-lim-iters", "-1"])
