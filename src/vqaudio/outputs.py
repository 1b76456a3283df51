"""Where the `vqaudio` commands write, and folder jobs that run to the end.

The rules every writing command follows, in one place:

- the input is never overwritten: an output that is the input file (or, for a folder job, an output folder
  that is the input folder or inside it) is refused, with or without --force;
- an output file that already exists is refused unless --force is given, before any audio is processed;
- an output file name must say what is written in it (.vqa for bitstreams, an audio extension `save` knows);
- a folder job processes every file it can, collects the ones that failed with the reason, and reports them
  at the end (the command then exits 1), in one process or, with --jobs N, in N worker processes.

Audio and .vqa files themselves are written atomically (`vqaudio.audio.atomic`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vqaudio.audio.io import check_writable

__all__ = [
    "Failure",
    "OutputError",
    "check_output_file",
    "check_output_folder",
    "drop_clashes",
    "os_reason",
    "refuse_existing",
    "run_each",
    "run_each_in_processes",
]

log = logging.getLogger(__name__)

VQA = ".vqa"


class OutputError(ValueError):
    """An output path a command must not (or cannot) write; the message names it and says what to do."""


@dataclass(frozen=True)
class Failure:
    """One input of a folder job that produced no output, and why."""

    path: Path
    reason: str

    def line(self) -> str:
        """`PATH: reason`, naming the path once even when the reason already starts with it."""
        return self.reason if str(self.path) in self.reason else f"{self.path}: {self.reason}"


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)  # hard links, bind mounts
    except OSError:
        return False


def check_output_file(source: Path, output: Path, kind: str = "audio") -> None:
    """Refuse -o `output` for the single input `source` before any work.

    `kind` is "audio" (the extension must be one `save` writes) or ".vqa". Existence is checked separately
    (`refuse_existing`) so that cheaper argument errors come first.
    """
    if _same_file(source, output):
        raise OutputError(
            f"-o {output} is the input file itself; choose another output name (the input is never overwritten, "
            "not even with --force)"
        )
    suffix = VQA if kind == VQA else ".wav"
    if output.is_dir():
        example = output / f"{source.stem}{suffix}"
        raise OutputError(f"-o {output} is a folder; give the output file's name, e.g. -o {example}")
    if kind == VQA:
        if output.suffix.lower() != VQA:
            raise OutputError(
                f"-o {output}: encode writes a .vqa bitstream, so the output name must end in .vqa "
                f"(e.g. -o {output.with_suffix(VQA)}); to get audio back, use `vqaudio codec` or decode the .vqa"
            )
    else:
        check_writable(output)


def check_output_folder(source: Path, output: Path) -> None:
    """Refuse -o `output` for the input folder `source`: a file, the input folder itself, or a folder inside it."""
    if output.exists() and not output.is_dir():
        raise OutputError(f"{source} is a folder, so -o must be a folder too; {output} is a file")
    src, out = source.resolve(), output.resolve()
    if out == src or src in out.parents:
        where = "the input folder" if out == src else f"inside the input folder {source}"
        raise OutputError(
            f"-o {output} is {where}; choose an output folder outside it (outputs never go among the inputs)"
        )


def refuse_existing(outputs: Iterable[Path], force: bool) -> None:
    """Refuse to replace existing output files unless `force`; a folder where a file would go is refused always."""
    outputs = list(outputs)
    folders = [p for p in outputs if p.is_dir()]
    if folders:
        raise OutputError(f"{folders[0]} is a folder where an output file would go; move it or choose another -o")
    if force:
        return
    existing = [p for p in outputs if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more of the outputs)" if len(existing) > 1 else ""
        raise OutputError(f"{existing[0]} already exists{more}; pass --force to overwrite, or choose another -o")


def drop_clashes(plan: Mapping[Path, Sequence[Path]]) -> tuple[dict[Path, list[Path]], list[Failure]]:
    """Split a folder job's plan (input -> its output files) into the inputs that can run and the ones that cannot.

    An input cannot run when one of its outputs is an input file (an output folder holding the input folder)
    or an output of an earlier input (`a.wav` and `a.flac` both to `a.vqa`): it becomes a Failure instead.
    """
    inputs = {path.resolve(): path for path in plan}
    taken: dict[Path, Path] = {}
    ok: dict[Path, list[Path]] = {}
    failures: list[Failure] = []
    for path, outs in plan.items():
        reason = None
        for out in outs:
            key = out.resolve()
            if key in inputs:
                reason = f"its output {out} would overwrite the input file {inputs[key]}; choose another -o"
            elif key in taken:
                reason = f"its output {out} is also the output of {taken[key]}; rename one of the two"
            if reason:
                break
        if reason:
            failures.append(Failure(path, reason))
            continue
        taken.update((out.resolve(), path) for out in outs)
        ok[path] = list(outs)
    return ok, failures


def run_each(
    paths: Sequence[Path], work: Callable[[Path], object], desc: str, disable: bool | None = None
) -> list[Failure]:
    """Call `work(path)` for every path (with a tqdm bar), going on past failures; returns the failures.

    Any Exception of one file is that file's failure (KeyboardInterrupt still stops the job); the traceback
    of an unexpected one (not a ValueError or OSError) is logged at debug level (`vqaudio -v`).
    """
    from tqdm import tqdm

    failures = [_attempt(work, path) for path in tqdm(paths, desc=desc, unit="file", disable=disable)]
    return [f for f in failures if f is not None]


def _attempt(work: Callable[[Path], object], path: Path) -> Failure | None:
    """`work(path)`, its exception (any but KeyboardInterrupt and the like) turned into the file's Failure."""
    try:
        work(path)
    except (ValueError, OSError) as err:
        return Failure(path, os_reason(err) if isinstance(err, OSError) else str(err))
    except Exception as err:  # a model or library error on one file must not cost the others
        log.debug("%s: %s", path, err, exc_info=True)
        return Failure(path, f"{type(err).__name__}: {err}")
    return None


def run_each_in_processes(
    paths: Sequence[Path],
    work: Callable[[Path], object],
    desc: str,
    jobs: int,
    initializer: Callable[..., object],
    initargs: tuple[object, ...] = (),
    disable: bool | None = None,
) -> list[Failure]:
    """`run_each` over `jobs` worker processes: the same failures, with the files done in any order.

    Each worker is a fresh interpreter (spawned: safe with torch's threads and CUDA) that runs
    `initializer(*initargs)` once, to load its model, then takes files. `work` and the initializer must be
    module-level functions and `initargs` picklable. A worker that dies (killed, out of memory, a crash in native
    code) fails the files it had not finished, with that reason, and the pool cannot take more: those left fail too.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm import tqdm

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=initializer, initargs=initargs)
    failures: list[Failure] = []
    try:
        futures = {pool.submit(_attempt, work, path): path for path in paths}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="file", disable=disable):
            path = futures[future]
            try:
                failure = future.result()
            except BrokenProcessPool:
                failure = Failure(path, "its worker process died (--jobs); run it alone, or with --jobs 1, to see why")
            except Exception as err:  # the work's result or exception could not come back from the worker
                failure = Failure(path, f"{type(err).__name__}: {err}")
            if failure is not None:
                failures.append(failure)
    except BaseException:  # Ctrl-C: stop the workers, leave what they did not finish
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return failures


def os_reason(err: OSError) -> str:
    """An OSError as one line: `FILE: Permission denied` rather than `[Errno 13] Permission denied: 'FILE'`."""
    if err.strerror and err.filename is not None:
        target = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"{err.filename}{target}: {err.strerror}"
    return err.strerror or str(err) or type(err).__name__
