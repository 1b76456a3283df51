"""A learned phase for a magnitude-only decoder: dB STFT magnitude in, STFT phase out (issue 16, part 1).

Griffin-Lim rebuilds a phase by alternating projections and costs the codec about half a PESQ point against the
input's own phase. `PhaseNet` predicts the phase of every STFT bin from the magnitude around it, as the phase heads
of Vocos and APNet do: a conv1d stack over time (bins as channels), then per bin two numbers (x, y) whose angle is
the phase; predicting a point on the plane rather than an angle avoids the wrap at +-pi in the output layer.

Absolute phase is not a function of the magnitude (delay a signal and every phase turns), so training weighs what
is: the phase's differences along time (instantaneous frequency) and along frequency (group delay), compared with
anti-wrapping distances, and the STFT magnitudes of the waveform the predicted phase makes (consistency). It is a
separate model, so one phase model serves every magnitude model with the same STFT: the codec, the reconstructor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vqaudio.audio import LogMagnitudeFrontEnd
from vqaudio.models.config import FramedConfig
from vqaudio.nn import ResidualBlock, activation, activation_norm, conv
from vqaudio.nn.conv import ACTIVATIONS, NORMS, check_choice


@dataclass
class PhaseNetConfig(FramedConfig):
    """Sizes of the phase network, its input scaling, and the weights of its training loss terms.

    dilations: one residual block per entry (kernel `kernel_size`): 1, 2, 4, 8 reach +-30 frames with 2 rounds.
    input_noise_db: training only, the std of Gaussian noise added to the input dB magnitude (drawn per example up to
    this), so the network also phases the imperfect magnitudes a decoder makes, not only clean ones.
    Loss (train.losses.phase_loss): if_weight x instantaneous-frequency + gd_weight x group-delay anti-wrapping errors
    (weighted by the bins' magnitude), + stft_weight x multi-resolution STFT loss of the resynthesised waveform.
    codec: training only, a codec checkpoint (.safetensors of a VQ-VAE with this STFT): the input is then what that
    codec decodes from the clean crop at a random rung, postfiltered by `codec_postfilter` as the Codec pipeline
    does, and the waveform loss puts the predicted phase on that decoded magnitude, so the phase is learned for the
    magnitudes it will be given (a decoder's are smoother than speech's) rather than for clean ones.
    input_level_db: the active speech level training crops are scaled to (set it to the codec's), None: as recorded.
    """

    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    n_downsample: int = 0  # the phase is per input frame (FramedConfig's field; fixed)
    floor_db: float = -80.0
    norm_mean: float = -50.0
    norm_std: float = 28.0
    hidden_channels: int = 256
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    kernel_size: int = 3
    norm: str = "weight"
    activation: str = "gelu"
    input_noise_db: float = 2.0
    if_weight: float = 1.0
    gd_weight: float = 1.0
    stft_weight: float = 1.0
    codec: str | None = None
    codec_postfilter: float = 0.15
    input_level_db: float | None = None

    def __post_init__(self) -> None:
        check_choice("norm", self.norm, NORMS)
        check_choice("activation", self.activation, ACTIVATIONS)
        self.dilations = tuple(int(d) for d in self.dilations)
        if self.n_downsample != 0:
            raise ValueError(f"PhaseNet works per input frame: n_downsample must be 0, got {self.n_downsample}")
        for name in ("sample_rate", "n_fft", "hop_length", "hidden_channels", "kernel_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"config field {name} must be >= 1, got {getattr(self, name)}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (symmetric 'same' padding), got {self.kernel_size}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be a non-empty list of positive ints, got {self.dilations}")
        if not self.norm_std > 0:
            raise ValueError(f"norm_std must be > 0, got {self.norm_std}")
        for name in ("input_noise_db", "if_weight", "gd_weight", "stft_weight", "codec_postfilter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["dilations"] = list(self.dilations)  # plain JSON/YAML types
        return values

    @property
    def front_end(self) -> LogMagnitudeFrontEnd:
        return LogMagnitudeFrontEnd(self.stft, self.floor_db)

    @property
    def receptive_frames(self) -> int:
        """Frames on each side an output frame depends on (a chunked runner's context must cover them)."""
        k = self.kernel_size // 2
        return k + sum(k * d for d in self.dilations)


@dataclass
class PhaseOutput:
    """One forward pass: `phase` (..., F, N) in radians; `perplexity` None (no codebook), as the trainer asks."""

    phase: Tensor
    perplexity: Tensor | None = None


class PhaseNet(nn.Module):
    """(..., F, N) dB magnitude -> PhaseOutput with the phase (..., F, N), torch.stft's convention."""

    config: PhaseNetConfig

    def __init__(self, config: PhaseNetConfig | None = None) -> None:
        super().__init__()
        config = config or PhaseNetConfig()
        if not isinstance(config, PhaseNetConfig):
            raise TypeError(f"PhaseNet needs a PhaseNetConfig, got {type(config).__name__}")
        self.config = config
        f, c, k = config.n_freqs, config.hidden_channels, config.kernel_size
        blocks = [ResidualBlock(c, 1, k, dilation=d, norm=config.norm, act=config.activation) for d in config.dilations]
        self.net = nn.Sequential(
            conv(1, f, c, k, norm=config.norm),
            *blocks,
            activation_norm(config.norm, c),
            activation(config.activation),
            conv(1, c, 2 * f, 1, norm=config.norm),
        )

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def normalize(self, spec_db: Tensor) -> Tensor:
        cfg = self.config
        return (spec_db.clamp_min(cfg.floor_db) - cfg.norm_mean) / cfg.norm_std

    def forward(self, spec_db: Tensor) -> PhaseOutput:
        f = self.config.n_freqs
        if not isinstance(spec_db, Tensor) or spec_db.dim() < 2 or spec_db.shape[-2] != f:
            shape = tuple(spec_db.shape) if isinstance(spec_db, Tensor) else type(spec_db).__name__
            raise ValueError(f"PhaseNet expects a dB magnitude (..., {f}, frames), got {shape}")
        lead = spec_db.shape[:-2]
        x = self.normalize(spec_db.float().reshape(-1, *spec_db.shape[-2:]))
        xy = self.net(x)
        phase = torch.atan2(xy[:, f:], xy[:, :f])
        return PhaseOutput(phase.reshape(*lead, *phase.shape[-2:]))

    def phase(self, spec_db: Tensor) -> Tensor:
        """The phase in eval mode without gradients (the module's mode is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(spec_db).phase
        finally:
            self.train(was_training)
