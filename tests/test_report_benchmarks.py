"""`vqaudio report BENCHMARK.json` and `vqaudio report --compare RUN_A RUN_B`: pages with their pictures, from
benchmark JSONs made here in the layout benchmarks/*.py write (and the real ones in benchmarks/results when
present), and from hand-made run folders; plus benchmarks/figures.py, which draws the README's figures."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_report import write_run
from vqaudio.cli import main

pytest.importorskip("matplotlib")

from vqaudio.report.benchmarks import (
    benchmark_plots,
    plot_codec,
    plot_denoise,
    plot_quantize,
    plot_separate,
    read_benchmark,
    write_benchmark_report,
)
from vqaudio.report.compare import compare_runs, config_differences, plot_comparison, read_run, validation_table

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PUBLISHED = [
    {"system": "deep recurrent networks (Huang et al. 2014)", "gnsdr_vocals": 7.45},
    {"system": "stacked hourglass networks (Park et al. 2018)", "gnsdr_vocals": 10.51},
]


def report(benchmark: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A report as vqaudio.evaluation.benchmark_report makes it."""
    return {"benchmark": benchmark, "date": "2026-01-01", "machine": "test", **extra, "rows": rows}


def write_report(folder: Path, name: str, content: dict[str, Any]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path


def codec_report() -> dict[str, Any]:
    rows = []
    for rate, pesq, stoi in ((563, 2.2, 0.84), (1125, 2.9, 0.90), (2250, 3.6, 0.94)):
        base = {"bitrate": rate + 1.2, "bitrate_with_header": rate + 260.0, "lsd": 8.0, "utterances": 4}
        rows.append({"system": f"vqaudio-{rate}", "postfilter": 0.15, "pesq_nb": pesq, "stoi": stoi, **base})
        if rate < 2000:
            rows.append(
                {"system": f"vqaudio-{rate}-pf0", "postfilter": 0.0, "pesq_nb": pesq - 0.05, "stoi": stoi, **base}
            )
    for system, rate, pesq, stoi in (
        ("codec2-1200", 1204.8, 2.27, 0.85),
        ("codec2-3200", 3206.9, 2.62, 0.89),
        ("opus-6000", 5189.2, 3.04, 0.90),
    ):
        rows.append({"system": system, "bitrate": rate, "pesq_nb": pesq, "stoi": stoi, "encode_rtf_x": None})
    return report("codec", rows, data="speech", postfilters=[0.0, 0.15])


def denoise_report() -> dict[str, Any]:
    rows = []
    for snr in (0.0, 5.0, 10.0):
        for i, system in enumerate(("noisy", "rnnoise", "oracle-irm", "vqaudio-denoise-16k")):
            score = {"pesq_nb": 1.5 + snr / 10 + i / 4, "stoi": 0.7 + snr / 50, "si_sdr": snr + i, "rtf_x": None}
            rows.append({"system": system, **score, "utterances": 3, "snr_db": snr, "noise": "real"})
    rows.append({"system": "noisy", "pesq_nb": 1.1, "stoi": 0.5, "si_sdr": -10.0, "snr_db": -10.0, "noise": "gaussian"})
    return report("denoise", rows, rate=8000, noises=["city", "rain", "wind"], models={"vqaudio-denoise-16k": "x"})


def separate_report(clips: bool = True) -> dict[str, Any]:
    systems = {"mixture": 0.0, "oracle-irm": 13.5, "vqaudio-reference": -6.9, "vqaudio-separate-16k": 5.5}
    rows = [
        {"system": s, "gnsdr_vocals": g, "gnsdr_accompaniment": g + 0.3, "clips": 5, "skipped": 0, "rtf_x": None}
        for s, g in systems.items()
    ]
    per_clip = [
        {"system": s, "clip": f"Ani_1_0{i}", "singer": "Ani", "seconds": 5.0, "nsdr_vocals": g + i - 2.0}
        | {"nsdr_accompaniment": g + 2.0 - i, "sdr_vocals": 1.0}
        for s, g in systems.items()
        for i in range(5)
    ]
    extra: dict[str, Any] = {"published_not_measured_here": PUBLISHED, "n_clips": 5}
    if clips:
        extra["clips"] = per_clip
    return report("separate", rows, **extra)


def quantize_report() -> dict[str, Any]:
    rows = []
    for mode in ("ema", "learned"):
        for k in (512, 1024, 4096):
            shape = {"mode": mode, "n": 4096, "d": 64, "k": k}
            rows.append({"system": "vqaudio-vq", **shape, "time_ms": k / 50, "peak_mb": 9.0, "speedup": 6.0})
            rows.append({"system": "vector-quantize-pytorch", **shape, "time_ms": k / 5, "peak_mb": 60.0})
    rows.append(
        {"system": "vqaudio-vq", "mode": "ema", "n": 262144, "d": 64, "k": 4096, "time_ms": 3000.0}
        | {"check": "memory"}
    )
    return report("quantize", rows)


def images(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text())


def check_page(page: Path, count: int) -> list[str]:
    """The page exists and links `count` pictures by relative path, each a PNG that exists beside it."""
    assert page.is_file()
    sources = images(page)
    assert len(sources) == count
    for src in sources:
        assert not Path(src).is_absolute() and ".." not in src
        picture = page.parent / src
        assert picture.is_file() and picture.suffix == ".png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return sources


# --- plots: what each one draws ------------------------------------------------------------------------------------


def test_codec_plot_draws_each_ladder_as_a_line_and_the_baselines_as_points(tmp_path: Path) -> None:
    plot = plot_codec(codec_report(), tmp_path / "rd.png")
    assert plot is not None and plot.path.is_file()
    assert [p.ylabel for p in plot.panels] == ["PESQ-NB", "STOI"]
    for panel in plot.panels:
        assert "bit/s" in panel.xlabel
        assert panel.lines == {"vqaudio (postfilter 0.15)": 3, "vqaudio (postfilter 0)": 2}
        assert panel.points == ["codec2-1200", "codec2-3200", "opus-6000"]
    only_default = plot_codec(codec_report(), tmp_path / "rd1.png", ladders=[""])
    assert only_default is not None and only_default.panels[0].lines == {"vqaudio (postfilter 0.15)": 3}
    assert plot_codec(report("codec", [{"system": "x", "pesq_nb": 2.0}]), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_denoise_plot_draws_a_line_per_system_against_snr(tmp_path: Path) -> None:
    content = denoise_report()
    plot = plot_denoise(content, tmp_path / "snr.png", noise="real")
    assert plot is not None and plot.path.is_file()
    assert [p.ylabel for p in plot.panels] == ["PESQ-NB", "STOI", "SI-SDR (dB)"]  # no PESQ-WB in an 8 kHz report
    for panel in plot.panels:
        assert panel.xlabel == "input SNR (dB)"
        assert panel.lines == {"noisy": 3, "rnnoise": 3, "oracle-irm": 3, "vqaudio-denoise-16k": 3}
    assert "8 kHz" in plot.caption and "city, rain, wind" in plot.caption
    chosen = plot_denoise(content, tmp_path / "stoi.png", noise="real", metrics=["stoi"])
    assert chosen is not None and [p.ylabel for p in chosen.panels] == ["STOI"]
    plots = benchmark_plots(content, tmp_path / "page")  # a figure per kind of noise
    assert [p.path.name for p in plots] == ["denoise-snr-real.png", "denoise-snr-gaussian.png"]
    assert plots[1].panels[0].lines == {"noisy": 1}


def test_separate_plot_boxes_clips_with_oracle_and_published_markers(tmp_path: Path) -> None:
    plot = plot_separate(separate_report(), tmp_path / "sep.png")
    assert plot is not None and plot.path.is_file()
    vocals, accompaniment = plot.panels
    for panel in plot.panels:
        assert panel.ylabel == "NSDR (dB)"
        assert panel.boxes == {"vqaudio-reference": 5, "vqaudio-separate-16k": 5}  # not the oracle, not the mixture
        assert panel.points == ["vqaudio-reference GNSDR", "vqaudio-separate-16k GNSDR"]
    assert vocals.levels == {
        "oracle-irm (GNSDR)": 13.5,
        "deep recurrent networks (Huang et al. 2014), published": 7.45,
        "stacked hourglass networks (Park et al. 2018), published": 10.51,
    }
    assert accompaniment.levels == {"oracle-irm (GNSDR)": 13.8}  # nothing published for the accompaniment
    # an older JSON without per-clip rows: each system's GNSDR as a point, and the caption says why
    plot = plot_separate(separate_report(clips=False), tmp_path / "old.png")
    assert plot is not None and plot.panels[0].boxes == {} and len(plot.panels[0].points) == 2
    assert "no per-clip rows" in plot.caption


def test_quantize_plot_draws_speed_and_memory_against_codebook_size(tmp_path: Path) -> None:
    plot = plot_quantize(quantize_report(), tmp_path / "speed.png")
    assert plot is not None and [p.title for p in plot.panels] == ["ema codebook", "learned codebook"]
    for panel in plot.panels:
        assert panel.xlabel == "codebook size K" and "ms" in panel.ylabel
        # three codebook sizes per line; the memory-check row (N=262144, ours only) is left out
        assert panel.lines == {"vqaudio-vq, N=4096, D=64": 3, "vector-quantize-pytorch, N=4096, D=64": 3}
    memory = plot_quantize(quantize_report(), tmp_path / "memory.png", figure="peak_mb")
    assert memory is not None and "MB" in memory.panels[0].ylabel


# --- pages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "pictures"),
    [
        ("codec", codec_report(), 1),
        ("denoise-8k", denoise_report(), 2),
        ("separate", separate_report(), 1),
        ("quantize", quantize_report(), 2),
    ],
)
def test_benchmark_page_has_its_pictures_table_and_details(
    tmp_path: Path, name: str, content: dict[str, Any], pictures: int
) -> None:
    page = write_benchmark_report(write_report(tmp_path, name, content))
    assert page == tmp_path / f"{name}-report" / "index.html"  # default: beside the JSON
    check_page(page, pictures)
    text = page.read_text()
    assert f"Benchmark: {content['benchmark']}" in text and "2026-01-01" in text
    for row in content["rows"]:
        assert f"<td>{row['system']}</td>" in text  # every row in the table
    assert "Run details" in text and "<figcaption>" in text


def test_benchmark_page_folds_lists_of_rows_and_objects(tmp_path: Path) -> None:
    page = write_benchmark_report(write_report(tmp_path, "separate", separate_report()), tmp_path / "out")
    text = page.read_text()
    assert "<summary>clips (20 rows)</summary>" in text and "Ani_1_04" in text
    assert "<summary>published_not_measured_here (2 rows)</summary>" in text


def test_breakdowns_per_group_stay_in_the_json_and_are_named(tmp_path: Path) -> None:
    content = denoise_report()
    for row in content["rows"]:
        row["per_speaker"] = {"yweweler": {"si_sdr": 1.5, "utterances": 2}}
    text = write_benchmark_report(write_report(tmp_path, "denoise", content), tmp_path / "page").read_text()
    assert "<th>per_speaker</th>" not in text and "yweweler" not in text
    assert "Per-group means (per_speaker) are in the JSON file." in text
    assert "<th>si_sdr</th>" in text  # the rest of the table as before


def test_other_benchmark_gets_the_table_and_a_note(tmp_path: Path) -> None:
    rows = [{"system": "vqaudio-envelope", "sd_db2": 4.57, "bitrate": None}, {"system": "lpc", "sd_db2": 6.0}]
    page = write_benchmark_report(write_report(tmp_path, "envelope", report("envelope", rows)), tmp_path / "page")
    check_page(page, 0)
    text = page.read_text()
    assert "No pictures for a &#x27;envelope&#x27; benchmark" in text
    assert "vqaudio-envelope" in text and "4.57" in text and "—" in text  # a missing figure shows as a dash


REAL = {
    "codec.json": 1,
    "denoise-8k-retrained.json": 1,
    "denoise-16k-retrained.json": 1,
    "denoise-8k-stage5.json": 2,  # real noise and the white-noise setting
    "separate.json": 1,
    "quantize.json": 2,
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_benchmark_results_as_pages(tmp_path: Path, name: str) -> None:
    source = RESULTS / name
    if not source.is_file():
        pytest.skip(f"{source} not in this checkout")
    content = read_benchmark(source)
    page = write_benchmark_report(source, tmp_path / "page")
    check_page(page, REAL[name])
    plots = benchmark_plots(content, tmp_path / "again")
    assert plots and all(plot.panels for plot in plots)
    panels = [panel for plot in plots for panel in plot.panels]
    if content["benchmark"] == "codec":
        points = panels[0].points
        assert any(p.startswith("codec2-") for p in points) and any(p.startswith("opus-") for p in points)
        assert any(label.startswith("vqaudio") for label in panels[0].lines)
    elif content["benchmark"] == "denoise":
        assert {"noisy", "oracle-irm"} <= set(panels[0].lines) and len(panels[0].lines) >= 5
    elif content["benchmark"] == "separate":
        assert panels[0].boxes and all(n > 1 for n in panels[0].boxes.values())
        assert any("published" in label for label in panels[0].levels)
    for plot in plots:
        assert plot.path.stat().st_size < 300_000


# --- the command line ----------------------------------------------------------------------------------------------


def test_cli_writes_a_benchmark_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_report(tmp_path, "codec", codec_report())
    assert main(["report", str(source)]) == 0
    page = tmp_path / "codec-report" / "index.html"
    assert str(page) in capsys.readouterr().out
    check_page(page, 1)
    assert main(["-q", "report", str(source), "-o", str(tmp_path / "elsewhere")]) == 0
    check_page(tmp_path / "elsewhere" / "index.html", 1)


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    return err


def test_cli_errors_say_what_was_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such benchmark JSON" in error_of(["report", str(tmp_path / "gone.json")], capsys)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "is not a benchmark report: not JSON" in error_of(["report", str(broken)], capsys)
    rowless = write_report(tmp_path, "rowless", {"benchmark": "codec", "date": "x"})
    assert 'not a benchmark report: no "rows" list' in error_of(["report", str(rowless)], capsys)
    nameless = write_report(tmp_path, "nameless", {"rows": []})
    assert 'no "benchmark" name' in error_of(["report", str(nameless)], capsys)
    listed = write_report(tmp_path, "listed", [1, 2])  # type: ignore[arg-type]
    assert "the JSON is not an object" in error_of(["report", str(listed)], capsys)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert "neither a run folder nor a benchmark .json" in error_of(["report", str(other)], capsys)
    assert "nothing to report on" in error_of(["report"], capsys)
    run = write_run(tmp_path / "a")
    both = error_of(["report", str(run), "--compare", str(run), str(run)], capsys)
    assert "not both" in both
    missing = error_of(["report", "--compare", str(run), str(tmp_path / "nowhere")], capsys)
    assert "no such run folder" in missing and "nowhere" in missing
    not_run = error_of(["report", "--compare", str(tmp_path), str(run)], capsys)
    assert "not a `vqaudio train` run folder" in not_run
    assert not list(tmp_path.glob("*-report")) and not list(tmp_path.glob("compare-*"))


# --- two runs compared ---------------------------------------------------------------------------------------------


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """A VQ-VAE and a VAE run folder, as `vqaudio train` leaves them, with different names."""
    a = write_run(tmp_path / "a", name="tiny-vq").rename(tmp_path / "a" / "runs" / "tiny-vq")
    b = write_run(tmp_path / "b", model_type="vae", name="tiny-vae").rename(tmp_path / "b" / "runs" / "tiny-vae")
    return a, b


def test_compare_page_puts_two_runs_side_by_side(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    page = compare_runs(a, b, tmp_path / "cmp")
    assert page == tmp_path / "cmp" / "index.html"
    check_page(page, 1)
    text = page.read_text()
    assert "Runs compared: tiny-vq vs tiny-vae" in text
    assert "<td>model_type</td><td>vqvae</td><td>vae</td>" in text  # the recipes diffed
    assert "<td>codebook_size</td><td>16</td><td>—</td>" in text  # the model configs diffed
    assert "settings differ" in text and "val/loss" in text and "val/perplexity" in text


def test_compare_tables_and_plot_content(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    runs = [read_run(a), read_run(b)]
    table = {row["figure"]: row for row in validation_table(runs)}
    loss = table["val/loss"]  # 2.5/4 then 2.5/8 in both runs
    assert loss["better"] == "lower" and loss["tiny-vq final"] == loss["tiny-vq best"] == pytest.approx(2.5 / 8)
    assert loss["best run"] == "tie"
    perplexity = table["val/perplexity"]  # a VQ figure: higher is better, and only the VQ-VAE has it
    assert perplexity["better"] == "higher" and perplexity["tiny-vq best"] == pytest.approx(9.5)
    assert perplexity["tiny-vae final"] is None and perplexity["best run"] is None
    plot = plot_comparison(runs, tmp_path / "losses.png")
    assert plot.path.is_file() and len(plot.panels) == 1  # no other validation figure both runs logged
    assert plot.panels[0].xlabel == "training step" and plot.panels[0].ylabel == "loss"
    assert plot.panels[0].lines == {
        "tiny-vq: train/loss_epoch": 2,
        "tiny-vq: val/loss": 2,
        "tiny-vae: train/loss_epoch": 2,
        "tiny-vae: val/loss": 2,
    }
    differ, same = config_differences({"a": 1, "m": {"x": 1, "y": 2}}, {"a": 1, "m": {"x": 3}, "z": 0})
    assert differ == [("m.x", 1, 3), ("m.y", 2, None), ("z", None, 0)] and same == 1


def test_cli_compare_writes_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_runs(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--compare", str(a), str(b)]) == 0
    page = Path("compare-tiny-vq-vs-tiny-vae") / "index.html"
    assert str(page) in capsys.readouterr().out
    check_page(tmp_path / page, 1)


def test_cli_run_report_goes_to_out(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    assert main(["-q", "report", str(run), "--out", str(tmp_path / "page")]) == 0
    assert (tmp_path / "page" / "report.html").is_file() and not (run / "report.html").exists()
    assert all((tmp_path / "page" / src).is_file() for src in images(tmp_path / "page" / "report.html"))


# --- README figures ------------------------------------------------------------------------------------------------


def test_figures_script_draws_the_readme_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("benchmark_figures", REPO / "benchmarks" / "figures.py")
    assert spec is not None and spec.loader is not None
    figures = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_figures", figures)
    spec.loader.exec_module(figures)
    results = tmp_path / "results"
    results.mkdir()
    source = {f.png: Path(f.source).stem for f in figures.FIGURES}  # the JSON each figure is drawn from
    write_report(results, source["codec-rate-distortion.png"], codec_report())
    write_report(results, source["denoise-8k-snr.png"], denoise_report())
    write_report(results, source["separate-gnsdr.png"], separate_report())
    status = figures.main(["--results", str(results), "--out", str(tmp_path / "figures")])
    assert status == 1  # the 16 kHz denoise JSON is missing: skipped, said so
    assert "skipped denoise-16k-snr.png" in capsys.readouterr().err
    written = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert written == ["codec-rate-distortion.png", "denoise-8k-snr.png", "separate-gnsdr.png"]
    assert all((tmp_path / "figures" / name).stat().st_size < figures.MAX_BYTES for name in written)


def test_committed_readme_figures_are_small() -> None:
    folder = REPO / "docs" / "figures"
    if not folder.is_dir():
        pytest.skip("no docs/figures in this checkout")
    for name in ("codec-rate-distortion.png", "denoise-8k-snr.png", "denoise-16k-snr.png", "separate-gnsdr.png"):
        path = folder / name
        assert path.is_file() and path.stat().st_size < 150_000, name
