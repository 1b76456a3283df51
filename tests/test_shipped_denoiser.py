"""The shipped denoiser's scores on the shipped examples + pink noise at 5 dB (as `make demo` runs it), pinned.

Pinned within +-0.05 PESQ-NB, +-0.01 STOI and +-0.3 dB SI-SDR, measured 2026-11-30 on one thread. A deliberate
change of the shipped weights or the pipeline: rerun with VQAUDIO_UPDATE_PINS=1 (pytest -s) and paste the table.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from vqaudio.assets import example_files, pretrained_names
from vqaudio.demo import DENOISE_MODEL, DENOISE_SNR_DB, pink_noise

UPDATE = os.environ.get("VQAUDIO_UPDATE_PINS", "") not in ("", "0")
TOLERANCE = {"pesq_nb": 0.05, "stoi": 0.01, "si_sdr": 0.3}

# (example, "noisy" | "denoised") -> (pesq_nb, stoi, si_sdr)
PINS: dict[tuple[str, str], tuple[float, float, float]] = {
    ("example-female", "denoised"): (1.980, 0.8714, 11.75),
    ("example-female", "noisy"): (1.361, 0.8355, 4.03),
    ("example-male", "denoised"): (1.808, 0.8879, 8.52),
    ("example-male", "noisy"): (1.328, 0.9043, 4.57),
}

pytestmark = pytest.mark.skipif(
    DENOISE_MODEL not in pretrained_names() or not example_files(), reason="shipped denoiser or examples absent"
)


def score_all() -> dict[tuple[str, str], dict[str, float]]:
    from vqaudio.audio import load
    from vqaudio.data import snr_gain
    from vqaudio.metrics import evaluate_pair
    from vqaudio.pipelines import Denoiser

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        denoiser = Denoiser.from_pretrained()
        results = {}
        for i, path in enumerate(example_files()):
            wave, sr = load(path)
            noise = pink_noise(wave.size, seed=i)  # as the demo makes it
            noisy = wave + noise * np.float32(snr_gain(wave, noise, DENOISE_SNR_DB, sr))
            denoised = denoiser(noisy, sr)
            assert denoised.shape == noisy.shape
            for kind, estimate in (("noisy", noisy), ("denoised", denoised)):
                scores = evaluate_pair(wave, estimate, sr, metrics=tuple(TOLERANCE))
                results[(path.stem, kind)] = {k: float(v) for k, v in scores.items()}
        return results
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str], dict[str, float]]:
    return score_all()


def test_scores_match_the_pins(results: dict[tuple[str, str], dict[str, float]]) -> None:
    if UPDATE:
        for key, s in sorted(results.items()):
            print(f'    ("{key[0]}", "{key[1]}"): ({s["pesq_nb"]:.3f}, {s["stoi"]:.4f}, {s["si_sdr"]:.2f}),')
        pytest.skip("VQAUDIO_UPDATE_PINS set: printed the new PINS table")
    assert set(results) == set(PINS), "every example needs a pin (VQAUDIO_UPDATE_PINS=1 prints them)"
    for key, pinned in PINS.items():
        for (metric, tolerance), value in zip(TOLERANCE.items(), pinned, strict=True):
            assert results[key][metric] == pytest.approx(value, abs=tolerance), (key, metric)


def test_the_denoiser_raises_si_sdr_on_every_example(results: dict[tuple[str, str], dict[str, float]]) -> None:
    for example in {e for e, _ in results}:
        assert results[(example, "denoised")]["si_sdr"] > results[(example, "noisy")]["si_sdr"] + 1.0
