"""Copy trained weights into the package as a shipped model, with a model card made from its metadata.

    python -m vqaudio.train.publish runs/NAME/best.safetensors src/vqaudio/assets/pretrained/NAME.safetensors

Floating-point tensors are stored as fp16 (half the size; the model is rebuilt in fp32 when loaded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vqaudio.models import count_parameters, decode_metadata_value, load_model, read_metadata

DATA_LICENCES = {
    "fsdd": "Free Spoken Digit Dataset, CC BY-SA 4.0",
    "asterisk": "Asterisk PBX prompts, CC BY-SA 3.0 / CC BY 3.0",
}


def publish(source: Path, target: Path) -> Path:
    model = load_model(source)  # proves the file is loadable before it ships
    with safe_open(str(source), framework="pt") as f:
        header = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    small = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(small, str(target), metadata={**header, "stored_dtype": "float16"})
    reloaded = load_model(target)
    spec = torch.full((1, model.config.n_freqs, 32), -40.0)
    with torch.no_grad():
        drift = (reloaded(spec).reconstruction_db - model(spec).reconstruction_db).abs().max().item()
    target.with_suffix(".md").write_text(model_card(target, read_metadata(target), count_parameters(model), model))
    print(f"published {target} ({target.stat().st_size / 1e6:.1f} MB; fp16 output drift {drift:.3f} dB)")
    return target


def _meta(meta: dict, key: str) -> str:
    value = decode_metadata_value(meta.get(key, ""))
    return "" if value is None else str(value)


def _input_level(cfg: object) -> str:
    level = getattr(cfg, "input_level_db", None)
    if level is None:
        return "as recorded (no level normalisation)"
    return f"every input scaled to {level:g} dBFS active speech level (the codec sends the gain and undoes it)"


def model_card(path: Path, meta: dict, parameters: int, model: torch.nn.Module) -> str:
    name = path.stem
    cfg = model.config
    bits = getattr(model, "latent_bits_per_second", None)
    values = getattr(model, "latent_values_per_second", None)
    return f"""# {name}

{_meta(meta, "description")}

| | |
|---|---|
| model type | {meta.get("model_type")} |
| sample rate | {cfg.sample_rate} Hz, STFT n_fft {cfg.n_fft}, hop {cfg.hop_length} |
| parameters | {parameters:,} |
| latent | {f"{bits:.0f} bit/s" if bits else "continuous"}, {values:.0f} values/s |
| input level | {_input_level(cfg)} |
| trained on | `{_meta(meta, "training_data")}`, split `{_meta(meta, "train_split")}` \
(FSDD george, jackson, lucas, nicolas, theo; Asterisk fr_CA_f_June, it_IT_m_Carlo) |
| data licences | {DATA_LICENCES["fsdd"]}; {DATA_LICENCES["asterisk"]} |
| best epoch / step | {_meta(meta, "epoch")} / {_meta(meta, "step")} (validation loss {_meta(meta, "val/loss")}) |
| stored | safetensors, fp16, config in the file's metadata (`vqaudio info {path.name}`) |

Retrain with one command: `make pretrained` (or `vqaudio train recipes/{name}.yaml --data ../shared/data/speech`
then `python -m vqaudio.train.publish runs/{name}/best.safetensors src/vqaudio/assets/pretrained/{name}.safetensors`).
Measured quality on the validation speakers: `benchmarks/RESULTS.md`, with the command that produced each table.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="trained weights, e.g. runs/NAME/best.safetensors")
    parser.add_argument("target", type=Path, help="where the shipped copy goes")
    args = parser.parse_args(argv)
    publish(args.source, args.target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
