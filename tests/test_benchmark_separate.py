"""Smoke test of benchmarks/separate.py on MIR-1K-style stereo FLAC clips made here (left = accompaniment, right =
voice), with a stand-in separator: every row, the oracle above the mixture, a missing shipped model reported.

`music_tracks` / `MusicTrack` (vqaudio.data) and `separation_scores` / `global_scores` (vqaudio.metrics) are used
as they are when they import; where they do not exist yet, small stand-ins with the same interface take their place
(a gain-only BSS eval projection for the metrics). The separator is always a stand-in (no separation model is
trained here).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import vqaudio.data
import vqaudio.metrics
import vqaudio.pipelines
from vqaudio.audio import load, save
from vqaudio.metrics import MetricError

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "separate.py"
RATE = 16000


# ------------------------------------------------------------------------------- stand-ins for missing pieces


@dataclass
class _StandInTrack:
    name: str
    layout: str
    path: Path

    def load(self, sample_rate: int, mono: bool = True) -> tuple[np.ndarray, np.ndarray]:
        wave, _ = load(self.path, sample_rate=sample_rate, mono=False)  # (2, T): left accompaniment, right voice
        if mono:
            return wave[1], wave[0]
        return wave[1:2], wave[0:1]


def _stand_in_music_tracks(root: str | Path, split: str) -> list[_StandInTrack]:
    return [_StandInTrack(p.stem, "mir1k", p) for p in sorted((Path(root) / split).glob("*.flac"))]


def _db(num: float, den: float) -> float:
    tiny = 1e-20
    return float(10.0 * np.log10((num + tiny) / (den + tiny)))


def _bss(references: np.ndarray, estimate: np.ndarray, j: int) -> tuple[float, float, float]:
    """BSS eval with a gain-only distortion (0-tap filters): (SDR, SIR, SAR) of `estimate` for source j."""
    refs = references.astype(np.float64)
    est = estimate.astype(np.float64)
    target = refs[j] * (est @ refs[j]) / (refs[j] @ refs[j])
    in_span = np.linalg.lstsq(refs.T, est, rcond=None)[0] @ refs
    interf, artif = in_span - target, est - in_span
    e_t = float(target @ target)
    return (
        _db(e_t, float((interf + artif) @ (interf + artif))),
        _db(e_t, float(interf @ interf)),
        _db(float(in_span @ in_span), float(artif @ artif)),
    )


def _stand_in_separation_scores(references, estimates, mixture, names=("vocals", "accompaniment")):
    references, estimates, mixture = np.asarray(references), np.asarray(estimates), np.asarray(mixture)
    if np.any(np.sum(references.astype(np.float64) ** 2, axis=1) == 0):
        raise MetricError("a reference source is silent")
    out = {}
    for j, name in enumerate(names):
        sdr, sir, sar = _bss(references, estimates[j], j)
        out[name] = {"sdr": sdr, "sir": sir, "sar": sar, "nsdr": sdr - _bss(references, mixture, j)[0]}
    return out


def _stand_in_global_scores(items):
    if not items:
        raise MetricError("no clips to average")
    weights = np.array([n for n, _ in items], dtype=np.float64)
    out = {}
    for source in items[0][1]:
        for metric in ("nsdr", "sir", "sar", "sdr"):
            values = np.array([s[source][metric] for _, s in items])
            out[f"g{metric}_{source}"] = float(np.sum(weights * values) / weights.sum())
    return out


class _StubSeparator:
    """Stands in for vqaudio.pipelines.Separator: half the input to each source; records every call."""

    calls: ClassVar[list[tuple[int, tuple[int, ...]]]] = []
    loaded: ClassVar[list[str]] = []
    sample_rate = RATE

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> _StubSeparator:
        cls.loaded.append(str(path))
        return cls()

    @classmethod
    def from_pretrained(cls, name: str = "separate-16k") -> _StubSeparator:
        cls.loaded.append(name)
        return cls()

    def __call__(self, wave: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        type(self).calls.append((sample_rate, np.shape(wave)))
        half = np.asarray(wave, dtype=np.float32) * np.float32(0.5)
        return {"vocals": half.copy(), "accompaniment": half.copy()}


def _load_benchmark(monkeypatch):
    """The script as a fresh module, with stand-ins put where the real pieces do not exist yet."""
    for module, name, stand_in in (
        (vqaudio.data, "music_tracks", _stand_in_music_tracks),
        (vqaudio.data, "MusicTrack", _StandInTrack),
        (vqaudio.metrics, "separation_scores", _stand_in_separation_scores),
        (vqaudio.metrics, "global_scores", _stand_in_global_scores),
        (vqaudio.pipelines, "Separator", _StubSeparator),
    ):
        if not hasattr(module, name):
            monkeypatch.setattr(module, name, stand_in, raising=False)
    monkeypatch.syspath_prepend(str(_SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("benchmark_separate", _SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_separate", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "Separator", _StubSeparator)
    monkeypatch.setattr(_StubSeparator, "calls", [])
    monkeypatch.setattr(_StubSeparator, "loaded", [])
    return bench


# ----------------------------------------------------------------------------------------------- the data


def _clip(seed: int, seconds: float, silent_voice: bool = False) -> np.ndarray:
    """(2, T): noise-like chords with drum bursts on the left, a harmonic vibrato 'voice' in syllables on the right."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(200.0, 320.0) * (1.0 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 13))
    voice *= 0.5 * (1 - np.cos(2 * np.pi * 2.0 * t))  # two syllables a second
    chord = rng.uniform(110.0, 160.0) * np.array([1.0, 1.26, 1.5, 2.0, 2.52, 3.0])
    accompaniment = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in chord) / len(chord)
    noise = rng.standard_normal(t.size)
    bursts = (np.sin(2 * np.pi * 4.0 * t) > 0.7).astype(float)
    accompaniment = accompaniment + 0.6 * noise * bursts + 0.1 * noise
    left = 0.4 * accompaniment / np.max(np.abs(accompaniment))
    right = np.zeros_like(t) if silent_voice else 0.08 * voice / np.max(np.abs(voice))  # quieter than the band
    return np.stack([left, right]).astype(np.float32)


