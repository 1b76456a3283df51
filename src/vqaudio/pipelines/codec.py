"""Codec: speech -> .vqa bytes (residual VQ-VAE codes) -> speech, with a bitrate ladder.

Why chunked: encode and decode walk the signal through the shared chunked runner, in chunks of whole latent frames
(default ~10 s) so memory is bounded whatever the input length. Each chunk's codes are computed with
`encoder_context_frames` latent frames of real signal on either side (thrown away after), and each chunk is decoded
with `context_frames` of codes on either side, each covering its conv stack's receptive field, so the model sees
the context a single pass would (`context_frames=N` sets both); decoding overlap-adds the chunks' STFT frames,
with Griffin-Lim's phase carried from one chunk into the next, so chunk joins have no seams.

Why a gain: a model trained at one speech level (its config's input_level_db) codes a much quieter or louder
voice badly, so each channel is scaled to that level before encoding; the gain (rounded to 0.01 dB) goes into
the file's header and decode divides it back out, so the output keeps the input's level.

Why blocks: encode and decode take and give the signal in blocks (in memory: one block), so files of any length
stream in bounded memory (`encode_file`, `decode_to_file`): encoding reads the file twice (the level is a whole-
channel measurement, made in a first pass) and keeps only the codes (an hour of 8 kHz speech at 62.5 latent
frames/s is 225k small integers per stage) until the header, which records the length and the gains before the
payload, can be written; decoding writes each block of audio as the chunks finish.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vqaudio.audio import LogMagnitudeFrontEnd, num_frames
from vqaudio.audio.atomic import write_bytes_atomic
from vqaudio.audio.io import AudioInfo, AudioWriter
from vqaudio.audio.postfilter import sharpen_db
from vqaudio.audio.stream import ChannelMerge, LengthFit, StreamResampler
from vqaudio.bitstream import BitstreamError, VqaHeader, bits_for_codebook, read_vqa, write_vqa
from vqaudio.bitstream.packets import DEFAULT_PACKET_FRAMES
from vqaudio.models import VQVAE
from vqaudio.models.backbone import decoder_receptive_frames, encoder_receptive_frames
from vqaudio.pipelines.base import Pipeline
from vqaudio.pipelines.files import block_frames, measure_gains, model_rate_blocks, open_input
from vqaudio.pipelines.inputs import as_float_array, check_rate
from vqaudio.pipelines.phase import PhaseChoice, PhaseSource, resolve_phase
from vqaudio.pipelines.runner import ChunkedRunner, FrameStream, FrameWindow, OutputStream

__all__ = ["DEFAULT_MODELS", "DEFAULT_POSTFILTER", "Codec", "bitrate_of", "model_hash"]

DEFAULT_MODELS = ("codec-8k", "reconstruct-vqvae-8k")  # preferred shipped codec first, then the fallback
DEFAULT_POSTFILTER = 0.15  # sharpen_db amount; chosen on training speakers (benchmarks/RESULTS.md, codec section)


def model_hash(model: nn.Module) -> str:
    """First 16 hex chars of sha256 over the state_dict tensors' raw bytes, keys sorted (identifies weights)."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(key.encode("utf-8"))
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def bitrate_of(data: bytes, header: VqaHeader) -> dict[str, float]:
    """Real bitrate of a .vqa file: {'bitrate': whole file, 'payload_bitrate': packed indices only} in bit/s."""
    duration = header.duration_s
    if duration <= 0:
        return {"bitrate": math.inf, "payload_bitrate": math.inf}
    return {"bitrate": len(data) * 8.0 / duration, "payload_bitrate": header.payload_bytes * 8.0 / duration}


MIN_CONTEXT_FRAMES = 8  # latent frames of context each side of a chunk, at least


