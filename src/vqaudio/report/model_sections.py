"""The parts of a run report that run the run's model: its latent space, its validation examples to look at and
listen to, and (envelope codec) its rate-K vectors frame by frame. Returned as (title, HTML body) pairs for
`write_run_report` to place on the page.

The model is best.safetensors; the examples come from the recipe's data folders (`examples.py`). Where either is
missing the sections say why instead, and a section that fails to draw says so (and logs the error) without
taking the rest of the page with it: a report is for looking, and a finished run must still get one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vqaudio.audio import scale_to_level
from vqaudio.models.envelope import EnvelopeVQVAE
from vqaudio.models.registry import DEFAULT_TASKS
from vqaudio.report.examples import DataUnavailableError, Example, validation_examples
from vqaudio.report.latent import collect_latents, plot_latent_space, rate_k_set
from vqaudio.report.listening import listening_html, model_outputs, write_listening
from vqaudio.report.pager import envelope_frames, pager_html

__all__ = ["LATENT", "LISTENING", "PAGER", "model_sections"]

log = logging.getLogger(__name__)

LATENT = "Latent space"
LISTENING = "Listening and looking"
PAGER = "Rate-K vectors, frame by frame"
BEST_WEIGHTS = "best.safetensors"
LISTEN_FOLDER = "listen"
LATENT_FIGURE = "latent_space.png"
_JOBS = ("reconstruct", "codec", "envelope", "denoise", "separate")


def model_sections(
    run_dir: Path,
    page_dir: Path,
    pictures: Path,
    recipe: Mapping[str, Any],
    task: str,
    examples: int = 3,
    latent_utterances: int = 16,
    seconds: float = 4.0,
) -> list[tuple[str, str]]:
    """(title, body) of the latent-space, listening and (envelope models) pager sections of a run's report.

    `pictures` is where figures and clips go (report/ beside the page); links are relative to `page_dir`.
    `examples` validation examples are played, `latent_utterances` (at least as many) feed the PCA; each is at
    most `seconds` long.
    """
    from vqaudio.models import EnvelopeVQVAE, load_model
    from vqaudio.models.registry import model_type_of

    _clear(pictures)
    titles = [LATENT, LISTENING]
    best = run_dir / BEST_WEIGHTS
    if not best.is_file():
        return [(t, _note(f"no {BEST_WEIGHTS} yet: nothing to run")) for t in titles]
    try:
        model = load_model(best).eval()
    except (OSError, ValueError) as err:
        return [(t, _note(f"{best} could not be loaded: {err}")) for t in titles]
    model_type = model_type_of(model)
    job = task if task in _JOBS else DEFAULT_TASKS.get(model_type, "reconstruct")
    sample_rate = int(model.config.sample_rate)
    seed = int((recipe.get("trainer") or {}).get("seed") or 0)
    started = time.perf_counter()
    try:
        found = validation_examples(
            job, recipe.get("data") or {}, sample_rate, max(examples, latent_utterances), seconds, seed,
            search=[run_dir, run_dir.parent, run_dir.parent.parent],
        )  # fmt: skip
    except DataUnavailableError as err:
        why = (
            f"No validation data to run the model on: {err}. Run `vqaudio report` where the recipe's data folders "
            "are reachable (the paths in recipe.yaml, relative to the working directory or the run folder's parents)."
        )
        titles += [PAGER] if isinstance(model, EnvelopeVQVAE) else []
        return [(t, _note(why)) for t in titles]
    log.debug("report: %d validation examples in %.1f s", len(found), time.perf_counter() - started)

    listen = found[: max(0, examples)]
    sections = [
        (LATENT, _guarded(LATENT, lambda: _latent_body(model, found[:latent_utterances], pictures, page_dir))),
        (LISTENING, _guarded(LISTENING, lambda: _listening_body(model, job, listen, pictures, page_dir))),
    ]
    if isinstance(model, EnvelopeVQVAE):
        sections.append((PAGER, _guarded(PAGER, lambda: _pager_body(model, found[0]))))
    return sections


def _clear(pictures: Path) -> None:
    """Remove what an earlier report drew here, so a page without these sections leaves none of their files."""
    for old in [pictures / LATENT_FIGURE, *(pictures / LISTEN_FOLDER).glob("*.flac"),
                *(pictures / LISTEN_FOLDER).glob("*.png")]:  # fmt: skip
        old.unlink(missing_ok=True)


def _guarded(title: str, body: Callable[[], str]) -> str:
    """The section's body, or a note with the error (logged with its traceback) when drawing it failed."""
    started = time.perf_counter()
    try:
        html = body()
    except Exception as err:  # a picture is no reason to lose the page
        log.warning("report: could not draw %r: %s", title, err, exc_info=True)
        return _note(f"could not draw this section: {type(err).__name__}: {err}")
    log.debug("report: %s in %.1f s", title, time.perf_counter() - started)
    return html


