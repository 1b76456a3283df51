"""Singing-voice separation benchmark: vqaudio separators vs the mixture and the oracle IRM, side by side.

What it measures. Each track of `--data` / `--split` (MIR-1K `val/`: 80 clips of singers Ani and annar, 16 kHz
stereo FLAC, left = accompaniment, right = voice; or any folder in the MUSDB18 stem-folder layout, through
`vqaudio.data.music_tracks`) is loaded as mono vocals and accompaniment at 16 kHz and mixed. Every system gets the
same mixtures and returns a vocals and an accompaniment estimate; each is scored with BSS eval against the true stem
(`vqaudio.metrics.separation_scores`: SDR, SIR, SAR, and NSDR = SDR(estimate) - SDR(mixture as the estimate)), and
the figures are the length-weighted means over clips (`global_scores`: GNSDR, GSIR, GSAR, GSDR, the MIR-1K
literature's figures). A clip the metrics cannot score (silent vocals, say) is counted in `skipped`, not hidden.

Conventions.
- Mixing level: by default the vocals are rescaled so that vocals and accompaniment have equal power (0 dB
  vocal-to-accompaniment ratio, as in Huang et al. 2014 and the MIR-1K papers after it), mixture = vocals +
  accompaniment. `--vocal-snr-db original` keeps the recorded balance; a number sets that ratio in dB. If the
  mixture's peak passes 0.99 the three signals are scaled down together (no metric changes; the input stays in
  [-1, 1] as a file would).
- `mixture`: the mixture itself as the estimate of both sources (NSDR 0 by definition; SDR and SIR say how hard the
  input is; its SAR, ~135 dB, only says the mixture lies exactly in the span of the true stems: ignore it).
  `oracle-irm`: the ideal ratio mask |V| / (|V| + |A|) (magnitudes, not powers) from the true stems, applied
  to the mixture's STFT (hann, 1024-point, hop 256 at 16 kHz) with the mixture's phase, vocals = mask,
  accompaniment = 1 - mask: the ceiling of magnitude masking. `vqaudio-reference` (`--reference PATH`): the
  reference VAE recipe's checkpoint. `vqaudio-<name>`: each `--model` (name = the file's stem, or its folder's name
  for a `best.safetensors`); with no `--model`, the shipped `separate-16k`, reported as missing if this build does
  not ship it.
- Speed: `rtf_x` = seconds of audio per second of compute on `--threads` torch threads, over the benchmark's 16 kHz
  mono mixtures (model load excluded, and one untimed 1 s warm-up call first). `rtf_x_44k_stereo`: the same figure
  on a `--speed-seconds` (30 s) 44.1 kHz stereo signal made from the mixtures (resampled; left = the clips in
  order, right = the same stream shifted by half its length, so the two sides hold different clips): what a user
  with a pop-music file gets.
- Per clip results (`clips` in the JSON: system, clip, singer, seconds, sdr/sir/sar/nsdr per source) allow box
  plots; per-singer GNSDR/GSIR/GSAR (MIR-1K clip `<singer>_<n>_<m>`: singer = the part before the first underscore;
  otherwise the track name) for our models and the oracle are printed and saved (`singers`), so that one voice
  cannot hide another.

    python benchmarks/separate.py --data ../shared/data/music/mir1k --split val --threads 1 --json OUT.json \\
        [--model PATH ...] [--reference PATH] [--max-clips N] [--vocal-snr-db 0|original|X]

Published anchors (vocal GNSDR on MIR-1K at 0 dB; published, not measured here): 7.45 dB, deep recurrent networks
(Huang et al. 2014); 10.51 dB, stacked hourglass networks (Park et al. 2018).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vqaudio.assets import pretrained_names
from vqaudio.audio import STFTConfig, istft, resample, stft
from vqaudio.data import MusicTrack, music_tracks, singer_of
from vqaudio.evaluation import finish_report, machine_description, markdown_table
from vqaudio.metrics import MetricError, global_scores, separation_scores
from vqaudio.pipelines import Separator

SAMPLE_RATE = 16000
SPEED_RATE = 44100
SOURCES = ("vocals", "accompaniment")
SHIPPED = "separate-16k"
PEAK = 0.99
IRM_STFT = STFTConfig(sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=256)
IRM_MASK = "|V| / (|V| + |A|)"
FIGURES = ("gnsdr", "gsir", "gsar", "gsdr")
METRICS = ("sdr", "sir", "sar", "nsdr")
COLUMNS = [
    "system",
    "gnsdr_vocals",
    "gsir_vocals",
    "gsar_vocals",
    "gnsdr_accompaniment",
    "gsir_accompaniment",
    "gsar_accompaniment",
    "clips",
    "skipped",
    "rtf_x",
    "rtf_x_44k_stereo",
]
SINGER_COLUMNS = ["system", "singer", "clips", "gnsdr_vocals", "gsir_vocals", "gsar_vocals", "gnsdr_accompaniment"]
PUBLISHED = [
    {"system": "deep recurrent networks (Huang et al. 2014)", "gnsdr_vocals": 7.45},
    {"system": "stacked hourglass networks (Park et al. 2018)", "gnsdr_vocals": 10.51},
]

# (wave (T,) or (C, T), sample_rate) -> {"vocals": same shape, "accompaniment": same shape}
SeparatorLike = Callable[[np.ndarray, int], dict[str, np.ndarray]]


# ------------------------------------------------------------------------------------------------ mixtures


@dataclass
class Mixture:
    name: str
    singer: str
    vocals: np.ndarray  # (T,) float32, as mixed in
    accompaniment: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        return self.vocals + self.accompaniment

    @property
    def references(self) -> np.ndarray:
        return np.stack([self.vocals, self.accompaniment])

    @property
    def samples(self) -> int:
        return int(self.vocals.size)


def spread(items: Sequence[Any], count: int | None) -> list[Any]:
    """`count` items spread evenly over `items` (first and last included), so every singer of a sorted list stays."""
    items = list(items)
    if count is None or count >= len(items):
        return items
    if count <= 0:
        return []
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, count)).astype(int))
    return [items[i] for i in picks]


def parse_vocal_snr(text: str) -> float | None:
    """'original' -> None (keep the recorded balance); a number -> that vocal-to-accompaniment ratio in dB."""
    if text.strip().lower() == "original":
        return None
    try:
        return float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--vocal-snr-db: expected a number of dB or 'original', got {text!r}"
        ) from err


def mix(name: str, vocals: np.ndarray, accompaniment: np.ndarray, vocal_snr_db: float | None) -> Mixture:
    """Vocals rescaled to `vocal_snr_db` dB above the accompaniment's power (None: as recorded), summed; all three
    scaled down together if the mixture's peak passes PEAK. A silent stem is left as it is (scoring skips it)."""
    n = min(vocals.size, accompaniment.size)
    v = np.asarray(vocals[:n], dtype=np.float64)
    a = np.asarray(accompaniment[:n], dtype=np.float64)
    if vocal_snr_db is not None:
        p_v, p_a = float(np.mean(v**2)), float(np.mean(a**2))
        if p_v > 0 and p_a > 0:
            v = v * np.sqrt(p_a / p_v * 10.0 ** (vocal_snr_db / 10.0))
    peak = float(np.max(np.abs(v + a))) if n else 0.0
    if peak > PEAK:
        v, a = v * (PEAK / peak), a * (PEAK / peak)
    return Mixture(name, singer_of(name), v.astype(np.float32), a.astype(np.float32))


