"""What VQVAE and VAE share: input scaling, padding to the stride, the conv backbone and sizes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqaudio.models.backbone import SpectrogramDecoder, SpectrogramEncoder
from vqaudio.models.config import SpectrogramAutoencoderConfig


@dataclass
class AutoencoderOutput:
    """One forward pass: outputs only; the training task turns them into a loss.

    reconstruction_db: the decoded features (dB, the input's shape), floored at config.floor_db.
    normalized: the decoder's raw output in the model's normalised domain, before the floor (what losses compare
    with the normalised target, so gradients also flow where the output falls below the floor).
    aux_losses: terms the bottleneck itself defines: "vq" (codebook + beta * commitment) or "kl" (nats/value).
    codes: VQ code indices (None for a VAE); perplexity: codebook perplexity of this batch (VQ models).
    gain_db: for mask models that split their input into parts (the separator), the masks in dB on the input
    magnitude, reconstruction_db's shape: a pipeline applies them to the input's own STFT, unfloored.
    """

    reconstruction_db: Tensor
    normalized: Tensor
    aux_losses: dict[str, Tensor]
    codes: Tensor | None = None
    perplexity: Tensor | None = None
    gain_db: Tensor | None = None


class SpectrogramAutoencoder(nn.Module):
    """Base of the dB-spectrogram autoencoders: (..., F, N) dB in, (..., F, N) dB out, any N >= 1.

    Inside, x = (max(db, floor_db) - norm_mean) / norm_std is padded with the floor (silence) up to a
    multiple of the total stride (time, and frequency for conv2d), encoded, decoded and cropped back.
    Latents are channels-first maps (B, latent_dim, N') for conv1d and (B, latent_dim, F', N') for
    conv2d; quantizers see them channels-last.
    """

    config: SpectrogramAutoencoderConfig

    def __init__(self, config: SpectrogramAutoencoderConfig, encoder_channels: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = SpectrogramEncoder(config, config.n_features, encoder_channels)
        self.decoder = SpectrogramDecoder(config, config.n_features)

    # Sizes -----------------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def latent_frame_rate(self) -> float:
        """Latent time steps per second (sample_rate / hop_length / 2**n_downsample)."""
        return self.config.latent_frame_rate

    @property
    def latent_vectors_per_second(self) -> float:
        """Latent vectors per second: the frame rate for conv1d, times the latent bins F' for conv2d."""
        return self.config.latent_vectors_per_second

    @property
    def latent_values_per_second(self) -> float:
        """Floats per second in the continuous latent (vectors/s x latent_dim), equal for VQ-VAE and VAE."""
        return self.config.latent_values_per_second

    @property
    def latent_bits_per_second(self) -> float | None:
        """Bits per second of the discrete codes; None for continuous latents."""
        return None

    @property
    def spatial_rank(self) -> int:
        """Latent axes after the channel axis: 1 (time) for conv1d, 2 (frequency, time) for conv2d."""
        return 1 if self.config.architecture == "conv1d" else 2

    def latent_shape(self, n_frames: int) -> tuple[int, ...]:
        """Shape of one example's continuous latent map for an n_frames input: (latent_dim, [F',] N')."""
        cfg = self.config
        n_latent = -(-n_frames // cfg.downsample_factor)
        if self.spatial_rank == 1:
            return (cfg.latent_dim, n_latent)
        return (cfg.latent_dim, cfg.latent_vectors_per_frame, n_latent)

    # Scaling and padding -----------------------------------------------------------------------------
    def normalize(self, spec_db: Tensor) -> Tensor:
        cfg = self.config
        return (spec_db.clamp_min(cfg.floor_db) - cfg.norm_mean) / cfg.norm_std

    def denormalize(self, x: Tensor) -> Tensor:
        cfg = self.config
        return (x * cfg.norm_std + cfg.norm_mean).clamp_min(cfg.floor_db)

    def _check_input(self, spec_db: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        """(..., F, N) -> ((B, F, N), leading shape), with errors that say what was expected."""
        F_expected = self.config.n_freqs
        if not isinstance(spec_db, Tensor) or spec_db.dim() < 2:
            shape = tuple(spec_db.shape) if isinstance(spec_db, Tensor) else type(spec_db).__name__
            raise ValueError(f"expected a dB spectrogram tensor (..., {F_expected}, frames), got {shape}")
        if spec_db.shape[-2] != F_expected:
            raise ValueError(
                f"spectrogram has {spec_db.shape[-2]} frequency bins but this model expects {F_expected} "
                f"(n_fft={self.config.n_fft}); compute it with the model's front-end (config.front_end.features)"
            )
        if spec_db.shape[-1] < 1:
            raise ValueError("spectrogram has 0 frames; need at least 1")
        if not spec_db.is_floating_point():
            spec_db = spec_db.float()
        lead = tuple(spec_db.shape[:-2])
        return spec_db.reshape(-1, *spec_db.shape[-2:]), lead

    def _pad(self, x: Tensor) -> Tensor:
        """(B, F, N) normalised -> encoder input, floor-padded to the stride (conv2d: (B, 1, F, N))."""
        s = self.config.downsample_factor
        floor = (self.config.floor_db - self.config.norm_mean) / self.config.norm_std
        pad_time = -x.shape[-1] % s
        if self.spatial_rank == 1:
            return F.pad(x, (0, pad_time), value=floor)
        pad_freq = -x.shape[-2] % s
        return F.pad(x, (0, pad_time, 0, pad_freq), value=floor).unsqueeze(1)

    def _decode_map(self, z: Tensor, n_frames: int | None) -> Tensor:
        """Latent map (B, D, [F',] N') -> normalised (B, F, n_frames)."""
        out = self.decoder(z)
        if self.spatial_rank == 2:
            out = out[:, 0, : self.config.n_freqs]
        return out if n_frames is None else out[..., :n_frames]

    def _check_latent_map(self, z: Tensor, what: str) -> tuple[Tensor, tuple[int, ...]]:
        """(..., D, [F',] N') -> ((B, D, [F',] N'), leading shape)."""
        rank = 1 + self.spatial_rank
        if z.dim() < rank or z.shape[-rank] != self.config.latent_dim:
            raise ValueError(
                f"{what} must have shape (..., latent_dim={self.config.latent_dim}"
                f"{', F_latent' if self.spatial_rank == 2 else ''}, frames), got {tuple(z.shape)}"
            )
        lead = tuple(z.shape[:-rank])
        return z.reshape(-1, *z.shape[-rank:]), lead

    # Convenience -------------------------------------------------------------------------------------
    def reconstruct(self, spec_db: Tensor) -> Tensor:
        """dB in, dB out, in eval mode without gradients (the module's mode is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(spec_db).reconstruction_db
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"architecture={cfg.architecture}, sample_rate={cfg.sample_rate}, n_fft={cfg.n_fft}, "
            f"hop_length={cfg.hop_length}, latent_dim={cfg.latent_dim}, stride={cfg.downsample_factor}"
        )
