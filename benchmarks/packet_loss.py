"""Packet-loss benchmark: the vqaudio codec at every rung of its ladder with 0..20 % of its packets lost at random.

Each utterance is encoded once per rung in format version 4 (packets of `--packet-frames` latent frames, 128 ms for
the shipped codec, each with a CRC-8); then, for each loss rate, a seeded Bernoulli draw picks the packets to lose
(`bitstream.stream.loss_mask`: the same packets at every rung, since the packet count depends on the length only),
their checks are made to fail (`damage_packets`), and `decode_lossy` decodes the rest and conceals the lost ones.
Scored as benchmarks/codec.py scores: PESQ-NB and STOI against the input, on the same ~4 s validation utterances.

Rows: `vqaudio-RATE` at `loss_pct` (the rate asked) with `lost_pct` (the share of packets actually lost, over all
utterances) and the measured bitrates: `bitrate` (the packed indices), `packet_overhead` (the packets' CRC-8s, bit/s)
and `bitrate_with_header` (the whole file). `--stream` adds `vqaudio-RATE-stream` rows at 0 % loss: the file decoded
a packet at a time (`StreamDecoder`, bounded latency; `decode_rtf_x` is its speed) instead of in 10 s chunks.
40 utterances with --stream take about 6 minutes on one thread.

    python benchmarks/packet_loss.py --data ../shared/data/speech --split val --json OUT.json \\
        [--model PATH] [--max-utterances 40] [--corpora ...] [--loss 0 1 5 10 20] [--seed 0] [--threads 1] \\
        [--stream]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqaudio.bitstream import read_vqa
from vqaudio.bitstream.stream import damage_packets, loss_mask
from vqaudio.data import Utterance
from vqaudio.evaluation import finish_report, held_out_utterances, markdown_table
from vqaudio.metrics import MetricError, evaluate_pair
from vqaudio.pipelines.codec import Codec
from vqaudio.pipelines.codec_stream import StreamDecoder, decode_lossy, stream_latency

SAMPLE_RATE = 8000
METRICS = ("pesq_nb", "stoi")
COLUMNS = [
    "system",
    "loss_pct",
    "lost_pct",
    "concealed_s",
    "bitrate",
    "packet_overhead",
    "bitrate_with_header",
    "pesq_nb",
    "stoi",
    "decode_rtf_x",
    "utterances",
]


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def encode_all(codec: Codec, bitrate: float, utterances: Sequence[Utterance]) -> list[bytes]:
    return [codec.encode(utt.wave, utt.sample_rate, bitrate=bitrate) for utt in utterances]


def bitrates(files: Sequence[bytes]) -> dict[str, float]:
    """Measured bit/s over all files: packed indices, the packets' overhead, the whole file."""
    seconds = payload = stored = total = 0.0
    for data in files:
        header, _ = read_vqa(data)
        seconds += header.duration_s
        payload += 8 * header.payload_bytes
        stored += 8 * header.stored_payload_bytes
        total += 8 * len(data)
    return {
        "bitrate": round(payload / seconds, 1),
        "packet_overhead": round((stored - payload) / seconds, 1),
        "bitrate_with_header": round(total / seconds, 1),
    }


def score_loss(
    codec: Codec, name: str, files: Sequence[bytes], utterances: Sequence[Utterance], rate: float, seed: int
) -> dict[str, Any]:
    """Lose `rate` of each file's packets (seed + utterance index), decode with concealment, score."""
    values: dict[str, list[float]] = {m: [] for m in METRICS}
    lost = packets = 0
    concealed = audio_s = decode_s = 0.0
    for i, (data, utt) in enumerate(zip(files, utterances, strict=True)):
        header, _ = read_vqa(data)
        mask = loss_mask(header.layout().n_packets, rate, seed + i)
        lost, packets = lost + int(mask.sum()), packets + mask.size
        start = time.perf_counter()
        out, _, report = decode_lossy(codec, damage_packets(data, mask))
        decode_s += time.perf_counter() - start
        audio_s += header.duration_s
        concealed += report.concealed_s
        _add_scores(values, utt.wave, out)
    return {
        "system": name,
        "loss_pct": round(100 * rate, 2),
        "lost_pct": round(100 * lost / max(1, packets), 2),
        "concealed_s": round(concealed, 2),
        **{m: _mean(v) for m, v in values.items()},
        "decode_rtf_x": round(audio_s / decode_s, 1) if decode_s else None,
        "utterances": len(values["stoi"]),
    }


def _add_scores(values: dict[str, list[float]], reference: np.ndarray, decoded: np.ndarray) -> None:
    """Append each metric of one decoded utterance to `values`; an unscorable one adds nothing (counted by the caller
    as utterances = len(values["stoi"]))."""
    try:
        scores = evaluate_pair(reference, decoded, SAMPLE_RATE, metrics=METRICS)
    except MetricError:
        return
    for metric, value in scores.items():
        values[metric].append(float(value))


