"""Write a file whole or not at all: into a temporary file beside it, then `os.replace` onto the final name.

A run killed (or failing) mid-write leaves the final name as it was: absent, or the previous complete file.
The temporary file is hidden and ends in `.tmp` (`.NAME.1a2b3c4d.tmp`), so folder listings of audio or .vqa
files never pick one up; it is removed on any exception, and only a hard kill (SIGKILL, power loss) can leave
one behind. Files are created with the usual permissions (0o666 less the umask), as `open(path, "w")` would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output", "write_bytes_atomic"]

_MAX_STEM = 200  # keeps ".NAME.xxxxxxxx.tmp" under the usual 255-byte file-name limit


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder to write to; on success it replaces `path`, on error it is removed.

    Parent folders are created. The caller writes the whole file to the yielded path (and closes it) inside
    the `with` block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _reserve(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """`Path(path).write_bytes(data)`, atomically (see `atomic_output`); returns the path written."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


def _reserve(path: Path) -> Path:
    """Create an empty, uniquely named hidden file beside `path` (O_EXCL: never an existing one) and return it."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name[:_MAX_STEM]}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as err:  # name the file the user asked for, not the temporary one
            raise type(err)(err.errno, err.strerror, str(path)) from err
        os.close(fd)
        return tmp
    raise FileExistsError(f"{path.parent}: could not create a temporary file for {path.name}")
