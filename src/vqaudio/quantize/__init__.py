"""vqaudio.quantize: vector quantizers (VQ, residual VQ, FSQ), exact chunked search, k-means, statistics."""

from vqaudio.quantize.distance import nearest_codes, search_peak_bytes
from vqaudio.quantize.fsq import FSQ
from vqaudio.quantize.kmeans import kmeans
from vqaudio.quantize.residual import ResidualVQ
from vqaudio.quantize.stats import code_stats
from vqaudio.quantize.vq import QuantizerOutput, VectorQuantizer

__all__ = [
    "FSQ",
    "QuantizerOutput",
    "ResidualVQ",
    "VectorQuantizer",
    "code_stats",
    "kmeans",
    "nearest_codes",
    "search_peak_bytes",
]
