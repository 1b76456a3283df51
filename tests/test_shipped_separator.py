"""The shipped separator's scores, pinned: on MIR-1K validation clips at 0 dB (where ../shared/data is) and on the
demo's spoken examples over its made-here backing track (always).

Pinned within +-0.3 dB, measured on one thread. A deliberate change of the shipped weights or the pipeline: rerun
with VQAUDIO_UPDATE_PINS=1 (pytest -s) and paste the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import _shared_data_dir
from vqaudio.assets import example_files, pretrained_names
from vqaudio.demo import SEPARATE_MODEL, backing_track

UPDATE = os.environ.get("VQAUDIO_UPDATE_PINS", "") not in ("", "0")
TOLERANCE_DB = 0.3
VAL_CLIPS = ("Ani_1_01", "Ani_4_05", "annar_1_01", "annar_3_04")  # two per validation singer

# clip -> (sdr_vocals, nsdr_vocals, sdr_accompaniment, nsdr_accompaniment)
PINS: dict[str, tuple[float, float, float, float]] = {
    "Ani_1_01": (11.70, 11.76, 11.71, 11.74),
    "Ani_4_05": (9.80, 9.81, 8.21, 8.22),
    "annar_1_01": (-1.24, -1.28, -1.83, -1.88),
    "annar_3_04": (6.56, 6.53, 5.38, 5.43),
    "example-female": (2.89, 2.75, 6.48, 6.34),
    "example-male": (2.10, 2.02, 3.42, 3.31),
}

pytestmark = pytest.mark.skipif(SEPARATE_MODEL not in pretrained_names(), reason="shipped separator absent")


def _scores(separator: object, vocals: np.ndarray, accompaniment: np.ndarray, rate: int) -> tuple[float, ...]:
    from vqaudio.metrics import separation_scores

    song = vocals + accompaniment
    parts = separator(song, rate)  # type: ignore[operator]
    if rate == separator.sample_rate:  # type: ignore[attr-defined]  (resampling to the model's rate and back is not exact)
        np.testing.assert_allclose(parts["vocals"] + parts["accompaniment"], song, atol=1e-4)  # masks sum to one
    s = separation_scores(np.stack([vocals, accompaniment]), np.stack([parts["vocals"], parts["accompaniment"]]), song)
    return (s["vocals"]["sdr"], s["vocals"]["nsdr"], s["accompaniment"]["sdr"], s["accompaniment"]["nsdr"])


def _at_equal_power(vocals: np.ndarray, accompaniment: np.ndarray) -> np.ndarray:
    return (vocals * np.sqrt(np.mean(accompaniment**2) / np.mean(vocals**2))).astype(np.float32)


def score_all(shared: Path | None) -> dict[str, tuple[float, ...]]:
    from vqaudio.audio import load
    from vqaudio.data import music_tracks
    from vqaudio.pipelines import Separator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        separator = Separator.from_pretrained()
        results = {}
        for i, path in enumerate(example_files()):
            voice, rate = load(path)
            backing = backing_track(voice.size, rate, seed=i) * np.float32(np.sqrt(np.mean(voice**2)))
            results[path.stem] = _scores(separator, voice, backing, rate)
        if shared is not None:
            for track in music_tracks(shared / "music" / "mir1k", "val"):
                if track.name in VAL_CLIPS:
                    vocals, accompaniment = track.load(16000)
                    results[track.name] = _scores(
                        separator, _at_equal_power(vocals, accompaniment), accompaniment, 16000
                    )
        return results
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[float, ...]]:
    shared = _shared_data_dir()
    return score_all(shared if (shared / "music" / "mir1k" / "val").is_dir() else None)


def test_scores_match_the_pins(results: dict[str, tuple[float, ...]]) -> None:
    if UPDATE:
        for clip, s in sorted(results.items()):
            print(f'    "{clip}": ({s[0]:.2f}, {s[1]:.2f}, {s[2]:.2f}, {s[3]:.2f}),')
        pytest.skip("VQAUDIO_UPDATE_PINS set: printed the new PINS table")
    assert set(results) <= set(PINS), "every clip needs a pin (VQAUDIO_UPDATE_PINS=1 prints them)"
    for clip, scores in results.items():
        assert scores == pytest.approx(PINS[clip], abs=TOLERANCE_DB), clip


def test_the_separator_gains_on_the_validation_clips_but_one(results: dict[str, tuple[float, ...]]) -> None:
    # annar_1_01 is the weakest of the 80 validation clips (benchmarks/RESULTS.md): the recurrent stage took it from
    # +0.8 to -1.3 dB vocal NSDR while 71 of the 80 gained; it may lose, but not by more than 2 dB
    for clip in set(results) & set(VAL_CLIPS):
        floor = -2.0 if clip == "annar_1_01" else 0.3
        assert results[clip][1] > floor and results[clip][3] > floor, clip
