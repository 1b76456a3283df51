"""Spectral-envelope VQ-VAE (rate-K, decimation in time, two-stage VQ): sizes, codes, checkpoints, training."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from vqaudio.audio import db_to_amplitude, log_magnitude, rate_k
from vqaudio.models import build_model, load_model, read_metadata, save_model
from vqaudio.models.envelope import EnvelopeVQVAE, EnvelopeVQVAEConfig
from vqaudio.train.config import OptimConfig
from vqaudio.train.tasks import EnvelopeTask

TINY = {"hidden_channels": 16, "n_res_blocks": 1, "latent_dim": 4, "codebook_size": 8, "n_stages": 2}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def make(**overrides: object) -> EnvelopeVQVAE:
    torch.manual_seed(0)
    model = build_model("envelope-vqvae", {**TINY, **overrides})
    assert isinstance(model, EnvelopeVQVAE)
    return model


def vowel_waves(batch: int = 3, seconds: float = 0.4, seed: int = 0) -> torch.Tensor:
    """Harmonic 'vowels' (pitch 100-200 Hz) with a moving spectral tilt and a level envelope, 8 kHz."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(round(seconds * 8000)) / 8000
    waves = []
    for _ in range(batch):
        f0 = 100 + 100 * torch.rand(1, generator=g)
        tilt = 1.0 + 0.5 * torch.sin(2 * math.pi * 2 * t)
        wave = sum((h**-tilt) * torch.sin(2 * math.pi * f0 * h * t) for h in range(1, 30) if f0 * h < 3900)
        waves.append(0.3 * wave * torch.hann_window(t.numel(), periodic=False))
    return torch.stack(waves)


def spectrogram(model: EnvelopeVQVAE, waves: torch.Tensor) -> torch.Tensor:
    """The model's input: the rate-K envelope its config's front-end makes."""
    return model.config.front_end.features(waves)


