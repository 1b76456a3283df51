"""VQ U-Net for denoising: a U-Net on dB STFT magnitudes, squeeze-and-excitation at every stage, a vector quantizer
(or FSQ) at the bottleneck, skip connections around it (the design of ../shared/reference/vqvae-unet-se-denoising.txt).

Input: the noisy mixture's dB magnitude (..., F, N) from `config.front_end`. Output, `output`:
- "mapping" (the reference): the clean dB magnitude, predicted directly;
- "mask": a bounded gain in dB on the noisy magnitude, mask_min_db * (1 - sigmoid(logit)), so the model can only
  attenuate (never add what is not in the mixture) by at most -mask_min_db dB. With the mixture's phase this is the
  usual spectral-masking enhancer, and it keeps speech the model is unsure of instead of inventing it.

architecture "conv1d" treats the F bins as channels and convolves over time (fast: tens of times real time on one
CPU thread at 16 kHz); "conv2d" treats the spectrogram as an image and halves frequency and time at each stage
(the reference). Losses live in the training task (train/tasks.py: DenoiseTask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.models.unet_parts import SpectrogramUNet, UNetConfig, UNetDecoder, UNetEncoder
from vqaudio.nn import conv
from vqaudio.quantize.fsq import FSQ
from vqaudio.quantize.vq import VectorQuantizer

__all__ = ["BOTTLENECKS", "OUTPUTS", "VQUNet", "VQUNetConfig"]

BOTTLENECKS = ("vq", "fsq", "none")
MASK_INIT_LOGIT = 4.0  # sigmoid 0.982: a mask of mask_min_db * 0.018 (-0.7 dB at -40) before training
OUTPUTS = ("mask", "mapping")


@dataclass
class VQUNetConfig(UNetConfig):
    """Config of VQUNet: the shared U-Net settings (UNetConfig) and a bottleneck, "vq", "fsq" or "none"; output
    "mask" (at most -mask_min_db dB of attenuation) or "mapping". In the loss, dB weighs noise-only bins as much as
    speech and drives a mask to suppress everything; compressed magnitude weighs what is heard, and the SI-SDR term
    scores the waveform (the estimate with the noisy phase) as the benchmark does.
    """

    bottleneck: str = "vq"
    mask_min_db: float = -40.0
    recon_compressed_weight: float = 1.0

    def _choices(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (("bottleneck", BOTTLENECKS), ("output", OUTPUTS))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.mask_min_db < 0:
            raise ValueError(f"mask_min_db must be < 0 (a mask only attenuates), got {self.mask_min_db}")

    @property
    def latent_bits_per_second(self) -> float | None:
        """Bits per second of the bottleneck codes (conv1d: one vector per latent frame), None without one."""
        if self.bottleneck == "none" or self.architecture != "conv1d":
            return None
        size = self.codebook_size if self.bottleneck == "vq" else math.prod(self.fsq_levels)
        return self.latent_frame_rate * math.log2(size)


class VQUNet(SpectrogramUNet):
    """Noisy dB magnitude (..., F, N) -> denoised dB magnitude (..., F, N), any N >= 1 (see the module doc)."""

    def __init__(self, config: VQUNetConfig | None = None) -> None:
        super().__init__()
        config = config or VQUNetConfig()
        if not isinstance(config, VQUNetConfig):
            raise TypeError(f"VQUNet needs a VQUNetConfig, got {type(config).__name__}")
        self.config = config
        cfg = config
        dims, k, norm, act = self._dims, cfg.kernel_size, cfg.norm, cfg.activation
        widths = [int(c) for c in cfg.channels]
        in_out = cfg.n_freqs if dims == 1 else 1
        self.encoder = UNetEncoder(
            dims, in_out, widths, cfg.n_res_blocks, cfg.n_bottleneck_blocks, k, norm, act, cfg.se, cfg.se_window_frames
        )
        self.to_latent = conv(dims, widths[-1], cfg.latent_dim, 1, norm=norm)
        self.quantizer = self._build_quantizer()
        self.decoder = UNetDecoder.for_config(cfg)
        if cfg.output == "mask":  # start near the identity (about -0.7 dB), not at half the mask range
            with torch.no_grad():
                self.decoder.output[-1].bias.fill_(MASK_INIT_LOGIT)
        self.register_load_state_dict_pre_hook(_rename_flat_keys)

    def _build_quantizer(self) -> nn.Module | None:
        cfg = self.config
        if cfg.bottleneck == "none":
            return None
        if cfg.bottleneck == "fsq":
            return FSQ(cfg.fsq_levels, cfg.latent_dim)
        try:
            return VectorQuantizer(cfg.codebook_size, cfg.latent_dim, beta=cfg.beta, **dict(cfg.quantizer_options))
        except TypeError as err:
            raise ValueError(f"quantizer_options {cfg.quantizer_options} were not accepted: {err}") from err

    @property
    def latent_bits_per_second(self) -> float | None:
        return self.config.latent_bits_per_second

    # forward -------------------------------------------------------------------------------------------------
    def forward(self, noisy_db: Tensor) -> AutoencoderOutput:
        noisy_db = self._check_input(noisy_db)
        cfg = self.config
        flat = noisy_db.reshape(-1, *noisy_db.shape[-2:])
        h, skips = self.encoder(self._padded_input(flat))
        z = self.to_latent(h)
        aux: dict[str, Tensor] = {}
        codes = perplexity = None
        if self.quantizer is not None:
            q = self.quantizer(z.movedim(1, -1).contiguous())
            z = q.quantized.movedim(-1, 1)
            aux["vq"] = q.loss
            codes, perplexity = q.codes, q.perplexity
        out = self._cropped(self.decoder(z, skips), flat.shape[-1])
        if cfg.output == "mask":
            gain_db = cfg.mask_min_db * (1.0 - torch.sigmoid(out))
            estimate_db = flat.clamp_min(cfg.floor_db) + gain_db
            normalized = (estimate_db - cfg.norm_mean) / cfg.norm_std
            reconstruction = estimate_db.clamp_min(cfg.floor_db)
        else:
            normalized, reconstruction = out, self.denormalize(out)
        return AutoencoderOutput(
            reconstruction_db=reconstruction.reshape(noisy_db.shape),
            normalized=normalized.reshape(noisy_db.shape),
            aux_losses=aux,
            codes=codes,
            perplexity=perplexity,
        )

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"architecture={cfg.architecture}, channels={cfg.channels}, bottleneck={cfg.bottleneck}, "
            f"output={cfg.output}, sample_rate={cfg.sample_rate}, n_fft={cfg.n_fft}, hop={cfg.hop_length}"
        )


_ENCODER_PARTS = ("input.", "down_blocks.", "downs.", "middle.")
_DECODER_PARTS = ("from_latent.", "ups.", "merges.", "up_blocks.", "output.")


def _rename_flat_keys(module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: object) -> None:
    """Weights saved before the U-Net halves became submodules (the first shipped denoise-16k) load unchanged."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        for parts, owner in ((_ENCODER_PARTS, "encoder."), (_DECODER_PARTS, "decoder.")):
            if name.startswith(parts):
                state_dict[prefix + owner + name] = state_dict.pop(key)
