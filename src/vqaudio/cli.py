"""The `vqaudio` command. Thin: parses arguments and calls pipelines, evaluation or training.

Heavy modules (Lightning above all) are imported inside the subcommand that needs them, so inference
commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vqaudio import __version__

# Kept in step with vqaudio.pipelines.codec.DEFAULT_POSTFILTER (a test checks); torch is not imported for --help.
POSTFILTER_HELP = (
    "decoder postfilter: how much to sharpen formants and harmonics of the decoded spectrum (0 = off; default 0.15)"
)

if TYPE_CHECKING:
    from vqaudio.pipelines import Codec


def _cmd_train(args: argparse.Namespace) -> int:
    from vqaudio.train import fit, load_recipe

    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.root={args.data}")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    for flag, key in (
        ("max_epochs", "trainer.max_epochs"),
        ("max_minutes", "trainer.max_minutes"),
        ("devices", "trainer.devices"),
        ("accelerator", "trainer.accelerator"),
        ("num_nodes", "trainer.num_nodes"),
        ("strategy", "trainer.strategy"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    recipe = load_recipe(args.recipe, overrides)
    best = fit(recipe, resume=args.resume)
    print(f"best weights: {best}")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from vqaudio.audio.io import load, save
    from vqaudio.pipelines import Reconstructor

    reconstructor = Reconstructor.from_checkpoint(args.checkpoint, griffin_lim_iters=args.griffin_lim_iters)
    wave, sr = load(args.input, mono=False)
    out = reconstructor(wave, sr)
    path = save(args.output, out, sr)
    print(f"wrote {path} ({out.shape[-1] / sr:.2f} s at {sr} Hz)")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vqaudio.evaluation import held_out_utterances, print_and_save, score_system
    from vqaudio.models import load_model
    from vqaudio.pipelines import Reconstructor

    model = load_model(args.checkpoint)
    reconstructor = Reconstructor(model, griffin_lim_iters=args.griffin_lim_iters)
    utterances = held_out_utterances(args.data, args.split, reconstructor.sample_rate, args.max_utterances)
    row = score_system(f"vqaudio-{Path(args.checkpoint).stem}", reconstructor, utterances)
    row["latent_bits_per_second"] = getattr(model, "latent_bits_per_second", None)
    print_and_save("evaluate", [row], None, args.json, data=str(args.data), split=args.split)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from vqaudio.models import count_parameters, decode_metadata_value, load_model, read_metadata

    model = load_model(args.checkpoint)
    meta = read_metadata(args.checkpoint)
    info = {
        "checkpoint": str(args.checkpoint),
        "model_type": meta.get("model_type"),
        "sample_rate": model.config.sample_rate,
        "parameters": count_parameters(model),
        "latent_bits_per_second": getattr(model, "latent_bits_per_second", None),
        "latent_values_per_second": getattr(model, "latent_values_per_second", None),
        "config": model.config.to_dict(),
        "metadata": {k: decode_metadata_value(v) for k, v in meta.items() if k not in ("config", "model_type")},
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def _codec_for(args: argparse.Namespace) -> Codec:
    """The codec from --model, else the shipped default; says on stderr which model it is."""
    from vqaudio.pipelines import Codec

    options = {} if getattr(args, "postfilter", None) is None else {"postfilter": args.postfilter}
    codec = Codec.from_checkpoint(args.model, **options) if args.model else Codec.default(**options)
    print(f"model: {codec.model_id} (ladder: {', '.join(f'{r:g}' for r in codec.bitrates)} bit/s)", file=sys.stderr)
    return codec


def _audio_files(folder: Path) -> list[Path]:
    from vqaudio.audio.io import AUDIO_EXTENSIONS

    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _describe(data: bytes) -> str:
    from vqaudio.bitstream import read_vqa
    from vqaudio.pipelines.codec import bitrate_of

    header, _ = read_vqa(data)
    rates = bitrate_of(data, header)
    return (
        f"{len(data)} bytes, {header.duration_s:.2f} s, {header.stages_used} stage(s): "
        f"{rates['bitrate']:.0f} bit/s with header, {rates['payload_bitrate']:.0f} bit/s payload only"
    )


def _cmd_encode(args: argparse.Namespace) -> int:
    codec = _codec_for(args)
    if args.input.is_dir():
        from tqdm import tqdm

        files = _audio_files(args.input)
        if not files:
            raise FileNotFoundError(f"no audio files (.wav/.flac/.ogg) under {args.input}")
        for path in tqdm(files, desc="encode", unit="file"):
            out = (args.output / path.relative_to(args.input)).with_suffix(".vqa")
            codec.encode_file(path, out, bitrate=args.bitrate)
        print(f"wrote {len(files)} .vqa files to {args.output}")
        return 0
    data = codec.encode_file(args.input, args.output, bitrate=args.bitrate)
    print(f"wrote {args.output}: {_describe(data)}")
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    codec = _codec_for(args)
    wave, sr = codec.decode_file(args.input, args.output)
    print(f"wrote {args.output} ({wave.shape[-1] / sr:.2f} s at {sr} Hz)")
    return 0


def _cmd_codec(args: argparse.Namespace) -> int:
    from vqaudio.audio.io import load, save

    codec = _codec_for(args)
    wave, sr = load(args.input, mono=False)
    data = codec.encode(wave, sr, bitrate=args.bitrate)
    out, out_sr = codec.decode(data)
    save(args.output, out, out_sr)
    print(f"wrote {args.output}: {_describe(data)}")
    if args.score:
        from vqaudio.audio.io import to_mono
        from vqaudio.metrics import pesq, stoi

        ref = to_mono(wave) if wave.ndim == 2 else wave
        deg = to_mono(out) if out.ndim == 2 else out
        print(f"PESQ-NB {pesq(ref, deg, sr, mode='nb'):.3f}  STOI {stoi(ref, deg, sr):.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqaudio",
        description="Discrete (VQ-VAE) and continuous (VAE) latent models of audio: train, reconstruct, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"vqaudio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train a model from a YAML recipe (progress bar, checkpoints, logs)",
        description="Train a recipe. Best weights go to OUT/NAME/best.safetensors; logs to "
        "OUT/NAME/logs (CSV) and OUT/NAME/tensorboard.",
    )
    p.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/reconstruct-vqvae-8k.yaml")
    p.add_argument("--data", help="folder of speech (e.g. ../shared/data/speech); overrides data.root")
    p.add_argument("--out", help="output folder for runs (default: the recipe's out_dir, 'runs')")
    p.add_argument("--resume", action="store_true", help="continue from OUT/NAME/last.ckpt")
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--max-minutes", type=float, help="wall-clock budget; the best weights so far are kept")
    p.add_argument("--accelerator", help="cpu, gpu or auto (Lightning)")
    p.add_argument("--devices", help="number of devices per node, e.g. 2 for 2-GPU DDP")
    p.add_argument("--num-nodes", type=int)
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set optim.lr=1e-3 (repeatable)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("reconstruct", help="pass a file through a model and write the reconstruction")
    p.add_argument("checkpoint", type=Path, help="model weights (.safetensors)")
    p.add_argument("input", type=Path, help="audio file (wav/flac/ogg, any rate and channel count)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file (same rate as input)")
    p.add_argument("--griffin-lim-iters", type=int, default=64, help="phase reconstruction iterations")
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser(
        "evaluate",
        help="PESQ-NB, STOI and LSD of a model over a folder of speech",
        description="Joins short clips of one speaker into ~4 s utterances, reconstructs them "
        "and prints a table of mean PESQ-NB, STOI, log-spectral distance and speed.",
    )
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--data", required=True, help="folder of speech files")
    p.add_argument(
        "--split",
        default="val",
        choices=["train", "val", "all"],
        help="which split of a known layout to score (generic folders: 'all')",
    )
    p.add_argument("--max-utterances", type=int, default=None)
    p.add_argument("--griffin-lim-iters", type=int, default=64)
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("info", help="model type, config, sample rate, parameters and training data")
    p.add_argument("checkpoint", type=Path)
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("encode", help="compress speech to a .vqa bitstream (a file, or a folder of files)")
    p.add_argument("input", type=Path, help="audio file (any rate/channels) or a folder of audio files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .vqa file (or folder)")
    p.add_argument("--bitrate", type=float, help="target bit/s: the largest rung at or below it (default: top)")
    p.add_argument("--model", type=Path, help="codec weights (default: shipped codec-8k, else reconstruct-vqvae-8k)")
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("decode", help="decode a .vqa bitstream back to audio")
    p.add_argument("input", type=Path, help=".vqa file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file")
    p.add_argument("--model", type=Path, help="the weights the file was encoded with (default: as encode)")
    p.add_argument("--postfilter", type=float, help=POSTFILTER_HELP)
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser("codec", help="round trip: encode and decode a file, print the real bitrate")
    p.add_argument("input", type=Path, help="audio file (any rate/channels)")
    p.add_argument("-o", "--output", type=Path, required=True, help="decoded audio file")
    p.add_argument("--bitrate", type=float, help="target bit/s (default: top rung)")
    p.add_argument("--model", type=Path, help="codec weights (default: as encode)")
    p.add_argument("--score", action="store_true", help="also print PESQ-NB and STOI against the input")
    p.add_argument("--postfilter", type=float, help=POSTFILTER_HELP)
    p.set_defaults(func=_cmd_codec)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as err:  # AudioError and config errors are ValueErrors
        print(f"vqaudio {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
