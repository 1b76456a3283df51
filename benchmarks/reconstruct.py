"""Speech reconstruction benchmark: trained checkpoints vs the true-magnitude + Griffin-Lim ceiling.

Trains nothing. Joins the clips of each speaker in DIR's chosen split into ~4 s utterances and scores
each system on PESQ-NB, STOI and log-spectral distance, with latent size and speed beside them.

    python benchmarks/reconstruct.py --data ../shared/data/speech --split val --json OUT.json \
        [--checkpoint PATH ...]   # default: the shipped reconstruct models
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vqaudio.assets import pretrained_names, pretrained_path
from vqaudio.evaluation import finish_report, held_out_utterances, score_system
from vqaudio.models import count_parameters, load_model
from vqaudio.pipelines import Reconstructor, TrueMagnitudeGriffinLim

COLUMNS = [
    "system",
    "pesq_nb",
    "stoi",
    "lsd",
    "latent_bits_per_second",
    "latent_values_per_second",
    "parameters",
    "rtf_x",
    "utterances",
]


def default_checkpoints() -> list[Path]:
    return [pretrained_path(n) for n in pretrained_names() if n.startswith("reconstruct-")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder of speech (any layout speech_files knows)")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--checkpoint", action="append", type=Path, help="weights to score (repeatable)")
    parser.add_argument("--max-utterances", type=int, default=60, help="even spread over speakers")
    parser.add_argument("--griffin-lim-iters", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (speed is per thread count)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    checkpoints = args.checkpoint or default_checkpoints()
    utterances = held_out_utterances(args.data, args.split, 8000, args.max_utterances)
    print(f"{len(utterances)} utterances, {sum(u.wave.size for u in utterances) / 8000:.0f} s, from {args.data}")

    rows = []
    ceiling = TrueMagnitudeGriffinLim(n_iter=args.griffin_lim_iters)
    rows.append(score_system(f"true-magnitude-griffin-lim-{args.griffin_lim_iters}", ceiling, utterances))
    for path in checkpoints:
        model = load_model(path)
        reconstructor = Reconstructor(model, griffin_lim_iters=args.griffin_lim_iters)
        row = score_system(
            f"vqaudio-{path.stem if path.stem != 'best' else path.parent.name}", reconstructor, utterances
        )
        row["latent_bits_per_second"] = getattr(model, "latent_bits_per_second", None)
        row["latent_values_per_second"] = getattr(model, "latent_values_per_second", None)
        row["parameters"] = count_parameters(model)
        rows.append(row)

    print(
        finish_report(
            "reconstruct",
            rows,
            COLUMNS,
            args.json,
            data=str(args.data),
            split=args.split,
            griffin_lim_iters=args.griffin_lim_iters,
            threads=args.threads,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
