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

`--jobs` (default: `reconstruct`, the systems above) adds the mask models that invert with their input's phase, at
16 kHz, each run through its pipeline whole (one chunk longer than the signal) and with the pipeline's own default
chunks and context (Denoiser: 10 s chunks, 0.5 s context; Separator: 10 s, 1 s; the runner rounds both up to whole
multiples of the model's time stride). Both models hold a bidirectional GRU over time, so a chunked run cannot
equal the whole-file run; the question is whether the joins can be heard.
- `denoise`: validation speech of `--denoise-corpora` (LibriSpeech and GCompris `val/`: 16 kHz voices), its
  utterances in a seeded order, each mixed with validation noise of `--noise` (city, rain, wind) at `--snr` dB as
  benchmarks/denoise.py mixes them, joined to `--seconds`; the shipped `denoise-16k` (or `--denoise-model`).
- `separate`: MIR-1K clips of `--music` (`val/`, stereo: left = accompaniment, right = voice) in a seeded order,
  joined to `--seconds`, mixture = their sum at the recorded balance; the vocals estimate of the shipped
  `separate-16k` (or `--separate-model`).
Their errors are measured against the clean speech / the true vocals (not the input), per STFT frame of n_fft 512,
hop 128 (the same 32 ms frames and 8 ms hop as above, at 16 kHz), on frames within 40 dB of the reference's
loudest, near the chunked run's joins (+-4 frames, +-32 ms) and away. Extra columns: `si_sdr_db` (of the row's
output against the reference), and for the chunked row how it differs from the whole-file output: `diff_near_joins_db`
/ `diff_away_db` (energy of chunked - whole over the energy of whole, on those frames, dB) and `max_abs_diff`
(largest sample difference). A row for the input itself (`chunking` "none") gives the error before processing.

    python benchmarks/chunk_seams.py --data ../shared/data/speech --split val --json OUT.json [--seconds 60] \
        [--jobs reconstruct denoise separate] [--noise ../shared/data/noise] [--music ../shared/data/music/mir1k]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `denoise` (its mixtures) lives beside this script

from denoise import make_mixtures
from vqaudio.assets import pretrained_names, pretrained_path
from vqaudio.audio import STFTConfig, griffin_lim, load, num_frames, stft
from vqaudio.data import music_tracks, noise_files
from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.metrics import si_sdr
from vqaudio.pipelines import Codec, Denoiser, Pipeline, Reconstructor, Separator, TrueMagnitudeGriffinLim

CFG = STFTConfig()
CFG16 = STFTConfig(sample_rate=16000, n_fft=512, hop_length=128)  # the same 32 ms frames, 8 ms hop, at 16 kHz
NEAR_FRAMES = 4
COLUMNS = ["system", "chunking", "err_near_joins_db", "err_away_db", "near_minus_away_db", "rtf_x", "joins"]
# err_*: mean per-frame RMS dB magnitude error against the input, on frames near the chunked run's joins / elsewhere
MASK_COLUMNS = [*COLUMNS, "si_sdr_db", "diff_near_joins_db", "diff_away_db", "max_abs_diff"]
# for denoise/separate, err_* and si_sdr_db are against the clean speech / the true vocals; diff_*: chunked vs whole
JOBS = ("reconstruct", "denoise", "separate")


def frame_errors(reference: np.ndarray, estimate: np.ndarray, cfg: STFTConfig = CFG) -> np.ndarray:
    """Per-frame RMS (over bins) dB magnitude difference; NaN on frames more than 40 dB below the loudest."""
    ref = 20 * torch.log10(stft(torch.from_numpy(reference), cfg).abs().clamp_min(1e-5))
    est = 20 * torch.log10(stft(torch.from_numpy(estimate), cfg).abs().clamp_min(1e-5))
    err = (est - ref).pow(2).mean(0).sqrt()
    return torch.where(ref.amax(0) > ref.amax() - 40, err, torch.nan).numpy()


def difference_db(whole: np.ndarray, chunked: np.ndarray, frames: np.ndarray, cfg: STFTConfig) -> float:
    """Energy of (chunked - whole) over the energy of whole, summed over the STFT frames `frames` (bool), in dB."""
    diff = stft(torch.from_numpy(chunked - whole), cfg).abs().pow(2).sum(0).numpy()
    ref = stft(torch.from_numpy(whole), cfg).abs().pow(2).sum(0).numpy()
    return float(10 * np.log10((diff[frames].sum() + 1e-20) / (ref[frames].sum() + 1e-20)))


