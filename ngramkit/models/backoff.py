"""Backoff n-gram models (the ARPA form) and the one fast scoring path.

Input: per order k = 1..N,

- ``ngrams[k-1]``: (M_k, k) int32 word ids, rows unique and sorted lexicographically;
- ``logp10[k-1]``: (M_k,) float64 log10 P(w_k | w_1..w_{k-1}) (NaN marks a
  context-only entry that is not itself an n-gram of the model);
- ``backoff10[k-1]``: (M_k,) float64 log10 backoff weight of the row used as a
  context (0 when it is never a context).

Output: a :class:`BackoffModel` scoring with the ARPA rule (Katz 1987; what
KenLM and SRILM do): the longest n-gram ``h' w`` present gives
``log P(w|h) = log p(h' w) + sum of the backoffs of the contexts of h longer
than h'``. Interpolated models (Kneser-Ney, Witten-Bell, ...) convert to this
form exactly: the stored p is the interpolated probability and the backoff is
the interpolation weight gamma(h).

Lookup: rows of order k are keyed ``parent * V + last`` (int64), ``parent``
being the row of the (k-1)-word prefix; keys are sorted because rows are.
The C kernel ``ngramkit._score`` walks the stream once, one hash probe per
order and token, carrying the context from token to token. Its index (built
once per model, on first use, see :func:`probe_index`) is KenLM's "probing"
layout: per order an open-addressing table whose slot holds the key, the
log10 probability and the log10 backoff, so a probe is one cache miss and
nothing else; an n-gram's id in it is its slot, and the key of an order-k
n-gram is ``id(prefix) * V + last``. Sentences are scored in interleaved
groups with the next token's slots prefetched, so misses overlap. The numpy
reference (``NGRAMKIT_IMPL=numpy``) does one ``np.searchsorted`` per order
over the whole stream. No Python loop per token either way; both give
bit-identical results.

Sentence convention: each sentence is scored as ``<s> w1 .. wn </s>``; the
context never reaches past ``<s>``. Unigram ``<s>`` is never predicted.
"""

from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

from ..errors import NgramkitError
from ..evaluate import LN10
from ..lm import LanguageModel
from ..stream import Stream
from ..vocab import BOS_ID, PAD_ID, Vocabulary


def lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Rows of ``query`` values in sorted ``keys``; -1 where absent. Both int64."""
    if keys.size == 0:
        return np.full(query.shape, -1, np.int64)
    pos = np.searchsorted(keys, query)
    np.minimum(pos, keys.size - 1, out=pos)
    return np.where(keys[pos] == query, pos, -1)


def find_rows(keys: list[np.ndarray], v: int, ids: np.ndarray) -> np.ndarray:
    """Rows of the (Q, k) n-grams ``ids`` in order k; -1 where an n-gram (or one of its prefixes) is absent."""
    ids = np.asarray(ids, np.int64)
    row = lookup(keys[0], ids[:, 0])
    for j in range(1, ids.shape[1]):
        ok = row >= 0
        q = np.where(ok, row, 0) * v + ids[:, j]
        row = np.where(ok, lookup(keys[j], q), -1)
    return row


def sentence_positions(offsets: np.ndarray, n: int) -> np.ndarray:
    """(n,) int64 position of each padded token in its sentence (``<s>`` = 0)."""
    return np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], np.diff(offsets))


def stream_rows(keys: list[np.ndarray], v: int, padded: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
    """Per order k: (P,) int64 row of the k-gram ending at each padded position, -1 if absent.

    ``padded``: (P,) ids ``<s> w1 .. </s>`` per sentence; ``pos``: (P,)
    position in the sentence. An n-gram never reaches before ``<s>``.
    """
    x = padded.astype(np.int64)
    rows = [lookup(keys[0], x)]
    for k in range(2, len(keys) + 1):
        prev = rows[-1]
        cand = np.flatnonzero(pos >= k - 1)  # the k-gram ending here stays inside the sentence
        parent = prev[cand - 1]
        keep = parent >= 0
        cand, parent = cand[keep], parent[keep]
        r = lookup(keys[k - 1], parent * v + x[cand])
        row = np.full(x.size, -1, np.int64)
        row[cand] = r
        rows.append(row)
    return rows


def backoff_score10(rows: list[np.ndarray], logp10: list[np.ndarray], backoff10: list[np.ndarray],
                    pred: np.ndarray) -> np.ndarray:
    """(len(pred),) log10 ARPA-rule probability of the tokens at padded positions ``pred``.

    ``rows`` from :func:`stream_rows`. Absent unigrams get ``-inf``.
    """
    n = len(rows)
    out = np.full(pred.size, -np.inf)
    matched = np.zeros(pred.size, np.int64)  # order of the longest n-gram found (0: none)
    for k in range(n, 0, -1):
        r = rows[k - 1][pred]
        todo = np.flatnonzero((matched == 0) & (r >= 0))
        p = logp10[k - 1][r[todo]]
        real = ~np.isnan(p)  # context-only entries are not n-grams
        todo = todo[real]
        out[todo] = p[real]
        matched[todo] = k
    ctx = pred - 1
    for j in range(1, n):
        r = rows[j - 1][ctx]  # the j-word context of each token
        add = np.flatnonzero((r >= 0) & (matched <= j) & (matched > 0))
        out[add] += backoff10[j - 1][r[add]]
    return out


_warned_missing = False


def score_kernel():
    """The compiled scorer ``ngramkit._score``, or None when ``NGRAMKIT_IMPL=numpy`` (the reference path)."""
    global _warned_missing
    want = os.environ.get("NGRAMKIT_IMPL", "auto").strip().lower() or "auto"
    if want not in ("auto", "c", "numpy"):
        raise NgramkitError(f"NGRAMKIT_IMPL must be one of auto, c, numpy, got {want!r}")
    if want == "numpy":
        return None
    try:
        return importlib.import_module("ngramkit._score")
    except ImportError as exc:
        if want == "c":
            raise NgramkitError(f"NGRAMKIT_IMPL=c but the compiled extension ngramkit._score is missing ({exc}); "
                                "reinstall with a C compiler (pip install -e .)") from None
        if not _warned_missing:
            _warned_missing = True
            warnings.warn(f"ngramkit._score (the C scoring kernel) is not built ({exc}); using the slower numpy "
                          "scorer. Reinstall with a C compiler (pip install -e .), or set NGRAMKIT_IMPL=numpy.",
                          RuntimeWarning, stacklevel=3)
        return None


def key_index(keys: list[np.ndarray], v: int, kernel) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Key -> row lookup for the count models' C path: (uni_row (V,) int32, hash table per order 2..N)."""
    uni_row = np.full(v, -1, np.int32)
    uni_row[keys[0]] = np.arange(keys[0].size, dtype=np.int32)
    return uni_row, tuple(hash_table(k, kernel) for k in keys[1:])


def hash_table(keys: np.ndarray, kernel) -> np.ndarray:
    """(2 * slots,) int64 open-addressing hash of distinct int64 ``keys`` -> row (load factor <= 0.7)."""
    slots = 1 << max(4, int(np.ceil(np.log2(keys.size / 0.7 + 1))))
    table = np.empty(2 * slots, np.int64)
    kernel.hash_build(np.ascontiguousarray(keys, np.int64), table)
    return table


PROBE_LOAD = 0.5  # filled fraction of each probing table: probes of absent keys stay short


def probe_index(keys: list[np.ndarray], logp10: list[np.ndarray], backoff10: list[np.ndarray], v: int, kernel, *,
                check_suffixes: bool = True) -> tuple[tuple[np.ndarray, ...], bool | None]:
    """The C scorer's probing index of a backoff model: (tables, suffix_closed).

    ``tables``: one int64 array per order (order 1: (3 V,), a slot per word id;
    order k: stride * n_slots, stride 3 or 2 at the top order, see
    ``score.h``): at load 0.5, 48 bytes per n-gram (32 at the top order),
    about 100 MB for a PTB 5-gram model. ``suffix_closed``: the suffix of
    every n-gram is an n-gram of the model (None unless ``check_suffixes``).
    """
    n = len(keys)
    tables = [np.empty(3 * v, np.int64)]
    for k in range(2, n + 1):
        stride = 3 if k < n else 2
        tables.append(np.empty(stride * (int(keys[k - 1].size / PROBE_LOAD) + 1), np.int64))
    c = np.ascontiguousarray
    closed = kernel.probe_build(tuple(c(k_, np.int64) for k_ in keys), tuple(c(p, np.float64) for p in logp10),
                                tuple(c(b, np.float64) for b in backoff10), v, tuple(tables), check_suffixes)
    return tuple(tables), closed


