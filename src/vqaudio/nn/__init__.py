"""vqaudio.nn: generic blocks (residual, squeeze-and-excitation, down/up-sampling, a recurrent stage), 1-D or 2-D."""

from vqaudio.nn.conv import (
    ACTIVATIONS,
    NORMS,
    ChannelLayerNorm,
    WeightNormConv,
    activation,
    activation_norm,
    conv,
)
from vqaudio.nn.recurrent import RecurrentBlock
from vqaudio.nn.resample import UPSAMPLE_MODES, Downsample, Upsample
from vqaudio.nn.residual import ResidualBlock
from vqaudio.nn.se import SqueezeExcite

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "UPSAMPLE_MODES",
    "ChannelLayerNorm",
    "Downsample",
    "RecurrentBlock",
    "ResidualBlock",
    "SqueezeExcite",
    "Upsample",
    "WeightNormConv",
    "activation",
    "activation_norm",
    "conv",
]
