"""BSS-eval SDR / SIR / SAR, NSDR and length-weighted global scores, on signals made here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqaudio.metrics import MetricError, bss_eval, global_scores, separation_scores

SR = 16000
T = 2 * SR


def _sources(seed: int = 0) -> np.ndarray:
    """(2, T): a gliding harmonic "voice" with a tremolo, and a noisy low "accompaniment" with a beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / SR
    f0 = 220.0 + 40.0 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    beat = (np.sin(2 * np.pi * 2 * t) > 0.7).astype(np.float64)
    backing = 0.5 * np.sin(2 * np.pi * 110 * t) + 0.3 * beat * rng.standard_normal(T)
    return np.stack([0.3 * voice, backing])


def _power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x**2)))


def _at(x: np.ndarray, refs: np.ndarray, db: float) -> np.ndarray:
    """Each row of `x` scaled to a power `db` dB relative to the same row of `refs`."""
    gains = [10 ** ((_power_db(r) + db - _power_db(row)) / 20) for row, r in zip(x, refs, strict=True)]
    return x * np.asarray(gains)[:, None]


def test_perfect_and_swapped_estimates() -> None:
    refs = _sources()
    perfect = bss_eval(refs, refs.copy())
    assert set(perfect) == {"sdr", "sir", "sar"} and all(v.shape == (2,) for v in perfect.values())
    assert np.allclose(perfect["sdr"], 60.0) and np.allclose(perfect["sir"], 60.0)  # clamped, not infinite
    swapped = bss_eval(refs, refs[::-1].copy())  # no permutation: each estimate is the other source
    assert np.all(swapped["sdr"] < -10) and np.all(swapped["sir"] < -10)


def test_sdr_of_white_noise_matches_its_snr() -> None:
    refs = _sources()
    snr_db = 10.0
    noise = _at(np.random.default_rng(1).standard_normal(refs.shape), refs, -snr_db)
    scores = bss_eval(refs, refs + noise)
    # the 512-tap filters fit a little of the noise (512 of 32000 samples' worth): SDR a little above the SNR
    assert np.allclose(scores["sdr"], snr_db, atol=0.5) and np.all(scores["sdr"] >= snr_db - 0.05)
    assert np.allclose(scores["sar"], snr_db, atol=0.5)
    assert np.all(scores["sir"] > 20)  # independent noise is an artefact, not interference


def test_interference_lowers_sir_not_sar() -> None:
    refs = _sources()
    artefacts = _at(np.random.default_rng(2).standard_normal(refs.shape), refs, -20.0)
    clean = bss_eval(refs, refs + artefacts)
    leaky = bss_eval(refs, refs + _at(refs[::-1], refs, -10.0) + artefacts)  # each holds some of the other source
    assert np.all(clean["sir"] > 30)
    assert np.allclose(leaky["sir"], 10.0, atol=1.0)  # the other source 10 dB down: SIR about 10 dB
    assert np.all(np.abs(clean["sar"] - leaky["sar"]) < 1.0)
    assert np.all(leaky["sdr"] < clean["sdr"] - 8)


def test_mixture_as_estimate_has_zero_nsdr() -> None:
    refs = _sources()
    mixture = refs.sum(axis=0)
    same = separation_scores(refs, np.stack([mixture, mixture]), mixture)
    assert list(same) == ["vocals", "accompaniment"]
    for scores in same.values():
        assert set(scores) == {"sdr", "sir", "sar", "nsdr"}
        assert abs(scores["nsdr"]) < 1e-6
    rng = np.random.default_rng(3)
    estimates = refs + 0.01 * rng.standard_normal(refs.shape)
    scores = separation_scores(refs, estimates, mixture, names=("voice", "backing"))
    plain = bss_eval(refs, estimates)
    mixture_sdr = bss_eval(refs, np.stack([mixture, mixture]))["sdr"]
    for s, name in enumerate(("voice", "backing")):
        assert scores[name]["sdr"] == pytest.approx(plain["sdr"][s], abs=1e-9)
        assert scores[name]["nsdr"] == pytest.approx(plain["sdr"][s] - mixture_sdr[s], abs=1e-9)
        assert scores[name]["nsdr"] > 10