class Codec(Pipeline):
    """A speech codec over a (residual) VQ-VAE: encode(wave, sr) -> bytes, decode(bytes) -> (wave, sr).

    Any sample rate and channel count in; each channel is resampled to the model rate and coded on its
    own; decode restores the input's rate, channel count and exact length. Phase: `phase` (pipelines.phase):
    "auto" takes the shipped learned phase model for this STFT, refined by `griffin_lim_iters` iterations of fast
    Griffin-Lim (None: 16), and falls back to Griffin-Lim alone (None: 32 iterations) without one; "griffin-lim"
    forces that; a path names a phase model. The bitrate ladder is one rung per residual stage (a prefix of the
    stages). Models with an input_level_db get every channel at that active speech level (the gain travels in the
    header).
    `postfilter` sharpens the decoded dB spectrum (`sharpen_db`) before phase reconstruction; a decoder-side
    choice (0 turns it off), so files decode with any setting. It applies to STFT-magnitude models; an envelope
    model's rate-K output is smooth already and is left as decoded. Calling the codec (`codec(wave, sr)`) codes
    and decodes at `bitrate` (None: the top rung), as a system to score. `packet_frames`: latent frames per packet
    of the files it writes (format version 4, bitstream.packets; None: one payload, version 3); `decode` refuses a
    damaged file, pipelines.codec_stream conceals its lost packets and decodes as packets arrive.
    """

    model_types = ("vqvae", "envelope-vqvae")
    default_model = DEFAULT_MODELS[0]

    def __init__(
        self,
        model: nn.Module,
        griffin_lim_iters: int | None = None,
        model_id: str = "unnamed",
        chunk_seconds: float = 10.0,
        context_frames: int | None = None,
        device: str | torch.device = "cpu",
        postfilter: float = DEFAULT_POSTFILTER,
        bitrate: float | None = None,
        phase: PhaseChoice = "auto",
        packet_frames: int | None = DEFAULT_PACKET_FRAMES,
    ) -> None:
        super().__init__(model, device)
        cfg = model.config
        if cfg.architecture != "conv1d":
            raise ValueError(
                f"Codec supports conv1d VQ-VAEs (one code vector per latent frame), got {cfg.architecture!r}"
            )
        self.model_id = model_id
        # a learned phase only for STFT magnitudes (an envelope model's output has no harmonics to phase)
        learned = resolve_phase(phase, cfg.stft) if isinstance(self.front_end, LogMagnitudeFrontEnd) else None
        self.phase_source = PhaseSource(learned, self.device)
        iters = self.phase_source.default_iters() if griffin_lim_iters is None else griffin_lim_iters
        self.griffin_lim_iters = int(iters)
        self.postfilter = postfilter
        self.stft = cfg.stft
        self.stride = int(cfg.downsample_factor)
        self.n_stages = int(cfg.n_stages)
        self.codebook_size = int(cfg.codebook_size)
        self.frame_rate = float(cfg.latent_frame_rate)
        self.samples_per_latent = self.stride * self.stft.hop_length
        self.chunk_latents = max(1, round(chunk_seconds * self.frame_rate))
        # Context by default: what each conv stack reaches, plus one spare frame, and at least 8 latent frames. The
        # encoder and the decoder get their own (a decoder with extra blocks reaches further than its encoder), so
        # an encoder does not wait for input that only the decoder needs.
        if context_frames is None:
            self.context_frames = max(MIN_CONTEXT_FRAMES, decoder_receptive_frames(cfg) + 1)
            self.encoder_context_frames = max(MIN_CONTEXT_FRAMES, encoder_receptive_frames(cfg) + 1)
        else:
            self.context_frames = self.encoder_context_frames = int(context_frames)
        self.runner, self.encoder_runner = (
            ChunkedRunner(
                self.front_end,
                chunk_frames=self.chunk_latents * self.stride,
                context_frames=context * self.stride,
                align=self.stride,
                griffin_lim_iters=self.griffin_lim_iters,
                device=self.device,
            )
            for context in (self.context_frames, self.encoder_context_frames)
        )
        self._single_code = isinstance(model, VQVAE) and self.n_stages == 1  # codes without a stage axis
        self._hash: str | None = None
        self.bitrate = bitrate
        self.packet_frames = packet_frames

    # construction -----------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: object) -> Codec:
        """Load weights from a .safetensors checkpoint; model_id is the file's stem."""
        kwargs.setdefault("model_id", Path(path).stem)
        return super().from_checkpoint(path, **kwargs)

    @classmethod
    def default(cls, **kwargs: object) -> Codec:
        """The shipped codec-8k if present, else reconstruct-vqvae-8k."""
        from vqaudio.assets import pretrained_names

        shipped = pretrained_names()
        for name in DEFAULT_MODELS:
            if name in shipped:
                return cls.from_pretrained(name, **kwargs)
        raise FileNotFoundError(f"none of the default codec models {DEFAULT_MODELS} is shipped; shipped: {shipped}")

    @property
    def postfilter(self) -> float:
        """sharpen_db amount applied to the decoded spectrum (0 = off); may be changed between decodes."""
        return self._postfilter

    @postfilter.setter
    def postfilter(self, amount: float) -> None:
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"postfilter must lie in [0, 1], got {amount}")
        self._postfilter = float(amount)

    # ladder ------------------------------------------------------------------------------------------
    @property
    def model_hash(self) -> str:
        if self._hash is None:
            self._hash = model_hash(self.model)
        return self._hash

    @property
    def _code_dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds this model's indices (codes of an hour stay small)."""
        return np.min_scalar_type(self.codebook_size - 1)

    @property
    def bits_per_stage(self) -> int:
        return bits_for_codebook(self.codebook_size)

    @property
    def bitrates(self) -> list[float]:
        """Payload bit/s using the first k stages, k = 1..n_stages."""
        return [self.frame_rate * k * self.bits_per_stage for k in range(1, self.n_stages + 1)]

    def stages_for_bitrate(self, bitrate: float | None) -> int:
        """The most stages whose payload bitrate fits in `bitrate` (all stages for None)."""
        if bitrate is None:
            return self.n_stages
        fitting = [k for k, rate in enumerate(self.bitrates, start=1) if rate <= bitrate + 1e-9]
        if not fitting:
            ladder = ", ".join(f"{r:g}" for r in self.bitrates)
            raise ValueError(f"bitrate {bitrate:g} bit/s is below this model's lowest rung; available: {ladder} bit/s")
        return fitting[-1]

    # sizes -------------------------------------------------------------------------------------------
    def model_length(self, n_samples: int, sample_rate: int) -> int:
        """Samples at the model rate for `n_samples` at `sample_rate` (same rule in encode and decode)."""
        if sample_rate == self.sample_rate:
            return n_samples
        return max(1, round(n_samples * self.sample_rate / sample_rate))

    def _n_latents(self, n_model_samples: int) -> int:
        return -(-num_frames(n_model_samples, self.stft) // self.stride)

    # encode ------------------------------------------------------------------------------------------
    def _window_codes(self, window: FrameWindow, n_stages: int) -> np.ndarray:
        """Codes (n, n_stages) of the latent frames a chunk keeps (its context thrown away)."""
        features = self.front_end.from_spectrogram(window.spectrogram)[None]
        codes = self.model.encode(features.to(self.device), n_stages=n_stages)[0]
        if codes.dim() == 1:
            codes = codes[:, None]
        lo, hi = (window.first - window.start) // self.stride, -(-(window.last - window.start) // self.stride)
        return codes[lo:hi].cpu().numpy()

    def encode(self, wave: np.ndarray | torch.Tensor, sample_rate: int, bitrate: float | None = None) -> bytes:
        """Waveform (T,) or (C, T) at any rate -> .vqa bytes at the largest rung <= `bitrate`."""
        wave = as_float_array(wave)
        if wave.ndim > 2:
            raise ValueError(f"encode: one recording at a time, (T,) or (C, T); got shape {wave.shape}")
        channels = wave[None] if wave.ndim == 1 else wave
        return self.encode_blocks(lambda: [channels], channels.shape[-1], sample_rate, bitrate)

    def encode_file(
        self, path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, bitrate: float | None = None
    ) -> bytes:
        """Encode an audio file (any rate/channels/length, read in blocks) to .vqa bytes; with `output`, also write
        them there (atomically). Returns the bytes."""
        with open_input(path) as reader:
            block = block_frames(reader.sample_rate)
            data = self.encode_blocks(lambda: reader.blocks(block), reader.n_samples, reader.sample_rate, bitrate)
        if output is not None:
            write_bytes_atomic(output, data)
        return data

    def encode_blocks(
        self,
        blocks: Callable[[], Iterable[np.ndarray]],
        n_samples: int,
        sample_rate: int,
        bitrate: float | None = None,
    ) -> bytes:
        """A recording of `n_samples` at `sample_rate`, given as float32 (C, n) blocks, -> .vqa bytes.

        `blocks()` starts the blocks afresh; it is called twice for a model with an input level (the first pass
        measures each channel's level) and once otherwise.
        """
        sample_rate = check_rate(sample_rate)
        k = self.stages_for_bitrate(bitrate)
        n_model = self.model_length(n_samples, sample_rate)
        gains: list[float] | None = None
        if self.input_level_db is not None:
            gains = measure_gains(blocks(), sample_rate, self.sample_rate, self.input_level_db, n_model, decimals=2)
        n_latents = self._n_latents(n_model)
        codes: np.ndarray | None = None  # (C, n_latents, k) in the smallest integer type that holds the indices
        filled: list[int] = []
        streams: list[FrameStream] = []

        def keep(c: int, windows: Iterable[FrameWindow]) -> None:
            assert codes is not None
            for window in windows:
                chunk = self._window_codes(window, k)
                codes[c, filled[c] : filled[c] + chunk.shape[0]] = chunk
                filled[c] += chunk.shape[0]

        with torch.inference_mode():
            for step in model_rate_blocks(blocks(), sample_rate, self.sample_rate, length=n_model):
                if codes is None:
                    codes = np.zeros((len(step), n_latents, k), dtype=self._code_dtype)
                    filled, streams = [0] * len(step), [FrameStream(self.encoder_runner) for _ in step]
                for c, samples in enumerate(step):
                    if gains is not None:
                        samples = samples * np.float32(10.0 ** (gains[c] / 20.0))
                    keep(c, streams[c].push(torch.from_numpy(np.ascontiguousarray(samples)).to(self.device)))
            for c, stream in enumerate(streams):
                keep(c, stream.finish())
        if codes is None or any(n != n_latents for n in filled):
            raise RuntimeError(f"Codec: coded {filled} latent frames per channel, expected {n_latents}")
        header = VqaHeader(
            model_id=self.model_id,
            model_hash=self.model_hash,
            sample_rate=sample_rate,
            model_sample_rate=self.sample_rate,
            n_samples=n_samples,
            n_channels=codes.shape[0],
            frame_rate=self.frame_rate,
            n_frames=n_latents,
            stages_used=k,
            codebook_sizes=[self.codebook_size] * k,
            gain_db=gains,
            packet_frames=self.packet_frames,
        )
        return write_vqa(header, codes)

    # decode ------------------------------------------------------------------------------------------
    def _decode_features(self, codes: np.ndarray) -> torch.Tensor:
        """Codes (n, k) -> model features (n_features, n * stride), at the level the encoder scaled to."""
        c = torch.from_numpy(np.asarray(codes, dtype=np.int64)).to(self.device)
        if self._single_code:
            c = c[..., 0]
        with torch.inference_mode():
            return self.model.decode(c[None])[0]

    def decoded_db(self, codes: np.ndarray) -> torch.Tensor:
        """Codes (n_latents, k) of one channel -> the (postfiltered) features (n_features, frames) that phase
        reconstruction is given, in one pass (no chunks), at the level the encoder scaled the input to."""
        features = self._decode_features(codes)
        if isinstance(self.front_end, LogMagnitudeFrontEnd):
            features = sharpen_db(features, self.postfilter)
        return features

    def process(self, mono: torch.Tensor) -> torch.Tensor:
        """Encode and decode one mono model-rate wave at `bitrate` (the codec as a system to score)."""
        wave = mono.cpu().numpy()
        data = self.encode(wave, self.sample_rate, bitrate=self.bitrate)
        return torch.from_numpy(self.decode(data)[0])

    def read(self, data: bytes, source: str = "input") -> tuple[VqaHeader, np.ndarray]:
        """.vqa bytes -> (header, codes (C, n_latents, k) in the smallest unsigned type that holds them), checked
        against this model (BitstreamError if not)."""
        header, codes = read_vqa(data, expected_model_hash=self.model_hash, source=source)
        self.check_header(header, source)
        return header, codes.astype(self._code_dtype)

    def decode(self, data: bytes, source: str = "input") -> tuple[np.ndarray, int]:
        """.vqa bytes -> (wave (T,) or (C, T) float32, sample_rate) with the encoded input's rate and length.

        Raises BitstreamError for truncated/corrupt data or a file made by other weights.
        """
        header, codes = self.read(data, source)
        out = np.concatenate(list(self.decode_blocks(header, codes)), axis=-1)
        return (out[0] if header.n_channels == 1 else out), header.sample_rate

    def decode_blocks(self, header: VqaHeader, codes: np.ndarray) -> Iterator[np.ndarray]:
        """Checked codes (C, n_latents, k) (`read`) -> the decoded (C, n) float32 blocks at the header's rate, one
        chunk at a time; together header.n_samples long. Channels are decoded side by side, chunk by chunk."""
        n_model = self.model_length(header.n_samples, header.sample_rate)
        n_frames = num_frames(n_model, self.stft)
        n_channels = header.n_channels
        outputs = [OutputStream(self.runner) for _ in range(n_channels)]
        back = [StreamResampler(self.sample_rate, header.sample_rate) for _ in range(n_channels)]
        scales = [np.float32(10.0 ** (-gain / 20.0)) for gain in header.gains_db()]
        merge, fit = ChannelMerge(n_channels), LengthFit(header.n_samples)

        def ready() -> Iterator[np.ndarray]:
            block = merge.take()
            if block is not None:
                yield fit.push(block)

        with torch.inference_mode():
            for first, last in self.runner.plan(n_frames):
                start, stop = self.runner.span(first, last, n_frames)
                lat0, lat1 = start // self.stride, -(-stop // self.stride)
                for c in range(n_channels):
                    features = self.decoded_db(codes[c, lat0:lat1])[..., : stop - start]
                    piece = self.phase_source.piece(start, first, last, features, self.griffin_lim_iters)
                    wave = outputs[c].add(piece, n_model)
                    merge.put(c, back[c].push(wave.cpu().numpy() * scales[c]))
                yield from ready()
            for c in range(n_channels):
                tail = back[c].push(outputs[c].finish(n_model).cpu().numpy() * scales[c])
                merge.put(c, np.concatenate([tail, back[c].finish()]))
            yield from ready()
        yield fit.finish(lead=(n_channels,))

    def check_header(self, header: VqaHeader, source: str = "input") -> None:
        """BitstreamError unless the header describes codes this model makes (read_vqa has bounded every field)."""
        if header.model_sample_rate != self.sample_rate or not 1 <= header.stages_used <= self.n_stages:
            raise BitstreamError(
                f"{source}: made for a {header.model_sample_rate} Hz model with {header.stages_used} stages, "
                f"but this model is {self.sample_rate} Hz with {self.n_stages} stages"
            )
        if header.codebook_sizes != [self.codebook_size] * header.stages_used:
            raise BitstreamError(
                f"{source}: codebook sizes {header.codebook_sizes} do not match this model's "
                f"{header.stages_used} x {self.codebook_size} entries: the file is corrupt or from another model"
            )
        if not math.isclose(header.frame_rate, self.frame_rate, rel_tol=1e-9):
            raise BitstreamError(
                f"{source}: frame rate {header.frame_rate:g}/s does not match this model's {self.frame_rate:g}/s: "
                "the file is corrupt or from another model"
            )
        if header.n_samples == 0:
            raise BitstreamError(f"{source}: header records no samples (the encoder never writes an empty input)")
        n_model = self.model_length(header.n_samples, header.sample_rate)
        if header.n_frames != self._n_latents(n_model):
            raise BitstreamError(
                f"{source}: header says {header.n_frames} frames but {header.n_samples} samples at "
                f"{header.sample_rate} Hz need {self._n_latents(n_model)}: the file is inconsistent"
            )

    # files -------------------------------------------------------------------------------------------
    def decode_to_file(
        self, vqa: str | os.PathLike[str] | bytes, output: str | os.PathLike[str], subtype: str = "PCM_16"
    ) -> AudioInfo:
        """Decode a .vqa file (a path, or its bytes) to an audio file, a block at a time (memory does not grow with
        the length; written atomically in `subtype`, as `save` writes); returns the decoded length, rate, channels."""
        if isinstance(vqa, (bytes, bytearray, memoryview)):
            data, source = bytes(vqa), "input"
        else:
            path = Path(vqa)
            if not path.is_file():
                raise FileNotFoundError(f"no such .vqa file: {path}")
            data, source = path.read_bytes(), str(path)
        header, codes = self.read(data, source)
        del data
        with AudioWriter(output, header.sample_rate, header.n_channels, subtype) as writer:
            for block in self.decode_blocks(header, codes):
                writer.write(block)
        return AudioInfo(header.n_samples, header.sample_rate, header.n_channels)

    def decode_file(self, path: str | Path, output: str | Path) -> tuple[np.ndarray, int]:
        """Decode a .vqa file to audio; returns (wave, sample_rate). Holds the whole wave, to return it: for long
        files `decode_to_file` writes the same audio in bounded memory."""
        from vqaudio.audio.io import save

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such .vqa file: {path}")
        wave, sr = self.decode(path.read_bytes(), source=str(path))
        save(output, wave, sr)
        return wave, sr
