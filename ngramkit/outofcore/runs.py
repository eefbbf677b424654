"""Sorted runs of n-gram counts on disk, and their k-way merge into final ``.npy`` arrays.

Input: count tables held in memory (an :class:`~ngramkit.counts.NGramCounts`
of one block of text, rows sorted), written to a :class:`~.budget.TempSpace`
as one *run* per order: a file of packed records, ``k`` int32 word ids then
one count, rows strictly increasing in lexicographic id order
(:func:`record_dtype`, native byte order). A block's counts fit int32 (a
block holds fewer than 2**31 tokens): its runs have ``4k + 4``-byte records
and names ending ``.c4.run``; the runs of an intermediate merge pass have
int64 counts (``4k + 8`` bytes). At order 5, the narrow count is 1/7 fewer
bytes written by the counting and read by the merge.

Output: :func:`merge_runs` merges every run of order k (the C kernel
``ngramkit._merge``: one buffered reader per run, a heap over them, equal rows
summed; more runs than :data:`MAX_FANIN` are merged in passes) into three
plain ``.npy`` files in the temp folder:

- ``ngrams<k>.npy``: (M_k, k) int32, unique rows in lexicographic order;
- ``counts<k>.npy``: (M_k,) int64;
- ``parent<k>.npy``: (M_k,) int64, the row of each n-gram's (k-1)-word
  prefix in ``ngrams<k-1>.npy`` (zeros for k = 1), computed while merging:
  the prefixes of sorted rows are non-decreasing, so order k-1's final file
  is read alongside with one forward pointer.

These are exactly the arrays of the in-memory :class:`NGramCounts`. Without
the C kernel (``NGRAMKIT_IMPL=numpy``) the merge runs in numpy, one order in
memory at a time (the same files; over the budget on large inputs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import native
from ..errors import NgramkitError
from .budget import TempSpace

MAX_FANIN = 256  # runs merged at once (one open file and one buffer each); more: intermediate passes
NPY_HEADER = 128  # bytes reserved for the .npy header of a final array (any shape fits, 64-byte aligned)
MIN_BUFFER = 64 << 10
MAX_BUFFER = 8 << 20


def record_dtype(k: int, width: int = 8) -> np.dtype:
    """The packed record of a run of order k: ``ids`` (k,) int32 then ``count`` (int64; int32 for ``width`` 4)."""
    return np.dtype([("ids", "=i4", (k,)), ("count", "=i8" if width == 8 else "=i4")])


NARROW_SUFFIX = ".c4.run"  # the name ending of a run with int32 counts
INT32_MAX = 2**31 - 1


def count_bytes(path) -> int:
    """The bytes of a run file's counts, by its name: 4 for :data:`NARROW_SUFFIX`, else 8."""
    return 4 if str(path).endswith(NARROW_SUFFIX) else 8


RUN_CHUNK_BYTES = 16 << 20  # records interleaved per write: one buffer reused, not a copy of the whole table


