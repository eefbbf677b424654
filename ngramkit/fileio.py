"""Atomic file writing, and the checks that run before any expensive work.

Input: a destination path. Output: a temporary file in the same directory
that is renamed over the destination only when writing succeeded, so an
interrupted or failed run never leaves a truncated file behind.

``check_writable`` / ``check_output_path`` / ``prepare_out_dir`` validate a
destination file (its extension, when only some are allowed) or an output
directory up front, so a bad path fails with one line now rather than after
minutes of training.

Interruption: the temporary file is removed when any exception, including
``KeyboardInterrupt``, leaves the block. SIGTERM's default action kills the
process without unwinding, so a program that writes files runs inside
:func:`unwind_on_signals`, which turns SIGINT and SIGTERM into
:class:`~ngramkit.errors.Interrupted` (a ``KeyboardInterrupt``) and ignores
repeated signals while the stack unwinds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import threading
from pathlib import Path

from .errors import Interrupted, NgramkitError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")  # figure formats, chosen by the file extension


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``path`` cannot be created."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise NgramkitError(f"{path}: is a directory, expected a file path")
    if path.exists() and not path.is_file():
        # Renaming over a device node or FIFO would replace it, not write into it.
        raise NgramkitError(f"{path}: exists and is not a regular file; choose a file path")
    if not parent.is_dir():
        raise NgramkitError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise NgramkitError(f"{path}: directory {parent} is not writable")
    return path


def check_output_path(path: str | os.PathLike, what: str = "", suffixes=None, *, kind: str = "file") -> Path:
    """:func:`check_writable`, plus a known extension when ``suffixes`` is given. Returns the path.

    ``what`` (an option name such as ``--plot``) starts the error message;
    ``kind`` names the format in it: ``--plot r.jpg: unknown figure format
    ('.jpg'); use one of .png, .svg, .pdf``.
    """
    path = Path(path)
    prefix = f"{what} " if what else ""
    if suffixes and path.suffix.lower() not in suffixes:
        got = f"'{path.suffix}'" if path.suffix else "no extension"
        raise NgramkitError(f"{prefix}{path}: unknown {kind} format ({got}); use one of {', '.join(suffixes)}")
    try:
        return check_writable(path)
    except NgramkitError as exc:
        raise NgramkitError(f"{prefix}{exc}") from None


def prepare_out_dir(directory: str | os.PathLike, what: str = "--out") -> Path:
    """Create ``directory`` (and parents) if needed; fail with one line if it cannot be written."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NgramkitError(f"{what} {directory}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NgramkitError(f"{what} {directory}: cannot create directory ({exc.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise NgramkitError(f"{what} {directory}: directory is not writable")
    return directory


def check_dir_creatable(directory, what: str) -> Path | None:
    """Fail now, with one line, if ``directory`` could not be created or written; create nothing.

    ``what`` names it in the message (the option, e.g. ``--out``). Returns the
    outermost folder that does not exist yet (what a failed run may remove
    again), None when ``directory`` exists.
    """
    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise NgramkitError(f"{what} {directory}: exists and is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise NgramkitError(f"{what} {directory}: directory is not writable")
        return None
    missing = directory.absolute()
    ancestor = missing.parent
    while not ancestor.exists():
        missing, ancestor = ancestor, ancestor.parent
    if not ancestor.is_dir():
        raise NgramkitError(f"{what} {directory}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise NgramkitError(f"{what} {directory}: cannot create it, directory {ancestor} is not writable")
    return missing


# Write errors that mean "no room or no device": reported under the destination's name.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    On any exception (``KeyboardInterrupt`` included) the temporary file is
    removed and the destination is left untouched. The name is chosen before
    the file is created, and created inside the ``try``, so an exception
    raised between the creation and the cleanup's registration cannot leave
    it behind.
    """
    path = check_writable(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            # O_EXCL: never touch an existing file; mode 0666 & ~umask, as a plain open() would create.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
        except FileExistsError:
            continue  # another file has this name: not ours to remove
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # the open may have created it just before the exception
            raise
        break
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if exc.errno in _DISK_FULL and exc.filename != os.fspath(path):
            # The block was writing this file: the error names it, not the hidden temporary one, so the
            # callers' handlers (and the CLI's) report the file the user asked for.
            raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs):
    """Open a temporary file for writing; it replaces ``path`` when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh


@contextlib.contextmanager
def unwind_on_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, SIGINT and SIGTERM raise :class:`~ngramkit.errors.Interrupted` (once).

    The first signal raises; later ones are ignored so that the unwinding
    (temporary files being removed, the one-line message) is not cut short.
    The previous handlers come back when the block ends without a signal;
    after one, the signals stay ignored (the program is on its way out).
    Outside the main thread, where handlers cannot be set, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum, frame):
        nonlocal fired
        if fired:
            return
        fired = True
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        if fired:
            for sig in signals:
                signal.signal(sig, signal.SIG_IGN)
        else:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
