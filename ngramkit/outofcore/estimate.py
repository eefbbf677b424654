"""Estimating an interpolated model chunk by chunk, in a fixed memory budget.

Input: :class:`~ngramkit.counts.NGramCounts` (arrays in memory or
memory-mapped ``.npy`` files, possibly far larger than RAM), an
:class:`~ngramkit.models.interpolated.InterpolatedModel` (any smoothing
method), a budget in bytes and a work folder. Output: the fitted model, its
tables of orders >= 2 memory-mapped ``.npy`` files in the work folder
(``o{k}.logp10.npy``, ``o{k}.backoff10.npy``, ``o{k}.keys.npy``; the n-grams
are the counts' own arrays), identical bit for bit to the in-memory fit.

Why identical: the method code is the in-memory one
(:meth:`~ngramkit.models.interpolated.InterpolatedModel._level`, ``_gamma``,
``_u``) applied to chunks; every per-context aggregate and count-of-counts is
a sum of integers (exact in any order), and every other step is elementwise.

Passes per order k (``rows`` = budget / :data:`ROW_BYTES` elements per step):

1. structure: parent rows (order 2: remapped to the unigram table), keys
   ``parent * V + last``, suffix rows (order 2: ``searchsorted`` in the
   unigram ids; above: ``suffix_{k-1}[parent] * V + last``, a streaming
   gather since parents are sorted, then a bucketed :func:`~.arrays.lookup`
   in the keys of order k-1, which counts the hits of each key as it goes:
   the continuation counts of order k-1);
2. continuation counts of order 1 (:func:`~.arrays.scatter_count` of order
   2's suffix rows) and the number of children of each order-(k-1) row
   (:class:`~.arrays.SegmentSums`);
3. the counts ``a`` of order k, their count-of-counts and the context
   aggregates (segment sums over the sorted parents), gamma of the order-(k-1)
   contexts and their backoffs, then ``p_k = u + gamma[parent] * p_{k-1}[suffix]``
   (``p_{k-1}[suffix]`` by a bucketed :func:`~.arrays.gather`).

Order 1 (one row per vocabulary id) is held in memory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..counts import NGramCounts, count_of_counts
from ..errors import NgramkitError
from ..models.interpolated import InterpolatedModel, RowContext, context_aggregates, unigram_rows
from ..vocab import BOS_ID
from . import arrays
from .arrays import NpyWriter, SegmentSums, gather_sorted
from .chunks import iter_chunks, release

ROW_BYTES = 192  # working memory per element of a step (measured: ~160 B at 2M rows, see bench_estimate_memory)
STEP_ROWS = 1 << 18  # elements per streaming step, whatever the budget
WINDOW_ROWS = 1 << 22  # elements of a bucket of lookup/gather/scatter_count at most (32 MiB of int64)
# Why caps: budget-sized temporaries (180 MB each at --memory 4G) are fresh mappings at every step, each page
# zeroed by the kernel on first touch (a third of the CPU of train at 100M tokens, perf), while arrays of a
# few MiB are reused by malloc from one step to the next. Fit of mkn-5 on the 10M-token corpus from counts,
# rows 22M (--memory 4G): wall 13.5 s (system 8.6 s) -> 6.4 s (system 1.8 s); more buckets cost less than
# the zeroing they save (the fit alone, timed with getrusage, best of 2).
MIN_ROWS = 2
INMEMORY_BYTES_PER_NGRAM = 160  # peak of the in-memory fit per n-gram of orders 1..N (PTB mkn-5: see the benchmark)


def rows_for(memory: int) -> int:
    """Elements per step for a budget of ``memory`` bytes."""
    return max(MIN_ROWS, int(memory) // ROW_BYTES)


FASTER_IN_CHUNKS_ROWS = 4_000_000  # n-grams of orders 1..N above which the chunked fit is the faster one
# (measured, mkn-5, the in-memory fit against this one from the same counts, best of 2: PTB train, 2.3M rows,
# 0.20 s against 0.33 s; 2M tokens of the benchmark text, 5.4M rows, 0.89 against 0.63 s; 10M tokens,
# 25M rows, 6.5 against 3.5 s: the in-memory fit's whole-table temporaries are fresh pages the kernel zeroes)


def ngram_rows(counts: NGramCounts, order: int) -> int:
    """Rows of the tables of orders 1..``order`` (the vocabulary for order 1)."""
    return len(counts.vocab) + sum(int(counts.ngrams(k).shape[0]) for k in range(2, order + 1))


def needs_out_of_core(counts: NGramCounts, order: int, memory: int) -> bool:
    """True when the in-memory fit of orders 1..``order`` would likely exceed ``memory`` bytes."""
    return ngram_rows(counts, order) * INMEMORY_BYTES_PER_NGRAM > int(memory)


def faster_in_chunks(counts: NGramCounts, order: int) -> bool:
    """True when the chunked fit is expected to be faster than the in-memory one (:data:`FASTER_IN_CHUNKS_ROWS`)."""
    return ngram_rows(counts, order) > FASTER_IN_CHUNKS_ROWS


def fit_out_of_core(model: InterpolatedModel, counts: NGramCounts, memory: int,
                    workdir: str | os.PathLike | None = None) -> InterpolatedModel:
    """Fit ``model`` on ``counts`` chunk by chunk within ``memory`` bytes, writing its tables in ``workdir``.

    ``workdir``: a folder the caller owns (created if missing; one fit at a
    time; the caller removes it once the model is written or no longer
    used); None: a temporary folder removed when the model is
    garbage-collected. A write error there (a full disk) is an
    :class:`~ngramkit.errors.NgramkitError` naming the folder.
    """
    model._check_counts(counts)
    if workdir is None:
        holder = tempfile.TemporaryDirectory(prefix="ngramkit-estimate-")
        model._workdir = holder  # the folder lives as long as the model's mapped tables
        workdir = holder.name
    folder = Path(workdir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return _Estimator(model, counts, rows_for(memory), folder).run()
    except OSError as exc:  # a full or unwritable temporary disk: one line naming the folder
        raise NgramkitError(f"{folder}: cannot write the estimate's temporary files "
                            f"({exc.strerror or exc}); free space there or choose another folder") from None


def window(arr: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """A copy of ``arr[lo:hi]``, the mapped pages released."""
    out = np.array(arr[lo:hi])
    release(arr, lo, hi)
    return out


class _Estimator:
    """One fit. ``window``: elements the budget allows in one piece (the buckets of the random-access
    passes); ``rows``: elements of a streaming step (at most :data:`STEP_ROWS`)."""

    def __init__(self, model: InterpolatedModel, counts: NGramCounts, rows: int, folder: Path):
        self.model, self.counts, self.folder = model, counts, folder
        self.window = min(int(rows), WINDOW_ROWS)
        self.rows = min(self.window, STEP_ROWS)
        self.n = model.order
        self.v = len(counts.vocab)

    def path(self, k: int, name: str) -> Path:
        return self.folder / f"o{k}.{name}.npy"

    def chunks(self, arr: np.ndarray):
        return iter_chunks(arr, self.rows)

    def size(self, k: int) -> int:
        return self.m1 if k == 1 else int(self.counts.ngrams(k).shape[0])

    # ---- structure ------------------------------------------------------------------------------
    def structure(self) -> None:
        uni, seen_row, raw1 = unigram_rows(self.counts)
        self.uni, self.raw1, self.m1 = uni, raw1, uni.size
        self.bos_row = int(np.searchsorted(uni, BOS_ID))
        self.parent = [np.zeros(uni.size, np.int64)]
        self.keys = [uni]
        self.suffix = [np.zeros(uni.size, np.int64)]
        rows, v = self.rows, self.v
        for k in range(2, self.n + 1):
            g, par = self.counts.ngrams(k), self.counts.parent(k)
            m = int(g.shape[0])
            own_parent = k == 2 or par.dtype != np.int64
            parent_w = NpyWriter(self.path(k, "parent"), np.int64, m) if own_parent else None
            keys_w = NpyWriter(self.path(k, "keys"), np.int64, m)
            # order 2: suffix rows directly; above: the suffix keys, looked up afterwards
            suf_w = NpyWriter(self.path(k, "suffix" if k == 2 else "suffixkey"), np.int64, m)
            for (start, pc), (_, gc) in zip(self.chunks(par), self.chunks(g)):
                parent = seen_row[pc] if k == 2 else pc.astype(np.int64)
                last = gc[:, -1].astype(np.int64)
                if parent_w is not None:
                    parent_w.write(parent)
                keys_w.write(parent * v + last)
                if k == 2:
                    suf_w.write(np.searchsorted(uni, last))
                else:
                    suf_w.write(gather_sorted(self.suffix[k - 2], parent, rows) * v + last)
            self.parent.append(parent_w.close() if parent_w is not None else par)
            self.keys.append(keys_w.close())
            suffix = suf_w.close()
            if k > 2:
                queries = suffix
                # the continuation counts of order k-1 are the hits of its rows, counted as they are found
                suffix = arrays.lookup(self.keys[k - 2], self.chunks(queries), m, self.folder, f"o{k}.suffix",
                                       self.window, step=rows, hits=f"o{k - 1}.cont")
                del queries
                self.path(k, "suffixkey").unlink()
            self.suffix.append(suffix)

    def children(self, k: int) -> np.ndarray:
        """(M_k,) float64 number of order-(k+1) rows whose parent is each order-k row (k < N)."""
        m = self.size(k)
        sums = SegmentSums({"types": self.path(k, "children")}, m, self.rows)
        for _, pc in self.chunks(self.parent[k]):
            sums.add(pc, pc, lambda a, idx, length: {"types": np.bincount(idx, minlength=length).astype(np.float64)})
        out = sums.close()["types"]
        return np.array(out) if k == 1 else out

    def _zeros(self, k: int, name: str, dtype) -> np.ndarray:
        w = NpyWriter(self.path(k, name), dtype, self.size(k))
        w.fill(0, self.size(k), self.rows)
        return w.close()

    # ---- estimation -----------------------------------------------------------------------------
    def counts_chunks(self, k: int, cont):
        """``(start, a)`` chunks of the counts order k (k >= 2) is estimated from (raw or adjusted)."""
        raw = self.counts.counts(k)
        adjusted = self.model.adjusted and k < self.n
        g = self.counts.ngrams(k)
        if not adjusted:
            for start, c in self.chunks(raw):
                yield start, c.astype(np.int64)
            return
        for (start, c), (_, cc), (_, gc) in zip(self.chunks(raw), self.chunks(cont), self.chunks(g)):
            yield start, np.where(gc[:, 0] == BOS_ID, c.astype(np.int64), cc)

    def run(self) -> InterpolatedModel:
        model, rows, n = self.model, self.rows, self.n
        names = model.aggregates
        self.structure()
        model._begin_fit()
        # order 1, in memory (as CountTables does)
        cont = self._continuation(1)
        a = self.raw1 if not (model.adjusted and n > 1) else np.where(self.uni == BOS_ID, self.raw1, np.array(cont))
        a = a.copy()
        a[self.bos_row] = 0  # <s> is context only
        coc = count_of_counts(a[a > 0]) if model.needs_count_of_counts else None
        params = model._level(1, coc)
        zeros = self.parent[0]
        agg = context_aggregates(a, zeros, 1, names)
        gamma0 = float(model._gamma(1, agg, params)[0])
        u = model._u(1, a, RowContext(lambda name: agg[name][zeros]), params)
        prob = u + gamma0 / (self.m1 - 1)  # |V|: every id but <s> and <pad>
        prob[self.bos_row] = np.nan
        with np.errstate(divide="ignore"):
            logp10 = [np.log10(prob)]
        backoff10 = []
        for k in range(2, n + 1):
            m, mp = self.size(k), self.size(k - 1)
            cont = self._continuation(k)
            # counts, count-of-counts, context aggregates
            a_w = NpyWriter(self.path(k, "a"), np.int64, m)
            coc = np.zeros(4, np.int64)
            sums = SegmentSums({name: self.path(k, f"ctx.{name}") for name in names}, mp, rows)
            for (start, ac), (_, pc) in zip(self.counts_chunks(k, cont), self.chunks(self.parent[k - 1])):
                a_w.write(ac)
                if model.needs_count_of_counts:
                    coc += count_of_counts(ac[ac > 0])
                sums.add(pc, ac, lambda a_, idx, length: context_aggregates(a_, idx, length, names))
            a_k = a_w.close()
            agg = sums.close()
            if k == 2:
                agg = {name: np.array(x) for name, x in agg.items()}
            del cont
            self.path(k, "cont").unlink(missing_ok=True)
            params = model._level(k, coc if model.needs_count_of_counts else None)
            # gamma and backoff10 of the order-(k-1) contexts
            gamma = self._per_row(k - 1, "gamma", np.float64, lambda lo, hi: model._gamma(
                k, {name: window(x, lo, hi) for name, x in agg.items()}, params))
            backoff10.append(self._backoffs(k - 1, gamma))
            # p_k = u + gamma[parent] * p_{k-1}[suffix]
            lower = arrays.gather(prob, self.chunks(self.suffix[k - 1]), m, self.folder, f"o{k}.lower",
                                  self.window, step=rows)
            prob_w = NpyWriter(self.path(k, "prob"), np.float64, m)
            logp_w = NpyWriter(self.path(k, "logp10"), np.float64, m)
            for (start, ac), (_, pc), (_, lc) in zip(self.chunks(a_k), self.chunks(self.parent[k - 1]),
                                                     self.chunks(lower)):
                ctx = RowContext(lambda name, pc=pc: gather_sorted(agg[name], pc, rows))
                p = model._u(k, ac, ctx, params) + gather_sorted(gamma, pc, rows) * lc
                prob_w.write(p)
                with np.errstate(divide="ignore"):
                    logp_w.write(np.log10(p))
            prob = prob_w.close()
            logp10.append(logp_w.close())
            for name in names:
                self.path(k, f"ctx.{name}").unlink()
            for name in ("a", "lower"):
                self.path(k, name).unlink()
            del a_k, lower, agg
            self.path(k - 1, "gamma").unlink(missing_ok=True)
            if k > 2:
                self.path(k - 1, "prob").unlink()
        model._end_fit()
        self.path(1, "cont").unlink(missing_ok=True)
        backoff10.append(np.zeros(self.m1) if n == 1 else self._zeros(n, "backoff10", np.float64))
        self.path(n, "prob").unlink(missing_ok=True)
        for k in range(2, n + 1):
            self.path(k, "suffix").unlink(missing_ok=True)
            self.path(k, "parent").unlink(missing_ok=True)
        ngrams = [self.uni.astype(np.int32)[:, None]] + [self.counts.ngrams(k) for k in range(2, n + 1)]
        model._set_tables(self.counts.vocab, ngrams, logp10, backoff10, keys=self.keys, validate=False)
        model._suffix_closed = True  # every counted n-gram's suffix is counted too
        return model

    def _continuation(self, k: int) -> np.ndarray | None:
        """(M_k,) int64 distinct left extensions of each order-k row (None at the top order)."""
        if k == self.n:
            return None
        if k >= 2:  # counted by structure()'s lookup of order k+1's suffixes
            return arrays.open_npy(self.path(k, "cont"))
        return arrays.scatter_count(self.size(k), self.chunks(self.suffix[k]), self.folder, f"o{k}.cont",
                                    self.window)

    def _per_row(self, k: int, name: str, dtype, fn) -> np.ndarray:
        """``fn(lo, hi)`` over the rows of order k, written to ``o{k}.{name}.npy`` (in memory at k = 1)."""
        m = self.size(k)
        if k == 1:
            return np.asarray(fn(0, m), dtype)
        w = NpyWriter(self.path(k, name), dtype, m)
        for lo in range(0, m, self.rows):
            w.write(fn(lo, min(lo + self.rows, m)))
        return w.close()

    def _backoffs(self, k: int, gamma: np.ndarray) -> np.ndarray:
        """log10 gamma where an order-k row has children, else 0 (as the in-memory fit)."""
        children = self.children(k)

        def backoff(lo, hi):
            b = np.zeros(hi - lo)
            ctx = window(children, lo, hi) > 0
            with np.errstate(divide="ignore"):
                b[ctx] = np.log10(window(gamma, lo, hi)[ctx])
            return b

        out = self._per_row(k, "backoff10", np.float64, backoff)
        self.path(k, "children").unlink(missing_ok=True)
        return out
