"""Codec benchmark: every rung of the vqaudio Codec's bitrate ladder vs the real Codec 2 and Opus tools.

All systems are scored the same way on the same ~4 s utterances (8 kHz): PESQ-NB, STOI and log-spectral
distance, beside the *measured* bitrate (bits actually written / audio duration). Delay: each baseline's output
is shifted by its known lag (`CodedAudio.expected_delay_samples`) before scoring; waveforms are not
cross-correlated, because Codec 2 synthesises its own phase and cross-correlation misjudges its lag.
vqaudio adds no delay (decode restores the input's exact length and timing).

Speed: vqaudio's encode and decode are timed separately on `--threads` torch threads (`encode_rtf_x`,
`decode_rtf_x`: seconds of audio per second of compute, summed over utterances). A baseline's
`roundtrip_rtf_x` is the wall time of the whole baselines.py call: two tool processes (encoder, decoder)
plus their temp-file I/O, so it includes process start-up and is not comparable to the vqaudio figures.

The decoder postfilter (`sharpen_db`) is a decode-side choice: `--postfilter 0 0.15` scores every rung with
each amount (rows named vqaudio-RATE for the default amount, vqaudio-RATE-pfX for the others).
`--no-baselines` leaves out Codec 2 and Opus (for tuning runs on the train split).

`--true-phase` adds a diagnostic row per rung, `vqaudio-RATE-truephase`: the decoded magnitude with the *input's*
STFT phase instead of Griffin-Lim's (the decoder never has that phase). The gap to the plain row is what phase
reconstruction costs; the row itself is not a codec.

`--rate 16000` scores a wideband model on 16 kHz utterances with PESQ-WB, beside Opus at 6, 9 and 12 kbit/s (no Codec 2
mode codes 16 kHz); the default, 8000, is narrowband as above.

`--phase griffin-lim auto` scores every rung with each phase (pipelines.phase): Griffin-Lim alone (rows
vqaudio-RATE-gl) and the shipped learned phase refined by Griffin-Lim (vqaudio-RATE); the first choice gets the plain
row names. `--corpora all` scores every corpus of the speech root (16 kHz ones resampled to 8 kHz), not only FSDD
and Asterisk. Every row carries per-speaker and per-corpus means in the JSON (`per_speaker`, `per_corpus`), and
the printed report adds a table per speaker and per corpus (PESQ-NB / STOI) for the systems of `--by-speaker`.

    python benchmarks/codec.py --data ../shared/data/speech --split val --json OUT.json \
        [--model PATH] [--max-utterances 40] [--threads 1] [--postfilter 0 0.15]   # default: shipped codec of --rate
        [--corpora all] [--phase auto griffin-lim] [--by-speaker vqaudio-1125 codec2-3200 opus-6000]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `baselines` lives beside this script

from baselines import CodedAudio, codec2_code, has_codec2, has_opus, opus_code
from vqaudio.audio import stft
from vqaudio.bitstream import read_vqa
from vqaudio.data import Utterance
from vqaudio.evaluation import breakdown_table, finish_report, held_out_utterances
from vqaudio.metrics import MetricError, evaluate_pair
from vqaudio.pipelines.ceiling import TrueMagnitudeGriffinLim
from vqaudio.pipelines.codec import DEFAULT_POSTFILTER, Codec, bitrate_of
from vqaudio.pipelines.phase import GRIFFIN_LIM

SAMPLE_RATE = 8000
METRICS = ("pesq_nb", "stoi", "lsd")
CODEC2_MODES = ("3200", "2400", "1200", "700C")
OPUS_BITRATES = (6000, 8000)


@dataclass(frozen=True)
class Band:
    """What a sample rate is scored with: the utterances' rate, the PESQ mode, and the baselines that code it."""

    rate: int
    metrics: tuple[str, ...]
    codec2_modes: tuple[str, ...]  # Codec 2 codes 8 kHz speech only
    opus_bitrates: tuple[int, ...]
    shipped_model: str | None  # the shipped codec for this rate (None: Codec.default())

    @property
    def pesq(self) -> str:
        return self.metrics[0]

    @property
    def columns(self) -> list[str]:
        return ["system", "postfilter", "bitrate", "bitrate_with_header", *self.metrics, "encode_rtf_x",
                "decode_rtf_x", "roundtrip_rtf_x", "utterances"]  # fmt: skip


