"""Smoke test of benchmarks/denoise.py on folders made here: every row, missing baselines reported, the JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_fsdd_folder
from vqaudio.audio import save
from vqaudio.models import build_model, save_model

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "denoise.py"


def _load_benchmark():
    sys.path.insert(0, str(_SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("benchmark_denoise", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_denoise", module)
    spec.loader.exec_module(module)
    return module


def test_denoise_benchmark_scores_every_system_and_reports_missing(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_benchmark()
    speech = make_fsdd_folder(tmp_path / "speech", clips=12, seconds=0.8).parent
    rng = np.random.default_rng(0)
    for name in ("city", "birds"):
        save(tmp_path / "noise" / f"{name}.flac", (0.1 * rng.standard_normal(16000)).astype(np.float32), 8000)
    torch.manual_seed(0)
    model = build_model("vqunet", {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 16]})
    path = save_model(model, tmp_path / "runs" / "tiny-denoise" / "best.safetensors")
    # one baseline present, one missing, whatever is installed here
    monkeypatch.setattr(bench, "available_baselines", lambda: {"identity": lambda x, sr: x, "rnnoise": "not here"})
    out = tmp_path / "denoise.json"
    argv = ["--speech", str(speech), "--noise", str(tmp_path / "noise"), "--rate", "8000", "--snr", "5",
            "--max-utterances", "2", "--model", str(path), "--gaussian-snr", "0", "--pink-snr", "0", "--per-noise",
            "--max-attenuation-db", "3", "--per-speaker", "noisy", "vqaudio-tiny-denoise",
            "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["benchmark"] == "denoise" and report["rate"] == 8000 and report["noises"] == ["city"]
    assert report["missing"] == {"rnnoise": "not here"}
    rows = {(r["system"], r["noise"]): r for r in report["rows"]}
    for kind in ("real", "gaussian", "pink"):
        for system in ("noisy", "identity", "oracle-irm", "vqaudio-tiny-denoise"):
            assert rows[(system, kind)]["utterances"] == 2
        assert rows[("rnnoise", kind)]["missing"] == "not here"
        noisy, identity = rows[("noisy", kind)], rows[("identity", kind)]
        assert identity["si_sdr"] == pytest.approx(noisy["si_sdr"])  # the same mixtures for every system
        assert rows[("oracle-irm", kind)]["si_sdr"] > noisy["si_sdr"] + 3  # the ceiling cleans up
    # per noise recording: the same outputs regrouped (here one validation noise, so the same means)
    assert rows[("vqaudio-tiny-denoise", "city")]["si_sdr"] == rows[("vqaudio-tiny-denoise", "real")]["si_sdr"]
    assert ("noisy", "birds") not in rows  # a training noise is never mixed in
    # the same weights turning nothing down by more than 3 dB: it cannot clean up by much more than 3 dB
    limited = rows[("vqaudio-tiny-denoise-a3", "real")]
    assert limited["utterances"] == 2 and report["models"]["vqaudio-tiny-denoise-a3"] == str(path)
    assert limited["si_sdr"] - rows[("noisy", "real")]["si_sdr"] < 3.5
    # per speaker: real-noise rows only, the same outputs grouped by voice (one validation voice here: its mean is
    # the row's), printed side by side for the systems named
    model_row = rows[("vqaudio-tiny-denoise", "real")]
    assert set(model_row["per_speaker"]) == set(report["speakers"]) == {"yweweler"}
    assert model_row["per_speaker"]["yweweler"]["utterances"] == 2
    assert model_row["per_speaker"]["yweweler"]["si_sdr"] == pytest.approx(model_row["si_sdr"], abs=1e-3)
    assert "per_speaker" not in rows[("noisy", "gaussian")]
    # pink noise at 0 dB: the noisy input's SI-SDR sits near 0 dB, and it is not the white noise of the same SNR
    assert -3.0 < rows[("noisy", "pink")]["si_sdr"] < 3.0
    assert rows[("noisy", "pink")]["pesq_nb"] != rows[("noisy", "gaussian")]["pesq_nb"]
    table = printed.split("per speaker at 5 dB")[1]
    assert "| yweweler | 2 |" in table and "vqaudio-tiny-denoise" in table.splitlines()[1]
    # SNR as asked: the noisy input's SI-SDR sits near the 5 dB the mixtures were made at
    assert 2.0 < rows[("noisy", "real")]["si_sdr"] < 6.0
    assert rows[("noisy", "real")]["pesq_nb"] is not None and "pesq_wb" not in rows[("noisy", "real")]
