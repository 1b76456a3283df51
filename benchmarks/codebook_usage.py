"""Codebook usage of trained VQ-VAEs on held-out speech: fraction of codes used, perplexity, dead codes.

Encodes every utterance of DIR's chosen split and counts codes per residual stage, so the figure is
what the codebook does on unseen speakers, not a training-time estimate.

    python benchmarks/codebook_usage.py --data ../shared/data/speech --checkpoint A.safetensors \
        [--checkpoint B.safetensors ...] [--corpora all] [--entropy-prior train] --json OUT.json

Inputs are scaled to a model's input_level_db first, as its Codec does, so the codes counted are the ones a .vqa
file would hold. `--entropy-prior SPLIT` also counts codes on SPLIT (a static table per stage, add-one smoothed)
and reports the cross-entropy of the scored split's codes under it: the bits per code an entropy coder with that
table would spend (`bits_stage<k>`), and the bitrate of each rung coded so (`entropy_bitrate_<k>`, bit/s).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from vqaudio.audio import scale_to_level
from vqaudio.evaluation import finish_report, held_out_utterances
from vqaudio.models import load_model


def stage_counts(model: torch.nn.Module, waves: list[torch.Tensor]) -> torch.Tensor:
    """(n_stages, K) histogram of the codes the model picks over all waves (at its input level, if it has one)."""
    cfg = model.config
    counts = torch.zeros(cfg.n_stages, cfg.codebook_size, dtype=torch.long)
    level = getattr(cfg, "input_level_db", None)
    with torch.inference_mode():
        for wave in waves:
            if level is not None:
                wave = torch.from_numpy(scale_to_level(wave.numpy(), cfg.sample_rate, level)[0])
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


def entropy_row(model: torch.nn.Module, prior: torch.Tensor, counts: torch.Tensor) -> dict:
    """Cross-entropy (bits per code) of `counts` under the add-one smoothed `prior` counts, per stage, and the
    bitrate of each rung (its first k stages) with codes entropy-coded by that static table."""
    probs = (prior.double() + 1) / (prior.double() + 1).sum(dim=1, keepdim=True)
    bits = -(counts.double() * probs.log2()).sum(dim=1) / counts.sum(dim=1).clamp_min(1)
    rate = model.config.latent_vectors_per_second
    row = {f"bits_stage{k}": round(float(b), 3) for k, b in enumerate(bits)}
    row |= {f"entropy_bitrate_{k + 1}": round(float(bits[: k + 1].sum() * rate), 1) for k in range(len(bits))}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--checkpoint", action="append", type=Path, required=True)
    parser.add_argument("--corpora", nargs="+", help="speech corpora: names or 'all' (default: FSDD, Asterisk)")
    parser.add_argument("--entropy-prior", choices=["train", "val", "all"], help="split whose codes make the table")
    parser.add_argument("--max-prior-utterances", type=int, default=400, help="spread over the prior split's speakers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    corpora = None if not args.corpora else ("all" if args.corpora == ["all"] else args.corpora)
    utterances = held_out_utterances(args.data, args.split, 8000, corpora=corpora)
    waves = [torch.from_numpy(u.wave) for u in utterances]
    prior_waves = []
    if args.entropy_prior:
        prior = held_out_utterances(args.data, args.entropy_prior, 8000, args.max_prior_utterances, corpora=corpora)
        prior_waves = [torch.from_numpy(u.wave) for u in prior]
    print(f"{len(waves)} utterances, {sum(w.numel() for w in waves) / 8000:.0f} s of {args.split} speech")
    rows = []
    for path in args.checkpoint:
        model = load_model(path)
        name = path.parent.name if path.stem == "best" else path.stem
        counts = stage_counts(model, waves)
        row = usage_row(f"vqaudio-{name}", counts)
        row["quantizer_options"] = str(model.config.quantizer_options)
        if prior_waves:
            row |= entropy_row(model, stage_counts(model, prior_waves), counts)
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
    if prior_waves:
        columns += [k for k in rows[0] if k.startswith(("bits_stage", "entropy_bitrate_"))]
    extra = {"corpora": corpora, "entropy_prior": args.entropy_prior}
    print(finish_report("codebook_usage", rows, columns, args.json, data=str(args.data), split=args.split, **extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
