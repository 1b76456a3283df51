"""Smoke test of benchmarks/codec.py: two utterances through every row, JSON shaped as DESIGN.md says."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "codec.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_codec", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_codec", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared_data
@pytest.mark.slow
def test_codec_benchmark_two_utterances(shared_data_dir: Path, tmp_path: Path) -> None:
    if not (shutil.which("c2enc") and shutil.which("c2dec") and shutil.which("opusenc") and shutil.which("opusdec")):
        pytest.skip("Codec 2 (c2enc/c2dec) or opus-tools (opusenc/opusdec) not installed")
    bench = _load_benchmark()
    out = tmp_path / "codec.json"
    amounts = ["0", str(bench.DEFAULT_POSTFILTER)]
    argv = ["--data", str(shared_data_dir / "speech"), "--max-utterances", "2", "--json", str(out), "--postfilter"]
    argv += amounts
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "codec" and report["split"] == "val"
    for key in ("date", "machine", "data", "model", "rows"):
        assert key in report
    rows = {row["system"]: row for row in report["rows"]}
    expected = {"codec2-3200", "codec2-2400", "codec2-1200", "codec2-700C", "opus-6000", "opus-8000"}
    assert expected <= set(rows)
    ours = [row for name, row in rows.items() if name.startswith("vqaudio-")]
    plain = [row for row in ours if row["system"].endswith("-pf0")]
    assert len(plain) >= 1 and len(ours) == 2 * len(plain)  # every rung with and without the postfilter
    assert all(row["postfilter"] == 0 for row in plain)
    for row in ours:
        nominal = int(row["system"].split("-")[1])
        assert abs(row["bitrate"] - nominal) / nominal < 0.05  # measured payload rate sits on its rung
        assert row["bitrate_with_header"] > row["bitrate"]
        assert row["encode_rtf_x"] > 0 and row["decode_rtf_x"] > 0
    for row in rows.values():
        assert row["utterances"] == 2
        assert 1.0 <= row["pesq_nb"] <= 4.6 and 0.0 < row["stoi"] <= 1.0 and row["lsd"] > 0
    assert abs(rows["codec2-3200"]["bitrate"] - 3200) < 100  # measured, not the nominal label
    assert rows["codec2-3200"]["roundtrip_rtf_x"] > 0
    assert rows["codec2-3200"]["encode_rtf_x"] is None  # baselines are not split into encode/decode
    # with the known 20 ms lag removed, Codec 2 is intelligible; an unaligned score would be much lower
    assert rows["codec2-3200"]["stoi"] > 0.7


@pytest.mark.shared_data
@pytest.mark.slow
def test_true_phase_rows_are_diagnostics_above_griffin_lim(shared_data_dir: Path, tmp_path: Path) -> None:
    bench = _load_benchmark()
    out = tmp_path / "codec.json"
    argv = ["--data", str(shared_data_dir / "speech"), "--max-utterances", "2", "--json", str(out)]
    assert bench.main([*argv, "--no-baselines", "--true-phase", "--griffin-lim-iters", "16", "2"]) == 0
    report = json.loads(out.read_text())
    rows = {row["system"]: row for row in report["rows"]}
    diagnostic = [name for name in rows if name.endswith("-truephase")]
    fewer = [name for name in rows if name.endswith("-it2")]  # the second iteration count, side by side
    assert diagnostic and len(fewer) == len(diagnostic) and len(rows) == 3 * len(diagnostic)  # no baselines
    assert [p["iters"] for p in report["phase"].values()] == [16, 2] and report["griffin_lim_iters"] == 16
    for name in diagnostic:
        plain = rows[name.removesuffix("-truephase")]
        assert "bitrate" not in rows[name]  # not a codec: no bitrate to claim
        assert rows[name]["pesq_nb"] > plain["pesq_nb"]  # the input's phase beats Griffin-Lim's estimate


@pytest.mark.shared_data
@pytest.mark.slow
def test_wideband_rows_use_pesq_wb_and_opus_in_wideband(shared_data_dir: Path, tmp_path: Path) -> None:
    """--rate 16000: a 16 kHz model on 16 kHz utterances, PESQ-WB, Opus at 6/9/12 kbit/s, no Codec 2 rows."""
    if not (shutil.which("opusenc") and shutil.which("opusdec")):
        pytest.skip("opus-tools (opusenc/opusdec) not installed")
    import torch

    from vqaudio.models import VQVAE, VQVAEConfig, save_model

    torch.manual_seed(0)
    tiny = VQVAE(VQVAEConfig(sample_rate=16000, n_fft=512, hop_length=128, hidden_channels=16, n_res_blocks=1,
                             n_downsample=1, latent_dim=8, codebook_size=16, n_stages=2))  # fmt: skip
    model = tmp_path / "tiny-16k.safetensors"
    save_model(tiny, model)
    bench = _load_benchmark()
    out = tmp_path / "codec-16k.json"
    argv = ["--data", str(shared_data_dir / "speech"), "--corpora", "librispeech", "--rate", "16000"]
    argv += ["--max-utterances", "1", "--model", str(model), "--ceiling", "--json", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["sample_rate"] == 16000
    rows = {row["system"]: row for row in report["rows"]}
    expected = {"opus-6000", "opus-9000", "opus-12000", "vqaudio-250", "vqaudio-500", "true-magnitude-griffin-lim"}
    assert expected == set(rows)
    assert rows["true-magnitude-griffin-lim"]["pesq_wb"] > rows["vqaudio-500"]["pesq_wb"]  # the true magnitude
    for row in rows.values():
        assert "pesq_nb" not in row and 1.0 <= row["pesq_wb"] <= 4.7 and 0.0 < row["stoi"] <= 1.0
        assert row["per_corpus"].keys() == {"librispeech"}
    assert rows["opus-12000"]["pesq_wb"] > rows["vqaudio-500"]["pesq_wb"]  # an untrained model loses to Opus


def test_default_model_follows_the_rate() -> None:
    """Without --model a wideband run scores the shipped codec-16k, a narrowband one the shipped codec-8k."""
    bench = _load_benchmark()
    wide = bench.load_codec(None, bench.BANDS[16000], "griffin-lim", 4)
    narrow = bench.load_codec(None, bench.BANDS[8000], "griffin-lim", 4)
    assert (wide.model_id, wide.sample_rate) == ("codec-16k", 16000)
    assert (narrow.model_id, narrow.sample_rate) == ("codec-8k", 8000)


def _load_speed_benchmark():
    path = _SCRIPT.with_name("codec_speed.py")
    spec = importlib.util.spec_from_file_location("benchmark_codec_speed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared_data
def test_codec_speed_benchmark_times_every_model_and_rung(shared_data_dir: Path, tmp_path: Path) -> None:
    from vqaudio.assets import pretrained_path

    bench = _load_speed_benchmark()
    shipped = pretrained_path("codec-8k")
    copy = tmp_path / "copy.safetensors"
    shutil.copy(shipped, copy)
    out = tmp_path / "speed.json"
    argv = ["--data", str(shared_data_dir / "speech"), "--max-utterances", "2", "--model", str(shipped)]
    assert bench.main([*argv, "--model", str(copy), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "codec_speed"
    rows = report["rows"]
    assert {row["model"] for row in rows} == {"codec-8k", "copy"} and len(rows) == 8  # 2 models x 4 rungs
    for row in rows:
        assert row["utterances"] == 2 and row["encode_rtf_x"] > 0 and row["decode_rtf_x"] > 0
        if row["model"] == "codec-8k":
            assert row["encode_ratio"] == 1.0 and row["decode_ratio"] == 1.0  # the first model is the unit
        else:
            assert 0.2 < row["decode_ratio"] < 5.0  # the same weights: no order-of-magnitude gap
    with pytest.raises(SystemExit):
        bench.main([*argv])  # one model: nothing to compare
