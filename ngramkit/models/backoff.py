"""Backoff n-gram models (the ARPA form): :class:`BackoffModel`.

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

Lookup (:mod:`ngramkit.models.lookup`): rows of order k are keyed
``parent * V + last`` (int64), ``parent`` being the row of the (k-1)-word
prefix. The C kernel ``ngramkit._score`` walks the stream once, one hash
probe per order and token, carrying the context from token to token, in
KenLM's "probing" index (see :func:`~ngramkit.models.lookup.probe_index`):
stored in the model's state (arrays ``probe1 .. probeN``, so a memory-mapped
native file scores without building it), else built once, on first use. Sentences are scored in
interleaved groups with the next token's slots prefetched, so misses
overlap. The numpy reference (``NGRAMKIT_IMPL=numpy``) does one
``np.searchsorted`` per order over the whole stream. No Python loop per
token either way; both give bit-identical results.

Sentence convention: each sentence is scored as ``<s> w1 .. wn </s>``; the
context never reaches past ``<s>``. Unigram ``<s>`` is never predicted.
"""

from __future__ import annotations

import importlib

import numpy as np

from .. import native
from ..errors import NgramkitError
from ..evaluate import LN10
from ..lm import LanguageModel, generation_rng
from ..stream import Stream
from ..vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from .lookup import (PROBE_LAYOUT, find_rows, probe_index, probe_sizes, sentence_positions, state_tables,
                     stream_rows, tables_state)
from .sampling import MASK, SamplerTables, sample_ids

PROBE_PREFIX = "probe"  # the saved state's probing index: arrays probe1 .. probeN (lookup.probe_index's tables)


