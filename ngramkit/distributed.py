"""Counting and interpolated-model estimation on a Dask cluster (``--engine dask``).

Input: files or globs every worker can read (local paths or fsspec URLs), a
:class:`distributed.Client`. Output: the same :class:`~ngramkit.counts.NGramCounts`
as :meth:`NGramCounts.from_file` (:func:`count_dask`) and the same fitted model,
array for array and bit for bit, as ``Model(N).fit(NGramCounts.from_file(...))``
(:func:`train_dask`; every interpolated smoothing: modified Kneser-Ney first,
Kneser-Ney, absolute discounting, Witten-Bell, additive).

Partitions: every plain file is cut into byte ranges of about
``partition_bytes``; a range starting at offset o > 0 starts after the first
newline at or after o, so every line belongs to exactly one partition
(compressed files are one partition each). Every worker reads its own ranges.

Counting (:func:`count_dask`): pass 1 scans every partition with the C scanner
(:mod:`ngramkit.scan`) for word frequencies, tree-reduced on the workers into
the vocabulary one machine builds; pass 2 counts every partition with the C
engine (:meth:`NGramCounts.from_stream`) and tree-reduces the counts with
:meth:`NGramCounts.merge` (exact integer sums).

Estimation (:func:`train_dask`), the n-grams in ``B`` buckets:

1. *home* shuffle: the partitions' n-grams of every order go to bucket
   ``last word % B`` and are summed there. A bucket then holds every suffix of
   its rows (same last word), so the adjusted (continuation) counts are local;
   the count-of-counts are summed over the buckets (a few integers per order)
   and give the discounts.
2. *context* shuffle: every row of order k >= 2 with its adjusted count goes
   to bucket ``second-to-last word % B``, the home bucket of its context
   (whose last word that is). The per-context integer aggregates (total, n1,
   n2, n3+) are summed there, giving gamma of the context (stored with the
   context's own row, which is home there) and u of each child.
3. u and gamma(prefix) go back to the children's home buckets, where the
   interpolation p_k = u_k + gamma(prefix) p_{k-1}(suffix) is local again
   (the suffix has the same last word), order by order.

Every aggregate is a sum of integers (exact in any order, and exact in float64
below 2**53) and every other step is the elementwise numpy expression of
:mod:`ngramkit.models.interpolated`, so the floats are bit-identical. The
buckets' final rows are gathered and sorted into the model's lexicographic
tables. Scheduling, transport and retries (a lost worker's tasks are rerun)
are Dask's; only the few count-of-counts and the final tables reach the client.

Dask is optional (``pip install 'ngramkit[dask]'``) and imported only here,
inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
from dataclasses import dataclass

import numpy as np

from . import native
from .counts import NGramCounts, check_order, count_of_counts
from .errors import InputError, NgramkitError, ParameterError
from .scan import _BINARY_SNIFF, _COMPRESSED_MAGIC, _COMPRESSED_SUFFIXES, assemble, fast_options, scan_bytes
from .stream import Stream
from .text import TextOptions, check_bytes
from .models.lookup import hash_table, lookup
from .vocab import BOS_ID, PAD_ID, Vocabulary

MAX_PARTITION_BYTES = 16 << 20  # the default partition size: 2 per worker, within [1 MiB, 16 MiB]
MIN_PARTITION_BYTES = 1 << 20
BUCKET_BYTES = 32 << 20  # default buckets: at least one per 32 MiB of text, so a bucket's tables stay small
INSTALL_HINT = "pip install 'ngramkit[dask]'"


def _distributed():
    """The ``distributed`` module, or a one-line error saying what to install."""
    try:
        import distributed
    except ImportError:
        raise NgramkitError(f"--engine dask needs dask.distributed, which is not installed: {INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def client_for(workers: int | None = None, scheduler: str | None = None, *, timeout: float = 10.0):
    """A :class:`distributed.Client` for the run, closed on exit.

    ``scheduler``: the address of an existing cluster (``tcp://HOST:PORT``);
    an unreachable one is a one-line :class:`InputError` after ``timeout``
    seconds. Otherwise a ``LocalCluster`` of ``workers`` processes (default:
    the CPU count), one thread each, started here and shut down on exit.
    Giving both is a :class:`ParameterError`.
    """
    distributed = _distributed()
    if scheduler is not None and workers is not None:
        raise ParameterError("workers", "cannot be combined with scheduler (the cluster has its own workers)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise ParameterError("workers", f"must be an integer >= 1, got {workers!r}")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {why}") from None
        with client:
            yield client
        return
    n = int(workers) if workers is not None else (os.cpu_count() or 1)
    # silence_logs: a task's error reaches the caller as its exception (one line in the CLI); the workers'
    # own log of it (with a traceback) would repeat it on stderr. dashboard_address ":0": the scheduler's
    # HTTP server (started even without a dashboard) on a free port, not 8787 with a warning when it is taken
    cluster = distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL)
    with cluster, distributed.Client(cluster) as client:
        yield client


# ---- partitions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Partition:
    """Bytes ``[lo, hi)`` of file number ``file`` (``hi`` -1: the whole file, decompressed)."""

    file: int
    path: str
    lo: int
    hi: int


def _fs(url: str):
    import fsspec.core  # installed with dask

    return fsspec.core.url_to_fs(url)


def expand_inputs(paths_or_globs) -> list[str]:
    """Files named by paths, globs or fsspec URLs, globs sorted; a name matching nothing is an InputError."""
    if isinstance(paths_or_globs, (str, os.PathLike)):
        paths_or_globs = [paths_or_globs]
    items = [os.fspath(p) for p in paths_or_globs]
    if not items:
        raise InputError("no input files given")
    out = []
    for item in items:
        if item == "-":
            raise InputError("--engine dask cannot read stdin ('-'): workers read the input files themselves")
        fs, path = _fs(item)
        if any(ch in path for ch in "*?["):
            found = sorted(p for p in fs.glob(path) if fs.isfile(p))
            if not found:
                raise InputError(f"{item}: no file matches this pattern")
            out.extend(fs.unstrip_protocol(p) if "://" in item else p for p in found)
        else:
            if fs.isdir(path):
                raise InputError(f"{item}: is a directory, expected a text file")
            if not fs.exists(path):
                raise InputError(f"{item}: no such file")
            out.append(item)
    return out


def plan_partitions(paths_or_globs, partition_bytes: int | None = None, *, workers: int = 1) -> list[Partition]:
    """Cut the inputs into byte ranges of ``partition_bytes`` (lines are assigned when read).

    ``partition_bytes`` None: the inputs' total size over ``2 * workers``,
    within [1 MiB, 16 MiB]. A list of :class:`Partition` (an earlier plan)
    is returned as it is.
    """
    if isinstance(paths_or_globs, (list, tuple)) and paths_or_globs and \
            all(isinstance(p, Partition) for p in paths_or_globs):
        return list(paths_or_globs)
    if partition_bytes is not None and (isinstance(partition_bytes, bool) or not isinstance(
            partition_bytes, (int, np.integer)) or partition_bytes < 1):
        raise ParameterError("partition_bytes", f"must be an integer >= 1, got {partition_bytes!r}")
    files = []
    for path in expand_inputs(paths_or_globs):
        fs, p = _fs(path)
        files.append((path, fs, p, int(fs.size(p))))
    if partition_bytes is None:
        share = -(-sum(f[3] for f in files) // (2 * max(1, int(workers))))
        partition_bytes = min(MAX_PARTITION_BYTES, max(MIN_PARTITION_BYTES, share))
    parts = []
    for i, (path, fs, p, size) in enumerate(files):
        if _compressed(path, fs, p):
            parts.append(Partition(i, path, 0, -1))
            continue
        for lo in range(0, max(size, 1), partition_bytes):
            parts.append(Partition(i, path, lo, min(lo + partition_bytes, size)))
    return parts


def _compressed(path: str, fs, p) -> bool:
    if path.lower().endswith(_COMPRESSED_SUFFIXES):
        return True
    with fs.open(p, "rb") as fh:
        return fh.read(6).startswith(_COMPRESSED_MAGIC)


def _line_start(fh, offset: int, size: int) -> int:
    """0 at offset 0, else the position after the first newline at or after ``offset`` (``size`` if none)."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    fh.seek(offset)
    pos = offset
    while True:
        block = fh.read(1 << 16)
        if not block:
            return size
        cut = block.find(b"\n")
        if cut >= 0:
            return pos + cut + 1
        pos += len(block)


def _read(part: Partition) -> tuple[bytes, int]:
    """The partition's bytes and where they start in the file; an unreadable file is an InputError naming it."""
    try:
        if part.hi < 0:
            import fsspec

            with fsspec.open(part.path, "rb", compression="infer") as fh:
                return fh.read(), 0
        fs, p = _fs(part.path)
        size = int(fs.size(p))
        with fs.open(p, "rb") as fh:
            lo = _line_start(fh, part.lo, size)
            hi = _line_start(fh, part.hi, size) if part.hi < size else size
            fh.seek(lo)
            return fh.read(max(hi - lo, 0)), lo
    except OSError as exc:
        raise InputError(f"{part.path}: cannot read on Dask worker {_worker_name()} "
                         f"({exc.strerror or type(exc).__name__})") from None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "(none)"


def _scan(part: Partition, options: TextOptions):
    k = native.extension("_count")
    data, start = _read(part)
    name = part.path
    if 0 < start < _BINARY_SNIFF:  # the whole file's first 8 kB are sniffed for NUL bytes (as scan_blocks does)
        check_bytes(b"x" + bytes(memoryview(data)[:_BINARY_SNIFF - start]), name, encoding=options.encoding)
    return k, scan_bytes(k, data, name, options, first=start == 0,
                         source=part.path if os.path.exists(part.path) else None)


def _word_freq(part: Partition, options: TextOptions):
    """Pass 1 of a partition: (file, word -> count, tokens)."""
    _, scan = _scan(part, options)
    lower = options.normalize == "lower"
    freq: dict[str, int] = {}
    for w, c in zip(scan.words, scan.counts.tolist()):
        w = w.lower() if lower else w
        freq[w] = freq.get(w, 0) + c
    return {part.file: int(scan.ids.size)}, freq


def _add_freq(*parts):
    tokens: dict[int, int] = {}
    freq: dict[str, int] = {}
    for t, f in parts:
        for i, n in t.items():
            tokens[i] = tokens.get(i, 0) + n
        for w, c in f.items():
            freq[w] = freq.get(w, 0) + c
    return tokens, freq


def _vocab(tf, paths, min_count, max_size) -> Vocabulary:
    tokens, freq = tf
    for i, path in enumerate(paths):
        if tokens.get(i, 0) == 0:
            raise InputError(f"{path}: no tokens (empty file?)")
    return Vocabulary.from_counter(freq, min_count=min_count, max_size=max_size)


def _count_part(part: Partition, options: TextOptions, vocab: Vocabulary, order: int):
    k, scan = _scan(part, options)
    if scan.ids.size == 0:
        return None
    return NGramCounts.from_stream(Stream(*assemble(k, [scan], options, vocab)), order)


def _merge(*parts):
    out = None
    for p in parts:
        if p is not None:
            out = p if out is None else out.merge(p)
    return out


def _tree(client, fn, futures, *args, fan_in: int = 4):
    """Reduce futures with ``fn(*group, *args)`` in a tree on the workers; one future."""
    futures = list(futures)
    while len(futures) > 1:
        futures = [client.submit(fn, *futures[i : i + fan_in], *args, pure=False)
                   for i in range(0, len(futures), fan_in)]
    return futures[0]


def _n_workers(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def _check_options(options: TextOptions) -> None:
    if not isinstance(options, TextOptions):
        raise ParameterError("options", f"must be a TextOptions, got {type(options).__name__}")
    if not options.sentences or not fast_options(options):
        raise ParameterError("options", "--engine dask reads text with the C scanner only: whitespace tokenizer, "
                                        "--normalize none or lower, UTF-8, one sentence per line")
    if native.extension("_count") is None:
        raise NgramkitError("--engine dask needs the compiled counting kernel ngramkit._count "
                            "(reinstall ngramkit with a C compiler)")


def _vocab_future(client, parts, options, min_count, max_size):
    paths = sorted({(p.file, p.path) for p in parts})
    freqs = [client.submit(_word_freq, p, options, pure=False) for p in parts]
    tf = _tree(client, _add_freq, freqs)
    return client.submit(_vocab, tf, [p for _, p in paths], min_count, max_size, pure=False)


def _result(future):
    """``future.result()`` (or ``client.gather`` of a list), a failure of Dask itself made one line."""
    try:
        return future.result()
    except NgramkitError:
        raise
    except Exception as exc:  # a lost cluster, a task that killed its workers (KilledWorker), a cancelled job
        if not type(exc).__module__.startswith(("distributed", "dask", "asyncio", "concurrent")) \
                and not isinstance(exc, (OSError, TimeoutError)):
            raise
        why = str(exc).splitlines()[0] if str(exc) else ""
        raise NgramkitError(f"the Dask job failed: {type(exc).__name__}{': ' + why if why else ''}") from None


def count_dask(paths_or_globs, order: int = 3, *, client, options: TextOptions = TextOptions(),
               partition_bytes: int | None = None, min_count: int = 1,
               max_size: int | None = None) -> NGramCounts:
    """Count orders 1..``order`` of files on the cluster of ``client``; equals :meth:`NGramCounts.from_file`.

    ``paths_or_globs``: paths, globs or fsspec URLs every worker can read, or
    a plan made by :func:`plan_partitions`.
    ``partition_bytes``: the size of the byte ranges the workers read and
    count (lines are never split; None: see :func:`plan_partitions`). ``min_count``/``max_size`` shape the
    vocabulary as in :meth:`Vocabulary.build`.
    """
    order = check_order(order)
    _check_options(options)
    Vocabulary.from_counter({}, min_count=min_count, max_size=max_size)  # bad values fail here, not on a worker
    parts = plan_partitions(paths_or_globs, partition_bytes, workers=_n_workers(client))
    vocab = _vocab_future(client, parts, options, min_count, max_size)
    counted = [client.submit(_count_part, p, options, vocab, order, pure=False) for p in parts]
    return _result(_tree(client, _merge, counted))


# ---- estimation --------------------------------------------------------------------------------

class _Finder:
    """Rows of n-grams in per-order tables with sorted int64 keys ``prev row * V + next word`` (order 1: word id).

    ``forward``: keys extend the prefix (the model's lexicographic trie: the row
    of the first k-1 words, then the last word); otherwise the suffix (a
    bucket's tables, read backwards: the row of the last k-1 words, then the
    first word). Hash tables of the C kernel ``_score`` per order, built on
    first use; ``np.searchsorted`` without it.
    """

    def __init__(self, keys: list[np.ndarray], v: int, forward: bool):
        self.keys, self.v, self.forward = keys, v, forward
        self.kernel = native.extension("_score")
        self.tables: dict[int, np.ndarray] = {}

    def _find(self, j: int, want: np.ndarray) -> np.ndarray:
        if j == 0:
            uni = self.tables.get(0)
            if uni is None:
                uni = self.tables[0] = np.full(self.v, -1, np.int64)
                uni[self.keys[0]] = np.arange(self.keys[0].size)
            return uni[want]
        if self.kernel is None:
            return lookup(self.keys[j], want)
        table = self.tables.get(j)
        if table is None:
            table = self.tables[j] = hash_table(self.keys[j], self.kernel)
        out = np.empty(want.size, np.int64)
        self.kernel.hash_find(table, np.ascontiguousarray(want, np.int64), out)
        return out

    def rows(self, g: np.ndarray) -> np.ndarray:
        """(M,) row of each n-gram of ``g`` (M, m) in order m; every one must be there."""
        m = g.shape[1]
        cols = range(m) if self.forward else range(m - 1, -1, -1)
        r = None
        for j, col in enumerate(cols):
            w = g[:, col].astype(np.int64)
            r = self._find(0, w) if j == 0 else self._find(j, r * self.v + w)
            if g.shape[0] and r.min() < 0:
                raise NgramkitError("internal error: an n-gram's prefix or suffix is missing from its Dask bucket")
        return r


def _split_counts(counts: NGramCounts | None, order: int, buckets: int):
    """A partition's n-grams of every order, cut by last word into ``buckets`` pieces [(g, c) per order]."""
    out = [[] for _ in range(buckets)]
    for k in range(1, order + 1):
        if counts is None:
            g, c = np.zeros((0, k), np.int32), np.zeros(0, np.int64)
        else:
            g, c = counts.ngrams(k), counts.counts(k)
        b = g[:, -1] % buckets
        for j in range(buckets):
            sel = np.flatnonzero(b == j)
            out[j].append((np.ascontiguousarray(g[sel]), c[sel]))
    return out


def _home(bucket: int, buckets: int, v: int, order: int, adjusted: bool, *pieces):
    """Stage 1: the bucket's rows (last word % buckets == bucket) summed, with their adjusted counts.

    The tables of a bucket are suffix-closed, so they are indexed like a trie
    read backwards: order k rows sorted by ``key = row of the suffix in order
    k-1 * V + first word`` (order 1: by word id). Returns (rows, keys, adjusted
    counts, count-of-counts per order, order-1 sums (total, n1, n2, n3p, types), the :class:`_Finder`).
    """
    rows, keys, raw = [], [], []
    find = _Finder(keys, v, False)  # grows with keys; its hash tables are reused by the later stages
    for k in range(1, order + 1):
        g = np.concatenate([p[k - 1][0] for p in pieces])
        c = np.concatenate([p[k - 1][1] for p in pieces])
        if k == 1:  # every vocabulary id of this bucket but <pad>, counted or not
            ids = np.arange(bucket, v, buckets, dtype=np.int32)
            ids = ids[ids != PAD_ID]
            g = np.concatenate([g, ids[:, None]])
            c = np.concatenate([c, np.zeros(ids.size, np.int64)])
            key = g[:, 0].astype(np.int64)
        else:
            key = find.rows(g[:, 1:]) * v + g[:, 0]
        perm = np.argsort(key, kind="stable")
        key = key[perm]
        new = np.ones(key.size, bool)
        new[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(new)
        keys.append(key[starts])
        rows.append(np.ascontiguousarray(g[perm[starts]]))
        raw.append(np.add.reduceat(c[perm], starts) if c.size else c)
    adj = []
    for k in range(1, order + 1):
        a = raw[k - 1]
        if adjusted and k < order:  # continuation counts: distinct left extensions, here (same last word)
            cont = np.bincount(keys[k] // v, minlength=a.size).astype(np.int64)
            a = np.where(rows[k - 1][:, 0] == BOS_ID, a, cont)
        if k == 1:
            a = np.where(rows[0][:, 0] == BOS_ID, 0, a)  # <s> is context only
        adj.append(a.astype(np.int64))
    stats = [count_of_counts(a[a > 0]) for a in adj]
    r1 = raw[0]
    bos = rows[0][:, 0] == BOS_ID
    # what NGramCounts reports (summed over the buckets): tokens (raw unigram counts but <s>), sentences
    # (those of <s>), distinct n-grams counted per order
    totals = np.array([r1[~bos].sum(), r1[bos].sum(), (r1 > 0).sum(), *[r.size for r in raw[1:]]], np.int64)
    a1 = adj[0]
    # the order-1 aggregates (one context), as integers: summed over the buckets exactly
    first = np.array([a1.sum(), (a1 == 1).sum(), (a1 == 2).sum(), (a1 >= 3).sum(), (a1 > 0).sum()], np.int64)
    return rows, keys, adj, stats, first, find, totals


def _home_stats(home):
    return home[3], home[4], home[6]


def _to_contexts(home, order: int, buckets: int):
    """Every row of order >= 2 with its adjusted count, cut by second-to-last word (its context's home)."""
    rows, adj = home[0], home[2]
    out = [[] for _ in range(buckets)]
    for k in range(2, order + 1):
        g, a = rows[k - 1], adj[k - 1]
        b = g[:, -2] % buckets
        for j in range(buckets):
            sel = np.flatnonzero(b == j)
            out[j].append((np.ascontiguousarray(g[sel]), a[sel]))
    return out


def _contexts(home, order: int, buckets: int, model, params, *pieces):
    """Stage 2: per-context aggregates of the children sent here; gamma of the home rows, (g, u, gamma) of children.

    The method's own code (``model._gamma``, ``model._u`` on
    :func:`~ngramkit.models.interpolated.context_aggregates`), as in memory.
    Returns (gamma per order 1..N-1 of the home rows, has-children flags, and per
    destination bucket the children's (g, u, gamma(prefix)) per order 2..N).
    """
    from .models.interpolated import RowContext, context_aggregates

    keys, find = home[1], home[5]
    gammas, has = [], []
    back = [[] for _ in range(buckets)]
    for k in range(2, order + 1):
        g = np.concatenate([p[k - 2][0] for p in pieces])
        a = np.concatenate([p[k - 2][1] for p in pieces])
        m = keys[k - 2].size
        idx = find.rows(g[:, :-1])  # the context's home row
        # integer sums over the children: the same float64 bits in any order
        agg = context_aggregates(a, idx, m, model.aggregates)
        gamma = model._gamma(k, agg, params[k - 1])
        u = model._u(k, a, RowContext(lambda name, agg=agg, idx=idx: agg[name][idx]), params[k - 1])
        gammas.append(gamma)
        has.append(np.bincount(idx, minlength=m) > 0)
        gp = gamma[idx]
        b = g[:, -1] % buckets
        for j in range(buckets):
            sel = np.flatnonzero(b == j)
            back[j].append((np.ascontiguousarray(g[sel]), u[sel], gp[sel]))
    return gammas, has, back


def _finish(home, ctx_out, order: int, v: int, model, params1, agg1, gamma0, n_predictable: int, *pieces):
    """Stage 3: p, log10 p and log10 backoff of the bucket's rows, order by order: (rows, logp10, backoff10)."""
    from .models.interpolated import RowContext

    rows, keys, adj = home[0], home[1], home[2]
    gammas, has = ctx_out[0], ctx_out[1]
    a = adj[0]
    one = np.zeros(a.size, np.int64)  # every unigram's context: the empty one
    u1 = model._u(1, a, RowContext(lambda name: agg1[name][one]), params1)
    p = u1 + gamma0 / n_predictable
    p[rows[0][:, 0] == BOS_ID] = np.nan  # <s>: context only
    probs = [p]
    find = home[5]
    for k in range(2, order + 1):
        m = keys[k - 1].size
        g = np.concatenate([q[k - 2][0] for q in pieces])
        at = find.rows(g)
        if g.shape[0] != m or (np.bincount(at, minlength=m) != 1).any():
            raise NgramkitError("internal error: a Dask bucket's rows came back incomplete")
        u = np.empty(m)
        gp = np.empty(m)
        u[at] = np.concatenate([q[k - 2][1] for q in pieces])
        gp[at] = np.concatenate([q[k - 2][2] for q in pieces])
        p = u + gp * probs[k - 2][keys[k - 1] // v]  # the suffix row
        probs.append(p)
    out = []
    with np.errstate(divide="ignore"):
        for k in range(1, order + 1):
            b = np.zeros(rows[k - 1].shape[0])
            if k < order:
                ctx = has[k - 1]
                b[ctx] = np.log10(gammas[k - 1][ctx])
            out.append((rows[k - 1], np.log10(probs[k - 1]), b))
    return out


def _gather(v: int, order: int, *finished):
    """All buckets' rows in the model's order: per order (ngrams sorted lexicographically, logp10, backoff10, keys)."""
    out, fkeys = [], []
    find = _Finder(fkeys, v, True)  # grows with fkeys: each order's hash table is built once
    for k in range(1, order + 1):
        g = np.concatenate([f[k - 1][0] for f in finished])
        if k == 1:
            key = g[:, 0].astype(np.int64)
        else:
            key = find.rows(g[:, :-1]) * v + g[:, -1]
        perm = np.argsort(key, kind="stable")
        fkeys.append(key[perm])
        out.append((g[perm], np.concatenate([f[k - 1][1] for f in finished])[perm],
                    np.concatenate([f[k - 1][2] for f in finished])[perm], key[perm]))
    return out


def train_dask(paths_or_globs, model, *, client, options: TextOptions = TextOptions(),
               partition_bytes: int | None = None, buckets: int | None = None,
               min_count: int = 1, max_size: int | None = None, stats: dict | None = None):
    """Fit ``model`` (an unfitted interpolated model: mkn, kn, absolute, witten-bell, additive)
    on files, estimated on the cluster of ``client``; returns ``model``.

    Equals ``model.fit(NGramCounts.from_file(paths, model.order, options=options,
    min_count=..., max_size=...))`` bit for bit (tables, ``fitted_``): the
    method's own ``_level``/``_gamma``/``_u`` run on the workers' aggregates.
    ``buckets``: the number of shuffle partitions (default: twice the number
    of workers, and at least one per :data:`BUCKET_BYTES` of text, a compressed
    file counting 4 times its size). ``stats``: a dict to receive what ``NGramCounts`` of the text
    would report: ``tokens``, ``sentences`` and ``distinct`` (n-grams per order).

    The whole model's tables end up in this process (gathered from the
    buckets); :func:`write_dask` writes a model file from shards instead.
    """
    vocab, finished = _estimate(paths_or_globs, model, client, options, partition_bytes, buckets, min_count,
                                max_size, stats)
    tables = _result(client.submit(_gather, len(vocab), model.order, *finished, pure=False))
    model._set_tables(vocab, [t[0] for t in tables], [t[1] for t in tables], [t[2] for t in tables],
                      keys=[t[3] for t in tables], validate=False)
    model._suffix_closed = True
    return model


def _estimate(paths_or_globs, model, client, options, partition_bytes, buckets, min_count, max_size, stats):
    """Stages 1-3 on the cluster: (vocabulary, one future per bucket of its finished rows, see :func:`_finish`).

    ``model`` gets its parameters (``fitted_``, the fallback notes), not its tables.
    """
    from .models.interpolated import CONTEXT_AGGREGATES, InterpolatedModel

    if not isinstance(model, InterpolatedModel):
        raise ParameterError("model", "--engine dask estimates the interpolated smoothings (mkn, kn, absolute, "
                                      f"witten-bell, additive); got {type(model).__name__}")
    order = check_order(model.order)
    _check_options(options)
    parts = plan_partitions(paths_or_globs, partition_bytes, workers=_n_workers(client))
    if buckets is None:
        text = sum(p.hi - p.lo if p.hi >= 0 else 4 * _fs(p.path)[0].size(_fs(p.path)[1]) for p in parts)
        buckets = max(2 * _n_workers(client), -(-text // BUCKET_BYTES))
    if isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)) or buckets < 1:
        raise ParameterError("buckets", f"must be an integer >= 1, got {buckets!r}")
    buckets = int(buckets)
    Vocabulary.from_counter({}, min_count=min_count, max_size=max_size)  # bad values fail here, not on a worker
    vocab_f = _vocab_future(client, parts, options, min_count, max_size)
    vocab = _result(vocab_f)  # the model needs it; small beside the n-grams
    v = len(vocab)
    submit = client.submit
    # Count every partition and cut its n-grams by last word.
    split = [submit(_split_counts, submit(_count_part, p, options, vocab_f, order, pure=False), order, buckets,
                    pure=False) for p in parts]
    homes = [submit(_home, b, buckets, v, order, model.adjusted,
                    *[submit(operator.getitem, s, b, pure=False) for s in split], pure=False)
             for b in range(buckets)]
    home_stats = [_result(submit(_home_stats, h, pure=False)) for h in homes]
    # Each order's parameters (discounts...) from the global count-of-counts, in the method's order of
    # calls (InterpolatedModel._estimate), so its errors and fitted_ are the same.
    coc = [sum(s[0][k] for s in home_stats) for k in range(order)]
    first = sum(s[1] for s in home_stats)
    if stats is not None:
        totals = sum(s[2] for s in home_stats).tolist()
        stats.update(tokens=totals[0], sentences=totals[1], distinct=totals[2:])
    agg1 = {name: np.array([float(x)]) for name, x in zip(CONTEXT_AGGREGATES, first.tolist())}
    model._begin_fit()
    params = []
    for k in range(1, order + 1):
        params.append(model._level(k, np.asarray(coc[k - 1], np.int64) if model.needs_count_of_counts else None))
        if k == 1:
            gamma0 = float(model._gamma(1, agg1, params[0])[0])
    model._end_fit()
    # Children to their contexts' buckets, aggregates there, u and gamma back home.
    if order >= 2:
        to_ctx = [submit(_to_contexts, h, order, buckets, pure=False) for h in homes]
        ctx_out = [submit(_contexts, homes[c], order, buckets, model, params,
                          *[submit(operator.getitem, t, c, pure=False) for t in to_ctx], pure=False)
                   for c in range(buckets)]
        backs = [submit(operator.getitem, c, 2, pure=False) for c in ctx_out]
        ctx_home = [submit(operator.getitem, c, slice(0, 2), pure=False) for c in ctx_out]  # gamma, has-children
    else:
        backs, ctx_home = [], [([], [])] * buckets
    finished = [submit(_finish, homes[b], ctx_home[b], order, v, model, params[0], agg1, gamma0, v - 2,
                       *[submit(operator.getitem, bk, b, pure=False) for bk in backs], pure=False)
                for b in range(buckets)]
    return vocab, finished


# ---- writing from shards -------------------------------------------------------------------------

def _first_words(finished, v: int) -> np.ndarray:
    """(V,) rows of every order of a finished bucket per first word."""
    out = np.zeros(v, np.int64)
    for g, _, _ in finished:
        out += np.bincount(g[:, 0], minlength=v)
    return out


def _add(*arrays):
    return sum(arrays[1:], arrays[0])


def _shard_bounds(hist: np.ndarray, shards: int) -> np.ndarray:
    """The first word id of each of at most ``shards`` contiguous id ranges holding about equal numbers of rows."""
    cum = np.cumsum(hist)
    total = int(cum[-1]) if cum.size else 0
    cuts = np.searchsorted(cum, total * np.arange(1, shards) / shards, side="right")
    return np.unique(np.concatenate([[0], cuts[(cuts > 0) & (cuts < hist.size)]])).astype(np.int64)


def _split_first(finished, bounds: np.ndarray):
    """A finished bucket's rows of every order, cut into the shards of their first word [(g, logp10, backoff10)]."""
    out = [[] for _ in range(bounds.size)]
    for g, p, b in finished:
        s = np.searchsorted(bounds, g[:, 0], side="right") - 1
        perm = np.argsort(s, kind="stable")
        for j, sel in enumerate(np.split(perm, np.searchsorted(s[perm], np.arange(1, bounds.size)))):
            out[j].append((g[sel], p[sel], b[sel]))
    return out


def _shard_meta(shard):
    """Per order: (rows, dtype of ngrams, logp10, backoff10, keys) of a sorted shard (see :func:`_gather`)."""
    return [(t[0].shape[0], *(a.dtype.str for a in t)) for t in shard]


_TABLES = ("ngrams", "logp10", "backoff10", "keys")


def _shard_keys(shard, k: int, offset_prev: int, v: int) -> np.ndarray:
    """The shard's order-k keys in the whole model: its prefixes (same first word) are rows of this shard, so
    the global row of a prefix is its row here plus the shard's offset in order k-1."""
    keys = shard[k - 1][3]
    return keys if k == 1 else keys + np.int64(offset_prev) * v


def _write_npy_shard(shard, folder: str, offsets, prev_offsets, v: int):
    """Write the shard's rows into the model's ``.npy`` tables in ``folder`` at its offsets (per order)."""
    for k, t in enumerate(shard, 1):
        n = t[0].shape[0]
        if n == 0:
            continue
        arrays = (t[0], t[1], t[2], _shard_keys(shard, k, prev_offsets[k - 1], v))
        for name, a in zip(_TABLES, arrays):
            out = np.load(os.path.join(folder, f"{name}{k}.npy"), mmap_mode="r+")
            out[offsets[k - 1]: offsets[k - 1] + n] = a
            out.flush()
            del out
    return True


def _write_arpa_shard(shard, folder: str, index: int, vocab: Vocabulary):
    """The shard's ARPA lines of every order, one file each in ``folder``; their paths."""
    from .arpa import ArpaLines

    lines = ArpaLines(vocab.words)
    order = len(shard)
    paths = []
    for k, (g, p, b, _) in enumerate(shard, 1):
        path = os.path.join(folder, f"arpa{k}.{index:06d}")
        with open(path, "wb") as fh:
            for chunk in lines(g, p, b if k < order else None):
                fh.write(chunk)
        paths.append(path)
    return paths


def write_dask(paths_or_globs, model, path, *, client, info: dict | None = None,
               options: TextOptions = TextOptions(), partition_bytes: int | None = None,
               buckets: int | None = None, shards: int | None = None, min_count: int = 1,
               max_size: int | None = None, stats: dict | None = None):
    """Fit ``model`` on the cluster as :func:`train_dask` does and write it to ``path`` (ARPA for
    ``.arpa``/``.arpa.gz``, else the native format with ``info``, as :func:`ngramkit.modelio.save_model`),
    with the same bytes, without gathering the model's tables into one process.

    The finished rows are cut into ``shards`` (default: ``buckets``) contiguous ranges of first word ids,
    balanced by rows. A range holds whole lexicographic runs of every order, and every prefix of its rows,
    so each shard sorts its rows and computes their keys alone, given the rows of the shards before it (a
    few integers). ARPA: each shard formats its lines into a file of a folder beside ``path``, then this
    process concatenates them in order. Native: this process creates the model's ``.npy`` tables there,
    each shard writes its rows into them at its offsets, and the model is saved from the memory-mapped
    tables (the C scorer's probing index is built here, as :func:`~ngramkit.modelio.save_model` does).
    ``info`` may be a function of the ``stats`` dict (filled before the file is written) returning the dict.
    The workers must be able to write beside ``path`` (a shared filesystem on a cluster of machines). The
    folder is removed in every case. Returns ``model`` (``fitted_`` set; its tables are the written
    file's for the native format, none for ARPA).
    """
    import gzip
    import shutil
    import tempfile
    from pathlib import Path

    from . import modelio
    from .arpa import ARPA_END, arpa_head, arpa_section
    from .fileio import atomic_path, check_writable

    path = Path(path)
    arpa = modelio.is_arpa_path(path)
    if not arpa and path.suffix.lower() in (".gz", ".bz2", ".xz", ".zst"):
        raise NgramkitError(f"{path}: the native format is not compressed (it is memory-mapped); "
                            "name it e.g. .ngk, or use .arpa.gz for gzipped ARPA")
    check_writable(path)
    if shards is not None and (isinstance(shards, bool) or not isinstance(shards, (int, np.integer)) or shards < 1):
        raise ParameterError("shards", f"must be an integer >= 1, got {shards!r}")
    if stats is None:
        stats = {}
    vocab, finished = _estimate(paths_or_globs, model, client, options, partition_bytes, buckets, min_count,
                                max_size, stats)
    v, order, submit = len(vocab), model.order, client.submit
    hist = _result(_tree(client, _add, [submit(_first_words, f, v, pure=False) for f in finished]))
    bounds = _shard_bounds(hist, int(shards) if shards is not None else len(finished))
    split = [submit(_split_first, f, bounds, pure=False) for f in finished]
    del finished  # released on the workers once split
    parts = [submit(_gather, v, order, *[submit(operator.getitem, sp, j, pure=False) for sp in split], pure=False)
             for j in range(bounds.size)]
    del split
    meta = [_result(submit(_shard_meta, p, pure=False)) for p in parts]
    sizes = np.array([[m[k][0] for k in range(order)] for m in meta], np.int64).reshape(len(parts), order)
    offsets = np.zeros_like(sizes)
    np.cumsum(sizes[:-1], axis=0, out=offsets[1:])
    totals = sizes.sum(axis=0).tolist()
    # absolute: the workers do not share this process's working directory
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.dask-", dir=os.path.abspath(path.parent)))
    try:
        if arpa:
            vocab_f = client.scatter(vocab, broadcast=True)
            files = _all(client, [submit(_write_arpa_shard, p, str(folder), j, vocab_f, pure=False)
                                  for j, p in enumerate(parts)])
            del parts
            try:
                with atomic_path(path) as tmp:
                    fh = gzip.open(tmp, "wb", compresslevel=1) if path.suffix.lower() == ".gz" else open(tmp, "wb")
                    with fh:
                        fh.write(arpa_head(totals))
                        for k in range(1, order + 1):
                            fh.write(arpa_section(k))
                            for shard_files in files:
                                with open(shard_files[k - 1], "rb") as piece:
                                    shutil.copyfileobj(piece, fh, 1 << 22)
                                os.unlink(shard_files[k - 1])
                        fh.write(ARPA_END)
            except OSError as exc:
                raise NgramkitError(f"{path}: cannot write the model ({exc.strerror or exc})") from None
            model.vocab = vocab
            return model
        # native: the tables as .npy files, filled by the shards, then saved from their maps
        dtypes = meta[0]
        for k in range(1, order + 1):
            n = totals[k - 1]
            for name, dtype in zip(_TABLES, dtypes[k - 1][1:]):
                shape = (n, k) if name == "ngrams" else (n,)
                if n:  # a sparse file of the table's size, filled by the shards
                    np.lib.format.open_memmap(folder / f"{name}{k}.npy", mode="w+", dtype=np.dtype(dtype),
                                              shape=shape).flush()
                else:  # numpy cannot map an empty array
                    np.save(folder / f"{name}{k}.npy", np.zeros(shape, np.dtype(dtype)))
        prev = np.zeros_like(offsets)
        prev[:, 1:] = offsets[:, :-1]  # the offset of each shard in order k-1 (order 1: unused)
        _all(client, [submit(_write_npy_shard, p, str(folder), offsets[j].tolist(), prev[j].tolist(), v,
                             pure=False) for j, p in enumerate(parts)])
        del parts
        tables = [[np.load(folder / f"{name}{k}.npy", mmap_mode="r") for k in range(1, order + 1)] for name in _TABLES]
        model._set_tables(vocab, tables[0], tables[1], tables[2], keys=tables[3], validate=False)
        model._suffix_closed = True
        if callable(info):
            info = info(dict(stats))
        modelio.save_model(model, path, info=info)
        return model
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _all(client, futures):
    """The results of ``futures`` in order, a failure of Dask itself made one line (see :func:`_result`)."""
    return [_result(f) for f in futures]
