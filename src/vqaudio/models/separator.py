"""DualDecoderVAE: one encoder, a latent per source, a decoder per source (../shared/reference/vae-singing-voice-
separation.txt), for separating a song into vocals and accompaniment on dB STFT magnitudes.

Input: the mixture's dB magnitude (..., F, N) from `config.front_end`. The encoder yields, per source, a latent:
"gaussian" (mean and log-variance, sampled while training, the mean in eval: the reference's VAE), "vq" / "fsq"
(discrete codes), or "none". Each source's decoder turns its latent (and, with `skips`, the encoder's maps of
every resolution, a U-Net) into, by `output`:
- "mapping" (the reference): the source's dB magnitude, predicted directly;
- "mask": a logit per bin; a softmax over the sources makes ratio masks that sum to one (a Wiener-style split of
  the mixture's magnitude), so with the mixture's phase the sources add back up to the mixture. `gain_db` holds
  the masks in dB, which the Separator applies to the mixture's own STFT.

Outputs are stacked on a sources axis before (F, N): (..., S, F, N). Losses live in the training task
(train/tasks.py: SeparateTask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from vqaudio.audio import LogMagnitudeFrontEnd
from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.models.config import FramedConfig
from vqaudio.models.unet_parts import SpectrogramUNet, UNetDecoder, UNetEncoder, check_unet_config
from vqaudio.nn import conv
from vqaudio.quantize.fsq import FSQ
from vqaudio.quantize.vq import VectorQuantizer

__all__ = ["LATENTS", "SEPARATOR_OUTPUTS", "DualDecoderVAE", "DualDecoderVAEConfig"]

LATENTS = ("gaussian", "vq", "fsq", "none")
SEPARATOR_OUTPUTS = ("mask", "mapping")
LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite early in training
_DB_PER_NEPER = 20.0 / math.log(10.0)


@dataclass
class DualDecoderVAEConfig(FramedConfig):
    """Config of DualDecoderVAE (plain types, YAML-friendly, stored in checkpoints).

    sources: the names of the outputs, in order (the Separator's keys). channels: width at each resolution, full
    resolution first; len(channels) - 1 stride-2 stages (time, and frequency too for conv2d). latent: "gaussian"
    (kl_weight x KL in the loss), "vq" (codebook_size, beta, quantizer_options), "fsq" (fsq_levels) or "none".
    Loss settings read by the separate task: recon_db_weight x MSE on normalised dB + recon_compressed_weight x
    the relative error of |X|^compression_power + recon_sisdr_weight x -SI-SDR/10 of each source's waveform (its
    estimated magnitude with the mixture's phase), averaged over sources.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    floor_db: float = -80.0
    norm_mean: float = -45.0
    norm_std: float = 25.0
    sources: list[str] = field(default_factory=lambda: ["vocals", "accompaniment"])
    architecture: str = "conv1d"
    channels: list[int] = field(default_factory=lambda: [192, 192, 256])
    n_res_blocks: int = 1
    n_bottleneck_blocks: int = 2
    kernel_size: int = 3
    norm: str = "weight"
    activation: str = "gelu"
    upsample: str = "transposed"
    se: bool = True
    skips: bool = True
    latent: str = "gaussian"
    latent_dim: int = 32
    kl_weight: float = 1e-3
    codebook_size: int = 512
    beta: float = 0.25
    fsq_levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])
    quantizer_options: dict[str, Any] = field(default_factory=dict)
    output: str = "mask"
    recon_db_weight: float = 1.0
    recon_l1_weight: float = 0.0
    recon_compressed_weight: float = 0.0
    compression_power: float = 0.3
    recon_sisdr_weight: float = 0.0
    input_level_db: float | None = None

    def __post_init__(self) -> None:
        check_unet_config(self, (("latent", LATENTS), ("output", SEPARATOR_OUTPUTS)))
        if len(self.sources) < 2 or len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources must name at least two distinct outputs, got {self.sources}")
        weights = ("kl_weight", "recon_db_weight", "recon_l1_weight", "recon_compressed_weight", "recon_sisdr_weight")
        for name in weights:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.compression_power <= 1:
            raise ValueError(f"compression_power must lie in (0, 1], got {self.compression_power}")

    @property
    def n_downsample(self) -> int:  # type: ignore[override]
        return len(self.channels) - 1

    @property
    def n_sources(self) -> int:
        return len(self.sources)

    @property
    def front_end(self) -> LogMagnitudeFrontEnd:
        return LogMagnitudeFrontEnd(self.stft, self.floor_db)


