"""Spectral-envelope VQ-VAE: Codec 2-style rate-K band energies (dB), decimated in time, two-stage VQ.

The envelope path of the Codec 2 amplitude experiments (../shared/reference/codec2-amplitude-vq-experiments.txt):
K = 20 mel-spaced band energies per 10 ms frame (newamp1's 200-3700 Hz), the shared conv1d backbone decimating
in time by 2**n_downsample (10, 20 or 40 ms latent frames), a residual VQ of n_stages stages, and the mirror
decoder back to 10 ms frames. The rate-K envelope is the model's front-end (`config.front_end`, an
`audio.RateKFrontEnd`): the model takes and returns (..., K, N) rate-K dB. Training (train/tasks.py) scores it by
the MSE in dB of the rate-K vectors (proportional to the spectral distortion in dB² that the Codec 2 experiments
report) plus the VQ loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqaudio.audio import RateKFrontEnd
from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.models.backbone import SpectrogramDecoder, SpectrogramEncoder
from vqaudio.models.config import FramedConfig, check_input_level
from vqaudio.nn.conv import ACTIVATIONS, NORMS, check_choice
from vqaudio.nn.resample import UPSAMPLE_MODES
from vqaudio.quantize.residual import ResidualVQ

__all__ = ["EnvelopeVQVAE", "EnvelopeVQVAEConfig"]


@dataclass
class EnvelopeVQVAEConfig(FramedConfig):
    """Config of EnvelopeVQVAE (plain types, YAML-friendly, stored in checkpoints).

    Front-end: STFT (sample_rate, n_fft, hop_length; hop 80 = 10 ms frames at 8 kHz, as Codec 2) of the
    waveform, dB floored at floor_db, then `rate_k` with k bands between f_min and f_max (dB, power mean per
    band; peak_hz > 0: through the harmonic peaks, see rate_k). The model sees x = (rate-K dB - norm_mean) /
    norm_std; `vqaudio train` fills norm_mean/norm_std with the training data's log-magnitude statistics (as for
    every model; only a scaling, so close enough).

    Time decimation: n_downsample stride-2 stages, so one latent vector (and one set of codes) per
    2**n_downsample input frames (0, 1, 2 -> 10, 20, 40 ms latent frames at hop 80).

    Energy: the per-frame mean (frame energy) is NOT removed and NOT coded separately: the codes carry level
    and shape together, and bits_per_frame (n_stages x log2(codebook_size)) counts every bit the decoder
    needs. (Codec 2 700C instead sends the mean with its own 4 bits beside an 18-bit mean-removed VQ.)

    Loss: MSE in dB of the rate-K vectors (divided by norm_std², plus the VQ loss). Frames more than
    speech_range_db below the loudest frame of their example (pauses, padding) weigh quiet_weight, the others 1,
    so the capacity goes where speech is scored (the benchmark scores frames within 30 dB of the loudest).

    quantizer_options pass through to ResidualVQ (ema, kmeans_init, restart, quantizer_dropout, ...).
    input_level_db: the active speech level (dBFS) inputs are scaled to, in training and when scored (None: as
    recorded); the gain is side information, one number per recording.
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 80
    floor_db: float = -80.0
    k: int = 20
    f_min: float = 200.0
    f_max: float = 3700.0
    peak_hz: float = 0.0
    norm_mean: float = -30.0  # rate-K dB of 8 kHz speech (FSDD + Asterisk train) at floor -80: -31 +- 26 dB
    norm_std: float = 26.0
    n_downsample: int = 2
    hidden_channels: int = 128
    n_res_blocks: int = 4
    decoder_extra_blocks: int = 0  # more residual blocks in the decoder only (models/backbone.py)
    decoder_pointwise_blocks: int = 0  # kernel-1 ones after them (models/backbone.py)
    latent_dim: int = 16
    kernel_size: int = 3
    norm: str = "weight"
    activation: str = "gelu"
    upsample: str = "transposed"
    codebook_size: int = 512
    n_stages: int = 2
    beta: float = 0.25
    speech_range_db: float = 30.0
    quiet_weight: float = 1.0
    quantizer_options: dict[str, Any] = field(default_factory=dict)
    input_level_db: float | None = None

    def __post_init__(self) -> None:
        check_input_level(self.input_level_db)
        if not 0.0 <= self.peak_hz < self.sample_rate / 4:
            raise ValueError(f"peak_hz must lie in [0, {self.sample_rate / 4}) Hz, got {self.peak_hz}")
        check_choice("norm", self.norm, NORMS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("upsample", self.upsample, UPSAMPLE_MODES)
        for name in ("sample_rate", "n_fft", "hop_length", "hidden_channels", "latent_dim", "kernel_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"EnvelopeVQVAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_downsample", "n_res_blocks", "decoder_extra_blocks", "decoder_pointwise_blocks"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"EnvelopeVQVAEConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (symmetric 'same' padding), got {self.kernel_size}")
        if self.k < 2 or not 0.0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"rate-K bands need k >= 2 and 0 <= f_min < f_max <= {self.sample_rate / 2} Hz; "
                f"got k={self.k}, f_min={self.f_min}, f_max={self.f_max}"
            )
        if not self.speech_range_db > 0 or not 0.0 <= self.quiet_weight <= 1.0:
            raise ValueError(
                f"need speech_range_db > 0 and quiet_weight in [0, 1]; got {self.speech_range_db}, {self.quiet_weight}"
            )
        if not self.norm_std > 0:
            raise ValueError(f"norm_std must be > 0, got {self.norm_std}")
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {self.n_stages}")
        if not isinstance(self.quantizer_options, dict):
            raise ValueError(f"quantizer_options must be a mapping, got {type(self.quantizer_options).__name__}")
        self.stft  # noqa: B018 (validates the STFT settings now, with STFTConfig's messages)

    # Derived sizes (STFT and framing ones come from FramedConfig) ----------------------------------
    @property
    def front_end(self) -> RateKFrontEnd:
        """STFT -> magnitude floored at floor_db -> rate-K dB (k bands in [f_min, f_max], peak_hz)."""
        return RateKFrontEnd(self.stft, self.floor_db, self.k, self.f_min, self.f_max, self.peak_hz)

    @property
    def architecture(self) -> str:
        """The shared backbone's conv1d layout: the K bands are channels, time is convolved."""
        return "conv1d"

    @property
    def frame_period_ms(self) -> float:
        """Duration one latent frame (one set of codes) covers, in ms."""
        return 1000.0 / self.latent_frame_rate

    def bits_per_frame_at(self, n_stages: int | None = None) -> float:
        """Bits per latent frame using the first n_stages stages (all by default)."""
        n = self.n_stages if n_stages is None else int(n_stages)
        if not 1 <= n <= self.n_stages:
            raise ValueError(f"n_stages must be in [1, {self.n_stages}], got {n_stages}")
        return n * math.log2(self.codebook_size)

    @property
    def bits_per_frame(self) -> float:
        return self.bits_per_frame_at(None)

    @property
    def latent_bits_per_second(self) -> float:
        return self.bits_per_frame * self.latent_frame_rate

    @property
    def latent_values_per_second(self) -> float:
        return self.latent_frame_rate * self.latent_dim


class EnvelopeVQVAE(nn.Module):
    """(..., K, N) rate-K dB in (from `config.front_end`), the same out, coded in 2**n_downsample-frame steps.

    forward -> AutoencoderOutput with reconstruction_db (..., K, N) rate-K dB (floored at floor_db),
    aux_losses {"vq"} and codes (..., N', n_stages). Any N >= 1 works: the envelope is padded by repeating its
    last frame up to a multiple of the stride and the output is cropped back.
    """

    def __init__(self, config: EnvelopeVQVAEConfig | None = None) -> None:
        super().__init__()
        config = config or EnvelopeVQVAEConfig()
        if not isinstance(config, EnvelopeVQVAEConfig):
            raise TypeError(f"EnvelopeVQVAE needs an EnvelopeVQVAEConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = SpectrogramEncoder(config, config.k, config.latent_dim)
        self.decoder = SpectrogramDecoder(config, config.k)
        options: dict[str, Any] = dict(config.quantizer_options)
        try:
            self.quantizer = ResidualVQ(
                config.n_stages, config.codebook_size, config.latent_dim, config.beta, **options
            )
        except TypeError as err:
            raise ValueError(f"quantizer_options {options} were not accepted by ResidualVQ: {err}") from err

    # Sizes -----------------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def bits_per_frame(self) -> float:
        """Bits per latent frame: n_stages x log2(codebook_size) (18 for 2 x 512)."""
        return self.config.bits_per_frame

    @property
    def frame_period_ms(self) -> float:
        return self.config.frame_period_ms

    @property
    def latent_frame_rate(self) -> float:
        """Latent frames (code sets) per second."""
        return self.config.latent_frame_rate

    @property
    def latent_bits_per_second(self) -> float:
        return self.config.latent_bits_per_second

    @property
    def latent_values_per_second(self) -> float:
        return self.config.latent_values_per_second

    # Input -------------------------------------------------------------------------------------------
    def _check_input(self, env_db: Tensor) -> Tensor:
        """(..., K, N) rate-K dB, checked, as floats."""
        cfg = self.config
        if not isinstance(env_db, Tensor) or env_db.dim() < 2:
            shape = tuple(env_db.shape) if isinstance(env_db, Tensor) else type(env_db).__name__
            raise ValueError(f"expected a rate-K dB tensor (..., {cfg.k}, frames), got {shape}")
        if env_db.shape[-2] != cfg.k:
            raise ValueError(
                f"envelope has {env_db.shape[-2]} bands but this model expects {cfg.k}; "
                "compute it with the model's front-end (config.front_end.features)"
            )
        if env_db.shape[-1] < 1:
            raise ValueError("envelope has 0 frames; need at least 1")
        env_db = env_db if env_db.is_floating_point() else env_db.float()
        if not torch.isfinite(env_db).all():
            raise ValueError("envelope holds NaN or inf values; compute it with config.front_end.features")
        return env_db

    def normalize(self, env_db: Tensor) -> Tensor:
        return (env_db - self.config.norm_mean) / self.config.norm_std

    def denormalize(self, x: Tensor) -> Tensor:
        return (x * self.config.norm_std + self.config.norm_mean).clamp_min(self.config.floor_db)

    # Encoder / decoder -------------------------------------------------------------------------------
    def _latents(self, env_db: Tensor) -> Tensor:
        """(B, K, N) rate-K dB -> (B, N', latent_dim), channels last for the quantizer."""
        x = self.normalize(env_db)
        pad = -x.shape[-1] % self.config.downsample_factor
        if pad:
            x = F.pad(x, (0, pad), mode="replicate")
        return self.encoder(x).movedim(1, -1).contiguous()

    def _decode_flat(self, z: Tensor, n_frames: int | None) -> Tensor:
        """(B, N', latent_dim) -> (B, K, n_frames or N' * stride) rate-K dB."""
        out = self.denormalize(self.decoder(z.movedim(-1, 1)))
        return out if n_frames is None else out[..., :n_frames]

    def forward(self, env_db: Tensor) -> AutoencoderOutput:
        env_db = self._check_input(env_db)
        lead, n = env_db.shape[:-2], env_db.shape[-1]
        q = self.quantizer(self._latents(env_db.reshape(-1, self.config.k, n)))
        x_hat = self.decoder(q.quantized.movedim(-1, 1))[..., :n]
        return AutoencoderOutput(
            reconstruction_db=self.denormalize(x_hat).reshape(env_db.shape),
            normalized=x_hat.reshape(env_db.shape),
            aux_losses={"vq": q.loss},
            codes=q.codes.reshape(*lead, *q.codes.shape[1:]),
            perplexity=q.perplexity,
        )

    def encode_continuous(self, env_db: Tensor) -> Tensor:
        """The encoder's output before quantisation, (..., N', latent_dim)."""
        env = self._check_input(env_db)
        z = self._latents(env.reshape(-1, *env.shape[-2:]))
        return z.reshape(*env.shape[:-2], *z.shape[1:])

    def encode(self, env_db: Tensor, n_stages: int | None = None) -> Tensor:
        """Rate-K dB (..., K, N) -> int64 codes (..., ceil(N / stride), n_stages).

        n_stages < config.n_stages keeps the first stages only (bits_per_frame_at(n_stages) bits per frame).
        """
        self.config.bits_per_frame_at(n_stages)  # validates n_stages
        with torch.no_grad():
            z = self.encode_continuous(env_db)
            return self.quantizer.encode(z, n_stages=n_stages)

    def decode(self, codes: Tensor, n_frames: int | None = None) -> Tensor:
        """Codes (..., N', stages) with 1 <= stages <= n_stages -> rate-K dB (..., K, n_frames or N' * stride).

        Any prefix of the stages decodes (codes[..., :1] is the first-stage-only, lower-rate envelope).
        """
        cfg = self.config
        if not isinstance(codes, Tensor) or codes.dim() < 2 or codes.is_floating_point() or codes.is_complex():
            got = f"{codes.dtype} {tuple(codes.shape)}" if isinstance(codes, Tensor) else type(codes).__name__
            raise ValueError(f"codes must be an integer tensor (..., frames, stages), got {got}")
        if not 1 <= codes.shape[-1] <= cfg.n_stages:
            raise ValueError(f"codes have {codes.shape[-1]} stages; this model has 1..{cfg.n_stages}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= cfg.codebook_size):
            raise ValueError(f"codes must lie in [0, {cfg.codebook_size}), got {int(codes.min())}..{int(codes.max())}")
        if n_frames is not None and not 1 <= n_frames <= codes.shape[-2] * cfg.downsample_factor:
            raise ValueError(
                f"n_frames={n_frames} but {codes.shape[-2]} code frames decode to at most "
                f"{codes.shape[-2] * cfg.downsample_factor} frames"
            )
        lead = codes.shape[:-2]
        z = self.quantizer.decode(codes.reshape(-1, *codes.shape[-2:]))
        return self._decode_flat(z, n_frames).reshape(*lead, cfg.k, -1)

    def decode_latents(self, z: Tensor, n_frames: int | None = None) -> Tensor:
        """Continuous latents (..., N', latent_dim) -> rate-K dB, skipping the quantizer (the VQ-free ceiling)."""
        if z.dim() < 2 or z.shape[-1] != self.config.latent_dim:
            raise ValueError(f"latents must have shape (..., frames, {self.config.latent_dim}), got {tuple(z.shape)}")
        out = self._decode_flat(z.reshape(-1, *z.shape[-2:]), n_frames)
        return out.reshape(*z.shape[:-2], self.config.k, -1)

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"k={cfg.k}, frame={cfg.frame_period_ms:g} ms, stages={cfg.n_stages}x{cfg.codebook_size}, "
            f"bits_per_frame={cfg.bits_per_frame:g}, latent_dim={cfg.latent_dim}"
        )
