"""Denoising benchmark: vqaudio denoisers vs noisereduce, RNNoise, DeepFilterNet 3 and the oracle IRM, side by side.

Validation speech of `--speech` (joined per speaker into ~4 s utterances) mixed with validation noise of `--noise`
(README split: city, rain, wind) at each `--snr` (dB, active speech level against the noise's mean power), the
noise file and offset fixed by the utterance's index and `--seed`, at `--rate` (8000: PESQ-NB; 16000: PESQ-WB and
PESQ-NB on the same signals). Every system gets the same mixtures; scores are means over utterances of PESQ,
STOI, SI-SDR (dB) and NSR (dB: residual error power over clean speech power, the reference's figure, lower is
better), and speed on `--threads` CPU threads (seconds of audio per second of compute, model load excluded).
Rows: `noisy` (no processing), the baselines (a missing one is listed as missing with the reason), `oracle-irm`
(ideal ratio mask from the true speech and noise: the ceiling of magnitude masking) and each `--model`
(default: the shipped denoise-16k); `--no-baselines` leaves the baselines out, to compare models quickly.

Every real-noise row carries per-speaker means in the JSON (`per_speaker`: {speaker: {metric: mean, utterances}}),
and `--per-speaker SYSTEM ...` prints them side by side for those systems at each SNR, so that one voice cannot hide
another.

`--gaussian-snr X` adds the reference's own setting: white Gaussian noise at X dB (8 kHz only), and
`--gaussian-sweep` prints the noisy STOI at a range of SNRs, to find where the noisy input scores a given STOI.
`--pink-snr X` adds pink (1/f) noise at X dB, as `make demo` mixes it: stationary and coloured, a kind of noise that
none of the recordings is, so a model that has learnt its training noises rather than noise shows it here
(a model trained with `data.coloured_noise_prob` has met noise of this kind: white to brown).

    python benchmarks/denoise.py --speech ../shared/data/speech --noise ../shared/data/noise --rate 16000 \
        --corpora librispeech gcompris speech_commands --json OUT.json [--model PATH ...] [--snr 0 5 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `denoise_baselines` lives beside this script

from denoise_baselines import available_baselines, oracle_irm
from vqaudio.assets import pretrained_names, pretrained_path
from vqaudio.audio import load
from vqaudio.data import join_utterances, noise_files, snr_gain, speech_files
from vqaudio.demo import pink_noise
from vqaudio.evaluation import breakdown_table, finish_report
from vqaudio.metrics import MetricError, evaluate_pair
from vqaudio.pipelines import Denoiser

COLUMNS = ["system", "snr_db", "noise", "pesq_wb", "pesq_nb", "stoi", "si_sdr", "nsr", "rtf_x", "utterances"]
System = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class Mixture:
    name: str
    clean: np.ndarray
    noise: np.ndarray  # as mixed in (scaled to the SNR)

    @property
    def noisy(self) -> np.ndarray:
        return self.clean + self.noise


def make_mixtures(
    utterances: Sequence[Any], noises: Sequence[np.ndarray], snr_db: float, rate: int, seed: int
) -> list[Mixture]:
    """Each utterance (DC removed: some LibriSpeech files carry an offset larger than their speech) with noise
    recording i % len(noises) from a seeded offset, at `snr_db`; scaled down together if the peak passes 0.95."""
    out = []
    for i, utt in enumerate(utterances):
        clean = (utt.wave - utt.wave.mean()).astype(np.float32)
        rng = np.random.default_rng([seed, i])
        noise = noises[i % len(noises)]
        n = utt.wave.size
        if noise.size < n:
            noise = np.tile(noise, -(-n // noise.size))
        start = int(rng.integers(0, noise.size - n + 1))
        segment = noise[start : start + n].astype(np.float32)
        segment = segment * np.float32(snr_gain(clean, segment, snr_db, rate))
        peak = float(np.max(np.abs(clean + segment)))
        scale = np.float32(0.95 / peak) if peak > 0.95 else np.float32(1.0)
        out.append(Mixture(utt.name, clean * scale, segment * scale))
    return out


def gaussian_mixtures(utterances: Sequence[Any], snr_db: float, rate: int, seed: int) -> list[Mixture]:
    out = []
    for i, utt in enumerate(utterances):
        clean = (utt.wave - utt.wave.mean()).astype(np.float32)
        noise = np.random.default_rng([seed, i, 1]).standard_normal(clean.size).astype(np.float32)
        out.append(Mixture(utt.name, clean, noise * np.float32(snr_gain(clean, noise, snr_db, rate))))
    return out


def pink_mixtures(utterances: Sequence[Any], snr_db: float, rate: int, seed: int) -> list[Mixture]:
    """Each utterance with pink noise (its own seed per utterance) at `snr_db`."""
    out = []
    for i, utt in enumerate(utterances):
        clean = (utt.wave - utt.wave.mean()).astype(np.float32)
        noise = pink_noise(clean.size, seed=seed * 100_003 + i)
        out.append(Mixture(utt.name, clean, noise * np.float32(snr_gain(clean, noise, snr_db, rate))))
    return out


@dataclass
class Scored:
    """One mixture through one system: its metric values (None if unscorable) and the time it took."""

    scores: dict[str, float] | None
    compute_s: float
    audio_s: float


def run(name: str, system: System | None, mixtures: Sequence[Mixture], rate: int, metrics: tuple[str, ...]) -> list:
    """Each mixture through `system` (None: the noisy input itself; oracle-irm also gets the true sources), scored."""
    out = []
    for mix in mixtures:
        noisy = mix.noisy
        prepare = getattr(system, "prepare", None)
        if callable(prepare):
            prepare()  # DeepFilterNet 3 makes its fresh per-signal state here, outside the timing (~0.4 s)
        start = time.perf_counter()
        if system is None:
            estimate = noisy
        elif name == "oracle-irm":
            estimate = oracle_irm(noisy, rate, mix.clean, mix.noise)
        else:
            estimate = system(noisy, rate)
        compute = time.perf_counter() - start
        estimate = np.asarray(estimate, dtype=np.float32)
        if estimate.shape != noisy.shape:
            raise RuntimeError(f"{name} returned shape {estimate.shape} for an input of shape {noisy.shape}")
        try:
            scores = {k: float(v) for k, v in evaluate_pair(mix.clean, estimate, rate, metrics=metrics).items()}
        except MetricError:
            scores = None  # counted below, not hidden
        out.append(Scored(scores, compute, noisy.size / rate))
    return out


def summarise(name: str, results: Sequence[Scored], metrics: tuple[str, ...], timed: bool) -> dict[str, Any]:
    """Means over the scorable mixtures, speed as seconds of audio per second of compute."""
    scored = [r.scores for r in results if r.scores is not None]
    row: dict[str, Any] = {"system": name}
    for metric in metrics:
        row[metric] = round(float(np.mean([s[metric] for s in scored])), 4) if scored else None
    compute = sum(r.compute_s for r in results)
    row["rtf_x"] = round(sum(r.audio_s for r in results) / compute, 1) if timed and compute > 0 else None
    row["utterances"] = len(scored)
    return row


def by_speaker(results: Sequence[Scored], speakers: Sequence[str], metrics: tuple[str, ...]) -> dict[str, Any]:
    """{speaker: {metric: mean, "utterances": n}} over the scorable mixtures; `speakers[i]` is mixture i's."""
    out: dict[str, Any] = {}
    for speaker in sorted(set(speakers)):
        scored = [r.scores for r, s in zip(results, speakers, strict=True) if s == speaker and r.scores is not None]
        if scored:
            out[speaker] = {m: round(float(np.mean([s[m] for s in scored])), 4) for m in metrics}
            out[speaker]["utterances"] = len(scored)
    return out


