"""Chunked passes over memory-mapped arrays whose pages do not stay resident.

Pages of a file mapping count in a process's resident set once touched, and
the kernel drops them only under memory pressure: a pass over a 5 GB mapped
array would show 5 GB of RSS. :func:`iter_chunks` copies one chunk at a time
and tells the kernel it will not need the chunk's pages again
(``MADV_DONTNEED``), so a pass costs one chunk of memory whatever the array's
size. Arrays that are not mappings are simply sliced.

>>> import numpy as np
>>> [c.tolist() for _, c in iter_chunks(np.arange(5), 2)]
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import mmap

import numpy as np


def _mapping(arr: np.ndarray):
    """(mmap object, byte offset of ``arr``'s data in it), or None if ``arr`` is not a view of a mapping.

    Follows the chain of bases: numpy views, ``np.memmap`` (``_mmap``), memoryviews (``obj``, as in arrays
    ``np.frombuffer`` made from a mapping, e.g. :func:`ngramkit.npzfile.read`'s) down to the ``mmap.mmap``.
    """
    base = arr
    for _ in range(64):  # bases chains are short; a bound instead of trusting every object's attributes
        if base is None:
            return None
        mm = base if isinstance(base, mmap.mmap) else getattr(base, "_mmap", None)
        if isinstance(mm, mmap.mmap):
            if mm.closed or len(mm) == 0:
                return None
            start = arr.__array_interface__["data"][0]
            origin = np.frombuffer(mm, np.uint8, count=1).__array_interface__["data"][0]
            return mm, start - origin
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return None


def release(arr: np.ndarray, lo: int = 0, hi: int | None = None) -> None:
    """Drop the resident pages of rows ``lo:hi`` of a memory-mapped, C-contiguous ``arr`` (no-op otherwise).

    The data stays in the file (and in the page cache); the next read maps it again.
    """
    if not arr.flags.c_contiguous or arr.size == 0:
        return
    found = _mapping(arr)
    if found is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    mm, offset = found
    row = arr.strides[0] if arr.ndim else arr.itemsize
    hi = arr.shape[0] if hi is None else hi
    start = offset + lo * row
    end = offset + hi * row
    page = mmap.PAGESIZE
    start -= start % page  # whole pages only
    if end <= start:
        return
    try:
        mm.madvise(mmap.MADV_DONTNEED, start, min(end, len(mm)) - start)
    except (OSError, ValueError):  # not fatal: the pages stay resident, as without this call
        pass


def iter_chunks(arr: np.ndarray, rows: int, lo: int = 0, hi: int | None = None):
    """Yield ``(start, copy of arr[start:start+rows])`` over rows ``lo:hi``, releasing mapped pages behind."""
    hi = arr.shape[0] if hi is None else hi
    rows = max(1, int(rows))
    for start in range(lo, hi, rows):
        stop = min(start + rows, hi)
        chunk = np.array(arr[start:stop])
        release(arr, start, stop)
        yield start, chunk