class DualDecoderVAE(SpectrogramUNet):
    """Mixture dB magnitude (..., F, N) -> per-source dB magnitudes (..., S, F, N), any N >= 1 (module doc)."""

    def __init__(self, config: DualDecoderVAEConfig | None = None) -> None:
        super().__init__()
        config = config or DualDecoderVAEConfig()
        if not isinstance(config, DualDecoderVAEConfig):
            raise TypeError(f"DualDecoderVAE needs a DualDecoderVAEConfig, got {type(config).__name__}")
        self.config = cfg = config
        dims, k, norm, act = self._dims, cfg.kernel_size, cfg.norm, cfg.activation
        widths = [int(c) for c in cfg.channels]
        in_out = cfg.n_freqs if dims == 1 else 1
        blocks = cfg.n_res_blocks, cfg.n_bottleneck_blocks
        self.encoder = UNetEncoder(dims, in_out, widths, *blocks, k, norm, act, cfg.se)
        per_latent = 2 * cfg.latent_dim if cfg.latent == "gaussian" else cfg.latent_dim
        self.to_latents = nn.ModuleList(conv(dims, widths[-1], per_latent, 1, norm=norm) for _ in cfg.sources)
        self.quantizers = nn.ModuleList(self._build_quantizer() for _ in cfg.sources) if self._discrete else None
        self.decoders = nn.ModuleList(
            UNetDecoder(
                dims, cfg.latent_dim, widths, in_out, cfg.n_res_blocks, k, norm, act, cfg.se, cfg.upsample, cfg.skips
            )
            for _ in cfg.sources
        )

    @property
    def _discrete(self) -> bool:
        return self.config.latent in ("vq", "fsq")

    def _build_quantizer(self) -> nn.Module:
        cfg = self.config
        if cfg.latent == "fsq":
            return FSQ(cfg.fsq_levels, cfg.latent_dim)
        try:
            return VectorQuantizer(cfg.codebook_size, cfg.latent_dim, beta=cfg.beta, **dict(cfg.quantizer_options))
        except TypeError as err:
            raise ValueError(f"quantizer_options {cfg.quantizer_options} were not accepted: {err}") from err

    # forward -------------------------------------------------------------------------------------------------
    def _latent(self, i: int, h: Tensor, aux: dict[str, list[Tensor]]) -> tuple[Tensor, Tensor | None]:
        """Source i's latent from the bottleneck map h, and its codes (discrete latents); losses go to aux."""
        cfg = self.config
        z = self.to_latents[i](h)
        if cfg.latent == "gaussian":
            mu, logvar = z.chunk(2, dim=1)
            logvar = logvar.clamp(*LOGVAR_RANGE)
            aux["kl"].append(0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean())
            return (mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu), None
        if self.quantizers is not None:
            q = self.quantizers[i](z.movedim(1, -1).contiguous())
            aux["vq"].append(q.loss)
            return q.quantized.movedim(-1, 1), q.codes
        return z, None

    def forward(self, mixture_db: Tensor) -> AutoencoderOutput:
        mixture_db = self._check_input(mixture_db, "a mixture dB magnitude")
        cfg = self.config
        flat = mixture_db.reshape(-1, *mixture_db.shape[-2:])
        h, skips = self.encoder(self._padded_input(flat))
        aux: dict[str, list[Tensor]] = {"kl": [], "vq": []}
        outs, codes = [], []
        for i, decoder in enumerate(self.decoders):
            z, c = self._latent(i, h, aux)
            outs.append(self._cropped(decoder(z, skips if cfg.skips else None), flat.shape[-1]))
            if c is not None:
                codes.append(c)
        stacked = torch.stack(outs, dim=1)  # (B, S, F, N)
        gain_db = None
        if cfg.output == "mask":
            gain_db = _DB_PER_NEPER * torch.log_softmax(stacked, dim=1)  # 20 log10 of masks summing to one
            estimate_db = flat.clamp_min(cfg.floor_db).unsqueeze(1) + gain_db
            normalized = (estimate_db - cfg.norm_mean) / cfg.norm_std
            reconstruction = estimate_db.clamp_min(cfg.floor_db)
        else:
            normalized, reconstruction = stacked, self.denormalize(stacked)
        shape = (*mixture_db.shape[:-2], cfg.n_sources, *mixture_db.shape[-2:])
        return AutoencoderOutput(
            reconstruction_db=reconstruction.reshape(shape),
            normalized=normalized.reshape(shape),
            aux_losses={name: torch.stack(terms).mean() for name, terms in aux.items() if terms},
            codes=torch.stack(codes, dim=1) if codes else None,
            gain_db=None if gain_db is None else gain_db.reshape(shape),
        )

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"sources={cfg.sources}, architecture={cfg.architecture}, channels={cfg.channels}, latent={cfg.latent}, "
            f"skips={cfg.skips}, output={cfg.output}, sample_rate={cfg.sample_rate}, n_fft={cfg.n_fft}, "
            f"hop={cfg.hop_length}"
        )