def _note(text: str) -> str:
    return f'<p class="none">{escape(text)}</p>'


def model_input(model: nn.Module, example: Example) -> torch.Tensor:
    """An example's input as the model sees it: at the model's input level, through its front-end, (1, F, N)."""
    wave = example.input
    level = getattr(model.config, "input_level_db", None)
    if level is not None:
        wave, _ = scale_to_level(wave, example.sample_rate, level)
    return model.config.front_end.features(torch.from_numpy(np.ascontiguousarray(wave))).unsqueeze(0)


def _latent_body(model: nn.Module, found: Sequence[Example], pictures: Path, page_dir: Path) -> str:
    inputs = [model_input(model, e) for e in found]
    sets = collect_latents(model, inputs)
    if sets and isinstance(model, EnvelopeVQVAE):
        sets.append(rate_k_set(model, inputs))
    if not sets:
        return _note(f"{type(model).__name__} has no latent to show")
    seconds = sum(len(e.input) / e.sample_rate for e in found)
    figure = plot_latent_space(sets, pictures / LATENT_FIGURE)
    with_codebook = any(s.codebook is not None for s in sets)
    src = escape(figure.path.relative_to(page_dir).as_posix(), quote=True)
    text = (
        f"2-D histograms of the latent vectors of {len(found)} validation example{'s' if len(found) != 1 else ''} "
        f"({seconds:.0f} s of audio), "
        "each on its first two principal components"
        + (", with the codebook's vectors projected the same way as white dots" if with_codebook else "")
        + ". One panel per place the model quantizes (stage k of a residual VQ: the residual entering it, with "
        "stage k's codebook; one per source for the separator); a continuous latent shows its means."
        + (
            " The last panel is the envelope codec's input space itself: the rate-K vectors, with each first-stage"
            " code decoded into it."
            if isinstance(model, EnvelopeVQVAE)
            else ""
        )
    )
    return f'<p>{escape(text)}</p>\n<img src="{src}" alt="latent space: PCA histograms with codebook">'


def _listening_body(model: nn.Module, job: str, found: Sequence[Example], pictures: Path, page_dir: Path) -> str:
    if not found:
        return _note("no examples asked for (--examples 0)")
    outputs = model_outputs(model, job, found)
    listened = write_listening(job, found, outputs, pictures / LISTEN_FOLDER)
    text = (
        f"{len(found)} validation example{'s' if len(found) != 1 else ''} through the {job} pipeline: "
        "spectrograms (dB, one colour scale per example) and the clips, at most 4 s each."
    )
    return f"<p>{escape(text)}</p>\n" + listening_html(listened, page_dir)


def _pager_body(model: nn.Module, example: Example) -> str:
    frames = envelope_frames(model, example.input)  # type: ignore[arg-type]
    text = (
        f"Original (blue) and coded (orange) rate-K vectors of {example.name}: the {len(frames.original)} loudest "
        f"consecutive {frames.frame_ms:g} ms frames, with each frame's spectral distortion and its codes. "
        "Step with the buttons or the arrow keys."
    )
    return f"<p>{escape(text)}</p>\n" + pager_html(frames)
