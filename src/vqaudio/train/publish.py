"""Copy trained weights into the package as a shipped model, with a model card made from its metadata.

    python -m vqaudio.train.publish runs/NAME/best.safetensors src/vqaudio/assets/pretrained/NAME.safetensors
    python -m vqaudio.train.publish --card-only src/vqaudio/assets/pretrained/NAME.safetensors [--data DIR]

The card names the corpora, speakers and licences of the files the run trained on: from the checkpoint's
`training_summary` where the run recorded one, else re-listed from the folder it records (`training_data`,
`train_split`, `words`; `--data DIR` says where that folder is now). `--card-only` rewrites the card beside an
existing shipped model and leaves its weights alone.

Floating-point tensors are stored as fp16 (half the size; the model is rebuilt in fp32 when loaded).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vqaudio.data.summary import describe_summary, licences_for, summarize_training_files
from vqaudio.models import count_parameters, decode_metadata_value, load_model, read_metadata

log = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[3]  # src/vqaudio/train/publish.py -> the checkout


CORRECTABLE = ("description", "initialised_from")  # what a run records from its command line, not from its weights


def _check_corrections(fixes: dict[str, str]) -> None:
    unknown = sorted(set(fixes) - set(CORRECTABLE))
    if unknown:
        raise ValueError(f"publish: only {', '.join(CORRECTABLE)} can be corrected, not {', '.join(unknown)}")


def publish(source: Path, target: Path, corrections: dict[str, str] | None = None) -> Path:
    """Write `source` as fp16 to `target` with its model card; `corrections` replace recorded metadata.

    Only CORRECTABLE keys: a run started with `--set`/`--init-from` records the description and the starting
    weights as the command gave them (a scratch path, say), which the shipped copy should state as the recipe does.
    """
    fixes = dict(corrections or {})
    _check_corrections(fixes)
    model = load_model(source)  # proves the file is loadable before it ships
    with safe_open(str(source), framework="pt") as f:
        header = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    small = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    header.update({key: json.dumps(value) for key, value in fixes.items()})  # stored as JSON, as runs store them
    save_file(small, str(target), metadata={**header, "stored_dtype": "float16"})
    reloaded = load_model(target)
    spec = torch.full((1, model.config.n_features, 32), -40.0)
    with torch.no_grad():
        drift = (reloaded(spec).reconstruction_db - model(spec).reconstruction_db).abs().max().item()
    target.with_suffix(".md").write_text(model_card(target, read_metadata(target), count_parameters(model), model))
    log.info("published %s (%.1f MB; fp16 output drift %.3f dB)", target, target.stat().st_size / 1e6, drift)
    return target


def _meta(meta: dict, key: str) -> str:
    value = decode_metadata_value(meta.get(key, ""))
    return "" if value is None else str(value)


def _input_level(cfg: object) -> str:
    level = getattr(cfg, "input_level_db", None)
    if level is None:
        return "as recorded (no level normalisation)"
    return f"every input scaled to {level:g} dBFS active speech level (the codec sends the gain and undoes it)"


def _decoded(meta: dict, key: str) -> Any:
    """A metadata value decoded from JSON (twice where it was JSON text stored as a JSON string)."""
    value = decode_metadata_value(meta.get(key, "null"))
    if isinstance(value, str) and value[:1] in "{[":
        value = decode_metadata_value(value)
    return value


def _find_folder(recorded: str, data_root: Path | None) -> Path | None:
    """`data_root` if given, else the recorded folder as given or relative to the checkout; None if absent."""
    if data_root is not None:
        return data_root if data_root.is_dir() else None
    path = Path(recorded).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, _REPO_ROOT / path]
    return next((c for c in candidates if c.is_dir()), None)


def _total_seconds(files: list[Any]) -> float | None:
    """Total duration of `files` from their headers (no decoding); None if any cannot be read."""
    import soundfile as sf

    try:
        return sum(sf.info(str(f.path)).duration for f in files)
    except (RuntimeError, OSError, ValueError):
        return None


def training_data_for_card(meta: dict, data_root: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """(summary of the run's training files or None, where that summary came from) for a checkpoint's metadata.

    The run's own `training_summary` when it recorded one; otherwise the files are re-listed from the folder it
    records (`training_data`, `train_split`, `words`; found at `data_root` if given) as training lists them.
    When neither is possible the summary is None and the note says why.
    """
    summary = _decoded(meta, "training_summary")
    if isinstance(summary, dict):
        return summary, "recorded by the training run"
    recorded = _meta(meta, "training_data")
    if not recorded:
        return None, "not known: the checkpoint records neither its training files nor the folder they came from"
    folder = _find_folder(recorded, data_root)
    where = f"`{data_root}`" if data_root is not None else f"`{recorded}`"
    if folder is None:
        return None, (
            f"not known: the run recorded no list of its files, and its folder {where} is not here to re-list "
            "(rerun `python -m vqaudio.train.publish --card-only` with `--data DIR` where that folder is)"
        )
    split = _meta(meta, "train_split") or "train"
    words = _decoded(meta, "words")
    from vqaudio.data import speech_files  # reads no audio; only needed on this path

    lister = "music_tracks" if meta.get("model_type") == "dual-vae" else "speech_files"
    try:
        if lister == "music_tracks":
            files = _song_files(folder, split)
        else:
            files = speech_files(folder, split, words=words, corpora=_decoded(meta, "corpora"))
    except ValueError as err:
        return None, f"not known: the run recorded no list of its files, and re-listing {where} failed ({err})"
    for_words = f" for the words {', '.join(map(str, words))}" if words else ""
    note = (
        f"re-derived from the folder {where} when this card was written (the run recorded no list of its files): "
        f"its `{split}` split{for_words} as `vqaudio.data.{lister}` lists it, "
        "assuming the folder is unchanged since training"
    )
    if _decoded(meta, "max_files"):
        note += f"; the run kept at most {_decoded(meta, 'max_files')} of these files"
    return summarize_training_files(files, _total_seconds(files)), note


def _song_files(folder: Path, split: str) -> list[Any]:
    """The songs of a music folder's split as SpeechFile rows (singer for speaker, the layout for the corpus)."""
    from vqaudio.data import SpeechFile, music_tracks

    corpus = {"mir1k": "mir1k", "musdb": "musdb"}
    return [SpeechFile(t.path, t.singer, corpus[t.layout]) for t in music_tracks(folder, split)]  # type: ignore[arg-type]


NOISE_LICENCE = "real ambient recordings, CC0 / CC BY / public domain (SOUNDS_LICENSING.md beside them)"


def _noise_row(meta: dict) -> str:
    """A card row for the noise a denoiser was trained with (the folder its run recorded), else nothing."""
    if meta.get("model_type") != "vqunet":
        return ""
    folder = _meta(meta, "noise_data") or "../shared/data/noise (train recordings: all but city, rain and wind)"
    return f"\n| noise | `{folder}`: {NOISE_LICENCE} |"


def _extra_vocals_row(meta: dict) -> str:
    """A card row for the speech a separator trained on as more vocals (data.extra_vocals), else nothing."""
    summary = _decoded(meta, "extra_vocals_summary")
    if not isinstance(summary, dict):
        return ""
    licences = "; ".join(licences_for(summary))
    return (
        f"\n| more vocals | `{_meta(meta, 'extra_vocals')}`, split `train`: {describe_summary(summary)} ({licences}) |"
    )


def _initialised_row(meta: dict) -> str:
    """A card row for the weights the run started from (init_from), else nothing."""
    start = _meta(meta, "initialised_from")
    if not start:
        return ""
    return f"\n| started from | `{start}` (trained weights the recipe trains on, adding any modules it names) |"


def _stages_note(meta: dict) -> str:
    """For a run started from trained weights: the retraining starts with the stage that made them."""
    if not _meta(meta, "initialised_from"):
        return ""
    return (
        "\nThe recipe starts from an earlier stage's weights (its `init_from`); `make pretrained` trains the earlier "
        "stages first."
    )


def _retrain_data(meta: dict) -> str:
    default = "../shared/data/music/mir1k" if meta.get("model_type") == "dual-vae" else "../shared/data/speech"
    return _meta(meta, "training_data") or default


def _voices(meta: dict) -> str:
    return "singers" if meta.get("model_type") == "dual-vae" else "speakers"


def _latent(bits: float | None, values: float | None) -> str:
    """The bottleneck in words: its bitrate (or continuous) and its values per second where the model says."""
    kind = f"{bits:.0f} bit/s" if bits else "continuous"
    return kind if values is None else f"{kind}, {values:.0f} values/s"


def model_card(path: Path, meta: dict, parameters: int, model: torch.nn.Module, data_root: Path | None = None) -> str:
    """The Markdown model card for the checkpoint at `path`, from its metadata, config and training data."""
    name = path.stem
    cfg = model.config
    bits = getattr(model, "latent_bits_per_second", None)
    values = getattr(model, "latent_values_per_second", None)
    summary, source = training_data_for_card(meta, data_root)
    recorded = _meta(meta, "training_data")
    folder = f"`{recorded}`, split `{_meta(meta, 'train_split') or 'train'}`" if recorded else "folder not recorded"
    trained_on = f"{folder}: {describe_summary(summary)}" if summary else folder
    licences = "; ".join(licences_for(summary)) if summary else "not known (the training corpora are not known)"
    retrain = f"runs/{name}/best.safetensors src/vqaudio/assets/pretrained/{name}.safetensors"
    return f"""# {name}

{_meta(meta, "description")}

| | |
|---|---|
| model type | {meta.get("model_type")} |
| sample rate | {cfg.sample_rate} Hz, STFT n_fft {cfg.n_fft}, hop {cfg.hop_length} |
| parameters | {parameters:,} |
| latent | {_latent(bits, values)} |
| input level | {_input_level(cfg)} |
| trained on | {trained_on} |
| list of training files | {source} |
| data licences | {licences} |{_noise_row(meta)}{_extra_vocals_row(meta)}{_initialised_row(meta)}
| best epoch / step | {_meta(meta, "epoch")} / {_meta(meta, "step")} (validation loss {_meta(meta, "val/loss")}) |
| stored | safetensors, fp16, config in the file's metadata (`vqaudio info {path.name}`) |

Retrain with one command: `make pretrained` (or `vqaudio train recipes/{name}.yaml --data {_retrain_data(meta)}`
then `python -m vqaudio.train.publish {retrain}`).{_stages_note(meta)}
Measured quality on the validation {_voices(meta)}: `benchmarks/RESULTS.md`, with the command that produced each table.
"""


def write_card(target: Path, data_root: Path | None = None) -> Path:
    """(Re)write the .md card beside the shipped model `target`; its weights are only read. Returns the card."""
    model = load_model(target)
    card = target.with_suffix(".md")
    card.write_text(model_card(target, read_metadata(target), count_parameters(model), model, data_root))
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="trained weights, e.g. runs/NAME/best.safetensors")
    parser.add_argument("target", type=Path, nargs="?", help="where the shipped copy goes")
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="only rewrite the .md card beside SOURCE, an already shipped .safetensors (its weights are not touched)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the run's training folder is now, to re-list its files for the card when the checkpoint has no "
        "training_summary (default: the folder the checkpoint records)",
    )
    parser.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"replace a recorded metadata value in the shipped copy (repeatable; keys: {', '.join(CORRECTABLE)})",
    )
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.meta):
        parser.error(f"--meta takes KEY=VALUE with KEY one of {', '.join(CORRECTABLE)}")
    corrections = dict(item.split("=", 1) for item in args.meta)
    try:
        _check_corrections(corrections)  # before any file is read
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # a command: say what it wrote
    if args.card_only:
        if args.target is not None:
            parser.error("--card-only takes one path: the shipped .safetensors whose card to rewrite")
        if not args.source.is_file():
            parser.error(f"--card-only: {args.source} not found; give a shipped .safetensors")
        log.info("wrote %s", write_card(args.source, args.data))
        return 0
    if args.target is None:
        parser.error("give SOURCE and TARGET (or --card-only SHIPPED.safetensors)")
    publish(args.source, args.target, corrections)
    if args.data is not None:  # publish() wrote the card from the recorded folder; redo it from the one given
        write_card(args.target, args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