def compiled_kernel():
    """``ngramkit._score`` if it was built, whatever ``NGRAMKIT_IMPL`` says (what a file holds must not depend on it)."""
    try:
        return importlib.import_module("ngramkit._score")
    except ImportError:  # pragma: no cover - builds without a C compiler: files are written without the index
        return None


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
        self._sampler: SamplerTables | None = None  # sample_ids' tables, built on first use

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
        self._sampler = None
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
        """This model as a plain :class:`BackoffModel`: the same tables (shared, not copied or re-checked:
        a mapped file's pages stay untouched) and the same probing index."""
        self._check_fitted()
        if type(self) is BackoffModel:
            return self
        model = BackoffModel(self.order)
        model._set_tables(self.vocab, self._ngrams, self._logp10, self._backoff10, keys=self._keys, validate=False)
        model._probe, model._suffix_closed = self._probe, self._suffix_closed
        return model

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
        kernel = native.extension("_score")
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

    # ---- sampling ---------------------------------------------------------------------------
    def sample_ids(self, n_tokens: int | None, seed: int, *, threads: int | None = None,
                   chunk_tokens: int | None = None):
        """Yield int32 id arrays whose concatenation is ``n_tokens`` tokens sampled exactly (None: no end).

        Sentences after sentences, each ending with ``</s>`` (the last one cut
        at ``n_tokens``); sentence i depends only on (``seed``, i), not on
        ``threads`` or ``chunk_tokens``, nor on the C kernel or its numpy
        reference. Temperature 1, no prefix: :mod:`ngramkit.models.sampling`.

        >>> from ngramkit.models import KneserNey
        >>> m = KneserNey(2, discount=0.75).fit_sentences([["a", "b"], ["b", "a"]])
        >>> ids = [i for chunk in m.sample_ids(12, seed=3) for i in chunk.tolist()]
        >>> len(ids), ids == [m.vocab.id(w) for w in m.generate(12, random_seed=3)]
        (12, True)
        """
        self._check_fitted()
        if self._sampler is None:
            self._sampler = SamplerTables(self)
        kw = {} if chunk_tokens is None else {"chunk_tokens": chunk_tokens}
        return sample_ids(self._sampler, n_tokens, seed, threads=threads, **kw)

    def iter_generate(self, num_words: int | None = None, text_seed=None, random_seed=None, *,
                      temperature: float = 1.0, top_k: int | None = None, stop_at_eos: bool = False):
        """:meth:`LanguageModel.iter_generate`; at temperature 1 with no ``top_k`` and no ``text_seed``, the exact
        sampler of :meth:`sample_ids` (its tokens for an integer seed; the same distribution as the general path)."""
        fast = (temperature == 1 and top_k is None and not text_seed and not isinstance(random_seed, bool)
                and (random_seed is None or (isinstance(random_seed, (int, np.integer)) and 0 <= random_seed <= MASK)))
        if not fast:
            return super().iter_generate(num_words, text_seed, random_seed, temperature=temperature, top_k=top_k,
                                         stop_at_eos=stop_at_eos)
        self._check_fitted()
        generation_rng(num_words, temperature, top_k, None)  # the argument checks, at the call
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().entropy) & MASK
        return self._iter_sampled(num_words, int(random_seed), stop_at_eos)

    def _iter_sampled(self, num_words, seed, stop_at_eos):
        words = self.vocab.words
        for chunk in self.sample_ids(num_words, seed, threads=1 if stop_at_eos else None):
            for wid in chunk.tolist():
                yield words[wid]
                if stop_at_eos and wid == EOS_ID:
                    return

    # ---- state ------------------------------------------------------------------------------
    def hparams(self) -> dict:
        """Hyper-parameters (keyword arguments of the constructor), JSON-able."""
        return {}

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(metadata, arrays): the n-gram tables and, when the C kernel is built, the probing index
        (``probe1 .. probeN``, ``meta["probe"]`` its layout version; built here if the model has none yet)."""
        self._check_fitted()
        meta = {"class": type(self).__name__, "name": self.name, "order": self.order,
                "hparams": self.hparams(), "tables": "backoff"}
        kernel = compiled_kernel()
        index = self._probe_tables(kernel) if kernel is not None else None
        if self._suffix_closed is not None:  # saves the check when the loaded model is first scored
            meta["suffix_closed"] = self._suffix_closed
        arrays = tables_state({"ngrams": self._ngrams, "keys": self._keys, "logp10_": self._logp10,
                               "backoff10_": self._backoff10})
        if index is not None:
            meta["probe"] = {"layout": PROBE_LAYOUT}
            arrays.update({f"{PROBE_PREFIX}{k}": table for k, table in enumerate(index, 1)})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], vocab: Vocabulary) -> BackoffModel:
        try:
            order = int(meta["order"])
            model = cls(order, **meta.get("hparams", {}))
            tables = state_tables(arrays, order, ("ngrams", "logp10_", "backoff10_", "keys"))
        except (KeyError, TypeError, ValueError) as exc:
            raise NgramkitError(f"model state for {cls.__name__} is incomplete or invalid ({exc})") from None
        ngrams, logp10, backoff10, keys = tables
        model._set_tables(vocab, ngrams, logp10, backoff10, keys=keys, validate=False)
        if isinstance(meta.get("suffix_closed"), bool):
            model._suffix_closed = meta["suffix_closed"]
        model._probe = stored_index(meta, arrays, [k_.size for k_ in keys], len(vocab))
        return model


def stored_index(meta: dict, arrays: dict[str, np.ndarray], n_rows: list[int], v: int) -> tuple | None:
    """The probing index a saved state holds (``probe1 .. probeN``), or None when it holds none or one of
    another layout version (older or newer files: the index is then built on first use).

    Raises :class:`~ngramkit.errors.NgramkitError` when the arrays of this layout have the wrong dtype or
    size: the tables' geometry is all the C scorer trusts (it bounds every probe, so any content is safe).
    """
    probe = meta.get("probe")
    if not isinstance(probe, dict) or probe.get("layout") != PROBE_LAYOUT or isinstance(probe.get("layout"), bool):
        return None
    tables = []
    for k, size in enumerate(probe_sizes(n_rows, v), 1):
        name = f"{PROBE_PREFIX}{k}"
        table = arrays.get(name)
        if table is None:
            raise NgramkitError(f"array {name!r} missing")
        if table.dtype != np.dtype("<i8") or table.shape != (size,):
            raise NgramkitError(f"array {name!r} is {table.dtype.str} {table.shape}, expected <i8 ({size},) "
                                f"for {n_rows[k - 1]} n-grams")
        tables.append(table)
    return tuple(tables)
