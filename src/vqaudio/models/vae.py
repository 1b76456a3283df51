"""Gaussian VAE on dB log-magnitude spectrograms: the continuous counterpart of the VQ-VAE, same backbone."""

from __future__ import annotations

import torch
from torch import Tensor

from vqaudio.models.autoencoder import AutoencoderOutput, SpectrogramAutoencoder
from vqaudio.models.config import VAEConfig

LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite early in training


class VAE(SpectrogramAutoencoder):
    """Conv encoder -> (mu, logvar) -> z -> conv decoder, on (..., F, N) dB spectrograms.

    z = mu + sigma * eps while training, z = mu in eval (deterministic). aux_losses["kl"] is
    KL(N(mu, sigma^2) || N(0, 1)) averaged over latent elements (nats per value); training weighs it by kl_weight.
    """

    config: VAEConfig

    def __init__(self, config: VAEConfig | None = None) -> None:
        config = config or VAEConfig()
        if not isinstance(config, VAEConfig):
            raise TypeError(f"VAE needs a VAEConfig, got {type(config).__name__}")
        super().__init__(config, encoder_channels=2 * config.latent_dim)

    def _posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(self._pad(x)).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, spec_db: Tensor) -> AutoencoderOutput:
        flat, _ = self._check_input(spec_db)
        x = self.normalize(flat)
        mu, logvar = self._posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        x_hat = self._decode_map(z, x.shape[-1])
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        return AutoencoderOutput(
            reconstruction_db=self.denormalize(x_hat).reshape(spec_db.shape),
            normalized=x_hat.reshape(spec_db.shape),
            aux_losses={"kl": kl},
        )

    def encode(self, spec_db: Tensor) -> Tensor:
        """dB spectrogram (..., F, N) -> posterior mean (..., latent_dim, [F',] N')."""
        flat, lead = self._check_input(spec_db)
        mu, _ = self._posterior(self.normalize(flat))
        return mu.reshape(*lead, *mu.shape[1:])

    def decode(self, latents: Tensor, n_frames: int | None = None) -> Tensor:
        """Latent map (..., latent_dim, [F',] N') -> dB spectrogram (..., F, n_frames or N' * stride)."""
        flat, lead = self._check_latent_map(latents, "latents")
        out = self.denormalize(self._decode_map(flat, n_frames))
        return out.reshape(*lead, *out.shape[1:])
