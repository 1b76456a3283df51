"""VQ-VAE on dB log-magnitude spectrograms (van den Oord et al. 2017), single-stage or residual VQ."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from vqaudio.models.autoencoder import AutoencoderOutput, SpectrogramAutoencoder
from vqaudio.models.config import VQVAEConfig
from vqaudio.quantize.vq import VectorQuantizer


def build_quantizer(cfg: VQVAEConfig) -> nn.Module:
    """VectorQuantizer for n_stages == 1, ResidualVQ otherwise, with quantizer_options passed through."""
    options: dict[str, Any] = dict(cfg.quantizer_options)
    try:
        if cfg.n_stages == 1:
            return VectorQuantizer(cfg.codebook_size, cfg.latent_dim, beta=cfg.beta, **options)
        from vqaudio.quantize.residual import ResidualVQ

        return ResidualVQ(cfg.n_stages, cfg.codebook_size, cfg.latent_dim, beta=cfg.beta, **options)
    except TypeError as err:
        raise ValueError(f"quantizer_options {options} were not accepted by the quantizer: {err}") from err


class VQVAE(SpectrogramAutoencoder):
    """Conv encoder -> vector quantizer (codes) -> conv decoder, on (..., F, N) dB spectrograms.

    Its output's aux_losses["vq"] is the quantizer's codebook + beta * commitment loss.
    Codes: (..., N') for conv1d, (..., F', N') for conv2d, with a trailing n_stages axis when n_stages > 1.
    """

    config: VQVAEConfig

    def __init__(self, config: VQVAEConfig | None = None) -> None:
        config = config or VQVAEConfig()
        if not isinstance(config, VQVAEConfig):
            raise TypeError(f"VQVAE needs a VQVAEConfig, got {type(config).__name__}")
        super().__init__(config, encoder_channels=config.latent_dim)
        self.quantizer = build_quantizer(config)

    @property
    def latent_bits_per_second(self) -> float:
        """vectors/s x n_stages x log2(codebook_size)."""
        return self.config.latent_bits_per_second

    def _codes_rank(self) -> int:
        return self.spatial_rank + (1 if self.config.n_stages > 1 else 0)

    def forward(self, spec_db: Tensor) -> AutoencoderOutput:
        flat, lead = self._check_input(spec_db)
        x = self.normalize(flat)
        z = self.encoder(self._pad(x))
        q = self.quantizer(z.movedim(1, -1).contiguous())
        x_hat = self._decode_map(q.quantized.movedim(-1, 1), x.shape[-1])
        codes = q.codes.reshape(*lead, *q.codes.shape[1:])
        return AutoencoderOutput(
            reconstruction_db=self.denormalize(x_hat).reshape(spec_db.shape),
            normalized=x_hat.reshape(spec_db.shape),
            aux_losses={"vq": q.loss},
            codes=codes,
            perplexity=q.perplexity,
        )

    def encode_continuous(self, spec_db: Tensor) -> Tensor:
        """The encoder's output before quantisation, (..., latent_dim, [F',] N') (for plots and k-means)."""
        flat, lead = self._check_input(spec_db)
        z = self.encoder(self._pad(self.normalize(flat)))
        return z.reshape(*lead, *z.shape[1:])

    def encode(self, spec_db: Tensor, n_stages: int | None = None) -> Tensor:
        """dB spectrogram (..., F, N) -> integer codes (..., [F',] N'[, n_stages]).

        With residual VQ, n_stages < config.n_stages keeps only the first stages (a lower bitrate).
        """
        flat, lead = self._check_input(spec_db)
        z = self.encoder(self._pad(self.normalize(flat))).movedim(1, -1).contiguous()
        if n_stages is not None and self.config.n_stages > 1:
            codes = self.quantizer.encode(z, n_stages=n_stages)
        elif n_stages not in (None, 1, self.config.n_stages):
            raise ValueError(f"n_stages={n_stages} but this VQ-VAE has a single quantizer stage")
        else:
            codes = self.quantizer.encode(z)
        return codes.reshape(*lead, *codes.shape[1:])

    def decode(self, codes: Tensor, n_frames: int | None = None) -> Tensor:
        """Codes (..., [F',] N'[, stages]) -> dB spectrogram (..., F, n_frames or N' * stride).

        With residual VQ, any prefix of the stages decodes (codes[..., :k]), and code -1 marks a stage
        that adds nothing.
        """
        rank = self._codes_rank()
        rvq = self.config.n_stages > 1
        if codes.dim() < rank or codes.is_floating_point() or codes.is_complex():
            axes = f"(..., {'F_latent, ' if self.spatial_rank == 2 else ''}frames{', stages' if rvq else ''})"
            raise ValueError(f"codes must be an integer tensor {axes}, got {codes.dtype} {tuple(codes.shape)}")
        if rvq and not 1 <= codes.shape[-1] <= self.config.n_stages:
            raise ValueError(f"codes have {codes.shape[-1]} stages; this model has 1..{self.config.n_stages}")
        low, high = (-1 if rvq else 0), self.config.codebook_size
        if codes.numel() and (int(codes.min()) < low or int(codes.max()) >= high):
            raise ValueError(f"codes must lie in [{low}, {high}), got {int(codes.min())}..{int(codes.max())}")
        lead = tuple(codes.shape[: codes.dim() - rank])
        flat = codes.reshape(-1, *codes.shape[codes.dim() - rank :])
        z = self.quantizer.decode(flat).movedim(-1, 1)
        return self.decode_latents(z.reshape(*lead, *z.shape[1:]), n_frames)

    def decode_latents(self, z: Tensor, n_frames: int | None = None) -> Tensor:
        """Continuous latent map (..., latent_dim, [F',] N') -> dB spectrogram, skipping the quantizer."""
        flat, lead = self._check_latent_map(z, "latents")
        out = self.denormalize(self._decode_map(flat, n_frames))
        return out.reshape(*lead, *out.shape[1:])