def make_mixtures(tracks: Sequence[MusicTrack], vocal_snr_db: float | None, progress: bool) -> list[Mixture]:
    out = []
    for track in tqdm(tracks, desc="loading", unit="clip", disable=None if progress else True, leave=False):
        vocals, accompaniment = track.load(SAMPLE_RATE, mono=True)
        out.append(mix(track.name, np.asarray(vocals), np.asarray(accompaniment), vocal_snr_db))
    return out


def speed_signal(mixtures: Sequence[Mixture], seconds: float) -> np.ndarray:
    """(2, seconds * 44100) float32: the mixtures in order (repeated as needed) on the left, the same stream shifted
    by half its length on the right (so each side plays a different clip), resampled 16 kHz -> 44.1 kHz."""
    stream = np.concatenate([m.mixture for m in mixtures])
    need = int(np.ceil(seconds * SAMPLE_RATE)) + 1
    if stream.size < need:
        stream = np.tile(stream, -(-need // stream.size))
    right = np.roll(stream, stream.size // 2)
    stereo = resample(np.stack([stream[:need], right[:need]]), SAMPLE_RATE, SPEED_RATE)
    return np.ascontiguousarray(stereo[:, : round(seconds * SPEED_RATE)])


# ------------------------------------------------------------------------------------------------- systems


def oracle_irm(mixture: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray) -> dict[str, np.ndarray]:
    """Ideal ratio mask |V| / (|V| + |A|) from the true stems, on the mixture's STFT with the mixture's phase."""
    signals = torch.from_numpy(np.stack([mixture, vocals, accompaniment]).astype(np.float64))
    spec = stft(signals, IRM_STFT)
    mag_v, mag_a = spec[1].abs(), spec[2].abs()
    mask = mag_v / (mag_v + mag_a).clamp_min(torch.finfo(torch.float64).tiny)
    both = torch.stack([spec[0] * mask, spec[0] * (1.0 - mask)])
    out = istft(both, IRM_STFT, length=mixture.size).numpy().astype(np.float32)
    return {"vocals": out[0], "accompaniment": out[1]}


def model_name(path: Path) -> str:
    return f"vqaudio-{path.parent.name if path.stem == 'best' else path.stem}"


def load_systems(
    models: Sequence[Path] | None, reference: Path | None, mask_powers: Sequence[float] = ()
) -> tuple[dict[str, SeparatorLike | str], dict[str, dict[str, Any]]]:
    """Model systems by name: a loaded separator, or the reason it is missing; and what each was loaded from."""
    out: dict[str, SeparatorLike | str] = {}
    info: dict[str, dict[str, Any]] = {}

    def add(name: str, separator: Any, source: str) -> None:
        out[name] = separator
        info[name] = {"from": source, "sample_rate": getattr(separator, "sample_rate", None)}

    if reference is not None:
        add("vqaudio-reference", Separator.from_checkpoint(reference), str(reference))
    for path in models or []:
        add(model_name(path), Separator.from_checkpoint(path), str(path))
        for power in mask_powers:  # the same weights with sharpened masks (Separator.mask_power)
            add(f"{model_name(path)}-p{power:g}", Separator.from_checkpoint(path, mask_power=power), str(path))
    if not models:
        shipped = pretrained_names()
        if SHIPPED in shipped:
            add(f"vqaudio-{SHIPPED}", Separator.from_pretrained(), f"shipped {SHIPPED}")
        else:
            out[f"vqaudio-{SHIPPED}"] = (
                f"not shipped in this build (vqaudio.assets ships: {', '.join(shipped) or 'nothing'}); "
                "pass --model PATH"
            )
    return out, info


def _estimates(name: str, output: Any, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(output, dict) or any(s not in output for s in SOURCES):
        got = sorted(output) if isinstance(output, dict) else type(output).__name__
        raise RuntimeError(f"{name} returned {got}; expected a dict with keys {list(SOURCES)}")
    arrays = [np.asarray(output[s], dtype=np.float32) for s in SOURCES]
    for source, array in zip(SOURCES, arrays, strict=True):
        if array.shape != shape:
            raise RuntimeError(f"{name} returned {source} of shape {array.shape} for an input of shape {shape}")
    return np.stack(arrays)


def warm_up(separator: SeparatorLike, mixtures: Sequence[Mixture]) -> None:
    """One untimed call on 1 s, so lazy set-up (first-call allocations, kernels) is not billed to the first clip."""
    separator(mixtures[0].mixture[:SAMPLE_RATE], SAMPLE_RATE)


def time_stereo(name: str, separator: SeparatorLike, signal: np.ndarray) -> float:
    """Seconds of 44.1 kHz stereo audio per second of compute."""
    separator(signal[:, :SPEED_RATE], SPEED_RATE)  # warm-up at this rate and channel count, untimed
    start = time.perf_counter()
    output = separator(signal, SPEED_RATE)
    compute = time.perf_counter() - start
    _estimates(name, output, signal.shape)
    return round(signal.shape[-1] / SPEED_RATE / compute, 1) if compute > 0 else float("inf")


# ------------------------------------------------------------------------------------------------- scoring


@dataclass
class ClipResult:
    mixture: Mixture
    scores: dict[str, dict[str, float]] | None  # None: the metrics could not score this clip
    reason: str | None
    compute_s: float


def run(name: str, system: SeparatorLike | None, mixtures: Sequence[Mixture], progress: bool) -> list[ClipResult]:
    """Each mixture through one system (None: `mixture`; `oracle-irm` gets the true stems), scored."""
    out = []
    for mixture in tqdm(mixtures, desc=name, unit="clip", disable=None if progress else True, leave=False):
        wave = mixture.mixture
        start = time.perf_counter()
        if system is None:
            estimates = np.stack([wave, wave])
        elif name == "oracle-irm":
            output = oracle_irm(wave, mixture.vocals, mixture.accompaniment)
            estimates = _estimates(name, output, wave.shape)
        else:
            output = system(wave, SAMPLE_RATE)
            estimates = _estimates(name, output, wave.shape)
        compute = time.perf_counter() - start
        try:
            scores = separation_scores(mixture.references, estimates, wave, names=SOURCES)
            reason = None
        except MetricError as err:
            scores, reason = None, str(err)
        out.append(ClipResult(mixture, scores, reason, compute))
    return out


def figures(results: Sequence[ClipResult]) -> dict[str, float | None]:
    """GNSDR/GSIR/GSAR/GSDR per source (length-weighted means) over the scorable clips; None where none is."""
    scored = [(r.mixture.samples, r.scores) for r in results if r.scores is not None]
    keys = [f"{f}_{s}" for s in SOURCES for f in FIGURES]
    if not scored:
        return dict.fromkeys(keys)
    values = global_scores(scored)
    return {k: round(float(values[k]), 3) if values.get(k) is not None else None for k in keys}


def summarise(name: str, results: Sequence[ClipResult], timed: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"system": name, **figures(results)}
    row["clips"] = sum(r.scores is not None for r in results)
    row["skipped"] = sum(r.scores is None for r in results)
    compute = sum(r.compute_s for r in results)
    audio = sum(r.mixture.samples for r in results) / SAMPLE_RATE
    row["rtf_x"] = round(audio / compute, 1) if timed and compute > 0 else None
    return row


def clip_rows(name: str, results: Sequence[ClipResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        row: dict[str, Any] = {
            "system": name,
            "clip": r.mixture.name,
            "singer": r.mixture.singer,
            "seconds": round(r.mixture.samples / SAMPLE_RATE, 3),
        }
        if r.scores is None:
            row["skipped"] = r.reason
        else:
            for source in SOURCES:
                for metric in METRICS:
                    value = r.scores[source].get(metric)
                    row[f"{metric}_{source}"] = None if value is None else round(float(value), 3)
        out.append(row)
    return out


def singer_rows(name: str, results: Sequence[ClipResult]) -> list[dict[str, Any]]:
    out = []
    for singer in sorted({r.mixture.singer for r in results}):
        group = [r for r in results if r.mixture.singer == singer]
        scored = sum(r.scores is not None for r in group)
        out.append({"system": name, "singer": singer, "clips": scored, **figures(group)})
    return out


# ------------------------------------------------------------------------------------------------- command


def caption(args: argparse.Namespace, mixtures: Sequence[Mixture], vocal_snr_db: float | None) -> str:
    seconds = sum(m.samples for m in mixtures) / SAMPLE_RATE
    level = (
        "at the recorded vocal/accompaniment balance"
        if vocal_snr_db is None
        else f"at {vocal_snr_db:g} dB vocal-to-accompaniment ratio"
        + (" (equal power, the MIR-1K convention of Huang et al. 2014)" if vocal_snr_db == 0 else "")
    )
    return (
        f"Singing-voice separation, {args.data} ({args.split}): {len(mixtures)} clips, {seconds:.0f} s, "
        f"mono 16 kHz mixtures {level}; BSS eval, length-weighted means (dB).\n"
        f"{date.today().isoformat()}, {machine_description()}, {args.threads} thread(s); "
        f"oracle-irm mask {IRM_MASK}, {IRM_STFT.n_fft}-point STFT, hop {IRM_STFT.hop_length}; "
        f"rtf_x_44k_stereo on {args.speed_seconds:g} s of 44.1 kHz stereo."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="MIR-1K root (train/, val/) or a MUSDB18 stem folder")
    parser.add_argument("--split", default="val", help="split of --data to score (default: val)")
    parser.add_argument("--model", action="append", type=Path, help="separator weights (repeatable)")
    parser.add_argument("--reference", type=Path, help="the reference VAE recipe's checkpoint (vqaudio-reference)")
    parser.add_argument(
        "--mask-power",
        type=float,
        nargs="+",
        default=[],
        metavar="P",
        help="also run each --model with its masks sharpened to this power (rows NAME-pP; Separator.mask_power)",
    )
    parser.add_argument("--vocal-snr-db", default="0", type=parse_vocal_snr,
                        help="vocal-to-accompaniment ratio in dB, or 'original' (default: 0)")  # fmt: skip
    parser.add_argument("--max-clips", type=int, help="at most N clips, spread evenly over the sorted list")
    parser.add_argument("--speed-seconds", type=float, default=30.0, help="44.1 kHz stereo speed test length (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true", help="no progress bars or notes; the tables only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    progress = not args.quiet
    vocal_snr_db = args.vocal_snr_db

    tracks = spread(sorted(music_tracks(args.data, args.split), key=lambda t: t.name), args.max_clips)
    if not tracks:
        raise SystemExit(f"separate: no tracks in {args.data} (split {args.split!r})")
    mixtures = make_mixtures(tracks, vocal_snr_db, progress)
    layouts = sorted({str(t.layout) for t in tracks})
    models, model_info = load_systems(args.model, args.reference, args.mask_power)
    missing = {name: reason for name, reason in models.items() if isinstance(reason, str)}
    if progress:
        for name, reason in missing.items():
            print(f"note: {name} is missing: {reason}", flush=True)

    table: dict[str, SeparatorLike | str | None] = {"mixture": None, "oracle-irm": oracle_irm, **models}  # type: ignore[dict-item]
    timed = args.speed_seconds > 0 and any(callable(s) for s in models.values())  # 0: no 44.1 kHz stereo timing
    stereo = speed_signal(mixtures, args.speed_seconds) if timed else None
    rows: list[dict[str, Any]] = []
    clips: list[dict[str, Any]] = []
    singers: list[dict[str, Any]] = []
    for name, system in table.items():
        if isinstance(system, str):
            rows.append({"system": name, "missing": system})
            continue
        is_model = name in models
        if is_model:
            warm_up(system, mixtures)  # type: ignore[arg-type]
        results = run(name, system if name != "mixture" else None, mixtures, progress)  # type: ignore[arg-type]
        row = summarise(name, results, timed=name != "mixture")
        row["rtf_x_44k_stereo"] = time_stereo(name, system, stereo) if is_model and stereo is not None else None  # type: ignore[arg-type]
        rows.append(row)
        clips.extend(clip_rows(name, results))
        if name != "mixture":
            singers.extend(singer_rows(name, results))
        if progress:
            print(f"  done {name}", flush=True)

    columns = COLUMNS + (["missing"] if missing else [])
    skipped = {r["system"]: r["skipped"] for r in rows if r.get("skipped")}
    print(caption(args, mixtures, vocal_snr_db))
    print(finish_report(
        "separate", rows, columns, args.json, data=str(args.data), split=args.split, layouts=layouts,
        sample_rate=SAMPLE_RATE, n_clips=len(mixtures),
        seconds=round(sum(m.samples for m in mixtures) / SAMPLE_RATE, 1),
        vocal_snr_db="original" if vocal_snr_db is None else vocal_snr_db, threads=args.threads,
        oracle_irm={"mask": IRM_MASK, "stft": IRM_STFT.to_dict(), "phase": "mixture"},
        speed_signal={"sample_rate": SPEED_RATE, "channels": 2, "seconds": args.speed_seconds},
        models=model_info, missing=missing, skipped=skipped, published_not_measured_here=PUBLISHED,
        singers=singers, clips=clips,
    ))  # fmt: skip
    print("\npublished, not measured here (vocal GNSDR, MIR-1K, 0 dB mixtures): "
          + "; ".join(f"{p['gnsdr_vocals']:.2f} dB {p['system']}" for p in PUBLISHED))  # fmt: skip
    if singers:
        print("\nper singer (length-weighted means over that singer's clips):")
        print(markdown_table(singers, SINGER_COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
