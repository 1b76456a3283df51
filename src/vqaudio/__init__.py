"""vqaudio: discrete (VQ-VAE) and continuous (VAE) latent representations of audio."""

__version__ = "0.1.0"
