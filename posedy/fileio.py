"""The one atomic file writer: every file posedy writes whole or not at all goes through here.

``atomic_output(path)`` hands out a temporary file with a unique name in ``path``'s own folder
(so the rename never crosses a file system); when the ``with`` block ends normally the file
is fsynced, renamed over ``path`` with ``os.replace`` and the folder is fsynced, so the new
file survives a power loss once the call returns. On any error (including Ctrl-C) the
temporary file is removed and ``path`` is left as it was. A process killed outright can
leave a temporary named ``.<name>.<pid>.<random>.tmp`` behind, never a torn ``path``.

Sits at the bottom of the package (standard library only), below data, engine, evaluation,
deploy and reports, which all write through it.
"""

import contextlib
import os
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional


def temporary_name(path: Path) -> Path:
    """A fresh temporary path beside ``path``: ``.<name>.<pid>.<8 hex>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_output(path, *, before_replace: Optional[Callable[[Path], None]] = None) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; see the module doc.

    The temporary file exists (empty) when yielded, created exclusively with the mode an
    ordinary ``open(path, "w")`` gives (``mkstemp``'s 0600 would survive the rename); writers
    may open it again by name or replace its content.

    Args:
        path: destination; its folder must exist.
        before_replace: called with the fully written, fsynced temporary file just before it
            replaces ``path`` (a hook point for fault-injection tests).
    Raises:
        OSError: the folder is missing or not writable, the disk is full, ...; ``path`` is
            untouched and the temporary file is gone.
    """
    path = Path(path)
    tmp = temporary_name(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync_path(tmp)
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (``atomic_output``)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably (``atomic_output``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder) -> None:
    """fsync ``folder`` so that a rename into it is durable; a no-op where a folder cannot be
    opened (not every platform allows it)."""
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
