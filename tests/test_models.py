"""VQ-VAE and VAE on dB spectrograms: shapes for any length, codes, sizes, learning, checkpoints."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch
import yaml
from safetensors.torch import save_file

from vqaudio.models import (
    MODEL_TYPES,
    VAE,
    VQVAE,
    VAEConfig,
    VQVAEConfig,
    build_model,
    count_parameters,
    decode_metadata_value,
    load_model,
    read_metadata,
    save_model,
)
from vqaudio.train.losses import spectral_reconstruction_loss
from vqaudio.train.tasks import ReconstructTask

TINY = {"hidden_channels": 16, "n_res_blocks": 1, "n_downsample": 2, "latent_dim": 8}
TINY_VQ = {**TINY, "codebook_size": 32}
ARCHS = ["conv1d", "conv2d"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def formant_spectrogram(batch: int = 4, n_frames: int = 32, seed: int = 0) -> torch.Tensor:
    """Speech-like dB spectrograms (batch, 129, n_frames): three formant bumps gliding over time."""
    g = torch.Generator().manual_seed(seed)
    bins = torch.arange(129, dtype=torch.float32)[None, :, None]
    t = torch.linspace(0, 1, n_frames)
    spec = torch.full((batch, 129, n_frames), -80.0)
    for k, (lo, hi) in enumerate([(10, 30), (35, 70), (75, 110)]):
        start = lo + (hi - lo) * torch.rand(batch, 1, generator=g)
        rate = 2 + 4 * torch.rand(batch, 1, generator=g)
        centre = start + 0.5 * (hi - lo) * torch.sin(rate * t)
        spec = torch.maximum(spec, -20.0 - 10.0 * k - 30.0 * ((bins - centre[:, None, :]) / 8.0).pow(2))
    return spec


def make(model_type: str, architecture: str = "conv1d", **overrides: object) -> torch.nn.Module:
    base = TINY_VQ if model_type == "vqvae" else TINY
    torch.manual_seed(0)
    return build_model(model_type, {**base, "architecture": architecture, **overrides})


# Shapes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", ARCHS)
@pytest.mark.parametrize("model_type", ["vqvae", "vae"])
@pytest.mark.parametrize("n_frames", [1, 7, 63, 126])
def test_any_length_comes_back_with_the_input_shape(model_type: str, architecture: str, n_frames: int) -> None:
    model = make(model_type, architecture)
    spec = formant_spectrogram(batch=2, n_frames=n_frames)
    out = model(spec)
    assert out.reconstruction_db.shape == spec.shape
    assert out.reconstruction_db.isfinite().all()
    assert out.reconstruction_db.min() >= model.config.floor_db
    assert set(out.aux_losses) == ({"vq"} if model_type == "vqvae" else {"kl"})
    assert out.normalized.shape == spec.shape and out.normalized.requires_grad
    loss, parts = ReconstructTask().loss(model, out, spec)
    assert loss.dim() == 0 and loss.requires_grad
    assert set(parts) == ({"recon", "vq"} if model_type == "vqvae" else {"recon", "kl"})
    n_latent = math.ceil(n_frames / 4)
    assert model.latent_shape(n_frames)[-1] == n_latent
    if model_type == "vqvae":
        expected = (2, n_latent) if architecture == "conv1d" else (2, 33, n_latent)
        assert out.codes.shape == expected
        assert out.perplexity is not None and 1.0 <= float(out.perplexity) <= 32.0
    else:
        assert out.codes is None and out.perplexity is None
        assert model.encode(spec).shape == (2, *model.latent_shape(n_frames))


def test_leading_axes_are_kept_and_bad_inputs_are_clear_errors() -> None:
    model = make("vqvae").eval()
    spec = formant_spectrogram(batch=6, n_frames=10)
    with torch.no_grad():
        batched = model(spec.reshape(2, 3, 129, 10))
        single = model(spec[0])
    assert batched.reconstruction_db.shape == (2, 3, 129, 10) and batched.codes.shape == (2, 3, 3)
    assert single.reconstruction_db.shape == (129, 10) and single.codes.shape == (3,)
    torch.testing.assert_close(single.reconstruction_db, batched.reconstruction_db[0, 0], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="129"):
        model(torch.zeros(1, 128, 10))
    with pytest.raises(ValueError, match="0 frames"):
        model(torch.zeros(1, 129, 0))


def test_input_below_the_floor_counts_as_the_floor() -> None:
    model = make("vae")  # left in training mode: reconstruct() must still be deterministic
    spec = formant_spectrogram(batch=1, n_frames=16)
    deeper = torch.where(spec <= -80.0, torch.full_like(spec, -200.0), spec)
    out = model.reconstruct(deeper)
    torch.testing.assert_close(out, model.reconstruct(spec))
    assert model.training and not out.requires_grad  # mode restored, no graph kept


# Codes and latents -------------------------------------------------------------------------------------
@pytest.mark.parametrize("architecture", ARCHS)
def test_vqvae_codes_are_in_range_and_decode_to_the_forward_output(architecture: str) -> None:
    model = make("vqvae", architecture).eval()
    spec = formant_spectrogram(batch=3, n_frames=37)
    codes = model.encode(spec)
    assert codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 32
    with torch.no_grad():
        out = model(spec)
        decoded = model.decode(codes, n_frames=37)
    assert torch.equal(out.codes, codes)
    torch.testing.assert_close(decoded, out.reconstruction_db)
    assert model.decode(codes).shape[-1] == 40  # without n_frames: latent frames x stride
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        model.decode(codes + 32)
    with pytest.raises(ValueError, match="integer"):
        model.decode(codes.float())


def test_residual_vq_codes_have_a_stage_axis_and_every_prefix_decodes() -> None:
    pytest.importorskip("vqaudio.quantize.residual")
    model = make("vqvae", n_stages=3).eval()
    spec = formant_spectrogram(batch=2, n_frames=20)
    codes = model.encode(spec)
    assert codes.shape == (2, 5, 3)
    assert torch.equal(model(spec).codes, codes)
    assert torch.equal(model.encode(spec, n_stages=2), codes[..., :2])
    full = model.decode(codes, n_frames=20)
    assert full.shape == spec.shape
    torch.testing.assert_close(full, model(spec).reconstruction_db)
    prefix = model.decode(codes[..., :1], n_frames=20)
    assert prefix.shape == spec.shape and not torch.equal(prefix, full)
    assert model.latent_bits_per_second == pytest.approx(8000 / 64 / 4 * 3 * 5)
    with pytest.raises(ValueError, match="stages"):
        model.decode(torch.zeros(2, 5, 4, dtype=torch.long))


def test_vae_is_deterministic_in_eval_and_samples_in_training() -> None:
    model = make("vae")
    spec = formant_spectrogram(batch=2, n_frames=24)
    model.train()
    assert not torch.equal(model(spec).reconstruction_db, model(spec).reconstruction_db)
    model.eval()
    first, second = model(spec), model(spec)
    assert torch.equal(first.reconstruction_db, second.reconstruction_db)
    mu = model.encode(spec)
    torch.testing.assert_close(model.decode(mu, n_frames=24), first.reconstruction_db)


@pytest.mark.parametrize("architecture", ARCHS)
def test_vqvae_and_vae_with_one_config_have_equal_latent_sizes(architecture: str) -> None:
    shared = {**TINY, "architecture": architecture}
    vq, vae = build_model("vqvae", shared), build_model("vae", shared)
    spec = formant_spectrogram(batch=2, n_frames=30)
    assert vq.latent_shape(30) == vae.latent_shape(30)
    assert vq.encode_continuous(spec).shape == vae.encode(spec).shape == (2, *vae.latent_shape(30))
    assert vq.latent_values_per_second == vae.latent_values_per_second
    assert vq.latent_frame_rate == vae.latent_frame_rate == 8000 / 64 / 4
    assert vae.latent_bits_per_second is None


def test_latent_rate_arithmetic() -> None:
    default = VQVAE()
    assert default.latent_frame_rate == 31.25
    assert default.latent_bits_per_second == pytest.approx(31.25 * 1 * 9)  # 512 codes: 9 bits
    assert default.latent_values_per_second == pytest.approx(31.25 * 64)
    cfg = VQVAEConfig(sample_rate=16000, hop_length=80, n_downsample=3, codebook_size=1024, n_stages=4)
    assert cfg.latent_bits_per_second == pytest.approx(16000 / 80 / 8 * 4 * 10)
    image_like = VQVAEConfig(architecture="conv2d", hidden_channels=32, n_downsample=2)
    assert image_like.latent_vectors_per_frame == 33  # ceil(129 / 4) latent frequency bins
    assert image_like.latent_bits_per_second == pytest.approx(31.25 * 33 * 9)
    assert image_like.latent_values_per_second == pytest.approx(31.25 * 33 * 64)


# Learning ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", ["vqvae", "vae"])
def test_overfitting_one_batch_learns_the_time_variation(model_type: str) -> None:
    extra = {"quantizer_options": {"kmeans_init": True, "dead_after": 10}} if model_type == "vqvae" else {}
    model = make(model_type, hidden_channels=32, n_downsample=1, latent_dim=16, norm_mean=-60.0, **extra)
    spec = formant_spectrogram(batch=4, n_frames=32)
    x = model.normalize(spec)
    # What a model that ignores time would reach: each example's own mean spectrum.
    static = float((x - x.mean(dim=-1, keepdim=True)).pow(2).mean())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    recon = []
    for _ in range(80):
        loss, parts = ReconstructTask().loss(model, model(spec), spec)
        opt.zero_grad()
        loss.backward()
        opt.step()
        recon.append(float(parts["recon"].detach()))
    assert all(math.isfinite(r) for r in recon)
    assert recon[0] > static  # the untrained model is worse than the static spectrum
    assert sum(recon[-5:]) / 5 < 0.6 * static, recon


def test_compressed_magnitude_loss_weighs_loud_bins_above_the_floor() -> None:
    """recon_compressed_weight adds a term that is zero for a perfect estimate and, unlike MSE in dB, counts a
    6 dB error on the loudest bins far above the same error on the quietest ones (MSE in dB counts both alike)."""
    spec = formant_spectrogram(batch=2, n_frames=16)
    plain, weighted = make("vqvae"), make("vqvae", recon_compressed_weight=1.0)
    x = plain.normalize(spec)
    order = spec.flatten().argsort()
    n = 200
    loud, quiet = spec.flatten().clone(), spec.flatten().clone()
    loud[order[-n:]] += 6.0
    quiet[order[:n]] += 6.0
    x_loud, x_quiet = (plain.normalize(v.view_as(spec)) for v in (loud, quiet))

    def recon(model: VQVAE, estimate: torch.Tensor) -> float:
        cfg = model.config
        return float(
            spectral_reconstruction_loss(
                estimate, x, cfg.norm_mean, cfg.norm_std, compressed_weight=cfg.recon_compressed_weight
            )
        )

    assert recon(weighted, x) == pytest.approx(0.0, abs=1e-7)
    # weight 0: plain MSE, which cannot tell the two errors apart
    assert recon(plain, x_loud) == pytest.approx(float(torch.mean((x_loud - x) ** 2)))
    assert recon(plain, x_loud) == pytest.approx(recon(plain, x_quiet))
    extra_loud = recon(weighted, x_loud) - recon(plain, x_loud)
    extra_quiet = recon(weighted, x_quiet) - recon(plain, x_quiet)
    assert extra_loud > 20 * max(extra_quiet, 1e-12)  # about 60 dB apart: (10^3)^(2 x 0.3) = 63x
    with pytest.raises(ValueError, match="recon_compressed_weight must be >= 0"):
        VQVAEConfig(recon_compressed_weight=-1.0)
    with pytest.raises(ValueError, match="compression_power"):
        VQVAEConfig(compression_power=0.0)


# Configs -----------------------------------------------------------------------------------------------
def test_configs_round_trip_through_plain_dicts_and_yaml() -> None:
    cfg = VQVAEConfig(latent_dim=32, n_stages=2, quantizer_options={"decay": 0.99})
    again = VQVAEConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg
    assert VAEConfig.from_dict({"kl_weight": 0.5}).kl_weight == 0.5
    with pytest.raises(ValueError, match=r"unknown VAEConfig keys \['codebook_size'\]"):
        build_model("vae", {"codebook_size": 16})
    with pytest.raises(ValueError, match="architecture must be one of"):
        VQVAEConfig(architecture="transformer")
    with pytest.raises(ValueError, match="n_downsample must be >= 0"):
        VAEConfig(n_downsample=-1)
    with pytest.raises(ValueError, match="unknown model type 'gan'"):
        build_model("gan")
    with pytest.raises(ValueError, match="quantizer_options"):
        build_model("vqvae", {**TINY, "quantizer_options": {"no_such_option": 1}})
    assert isinstance(build_model("vae", VAEConfig(**TINY)), VAE)
    assert set(MODEL_TYPES) == {"vqvae", "vae", "envelope-vqvae", "vqunet", "dual-vae", "phase-net"}


def test_default_model_size_and_real_time_factor() -> None:
    model = VQVAE().eval()
    assert 1_000_000 <= count_parameters(model) <= 3_000_000
    spec = torch.full((1, 129, 1251), -60.0) + 20 * torch.rand(1, 129, 1251)  # 10 s at 125 frames/s
    with torch.inference_mode():
        model(spec)
        start = time.perf_counter()
        model(spec)
        elapsed = time.perf_counter() - start
    assert 10.0 / elapsed > 5.0, f"10 s of audio took {elapsed:.2f} s on one thread"


# Checkpoints -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model_type", "architecture"), [("vqvae", "conv1d"), ("vae", "conv1d"), ("vqvae", "conv2d")])
def test_save_and_load_give_identical_outputs(tmp_path, model_type: str, architecture: str) -> None:
    model = make(model_type, architecture, norm_mean=-55.5)
    spec = formant_spectrogram(batch=2, n_frames=19)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):  # move the weights (and any quantizer statistics) away from their init
        loss, _ = ReconstructTask().loss(model, model(spec), spec)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = save_model(model, tmp_path / "sub" / "m.safetensors", metadata={"recipe": "tiny", "epoch": 3})
    loaded = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config and loaded.config.norm_mean == -55.5
    assert loaded.state_dict().keys() == model.state_dict().keys()
    with torch.no_grad():
        a, b = model(spec), loaded(spec)
    assert torch.equal(a.reconstruction_db, b.reconstruction_db)
    if model_type == "vqvae":
        assert torch.equal(a.codes, b.codes)
    meta = read_metadata(path)
    assert meta["model_type"] == model_type and meta["format"] == "vqaudio"
    assert meta["recipe"] == "tiny" and json.loads(meta["epoch"]) == 3
    assert decode_metadata_value(meta["epoch"]) == 3 and decode_metadata_value(meta["recipe"]) == "tiny"
    assert json.loads(meta["config"]) == model.config.to_dict() and meta["vqaudio_version"]
    assert not list(tmp_path.joinpath("sub").glob("*.tmp"))  # the temporary file was renamed away


def test_tied_tensors_are_saved_as_separate_copies(tmp_path) -> None:
    model = make("vqvae")
    model.register_buffer("tied_copy", model.quantizer.codebook.data)  # shares storage with a parameter
    path = save_model(model, tmp_path / "tied.safetensors")
    meta = read_metadata(path)
    assert meta["model_type"] == "vqvae"
    from safetensors.torch import load_file

    state = load_file(path)
    assert torch.equal(state["tied_copy"], state["quantizer.codebook"])


def test_load_errors_say_what_is_wrong(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ValueError, match=r"not a readable \.safetensors"):
        load_model(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a vqaudio checkpoint"):
        load_model(foreign)
    unknown = tmp_path / "unknown.safetensors"
    header = {"format": "vqaudio", "model_type": "gan", "config": "{}"}
    save_file({"w": torch.zeros(2)}, str(unknown), metadata=header)
    known = r"known: \['dual-vae', 'envelope-vqvae', 'phase-net', 'vae', 'vqunet', 'vqvae'\]"
    with pytest.raises(ValueError, match=r"type 'gan'.*" + known):
        load_model(unknown)
    good = save_model(make("vae"), tmp_path / "good.safetensors")
    meta = read_metadata(good)
    mismatched = tmp_path / "mismatched.safetensors"
    config = {**json.loads(meta["config"]), "latent_dim": 12}
    save_file({"w": torch.zeros(2)}, str(mismatched), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(ValueError, match="weights do not match"):
        load_model(mismatched)
    with pytest.raises(ValueError, match="reserved"):
        save_model(make("vae"), tmp_path / "x.safetensors", metadata={"config": "{}"})
    with pytest.raises(ValueError, match="not a registered vqaudio model"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "y.safetensors")


@pytest.mark.parametrize(
    "fields",
    [
        {"n_res_blocks": 2, "n_downsample": 1},  # the shipped codec-8k's shape: 7 latent frames
        {"n_res_blocks": 2, "n_downsample": 1, "decoder_extra_blocks": 3},
        {"n_res_blocks": 4, "n_downsample": 2, "decoder_extra_blocks": 1},
        {"n_res_blocks": 2, "n_downsample": 1, "decoder_extra_blocks": 3, "decoder_pointwise_blocks": 2},
    ],
)
def test_decoder_receptive_frames_bounds_what_reaches_a_decoded_frame(fields: dict) -> None:
    from vqaudio.models.backbone import SpectrogramDecoder, decoder_receptive_frames

    cfg = VQVAEConfig(hidden_channels=16, latent_dim=4, **fields)
    decoder = SpectrogramDecoder(cfg, cfg.n_features)
    torch.manual_seed(0)
    for name, p in decoder.named_parameters():  # the residual blocks start at zero: give every weight a value
        if "weight" in name:
            torch.nn.init.normal_(p, std=0.2)
    z = torch.zeros(1, cfg.latent_dim, 64, requires_grad=True)
    out = decoder(z)
    centre = out.shape[-1] // 2
    out[..., centre].sum().backward()
    reached = (z.grad.abs().sum(1)[0] > 0).nonzero().flatten()
    latent_centre = centre // cfg.downsample_factor
    reach = max(latent_centre - int(reached.min()), int(reached.max()) - latent_centre)
    assert decoder_receptive_frames(cfg) in (reach, reach + 1)  # rounded up, never short


@pytest.mark.parametrize(
    "fields",
    [
        {"n_res_blocks": 2, "n_downsample": 1},  # the shipped codec-8k's shape
        {"n_res_blocks": 4, "n_downsample": 2},
        {"n_res_blocks": 0, "n_downsample": 3, "kernel_size": 5},
    ],
)
def test_encoder_receptive_frames_bounds_what_reaches_a_code(fields: dict) -> None:
    from vqaudio.models.backbone import SpectrogramEncoder, encoder_receptive_frames

    cfg = VQVAEConfig(hidden_channels=16, latent_dim=4, **fields)
    encoder = SpectrogramEncoder(cfg, cfg.n_features, cfg.latent_dim)
    torch.manual_seed(0)
    for name, p in encoder.named_parameters():  # the residual blocks start at zero: give every weight a value
        if "weight" in name:
            torch.nn.init.normal_(p, std=0.2)
    x = torch.zeros(1, cfg.n_features, 64 * cfg.downsample_factor, requires_grad=True)
    z = encoder(x)
    centre = z.shape[-1] // 2
    z[..., centre].sum().backward()
    reached = (x.grad.abs().sum(1)[0] > 0).nonzero().flatten()
    first, last = centre * cfg.downsample_factor, (centre + 1) * cfg.downsample_factor - 1  # the frame's own input
    reach = max(first - int(reached.min()), int(reached.max()) - last) / cfg.downsample_factor
    assert encoder_receptive_frames(cfg) in (math.ceil(reach), math.ceil(reach) + 1)  # rounded up, never short


def test_decoder_extra_blocks_start_as_the_identity_and_old_weights_load(tmp_path) -> None:
    torch.manual_seed(0)
    base = VQVAE(VQVAEConfig(**TINY))
    grown = VQVAE(VQVAEConfig(**TINY, decoder_extra_blocks=2))
    result = grown.load_state_dict(base.state_dict(), strict=False)
    assert not result.unexpected_keys and all(k.startswith("decoder.extra.") for k in result.missing_keys)
    spec = torch.randn(1, base.config.n_features, 32) * 20 - 40
    base.eval(), grown.eval()
    with torch.no_grad():
        torch.testing.assert_close(grown(spec).reconstruction_db, base(spec).reconstruction_db)
    with pytest.raises(ValueError, match="decoder_extra_blocks"):
        VQVAEConfig(**TINY, decoder_extra_blocks=-1)


def test_decoder_pointwise_blocks_start_as_the_identity_and_reach_no_further() -> None:
    from vqaudio.models.backbone import decoder_receptive_frames

    torch.manual_seed(0)
    base = VQVAE(VQVAEConfig(**TINY, decoder_extra_blocks=1))
    grown = VQVAE(VQVAEConfig(**TINY, decoder_extra_blocks=1, decoder_pointwise_blocks=2))
    result = grown.load_state_dict(base.state_dict(), strict=False)
    assert not result.unexpected_keys and result.missing_keys
    assert all(k.startswith("decoder.pointwise.") for k in result.missing_keys)
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in base.parameters())
    spec = torch.randn(1, base.config.n_features, 32) * 20 - 40
    base.eval(), grown.eval()
    with torch.no_grad():
        torch.testing.assert_close(grown(spec).reconstruction_db, base(spec).reconstruction_db)
    assert decoder_receptive_frames(grown.config) == decoder_receptive_frames(base.config)
    with pytest.raises(ValueError, match="decoder_pointwise_blocks"):
        VQVAEConfig(**TINY, decoder_pointwise_blocks=-1)
