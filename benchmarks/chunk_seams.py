"""Chunk joins: is a long file processed in chunks as good at the joins as elsewhere, and as good as whole?

Joins the validation speech of DIR into one long signal (default 60 s) and runs each system on it whole (one
chunk) and in chunks (`--chunk-seconds`). Per STFT frame (n_fft 256, hop 64) it measures the RMS over frequency of
the dB difference between the output's magnitude and the input's, on frames within 40 dB of the loudest, and
reports the mean near the joins (+-4 frames, i.e. +-32 ms, around where the chunked run joins its chunks) and away
from them, for the whole-file run and the chunked run of each system: a seam shows as a chunked run worse near the
joins than away from them, and worse there than the whole-file run on the same frames.

Systems: `true-magnitude-griffin-lim` (the input's magnitude, phase by Griffin-Lim: chunks are joined by the shared
runner, phase carried across joins); `independent-chunks-crossfade` (the same, but each chunk's Griffin-Lim runs on
its own and chunks are crossfaded over --overlap-seconds: how vqaudio joined chunks before the shared runner); and
each shipped model through its pipeline (Reconstructor, and the Codec at its top rung).

    python benchmarks/chunk_seams.py --data ../shared/data/speech --split val --json OUT.json [--seconds 60]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqaudio.assets import pretrained_names, pretrained_path
from vqaudio.audio import STFTConfig, griffin_lim, num_frames, stft
from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.pipelines import Codec, Reconstructor, TrueMagnitudeGriffinLim

CFG = STFTConfig()
NEAR_FRAMES = 4
COLUMNS = ["system", "chunking", "err_near_joins_db", "err_away_db", "near_minus_away_db", "rtf_x", "joins"]
# err_*: mean per-frame RMS dB magnitude error against the input, on frames near the chunked run's joins / elsewhere


def frame_errors(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Per-frame RMS (over bins) dB magnitude difference; NaN on frames more than 40 dB below the loudest."""
    ref = 20 * torch.log10(stft(torch.from_numpy(reference), CFG).abs().clamp_min(1e-5))
    est = 20 * torch.log10(stft(torch.from_numpy(estimate), CFG).abs().clamp_min(1e-5))
    err = (est - ref).pow(2).mean(0).sqrt()
    return torch.where(ref.amax(0) > ref.amax() - 40, err, torch.nan).numpy()


def join_mask(n_frames: int, joins: list[int]) -> np.ndarray:
    """True on frames within NEAR_FRAMES of a join (frame indices)."""
    near = np.zeros(n_frames, dtype=bool)
    for at in joins:
        near[max(0, at - NEAR_FRAMES) : at + NEAR_FRAMES + 1] = True
    return near