def score_stream(codec: Codec, name: str, files: Sequence[bytes], utterances: Sequence[Utterance]) -> dict[str, Any]:
    """Each file decoded a packet at a time (fed a packet's bytes at a time), scored."""
    values: dict[str, list[float]] = {m: [] for m in METRICS}
    audio_s = decode_s = 0.0
    for data, utt in zip(files, utterances, strict=True):
        header, _ = read_vqa(data)
        step = header.layout().full_size
        start = time.perf_counter()
        decoder = StreamDecoder(codec)
        blocks = [b for i in range(0, len(data), step) for b in decoder.feed(data[i : i + step])]
        out = np.concatenate(blocks + decoder.close(), axis=-1)[0]
        decode_s += time.perf_counter() - start
        audio_s += header.duration_s
        _add_scores(values, utt.wave, out)
    return {
        "system": name,
        "loss_pct": 0.0,
        "lost_pct": 0.0,
        "concealed_s": 0.0,
        **{m: _mean(v) for m, v in values.items()},
        "decode_rtf_x": round(audio_s / decode_s, 1) if decode_s else None,
        "utterances": len(values["stoi"]),
    }


def loss_table(rows: Sequence[dict[str, Any]], losses: Sequence[float]) -> str:
    """Markdown: one line per rung, PESQ-NB / STOI per loss rate."""
    lines = []
    for system in dict.fromkeys(r["system"] for r in rows if not r["system"].endswith("-stream")):
        line: dict[str, Any] = {"system": system}
        mine = [r for r in rows if r["system"] == system]
        line["bit/s (file)"] = mine[0].get("bitrate_with_header")
        for loss in losses:
            r = next((r for r in mine if r["loss_pct"] == round(100 * loss, 2)), None)
            line[f"{100 * loss:g} % loss"] = f"{r['pesq_nb']:.2f} / {r['stoi']:.3f}" if r and r["pesq_nb"] else "—"
        lines.append(line)
    return markdown_table(lines, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--model", type=Path, help="codec checkpoint (.safetensors); default: the shipped codec")
    parser.add_argument("--max-utterances", type=int, default=40, help="even spread over speakers")
    parser.add_argument(
        "--corpora", nargs="+", help="corpora of a speech root: names or 'all' (default: FSDD and Asterisk)"
    )
    parser.add_argument("--loss", type=float, nargs="+", default=[0, 1, 5, 10, 20], help="packet loss rates in %%")
    parser.add_argument("--seed", type=int, default=0, help="utterance i's losses are drawn with seed + i")
    parser.add_argument("--packet-frames", type=int, default=8, help="latent frames per packet (default 8)")
    parser.add_argument("--phase", default="auto", help="the decoder's phase (pipelines.phase), as codec.py's")
    parser.add_argument("--stream", action="store_true", help="add rows decoded a packet at a time (0 %% loss)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    kwargs: dict[str, Any] = {"phase": args.phase, "packet_frames": args.packet_frames}
    codec = Codec.from_checkpoint(args.model, **kwargs) if args.model else Codec.default(**kwargs)
    corpora = None if not args.corpora else ("all" if args.corpora == ["all"] else args.corpora)
    utterances = held_out_utterances(args.data, args.split, SAMPLE_RATE, args.max_utterances, corpora=corpora)
    if not utterances:
        raise SystemExit(f"no utterances found in {args.data} (split {args.split!r}): check --data and --split")
    losses = [loss / 100.0 for loss in args.loss]
    latency = stream_latency(codec, args.packet_frames)
    print(
        f"{len(utterances)} utterances of {len({u.speaker for u in utterances})} speakers, "
        f"{sum(u.wave.size for u in utterances) / SAMPLE_RATE:.0f} s, from {args.data}; model {codec.model_id} "
        f"({codec.phase_source.name} phase, {codec.griffin_lim_iters} GL iterations); packets of "
        f"{args.packet_frames} frames ({1000 * args.packet_frames / codec.frame_rate:g} ms); streaming: "
        f"{latency.describe()}"
    )

    rows = []
    for bitrate in codec.bitrates:
        name = f"vqaudio-{int(bitrate + 0.5)}"
        files = encode_all(codec, bitrate, utterances)
        sizes = bitrates(files)
        for loss in losses:
            rows.append({**score_loss(codec, name, files, utterances, loss, args.seed), **sizes})
            print(f"  done {name} at {100 * loss:g} % loss", flush=True)
        if args.stream:
            rows.append({**score_stream(codec, f"{name}-stream", files, utterances), **sizes})
            print(f"  done {name}-stream", flush=True)

    print(
        f"\nPESQ-NB / STOI by packet loss (seeded, {args.packet_frames}-frame packets):\n{loss_table(rows, losses)}\n"
    )
    print(
        finish_report(
            "packet_loss",
            rows,
            COLUMNS,
            args.json,
            data=str(args.data),
            split=args.split,
            corpora=corpora,
            model=str(args.model) if args.model else f"shipped:{codec.model_id}",
            model_hash=codec.model_hash,
            packet_frames=args.packet_frames,
            seed=args.seed,
            phase={"source": codec.phase_source.name, "iters": codec.griffin_lim_iters},
            latency_ms={
                "packet": latency.packet_ms,
                "context": latency.lookahead_ms,
                "half_window": latency.synthesis_ms,
                "rounding": latency.rounding_ms,
                "decoder": latency.decoder_ms,
                "encoder": latency.encoder_ms,
                "total": latency.total_ms,
            },
            threads=args.threads,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