def speaker_table(rows: Sequence[dict[str, Any]], systems: Sequence[str], snr: float, pesq: str) -> str:
    """Markdown: one line per speaker, PESQ / STOI / SI-SDR of each of `systems` at `snr` (real noise)."""
    at_snr = [r for r in rows if r["snr_db"] == snr and r["noise"] == "real"]
    return breakdown_table(
        at_snr, systems, "per_speaker", lambda v: f"{v[pesq]:.2f} / {v['stoi']:.3f} / {v['si_sdr']:.2f}"
    )


def score(name: str, system: System | None, mixtures: Sequence[Mixture], rate: int, metrics: tuple[str, ...]) -> dict:
    """The row of one system over the mixtures."""
    return summarise(name, run(name, system, mixtures, rate, metrics), metrics, system is not None)


def systems(
    models: Sequence[Path], baselines: bool = True, max_attenuations: Sequence[float] = ()
) -> tuple[dict[str, System | str | None], dict[str, str]]:
    """(name -> callable, None for the noisy row, or a reason string for a missing baseline; model paths).

    Each of `max_attenuations` adds a row per model: the same weights, no bin turned down by more than that
    (Denoiser.max_attenuation_db), named NAME-aDB.
    """
    out: dict[str, System | str | None] = {"noisy": None}
    for name, baseline in (available_baselines() if baselines else {}).items():
        out[name] = baseline
    out["oracle-irm"] = oracle_irm  # type: ignore[assignment]
    paths = {}
    for path in models:
        name = f"vqaudio-{path.stem if path.stem != 'best' else path.parent.name}"
        denoiser = Denoiser.from_checkpoint(path)
        out[name] = denoiser  # type: ignore[assignment]
        paths[name] = str(path)
        for limit in max_attenuations:
            out[f"{name}-a{limit:g}"] = Denoiser(denoiser.model, max_attenuation_db=limit)  # type: ignore[assignment]
            paths[f"{name}-a{limit:g}"] = str(path)
    return out, paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--noise", required=True, type=Path, help="folder of noise recordings")
    parser.add_argument("--corpora", nargs="*", help="corpora of a speech root (default: FSDD + Asterisk)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--rate", type=int, default=16000, choices=[8000, 16000])
    parser.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    parser.add_argument("--max-utterances", type=int, default=30)
    parser.add_argument("--model", action="append", type=Path, help="denoiser weights (repeatable)")
    parser.add_argument("--gaussian-snr", type=float, help="also score white Gaussian noise at this SNR (8 kHz)")
    parser.add_argument("--gaussian-sweep", action="store_true", help="print noisy STOI over SNRs, Gaussian noise")
    parser.add_argument("--pink-snr", type=float, help="also score pink (1/f) noise at this SNR (as make demo mixes)")
    parser.add_argument("--per-noise", action="store_true", help="also a row per noise recording and system")
    parser.add_argument(
        "--per-speaker",
        nargs="+",
        default=[],
        metavar="SYSTEM",
        help="print PESQ / STOI / SI-SDR per speaker for these systems at each SNR (e.g. rnnoise vqaudio-denoise-16k)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--no-baselines", action="store_true", help="only noisy, oracle-irm and the models (to compare models quickly)"
    )
    parser.add_argument(
        "--max-attenuation-db",
        type=float,
        nargs="+",
        default=[],
        help="also run each --model turning no bin down by more than this many dB (rows NAME-aDB)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rate = args.rate

    corpora = args.corpora or None
    files = speech_files(args.speech, args.split, corpora=corpora) if corpora else speech_files(args.speech, args.split)
    utterances = join_utterances(files, rate, max_utterances=args.max_utterances)
    seconds = sum(u.wave.size for u in utterances) / rate
    speakers = sorted({u.speaker for u in utterances})
    noise_paths = noise_files(args.noise, args.split)
    noises = [load(p, sample_rate=rate, mono=True)[0] for p in noise_paths]
    print(f"{len(utterances)} utterances ({seconds:.0f} s, {len(speakers)} speakers) at {rate} Hz; "
          f"noise: {', '.join(p.stem for p in noise_paths)}", flush=True)  # fmt: skip
    metrics = ("pesq_wb", "pesq_nb", "stoi", "si_sdr", "nsr") if rate >= 16000 else ("pesq_nb", "stoi", "si_sdr", "nsr")
    models = args.model or [pretrained_path(n) for n in pretrained_names() if n.startswith("denoise-")]
    table, model_paths = systems(models, baselines=not args.no_baselines, max_attenuations=args.max_attenuation_db)
    missing = {name: reason for name, reason in table.items() if isinstance(reason, str)}
    for name, reason in missing.items():
        print(f"note: {name} is missing: {reason}", flush=True)

    rows: list[dict[str, Any]] = []
    settings = [(snr, "real", make_mixtures(utterances, noises, snr, rate, args.seed)) for snr in args.snr]
    if args.gaussian_snr is not None:
        settings.append(
            (args.gaussian_snr, "gaussian", gaussian_mixtures(utterances, args.gaussian_snr, rate, args.seed))
        )
    if args.pink_snr is not None:
        settings.append((args.pink_snr, "pink", pink_mixtures(utterances, args.pink_snr, rate, args.seed)))
    for snr, kind, mixtures in settings:
        for name, system in table.items():
            if isinstance(system, str):
                rows.append({"system": name, "snr_db": snr, "noise": kind, "missing": system})
                continue
            results = run(name, system, mixtures, rate, metrics)
            row = {**summarise(name, results, metrics, system is not None), "snr_db": snr, "noise": kind}
            if kind == "real":
                row["per_speaker"] = by_speaker(results, [u.speaker for u in utterances], metrics)
            rows.append(row)
            if args.per_noise and kind == "real":  # the same outputs, grouped by noise recording
                for k, path in enumerate(noise_paths):
                    subset = [r for i, r in enumerate(results) if i % len(noise_paths) == k]
                    row = summarise(name, subset, metrics, system is not None)
                    rows.append({**row, "snr_db": snr, "noise": path.stem})
            print(f"  done {name} at {snr:g} dB ({kind})", flush=True)

    pesq = "pesq_wb" if rate >= 16000 else "pesq_nb"
    for snr in args.snr if args.per_speaker else ():
        table = speaker_table(rows, args.per_speaker, snr, pesq)
        title = f"per speaker at {snr:g} dB ({pesq.replace('_', '-').upper()} / STOI / SI-SDR dB)"
        print(f"\n{title}:\n{table or 'no rows'}")
    sweep = {}
    if args.gaussian_sweep:
        for snr in (-20, -15, -10, -5, 0, 5):
            row = score("noisy", None, gaussian_mixtures(utterances, snr, rate, args.seed), rate, ("stoi",))
            sweep[snr] = row["stoi"]
        print("noisy STOI with white Gaussian noise: " + ", ".join(f"{k} dB: {v:.3f}" for k, v in sweep.items()))
    print(finish_report("denoise", rows, COLUMNS, args.json, speech=str(args.speech), noise=str(args.noise),
                        corpora=corpora, split=args.split, rate=rate, seconds=round(seconds, 1), speakers=speakers,
                        noises=[p.stem for p in noise_paths], models=model_paths, missing=missing,
                        gaussian_stoi_sweep=sweep, threads=args.threads))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
