"""The .vqa bitstream: dense bit packing of codebook indices and the checksummed file around them.

Version 4 files hold their indices in packets, each with its own check (packets.py), so `stream.PacketReader` can
read them as they arrive and find a damaged or missing packet without refusing the rest.

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
from vqaudio.bitstream.packets import DEFAULT_PACKET_FRAMES, MAX_PACKET_FRAMES, PacketLayout
from vqaudio.bitstream.stream import PacketReader, PacketRun, damage_packets, loss_mask, read_lossy

__all__ = [
    "DEFAULT_PACKET_FRAMES",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_CHANNELS",
    "MAX_GAIN_DB",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "MAX_PACKET_FRAMES",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "READABLE_VERSIONS",
    "WIRE_KEYS",
    "BitstreamError",
    "PacketLayout",
    "PacketReader",
    "PacketRun",
    "VqaHeader",
    "bits_for_codebook",
    "damage_packets",
    "load_vqa",
    "loss_mask",
    "pack_bits",
    "packed_size",
    "read_lossy",
    "read_vqa",
    "save_vqa",
    "unpack_bits",
    "write_vqa",
]