def write_run(space: TempSpace, grams: np.ndarray, counts: np.ndarray, name: str) -> Path:
    """Write one sorted run (``grams`` (M, k) int32 rows sorted and unique, ``counts`` (M,) int64); its path.

    The records are interleaved into one buffer of :data:`RUN_CHUNK_BYTES` at a time: a record array of
    the whole table (hundreds of MB per block) was a fresh mapping each time, every page of it zeroed by
    the kernel before the copy (perf at 100M tokens: zeroing fresh pages was 18% of the counting CPU).
    """
    m, k = grams.shape
    narrow = m == 0 or int(counts.max()) <= INT32_MAX
    dtype = record_dtype(k, 4 if narrow else 8)
    rec = np.empty(max(1, min(m, RUN_CHUNK_BYTES // dtype.itemsize)), dtype)
    path = space.path(f"{name}.o{k}" + (NARROW_SUFFIX if narrow else ".run"))
    with space.writing(path, m * dtype.itemsize):
        with open(path, "wb") as fh:
            for lo in range(0, m, rec.size):
                n = min(rec.size, m - lo)
                rec["ids"][:n] = grams[lo: lo + n]
                rec["count"][:n] = counts[lo: lo + n]
                fh.write(rec[:n].view(np.uint8))  # not tofile: a short write must raise OSError(ENOSPC)
    return path


def write_runs(space: TempSpace, counts, name: str) -> list[Path]:
    """One run per order of an in-memory NGramCounts (orders 1..N); their paths, order 1 first."""
    return [write_run(space, counts.ngrams(k), counts.counts(k), name) for k in range(1, counts.order + 1)]


def npy_header(dtype, shape) -> bytes:
    """A .npy (version 1.0) header of exactly :data:`NPY_HEADER` bytes for a C-ordered array."""
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    text = repr(d).encode("latin1")
    body = NPY_HEADER - 10  # magic (6) + version (2) + header length (2)
    if len(text) + 1 > body:
        raise NgramkitError(f"array shape {shape} too large for a .npy header of {NPY_HEADER} bytes")
    text = text + b" " * (body - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + np.uint16(body).astype("<u2").tobytes() + text


def _finish_npy(path: Path, dtype, shape) -> None:
    with open(path, "r+b") as fh:
        fh.write(npy_header(dtype, shape))


def buffer_size(available: int, files: int) -> int:
    """Bytes of I/O buffer per open file when ``files`` share ``available`` bytes (64 KiB .. 8 MiB)."""
    return int(min(MAX_BUFFER, max(MIN_BUFFER, available // max(1, files))))


def merge_runs(space: TempSpace, runs_by_order: list[list[Path]], available: int, *, progress=None,
               fanin: int = MAX_FANIN) -> dict[str, Path]:
    """Merge the runs of every order into the final ``.npy`` files; ``{"ngrams1": path, ...}``.

    ``runs_by_order[k-1]``: the run files of order k. Runs are deleted as
    they are merged (their bytes given back to ``space``). ``available``:
    bytes of memory for the I/O buffers. ``progress(k)``, if given, is
    called after each order.
    """
    k_mod = native.extension("_merge")
    fanin = max(2, int(fanin))
    files: dict[str, Path] = {}
    for k, runs in enumerate(runs_by_order, 1):
        runs = list(runs)
        bufsize = buffer_size(available, min(len(runs), fanin) + 4)
        while len(runs) > fanin:  # intermediate passes: groups of `fanin` runs -> one run each
            merged = []
            for i in range(0, len(runs), fanin):
                group = runs[i : i + fanin]
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                out = space.path(f"merge.o{k}.run")
                with space.writing(out, need=sum(p.stat().st_size for p in group)):
                    if k_mod is not None:
                        k_mod.merge_runs([os.fspath(p) for p in group], k, bufsize, os.fspath(out), None, None, None,
                                         None, 0, [count_bytes(p) for p in group])
                    else:
                        grams, counts = _merge_numpy(group, k)
                        rec = np.empty(grams.shape[0], record_dtype(k))
                        rec["ids"], rec["count"] = grams, counts
                        with open(out, "wb") as fh:
                            fh.write(rec.view(np.uint8))
                space.add(out.stat().st_size, out)
                for p in group:
                    space.remove(p)
                merged.append(out)
            runs = merged
        names = {what: space.path(f"{what}{k}.npy") for what in ("ngrams", "counts", "parent")}
        prev = files.get(f"ngrams{k - 1}")
        with space.writing(names["ngrams"], need=sum(p.stat().st_size for p in runs)):
            if k_mod is not None:
                m = k_mod.merge_runs([os.fspath(p) for p in runs], k, bufsize, None, os.fspath(names["ngrams"]),
                                     os.fspath(names["counts"]), os.fspath(names["parent"]),
                                     None if prev is None else os.fspath(prev), NPY_HEADER,
                                     [count_bytes(p) for p in runs])
            else:
                m = _final_numpy(runs, k, names, prev)
            _finish_npy(names["ngrams"], "<i4", (m, k))
            _finish_npy(names["counts"], "<i8", (m,))
            _finish_npy(names["parent"], "<i8", (m,))
        for what, path in names.items():
            space.add(path.stat().st_size, path)
            files[f"{what}{k}"] = path
        for p in runs:
            space.remove(p)
        if progress is not None:
            progress(k)
    return files


def _read_run(path: Path, k: int) -> np.ndarray:
    return np.fromfile(path, record_dtype(k, count_bytes(path)))


def _merge_numpy(runs, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The numpy reference: all runs of order k in memory, rows sorted, equal rows summed."""
    recs = [_read_run(p, k) for p in runs] or [np.empty(0, record_dtype(k))]
    grams = np.concatenate([r["ids"].reshape(-1, k) for r in recs])
    counts = np.concatenate([r["count"].astype(np.int64) for r in recs])
    if grams.shape[0] == 0:
        return np.empty((0, k), np.int32), np.empty(0, np.int64)
    order = np.lexsort(grams.T[::-1])
    grams, counts = grams[order], counts[order]
    new = np.ones(grams.shape[0], bool)
    new[1:] = (grams[1:] != grams[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    return grams[starts], np.add.reduceat(counts, starts)


def _final_numpy(runs, k: int, names: dict, prev) -> int:
    grams, counts = _merge_numpy(runs, k)
    if k == 1:
        parent = np.zeros(grams.shape[0], np.int64)
    else:
        prev_grams = np.load(prev, mmap_mode="r")
        pk = np.ascontiguousarray(prev_grams).view([("", "=i4")] * (k - 1)).ravel()
        want = np.ascontiguousarray(grams[:, :-1]).view([("", "=i4")] * (k - 1)).ravel()
        parent = np.searchsorted(pk, want).astype(np.int64)
    for what, arr in (("ngrams", grams.astype("<i4")), ("counts", counts.astype("<i8")),
                      ("parent", parent.astype("<i8"))):
        with open(names[what], "wb") as fh:
            fh.write(b"\0" * NPY_HEADER)
            fh.write(np.ascontiguousarray(arr).view(np.uint8))
    return grams.shape[0]
