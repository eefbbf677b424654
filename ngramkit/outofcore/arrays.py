"""Array operations on ``.npy`` files larger than memory, ``rows`` elements at a time.

Input: arrays that may be memory-mapped ``.npy`` files (read with
:func:`~ngramkit.outofcore.chunks.iter_chunks`, pages released behind), index
or query arrays given as a sequence of ``(start, chunk)`` pairs, a work folder
and ``rows``, the number of elements a step may hold. Output: ``.npy`` files
written sequentially (:class:`NpyWriter`), opened memory-mapped read-only.

- Non-decreasing indexes (parent rows) stream: :func:`gather_sorted` and
  :class:`SegmentSums` read or write one window of the target at a time.
- Arbitrary indexes go through buckets (queries appended to per-bucket
  files with a route file of their bucket numbers, each bucket resolved in
  memory, the answers put back in query order by the route): :func:`lookup`
  (rows in sorted keys: the C kernel ``ngramkit._merge.lookup``, radix sort
  and one forward gallop, or ``np.searchsorted``), :func:`gather`
  (``values[idx]``) and :func:`scatter_count` (``np.bincount(idx,
  minlength=n)``, a scatter-add of 1).

Every result equals numpy's in-memory operation exactly (integers, copies).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     out = scatter_count(5, [(0, np.array([4, 1, 4]))], d, "c", rows=2)
...     out.tolist()
[0, 1, 0, 0, 2]
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from pathlib import Path

import numpy as np

from .. import native
from ..threads import usable_cores
from .chunks import iter_chunks, release

PENDING_BYTES = 32 << 20  # bytes handed to the writer thread and not yet written, per writer, at most
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool)
_pool_lock = threading.Lock()


def _writer_pool() -> ThreadPoolExecutor:
    """The process's one file-writing thread (started on first use; it waits idle between jobs).

    A forked child inherits the pool but not its thread, and jobs sent to it would never run: a child makes
    its own.
    """
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="ngramkit-write"))
        return _pool[1]


class Writes:
    """The file writes of one writer, done in order on the writer thread when two cores are free.

    Why: copying written bytes into the page cache is a third of the CPU of the
    out-of-core fit (perf, 100M tokens); on the writer thread it runs beside the
    next step's arithmetic. ``write(fh, chunk)`` keeps a reference to ``chunk``
    until it is written: the caller must not modify it afterwards (every caller
    writes arrays it has just made). :meth:`wait` returns when every write is
    done and raises the first write error (a full disk) there, or at the next
    ``write`` once it has happened; at most :data:`PENDING_BYTES` are pending.
    """

    def __init__(self):
        self.background = usable_cores() > 1
        self.pending: deque = deque()  # (future, bytes)
        self.bytes = 0
        self.error: BaseException | None = None  # the first failed write; the later ones are skipped

    def write(self, fh, chunk: np.ndarray) -> None:
        data = memoryview(chunk).cast("B")
        if not self.background:
            fh.write(data)
            return
        while self.pending and (self.bytes + data.nbytes > PENDING_BYTES or self.pending[0][0].done()):
            self._retire()
        self._raise()
        self.pending.append((_writer_pool().submit(self._write, fh, data), data.nbytes))
        self.bytes += data.nbytes

    def _write(self, fh, data) -> None:  # on the writer thread
        if self.error is not None:
            return
        try:
            fh.write(data)
        except BaseException as exc:
            self.error = exc

    def _retire(self) -> None:
        future, nbytes = self.pending.popleft()
        self.bytes -= nbytes
        future.result()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error  # stays set: nothing more of this writer is written

    def wait(self) -> None:
        """Return when every write is done; raise the first write error."""
        try:
            while self.pending:
                self._retire()
        finally:
            for future, _ in self.pending:  # an interrupt: nothing more of this writer is started
                future.cancel()
            wait_all([future for future, _ in self.pending])
            self.pending.clear()
            self.bytes = 0
        self._raise()


class NpyWriter:
    """A ``.npy`` file of ``n`` elements of ``dtype`` written chunk after chunk (never resident).

    :meth:`close` checks that exactly ``n`` elements were written and returns the
    file memory-mapped read-only.
    """

    def __init__(self, path: str | os.PathLike, dtype, n: int):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.n = int(n)
        self.done = 0
        self._fh = open(self.path, "wb")
        self._writes = Writes()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.n,)}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def write(self, chunk: np.ndarray) -> None:
        """Append ``chunk`` (not to be modified afterwards: it may be written later, see :class:`Writes`)."""
        chunk = np.ascontiguousarray(chunk, self.dtype)
        self.done += chunk.size
        if self.done > self.n:
            raise ValueError(f"{self.path}: more than {self.n} elements written")
        self._writes.write(self._fh, chunk)

    def fill(self, value, count: int, rows: int) -> None:
        """Write ``count`` copies of ``value``, ``rows`` at a time."""
        for lo in range(0, int(count), rows):
            self.write(np.full(min(rows, count - lo), value, self.dtype))

    def close(self) -> np.ndarray:
        try:
            self._writes.wait()
        finally:
            self._fh.close()
        if self.done != self.n:
            raise ValueError(f"{self.path}: {self.done} elements written, expected {self.n}")
        return open_npy(self.path)


def open_npy(path) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (an empty one as an empty array: no zero-length mapping)."""
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # numpy cannot map a file holding no elements
        return np.load(path)


