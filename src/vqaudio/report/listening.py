"""Listening and looking: a few validation examples through the run's model, as spectrograms side by side and short
FLAC clips the report page plays (<audio controls>, relative links).

The model runs through its job's pipeline (`pipelines/`), so what is heard is what `vqaudio reconstruct | codec |
denoise | separate` would give: Griffin-Lim phase for reconstruct and codec, the mixture's phase for denoise and
separate, the codec's level handling and bitrate. Each example shows its input, the output(s) and the reference(s):
the input is its own reference for reconstruct and codec; the clean speech for denoise; the true stems for separate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from vqaudio.audio import STFTConfig, log_magnitude, save
from vqaudio.report.examples import Example
from vqaudio.report.training import pyplot

if TYPE_CHECKING:
    from vqaudio.pipelines import Pipeline

__all__ = ["Clip", "Listened", "listening_html", "model_outputs", "write_listening"]

CLIP_SECONDS = 4.0  # clips stay short, so the report folder stays small
RANGE_DB = 80.0  # spectrogram colour range below the loudest bin of an example
PEAK_LIMIT = 0.99
INPUT_LABELS = {"denoise": "input: noisy speech", "separate": "input: mixture"}


@dataclass
class Clip:
    """One player: its label, the FLAC written and what it holds (mono float32 at `sample_rate`)."""

    label: str
    path: Path
    sample_rate: int
    wave: np.ndarray


@dataclass
class Listened:
    """One example as the page shows it: its name, its spectrogram figure and its clips (input, outputs,
    references), in the figure's panel order."""

    name: str
    spectrogram: Path
    clips: list[Clip]


def model_outputs(model: nn.Module, task: str, examples: Sequence[Example]) -> list[dict[str, np.ndarray]]:
    """Each example's input through the job's pipeline, with the pipeline's defaults (as the command runs it):
    {"output": wave} or, for the separator, {source: wave}."""
    pipeline = _pipeline(model, task)
    outputs = []
    for example in examples:
        out = pipeline(example.input, example.sample_rate)
        if isinstance(out, dict):
            outputs.append({name: np.asarray(wave, dtype=np.float32) for name, wave in out.items()})
        else:
            outputs.append({"output": np.asarray(out, dtype=np.float32)})
    return outputs


def _pipeline(model: nn.Module, task: str) -> Pipeline:
    """The pipeline of the run's job (a ValueError, naming the right one, when the model is of another kind)."""
    from vqaudio.pipelines import Codec, Denoiser, Reconstructor, Separator

    if task == "denoise":
        return Denoiser(model)
    if task == "separate":
        return Separator(model)
    if task in ("codec", "envelope"):
        try:  # coded and decoded: the bitstream's quantisation and level handling, as `vqaudio codec` gives
            return Codec(model)
        except ValueError:  # a conv2d VQ-VAE: no bitstream, but the same codes
            pass
    return Reconstructor(model)


def write_listening(
    task: str,
    examples: Sequence[Example],
    outputs: Sequence[dict[str, np.ndarray]],
    folder: str | Path,
) -> list[Listened]:
    """Write each example's clips (FLAC, at most CLIP_SECONDS) and its spectrogram figure (PNG) into `folder`
    (files of an earlier report there are replaced); return what was written, per example."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in list(folder.glob("*.flac")) + list(folder.glob("*.png")):
        old.unlink()
    listened = []
    for index, (example, out) in enumerate(zip(examples, outputs, strict=True), start=1):
        columns = [(INPUT_LABELS.get(task, "input (the reference)"), example.input)]
        columns += [("output" if name == "output" else f"output: {name}", wave) for name, wave in out.items()]
        columns += [(f"reference: {name}", wave) for name, wave in example.references.items()]
        clips = []
        for label, wave in columns:
            path = folder / f"{index:02d}-{_slug(label)}.flac"
            clip = _clip(wave, example.sample_rate)
            save(path, clip, example.sample_rate)
            clips.append(Clip(label, path, example.sample_rate, clip))
        figure = plot_spectrograms(clips, folder / f"{index:02d}-spectrograms.png", f"{index}. {example.name}")
        listened.append(Listened(example.name, figure, clips))
    return listened


def _slug(label: str) -> str:
    """'output: vocals' -> 'output-vocals', 'input (the reference)' -> 'input': a file name part."""
    return re.sub(r"[^a-z0-9]+", "-", label.split("(")[0].lower()).strip("-") or "clip"


def _clip(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """At most CLIP_SECONDS, mono float32, scaled down only where it would clip (a FLAC holds [-1, 1])."""
    clip = np.asarray(wave, dtype=np.float32).reshape(-1)[: round(CLIP_SECONDS * sample_rate)]
    peak = float(np.max(np.abs(clip), initial=0.0))
    return clip * np.float32(PEAK_LIMIT / peak) if peak > 1.0 else clip


def spectrogram_db(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """dB STFT magnitude (F, N) with ~32 ms windows and a quarter-window hop, whatever the rate."""
    n_fft = 2 ** max(6, round(math.log2(0.032 * sample_rate)))
    cfg = STFTConfig(sample_rate=sample_rate, n_fft=n_fft, hop_length=n_fft // 4)
    return log_magnitude(np.asarray(wave, dtype=np.float32), cfg, floor_db=-120.0).numpy()


def plot_spectrograms(clips: Sequence[Clip], out: Path, title: str) -> Path:
    """The clips' spectrograms side by side on one colour scale (RANGE_DB below the loudest), to the PNG `out`."""
    plt = pyplot()
    specs = [spectrogram_db(c.wave, c.sample_rate) for c in clips]
    top = max(float(s.max()) for s in specs)
    width = 3.1 * len(clips) + 0.9
    fig, axes = plt.subplots(1, len(clips), figsize=(width, 2.8), squeeze=False, sharey=True)
    # a fixed layout: matplotlib's constrained layout would double the time this figure takes
    fig.subplots_adjust(left=0.5 / width, right=1 - 0.75 / width, bottom=0.17, top=0.8, wspace=0.08)
    image = None
    for ax, clip, spec in zip(axes[0], clips, specs, strict=True):
        seconds = len(clip.wave) / clip.sample_rate
        image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=top - RANGE_DB, vmax=top,
                          extent=(0.0, seconds, 0.0, clip.sample_rate / 2000.0), interpolation="nearest")  # fmt: skip
        ax.set_title(clip.label, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("frequency (kHz)", fontsize=8)
    colour_axis = fig.add_axes((1 - 0.6 / width, 0.17, 0.12 / width, 0.63))
    fig.colorbar(image, cax=colour_axis).set_label("dB", fontsize=8)
    colour_axis.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def listening_html(listened: Sequence[Listened], page_dir: Path) -> str:
    """Per example: its spectrograms and a table of players, linked relative to the page's folder."""
    blocks = []
    for index, item in enumerate(listened, start=1):
        seconds = len(item.clips[0].wave) / item.clips[0].sample_rate
        src = escape(item.spectrogram.relative_to(page_dir).as_posix(), quote=True)
        rows = "\n".join(
            f'<tr><th>{escape(c.label)}</th><td><audio controls preload="metadata" '
            f'src="{escape(c.path.relative_to(page_dir).as_posix(), quote=True)}"></audio></td></tr>'
            for c in item.clips
        )
        blocks.append(
            f"<h3>{index}. {escape(item.name)} ({seconds:.1f} s, {item.clips[0].sample_rate} Hz)</h3>\n"
            f'<img src="{src}" alt="{escape(f"spectrograms of {item.name}", quote=True)}">\n<table>\n{rows}\n</table>'
        )
    return "\n".join(blocks)