NARROW = Band(SAMPLE_RATE, METRICS, CODEC2_MODES, OPUS_BITRATES, None)
# Wideband: PESQ-WB, and Opus where issue 16 sets the wideband goal (6, 9, 12 kbit/s); no Codec 2 mode codes 16 kHz.
WIDE = Band(16000, ("pesq_wb", "stoi", "lsd"), (), (6000, 9000, 12000), "codec-16k")
BANDS = {band.rate: band for band in (NARROW, WIDE)}
COLUMNS = NARROW.columns


def shift_out_delay(reference: np.ndarray, decoded: np.ndarray, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop a known output lag of `delay` samples and trim both signals to their common length."""
    if delay > 0:
        decoded = decoded[delay:]
    elif delay < 0:
        reference = reference[-delay:]
    n = min(reference.size, decoded.size)
    return reference[:n], decoded[:n]


def corpus_of(utt: Utterance) -> str:
    """The corpus an utterance comes from: the folder under the speech root its first source file lies in."""
    parts = Path(utt.sources[0]).parts if utt.sources else ()
    for name in ("fsdd", "asterisk", "librispeech", "speech_commands", "gcompris"):
        if name in parts:
            return name
    return "other"


class _Scores:
    """Per-utterance metric values for one system; unscorable utterances are counted, not hidden. Each value is
    kept with its utterance's speaker and corpus, so means per speaker and per corpus come with the overall one."""

    def __init__(self, band: Band = NARROW) -> None:
        self.band = band
        self.values: dict[str, list[float]] = {m: [] for m in band.metrics}
        self.groups: list[tuple[str, str]] = []  # (speaker, corpus) of each scored utterance
        self.skipped = 0

    def add(self, reference: np.ndarray, decoded: np.ndarray, delay: int = 0, utt: Utterance | None = None) -> None:
        ref, est = shift_out_delay(reference, decoded, delay)
        try:
            scores = evaluate_pair(ref, est, self.band.rate, metrics=self.band.metrics)
        except MetricError:
            self.skipped += 1
            return
        for metric, value in scores.items():
            self.values[metric].append(float(value))
        self.groups.append((utt.speaker, corpus_of(utt)) if utt is not None else ("?", "?"))

    def means(self) -> dict[str, float | None]:
        return {m: (round(float(np.mean(v)), 4) if v else None) for m, v in self.values.items()}

    def grouped(self, by: int) -> dict[str, dict[str, float]]:
        """{group: {metric: mean, "utterances": n}} by speaker (by=0) or corpus (by=1)."""
        keys = sorted({g[by] for g in self.groups})
        out: dict[str, dict[str, float]] = {}
        for key in keys:
            rows = [i for i, g in enumerate(self.groups) if g[by] == key]
            out[key] = {m: round(float(np.mean([self.values[m][i] for i in rows])), 4) for m in self.band.metrics}
            out[key]["utterances"] = len(rows)
        return out

    def breakdown(self) -> dict[str, Any]:
        return {"per_speaker": self.grouped(0), "per_corpus": self.grouped(1)}


def _rate(audio_seconds: float, compute_seconds: float) -> float | None:
    return round(audio_seconds / compute_seconds, 2) if compute_seconds > 0 else None


def band_of(utterances: Sequence[Utterance]) -> Band:
    """The band utterances are scored in: their sample rate's (8 kHz: PESQ-NB, 16 kHz: PESQ-WB)."""
    rate = utterances[0].sample_rate if utterances else SAMPLE_RATE
    if rate not in BANDS:
        raise ValueError(f"no scoring band for {rate} Hz utterances; known: {sorted(BANDS)} Hz")
    return BANDS[rate]


def score_vqaudio_rung(
    codec: Codec, bitrate: float, utterances: Sequence[Utterance], phase_suffix: str = ""
) -> dict[str, Any]:
    """Encode and decode every utterance at one rung; measured bitrate from the .vqa bytes written."""
    scores = _Scores(band_of(utterances))
    audio_s = encode_s = decode_s = 0.0
    payload_bits = file_bits = 0.0
    for utt in utterances:
        start = time.perf_counter()
        data = codec.encode(utt.wave, utt.sample_rate, bitrate=bitrate)
        encode_s += time.perf_counter() - start
        start = time.perf_counter()
        decoded, sr = codec.decode(data)
        decode_s += time.perf_counter() - start
        if sr != utt.sample_rate or decoded.shape != utt.wave.shape:
            raise RuntimeError(
                f"codec decode returned shape {decoded.shape} at {sr} Hz for an input of shape "
                f"{utt.wave.shape} at {utt.sample_rate} Hz: the codec must restore the input's rate and length"
            )
        header, _ = read_vqa(data)
        rates = bitrate_of(data, header)
        payload_bits += rates["payload_bitrate"] * header.duration_s
        file_bits += rates["bitrate"] * header.duration_s
        audio_s += utt.wave.size / utt.sample_rate
        scores.add(utt.wave, decoded, delay=0, utt=utt)
    suffix = "" if codec.postfilter == DEFAULT_POSTFILTER else f"-pf{codec.postfilter:g}"
    suffix += phase_suffix
    return {
        "system": f"vqaudio-{int(bitrate + 0.5)}{suffix}",  # half up: 562.5 -> 563
        "postfilter": codec.postfilter,
        "bitrate": round(payload_bits / audio_s, 1),
        "bitrate_with_header": round(file_bits / audio_s, 1),
        **scores.means(),
        "encode_rtf_x": _rate(audio_s, encode_s),
        "decode_rtf_x": _rate(audio_s, decode_s),
        "roundtrip_rtf_x": _rate(audio_s, encode_s + decode_s),
        "utterances": len(utterances) - scores.skipped,
        "phase": codec.phase_source.name,
        "griffin_lim_iters": codec.griffin_lim_iters,
        **scores.breakdown(),
    }


def score_true_phase(codec: Codec, bitrate: float, utterances: Sequence[Utterance]) -> dict[str, Any]:
    """Decoded magnitude + the input's phase at one rung (model-rate mono inputs only): phase's share of the loss."""
    scores = _Scores(band_of(utterances))
    for utt in utterances:
        if utt.sample_rate != codec.sample_rate or utt.wave.ndim != 1:
            raise SystemExit(f"--true-phase needs mono {codec.sample_rate} Hz utterances, got {utt.name}")
        header, codes = read_vqa(codec.encode(utt.wave, utt.sample_rate, bitrate=bitrate))
        true = stft(torch.from_numpy(np.ascontiguousarray(utt.wave, dtype=np.float32)), codec.stft)
        decoded = codec.decoded_db(codes[0])[:, : true.shape[-1]]
        wave = codec.front_end.to_wave(decoded, utt.wave.size, phase=true).numpy()
        scores.add(utt.wave, wave * np.float32(10.0 ** (-header.gains_db()[0] / 20.0)), utt=utt)
    return {
        "system": f"vqaudio-{int(bitrate + 0.5)}-truephase",
        "postfilter": codec.postfilter,
        **scores.means(),
        "utterances": len(utterances) - scores.skipped,
        **scores.breakdown(),
    }


def score_ceiling(codec: Codec, utterances: Sequence[Utterance]) -> dict[str, Any]:
    """The input's own STFT magnitude (the codec's STFT) with Griffin-Lim's phase (as many iterations as the codec
    uses): what any magnitude codec with this phase could reach at best. Not a codec."""
    ceiling = TrueMagnitudeGriffinLim(codec.stft, n_iter=codec.griffin_lim_iters)
    scores = _Scores(band_of(utterances))
    for utt in utterances:
        scores.add(utt.wave, ceiling(utt.wave, utt.sample_rate), utt=utt)
    return {"system": "true-magnitude-griffin-lim", **scores.means(), "utterances": len(utterances) - scores.skipped,
            **scores.breakdown()}  # fmt: skip


def score_baseline(
    name: str, run: Callable[[np.ndarray], CodedAudio], utterances: Sequence[Utterance]
) -> dict[str, Any]:
    """Run a command-line codec on every utterance; bitrate as measured from what its encoder wrote."""
    scores = _Scores(band_of(utterances))
    audio_s = wall_s = 0.0
    coded_bits = file_bits = 0.0
    for utt in utterances:
        start = time.perf_counter()
        coded = run(utt.wave)
        wall_s += time.perf_counter() - start
        audio_s += coded.duration_s
        coded_bits += coded.bitrate * coded.duration_s
        file_bits += coded.file_bitrate * coded.duration_s
        scores.add(utt.wave, coded.wave, delay=coded.expected_delay_samples, utt=utt)
    return {
        "system": name,
        "bitrate": round(coded_bits / audio_s, 1),
        "bitrate_with_header": round(file_bits / audio_s, 1),
        **scores.means(),
        "encode_rtf_x": None,
        "decode_rtf_x": None,
        "roundtrip_rtf_x": _rate(audio_s, wall_s),
        "utterances": len(utterances) - scores.skipped,
        **scores.breakdown(),
    }


def baseline_runs(band: Band = NARROW) -> dict[str, Callable[[np.ndarray], CodedAudio]]:
    """The installed baselines of a band by row name; prints a note for each tool that is missing."""
    runs: dict[str, Callable[[np.ndarray], CodedAudio]] = {}
    if band.codec2_modes and has_codec2():
        for mode in band.codec2_modes:
            runs[f"codec2-{mode}"] = lambda wave, m=mode: codec2_code(wave, m)
    elif band.codec2_modes:
        print("note: c2enc/c2dec not found (Debian package codec2): skipping the codec2-* rows")
    if has_opus():
        for bitrate in band.opus_bitrates:
            runs[f"opus-{bitrate}"] = lambda wave, b=bitrate: opus_code(wave, band.rate, b)
    else:
        print("note: opusenc/opusdec not found (Debian package opus-tools): skipping the opus-* rows")
    return runs


def _phase_suffix(choice: str, first: str) -> str:
    return "" if choice == first else ("-gl" if choice == GRIFFIN_LIM else f"-{Path(choice).stem}")


def load_codec(model: Path | None, band: Band, phase: str, griffin_lim_iters: int | None) -> Codec:
    """`model`, or without one the shipped codec of the band's rate (a wideband run scores codec-16k)."""
    kwargs = {"phase": phase, "griffin_lim_iters": griffin_lim_iters}
    if model is not None:
        return Codec.from_checkpoint(model, **kwargs)
    return Codec.from_pretrained(band.shipped_model, **kwargs) if band.shipped_model else Codec.default(**kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument(
        "--rate", type=int, default=8000, choices=sorted(BANDS),
        help="utterances' sample rate: 8000 (PESQ-NB, Codec 2 and Opus 6/8 kbit/s) or 16000 (PESQ-WB, Opus 6/9/12)",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, help="checkpoint (.safetensors); default: the shipped codec of --rate (codec-8k, 16k)"
    )
    parser.add_argument("--max-utterances", type=int, default=40, help="even spread over speakers")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (speed is per thread count)")
    parser.add_argument(
        "--corpora", nargs="+", help="corpora of a speech root: names or 'all' (default: FSDD and Asterisk)"
    )
    parser.add_argument(
        "--phase",
        nargs="+",
        default=["auto"],
        help="phase choices to score (pipelines.phase): auto (the shipped learned phase, else Griffin-Lim), "
        "griffin-lim, or a phase model path; the first gets the plain row names",
    )
    parser.add_argument(
        "--griffin-lim-iters", type=int, nargs="+", default=[None],
        help="Griffin-Lim iterations (default: 64 alone, 16 after a learned phase); several score each side by side "
        "(rows -itN for all but the first)",
    )  # fmt: skip
    parser.add_argument(
        "--by-speaker", nargs="+", default=["vqaudio-1125", "codec2-3200", "opus-6000"],
        help="systems in the per-speaker and per-corpus tables",
    )  # fmt: skip
    parser.add_argument(
        "--postfilter", type=float, nargs="+", default=[DEFAULT_POSTFILTER], help="decoder postfilter amounts to score"
    )
    parser.add_argument("--no-baselines", action="store_true", help="score only vqaudio (no Codec 2 / Opus rows)")
    parser.add_argument(
        "--true-phase", action="store_true", help="diagnostic rows: decoded magnitude with the input's phase"
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="add the true STFT magnitude + Griffin-Lim row (the phase's ceiling)"
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    corpora = None if not args.corpora else ("all" if args.corpora == ["all"] else args.corpora)
    band = BANDS[args.rate]
    codecs = {
        (choice, iters): load_codec(args.model, band, choice, iters)
        for choice in args.phase
        for iters in args.griffin_lim_iters
    }
    codec = next(iter(codecs.values()))
    utterances = held_out_utterances(args.data, args.split, band.rate, args.max_utterances, corpora=corpora)
    if not utterances:
        raise SystemExit(f"no utterances found in {args.data} (split {args.split!r}): check --data and --split")
    print(
        f"{len(utterances)} utterances of {len({u.speaker for u in utterances})} speakers, "
        f"{sum(u.wave.size for u in utterances) / band.rate:.0f} s at {band.rate} Hz, from {args.data}; model "
        f"{codec.model_id}, "
        f"ladder {', '.join(f'{r:g}' for r in codec.bitrates)} bit/s; phase "
        + ", ".join(f"{c}: {x.phase_source.name} + {x.griffin_lim_iters} GL iterations" for (c, _), x in codecs.items())
    )

    rows = []
    for (choice, iters), each in codecs.items():
        suffix = _phase_suffix(choice, args.phase[0]) + ("" if iters == args.griffin_lim_iters[0] else f"-it{iters}")
        for amount in args.postfilter:
            each.postfilter = amount
            for bitrate in each.bitrates:
                rows.append(score_vqaudio_rung(each, bitrate, utterances, suffix))
                print(f"  done {rows[-1]['system']}", flush=True)
    if args.true_phase:
        codec.postfilter = DEFAULT_POSTFILTER
        for bitrate in codec.bitrates:
            rows.append(score_true_phase(codec, bitrate, utterances))
            print(f"  done {rows[-1]['system']}", flush=True)
    if args.ceiling:
        rows.append(score_ceiling(codec, utterances))
        print(f"  done {rows[-1]['system']}", flush=True)
    for name, run in ({} if args.no_baselines else baseline_runs(band)).items():
        rows.append(score_baseline(name, run, utterances))
        print(f"  done {name}", flush=True)

    for by in ("per_corpus", "per_speaker"):
        table = breakdown_table(rows, args.by_speaker, by, lambda v: f"{v[band.pesq]:.2f} / {v['stoi']:.3f}")
        if table:
            print(f"\n{by.replace('_', ' ')} ({band.pesq.replace('_', '-').upper()} / STOI):\n{table}")
    several = len(args.griffin_lim_iters) > 1
    phases = {
        f"{c}-it{x.griffin_lim_iters}" if several else c: {"source": x.phase_source.name, "iters": x.griffin_lim_iters}
        for (c, _), x in codecs.items()
    }
    print(
        finish_report(
            "codec",
            rows,
            band.columns,
            args.json,
            data=str(args.data),
            split=args.split,
            sample_rate=band.rate,
            corpora=corpora,
            model=str(args.model) if args.model else f"shipped:{codec.model_id}",
            model_hash=codec.model_hash,
            phase=phases,
            griffin_lim_iters=codec.griffin_lim_iters,
            postfilters=args.postfilter,
            threads=args.threads,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