def sorted_pieces(idx: np.ndarray, rows: int):
    """Yield ``(i0, i1)`` splitting non-decreasing ``idx`` into runs whose values span fewer than ``rows``."""
    i0 = 0
    while i0 < idx.size:
        i1 = int(np.searchsorted(idx, idx[i0] + rows, side="left"))
        yield i0, i1
        i0 = i1


def gather_sorted(values: np.ndarray, idx: np.ndarray, rows: int) -> np.ndarray:
    """``values[idx]`` for non-decreasing ``idx``, reading windows of at most ``rows`` elements of ``values``."""
    out = np.empty(idx.shape, values.dtype)
    for i0, i1 in sorted_pieces(idx, rows):
        lo, hi = int(idx[i0]), int(idx[i1 - 1]) + 1
        window = np.array(values[lo:hi])
        release(values, lo, hi)
        out[i0:i1] = window[idx[i0:i1] - lo]
    return out


class SegmentSums:
    """Per-target sums over runs of a non-decreasing index, written in order to (n,) float64 ``.npy`` files.

    ``add(idx, a, sums)`` with ``sums(a_piece, local_idx, length) -> {name: (length,) float64}``
    (e.g. :func:`~ngramkit.models.interpolated.context_aggregates`); the sums
    must be of integers so that splitting does not change them.
    """

    def __init__(self, paths: dict[str, Path], n: int, rows: int):
        self.writers = {name: NpyWriter(path, np.float64, n) for name, path in paths.items()}
        self.n, self.rows = int(n), int(rows)
        self.pos = 0  # next target to write
        self.carry: tuple[int, dict[str, float]] | None = None  # last target of the last piece, still open

    def _flush_to(self, target: int) -> None:
        """Write the carry and zeros so that every target before ``target`` is written."""
        if self.carry is not None:
            at, vals = self.carry
            for name, w in self.writers.items():
                w.fill(0.0, at - self.pos, self.rows)
                w.write(np.array([vals[name]]))
            self.pos = at + 1
            self.carry = None
        for w in self.writers.values():
            w.fill(0.0, target - self.pos, self.rows)
        self.pos = max(self.pos, target)

    def add(self, idx: np.ndarray, a: np.ndarray, sums) -> None:
        names = list(self.writers)
        for i0, i1 in sorted_pieces(idx, self.rows):
            lo, hi = int(idx[i0]), int(idx[i1 - 1])
            part = sums(a[i0:i1], idx[i0:i1] - lo, hi - lo + 1)
            if self.carry is not None and self.carry[0] == lo:
                for name in names:
                    part[name][0] += self.carry[1][name]
                self.carry = None
            self._flush_to(lo)
            for name in names:
                self.writers[name].write(part[name][:-1])
            self.pos = hi
            self.carry = (hi, {name: float(part[name][-1]) for name in names})

    def close(self) -> dict[str, np.ndarray]:
        self._flush_to(self.n)
        return {name: w.close() for name, w in self.writers.items()}


