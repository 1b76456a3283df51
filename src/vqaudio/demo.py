"""`make demo`: the shipped models on the shipped example speech, offline, in well under three minutes.

The main job is the speech codec: each example is encoded to a .vqa file at every rung of the shipped codec's
bitrate ladder and decoded back, with the files' real bitrates (header included and payload only) and
PESQ-NB/STOI. Then the denoiser, on the examples mixed with noise made here (pink noise at 5 dB SNR; no recording
is needed), the separator, on the examples over a backing track made here (chords and a beat, at 0 dB; the voices
speak rather than sing, so this shows the job running, not its quality on songs: see benchmarks/RESULTS.md), and
the reconstruction models. Audio, bitstreams and metric tables go to one folder.
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
DENOISE_MODEL = "denoise-16k"
DENOISE_SNR_DB = 5.0
DENOISE_METRICS = ("pesq_nb", "stoi", "si_sdr")
SEPARATE_MODEL = "separate-16k"
SEPARATE_COLUMNS = ["system", "sdr_vocals", "nsdr_vocals", "sdr_accompaniment", "nsdr_accompaniment"]
METRICS_FILE = "metrics.md"

log = logging.getLogger(__name__)


def _saver(folder: Path) -> Callable[[Utterance, np.ndarray], None]:
    def save_output(utt: Utterance, estimate: np.ndarray) -> None:
        save(folder / f"{utt.name}.wav", estimate, utt.sample_rate)

    return save_output


RECONSTRUCT_ITERS = 64  # reconstruction's Griffin-Lim default (the codec's is its own: pipelines/phase.py)
CODEC_COLUMNS = ["system", "bitrate_with_header", "bitrate", "file_bytes", "pesq_nb", "stoi", "lsd"]


def run_codec_demo(utterances: list[Utterance], out_dir: Path, griffin_lim_iters: int | None = None) -> list[dict]:
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


def pink_noise(n: int, seed: int) -> np.ndarray:
    """Pink (1/f power) noise, unit RMS, from a seed (data.mixture.coloured_noise with exponent 1)."""
    from vqaudio.data.mixture import coloured_noise

    return coloured_noise(n, 1.0, np.random.default_rng(seed))


def run_denoise_demo(utterances: list[Utterance], out_dir: Path) -> list[dict]:
    """Each example + pink noise at DENOISE_SNR_DB through the shipped denoiser; rows for noisy and denoised."""
    from vqaudio.data import snr_gain
    from vqaudio.pipelines import Denoiser

    if DENOISE_MODEL not in pretrained_names():
        log.warning("skipping the denoiser: %s is not shipped in this build", DENOISE_MODEL)
        return []
    denoiser = Denoiser.from_pretrained(DENOISE_MODEL)
    log.info("denoiser: %s on the examples + pink noise at %g dB SNR", DENOISE_MODEL, DENOISE_SNR_DB)
    noisy_utts = []
    for i, utt in enumerate(utterances):
        noise = pink_noise(utt.wave.size, seed=i)
        noisy = utt.wave + noise * np.float32(snr_gain(utt.wave, noise, DENOISE_SNR_DB, utt.sample_rate))
        save(out_dir / "denoise" / "noisy" / f"{utt.name}.wav", noisy, utt.sample_rate)
        noisy_utts.append((utt, noisy))
    rows = []
    for name, system in (("noisy", None), (f"vqaudio-{DENOISE_MODEL}", denoiser)):
        scores = []
        for utt, noisy in noisy_utts:
            estimate = noisy if system is None else system(noisy, utt.sample_rate)
            if system is not None:
                save(out_dir / "denoise" / DENOISE_MODEL / f"{utt.name}.wav", estimate, utt.sample_rate)
            scores.append(evaluate_pair(utt.wave, estimate, utt.sample_rate, metrics=DENOISE_METRICS))
        rows.append({"system": name, **{m: round(float(np.mean([s[m] for s in scores])), 3) for m in DENOISE_METRICS}})
    return rows


def backing_track(n: int, sample_rate: int, seed: int) -> np.ndarray:
    """A backing track made here: a I-V-vi-IV progression of organ-like chords and a noise-burst beat, unit RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    bar = 2.0  # seconds per chord
    roots = (130.81, 196.00, 220.00, 174.61)  # C3, G3, A3, F3
    chord = np.zeros(n)
    for i, root in enumerate(roots):
        on = (np.floor(t / bar) % len(roots)) == i
        for ratio in (1.0, 1.26, 1.5, 2.0):  # root, third, fifth, octave
            chord += on * np.sin(2 * np.pi * root * ratio * t) / ratio
    beat_phase = (t * 2.0) % 1.0  # two beats a second
    beat = np.exp(-beat_phase * 30.0) * rng.standard_normal(n)
    track = chord + 0.8 * beat
    return (track / np.sqrt(np.mean(track**2))).astype(np.float32)


