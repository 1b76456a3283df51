"""Encode and decode speed of several codec weights side by side: the same utterances, interleaved, one process.

benchmarks/codec.py times one model per run, so two runs on a shared machine meet different loads. Here each
utterance is coded by every model in turn (the order rotating per utterance), so a slow spell lands on all of them
alike and the ratios between the models hold even when the absolute figures do not. Output: seconds of audio per
second of compute per model and rung, and each model's speed as a ratio to the first model's.

    python benchmarks/codec_speed.py --data ../shared/data/speech --corpora all --model NEW.safetensors \
        --model OLD.safetensors [--max-utterances 40] [--threads 1] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.pipelines.codec import Codec

COLUMNS = ["model", "bitrate", "encode_rtf_x", "decode_rtf_x", "encode_ratio", "decode_ratio", "utterances"]


def time_models(codecs: dict[str, Codec], utterances: list, bitrates: list[float]) -> list[dict[str, Any]]:
    """Per (model, rung): summed encode and decode seconds over the utterances, models interleaved."""
    names = list(codecs)
    spent = {(n, b): [0.0, 0.0] for n in names for b in bitrates}
    audio = sum(u.wave.size / u.sample_rate for u in utterances)
    for i, utt in enumerate(utterances):
        order = names[i % len(names) :] + names[: i % len(names)]
        for bitrate in bitrates:
            for name in order:
                start = time.perf_counter()
                data = codecs[name].encode(utt.wave, utt.sample_rate, bitrate=bitrate)
                middle = time.perf_counter()
                codecs[name].decode(data)
                spent[name, bitrate][0] += middle - start
                spent[name, bitrate][1] += time.perf_counter() - middle
    rows = []
    for bitrate in bitrates:
        first_encode, first_decode = spent[names[0], bitrate]
        for name in names:
            encode, decode = spent[name, bitrate]
            rows.append(
                {
                    "model": name,
                    "bitrate": bitrate,
                    "encode_rtf_x": round(audio / encode, 1),
                    "decode_rtf_x": round(audio / decode, 1),
                    "encode_ratio": round(first_encode / encode, 3),
                    "decode_ratio": round(first_decode / decode, 3),
                    "utterances": len(utterances),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--corpora", nargs="+", help="corpora: names or 'all' (default: FSDD, Asterisk)")
    parser.add_argument("--model", action="append", type=Path, required=True, help="codec weights (repeat: 2 or more)")
    parser.add_argument("--max-utterances", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if len(args.model) < 2:
        parser.error("give two or more --model to compare")
    torch.set_num_threads(args.threads)
    codecs = {path.stem: Codec.from_checkpoint(path) for path in args.model}
    if len(codecs) != len(args.model):
        parser.error("each --model needs its own file name (rows are named by it)")
    rates = {c.model.config.sample_rate for c in codecs.values()}
    if len(rates) != 1:
        parser.error(f"the models run at different sample rates {sorted(rates)}; compare models of one rate")
    corpora = None if not args.corpora else ("all" if args.corpora == ["all"] else args.corpora)
    utterances = held_out_utterances(args.data, args.split, rates.pop(), args.max_utterances, corpora)
    bitrates = next(iter(codecs.values())).bitrates
    for codec in codecs.values():  # warm-up: first calls pay for allocation and kernel choice
        codec.decode(codec.encode(utterances[0].wave, utterances[0].sample_rate, bitrate=bitrates[-1]))
    rows = time_models(codecs, utterances, list(bitrates))
    print(finish_report("codec_speed", rows, COLUMNS, args.json, data=str(args.data), split=args.split,
                        models={name: str(p) for name, p in zip(codecs, args.model, strict=True)},
                        threads=args.threads))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
