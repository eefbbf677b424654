"""Memory budgets and temporary space for out-of-core work (``--memory`` / ``--temp``, like lmplz -S / -T).

Input: a memory budget as given by a user (bytes, or a string ``"4G"``,
``"512M"``, ``"40%"`` of physical RAM) and a folder for temporary files.
Output: a budget in bytes (:func:`parse_memory`, :func:`default_memory`) and
a :class:`TempSpace`: a private folder created under the temp folder for one
run, removed with everything in it when the run ends, however it ends
(success, an exception, Ctrl-C; SIGTERM too when the caller runs inside
:func:`ngramkit.fileio.unwind_on_signals`, as the CLI does). It tracks the
bytes its files hold (the peak is reported as the temp disk used) and turns a
full disk into a one-line :class:`~ngramkit.errors.InputError` naming the
folder and the space needed.

>>> parse_memory("512M"), parse_memory("1.5K"), parse_memory(4096)
(536870912, 1536, 4096)
>>> parse_memory("12X")
Traceback (most recent call last):
...
ngramkit.errors.ParameterError: memory must be a size such as 4G, 512M, 100K, 1000 (bytes) or 40%, got '12X'
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from ..errors import InputError, NgramkitError, ParameterError

DEFAULT_SHARE = 0.40  # the default budget: this share of physical RAM

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)
_SHARE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")
_FORMS = "a size such as 4G, 512M, 100K, 1000 (bytes) or 40%"

# Errors that mean "no room on the temp disk".
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def physical_memory() -> int:
    """Bytes of physical RAM (``os.sysconf``), or 4 GiB where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 4 << 30


def default_memory() -> int:
    """The default budget: :data:`DEFAULT_SHARE` (40%) of physical RAM, in bytes."""
    return int(physical_memory() * DEFAULT_SHARE)


def parse_memory(value, param: str = "memory") -> int:
    """A budget in bytes from an int (bytes) or a string: ``"4G"``, ``"512M"``, ``"1.5K"``, ``"1000"``, ``"40%"``.

    Units are binary (K = 1024); ``"40%"`` is a share of physical RAM (above
    0, at most 100). None gives :func:`default_memory`. Zero, negative,
    unknown units and shares above 100% raise a
    :class:`~ngramkit.errors.ParameterError` naming ``param`` (the CLI
    reports it as a usage error of its option).
    """
    if value is None:
        return default_memory()
    if isinstance(value, bool):
        raise ParameterError(param, f"must be {_FORMS}, got {value!r}")
    if isinstance(value, int) or (hasattr(value, "__index__") and not isinstance(value, str)):
        n = int(value)
        if n < 1:
            raise ParameterError(param, f"must be a positive number of bytes, got {n}")
        return n
    if not isinstance(value, str):
        raise ParameterError(param, f"must be {_FORMS}, got {value!r}")
    share = _SHARE.match(value)
    if share:
        pct = float(share.group(1))
        if not 0 < pct <= 100:
            raise ParameterError(param, f"must be a share of RAM above 0% and at most 100%, got {value!r}")
        n = int(physical_memory() * pct / 100)
    else:
        size = _SIZE.match(value)
        if not size:
            raise ParameterError(param, f"must be {_FORMS}, got {value!r}")
        n = int(float(size.group(1)) * _UNITS[size.group(2).upper()])
    if n < 1:
        raise ParameterError(param, f"must be a positive size, got {value!r}")
    return n


def format_bytes(n: int) -> str:
    """``1536`` -> ``'1.5 KiB'``: a size for messages."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def check_temp_dir(temp) -> Path:
    """The temp folder (default ``tempfile.gettempdir()``); one line if it is missing or not writable."""
    folder = Path(tempfile.gettempdir() if temp is None else temp)
    if not folder.is_dir():
        raise NgramkitError(f"--temp {folder}: " + ("is not a directory" if folder.exists() else "does not exist"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NgramkitError(f"--temp {folder}: directory is not writable")
    return folder


class TempSpace:
    """A private folder under ``temp`` for one run, removed on exit (a context manager).

    Usage::

        with TempSpace(temp) as space:
            path = space.path("run0.grams")          # a new file name in the folder
            with space.writing(path, nbytes):        # disk-full errors become one line
                arr.tofile(path)
            space.add(nbytes) / space.remove(path)   # bookkeeping of the bytes held

    ``used`` is the bytes currently held (as recorded by :meth:`writing` /
    :meth:`add` / :meth:`remove`), ``peak`` the most ever held. The folder and
    everything in it are removed when the block ends, whatever the reason;
    :meth:`keep` detaches a file from that (moves nothing: the caller must
    move it out before the block ends, else it goes too).
    """

    def __init__(self, temp=None, prefix: str = "ngramkit-"):
        self.parent = check_temp_dir(temp)
        self.prefix = prefix
        self.folder: Path | None = None
        self.used = 0
        self.peak = 0
        self._sizes: dict[str, int] = {}
        self._n = 0
        self._lock = threading.Lock()  # blocks are counted on two threads (outofcore.count)

    def __enter__(self) -> TempSpace:
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.parent))
        except OSError as exc:
            raise self._error(exc, 0) from None
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the folder and its files (idempotent)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self._sizes.clear()
        self.used = 0

    def path(self, name: str | None = None) -> Path:
        """A fresh path in the folder (``name`` made unique with a counter)."""
        if self.folder is None:
            raise NgramkitError("TempSpace used outside its `with` block")
        with self._lock:
            self._n += 1
            n = self._n
        return self.folder / f"{n:05d}-{name or 'tmp'}"

    def add(self, nbytes: int, path=None) -> None:
        """Record ``nbytes`` more held (under ``path``, so :meth:`remove` can give them back)."""
        nbytes = int(nbytes)
        with self._lock:
            if path is not None:
                key = os.fspath(path)
                self._sizes[key] = self._sizes.get(key, 0) + nbytes
            self.used += nbytes
            self.peak = max(self.peak, self.used)

    def remove(self, path) -> None:
        """Delete ``path`` and give back the bytes recorded for it."""
        key = os.fspath(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key)
        with self._lock:
            self.used -= self._sizes.pop(key, 0)

    @contextlib.contextmanager
    def writing(self, path=None, nbytes: int = 0, *, need: int | None = None):
        """Around a write of ``nbytes`` to ``path``: record them, and turn a full disk into one line.

        ``need``: the bytes the message says are needed (default ``nbytes``;
        for a write whose size is only known afterwards, recorded then with :meth:`add`).
        """
        try:
            yield
        except OSError as exc:
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise self._error(exc, nbytes if need is None else need) from None
        if nbytes:
            self.add(nbytes, path)

    def full_disk(self, nbytes: int) -> InputError:
        """The one-line error for a temp disk without room for ``nbytes`` more."""
        free = shutil.disk_usage(self.parent).free if self.parent.exists() else 0
        need = self.used + int(nbytes)
        return InputError(f"--temp {self.parent}: no space left on the device for temporary files "
                          f"(needs at least {format_bytes(need)}, {format_bytes(free)} free); "
                          "free space there or choose another folder with --temp")

    def _error(self, exc: OSError, nbytes: int) -> Exception:
        if exc.errno in _DISK_FULL:
            return self.full_disk(nbytes)
        return InputError(f"--temp {self.parent}: cannot write temporary files ({exc.strerror or exc})")