def _mir1k_folder(root: Path, names: list[str], seconds: float = 2.0, silent: tuple[str, ...] = ()) -> Path:
    for i, name in enumerate(names):
        save(root / "val" / f"{name}.flac", _clip(i, seconds, silent_voice=name in silent), RATE)
    return root


# ------------------------------------------------------------------------------------------------ tests


def test_separate_benchmark_rows_oracle_above_mixture_missing_shipped(tmp_path: Path, monkeypatch, one_thread) -> None:
    bench = _load_benchmark(monkeypatch)
    monkeypatch.setattr(bench, "pretrained_names", lambda: ["codec-8k", "denoise-16k"])  # no separate-16k
    data = _mir1k_folder(tmp_path / "mir1k", ["alpha_1_01", "alpha_1_02", "beta_2_01"])
    reference = tmp_path / "ref.safetensors"
    reference.write_bytes(b"")  # the stand-in separator does not read it
    out = tmp_path / "separate.json"
    argv = ["--data", str(data), "--split", "val", "--reference", str(reference), "--speed-seconds", "2",
            "--threads", "1", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0

    report = json.loads(out.read_text())
    assert report["benchmark"] == "separate" and report["date"] and report["machine"]
    assert report["threads"] == 1 and report["n_clips"] == 3 and report["vocal_snr_db"] == 0.0
    rows = {r["system"]: r for r in report["rows"]}
    assert list(rows) == ["mixture", "oracle-irm", "vqaudio-reference", "vqaudio-separate-16k"]

    # the shipped default is absent here: a row saying so, not a dropped row
    assert "not shipped" in rows["vqaudio-separate-16k"]["missing"]
    assert set(report["missing"]) == {"vqaudio-separate-16k"}

    mixture, oracle, ours = rows["mixture"], rows["oracle-irm"], rows["vqaudio-reference"]
    for row in (mixture, oracle, ours):
        assert row["clips"] == 3 and row["skipped"] == 0
    assert mixture["gnsdr_vocals"] == pytest.approx(0.0, abs=1e-2)  # NSDR of the mixture is 0 by definition
    assert mixture["gnsdr_accompaniment"] == pytest.approx(0.0, abs=1e-2)
    assert mixture["gsdr_vocals"] == pytest.approx(0.0, abs=1.5)  # mixed at 0 dB: the mixture's vocal SDR near 0
    assert oracle["gnsdr_vocals"] > mixture["gnsdr_vocals"] + 3.0  # the ceiling of masking separates
    assert oracle["gnsdr_accompaniment"] > mixture["gnsdr_accompaniment"] + 1.0
    assert mixture["rtf_x"] is None and mixture["rtf_x_44k_stereo"] is None
    assert ours["rtf_x"] > 0 and ours["rtf_x_44k_stereo"] > 0 and oracle["rtf_x_44k_stereo"] is None
    # the model saw 16 kHz mono clips and one 2 s 44.1 kHz stereo signal (after a 1 s warm-up at each)
    assert (16000, (32000,)) in _StubSeparator.calls and (44100, (2, 88200)) in _StubSeparator.calls
    assert _StubSeparator.loaded == [str(reference)]

    # per clip, for a box plot; per singer for our models and the oracle
    clips = report["clips"]
    assert len(clips) == 9 and {c["system"] for c in clips} == {"mixture", "oracle-irm", "vqaudio-reference"}
    first = next(c for c in clips if c["system"] == "oracle-irm" and c["clip"] == "alpha_1_01")
    assert first["singer"] == "alpha" and first["seconds"] == pytest.approx(2.0)
    for key in ("sdr_vocals", "sir_vocals", "sar_vocals", "nsdr_vocals", "nsdr_accompaniment"):
        assert isinstance(first[key], float)
    singers = {(s["system"], s["singer"]): s for s in report["singers"]}
    assert set(singers) == {(s, g) for s in ("oracle-irm", "vqaudio-reference") for g in ("alpha", "beta")}
    assert singers[("oracle-irm", "alpha")]["clips"] == 2 and singers[("oracle-irm", "beta")]["clips"] == 1


def test_separate_benchmark_models_original_balance_skipped_clip(
    tmp_path: Path, monkeypatch, capsys, one_thread
) -> None:
    bench = _load_benchmark(monkeypatch)
    data = _mir1k_folder(tmp_path / "mir1k", ["alpha_1_01", "beta_2_01", "beta_2_02"], seconds=1.0,
                         silent=("beta_2_02",))  # fmt: skip
    out = tmp_path / "separate.json"
    argv = ["--data", str(data), "--model", str(tmp_path / "a.safetensors"),
            "--model", str(tmp_path / "runs" / "sep-x" / "best.safetensors"),
            "--vocal-snr-db", "original", "--speed-seconds", "1", "--quiet", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "recorded vocal/accompaniment balance" in printed and "published, not measured here" in printed

    report = json.loads(out.read_text())
    rows = {r["system"]: r for r in report["rows"]}
    assert list(rows) == ["mixture", "oracle-irm", "vqaudio-a", "vqaudio-sep-x"]  # no shipped default with --model
    assert report["missing"] == {} and report["vocal_snr_db"] == "original"
    for row in rows.values():
        assert row["clips"] == 2 and row["skipped"] == 1  # the silent-voice clip is counted, not scored
    # the voice was recorded quieter than the band and kept so: the mixture's vocal SDR is below 0 dB
    assert rows["mixture"]["gsdr_vocals"] < -4.0
    assert any(c.get("skipped") for c in report["clips"] if c["clip"] == "beta_2_02")


def test_mix_levels_and_even_spread(monkeypatch) -> None:
    bench = _load_benchmark(monkeypatch)
    rng = np.random.default_rng(1)
    vocals = (0.01 * rng.standard_normal(8000)).astype(np.float32)
    band = (0.2 * rng.standard_normal(8000)).astype(np.float32)
    for target in (0.0, 6.0, -5.0):
        m = bench.mix("x_1_01", vocals, band, target)
        assert 10 * np.log10(np.mean(m.vocals**2) / np.mean(m.accompaniment**2)) == pytest.approx(target, abs=1e-3)
        assert np.max(np.abs(m.mixture)) <= bench.PEAK + 1e-6
    kept = bench.mix("x_1_01", vocals, band, None)
    assert np.allclose(kept.vocals / kept.accompaniment, vocals / band, rtol=1e-4)  # the recorded balance
    assert bench.singer_of("Ani_1_01") == "Ani" and bench.singer_of("A Song - Artist") == "A Song - Artist"
    names = [f"Ani_{i}" for i in range(38)] + [f"annar_{i}" for i in range(42)]
    picked = bench.spread(names, 4)
    assert len(picked) == 4 and picked[0] == names[0] and picked[-1] == names[-1]
    assert bench.spread(names, None) == names and bench.spread(names, 100) == names
