"""One training per work dir: an advisory lock, and the rule for a fresh run into a used folder.

The lock is ``fcntl.flock`` on ``WORK_DIR/.posedy-train.lock``: the kernel drops it when the
process ends, however it ends, so a crashed or killed run never leaves a work dir locked.
While it is held, nothing else trains there, so the clean-up of a killed save's temporary
files (``remove_stale_temporaries``) can never delete a live run's file.

A fresh run (no ``--resume``) into a work dir that already holds ``last.pth`` or
``best.pth`` is refused, naming the ways on: ``--resume`` to continue it, another
``--work-dir``, or ``--overwrite`` to start again there (the old checkpoints are then
removed before training starts, so none of the old run's files is mistaken for the new one's).

Every tool that writes into a folder first proves it writable (``ensure_writable_dir``,
``check_work_dir``), before it spends time on a model.
A run that fails on a bad input before any work removes the folders it created for the work
dir, as long as they hold nothing but its own lock and an empty log (``remove_if_unused``).
"""

import contextlib
import os
import tempfile
from pathlib import Path

from posedy.errors import os_error_reason

try:
    import fcntl
except ImportError:  # not POSIX: no lock, the rest still applies
    fcntl = None

LOCK_NAME = ".posedy-train.lock"
CHECKPOINT_NAMES = ("last.pth", "best.pth")


class WorkDirError(ValueError):
    """The work dir cannot be used as asked; the one-line message names it and the ways on."""


@contextlib.contextmanager
def work_dir_lock(work_dir, enabled: bool = True):
    """Hold the work dir's training lock for the ``with`` block.

    Raises:
        WorkDirError: another live process holds it (its pid is named when known).
    """
    if not enabled or fcntl is None:
        yield
        return
    path = Path(work_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise WorkDirError(f"{work_dir}: another training{f' (pid {holder})' if holder else ''} is running "
                               f"in this work dir; wait for it to end or use another --work-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def ensure_writable_dir(path) -> Path:
    """Create the folder ``path`` (and its parents) and prove it writable with a temporary file
    that leaves no name behind.

    Raises:
        OSError: the system's, unchanged (the caller words the message).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
        pass
    return path


def check_work_dir(work_dir) -> Path:
    """``ensure_writable_dir`` with the error every tool prints for a work dir.

    Raises:
        OSError: ``<work_dir>: work dir is not writable (<reason>)``.
    """
    try:
        return ensure_writable_dir(work_dir)
    except OSError as exc:
        raise OSError(f"{work_dir}: work dir is not writable ({os_error_reason(exc)})") from None


def existing_checkpoints(work_dir) -> list:
    """The checkpoints of an earlier run in ``work_dir`` (``last.pth``, ``best.pth``), as paths."""
    return [Path(work_dir) / name for name in CHECKPOINT_NAMES if (Path(work_dir) / name).exists()]


def check_fresh_start(work_dir, *, overwrite: bool) -> list:
    """Apply the fresh-run rule (see the module doc); call with the lock held.

    Returns:
        The checkpoints the caller is to remove once every input has been checked
        (``overwrite``), else [].
    Raises:
        WorkDirError: the work dir holds checkpoints and ``overwrite`` is False.
    """
    found = existing_checkpoints(work_dir)
    if not found:
        return []
    if not overwrite:
        names = " and ".join(p.name for p in found)
        raise WorkDirError(f"{work_dir}: already holds {names} of an earlier training; continue it with "
                           f"--resume, train into another --work-dir, or start again there with --overwrite")
    return found


# What a run leaves in its work dir before it has done any work: the lock, and the metrics log
# opened (still empty) when the trainer is built.
_UNUSED_IF_EMPTY = (LOCK_NAME, "metrics.jsonl")


def missing_folders(work_dir) -> list:
    """The folders ``work_dir.mkdir(parents=True)`` would create, deepest first."""
    missing = []
    folder = Path(work_dir).absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_if_unused(folders) -> None:
    """Remove ``folders`` (deepest first, as ``missing_folders`` lists them) that hold nothing but
    an empty lock file and an empty metrics log; stop at the first one that holds more."""
    for folder in folders:
        for name in _UNUSED_IF_EMPTY:
            path = folder / name
            try:
                if path.is_file() and path.stat().st_size == 0:
                    path.unlink()
            except OSError:
                pass
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): it is kept
            return