def pipeline_joins(pipeline: Pipeline, n_samples: int, cfg: STFTConfig) -> list[int]:
    """Where a pipeline's chunked runner joins chunks of a signal of n_samples, as frame indices of `cfg` (the first
    kept frame of each chunk after the first, centred on sample frame * hop of the model's STFT)."""
    runner = pipeline.runner  # type: ignore[attr-defined]
    hop = runner.stft.hop_length
    starts = [first for first, _ in runner.plan(num_frames(n_samples, runner.stft))[1:]]
    return [round(first * hop / cfg.hop_length) for first in starts]


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


def reconstruct_job(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of the Griffin-Lim systems and the shipped codecs and reconstructors, on --data's speech at 8 kHz."""
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
    extra = {"seconds": round(audio_s, 1), "chunk_seconds": chunk_s, "griffin_lim_iters": iters}
    return rows, extra


def speech_in_noise(args: argparse.Namespace, rate: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(clean, noisy) of --seconds: validation utterances of --denoise-corpora in a seeded order, each mixed with
    validation noise at --snr as benchmarks/denoise.py mixes them (noise i % 3 from a seeded offset), joined."""
    utterances = held_out_utterances(args.data, args.split, rate, corpora=args.denoise_corpora)
    order = np.random.default_rng(args.seed).permutation(len(utterances))
    chosen, total = [], 0
    for i in order:
        chosen.append(utterances[i])
        total += utterances[i].wave.size
        if total >= args.seconds * rate:
            break
    noise_paths = noise_files(args.noise, args.split)
    noises = [load(path, sample_rate=rate, mono=True)[0] for path in noise_paths]
    mixtures = make_mixtures(chosen, noises, args.snr, rate, args.seed)
    n = round(args.seconds * rate)
    clean = np.concatenate([m.clean for m in mixtures])[:n].astype(np.float32)
    noisy = np.concatenate([m.noisy for m in mixtures])[:n].astype(np.float32)
    speakers = sorted({u.speaker for u in chosen})
    info = {"utterances": len(chosen), "speakers": len(speakers), "noises": [p.stem for p in noise_paths],
            "snr_db": args.snr, "corpora": args.denoise_corpora}  # fmt: skip
    return clean, noisy, info


def song_of_clips(args: argparse.Namespace, rate: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(vocals, mixture) of --seconds: the --music clips of --split in a seeded order, joined; mixture = vocals +
    accompaniment at the recorded balance (all three scaled down together if the peak passes 0.99)."""
    tracks = music_tracks(args.music, args.split)
    order = np.random.default_rng(args.seed).permutation(len(tracks))
    vocals, accompaniment, names = [], [], []
    for i in order:
        v, a = tracks[i].load(rate)
        vocals.append(v)
        accompaniment.append(a)
        names.append(tracks[i].name)
        if sum(x.size for x in vocals) >= args.seconds * rate:
            break
    n = round(args.seconds * rate)
    voice = np.concatenate(vocals)[:n].astype(np.float32)
    mixture = voice + np.concatenate(accompaniment)[:n].astype(np.float32)
    peak = float(np.abs(mixture).max())
    if peak > 0.99:
        voice, mixture = voice * np.float32(0.99 / peak), mixture * np.float32(0.99 / peak)
    singers = sorted({tracks[i].singer for i in order[: len(names)]})
    return voice, mixture, {"clips": len(names), "singers": singers}


def mask_model_rows(
    name: str,
    make: Any,
    pick: Any,
    reference: np.ndarray,
    mixture: np.ndarray,
    input_name: str,
    cfg: STFTConfig = CFG16,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of the input itself (`input_name`) and of `make(chunk_seconds)` (None: the pipeline's default chunking)
    run whole and chunked on `mixture`, `pick` taking the estimate of `reference` from the output; errors against
    `reference`."""
    rate = cfg.sample_rate
    audio_s = mixture.size / rate
    chunked, whole = make(None), make(audio_s + 1.0)
    joins = pipeline_joins(chunked, mixture.size, cfg)
    n_frames = num_frames(mixture.size, cfg)
    near = join_mask(n_frames, joins)
    loud = ~np.isnan(frame_errors(reference, reference, cfg))
    rows = [row(input_name, "none", frame_errors(reference, mixture, cfg), near, 1.0, audio_s)]
    rows[0].update(rtf_x=None, si_sdr_db=round(si_sdr(reference, mixture), 3))
    outputs = {}
    for label, pipeline in (("whole", whole), ("chunked", chunked)):
        pipeline(mixture[:rate], rate)  # warm-up, untimed
        out, t = timed(pipeline, mixture, rate)
        outputs[label] = estimate = np.asarray(pick(out), dtype=np.float32)
        rows.append(row(name, label, frame_errors(reference, estimate, cfg), near, t, audio_s))
        rows[-1].update(si_sdr_db=round(si_sdr(reference, estimate), 3))
    w, c = outputs["whole"], outputs["chunked"]
    rows[-1].update(diff_near_joins_db=round(difference_db(w, c, near & loud, cfg), 1),
                    diff_away_db=round(difference_db(w, c, ~near & loud, cfg), 1),
                    max_abs_diff=float(f"{np.abs(c - w).max():.3g}"))  # fmt: skip
    for r in rows:
        for column in MASK_COLUMNS:
            r.setdefault(column, None)
    runner = chunked.runner
    fps = runner.stft.frames_per_second
    info = {"seconds": round(audio_s, 1), "chunk_seconds": round(runner.chunk_frames / fps, 3),
            "context_seconds": round(runner.context_frames / fps, 3), "chunk_frames": runner.chunk_frames,
            "context_frames": runner.context_frames, "model_stft": runner.stft.to_dict(),
            "join_seconds": [round(j * cfg.hop_length / rate, 3) for j in joins]}  # fmt: skip
    print(f"  done {name}", flush=True)
    return rows, info


def maker(cls: type[Pipeline], path: Path, context_seconds: float | None = None) -> Any:
    """chunk_seconds -> the pipeline `cls` of the weights at `path`, chunked so (None: the pipeline's default), with
    `context_seconds` of context (None: the pipeline's default)."""
    context = {} if context_seconds is None else {"context_seconds": context_seconds}
    return lambda chunk: cls.from_checkpoint(path, **context, **({} if chunk is None else {"chunk_seconds": chunk}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the joined test signal")
    parser.add_argument("--chunk-seconds", type=float, default=8.0)
    parser.add_argument("--overlap-seconds", type=float, default=0.25, help="crossfade of the independent chunks")
    parser.add_argument("--griffin-lim-iters", type=int, default=64)
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=["reconstruct"], help="which systems to run")
    parser.add_argument("--noise", type=Path, help="noise folder for denoise (default: --data's sibling noise/)")
    parser.add_argument("--music", type=Path, help="MIR-1K folder for separate (default: --data's sibling music/)")
    parser.add_argument("--denoise-corpora", nargs="+", default=["librispeech", "gcompris"])
    parser.add_argument("--snr", type=float, default=5.0, help="dB, speech over noise, for denoise")
    parser.add_argument("--denoise-model", type=Path, help="denoiser weights (default: the shipped denoise-16k)")
    parser.add_argument("--separate-model", type=Path, help="separator weights (default: the shipped separate-16k)")
    parser.add_argument(
        "--mask-context-seconds", type=float, help="context of the denoise / separate chunks (default: the pipeline's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.noise = args.noise or args.data.parent / "noise"
    args.music = args.music or args.data.parent / "music"

    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"data": str(args.data), "split": args.split}
    if "reconstruct" in args.jobs:
        more, info = reconstruct_job(args)
        rows += more
        extra.update(info)
    if "denoise" in args.jobs:
        clean, noisy, data_info = speech_in_noise(args, CFG16.sample_rate)
        print(f"{clean.size / CFG16.sample_rate:.0f} s of {args.split} speech ({data_info['speakers']} speakers) "
              f"in {', '.join(data_info['noises'])} at {args.snr:g} dB", flush=True)  # fmt: skip
        path = args.denoise_model or pretrained_path(str(Denoiser.default_model))
        make = maker(Denoiser, path, args.mask_context_seconds)
        more, info = mask_model_rows(f"vqaudio-{path.stem}", make, lambda out: out, clean, noisy, "noisy")
        rows += more
        model = str(args.denoise_model or Denoiser.default_model)
        extra["denoise"] = {**data_info, **info, "noise": str(args.noise), "model": model}
    if "separate" in args.jobs:
        vocals, mixture, data_info = song_of_clips(args, CFG16.sample_rate)
        print(f"{mixture.size / CFG16.sample_rate:.0f} s of {args.split} music ({data_info['clips']} clips)")
        path = args.separate_model or pretrained_path(str(Separator.default_model))
        make = maker(Separator, path, args.mask_context_seconds)
        more, info = mask_model_rows(f"vqaudio-{path.stem}-vocals", make, lambda out: out["vocals"], vocals, mixture,
                                     "mixture")  # fmt: skip
        rows += more
        model = str(args.separate_model or Separator.default_model)
        extra["separate"] = {**data_info, **info, "music": str(args.music), "model": model}
    columns = COLUMNS if args.jobs == ["reconstruct"] else MASK_COLUMNS
    print(finish_report("chunk_seams", rows, columns, args.json, jobs=args.jobs, **extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