def runner_joins(n_frames: int, chunk_seconds: float, align: int = 4) -> list[int]:
    """Where the shared runner joins chunks of chunk_seconds (its chunks are whole multiples of `align` frames)."""
    step = -(-round(chunk_seconds * CFG.frames_per_second) // align) * align
    return list(range(step, n_frames, step))


def crossfaded_chunks(
    wave: np.ndarray, chunk_seconds: float, overlap_seconds: float, n_iter: int
) -> tuple[np.ndarray, list[int]]:
    """Griffin-Lim on each chunk on its own, chunks crossfaded linearly over their overlap (the old scheme);
    also the frame index of the middle of each crossfade."""
    chunk, overlap = round(chunk_seconds * CFG.sample_rate), round(overlap_seconds * CFG.sample_rate)
    starts = list(range(0, max(1, wave.size - chunk), chunk - overlap))
    if starts[-1] + chunk < wave.size:
        starts.append(wave.size - chunk)
    out, weight = np.zeros(wave.size), np.zeros(wave.size)
    for i, s in enumerate(starts):
        piece = torch.from_numpy(wave[s : s + chunk])
        y = griffin_lim(stft(piece, CFG).abs(), CFG, n_iter=n_iter, length=piece.numel()).numpy()
        w = np.ones(y.size)
        if i > 0:
            ramp = starts[i - 1] + chunk - s
            w[:ramp] *= np.linspace(0, 1, ramp + 2)[1:-1]
        if i + 1 < len(starts):
            ramp = s + chunk - starts[i + 1]
            w[-ramp:] *= np.linspace(1, 0, ramp + 2)[1:-1]
        out[s : s + y.size] += y * w
        weight[s : s + y.size] += w
    joins = [round((s + prev + chunk) / 2 / CFG.hop_length) for prev, s in itertools.pairwise(starts)]
    return (out / weight).astype(np.float32), joins


def row(
    name: str, chunking: str, errors: np.ndarray, near: np.ndarray, seconds: float, audio_s: float
) -> dict[str, Any]:
    near_err, away_err = float(np.nanmean(errors[near])), float(np.nanmean(errors[~near]))
    return {
        "system": name,
        "chunking": chunking,
        "err_near_joins_db": round(near_err, 3),
        "err_away_db": round(away_err, 3),
        "near_minus_away_db": round(near_err - away_err, 3),
        "rtf_x": round(audio_s / seconds, 1),
        "joins": int(near.sum() // (2 * NEAR_FRAMES + 1)),
    }


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    """(fn(*args), seconds it took)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the joined test signal")
    parser.add_argument("--chunk-seconds", type=float, default=8.0)
    parser.add_argument("--overlap-seconds", type=float, default=0.25, help="crossfade of the independent chunks")
    parser.add_argument("--griffin-lim-iters", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    utterances = held_out_utterances(args.data, args.split, CFG.sample_rate)
    wave = np.concatenate([u.wave for u in utterances])[: round(args.seconds * CFG.sample_rate)].astype(np.float32)
    audio_s = wave.size / CFG.sample_rate
    print(f"{audio_s:.0f} s of {args.split} speech from {args.data}, chunks of {args.chunk_seconds:g} s")
    n_frames = num_frames(wave.size, CFG)
    whole_s, chunk_s, iters = audio_s + 1.0, args.chunk_seconds, args.griffin_lim_iters
    rows = []

    def add_pair(name: str, make: Any, align: int) -> None:
        near = join_mask(n_frames, runner_joins(n_frames, chunk_s, align))
        for label, chunk in (("whole", whole_s), ("chunked", chunk_s)):
            out, t = timed(make(chunk), wave, CFG.sample_rate)
            rows.append(row(name, label, frame_errors(wave, np.asarray(out, dtype=np.float32)), near, t, audio_s))
        print(f"  done {name}", flush=True)

    add_pair("true-magnitude-griffin-lim", lambda s: TrueMagnitudeGriffinLim(n_iter=iters, chunk_seconds=s), 1)
    (out, joins), t = timed(crossfaded_chunks, wave, chunk_s, args.overlap_seconds, iters)
    rows.append(row("independent-chunks-crossfade", "chunked", frame_errors(wave, out), join_mask(n_frames, joins),
                    t, audio_s))  # fmt: skip
    for name in pretrained_names():
        path = pretrained_path(name)
        if name.startswith("reconstruct-"):
            cls: Any = Reconstructor
        elif name.startswith("codec-"):
            cls = Codec
        else:
            continue
        align = int(cls.from_checkpoint(path, griffin_lim_iters=1).model.config.downsample_factor)

        def make(chunk: float, cls: Any = cls, path: Path = path) -> Any:
            return cls.from_checkpoint(path, griffin_lim_iters=iters, chunk_seconds=chunk)

        add_pair(f"vqaudio-{name}", make, align)

    print(finish_report("chunk_seams", rows, COLUMNS, args.json, data=str(args.data), split=args.split,
                        seconds=round(audio_s, 1), chunk_seconds=chunk_s, griffin_lim_iters=iters))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
