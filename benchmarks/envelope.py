"""Spectral-envelope benchmark: rate-K (K=20) spectral distortion in dB² against bits per frame.

Trains no network. For every envelope model (`vqaudio train recipes/envelope-*.yaml`) and every prefix of its VQ
stages, the held-out utterances (clips of one speaker joined into ~4 s) are coded and decoded, and the decoded
rate-K dB vectors are compared with the true ones, per 10 ms frame:

    SD = mean over scored frames of mean over the K bands of (true dB - decoded dB)²       [dB²]

Scored frames are those with speech: frame energy (10 log10 of the mean band power of the true rate-K vector)
within --speech-range-db (30 dB) of the loudest frame of the same utterance, as Codec 2's VQ experiments do;
the silent gaps between joined clips never count. `sd_db2_mean_removed` removes each frame's mean error (a gain
offset) first. Bits per frame are per latent frame (one set of codes every frame_ms); bitrate = bits/s.

Rows beside each model: its VQ-free ceiling (encoder -> decoder, no quantizer: the decimation and network
error alone) and baselines with no network: a plain multi-stage (residual) k-means VQ of 512 codes per stage
(9 bits a stage; trained on the train split's speech frames) at 10 ms with 1 to --kmeans-stages stages, and
with 1 or 2 stages at 20/40 ms by coding every 2nd/4th frame and interpolating linearly (Codec 2 700C style),
plus that interpolation alone, unquantized.

Each model is scored on its own front-end: the rate-K definition of its config (band means, or through the
harmonic peaks with peak_hz > 0) and, with input_level_db, every utterance scaled to that active speech level
first (one gain per utterance, side information not counted in bits per frame). The baselines are trained and
scored once for each front-end among the models (names end in `-peak<Hz>` / `-lvl<dB>` when not the default).

    python benchmarks/envelope.py --data ../shared/data/speech --split val --json benchmarks/results/envelope.json \
        [--models runs/envelope-*/best.safetensors ...]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqaudio.audio.level import scale_to_level
from vqaudio.data import Utterance
from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.models import count_parameters, load_model
from vqaudio.models.envelope import EnvelopeVQVAE, EnvelopeVQVAEConfig
from vqaudio.quantize import kmeans, nearest_codes

COLUMNS = [
    "system",
    "frame_ms",
    "stages",
    "bits_per_frame",
    "bitrate",
    "sd_db2",
    "sd_db2_mean_removed",
    "frames",
]

Coder = Callable[[torch.Tensor], torch.Tensor]  # true rate-K dB (K, N) -> decoded rate-K dB (K, N)


def envelopes(utterances: Sequence[Utterance], cfg: EnvelopeVQVAEConfig) -> list[torch.Tensor]:
    """True rate-K dB (K, N) of each utterance, from the model config's front-end (at its input level)."""
    out = []
    for utt in utterances:
        wave = utt.wave
        if cfg.input_level_db is not None:
            wave = scale_to_level(wave, utt.sample_rate, cfg.input_level_db)[0]
        out.append(cfg.front_end.features(torch.as_tensor(wave, dtype=torch.float32)))
    return out


def front_end(cfg: EnvelopeVQVAEConfig) -> EnvelopeVQVAEConfig:
    """The default config with only `cfg`'s envelope definition and input level: what the baselines code."""
    return EnvelopeVQVAEConfig(peak_hz=cfg.peak_hz, input_level_db=cfg.input_level_db)


def front_end_suffix(cfg: EnvelopeVQVAEConfig) -> str:
    peak = f"-peak{cfg.peak_hz:g}" if cfg.peak_hz else ""
    return peak + (f"-lvl{cfg.input_level_db:g}" if cfg.input_level_db is not None else "")


def speech_frames(env_db: torch.Tensor, range_db: float) -> torch.Tensor:
    """Boolean (N,): frames whose energy (10 log10 mean band power) is within range_db of the loudest frame."""
    energy = 10.0 * torch.log10(torch.pow(10.0, env_db / 10.0).mean(dim=0))
    return energy >= energy.max() - range_db


