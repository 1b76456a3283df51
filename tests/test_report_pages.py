"""The parts of a run report that run the model (issue 17, parts 2 and 3): the latent space as PCA histograms with
the codebook, one panel per quantizer stage; validation examples as spectrograms and clips; the envelope codec's
frame-by-frame pager. Tiny untrained models on hand-made run folders; data made here, or the shared recordings."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from tests.helpers import TINY_MODEL, make_fsdd_folder
from vqaudio.audio.io import save
from vqaudio.cli import main
from vqaudio.data.synth import synth_speech
from vqaudio.models import build_model, save_model
from vqaudio.report import write_run_report
from vqaudio.report.examples import validation_examples
from vqaudio.report.latent import collect_latents, pca_2d, plot_latent_space, rate_k_set
from vqaudio.report.model_sections import model_input
from vqaudio.report.pager import envelope_frames

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

UNET = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 24], "n_bottleneck_blocks": 1}
ENVELOPE = {"hidden_channels": 16, "n_res_blocks": 1, "latent_dim": 4, "codebook_size": 8, "n_stages": 2}


def make_run(root: Path, model_type: str, model_cfg: dict[str, Any], task: str, data: dict[str, Any]) -> Path:
    """A run folder as `vqaudio train` leaves it (recipe, config, best weights, a CSV log), untrained weights."""
    run = root / "runs" / f"tiny-{task}"
    (run / "logs" / "version_0").mkdir(parents=True)
    recipe = {"name": run.name, "model_type": model_type, "task": task, "model": model_cfg, "data": data,
              "trainer": {"seed": 0}}  # fmt: skip
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (run / "model_config.json").write_text(json.dumps(model_cfg))
    torch.manual_seed(0)
    metadata = {"recipe": run.name, "task": task, "epoch": 0, "step": 2, "val/loss": 1.0}
    save_model(build_model(model_type, model_cfg), run / "best.safetensors", metadata=metadata)
    (run / "logs" / "version_0" / "metrics.csv").write_text("step,train/loss_step,val/loss\n1,1.0,\n2,0.9,0.95\n")
    return run


@pytest.fixture(scope="module")
def speech_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FSDD layout, 8 kHz: george trains, yweweler validates (8 clips of 0.6 s)."""
    return make_fsdd_folder(tmp_path_factory.mktemp("speech"), seconds=0.6).parent


