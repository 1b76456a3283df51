"""Codebook usage of trained VQ-VAEs on held-out speech: fraction of codes used, perplexity, dead codes.

Encodes every utterance of DIR's chosen split and counts codes per residual stage, so the figure is
what the codebook does on unseen speakers, not a training-time estimate.

    python benchmarks/codebook_usage.py --data ../shared/data/speech --checkpoint A.safetensors \
        [--checkpoint B.safetensors ...] --json OUT.json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.models import load_model


def stage_counts(model: torch.nn.Module, waves: list[torch.Tensor]) -> torch.Tensor:
    """(n_stages, K) histogram of the codes the model picks over all waves."""
    cfg = model.config
    counts = torch.zeros(cfg.n_stages, cfg.codebook_size, dtype=torch.long)
    with torch.inference_mode():
        for wave in waves:
            codes = model.encode(cfg.front_end.features(wave[None]))
            codes = codes.reshape(-1, cfg.n_stages) if cfg.n_stages > 1 else codes.reshape(-1, 1)
            for stage in range(cfg.n_stages):
                valid = codes[:, stage][codes[:, stage] >= 0]
                counts[stage] += torch.bincount(valid, minlength=cfg.codebook_size)
    return counts


def usage_row(name: str, counts: torch.Tensor) -> dict:
    probs = counts.float() / counts.sum(dim=1, keepdim=True).clamp_min(1)
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
    used = (counts > 0).float().mean(dim=1)
    row = {
        "system": name,
        "usage": round(float(used.mean()), 4),
        "usage_min_stage": round(float(used.min()), 4),
        "perplexity": round(float(entropy.exp().mean()), 1),
        "dead_codes": int((counts == 0).sum()),
        "codebook_size": int(counts.shape[1]),
        "stages": int(counts.shape[0]),
        "bits_used_per_vector": round(float(entropy.mean() / math.log(2)), 2),
    }
    for stage, value in enumerate(used.tolist()):
        row[f"usage_stage{stage}"] = round(value, 4)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--checkpoint", action="append", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    utterances = held_out_utterances(args.data, args.split, 8000)
    waves = [torch.from_numpy(u.wave) for u in utterances]
    print(f"{len(waves)} utterances, {sum(w.numel() for w in waves) / 8000:.0f} s of {args.split} speech")
    rows = []
    for path in args.checkpoint:
        model = load_model(path)
        name = path.parent.name if path.stem == "best" else path.stem
        row = usage_row(f"vqaudio-{name}", stage_counts(model, waves))
        row["quantizer_options"] = str(model.config.quantizer_options)
        rows.append(row)
    columns = [
        "system",
        "usage",
        "usage_min_stage",
        "perplexity",
        "dead_codes",
        "codebook_size",
        "stages",
        "bits_used_per_vector",
        "quantizer_options",
    ]
    print(finish_report("codebook_usage", rows, columns, args.json, data=str(args.data), split=args.split))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
