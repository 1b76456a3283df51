"""Long-audio benchmark: peak memory and speed of every `vqaudio` command that runs a model on a file.

Makes 44.1 kHz stereo 16-bit test files of each `--minutes` length (left: a speech-like voice over a quiet chord;
right: another, quieter voice over a louder chord), written block by block so making an hour needs no memory, then
runs each `--commands` entry on each file in a fresh `vqaudio` process and records that process's peak resident
memory (`peak_rss_mb`: the whole process, torch and the model included, as the process's own VmHWM just before it
exits; not wait4's ru_maxrss, which on Linux also counts the parent's peak when the child is started by vfork +
exec, as Python's subprocess does) and its speed (`rtf_x`: seconds of audio per second of wall time, start-up and
model loading included; `wall_s` the wall time itself). `decode` decodes the .vqa file `encode` wrote (so `encode`
runs first when both are asked for); `separate` is skipped, with a note, when no separator is shipped
(`--separate-model` gives one).

Streaming (issue "Reliability and scale") keeps the peak flat: the table should show the same memory for 1, 10
and 60 minutes.

    python benchmarks/long_audio.py --json OUT.json [--minutes 1 10 60] [--commands encode decode ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from vqaudio.assets import pretrained_names, pretrained_path
from vqaudio.data.synth import synth_speech
from vqaudio.evaluation import finish_report

COMMANDS = ("encode", "decode", "codec", "reconstruct", "denoise", "separate")
COLUMNS = ["system", "minutes", "peak_rss_mb", "rtf_x", "wall_s", "note"]
RATE = 44_100
BLOCK_SECONDS = 10.0


def make_test_file(path: Path, minutes: float, rate: int = RATE, seed: int = 0) -> Path:
    """A 16-bit stereo wav of `minutes`, written in blocks of BLOCK_SECONDS (memory: one block)."""
    n_total = round(minutes * 60 * rate)
    block = round(BLOCK_SECONDS * rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=2, subtype="PCM_16", format="WAV") as f:
        for i, at in enumerate(range(0, n_total, block)):
            n = min(block, n_total - at)
            t = (at + np.arange(n)) / rate
            chord = sum(np.sin(2 * np.pi * hz * t) for hz in (130.8, 164.8, 196.0, 261.6)) * 0.04
            chord *= 1.0 + 0.3 * np.sin(2 * np.pi * 0.25 * t)  # a slow swell, so the music is not stationary
            left = synth_speech(n / rate, rate, seed=seed + 2 * i) + chord
            right = 0.5 * synth_speech(n / rate, rate, seed=seed + 2 * i + 1) + 1.5 * chord
            f.write(np.stack([left, right], axis=1).astype(np.float32))
    return path


# Runs `vqaudio` (argv after the script) and, as the interpreter exits, writes the process's own peak resident memory
# in bytes to $VQAUDIO_PEAK_FILE: VmHWM of this process image (Linux), else ru_maxrss.
PEAK_PROBE = """
import atexit, os, resource, runpy, sys

def peak():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024

def report():
    with open(os.environ["VQAUDIO_PEAK_FILE"], "w") as out:
        out.write(str(peak()))

atexit.register(report)
sys.argv = ["vqaudio", *sys.argv[1:]]
runpy.run_module("vqaudio.cli", run_name="__main__", alter_sys=True)
"""


def run_measured(args: Sequence[str]) -> tuple[float, float, str]:
    """Run `vqaudio ARGS` in a fresh interpreter: (its peak RSS in MB, wall seconds, its stderr's last line if it
    failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env = {**os.environ, "VQAUDIO_PEAK_FILE": str(peak_file)}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PEAK_PROBE, *args], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_mb = int(peak_file.read_text()) / 1e6 if peak_file.exists() else float("nan")
    failed = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return peak_mb, wall, failed


def command_line(command: str, source: Path, out: Path, threads: int, separate_model: Path | None) -> list[str] | None:
    """The `vqaudio` arguments for one command on `source` (outputs under `out`); None if it cannot run."""
    cli = ["-q"]
    common = ["--threads", str(threads), "--force"]
    stem = source.stem
    if command == "encode":
        return [*cli, "encode", str(source), "-o", str(out / f"{stem}.vqa"), *common]
    if command == "decode":
        return [*cli, "decode", str(out / f"{stem}.vqa"), "-o", str(out / f"{stem}.decoded.wav"), *common]
    if command == "codec":
        return [*cli, "codec", str(source), "-o", str(out / f"{stem}.codec.wav"), *common]
    if command == "reconstruct":
        model = pretrained_path("reconstruct-vqvae-8k")
        return [*cli, "reconstruct", str(model), str(source), "-o", str(out / f"{stem}.reconstructed.wav"), *common]
    if command == "denoise":
        return [*cli, "denoise", str(source), "-o", str(out / f"{stem}.denoised.wav"), *common]
    if command == "separate":
        if separate_model is None:
            return None
        return [*cli, "separate", str(source), "-o", str(out / f"{stem}.separated"), "--model", str(separate_model),
                *common]  # fmt: skip
    raise ValueError(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0, 60.0], help="file lengths")
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=COMMANDS)
    parser.add_argument("--threads", type=int, default=1, help="--threads of every command (default 1)")
    parser.add_argument("--work", type=Path, help="folder for the test files and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the test files and outputs")
    parser.add_argument("--separate-model", type=Path, help="separator weights (default: shipped separate-16k)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)

    separate_model = args.separate_model
    if separate_model is None and "separate-16k" in pretrained_names():
        separate_model = pretrained_path("separate-16k")
    commands = sorted(args.commands, key=COMMANDS.index)  # encode before decode
    work = args.work or Path(tempfile.mkdtemp(prefix="vqaudio-long-"))
    rows: list[dict[str, Any]] = []
    try:
        for minutes in args.minutes:
            source = make_test_file(work / f"long-{minutes:g}min.wav", minutes)
            out = work / "out"
            for command in commands:
                row: dict[str, Any] = {"system": f"vqaudio-{command}", "minutes": minutes}
                line = command_line(command, source, out, args.threads, separate_model)
                if line is None:
                    row["note"] = "skipped: no separator shipped (pass --separate-model)"
                else:
                    print(f"{command}, {minutes:g} min ...", file=sys.stderr, flush=True)
                    peak_mb, wall, failed = run_measured(line)
                    row.update(peak_rss_mb=round(peak_mb, 1), wall_s=round(wall, 1))
                    row["rtf_x"] = round(minutes * 60 / wall, 2) if not failed else None
                    if failed:
                        row["note"] = f"failed: {failed}"
                rows.append(row)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
                source.unlink()
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(finish_report("long_audio", rows, COLUMNS, args.json, rate=RATE, channels=2, threads=args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