class Distortion:
    """Accumulates squared dB errors over the scored frames of many utterances."""

    def __init__(self) -> None:
        self.sq = 0.0
        self.sq_mean_removed = 0.0
        self.frames = 0

    def add(self, true_db: torch.Tensor, decoded_db: torch.Tensor, keep: torch.Tensor) -> None:
        if decoded_db.shape != true_db.shape:
            raise ValueError(f"decoded envelope {tuple(decoded_db.shape)} != true envelope {tuple(true_db.shape)}")
        err = (true_db - decoded_db)[:, keep].double()  # (K, frames)
        self.sq += float(err.pow(2).mean(dim=0).sum())
        self.sq_mean_removed += float((err - err.mean(dim=0, keepdim=True)).pow(2).mean(dim=0).sum())
        self.frames += int(keep.sum())

    def row(self) -> dict[str, Any]:
        n = max(self.frames, 1)
        return {
            "sd_db2": round(self.sq / n, 3),
            "sd_db2_mean_removed": round(self.sq_mean_removed / n, 3),
            "frames": self.frames,
        }


def score(coder: Coder, data: list[torch.Tensor], range_db: float) -> dict[str, Any]:
    """SD of a coder over all utterances' envelopes."""
    dist = Distortion()
    start = time.perf_counter()
    with torch.no_grad():
        for env in data:
            decoded = coder(env)
            dist.add(env, decoded, speech_frames(env, range_db))
    return {**dist.row(), "seconds": round(time.perf_counter() - start, 2)}


def model_rows(path: Path, utterances: Sequence[Utterance], range_db: float) -> list[dict[str, Any]]:
    model = load_model(path)
    if not isinstance(model, EnvelopeVQVAE):
        raise SystemExit(f"{path} holds a {type(model).__name__}, not an envelope-vqvae model")
    cfg = model.config
    name = path.stem if path.stem != "best" else path.parent.name
    data = envelopes(utterances, cfg)
    common = {"frame_ms": cfg.frame_period_ms, "parameters": count_parameters(model), "checkpoint": str(path)}
    rows = []

    def unquantized(env: torch.Tensor) -> torch.Tensor:
        return model.decode_latents(model.encode_continuous(env), env.shape[-1])

    rows.append(
        {"system": f"vqaudio-{name}-unquantized", **common, "stages": 0, "bits_per_frame": None, "bitrate": None}
        | score(unquantized, data, range_db)
    )
    for n in range(1, cfg.n_stages + 1):

        def coded(env: torch.Tensor, n: int = n) -> torch.Tensor:
            return model.decode(model.encode(env, n_stages=n), env.shape[-1])

        bits = cfg.bits_per_frame_at(n)
        rows.append(
            {
                "system": f"vqaudio-{name}-{n}stage",
                **common,
                "stages": n,
                "bits_per_frame": bits,
                "bitrate": bits * cfg.latent_frame_rate,
            }
            | score(coded, data, range_db)
        )
    return rows


def train_kmeans(
    train: list[torch.Tensor], range_db: float, codebook_size: int, n_stages: int, iters: int
) -> list[torch.Tensor]:
    """Residual k-means codebooks on the speech frames (range_db rule) of the training utterances."""
    vectors = torch.cat([env[:, speech_frames(env, range_db)].T for env in train])
    torch.manual_seed(0)
    books, residual = [], vectors
    for _ in range(n_stages):
        book = kmeans(residual, codebook_size, iters, sync=False)
        assert book is not None
        residual = residual - book[nearest_codes(residual, book)[0]]
        books.append(book)
    return books


def kmeans_coder(books: list[torch.Tensor], stages: int, step: int) -> Coder:
    """Code every `step`-th frame with the first `stages` k-means stages; interpolate the rest linearly."""

    def code(env: torch.Tensor) -> torch.Tensor:
        n = env.shape[-1]
        picks = torch.arange(0, n, step)
        vectors = env[:, picks].T
        q = torch.zeros_like(vectors)
        for book in books[:stages]:
            q = q + book[nearest_codes(vectors - q, book)[0]]
        return interpolate(q.T, picks, n) if stages else interpolate(vectors.T, picks, n)

    return code


def interpolate(values: torch.Tensor, picks: torch.Tensor, n: int) -> torch.Tensor:
    """(K, len(picks)) values at frames `picks` -> (K, n) by linear interpolation, held after the last pick."""
    out = torch.empty(values.shape[0], n, dtype=values.dtype)
    frames = np.arange(n)
    for k in range(values.shape[0]):
        out[k] = torch.from_numpy(np.interp(frames, picks.numpy(), values[k].numpy()))
    return out


