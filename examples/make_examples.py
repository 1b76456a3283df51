"""Regenerate the demo's example speech with espeak-ng (Debian package `espeak-ng`).

Writes src/vqaudio/assets/examples/*.flac, which the demo uses; nothing there comes from ../shared.
Usage: python examples/make_examples.py
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import soundfile as sf
import soxr

SENTENCES = {
    "example-male.flac": (
        "en-us",
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
    ),
    "example-female.flac": (
        "en-us+f3",
        "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.",
    ),
}
SAMPLE_RATE = 8000


def synthesize(voice: str, text: str) -> tuple:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "--stdout", text], check=True, capture_output=True
    ).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    audio = soxr.resample(audio, sr, SAMPLE_RATE, "HQ")
    return audio * (0.5 / max(1e-6, float(abs(audio).max()))), SAMPLE_RATE


def main() -> None:
    out_dir = Path(__file__).resolve().parents[1] / "src" / "vqaudio" / "assets" / "examples"
    for name, (voice, text) in SENTENCES.items():
        audio, sr = synthesize(voice, text)
        sf.write(out_dir / name, audio, sr, subtype="PCM_16")
        print(f"{name}: {len(audio) / sr:.1f} s")


if __name__ == "__main__":
    main()
