"""Small fixtures made here: a folder of speech-like clips in the FSDD layout (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

from vqaudio.audio.io import save
from vqaudio.data.synth import synth_speech


def make_fsdd_folder(
    root: Path, speakers: tuple[str, ...] = ("george", "yweweler"), clips: int = 8, seconds: float = 0.5
) -> Path:
    """root/recordings/{digit}_{speaker}_{n}.wav at 8 kHz; george trains, yweweler validates."""
    folder = root / "recordings"
    for s, speaker in enumerate(speakers):
        for i in range(clips):
            wave = synth_speech(seconds, sample_rate=8000, seed=100 * s + i)
            save(folder / f"{i % 10}_{speaker}_{i}.wav", wave, 8000)
    return folder


TINY_MODEL = {
    "hidden_channels": 16,
    "n_res_blocks": 1,
    "n_downsample": 1,
    "latent_dim": 8,
}