def run_separate_demo(utterances: list[Utterance], out_dir: Path) -> list[dict]:
    """Each example over a backing track at 0 dB through the shipped separator; BSS-eval rows for both sources."""
    from vqaudio.metrics import MetricError, separation_scores
    from vqaudio.pipelines import Separator

    if SEPARATE_MODEL not in pretrained_names():
        log.warning("skipping the separator: %s is not shipped in this build", SEPARATE_MODEL)
        return []
    separator = Separator.from_pretrained(SEPARATE_MODEL)
    log.info("separator: %s on the examples over a backing track made here, at 0 dB", SEPARATE_MODEL)
    scores: list[dict] = []
    for i, utt in enumerate(utterances):
        voice = utt.wave.astype(np.float32)
        backing = backing_track(voice.size, utt.sample_rate, seed=i)
        backing *= np.float32(np.sqrt(np.mean(voice**2)))  # 0 dB: the same power as the voice
        song = voice + backing
        parts = separator(song, utt.sample_rate)
        folder = out_dir / "separate" / utt.name
        for name, wave in (("mixture", song), ("vocals", parts["vocals"]), ("accompaniment", parts["accompaniment"])):
            save(folder / f"{name}.wav", wave, utt.sample_rate)
        try:
            estimates = np.stack([parts["vocals"], parts["accompaniment"]])
            scores.append(separation_scores(np.stack([voice, backing]), estimates, song))
        except MetricError as err:
            log.warning("%s: not scored (%s)", utt.name, err)
    if not scores:
        return []
    row: dict = {"system": f"vqaudio-{SEPARATE_MODEL}"}
    for source in ("vocals", "accompaniment"):
        for metric in ("sdr", "nsdr"):
            row[f"{metric}_{source}"] = round(float(np.mean([s[source][metric] for s in scores])), 2)
    return [row]


def run_demo(out_dir: Path, griffin_lim_iters: int | None = None) -> Path:
    """Write inputs, .vqa files, decoded audio and OUT/metrics.md + metrics.json; returns the folder.

    Progress goes to the `vqaudio.demo` logger; `main` prints the tables. `griffin_lim_iters` None: each pipeline's
    own default (the codec's 32, reconstruction's 64).
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
    denoise_rows = run_denoise_demo(utterances, out_dir)
    denoise_section = (
        f"## Denoising: the examples + pink noise at {DENOISE_SNR_DB:g} dB SNR (denoise/)\n\n"
        "SI-SDR in dB: higher is better.\n\n" + markdown_table(denoise_rows, ["system", *DENOISE_METRICS]) + "\n\n"
        if denoise_rows
        else ""
    )

    separate_rows = run_separate_demo(utterances, out_dir)
    separate_section = (
        "## Separation: the examples over a backing track made here, at 0 dB (separate/)\n\n"
        "BSS-eval SDR and NSDR (SDR gained over the mixture) in dB: higher is better. The examples are spoken, "
        "not sung: MIR-1K figures are in benchmarks/RESULTS.md.\n\n"
        + markdown_table(separate_rows, SEPARATE_COLUMNS)
        + "\n\n"
        if separate_rows
        else ""
    )

    iters = RECONSTRUCT_ITERS if griffin_lim_iters is None else griffin_lim_iters
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
        systems.append((f"vqaudio-{name}", Reconstructor(model, griffin_lim_iters=iters), extra))
    systems.append(("true-magnitude-griffin-lim", TrueMagnitudeGriffinLim(n_iter=iters), {}))

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
        + "\n\n"
        + denoise_section
        + separate_section
        + "## Speech reconstruction (no bitstream)\n\nrtf_x: seconds of audio per second of compute.\n\n"
        + table
        + "\n"
    )
    write_json(
        out_dir / "metrics.json",
        benchmark_report("demo", rows, codec_rows=codec_rows, denoise_rows=denoise_rows, separate_rows=separate_rows),
    )
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the shipped codec (every bitrate rung), denoiser, separator and reconstruction models on "
        "example speech; offline."
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for audio and metrics")
    parser.add_argument(
        "--griffin-lim-iters", type=int, help="phase iterations for every model (default: codec 32, reconstruction 64)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    out = run_demo(args.out, args.griffin_lim_iters)
    print((out / METRICS_FILE).read_text())
    print(f"\nDemo output (.vqa files and audio per rung and system, metrics.md, metrics.json): {out.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