@pytest.mark.parametrize("n_downsample", [0, 1, 2])
@pytest.mark.parametrize("n_frames", [1, 7, 41])
def test_shapes_for_any_length_and_decimation(n_downsample: int, n_frames: int) -> None:
    model = make(n_downsample=n_downsample)
    env = torch.rand(2, 3, 20, n_frames) * 60 - 70
    out = model(env)
    stride = 2**n_downsample
    assert out.reconstruction_db.shape == out.normalized.shape == (2, 3, 20, n_frames)
    assert out.codes.shape == (2, 3, -(-n_frames // stride), 2)
    assert set(out.aux_losses) == {"vq"} and torch.isfinite(out.aux_losses["vq"])
    assert float(out.reconstruction_db.detach().min()) >= model.config.floor_db


def test_front_end_is_the_rate_k_envelope_of_the_floored_magnitude() -> None:
    cfg = make(peak_hz=156.25).config
    waves = vowel_waves(batch=2)
    spec_db = log_magnitude(waves, cfg.stft, floor_db=cfg.floor_db)
    expected = rate_k(db_to_amplitude(spec_db), cfg.stft, 20, floor_db=cfg.floor_db, peak_hz=156.25)
    torch.testing.assert_close(cfg.front_end.features(waves), expected)
    assert cfg.front_end.n_features == 20 and cfg.n_features == 20


def test_bits_per_frame_frame_period_and_bitrate() -> None:
    cfg = EnvelopeVQVAEConfig(n_downsample=2, codebook_size=512, n_stages=2)
    assert cfg.bits_per_frame == 18.0
    assert cfg.frame_period_ms == 40.0 and cfg.latent_frame_rate == 25.0
    assert cfg.latent_bits_per_second == 450.0
    assert cfg.bits_per_frame_at(1) == 9.0
    ten_ms = EnvelopeVQVAEConfig(n_downsample=0, codebook_size=256, n_stages=3)
    assert ten_ms.bits_per_frame == 24.0 and ten_ms.latent_bits_per_second == 2400.0
    model = make(n_downsample=1)
    assert model.bits_per_frame == 6.0 and model.frame_period_ms == 20.0 and model.latent_bits_per_second == 300.0
    with pytest.raises(ValueError, match="n_stages must be in"):
        cfg.bits_per_frame_at(3)


def test_encode_decode_round_trip_matches_forward_and_prefixes_decode() -> None:
    model = make(n_downsample=1).eval()
    spec = spectrogram(model, vowel_waves())
    n = spec.shape[-1]
    with torch.no_grad():
        out = model(spec)
        codes = model.encode(spec)
        assert codes.dtype == torch.int64 and codes.shape == (3, -(-n // 2), 2)
        assert torch.equal(codes, out.codes)
        decoded = model.decode(codes, n)
        torch.testing.assert_close(decoded, out.reconstruction_db)
        first = model.encode(spec, n_stages=1)
        assert torch.equal(first, codes[..., :1])
        coarse = model.decode(first, n)
        assert coarse.shape == decoded.shape and not torch.allclose(coarse, decoded)
        assert model.decode(codes).shape[-1] == codes.shape[-2] * 2
        # the VQ-free path: same decoder, continuous latents
        z = model.encode_continuous(spec)
        assert z.shape == (3, codes.shape[-2], 4)
        assert model.decode_latents(z, n).shape == decoded.shape


def test_two_stages_beat_one_after_kmeans_init() -> None:
    model = make(n_downsample=0, codebook_size=16, quantizer_options={"kmeans_init": True, "ema": True})
    spec = spectrogram(model, vowel_waves(batch=4))
    model.train()
    model(spec)  # k-means initialises both stages from this batch
    model.eval()
    with torch.no_grad():
        z = model.encode_continuous(spec)
        err = [(model.quantizer.decode(model.encode(spec, n_stages=s)) - z).pow(2).mean() for s in (1, 2)]
    assert float(err[1]) < float(err[0])


def test_save_load_round_trip(tmp_path) -> None:
    model = make(n_downsample=2, quantizer_options={"ema": True}).eval()
    spec = spectrogram(model, vowel_waves())
    path = save_model(model, tmp_path / "env.safetensors", metadata={"note": "test"})
    assert read_metadata(path)["model_type"] == "envelope-vqvae"
    loaded = load_model(path)
    assert isinstance(loaded, EnvelopeVQVAE) and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded.encode(spec), model.encode(spec))
        torch.testing.assert_close(loaded(spec).reconstruction_db, model(spec).reconstruction_db)


def test_training_steps_lower_the_db_error() -> None:
    model = make(n_downsample=1, hidden_channels=32, quantizer_options={"kmeans_init": True, "ema": True})
    spec = spectrogram(model, vowel_waves(batch=4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    task = EnvelopeTask()
    model.train()
    first = None
    for _ in range(40):
        loss, parts = task.loss(model, model(spec), spec)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(parts["mse_db2"]) if first is None else first
    model.eval()
    with torch.no_grad():
        last = float(task.loss(model, model(spec), spec)[1]["mse_db2"])
    assert last < 0.5 * first


def test_task_weighs_quiet_frames_and_reports_speech_distortion() -> None:
    model = make(quiet_weight=0.1)
    target = torch.zeros(1, 20, 4)
    target[..., 2:] = -50.0  # two loud frames, two frames 50 dB down
    estimate = target + torch.tensor([1.0, 1.0, 3.0, 3.0])  # 1 dB off on speech, 3 dB off in the pause
    out = model(target)
    out.reconstruction_db = estimate
    loss, parts = EnvelopeTask().loss(model, out, target)
    assert float(parts["speech_sd_db2"]) == pytest.approx(1.0)
    assert float(parts["mse_db2"]) == pytest.approx((1 + 1 + 9 + 9) / 4)
    expected = (1 + 1 + 0.1 * 9 + 0.1 * 9) / 2.2 / model.config.norm_std**2
    assert float(parts["recon"]) == pytest.approx(expected)
    assert float(loss.detach()) == pytest.approx(float((parts["recon"] + parts["vq"]).detach()))


def test_lightning_module_step_scores_against_the_envelope() -> None:
    from vqaudio.train.module import TaskModule

    model = make(n_downsample=1)
    module = TaskModule(model, EnvelopeTask(), OptimConfig())
    logged: dict[str, float] = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, float(value))  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = module.validation_step(vowel_waves(batch=2), 0)
    assert torch.isfinite(loss)
    assert {"val/loss", "val/recon", "val/vq", "val/mse_db2", "val/rmse_db"} <= set(logged)
    # rmse_db compares rate-K with rate-K (a (K, N) vs (F, N) mix-up would raise), and agrees with mse_db2
    assert logged["val/rmse_db"] == pytest.approx(math.sqrt(logged["val/mse_db2"]), rel=1e-4)


def test_bad_inputs_are_clear_errors() -> None:
    model = make()
    with pytest.raises(ValueError, match="20"):
        model(torch.zeros(2, 129, 10))
    with pytest.raises(ValueError, match="0 frames"):
        model(torch.zeros(20, 0))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((20, 4), float("nan")))
    with pytest.raises(ValueError, match="integer tensor"):
        model.decode(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="stages"):
        model.decode(torch.zeros(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"lie in \[0, 8\)"):
        model.decode(torch.full((5, 2), 8, dtype=torch.long))
    with pytest.raises(ValueError, match="n_frames"):
        model.decode(torch.zeros(5, 2, dtype=torch.long), n_frames=100)
    with pytest.raises(ValueError, match="n_stages"):
        model.encode(torch.zeros(20, 4), n_stages=3)
    with pytest.raises(ValueError, match="latents"):
        model.decode_latents(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="unknown EnvelopeVQVAEConfig keys"):
        EnvelopeVQVAEConfig.from_dict({"architecture": "conv2d"})
    with pytest.raises(ValueError, match="f_max"):
        EnvelopeVQVAEConfig(f_max=5000.0)
    with pytest.raises(ValueError, match="hop_length"):
        EnvelopeVQVAEConfig(hop_length=400)
    with pytest.raises(ValueError, match="quantizer_options"):
        make(quantizer_options={"no_such_option": 1})
    with pytest.raises(TypeError, match="EnvelopeVQVAEConfig"):
        build_model("vqvae", EnvelopeVQVAEConfig())


def _load_benchmark():
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "envelope.py"
    spec = importlib.util.spec_from_file_location("benchmark_envelope", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_envelope", module)
    spec.loader.exec_module(module)
    return module


def test_benchmark_scores_frames_and_writes_the_report(tmp_path) -> None:
    import json

    from tests.helpers import make_fsdd_folder

    bench = _load_benchmark()
    # the distortion: a constant 2 dB error is 4 dB², and nothing once the per-frame mean error is removed
    dist = bench.Distortion()
    true = torch.zeros(20, 6)
    keep = torch.tensor([True, True, False, True, False, True])
    dist.add(true, true + 2.0, keep)
    assert dist.row() == {"sd_db2": 4.0, "sd_db2_mean_removed": 0.0, "frames": 4}
    # speech frames: within range_db of the loudest frame's energy
    env = torch.tensor([[0.0, -10.0, -29.0, -31.0, -80.0]]).expand(20, 5)
    assert bench.speech_frames(env, 30.0).tolist() == [True, True, True, False, False]
    torch.testing.assert_close(bench.interpolate(torch.tensor([[0.0, 4.0]]), torch.tensor([0, 4]), 6),
                               torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 4.0]]))  # fmt: skip

    data = make_fsdd_folder(tmp_path / "speech", clips=4).parent
    model = make(n_downsample=1)
    path = save_model(model, tmp_path / "runs" / "envelope-tiny" / "best.safetensors")
    out = tmp_path / "envelope.json"
    argv = ["--data", str(data), "--models", str(path), "--codebook-size", "4", "--kmeans-iters", "2"]
    assert bench.main([*argv, "--baseline-split", "val", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "envelope" and report["split"] == "val"
    for key in ("date", "machine", "frame_selection", "rows"):
        assert key in report
    rows = {row["system"]: row for row in report["rows"]}
    ours = {f"vqaudio-envelope-tiny-{kind}" for kind in ("unquantized", "1stage", "2stage")}
    baselines = {"interpolate-20ms-unquantized", "kmeans-1x4-10ms", "kmeans-2x4-10ms", "kmeans-2x4-40ms"}
    assert ours | baselines <= set(rows)
    assert rows["vqaudio-envelope-tiny-2stage"]["bits_per_frame"] == 6.0
    assert rows["vqaudio-envelope-tiny-2stage"]["bitrate"] == 300.0
    assert rows["vqaudio-envelope-tiny-1stage"]["frame_ms"] == 20.0
    assert rows["kmeans-2x4-40ms"]["bitrate"] == 100.0
    frames = {row["frames"] for row in rows.values()}
    assert len(frames) == 1 and frames.pop() > 0  # every system is scored on the same frames
    for row in rows.values():
        assert row["sd_db2"] >= row["sd_db2_mean_removed"] >= 0.0