def fast_stream_rows(index, v: int, padded: np.ndarray, offsets: np.ndarray, kernel) -> list[np.ndarray]:
    """:func:`stream_rows` computed by the C kernel from a :func:`key_index`."""
    uni_row, tables = index
    order = len(tables) + 1
    rows = np.empty((order, padded.size), np.int64)
    kernel.stream_rows(np.ascontiguousarray(padded, np.int32), np.ascontiguousarray(offsets, np.int64), uni_row,
                       tables, v, rows.reshape(-1))
    return list(rows)


class BackoffModel(LanguageModel):
    """An n-gram model in backoff (ARPA) form; every smoothed model converts to it.

    Build it with :meth:`from_tables` (or :func:`ngramkit.arpa.read_arpa`).
    ``unigram ids`` absent from the tables get probability 0.
    """

    name = "backoff"

    def __init__(self, order: int):
        super().__init__(order)
        self._ngrams: list[np.ndarray] = []
        self._logp10: list[np.ndarray] = []
        self._backoff10: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._probe = None  # the C scorer's probing index (probe_index), built on first use
        self._suffix_closed: bool | None = None  # every n-gram's suffix present (checked on first use)

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def from_tables(cls, vocab: Vocabulary, ngrams, logp10, backoff10, *, keys=None) -> BackoffModel:
        """Build from per-order tables (see the module docstring); validates shapes and sort order."""
        model = cls(len(ngrams))
        model._set_tables(vocab, ngrams, logp10, backoff10, keys=keys)
        return model

    def _set_tables(self, vocab: Vocabulary, ngrams, logp10, backoff10, *, keys=None, validate=True) -> None:
        n = len(ngrams)
        self._probe = None
        self._suffix_closed = None
        if n == 0 or len(logp10) != n or len(backoff10) != n:
            raise NgramkitError("backoff tables need ngrams, logp10 and backoff10 for each order, at least one")
        v = len(vocab)
        self.order = n
        self.vocab = vocab
        self._ngrams = [np.asarray(g) for g in ngrams]
        self._logp10 = [np.asarray(p, np.float64) for p in logp10]
        self._backoff10 = [np.asarray(b, np.float64) for b in backoff10]
        for k, (g, p, b) in enumerate(zip(self._ngrams, self._logp10, self._backoff10), 1):
            if g.ndim != 2 or g.shape[1] != k or p.shape != (g.shape[0],) or b.shape != (g.shape[0],):
                raise NgramkitError(f"backoff tables of order {k}: shapes {g.shape}, {p.shape}, {b.shape} do not agree")
            if validate and g.size and (g.min() < 0 or g.max() >= v):
                raise NgramkitError(f"backoff tables of order {k}: word ids outside the vocabulary (size {v})")
        if keys is not None:
            self._keys = [np.asarray(k_, np.int64) for k_ in keys]
            return
        self._keys = [self._ngrams[0][:, 0].astype(np.int64)]
        for k in range(2, n + 1):
            g = self._ngrams[k - 1]
            parent = find_rows(self._keys, v, g[:, :-1])
            if (parent < 0).any():
                bad = g[np.flatnonzero(parent < 0)[0]]
                raise NgramkitError(
                    f"{k}-gram {' '.join(vocab.decode(bad))!r} has no {k - 1}-gram prefix in the model "
                    "(every n-gram's context must be present)"
                )
            self._keys.append(parent * v + g[:, -1])
        for k, key in enumerate(self._keys, 1):
            if key.size > 1 and not (np.diff(key) > 0).all():
                raise NgramkitError(f"backoff tables of order {k}: n-grams not unique and sorted")

    # ---- access -----------------------------------------------------------------------------
    def ngrams(self, k: int) -> np.ndarray:
        """(M_k, k) int32 n-grams of order k, sorted."""
        return self._ngrams[self._k(k)]

    def logp10(self, k: int) -> np.ndarray:
        """(M_k,) float64 log10 probabilities of order k (NaN: context-only entry)."""
        return self._logp10[self._k(k)]

    def backoff10(self, k: int) -> np.ndarray:
        """(M_k,) float64 log10 backoff weights of order k."""
        return self._backoff10[self._k(k)]

    def keys(self, k: int) -> np.ndarray:
        return self._keys[self._k(k)]

    def _k(self, k: int) -> int:
        self._check_fitted()
        if not 1 <= k <= self.order:
            raise NgramkitError(f"order {k} not in this model (orders 1..{self.order})")
        return k - 1

    def to_backoff(self) -> BackoffModel:
        self._check_fitted()
        if type(self) is BackoffModel:
            return self
        return BackoffModel.from_tables(self.vocab, self._ngrams, self._logp10, self._backoff10, keys=self._keys)

    # ---- scoring ----------------------------------------------------------------------------
    def _probe_tables(self, kernel) -> tuple[np.ndarray, ...]:
        """The probing index of the C scorer, built on first use (and ``_suffix_closed`` with it)."""
        if self._probe is None:
            check = self._suffix_closed is None  # fitted models already know (every counted suffix is counted)
            self._probe, closed = probe_index(self._keys, self._logp10, self._backoff10, len(self.vocab), kernel,
                                              check_suffixes=check)
            if check:
                self._suffix_closed = bool(closed)
        return self._probe

    def log_probs(self, stream: Stream) -> np.ndarray:
        stream = self.remap(stream)
        padded, offsets = stream.padded(BOS_ID)
        kernel = score_kernel()
        if kernel is not None:
            tables = self._probe_tables(kernel)
            out = np.empty(stream.n_tokens, np.float64)
            kernel.probe_score(np.ascontiguousarray(padded, np.int32), np.ascontiguousarray(offsets, np.int64),
                               tables, len(self.vocab), out, self._suffix_closed)
            out *= LN10
            return out
        return self._log_probs_numpy(padded, offsets)

    def _log_probs_numpy(self, padded: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The numpy reference of the C scorer: ``order`` vectorised searchsorted passes."""
        pos = sentence_positions(offsets, padded.size)
        rows = stream_rows(self._keys, len(self.vocab), padded, pos)
        pred = np.flatnonzero(pos > 0)
        return backoff_score10(rows, self._logp10, self._backoff10, pred) * LN10

    def next_log_probs(self, context_ids) -> np.ndarray:
        self._check_fitted()
        v = len(self.vocab)
        ctx = [int(i) for i in context_ids]
        if any(not 0 <= i < v for i in ctx):
            raise NgramkitError(f"context ids must be in 0..{v - 1}, got {ctx}")
        ctx = ctx[max(0, len(ctx) - (self.order - 1)):] if self.order > 1 else []
        lp = np.full(v, -np.inf)
        lp[self._ngrams[0][:, 0]] = self._logp10[0]
        for k in range(2, len(ctx) + 2):
            hist = np.asarray(ctx[len(ctx) - (k - 1):], np.int64)[None, :]
            row = int(find_rows(self._keys, v, hist)[0])
            if row < 0:
                continue  # absent context: backoff weight 1, no n-grams to overwrite
            lp += self._backoff10[k - 2][row]
            keys = self._keys[k - 1]
            lo, hi = np.searchsorted(keys, [row * v, (row + 1) * v])
            p = self._logp10[k - 1][lo:hi]
            real = ~np.isnan(p)
            lp[self._ngrams[k - 1][lo:hi, -1][real]] = p[real]
        lp[np.isnan(lp)] = -np.inf
        lp[BOS_ID] = -np.inf
        if PAD_ID < v:
            lp[PAD_ID] = -np.inf
        return lp * LN10

    # ---- state ------------------------------------------------------------------------------
    def hparams(self) -> dict:
        """Hyper-parameters (keyword arguments of the constructor), JSON-able."""
        return {}

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"class": type(self).__name__, "name": self.name, "order": self.order,
                "hparams": self.hparams(), "tables": "backoff"}
        if self._suffix_closed is not None:  # saves the check when the loaded model is first scored
            meta["suffix_closed"] = self._suffix_closed
        arrays = {}
        for k in range(1, self.order + 1):
            arrays[f"ngrams{k}"] = self._ngrams[k - 1]
            arrays[f"keys{k}"] = self._keys[k - 1]
            arrays[f"logp10_{k}"] = self._logp10[k - 1]
            arrays[f"backoff10_{k}"] = self._backoff10[k - 1]
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], vocab: Vocabulary) -> BackoffModel:
        try:
            order = int(meta["order"])
            model = cls(order, **meta.get("hparams", {}))
            tables = [[arrays[f"{name}{k}"] for k in range(1, order + 1)]
                      for name in ("ngrams", "logp10_", "backoff10_", "keys")]
        except (KeyError, TypeError, ValueError) as exc:
            raise NgramkitError(f"model state for {cls.__name__} is incomplete or invalid ({exc})") from None
        ngrams, logp10, backoff10, keys = tables
        model._set_tables(vocab, ngrams, logp10, backoff10, keys=keys, validate=False)
        if isinstance(meta.get("suffix_closed"), bool):
            model._suffix_closed = meta["suffix_closed"]
        return model