class _Buckets:
    """Records appended to one raw file per bucket (few handles open at a time)."""

    MAX_OPEN = 128

    def __init__(self, folder: Path, dtype: np.dtype, n_buckets: int):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=False)
        self.dtype = dtype
        self.n_buckets = n_buckets
        self._open: dict[int, object] = {}
        self._writes = Writes()

    def path(self, b: int) -> Path:
        return self.folder / f"{b}.bin"

    def add(self, bucket: np.ndarray, records: np.ndarray) -> None:
        # numpy's stable argsort is a radix sort on 16-bit ints: 5x faster than on int64 (262k bucket numbers)
        bucket = bucket.astype(_route_dtype(self.n_buckets), copy=False)
        order = np.argsort(bucket, kind="stable")
        bucket, records = bucket[order], records[order]
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, bucket.size]):
            b = int(bucket[lo])
            fh = self._open.get(b)
            if fh is None:
                if len(self._open) >= self.MAX_OPEN:
                    self.close()
                fh = self._open[b] = open(self.path(b), "ab")
            self._writes.write(fh, np.ascontiguousarray(records[lo:hi]))  # records: a copy made above

    def close(self) -> None:
        try:
            self._writes.wait()
        finally:
            for fh in self._open.values():
                fh.close()
            self._open.clear()

    def read(self, b: int, rows: int):
        """Yield chunks of at most ``rows`` records of bucket ``b`` (none if it is empty)."""
        path = self.path(b)
        if not path.exists():
            return
        size = self.dtype.itemsize
        with open(path, "rb") as fh:
            while True:
                buf = fh.read(rows * size)
                if not buf:
                    return
                yield np.frombuffer(buf, self.dtype)


def _route_dtype(n_buckets: int) -> np.dtype:
    return np.dtype(np.uint16 if n_buckets <= 1 << 16 else np.int32)


