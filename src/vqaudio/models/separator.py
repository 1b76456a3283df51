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

import torch
from torch import Tensor, nn

from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.models.unet_parts import SpectrogramUNet, UNetConfig, UNetDecoder, UNetEncoder
from vqaudio.nn import conv
from vqaudio.quantize.fsq import FSQ
from vqaudio.quantize.vq import VectorQuantizer

__all__ = ["LATENTS", "SEPARATOR_OUTPUTS", "DualDecoderVAE", "DualDecoderVAEConfig"]

LATENTS = ("gaussian", "vq", "fsq", "none")
SEPARATOR_OUTPUTS = ("mask", "mapping")
LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite early in training
_DB_PER_NEPER = 20.0 / math.log(10.0)


@dataclass
class DualDecoderVAEConfig(UNetConfig):
    """Config of DualDecoderVAE: the shared U-Net settings (UNetConfig) and sources, the names of the outputs in
    order (the Separator's keys); skips (U-Net skip connections into each decoder); latent "gaussian" (kl_weight x
    KL in the loss), "vq", "fsq" or "none"; output "mask" or "mapping". Loss terms are averaged over the sources.
    """

    n_fft: int = 1024
    hop_length: int = 256
    sources: list[str] = field(default_factory=lambda: ["vocals", "accompaniment"])
    skips: bool = True
    latent: str = "gaussian"
    kl_weight: float = 1e-3

    def _choices(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("latent", LATENTS), ("output", SEPARATOR_OUTPUTS))

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.sources) < 2 or len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources must name at least two distinct outputs, got {self.sources}")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")

    @property
    def n_sources(self) -> int:
        return len(self.sources)


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
        self.encoder = UNetEncoder(dims, in_out, widths, *blocks, k, norm, act, cfg.se, cfg.se_window_frames)
        per_latent = 2 * cfg.latent_dim if cfg.latent == "gaussian" else cfg.latent_dim
        self.to_latents = nn.ModuleList(conv(dims, widths[-1], per_latent, 1, norm=norm) for _ in cfg.sources)
        self.quantizers = nn.ModuleList(self._build_quantizer() for _ in cfg.sources) if self._discrete else None
        self.decoders = nn.ModuleList(UNetDecoder.for_config(cfg, cfg.skips) for _ in cfg.sources)

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
