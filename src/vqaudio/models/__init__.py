"""vqaudio.models: VQ-VAE and VAE on dB spectrograms, the rate-K envelope VQ-VAE, the denoising VQ U-Net, the
separating dual-decoder VAE, their configs and checkpoint I/O."""

from vqaudio.models.autoencoder import AutoencoderOutput, SpectrogramAutoencoder
from vqaudio.models.config import ARCHITECTURES, SpectrogramAutoencoderConfig, VAEConfig, VQVAEConfig
from vqaudio.models.envelope import EnvelopeVQVAE, EnvelopeVQVAEConfig
from vqaudio.models.io import decode_metadata_value, load_model, read_metadata, save_model
from vqaudio.models.registry import CONFIG_TYPES, MODEL_TYPES, build_config, build_model, count_parameters
from vqaudio.models.separator import DualDecoderVAE, DualDecoderVAEConfig
from vqaudio.models.unet import VQUNet, VQUNetConfig
from vqaudio.models.vae import VAE
from vqaudio.models.vqvae import VQVAE

__all__ = [
    "ARCHITECTURES",
    "CONFIG_TYPES",
    "MODEL_TYPES",
    "VAE",
    "VQVAE",
    "AutoencoderOutput",
    "DualDecoderVAE",
    "DualDecoderVAEConfig",
    "EnvelopeVQVAE",
    "EnvelopeVQVAEConfig",
    "SpectrogramAutoencoder",
    "SpectrogramAutoencoderConfig",
    "VAEConfig",
    "VQUNet",
    "VQUNetConfig",
    "VQVAEConfig",
    "build_config",
    "build_model",
    "count_parameters",
    "decode_metadata_value",
    "load_model",
    "read_metadata",
    "save_model",
]