class _Answers:
    """Per-bucket answer files read forward, each from where its last read stopped (few handles open at a time)."""

    MAX_OPEN = 128

    def __init__(self, path_of, dtype: np.dtype, n_buckets: int):
        self.path_of, self.dtype = path_of, dtype
        self.offset = np.zeros(n_buckets, np.int64)
        self._fds: dict[int, int] = {}

    def take(self, b: int, count: int) -> np.ndarray:
        """The next ``count`` answers of bucket ``b``."""
        fd = self._fds.get(b)
        if fd is None:
            if len(self._fds) >= self.MAX_OPEN:
                self.close()
            fd = self._fds[b] = os.open(self.path_of(b), os.O_RDONLY)
        nbytes = count * self.dtype.itemsize
        buf = os.pread(fd, nbytes, int(self.offset[b]))
        if len(buf) != nbytes:
            raise ValueError(f"{self.path_of(b)}: {len(buf)} bytes of answers where {nbytes} were due")
        self.offset[b] += nbytes
        return np.frombuffer(buf, self.dtype)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _resolve(n_queries: int, queries, n_buckets: int, bucket_of, answer, folder: Path, out_path, out_dtype,
             rows: int, step: int | None = None, bucket_done=None) -> np.ndarray:
    """Route queries to buckets, answer each bucket in memory, write the answers in query order.

    Three sequential passes, no query positions stored: (1) every query is appended to its bucket's file and
    its bucket number to a route file, in query order; (2) each bucket's queries are answered in the order
    they came (``answer(b, q, ctx) -> (values, ctx)``, ``ctx`` kept across the steps of one bucket) and the
    answers appended to the bucket's answer file; (3) the route file is read again a step at a time: the
    step's answers are the next ones of each bucket, put back in query order by a stable sort of the step's
    bucket numbers. Per query 8 bytes of query, 2 of route and the answer are written and read (a file of
    (position, query) records and one of (position, answer) records cost 32 bytes each way).

    ``rows``: queries per answer bucket; ``step``: records read at a time (default ``rows``).
    ``bucket_done(b)``, if given, is called after bucket ``b``'s queries are answered, for every bucket in
    order (those no query went to too).
    """
    step = rows if step is None else max(1, int(step))
    folder = Path(folder)
    work = folder / f".{Path(out_path).stem}.buckets"
    shutil.rmtree(work, ignore_errors=True)
    route_dtype = _route_dtype(n_buckets)
    out_dtype = np.dtype(out_dtype)
    try:
        first = _Buckets(work / "q", np.dtype("<i8"), n_buckets)
        route_path = work / "route.bin"
        with open(route_path, "wb") as route:
            writes = Writes()
            try:
                for _, q in queries:
                    q = np.asarray(q, np.int64)
                    bucket = np.asarray(bucket_of(q)).astype(route_dtype)
                    writes.write(route, bucket)
                    first.add(bucket, q)
            finally:
                writes.wait()
        first.close()
        answers = work / "a"
        answers.mkdir()
        for b in range(n_buckets):
            if not first.path(b).exists():  # no query went there
                if bucket_done is not None:
                    bucket_done(b)
                continue
            ctx = None
            with open(answers / f"{b}.bin", "wb") as fh:
                writes = Writes()
                try:
                    for q in first.read(b, step):
                        vals, ctx = answer(b, q, ctx)
                        writes.write(fh, np.ascontiguousarray(vals, out_dtype))
                finally:
                    writes.wait()
            first.path(b).unlink(missing_ok=True)
            if bucket_done is not None:
                bucket_done(b)
        out = NpyWriter(out_path, out_dtype, n_queries)
        reader = _Answers(lambda b: answers / f"{b}.bin", out_dtype, n_buckets)
        try:
            with open(route_path, "rb") as route:
                while True:
                    buf = route.read(step * route_dtype.itemsize)
                    if not buf:
                        break
                    bucket = np.frombuffer(buf, route_dtype)
                    sizes = np.bincount(bucket, minlength=n_buckets)
                    present = np.flatnonzero(sizes)
                    vals = np.concatenate([reader.take(int(b), int(sizes[b])) for b in present])
                    chunk = np.empty(bucket.size, out_dtype)
                    chunk[np.argsort(bucket, kind="stable")] = vals
                    out.write(chunk)
        finally:
            reader.close()
        return out.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def searchsorted_many(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(a, v)`` for many queries in any order: the queries are sorted first, so that each
    binary search starts from the previous answer (numpy narrows the range for increasing keys) and the
    reads of ``a`` go forward through memory. On 4M random queries in 4-16M keys: 7-12 s unsorted, 1.8-2.2 s
    with the sort (its cost included)."""
    if v.size < 2 or bool((v[1:] >= v[:-1]).all()):
        return np.searchsorted(a, v)
    order = np.argsort(v, kind="stable")
    pos = np.empty(v.size, np.intp)
    pos[order] = np.searchsorted(a, v[order])
    return pos


def lookup(keys: np.ndarray, queries, n_queries: int, folder, name: str, rows: int,
           step: int | None = None, hits: str | None = None) -> np.ndarray:
    """Rows of the queries in sorted int64 ``keys`` (-1 where absent), as ``folder/name.npy``.

    ``queries``: ``(start, chunk)`` pairs covering positions 0..n_queries-1.
    Keys are split into buckets of ``rows`` consecutive keys; a query goes to
    the last bucket whose first key is <= it. ``step``: records handled at a time within a bucket
    (default ``rows``). ``hits``: also write ``folder/hits.npy``, the queries found at each key
    (:func:`scatter_count` of the rows found, counted bucket by bucket as they are answered: no second
    routing of the rows).
    """
    m = int(keys.shape[0])
    n_buckets = max(1, -(-m // rows))
    bounds = np.array(keys[::rows], np.int64) if m else np.zeros(1, np.int64)  # (n_buckets,) first key of each

    def bucket_of(q):
        return np.maximum(np.searchsorted(bounds, q, side="right") - 1, 0)

    kernel = native.extension("_merge")
    scratch = [np.empty(0, np.uint8)]  # the C lookup's sort buffers, reused from step to step

    acc: dict[int, np.ndarray] = {}  # with hits: bucket -> hits of its keys so far

    def answer(b, q, window):
        if window is None:
            lo = b * rows
            window = np.array(keys[lo:lo + rows], np.int64)
            release(keys, lo, min(lo + rows, m))
            if hits is not None:
                acc[b] = np.zeros(window.size, np.int64)
        tally = acc.get(b)
        if kernel is not None:
            q = np.ascontiguousarray(q, np.int64)
            if scratch[0].size < 24 * q.size:
                scratch[0] = np.empty(24 * q.size, np.uint8)
            out = np.empty(q.size, np.int64)
            kernel.lookup(window, q, b * rows, out, scratch[0], tally)
            return out, window
        if window.size == 0:
            return np.full(q.size, -1, np.int64), window
        pos = np.minimum(searchsorted_many(window, q), window.size - 1)
        found = np.where(window[pos] == q, pos + b * rows, -1)
        if tally is not None:
            np.add.at(tally, found[found >= 0] - b * rows, 1)
        return found, window

    hits_w = None if hits is None else NpyWriter(Path(folder) / f"{hits}.npy", np.int64, m)

    def bucket_done(b):  # a bucket's hits, in key order (zeros where no query went)
        size = min(rows, m - b * rows)
        if size > 0:
            hits_w.write(acc.pop(b) if b in acc else np.zeros(size, np.int64))

    found = _resolve(n_queries, queries, n_buckets, bucket_of, answer, folder, Path(folder) / f"{name}.npy",
                     np.int64, rows, step, None if hits_w is None else bucket_done)
    if hits_w is not None:
        hits_w.close()  # (on an error, the caller's work folder goes with the file)
    return found


def gather(values: np.ndarray, idx, n_queries: int, folder, name: str, rows: int,
           step: int | None = None) -> np.ndarray:
    """``values[idx]`` (idx in 0..len(values)-1, given as ``(start, chunk)`` pairs) as ``folder/name.npy``;
    ``rows`` and ``step`` as :func:`lookup`'s."""
    m = int(values.shape[0])
    n_buckets = max(1, -(-m // rows))

    def answer(b, q, window):
        if window is None:
            lo = b * rows
            window = np.array(values[lo:lo + rows])
            release(values, lo, min(lo + rows, m))
        return window[q - b * rows], window

    return _resolve(n_queries, idx, n_buckets, lambda q: q // rows, answer, folder, Path(folder) / f"{name}.npy",
                    values.dtype, rows, step)


def scatter_count(n: int, idx, folder, name: str, rows: int) -> np.ndarray:
    """``np.bincount(idx, minlength=n)`` (int64; idx in 0..n-1 as ``(start, chunk)`` pairs) as ``folder/name.npy``."""
    folder = Path(folder)
    n_buckets = max(1, -(-n // rows))
    work = folder / f".{name}.buckets"
    shutil.rmtree(work, ignore_errors=True)
    try:
        parts = _Buckets(work, np.dtype("<i8"), n_buckets)
        for _, q in idx:
            q = np.asarray(q, np.int64)
            parts.add(q // rows, q)
        parts.close()
        out = NpyWriter(folder / f"{name}.npy", np.int64, n)
        for b in range(n_buckets):
            lo = b * rows
            size = min(rows, n - lo)
            acc = np.zeros(size, np.int64)
            for q in parts.read(b, rows):
                acc += np.bincount(q - lo, minlength=size)
            out.write(acc)
            parts.path(b).unlink(missing_ok=True)
        return out.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def chunks_of(arr: np.ndarray, rows: int):
    """``(start, chunk)`` pairs of ``arr`` (:func:`iter_chunks`), the query form the functions above take."""
    return iter_chunks(arr, rows)