def test_torch_input_and_determinism() -> None:
    refs = _sources()
    noise = np.random.default_rng(4).standard_normal(refs.shape)
    estimates = refs + _at(refs[::-1], refs, -15.0) + _at(noise, refs, -20.0)
    a = bss_eval(refs, estimates)
    b = bss_eval(torch.from_numpy(refs).float(), torch.from_numpy(estimates).float())
    c = bss_eval(refs, estimates)
    assert all(np.array_equal(a[k], c[k]) for k in a)  # same inputs, same bits
    assert all(np.allclose(a[k], b[k], atol=0.01) for k in a)  # float32 in: the same scores to rounding


def test_global_scores_weight_by_length() -> None:
    def clip(nsdr: float, sir: float) -> dict[str, dict[str, float]]:
        return {
            "vocals": {"sdr": nsdr + 1, "sir": sir, "sar": 5.0, "nsdr": nsdr},
            "accompaniment": {"sdr": 2.0, "sir": 3.0, "sar": 4.0, "nsdr": -nsdr},
        }

    out = global_scores([(1000, clip(10.0, 20.0)), (3000, clip(2.0, 8.0))])
    assert list(out)[:4] == ["gnsdr_vocals", "gsir_vocals", "gsar_vocals", "gsdr_vocals"]
    assert set(out) == {f"g{m}_{s}" for m in ("nsdr", "sir", "sar", "sdr") for s in ("vocals", "accompaniment")}
    assert out["gnsdr_vocals"] == pytest.approx((1000 * 10 + 3000 * 2) / 4000)  # 4.0, not the plain mean 6.0
    assert out["gsir_vocals"] == pytest.approx((1000 * 20 + 3000 * 8) / 4000)
    assert out["gsdr_vocals"] == pytest.approx(5.0)
    assert out["gsar_vocals"] == 5.0 and out["gsar_accompaniment"] == 4.0
    assert out["gnsdr_accompaniment"] == pytest.approx(-4.0)
    with pytest.raises(ValueError, match="empty"):
        global_scores([])
    with pytest.raises(ValueError, match="length"):
        global_scores([(0, clip(1.0, 1.0))])
    with pytest.raises(ValueError, match="same sources"):
        global_scores([(10, clip(1.0, 1.0)), (10, {"vocals": clip(1.0, 1.0)["vocals"]})])


def test_global_scores_of_real_clips() -> None:
    clips = []
    for seed, n in ((0, T), (1, T // 2)):
        refs = _sources(seed)[:, :n]
        estimates = refs + 0.05 * refs[::-1]
        clips.append((n, separation_scores(refs, estimates, refs.sum(axis=0))))
    out = global_scores(clips)
    expected = (2 * clips[0][1]["vocals"]["nsdr"] + clips[1][1]["vocals"]["nsdr"]) / 3
    assert out["gnsdr_vocals"] == pytest.approx(expected)


def test_errors() -> None:
    refs = _sources()
    silent = refs.copy()
    silent[1] = 0.0
    with pytest.raises(MetricError, match="reference source 1 is silent"):
        bss_eval(silent, refs)
    dropped = bss_eval(refs, silent)  # a silent estimate is scored at the floor, not skipped
    assert all(v[1] == -60.0 for v in dropped.values()) and dropped["sdr"][0] > 30
    broken = refs.copy()
    broken[0, 10] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        bss_eval(refs, broken)
    with pytest.raises(MetricError, match="shape"):
        bss_eval(refs, refs[:, :-100])
    with pytest.raises(MetricError, match="at least 2"):
        bss_eval(refs[:1], refs[:1])
    with pytest.raises(MetricError, match=r"\(sources, samples\)"):
        bss_eval(refs[0], refs[0])
    with pytest.raises(MetricError, match="samples"):
        bss_eval(refs[:, :1000], refs[:, :1000])
    with pytest.raises(MetricError, match="mixture"):
        separation_scores(refs, refs, refs.sum(axis=0)[:-1])
    with pytest.raises(MetricError, match="mixture is silent"):
        separation_scores(refs, refs, np.zeros(T))
    with pytest.raises(ValueError, match="names"):
        separation_scores(refs, refs, refs.sum(axis=0), names=("vocals",))
