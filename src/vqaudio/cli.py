"""The `vqaudio` command. Thin: parses arguments and calls pipelines, evaluation or training.

Heavy modules (torch, and Lightning above all) are imported inside the subcommand that needs them, so
`vqaudio --help` is fast and inference commands never load the training stack. Results (written files,
tables, JSON) go to stdout; progress and log messages to stderr (`-q` keeps only warnings and errors).
Commands that write follow `vqaudio.outputs`: never over the input, existing files only with --force, output names
checked before any work, folder jobs run to the end and list what failed (exit 1). Errors exit 2 with one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from vqaudio import __version__

# Kept in step with vqaudio.pipelines.codec.DEFAULT_POSTFILTER (a test checks); torch is not imported for --help.
POSTFILTER_HELP = (
    "decoder postfilter: how much to sharpen formants and harmonics of the decoded spectrum (0 = off; default 0.15)"
)
# Kept in step with vqaudio.pipelines.separate.DEFAULT_MASK_POWER (a test checks).
DEFAULT_MASK_POWER = 1.0
PHASE_HELP = (
    "where the decoder's phase comes from: auto (a shipped learned phase model for the codec's STFT if there is one, "
    "else Griffin-Lim; the default), griffin-lim, or a phase model's .safetensors (vqaudio train recipes/phase-8k.yaml)"
)
ITERS_HELP = (
    "Griffin-Lim iterations (default: 32 alone, 16 after a learned phase; 64 decode ~1.5x slower, <= 0.01 PESQ higher)"
)
DEVICE_HELP = "torch device to run the model on: cpu (default), cuda, cuda:N or mps"
PACKET_HELP = (
    "latent frames per packet, each with its own CRC-8 so a damaged one is concealed rather than failing the file "
    "(default 8: 128 ms, 62.5 bit/s; 0: no packets, the smallest file, format version 3)"
)
THREADS_HELP = (
    "CPU threads torch may use (default 1, for the same speed on a shared or busy machine and several jobs side by "
    "side; give the number of cores for one job alone on the machine; 0 = torch's own default)"
)
FORCE_HELP = "overwrite output files that already exist (the input itself is never overwritten)"
JOBS_HELP = (
    "for a folder: files processed by N worker processes at once (default 1), each loading the model once and "
    "using --threads CPU threads; failed files are still listed at the end"
)
# Said in the description of every command that writes audio; vqaudio.audio.io (save, AudioWriter) does what it says.
AUDIO_OUT_NOTE = (
    "Audio is written as 16-bit PCM (.ogg: Vorbis), through a temporary file renamed when complete; samples\n"
    "beyond full scale are clipped, with a warning naming the file and its peak. Existing outputs are kept\n"
    "unless --force is given. Files are read, processed and written a block at a time: memory does not grow\n"
    "with their length."
)
TRAIN_EXTRA = ("lightning", "tensorboard")
EVAL_EXTRA = ("pesq", "pystoi")

if TYPE_CHECKING:
    from vqaudio.audio.io import AudioInfo
    from vqaudio.pipelines import Codec, Pipeline

log = logging.getLogger("vqaudio.cli")


class MissingExtraError(ModuleNotFoundError):
    """A command needs an optional dependency group (pyproject extra) that is not installed."""


class _StderrHandler(logging.Handler):
    """Writes records to the sys.stderr of the moment (not the one at set-up), so redirected stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging must never take the command down
            self.handleError(record)


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Log to stderr as plain lines: INFO by default, WARNING with quiet, DEBUG (vqaudio's own) with verbose.

    The CLI's equivalent of `logging.basicConfig`; calling it again (main() run twice in one process)
    replaces its own handler and leaves any other handler alone.
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(max(level, logging.INFO))  # -v turns on vqaudio's debug lines, not every library's
    logging.getLogger("vqaudio").setLevel(logging.DEBUG if verbose else logging.NOTSET)


def _progress(args: argparse.Namespace) -> bool | None:
    """tqdm's `disable`: off with --quiet, else shown on a terminal only (logs and CI output stay clean)."""
    return True if getattr(args, "quiet", False) else None


def _require(extra: str, modules: tuple[str, ...], what: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"{what} needs {', '.join(missing)}, not installed: pip install 'vqaudio[{extra}]'", name=missing[0]
        )


def _device(name: str) -> str:
    """Check that torch can use `name` before any model is built; ValueError (exit 2) names the device."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device torch knows; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", built without CUDA")
            raise ValueError(f"--device {name!r}: CUDA is not available ({build}); use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"--device {name!r}: there is no GPU {device.index} ({count} visible: cuda:0..{count - 1})"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name!r}: Apple MPS is not available on this machine/torch build; use --device cpu")
    elif device.type == "meta":
        raise ValueError(f"--device {name!r}: the meta device holds no data; use cpu, cuda or mps")
    if device.type != "cpu":
        try:
            torch.empty(1, device=device)
        except Exception as err:  # torch raises RuntimeError, AssertionError, ... for unusable devices
            raise ValueError(f"--device {name!r} cannot be used: {err}") from None
    log.debug("device: %s", device)
    return name


def _cmd_train(args: argparse.Namespace) -> int:
    _require("train", TRAIN_EXTRA, "vqaudio train")
    try:
        from vqaudio.train import fit, load_recipe
    except ModuleNotFoundError as err:  # lightning present but incomplete, or blocked
        if err.name and err.name.split(".")[0] in TRAIN_EXTRA:
            raise MissingExtraError(
                f"vqaudio train needs {err.name.split('.')[0]}: pip install 'vqaudio[train]'", name=err.name
            ) from err
        raise

    overrides = list(args.set or [])
    for flag, key in (
        ("max_epochs", "trainer.max_epochs"),
        ("max_minutes", "trainer.max_minutes"),
        ("devices", "trainer.devices"),
        ("accelerator", "trainer.accelerator"),
        ("num_nodes", "trainer.num_nodes"),
        ("strategy", "trainer.strategy"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    recipe = load_recipe(args.recipe, overrides)
    # paths are set as given, not read as YAML (`--out 2024` is a folder, not a number)
    if args.data:
        recipe.data.root = str(args.data)
    if args.noise:
        recipe.data.noise = str(args.noise)
    if args.out:
        recipe.out_dir = str(args.out)
    if args.init_from:
        if args.resume:
            raise ValueError("--init-from starts a new run from trained weights; --resume continues one: pick one")
        recipe.init_from = str(args.init_from)
    best = fit(recipe, resume=args.resume, force=args.force, progress=not args.quiet)
    print(f"best weights: {best}")
    return 0


def _whole_number(text: str, at_least: int, what: str) -> int:
    """An argparse value: a whole number >= at_least, else an ArgumentTypeError naming `what`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of {what}, got {text!r}") from None
    if value < at_least:
        least = "0 (torch's default)" if at_least == 0 else str(at_least)
        raise argparse.ArgumentTypeError(f"expected {least} or more {what}, got {value}")
    return value


def _threads(text: str) -> int:
    """argparse type of --threads: a whole number >= 0."""
    return _whole_number(text, 0, "threads")


def _packet_frames(text: str) -> int:
    """argparse type of --packet-frames: 0 (no packets) .. MAX_PACKET_FRAMES."""
    from vqaudio.bitstream.packets import MAX_PACKET_FRAMES

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of latent frames, got {text!r}") from None
    if not 0 <= value <= MAX_PACKET_FRAMES:
        raise argparse.ArgumentTypeError(f"expected 0..{MAX_PACKET_FRAMES} latent frames a packet, got {value}")
    return value


def _percent(text: str) -> float:
    """argparse type of --packet-loss: a percentage in 0..100."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage, got {text!r}") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"expected a percentage in 0..100, got {value:g}")
    return value


def _positive_float(text: str) -> float:
    """argparse type of --mask-power and --max-attenuation-db: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _model_setup(args: argparse.Namespace) -> str:
    """Before any model is loaded: torch's CPU threads from --threads, then the checked --device."""
    threads = getattr(args, "threads", 0)
    if threads:
        import torch

        args.threads_before = torch.get_num_threads()  # main() puts it back (tests, notebooks call main())
        torch.set_num_threads(threads)
        log.debug("torch threads: %d", threads)
    return _device(args.device)


def _restore_threads(args: argparse.Namespace) -> None:
    before = getattr(args, "threads_before", None)
    if before and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(before)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    device = _model_setup(args)

    def build() -> Pipeline:
        from vqaudio.pipelines import Reconstructor

        return Reconstructor.from_checkpoint(args.checkpoint, griffin_lim_iters=args.griffin_lim_iters, device=device)

    return _audio_job(args, build)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _require("eval", EVAL_EXTRA, "vqaudio evaluate (PESQ, STOI)")
    device = _model_setup(args)
    if args.json is not None:
        from vqaudio.outputs import OutputError, refuse_existing

        if args.json.is_dir():
            example = args.json / "eval.json"
            raise OutputError(f"--json {args.json} is a folder; give a file name, e.g. --json {example}")
        refuse_existing([args.json], args.force)
    from vqaudio.evaluation import finish_report, held_out_utterances, score_system
    from vqaudio.models import load_model
    from vqaudio.pipelines import Reconstructor

    model = load_model(args.checkpoint)
    reconstructor = Reconstructor(model, griffin_lim_iters=args.griffin_lim_iters, device=device)
    utterances = held_out_utterances(args.data, args.split, reconstructor.sample_rate, args.max_utterances)
    log.info("%d utterances from %s (%s)", len(utterances), args.data, args.split)
    row = score_system(f"vqaudio-{Path(args.checkpoint).stem}", reconstructor, utterances, progress=not args.quiet)
    row["latent_bits_per_second"] = getattr(model, "latent_bits_per_second", None)
    print(finish_report("evaluate", [row], None, args.json, data=str(args.data), split=args.split, device=device))
    _refresh_run_report(Path(args.checkpoint))
    return 0


def _refresh_run_report(checkpoint: Path) -> None:
    """A checkpoint in a training run's folder (beside its recipe.yaml): rewrite that run's report.html, as training
    does at its end; a report that cannot be written only warns (the evaluation has been printed)."""
    run_dir = checkpoint.parent
    if not (run_dir / "recipe.yaml").is_file():
        return
    try:
        from vqaudio.report import write_run_report

        log.info("report: %s", write_run_report(run_dir))
    except ImportError as err:
        log.debug("no report written for %s: %s", run_dir, err)
    except Exception as err:  # a picture, a clip or the data: no reason to fail a finished evaluation
        log.warning("no report written for %s: %s", run_dir, err)


def _cmd_info(args: argparse.Namespace) -> int:
    from vqaudio.models import count_parameters, decode_metadata_value, load_model, read_metadata

    model = load_model(args.checkpoint)
    meta = read_metadata(args.checkpoint)
    info = {
        "checkpoint": str(args.checkpoint),
        "model_type": meta.get("model_type"),
        "sample_rate": model.config.sample_rate,
        "parameters": count_parameters(model),
        "latent_bits_per_second": getattr(model, "latent_bits_per_second", None),
        "latent_values_per_second": getattr(model, "latent_values_per_second", None),
        "config": model.config.to_dict(),
        "metadata": {k: decode_metadata_value(v) for k, v in meta.items() if k not in ("config", "model_type")},
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    """A run folder, a benchmark JSON or --compare RUN_A RUN_B: which one is told by the arguments, then the path."""
    target = args.target
    if args.compare and target is not None:
        raise ValueError(f"give {target} or --compare RUN_A RUN_B, not both")
    if not args.compare and target is None:
        raise ValueError("nothing to report on: give a run folder, a benchmark .json, or --compare RUN_A RUN_B")
    if target is not None and not target.is_dir() and target.suffix.lower() != ".json":
        if target.exists():
            raise ValueError(f"{target} is neither a run folder nor a benchmark .json report")
        raise FileNotFoundError(f"no such run folder: {target}")
    _require("eval", ("matplotlib",), "vqaudio report")
    if args.compare:
        from vqaudio.report.compare import compare_runs

        page = compare_runs(*args.compare, out=args.out)
    elif target.suffix.lower() == ".json" and not target.is_dir():
        from vqaudio.report.benchmarks import write_benchmark_report

        page = write_benchmark_report(target, args.out)
    else:
        from vqaudio.report import write_run_report

        page = write_run_report(target, None if args.out is None else args.out / "report.html", args.examples)
    print(f"wrote {page}")
    return 0


def _add_phase_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phase", metavar="auto|griffin-lim|PATH", help=PHASE_HELP)
    p.add_argument("--griffin-lim-iters", type=_non_negative_int, metavar="N", help=ITERS_HELP)


def _non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _codec_for(args: argparse.Namespace, device: str) -> Codec:
    """The codec from --model, else the shipped default, on `device`; logs which model it is."""
    from vqaudio.pipelines import Codec

    options: dict[str, object] = {"device": device}
    if getattr(args, "postfilter", None) is not None:
        options["postfilter"] = args.postfilter
    if getattr(args, "packet_frames", None) is not None:
        options["packet_frames"] = args.packet_frames or None  # 0: one payload (format version 3)
    if getattr(args, "phase", None) is not None:
        options["phase"] = args.phase
    if getattr(args, "griffin_lim_iters", None) is not None:
        options["griffin_lim_iters"] = args.griffin_lim_iters
    codec = Codec.from_checkpoint(args.model, **options) if args.model else Codec.default(**options)
    log.info("model: %s (ladder: %s bit/s)", codec.model_id, ", ".join(f"{r:g}" for r in codec.bitrates))
    if getattr(args, "bitrate", None) is not None:
        codec.stages_for_bitrate(args.bitrate)  # a --bitrate below the ladder is one error, before any file
    return codec


def _files_under(folder: Path, suffixes: Collection[str]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _folder_inputs(args: argparse.Namespace, suffixes: Collection[str], none_found: str) -> list[Path]:
    """Every file under the input folder with one of `suffixes`, once -o is known to be a usable output folder."""
    from vqaudio.outputs import check_output_folder

    check_output_folder(args.input, args.output)
    files = _files_under(args.input, suffixes)
    if not files:
        raise FileNotFoundError(f"{none_found} under {args.input}")
    return files


def _no_audio_files() -> str:
    from vqaudio.audio.io import READABLE_EXTENSIONS

    return f"no audio files ({', '.join(READABLE_EXTENSIONS)})"


def _single_input(args: argparse.Namespace, what: str) -> None:
    if not args.input.is_file():
        raise FileNotFoundError(f"no such {what}: {args.input}")


def _run_folder(
    args: argparse.Namespace,
    plan: dict[Path, list[Path]],
    work: Callable[[Path, list[Path]], object],
    what: str,
) -> int:
    """A folder job: refuse existing outputs (without --force), run `work(input, outputs)` on every input, going
    on past failures, then report: `wrote N <what> to OUT` on stdout, one line per failed input on stderr.

    Returns the exit code: 0 when every input was written, 1 when any failed.
    """
    if "plan" in _WORKER:  # a --jobs worker setting up (_start_worker): keep the per-file work, run nothing
        _WORKER["work"] = work
        return 0
    from vqaudio.outputs import drop_clashes, refuse_existing, run_each, run_each_in_processes

    runnable, failures = drop_clashes(plan)
    refuse_existing([out for outs in runnable.values() for out in outs], args.force)
    jobs = min(getattr(args, "jobs", 1), len(runnable))
    if jobs > 1:
        log.debug("%d worker processes, %d torch thread(s) each", jobs, getattr(args, "threads", 0))
        failures += run_each_in_processes(
            list(runnable), _work_in_worker, args.command, jobs, _start_worker, (args, runnable), _progress(args)
        )
    else:
        failures += run_each(list(runnable), lambda path: work(path, runnable[path]), args.command, _progress(args))
    print(f"wrote {len(plan) - len(failures)} {what} to {args.output}")
    if not failures:
        return 0
    for failure in sorted(failures, key=lambda f: f.path):
        print(f"vqaudio {args.command}: failed: {failure.line()}", file=sys.stderr)
    print(f"vqaudio {args.command}: {len(failures)} of {len(plan)} input files failed", file=sys.stderr)
    return 1


# In a --jobs worker process: the parent's plan (input -> outputs) and the command's per-file work.
_WORKER: dict[str, object] = {}


def _start_worker(args: argparse.Namespace, plan: dict[Path, list[Path]]) -> None:
    """Initializer of a --jobs worker: the command's own set-up, once (model, --threads, --device), down to the
    folder job, whose per-file work _run_folder keeps instead of running."""
    setup_logging(quiet=True)  # the parent has said which model it runs
    _WORKER["plan"] = plan
    args.func(args)
    setup_logging(quiet=args.quiet, verbose=args.verbose)  # warnings about single files, as without --jobs


def _work_in_worker(path: Path) -> None:
    work, plan = _WORKER.get("work"), _WORKER["plan"]
    if not callable(work):
        raise RuntimeError("this --jobs worker's set-up did not reach its folder job")
    work(path, plan[path])  # type: ignore[index]


def _jobs(text: str) -> int:
    """argparse type of --jobs: a whole number >= 1."""
    return _whole_number(text, 1, "worker processes")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=_jobs, default=1, metavar="N", help=JOBS_HELP)


def _audio_job(args: argparse.Namespace, build: Callable[[], Pipeline]) -> int:
    """reconstruct / denoise: an audio file in, one audio file out (same rate, channels and length); a folder in,
    a folder out (same relative paths, as .wav). `build` loads the model, after the output checks. Files stream
    through the pipeline a block at a time (`Pipeline.process_file`), so memory does not grow with their length."""
    from vqaudio.audio.io import READABLE_EXTENSIONS
    from vqaudio.outputs import check_output_file, refuse_existing

    if args.input.is_dir():
        files = _folder_inputs(args, READABLE_EXTENSIONS, _no_audio_files())
        pipeline = build()
        plan = {path: [(args.output / path.relative_to(args.input)).with_suffix(".wav")] for path in files}
        return _run_folder(args, plan, lambda path, outs: pipeline.process_file(path, outs[0]), ".wav files")
    _single_input(args, "audio file or folder")
    check_output_file(args.input, args.output)
    pipeline = build()
    refuse_existing([args.output], args.force)
    info = pipeline.process_file(args.input, args.output)
    print(f"wrote {args.output} ({info.duration_s:.2f} s at {info.sample_rate} Hz)")
    return 0


def _describe(data: bytes) -> str:
    from vqaudio.bitstream import read_vqa
    from vqaudio.pipelines.codec import bitrate_of

    header, _ = read_vqa(data)
    rates = bitrate_of(data, header)
    return (
        f"{len(data)} bytes, {header.duration_s:.2f} s, {header.stages_used} stage(s): "
        f"{rates['bitrate']:.0f} bit/s with header, {rates['payload_bitrate']:.0f} bit/s payload only"
    )


def _cmd_encode(args: argparse.Namespace) -> int:
    device = _model_setup(args)
    from vqaudio.audio.io import READABLE_EXTENSIONS
    from vqaudio.outputs import VQA, check_output_file, refuse_existing

    if args.input.is_dir():
        files = _folder_inputs(args, READABLE_EXTENSIONS, _no_audio_files())
        codec = _codec_for(args, device)
        plan = {path: [(args.output / path.relative_to(args.input)).with_suffix(VQA)] for path in files}

        def work(path: Path, outs: list[Path]) -> None:
            codec.encode_file(path, outs[0], bitrate=args.bitrate)  # read in blocks, written atomically

        return _run_folder(args, plan, work, ".vqa files")
    _single_input(args, "audio file or folder")
    check_output_file(args.input, args.output, VQA)
    codec = _codec_for(args, device)
    refuse_existing([args.output], args.force)
    data = codec.encode_file(args.input, args.output, bitrate=args.bitrate)  # read in blocks, written atomically
    print(f"wrote {args.output}: {_describe(data)}")
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    device = _model_setup(args)
    from vqaudio.outputs import VQA, check_output_file, refuse_existing

    if args.input.is_dir():
        files = _folder_inputs(args, (VQA,), "no .vqa files (make them with `vqaudio encode`)")
        codec = _codec_for(args, device)
        plan = {path: [(args.output / path.relative_to(args.input)).with_suffix(".wav")] for path in files}
        return _run_folder(args, plan, lambda path, outs: _decode_one(args, codec, path, outs[0]), ".wav files")
    _single_input(args, ".vqa file or folder")
    check_output_file(args.input, args.output)
    codec = _codec_for(args, device)
    refuse_existing([args.output], args.force)
    info = _decode_one(args, codec, args.input, args.output)  # written a block at a time
    print(f"wrote {args.output} ({info.duration_s:.2f} s at {info.sample_rate} Hz)")
    return 0


def _decode_one(args: argparse.Namespace, codec: Codec, path: Path, output: Path) -> AudioInfo:
    """Decode one .vqa file: --strict refuses a damaged one (as before); else its lost packets are concealed, with a
    warning naming the time ranges; --stream decodes a packet at a time (bounded latency)."""
    if args.strict and not args.stream:
        return codec.decode_to_file(path, output)
    from vqaudio.pipelines.codec_stream import decode_file_lossy

    info, report, decoder = decode_file_lossy(codec, path, output, strict=args.strict, stream=args.stream)
    if args.stream and decoder.header is not None and decoder.header.packet_frames:
        log.info("%s: decoded a packet at a time: %s", path, decoder.latency.describe())
    if report:
        log.warning("%s: %s", path, report.describe())
    return info


def _cmd_denoise(args: argparse.Namespace) -> int:
    device = _model_setup(args)

    def build() -> Pipeline:
        from vqaudio.pipelines import Denoiser

        model = args.model
        options = {"device": device, "max_attenuation_db": args.max_attenuation_db}
        denoiser = Denoiser.from_checkpoint(model, **options) if model else Denoiser.from_pretrained(**options)
        log.info("model: %s", model or Denoiser.default_model)
        return denoiser

    return _audio_job(args, build)


def _cmd_separate(args: argparse.Namespace) -> int:
    device = _model_setup(args)
    from vqaudio.audio.io import READABLE_EXTENSIONS
    from vqaudio.outputs import OutputError, drop_clashes, refuse_existing
    from vqaudio.pipelines import Separator

    folder = args.input.is_dir()
    if folder:
        files = _folder_inputs(args, READABLE_EXTENSIONS, _no_audio_files())
    else:
        _single_input(args, "audio file or folder")
        if args.output.exists() and not args.output.is_dir():
            raise OutputError(f"-o {args.output} is a file; separate writes a folder (OUTDIR/<song>/vocals.wav, ...)")
        files = [args.input]
    model = args.model
    options = {"device": device, "mask_power": args.mask_power}
    separator = Separator.from_checkpoint(model, **options) if model else Separator.from_pretrained(**options)
    log.info("model: %s", model or Separator.default_model)

    def song(path: Path) -> Path:
        return path.relative_to(args.input).with_suffix("") if folder else Path(path.stem)

    def work(path: Path, outs: list[Path]) -> None:
        separator.process_file(path, outs)  # one output per source, in separator.sources order; streamed

    plan = {path: [args.output / song(path) / f"{name}.wav" for name in separator.sources] for path in files}
    names = ", ".join(f"{n}.wav" for n in separator.sources)
    if folder:
        return _run_folder(args, plan, work, f"songs ({names} each)")
    _, clashes = drop_clashes(plan)
    if clashes:
        raise OutputError(clashes[0].line())
    refuse_existing(plan[args.input], args.force)
    work(args.input, plan[args.input])
    print(f"wrote {names} for 1 song under {args.output}")
    return 0


def _lose_packets(data: bytes, percent: float, seed: int) -> bytes:
    """The .vqa bytes with `percent` % of their packets lost at random (each one's check made to fail), seeded."""
    from vqaudio.bitstream import read_vqa
    from vqaudio.bitstream.stream import damage_packets, loss_mask

    header, _ = read_vqa(data)
    if header.packet_frames is None:
        raise ValueError("--packet-loss needs a file with packets: give --packet-frames N (N > 0)")
    lost = loss_mask(header.layout().n_packets, percent / 100.0, seed)
    log.info("simulated loss: %d of %d packets (%g %%, seed %d)", lost.sum(), lost.size, percent, seed)
    return damage_packets(data, lost)


def _cmd_codec(args: argparse.Namespace) -> int:
    if args.score:
        _require("eval", EVAL_EXTRA, "vqaudio codec --score (PESQ, STOI)")
    device = _model_setup(args)
    from vqaudio.outputs import OutputError, check_output_file, refuse_existing

    if args.input.is_dir():
        raise OutputError(f"{args.input} is a folder; codec takes one file (for a folder: vqaudio encode, then decode)")
    _single_input(args, "audio file")
    check_output_file(args.input, args.output)
    codec = _codec_for(args, device)
    refuse_existing([args.output], args.force)
    data = codec.encode_file(args.input, bitrate=args.bitrate)  # the audio in blocks; the .vqa bytes in memory
    from vqaudio.pipelines.codec_stream import decode_file_lossy, decode_lossy

    described = _describe(data)
    if args.packet_loss:
        data = _lose_packets(data, args.packet_loss, args.loss_seed)
    if not args.score:
        _, report, _ = decode_file_lossy(codec, data, args.output)  # what Codec.decode_to_file gives, intact
        if report:
            log.warning("%s: %s", args.input, report.describe())
        print(f"wrote {args.output}: {described}")
        return 0
    from vqaudio.audio.io import load, save, to_mono
    from vqaudio.metrics import pesq, stoi

    wave, sr = load(args.input, mono=False)  # scores compare whole signals: --score holds both in memory
    out, _, report = decode_lossy(codec, data, source=str(args.input))
    if report:
        log.warning("%s: %s", args.input, report.describe())
    save(args.output, out, sr)
    print(f"wrote {args.output}: {described}")
    ref = to_mono(wave) if wave.ndim == 2 else wave
    deg = to_mono(out) if out.ndim == 2 else out
    print(f"PESQ-NB {pesq(ref, deg, sr, mode='nb'):.3f}  STOI {stoi(ref, deg, sr):.3f}")
    return 0


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="only warnings and errors on stderr, no progress bars (results still go to stdout)",
    )
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="also debug messages")


