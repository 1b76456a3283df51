"""`make demo`: the shipped models on the shipped example speech, offline, in well under three minutes.

The main job is the speech codec: each example is encoded to a .vqa file at every rung of the shipped codec's
bitrate ladder and decoded back, with the files' real bitrates (header included and payload only) and
PESQ-NB/STOI. Then the reconstruction models. Audio, bitstreams and metric tables go to one folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vqaudio.assets import example_files, pretrained_names, pretrained_path
from vqaudio.audio.io import load, save
from vqaudio.bitstream import read_vqa
from vqaudio.data import Utterance
from vqaudio.evaluation import System, benchmark_report, markdown_table, score_system, write_json
from vqaudio.metrics import evaluate_pair
from vqaudio.models import load_model
from vqaudio.pipelines import Reconstructor, TrueMagnitudeGriffinLim
from vqaudio.pipelines.codec import Codec, bitrate_of

RECONSTRUCT_MODELS = ("reconstruct-vqvae-8k", "reconstruct-vae-8k")
METRICS_FILE = "metrics.md"

log = logging.getLogger(__name__)


def _saver(folder: Path) -> Callable[[Utterance, np.ndarray], None]:
    def save_output(utt: Utterance, estimate: np.ndarray) -> None:
        save(folder / f"{utt.name}.wav", estimate, utt.sample_rate)

    return save_output


CODEC_COLUMNS = ["system", "bitrate_with_header", "bitrate", "file_bytes", "pesq_nb", "stoi", "lsd"]


def run_codec_demo(utterances: list[Utterance], out_dir: Path, griffin_lim_iters: int = 64) -> list[dict]:
    """Every example through .vqa files at every rung of the default codec; one row per rung."""
    codec = Codec.default(griffin_lim_iters=griffin_lim_iters)
    log.info("codec: %s, ladder %s bit/s", codec.model_id, ", ".join(f"{r:g}" for r in codec.bitrates))
    rows = []
    for rung in codec.bitrates:
        folder = out_dir / "codec" / f"{int(rung + 0.5)}bps"
        folder.mkdir(parents=True, exist_ok=True)
        seconds = file_bits = payload_bits = 0.0
        n_bytes, scores = 0, []
        for utt in utterances:
            vqa = folder / f"{utt.name}.vqa"
            data = codec.encode_file(out_dir / "input" / f"{utt.name}.wav", vqa, bitrate=rung)
            decoded, _ = codec.decode_file(vqa, folder / f"{utt.name}.wav")
            header, _ = read_vqa(data)
            rates = bitrate_of(data, header)
            seconds += header.duration_s
            file_bits += rates["bitrate"] * header.duration_s
            payload_bits += rates["payload_bitrate"] * header.duration_s
            n_bytes += len(data)
            scores.append(evaluate_pair(utt.wave, decoded, utt.sample_rate, metrics=("pesq_nb", "stoi", "lsd")))
        rows.append(
            {
                "system": f"{codec.model_id}-{int(rung + 0.5)}",
                "bitrate_with_header": round(file_bits / seconds, 1),
                "bitrate": round(payload_bits / seconds, 1),
                "file_bytes": n_bytes,
                **{m: round(float(np.mean([s[m] for s in scores])), 3) for m in ("pesq_nb", "stoi", "lsd")},
            }
        )
    return rows


def run_demo(out_dir: Path, griffin_lim_iters: int = 64) -> Path:
    """Write inputs, .vqa files, decoded audio and OUT/metrics.md + metrics.json; returns the folder.

    Progress goes to the `vqaudio.demo` logger; `main` prints the tables.
    """
    examples = example_files()
    if not examples:
        raise FileNotFoundError("no example speech in the package (src/vqaudio/assets/examples)")
    utterances = []
    for path in examples:
        wave, sr = load(path)
        utterances.append(Utterance(name=path.stem, speaker=path.stem, wave=wave, sample_rate=sr))
    for utt in utterances:
        save(out_dir / "input" / f"{utt.name}.wav", utt.wave, utt.sample_rate)

    codec_rows = run_codec_demo(utterances, out_dir, griffin_lim_iters)
    codec_table = markdown_table(codec_rows, CODEC_COLUMNS)

    systems: list[tuple[str, System, dict]] = []
    for name in RECONSTRUCT_MODELS:
        if name not in pretrained_names():
            log.warning("skipping %s: not shipped in this build", name)
            continue
        model = load_model(pretrained_path(name))
        extra = {
            "latent_bits_per_second": getattr(model, "latent_bits_per_second", None),
            "latent_values_per_second": getattr(model, "latent_values_per_second", None),
        }
        systems.append((f"vqaudio-{name}", Reconstructor(model, griffin_lim_iters=griffin_lim_iters), extra))
    systems.append(("true-magnitude-griffin-lim", TrueMagnitudeGriffinLim(n_iter=griffin_lim_iters), {}))

    rows = []
    for system_name, system, extra in systems:
        log.info("running %s ...", system_name)
        row = score_system(system_name, system, utterances, on_output=_saver(out_dir / system_name))
        rows.append({**row, **extra})
    table = markdown_table(rows, ["system", "pesq_nb", "stoi", "lsd", "latent_bits_per_second", "rtf_x"])
    (out_dir / METRICS_FILE).write_text(
        "# vqaudio demo\n\nInputs: the package's example speech (espeak-ng, 8 kHz).\n"
        "PESQ-NB and STOI: higher is better; LSD (log-spectral distance, dB): lower is better.\n\n"
        "## Speech codec: .vqa files at every rung (codec/<rate>bps/)\n\n"
        "bitrate_with_header: the files' real size over the audio's duration; bitrate: the coded indices only.\n\n"
        + codec_table
        + "\n\n## Speech reconstruction (no bitstream)\n\nrtf_x: seconds of audio per second of compute.\n\n"
        + table
        + "\n"
    )
    write_json(out_dir / "metrics.json", benchmark_report("demo", rows, codec_rows=codec_rows))
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the shipped codec (every bitrate rung) and reconstruction models on example speech; offline."
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for audio and metrics")
    parser.add_argument("--griffin-lim-iters", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out = run_demo(args.out, args.griffin_lim_iters)
    print((out / METRICS_FILE).read_text())
    print(f"\nDemo output (.vqa files and audio per rung and system, metrics.md, metrics.json): {out.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
