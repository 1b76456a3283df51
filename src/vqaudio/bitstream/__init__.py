"""The .vqa bitstream: dense bit packing of codebook indices and the checksummed file around them.

Bottom layer: numpy and the standard library only.
"""

from __future__ import annotations

from vqaudio.bitstream.bitpack import BitstreamError, bits_for_codebook, pack_bits, packed_size, unpack_bits
from vqaudio.bitstream.format import (
    FORMAT_VERSION,
    MAGIC,
    MAX_CHANNELS,
    MAX_GAIN_DB,
    MAX_HEADER_BYTES,
    MAX_HEADER_DEPTH,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    READABLE_VERSIONS,
    WIRE_KEYS,
    VqaHeader,
    load_vqa,
    read_vqa,
    save_vqa,
    write_vqa,
)

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHANNELS",
    "MAX_GAIN_DB",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "READABLE_VERSIONS",
    "WIRE_KEYS",
    "BitstreamError",
    "VqaHeader",
    "bits_for_codebook",
    "load_vqa",
    "pack_bits",
    "packed_size",
    "read_vqa",
    "save_vqa",
    "unpack_bits",
    "write_vqa",
]
