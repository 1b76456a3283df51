"""Lightning's training state (last.ckpt), written atomically and read back without running pickled code.

last.ckpt is Lightning's own file (optimizer, schedule, loop counters, callback states), written by this run into
its run folder for `--resume` and never shipped; weights users load are safetensors (`vqaudio.models.io`). Still,
it is read with `torch.load(weights_only=True)`: tensors and plain containers only, so a file swapped into a run
folder cannot run code.

Lightning's own writer saves through fsspec: a temporary file in the system temp folder, then `shutil.move`, which
is a copy into place (not atomic) where that folder is on another file system, and nothing is fsynced. Here the
temporary file sits beside the target, is fsynced, then `os.replace`d over it: a crash or SIGKILL at any moment
leaves the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins import TorchCheckpointIO

__all__ = ["AtomicCheckpointIO", "sync_to_disk", "write_atomic"]


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a fsynced temporary file in the same folder, renamed over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only; give it a plain new file's permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_folder(path.parent)
    return path


def sync_to_disk(path: str | Path) -> None:
    """fsync a file written elsewhere (save_model's temporary-and-rename) and its folder: durable past a power cut."""
    path = Path(path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    _fsync_folder(path.parent)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: atomic, fsynced local writes; loads with `weights_only=True` unless told otherwise."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(path, buffer.getvalue())

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only is not False)