def baseline_rows(
    cfg: EnvelopeVQVAEConfig, train_utts: Sequence[Utterance], utterances: Sequence[Utterance], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """k-means and interpolation rows on the front-end of `cfg` (trained on train_utts, scored on utterances)."""
    val_data = envelopes(utterances, cfg)
    suffix = front_end_suffix(cfg)
    start = time.perf_counter()
    n_books = max(2, args.kmeans_stages)
    books = train_kmeans(
        envelopes(train_utts, cfg), args.speech_range_db, args.codebook_size, n_books, args.kmeans_iters
    )
    print(f"k-means baseline codebooks{suffix} trained in {time.perf_counter() - start:.1f} s")
    bits_per_stage = float(np.log2(args.codebook_size))
    rows = []
    for step in (1, 2, 4):
        ms = 1000.0 * step / cfg.frames_per_second
        if step > 1:
            rows.append(
                {
                    "system": f"interpolate-{ms:g}ms-unquantized{suffix}",
                    "frame_ms": ms,
                    "stages": 0,
                    "bits_per_frame": None,
                }
                | score(kmeans_coder(books, 0, step), val_data, args.speech_range_db)
            )
        for stages in range(1, (n_books if step == 1 else 2) + 1):
            bits = stages * bits_per_stage
            rows.append(
                {
                    "system": f"kmeans-{stages}x{args.codebook_size}-{ms:g}ms{suffix}",
                    "frame_ms": ms,
                    "stages": stages,
                    "bits_per_frame": bits,
                    "bitrate": bits * cfg.frames_per_second / step,
                }
                | score(kmeans_coder(books, stages, step), val_data, args.speech_range_db)
            )
    return rows


def default_models() -> list[Path]:
    return sorted(Path("runs").glob("envelope-*/best.safetensors"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--models", nargs="*", type=Path, help="envelope checkpoints (default: runs/envelope-*/)")
    parser.add_argument("--max-utterances", type=int, help="even spread over speakers (default: all)")
    parser.add_argument("--speech-range-db", type=float, default=30.0, help="score frames within this of the max")
    parser.add_argument("--no-baseline", action="store_true", help="skip the k-means / interpolation rows")
    parser.add_argument("--baseline-split", default="train", choices=["train", "val", "all"])
    parser.add_argument("--codebook-size", type=int, default=512, help="k-means baseline codes per stage")
    parser.add_argument("--kmeans-iters", type=int, default=20)
    parser.add_argument("--kmeans-stages", type=int, default=4, help="k-means stages at 10 ms (2 when decimated)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    models = default_models() if args.models is None else args.models
    if not models and args.no_baseline:
        raise SystemExit("nothing to score: no --models (and none under runs/envelope-*/) and --no-baseline")
    utterances = held_out_utterances(args.data, args.split, 8000, args.max_utterances)
    seconds = sum(u.wave.size for u in utterances) / 8000
    print(f"{len(utterances)} utterances, {seconds:.0f} s, from {args.data} ({args.split})")

    rows: list[dict[str, Any]] = []
    for path in models:
        rows.extend(model_rows(path, utterances, args.speech_range_db))
    if not args.no_baseline:
        train_utts = held_out_utterances(args.data, args.baseline_split, 8000)
        configs = [EnvelopeVQVAEConfig()] + [front_end(load_model(path).config) for path in models]
        for cfg in {front_end_suffix(c): c for c in configs}.values():  # each front-end once, the default first
            rows.extend(baseline_rows(cfg, train_utts, utterances, args))

    print(
        finish_report(
            "envelope",
            rows,
            COLUMNS,
            args.json,
            data=str(args.data),
            split=args.split,
            utterances=len(utterances),
            audio_seconds=round(seconds, 1),
            speech_range_db=args.speech_range_db,
            frame_selection=(
                f"10 ms frames whose energy (10 log10 of the mean band power of the true rate-K vector) is within "
                f"{args.speech_range_db:g} dB of the loudest frame of the same utterance"
            ),
            baseline_training_split=None if args.no_baseline else args.baseline_split,
            threads=args.threads,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