def _add_model_options(parser: argparse.ArgumentParser, force: str = FORCE_HELP) -> None:
    """--device, --threads and --force: every command that runs a model writes something."""
    parser.add_argument("--device", default="cpu", help=DEVICE_HELP)
    parser.add_argument("--threads", type=_threads, default=1, metavar="N", help=THREADS_HELP)
    parser.add_argument("--force", action="store_true", help=force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqaudio",
        description="Discrete (VQ-VAE) and continuous (VAE) latent models of audio: train, reconstruct, evaluate, "
        "and compress speech to .vqa bitstreams. `vqaudio COMMAND --help` explains each command.",
        epilog="Inference needs only `pip install vqaudio`; training needs 'vqaudio[train]', "
        "PESQ/STOI scores 'vqaudio[eval]'.",
    )
    parser.add_argument("--version", action="version", version=f"vqaudio {__version__}")
    _add_verbosity(parser, False)
    # the same flags after the command name; SUPPRESS keeps an unset one from overwriting the global value
    common = argparse.ArgumentParser(add_help=False)
    _add_verbosity(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, parents=[common], formatter_class=raw)

    p = command(
        "train",
        "train a model from a YAML recipe (progress bar, checkpoints, logs)",
        "Train a recipe (needs pip install 'vqaudio[train]'). Best weights go to OUT/NAME/best.safetensors;\n"
        "logs to OUT/NAME/logs (CSV) and OUT/NAME/tensorboard.\n\n"
        "example: vqaudio train recipes/reconstruct-vqvae-8k.yaml --data ../shared/data/speech",
    )
    p.add_argument("recipe", type=Path, help="recipe YAML, e.g. recipes/reconstruct-vqvae-8k.yaml")
    p.add_argument("--data", help="folder of speech (e.g. ../shared/data/speech); overrides data.root")
    p.add_argument("--noise", help="folder of noise recordings for denoise recipes (e.g. ../shared/data/noise)")
    p.add_argument("--out", help="output folder for runs (default: the recipe's out_dir, 'runs')")
    p.add_argument("--resume", action="store_true", help="continue from OUT/NAME/last.ckpt")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="WEIGHTS",
        help="start a new run from trained weights (.safetensors of the same model type); the recipe may add "
        "modules (e.g. model.recurrent_stages), which start as the identity; overrides the recipe's init_from",
    )
    p.add_argument(
        "--force", action="store_true", help="start afresh even if OUT/NAME already holds best weights (replaces them)"
    )
    p.add_argument("--max-epochs", type=int, help="stop after this many epochs")
    p.add_argument("--max-minutes", type=float, help="wall-clock budget; the best weights so far are kept")
    p.add_argument("--accelerator", help="cpu, gpu or auto (Lightning)")
    p.add_argument("--devices", help="number of devices per node, e.g. 2 for 2-GPU DDP")
    p.add_argument("--num-nodes", type=int, help="number of machines (DDP)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set optim.lr=1e-3 (repeatable)",
    )
    p.set_defaults(func=_cmd_train)

    p = command(
        "reconstruct",
        "pass a file (or a folder of files) through a model and write the reconstruction",
        "Encode and decode an audio file through a model (VQ-VAE or VAE). Any sample rate and channel count\n"
        "in; the output has the input's rate, channels and length. A folder in gives a folder out: every audio\n"
        "file under it, recursively, to the same relative path as .wav; files that fail are listed at the end.\n"
        f"{AUDIO_OUT_NOTE}\n\n"
        "example: vqaudio reconstruct src/vqaudio/assets/pretrained/reconstruct-vqvae-8k.safetensors in.wav "
        "-o out.wav",
    )
    p.add_argument("checkpoint", type=Path, help="model weights (.safetensors)")
    p.add_argument("input", type=Path, help="audio file (wav/flac/ogg/mp3/..., any rate and channel count) or a folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file, same rate as input (or folder)")
    p.add_argument("--griffin-lim-iters", type=int, default=64, help="phase reconstruction iterations (default 64)")
    _add_model_options(p)
    _add_jobs(p)
    p.set_defaults(func=_cmd_reconstruct)

    p = command(
        "evaluate",
        "PESQ-NB, STOI and LSD of a model over a folder of speech",
        "Joins short clips of one speaker into ~4 s utterances, reconstructs them and prints a table of mean\n"
        "PESQ-NB, STOI, log-spectral distance and speed (needs pip install 'vqaudio[eval]'). A checkpoint in a\n"
        "training run's folder also gets that run's report.html rewritten (see `vqaudio report`).\n\n"
        "example: vqaudio evaluate runs/reconstruct-vqvae-8k/best.safetensors --data ../shared/data/speech",
    )
    p.add_argument("checkpoint", type=Path, help="model weights (.safetensors)")
    p.add_argument("--data", required=True, help="folder of speech files")
    p.add_argument(
        "--split",
        default="val",
        choices=["train", "val", "all"],
        help="which split of a known layout to score (generic folders: 'all'; default val)",
    )
    p.add_argument("--max-utterances", type=int, default=None, help="score at most this many utterances")
    p.add_argument("--griffin-lim-iters", type=int, default=64, help="phase reconstruction iterations (default 64)")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    _add_model_options(p, force="overwrite the --json file if it exists")
    p.set_defaults(func=_cmd_evaluate)

    p = command(
        "info",
        "model type, config, sample rate, parameters and training data",
        "Print what a checkpoint holds as JSON: model type, config, sample rate, parameter count, latent rate\n"
        "and the training metadata stored with the weights.\n\n"
        "example: vqaudio info src/vqaudio/assets/pretrained/codec-8k.safetensors",
    )
    p.add_argument("checkpoint", type=Path, help="model weights (.safetensors)")
    p.set_defaults(func=_cmd_info)

    p = command(
        "report",
        "HTML pages with pictures: a training run, two runs compared, or a benchmark's JSON",
        "Write an HTML page with its pictures (PNGs beside it, linked by relative path: it opens from disk, no\n"
        "server; pages and pictures are rewritten on each run; needs pip install 'vqaudio[eval]'). Three kinds:\n\n"
        "  RUN_DIR                a run folder made by `vqaudio train`: RUN_DIR/report.html, pictures in\n"
        "                         RUN_DIR/report/: name, model type, task, recipe and best weights' metadata, loss\n"
        "                         per term, learning rate and, for VQ models, codebook usage and perplexity;\n"
        "                         the model on the recipe's validation data: its latent space (PCA histograms,\n"
        "                         codebook on top, one panel per VQ stage), --examples spectrograms with clips\n"
        "                         to play (input, output, reference) and, for the envelope codec, its rate-K\n"
        "                         vectors frame by frame (a note says why where the data folders are not there).\n"
        "  --compare RUN_A RUN_B  two run folders side by side: final and best validation figures in one table,\n"
        "                         both loss curves on the same axes, the recipe and model config settings that\n"
        "                         differ. Written to ./compare-A-vs-B/index.html.\n"
        "  BENCHMARK.json         a benchmark's JSON (benchmarks/*.py --json): its rows as a table and, by the\n"
        "                         benchmark's name, plots: codec (PESQ-NB and STOI against bit/s, Codec 2 and Opus\n"
        "                         on the same axes), denoise (PESQ, STOI, SI-SDR against input SNR, every\n"
        "                         baseline), separate (NSDR per clip as boxes, the oracle and published GNSDR\n"
        "                         as markers), quantize (speed and memory against codebook size); any other:\n"
        "                         the table alone. Written to <stem>-report/index.html beside the JSON.\n\n"
        "-o/--out FOLDER puts the page and its pictures in FOLDER instead (for a run: FOLDER/report.html).\n\n"
        "examples: vqaudio report runs/reconstruct-vqvae-8k\n"
        "          vqaudio report --compare runs/denoise-16k runs/denoise-16k-long\n"
        "          vqaudio report benchmarks/results/codec.json -o /tmp/codec-page",
    )
    p.add_argument(
        "target",
        type=Path,
        nargs="?",
        metavar="RUN_DIR|BENCHMARK.json",
        help="run folder made by vqaudio train (holds logs/), or a benchmark's JSON report",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("RUN_A", "RUN_B"),
        help="compare two run folders on one page (instead of RUN_DIR)",
    )
    p.add_argument(
        "-o", "--out", type=Path, metavar="FOLDER", help="folder for the page and its pictures (default: see above)"
    )
    p.add_argument(
        "--examples", type=int, default=3, metavar="N", help="validation examples to play on a run's page (default 3)"
    )
    p.set_defaults(func=_cmd_report)

    p = command(
        "encode",
        "compress speech to a .vqa bitstream (a file, or a folder of files)",
        "Compress audio to .vqa files with the shipped codec-8k (or --model). A folder in gives a folder out:\n"
        "every audio file under it, recursively, to the same relative path with a .vqa suffix; files that fail\n"
        "are listed at the end (exit status 1). Files are written through a temporary file renamed when complete;\n"
        "existing outputs are kept unless --force is given. Audio is read a block at a time (twice, for a model\n"
        "that scales its input to one level: once to measure it), so memory does not grow with its length.\n\n"
        "examples: vqaudio encode in.wav -o talk.vqa --bitrate 1200\n"
        "          vqaudio encode recordings/ -o coded/",
    )
    p.add_argument("input", type=Path, help="audio file (any rate/channels) or a folder of audio files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .vqa file (or folder)")
    p.add_argument("--bitrate", type=float, help="target bit/s: the largest rung at or below it (default: top)")
    p.add_argument("--model", type=Path, help="codec weights (default: shipped codec-8k, else reconstruct-vqvae-8k)")
    p.add_argument("--packet-frames", type=_packet_frames, metavar="N", help=PACKET_HELP)
    _add_model_options(p)
    _add_jobs(p)
    p.set_defaults(func=_cmd_encode)

    p = command(
        "decode",
        "decode a .vqa bitstream (or a folder of them) back to audio",
        "Decode .vqa files to audio at the rate, channel count and length of the original. A folder in gives a\n"
        "folder out: every .vqa file under it, recursively, to the same relative path with a .wav suffix; files\n"
        "that fail are listed at the end (exit status 1). Files must be decoded with the weights they were encoded\n"
        "with (checked by hash). A version-4 file (packets) that is damaged or cut short is still decoded: its lost\n"
        "packets are concealed and a warning names the time ranges (--strict refuses it instead).\n"
        f"{AUDIO_OUT_NOTE}\n\n"
        "examples: vqaudio decode talk.vqa -o out.wav\n"
        "          vqaudio decode coded/ -o decoded/",
    )
    p.add_argument("input", type=Path, help=".vqa file, or a folder of .vqa files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file (or folder)")
    p.add_argument("--model", type=Path, help="the weights the file was encoded with (default: as encode)")
    p.add_argument("--postfilter", type=float, help=POSTFILTER_HELP)
    _add_phase_options(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a damaged or truncated file (exit 2) instead of concealing its lost packets",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="decode a packet at a time, as a live stream would be (bounded latency: logged; the output differs "
        "slightly: Griffin-Lim runs on shorter chunks)",
    )
    _add_model_options(p)
    _add_jobs(p)
    p.set_defaults(func=_cmd_decode)

    p = command(
        "codec",
        "round trip: encode and decode a file, print the real bitrate",
        "Encode a file to a .vqa bitstream in memory, decode it and write the audio; prints the real bitrate\n"
        "(with and without the header) and, with --score, PESQ-NB and STOI (needs 'vqaudio[eval]').\n"
        f"{AUDIO_OUT_NOTE}\n\n"
        "example: vqaudio codec in.wav -o out.wav --bitrate 2400 --score",
    )
    p.add_argument("input", type=Path, help="audio file (any rate/channels)")
    p.add_argument("-o", "--output", type=Path, required=True, help="decoded audio file")
    p.add_argument("--bitrate", type=float, help="target bit/s (default: top rung)")
    p.add_argument("--model", type=Path, help="codec weights (default: as encode)")
    p.add_argument("--packet-frames", type=_packet_frames, metavar="N", help=PACKET_HELP)
    p.add_argument(
        "--packet-loss",
        type=_percent,
        default=0.0,
        metavar="PCT",
        help="lose this percentage of the packets at random before decoding (concealed; to hear and score it)",
    )
    p.add_argument("--loss-seed", type=int, default=0, metavar="N", help="seed of --packet-loss's draw (default 0)")
    p.add_argument(
        "--score",
        action="store_true",
        help="also print PESQ-NB and STOI against the input (holds both signals in memory: for clips, not hours)",
    )
    p.add_argument("--postfilter", type=float, help=POSTFILTER_HELP)
    _add_phase_options(p)
    _add_model_options(p)
    p.set_defaults(func=_cmd_codec)

    p = command(
        "denoise",
        "remove noise from speech (a file, or a folder of files)",
        "Denoise speech with the shipped denoise-16k (or --model): any rate, channel count and length; the output\n"
        "has the input's rate, channels and length, aligned sample for sample. A folder in gives a folder out: every\n"
        "audio file under it, recursively, to the same relative path as .wav; files that fail are listed at the end.\n"
        f"{AUDIO_OUT_NOTE}\n\n"
        "examples: vqaudio denoise noisy.wav -o clean.wav\n"
        "          vqaudio denoise recordings/ -o denoised/ --device cuda",
    )
    p.add_argument("input", type=Path, help="audio file (any rate/channels) or a folder of audio files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file (or folder)")
    p.add_argument("--model", type=Path, help="denoiser weights (default: shipped denoise-16k)")
    p.add_argument(
        "--max-attenuation-db",
        type=_positive_float,
        metavar="DB",
        help="turn no part of the sound down by more than DB (default: the model's own range, 40 dB for the shipped "
        "model): e.g. 20 leaves a quiet, natural floor of the noise instead of removing all it can",
    )
    _add_model_options(p)
    _add_jobs(p)
    p.set_defaults(func=_cmd_denoise)

    p = command(
        "separate",
        "split a song into vocals and accompaniment (a file, or a folder of songs)",
        "Separate songs with the shipped separate-16k (or --model): any rate, channel count and length (stereo in,\n"
        "stereo out). Writes OUTDIR/<song>/vocals.wav and OUTDIR/<song>/accompaniment.wav at the input's rate,\n"
        "channels and length; the two add back up to the song. A folder in: every audio file under it, recursively,\n"
        "to OUTDIR/<relative path>/; songs that fail are listed at the end.\n"
        f"{AUDIO_OUT_NOTE}\n\n"
        "examples: vqaudio separate song.wav -o separated/\n"
        "          vqaudio separate album/ -o separated/",
    )
    p.add_argument("input", type=Path, help="audio file (any rate/channels) or a folder of audio files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--model", type=Path, help="separator weights (default: shipped separate-16k)")
    p.add_argument(
        "--mask-power",
        type=_positive_float,
        default=DEFAULT_MASK_POWER,
        metavar="P",
        help=f"raise each bin's masks to P and renormalise (Wiener-style; 1 = the model's own masks; default "
        f"{DEFAULT_MASK_POWER:g}): above 1 less of the other source leaks in, at the cost of more artefacts",
    )
    _add_model_options(p, force="overwrite OUTDIR/<song>/vocals.wav, ... if they exist")
    _add_jobs(p)
    p.set_defaults(func=_cmd_separate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
    except (OSError, ValueError) as err:  # AudioError, OutputError, config and device errors are ValueErrors
        from vqaudio.outputs import os_reason

        log.debug("%s", err, exc_info=True)  # -v shows where it came from
        message = os_reason(err) if isinstance(err, OSError) else str(err)
        print(f"vqaudio {args.command}: error: {message}", file=sys.stderr)
        return 2
    except ImportError as err:
        if "pip install 'vqaudio[" not in str(err):
            raise
        print(f"vqaudio {args.command}: error: {err}", file=sys.stderr)  # a missing extra
        return 2
    finally:
        _restore_threads(args)


if __name__ == "__main__":
    sys.exit(main())