class Links(HTMLParser):
    """Every img / audio src of a page, and the text of its JSON script blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.audio: list[str] = []
        self.json: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found["src"] or "")
        if tag == "audio":
            self.audio.append(found["src"] or "")
        self._in_json = tag == "script" and found.get("type") == "application/json"

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json.append(data)
            self._in_json = False


def links(page: Path) -> Links:
    """The page's links, checked: all relative, inside the page's folder, naming files that exist."""
    parsed = Links()
    parsed.feed(page.read_text(encoding="utf-8"))
    for src in parsed.images + parsed.audio:
        assert src and not Path(src).is_absolute() and ".." not in Path(src).parts and "://" not in src, src
        assert (page.parent / src).is_file() and (page.parent / src).stat().st_size > 0, src
    return parsed


def clips(page: Path, parsed: Links) -> dict[str, sf._SoundFileInfo]:
    return {Path(src).name: sf.info(str(page.parent / src)) for src in parsed.audio}


def test_pca_finds_the_axes_of_most_variance() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5000, 3)) * [5.0, 2.0, 0.1] + [1.0, -2.0, 3.0]
    mean, axes, explained = pca_2d(vectors)
    assert np.allclose(mean, [1.0, -2.0, 3.0], atol=0.2)
    assert abs(axes[0] @ [1, 0, 0]) > 0.99 and abs(axes[1] @ [0, 1, 0]) > 0.99
    assert explained[0] == pytest.approx(25 / 29.01, abs=0.03) and explained[1] == pytest.approx(4 / 29.01, abs=0.02)
    assert pca_2d(vectors[:, :1])[1].shape == (2, 1)  # a 1-D latent: a zero second axis


def test_residual_vq_codec_report_has_a_panel_per_stage_and_clips(speech_root: Path, tmp_path: Path) -> None:
    cfg = dict(TINY_MODEL, codebook_size=16, n_stages=3)
    run = make_run(tmp_path, "vqvae", cfg, "codec", {"root": str(speech_root)})
    page = write_run_report(run, examples=2)
    text = page.read_text()
    assert "Latent space" in text and "Listening and looking" in text and "stage 3 of 3" not in text  # in the PNG
    parsed = links(page)
    assert "report/latent_space.png" in parsed.images
    assert len([s for s in parsed.images if "spectrograms" in s]) == 2
    infos = clips(page, parsed)
    assert sorted(infos) == ["01-input.flac", "01-output.flac", "02-input.flac", "02-output.flac"]
    assert all(i.samplerate == 8000 and i.channels == 1 and 0 < i.duration <= 4.0 for i in infos.values())
    assert "rate-k" not in text.lower()  # the pager is for the envelope codec only

    # the figure's data: one panel per residual stage, each with its 16 codes projected
    from vqaudio.models import load_model

    model = load_model(run / "best.safetensors")
    examples = validation_examples("codec", {"root": str(speech_root)}, 8000, 2)
    sets = collect_latents(model, [model_input(model, e) for e in examples])
    figure = plot_latent_space(sets, tmp_path / "latent.png")
    assert figure.path.is_file() and len(figure.panels) == 3
    assert [p.title for p in figure.panels] == [
        "stage 1 of 3: encoder output",
        "stage 2 of 3: residual after stage 1",
        "stage 3 of 3: residual after stage 2",
    ]
    for panel, latent in zip(figure.panels, sets, strict=True):
        assert panel.n_codes == 16 and panel.codes_2d is not None and panel.codes_2d.shape == (16, 2)
        assert panel.n_vectors == len(latent.vectors) > 0 and latent.vectors.shape[1] == cfg["latent_dim"]
    # stage 2 sees what stage 1 left: the encoder output minus stage 1's nearest codes
    z, first = torch.from_numpy(sets[0].vectors), model.quantizer.stages[0]
    left = (z - first.decode(first.encode(z))).detach()
    assert np.allclose(sets[1].vectors, left.numpy(), atol=1e-5)


def test_a_vae_shows_its_means_without_a_codebook(speech_root: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path, "vae", dict(TINY_MODEL), "reconstruct", {"root": str(speech_root)})
    assert main(["-q", "report", str(run), "--examples", "1"]) == 0
    page = run / "report.html"
    parsed = links(page)
    assert "report/latent_space.png" in parsed.images and len(parsed.audio) == 2
    from vqaudio.models import load_model

    model = load_model(run / "best.safetensors")
    sets = collect_latents(model, [model_input(model, e) for e in validation_examples("reconstruct",
                                                                                       {"root": str(speech_root)},
                                                                                       8000, 1)])  # fmt: skip
    assert len(sets) == 1 and sets[0].codebook is None and sets[0].title.startswith("encoder mean")
    panel = plot_latent_space(sets, tmp_path / "latent.png").panels[0]
    assert panel.n_codes == 0 and panel.codes_2d is None and panel.n_vectors > 0


def test_envelope_codec_report_pages_through_original_and_coded_vectors(speech_root: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path, "envelope-vqvae", dict(ENVELOPE), "envelope", {"root": str(speech_root)})
    page = write_run_report(run, examples=1)
    text = page.read_text()
    parsed = links(page)
    assert len(parsed.audio) == 2 and "report/latent_space.png" in parsed.images
    assert "Rate-K vectors, frame by frame" in text
    assert 'data-step="-1"' in text and 'data-step="1"' in text and "<canvas" in text
    assert "addEventListener" in text and "src=" not in text.split("<canvas")[1].split("</div>")[0]  # no server
    (payload,) = parsed.json
    frames = json.loads(payload)
    assert len(frames["original"]) == len(frames["coded"]) == len(frames["sd"]) == len(frames["codes"]) == 40
    assert all(len(v) == 20 for v in frames["original"] + frames["coded"]) and len(frames["bandHz"]) == 20
    assert all(len(c) == 2 for c in frames["codes"])  # two stages
    assert frames["original"] != frames["coded"]

    from vqaudio.models import load_model

    model = load_model(run / "best.safetensors")
    wave = synth_speech(1.0, sample_rate=8000, seed=3)
    got = envelope_frames(model, wave, n_frames=25)
    assert got.original.shape == got.coded.shape == (25, 20) and got.codes.shape == (25, 2)
    assert np.allclose(got.distortion_db2, np.mean((got.original - got.coded) ** 2, axis=1))
    sets = collect_latents(model, [model.config.front_end.features(torch.from_numpy(wave)).unsqueeze(0)])
    assert [s.codebook.shape for s in sets] == [(8, 4), (8, 4)]  # type: ignore[union-attr]
    inputs = [model.config.front_end.features(torch.from_numpy(wave)).unsqueeze(0)]
    rate_k = rate_k_set(model, inputs)
    assert rate_k.vectors.shape == (inputs[0].shape[-1], 20) and rate_k.codebook is not None
    assert rate_k.codebook.shape == (8, 20)  # every stage-1 code, carried into the 20 rate-K bands
    one = torch.zeros(1, 8, 2, dtype=torch.long)
    one[..., 1] = -1  # code 0 at stage 1 only, as rate_k_set decodes it
    with torch.no_grad():
        decoded = model.decode(one[..., :1])[0]
    alone = decoded[:, decoded.shape[-1] // 2].numpy()  # the middle frame of 8 latent frames of code 0
    assert np.allclose(rate_k.codebook[0], alone, atol=1e-5)
    assert "rate-K vectors" in text  # the report's latent section names the extra panel


def test_denoise_report_plays_noisy_denoised_and_clean(speech_root: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("rain", "birds"):  # rain validates, birds trains
        save(tmp_path / "noise" / f"{name}.flac", (0.1 * rng.standard_normal(24000)).astype(np.float32), 8000)
    data = {"root": str(speech_root), "noise": str(tmp_path / "noise"), "snr_db": [0.0, 10.0]}
    run = make_run(tmp_path, "vqunet", {**UNET, "latent_dim": 8, "codebook_size": 16}, "denoise", data)
    page = write_run_report(run, examples=2)
    parsed = links(page)
    infos = clips(page, parsed)
    assert sorted(infos) == [
        f"0{i}-{kind}.flac" for i in (1, 2) for kind in ("input-noisy-speech", "output", "reference-clean-speech")
    ]
    assert all(i.samplerate == 8000 and i.duration <= 4.0 for i in infos.values())
    noisy, clean = (sf.read(str(page.parent / "report" / "listen" / f"01-{k}.flac"))[0]
                    for k in ("input-noisy-speech", "reference-clean-speech"))  # fmt: skip
    assert noisy.shape == clean.shape and not np.allclose(noisy, clean, atol=1e-3)  # noise was added
    assert "rain at" in page.read_text() and "birds" not in page.read_text()  # a validation noise only


def test_separate_report_plays_the_mixture_the_estimates_and_the_true_stems(tmp_path: Path) -> None:
    t = np.arange(int(2.5 * 8000)) / 8000
    for split in ("train", "val"):
        for i in range(2):
            vocals = 0.3 * np.sin(2 * np.pi * (220 + 30 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
            accompaniment = 0.1 * np.sin(2 * np.pi * 98 * t) + 0.02 * np.random.default_rng(i).standard_normal(len(t))
            (tmp_path / "mir1k" / split).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "mir1k" / split / f"singer_{i}_01.flac", np.stack([accompaniment, vocals], 1), 8000)
    run = make_run(tmp_path, "dual-vae", {**UNET, "latent_dim": 8}, "separate", {"root": str(tmp_path / "mir1k")})
    page = write_run_report(run, examples=1)
    parsed = links(page)
    names = sorted(clips(page, parsed))
    assert names == [
        "01-input-mixture.flac",
        "01-output-accompaniment.flac",
        "01-output-vocals.flac",
        "01-reference-accompaniment.flac",
        "01-reference-vocals.flac",
    ]
    listen = page.parent / "report" / "listen"
    mixture = sf.read(str(listen / "01-input-mixture.flac"))[0]
    stems = sum(sf.read(str(listen / f"01-reference-{s}.flac"))[0] for s in ("vocals", "accompaniment"))
    assert np.allclose(mixture, stems, atol=1e-3)  # the true stems add up to the input
    from vqaudio.models import load_model

    model = load_model(run / "best.safetensors")
    examples = validation_examples("separate", {"root": str(tmp_path / "mir1k")}, 8000, 2)
    sets = collect_latents(model, [model_input(model, e) for e in examples])
    assert [s.title for s in sets] == ["vocals: latent mean", "accompaniment: latent mean"]
    assert all(s.codebook is None for s in sets)
    assert len(plot_latent_space(sets, tmp_path / "latent.png").panels) == 2


def test_unreachable_data_leaves_a_note_instead_of_the_model_sections(speech_root: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path, "vqvae", dict(TINY_MODEL, codebook_size=16), "codec", {"root": str(tmp_path / "gone")})
    page = write_run_report(run)
    text = page.read_text()
    assert "No validation data to run the model on" in text and "is not reachable from here" in text
    assert "<audio" not in text and not (page.parent / "report" / "latent_space.png").exists()
    assert links(page).images == ["report/loss_curves.png"]  # the training pictures are still there
    # a later report, with the data back, replaces the note
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["data"]["root"] = str(speech_root)
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    text = write_run_report(run, examples=1).read_text()
    assert "No validation data" not in text and len(re.findall("<audio", text)) == 2
    # and gone again, the page says so and keeps none of the earlier figures and clips
    (run / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "data": {"root": str(tmp_path / "gone")}}))
    assert "No validation data" in write_run_report(run).read_text()
    assert (
        not list((page.parent / "report").rglob("*.flac"))
        and not (page.parent / "report" / "latent_space.png").exists()
    )


def test_report_of_real_speech(shared_data_dir: Path, tmp_path: Path) -> None:
    """FSDD and Asterisk validation speakers (../shared/data/speech), as the shipped codec's recipe reads them."""
    cfg = dict(TINY_MODEL, codebook_size=16, n_stages=2, input_level_db=-20.0)
    run = make_run(tmp_path, "vqvae", cfg, "codec", {"root": str(shared_data_dir / "speech")})
    page = write_run_report(run)
    parsed = links(page)
    infos = clips(page, parsed)
    assert len(infos) == 6 and all(i.samplerate == 8000 and 1.0 < i.duration <= 4.0 for i in infos.values())
    speakers = re.findall(r"<h3>\d\. (.+) \([\d.]+ s, ", page.read_text())
    # FSDD and Asterisk have one validation speaker each: both are heard before either is heard twice
    assert len(set(speakers)) == 3 and {s.split()[0] for s in speakers[:2]} == {"fsdd", "asterisk"}


def test_training_ends_with_a_report(speech_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    from vqaudio.train import RecipeConfig, fit

    recipe = RecipeConfig.from_dict({
        "name": "tiny-train", "model_type": "vqvae", "task": "codec", "model": dict(TINY_MODEL, codebook_size=16),
        "data": {"root": str(speech_root), "crop_seconds": 0.25, "batch_size": 4},
        "trainer": {"max_epochs": 1, "max_steps": 2, "accelerator": "cpu", "log_every_n_steps": 1},
        "out_dir": str(tmp_path / "runs"),
    })  # fmt: skip
    best = fit(recipe, progress=False)
    page = best.parent / "report.html"
    assert page.is_file() and "<audio" in page.read_text() and links(page).images
    # a report that fails leaves the trained run as it is, with a warning
    import vqaudio.report

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("no room for pictures")

    monkeypatch.setattr(vqaudio.report, "write_run_report", broken)
    with caplog.at_level("WARNING", logger="vqaudio.train.fit"):
        assert fit(recipe, force=True, progress=False) == best and best.is_file()
    assert "no report written" in caplog.text and "no room for pictures" in caplog.text
