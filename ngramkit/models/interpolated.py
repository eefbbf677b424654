"""Interpolated smoothing, estimated once at fit time and stored in backoff (ARPA) form.

Input: :class:`~ngramkit.counts.NGramCounts` of orders >= N. Output: a
:class:`~ngramkit.models.backoff.BackoffModel` whose tables hold, for every
counted n-gram, the interpolated probability

    p_k(w | c) = u_k(c w) + gamma_{k-1}(c) * p_{k-1}(w | c')        (c' = c minus its first word)
    p_1(w)     = u_1(w)   + gamma_0 / |V|                           (uniform floor)

and, for every context c, the backoff weight gamma(c). Each smoothing method
supplies only ``u`` and ``gamma`` (nltk.lm's ``alpha_gamma``), order by order,
from the counts of the order's rows and integer aggregates of each context
(:func:`context_aggregates`: sum, n1, n2, n3+, types), computed for all rows
of an order at once with numpy (``bincount`` over parent rows); nothing is
rescanned per query. The same method code runs in memory
(:meth:`InterpolatedModel._estimate` on :class:`CountTables`) and chunk by
chunk in a fixed memory budget (``fit(counts, memory=..., workdir=...)``,
:mod:`ngramkit.outofcore.estimate`), with bit-identical results.

``fit(counts, prune=..., limit_vocab=...)`` drops n-grams as KenLM ``lmplz
--prune`` / ``--limit_vocab_file`` do (:func:`kept_rows`): the estimate runs
on all the counts, then each dropped row's mass u moves to its context's
gamma (:func:`move_pruned_mass`) and the tables keep the other rows (in
memory only).

|V| is the number of predictable tokens: every vocabulary word (``<unk>``
included) and ``</s>``, but not ``<s>`` or ``<pad>``. The unigram table holds
every vocabulary id except ``<pad>`` -- unseen words included, so every
distribution sums to 1 over the vocabulary; ``<s>``'s unigram is a
context-only entry (probability stored as NaN, never predicted).
"""

from __future__ import annotations

import numpy as np

from .. import limitvocab, native
from ..counts import NGramCounts, count_of_counts
from ..errors import NgramkitError, ParameterError
from ..vocab import BOS_ID, PAD_ID
from .backoff import BackoffModel
from .lookup import hash_table, lookup


def unigram_rows(counts: NGramCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order 1 of the estimate: every vocabulary id but ``<pad>`` (counted or not).

    Returns ``uni`` (M_1,) int64 sorted ids, ``seen_row`` (counts' order-1
    rows,) int64 their rows in ``uni``, ``raw1`` (M_1,) int64 counts (0 if unseen).
    """
    uni = np.setdiff1d(np.arange(len(counts.vocab), dtype=np.int64), [PAD_ID])  # (M_1,) sorted ids
    seen = np.asarray(counts.ngrams(1)[:, 0], np.int64)
    seen_row = np.searchsorted(uni, seen)  # counts' order-1 row -> our row
    if seen.size and (uni[np.minimum(seen_row, uni.size - 1)] != seen).any():
        raise NgramkitError("counts hold <pad>, which is never a word of the text")
    raw1 = np.zeros(uni.size, np.int64)
    raw1[seen_row] = counts.counts(1)
    return uni, seen_row, raw1


class CountTables:
    """Count tables of orders 1..N re-indexed for estimation (computed once per fit).

    Per order k (lists indexed k-1): ``ngrams`` (M_k, k) int32, ``raw``
    (M_k,) int64 counts, ``parent`` (M_k,) int64 row of the prefix in order
    k-1, ``suffix`` (M_k,) int64 row of the n-gram minus its first word in
    order k-1, ``keys`` (M_k,) int64 sorted ``parent * V + last``,
    ``n_children`` (M_k,) int64 distinct continuations in order k+1.
    Order 1 covers every vocabulary id except ``<pad>`` (count 0 if unseen).
    """

    def __init__(self, counts: NGramCounts, order: int):
        vocab = counts.vocab
        v = len(vocab)
        self.v = v
        self.order = order
        uni, seen_row, raw1 = unigram_rows(counts)
        self.ngrams = [uni.astype(np.int32)[:, None]]
        self.raw = [raw1]
        self.parent = [np.zeros(uni.size, np.int64)]
        self.suffix = [np.zeros(uni.size, np.int64)]
        self.keys = [uni]
        self.bos_row = int(np.searchsorted(uni, BOS_ID))
        # With the C kernel, suffix rows come from hash tables that scoring reuses (self.index).
        kernel = native.extension("_score")
        tables = []
        for k in range(2, order + 1):
            g = counts.ngrams(k)
            parent = counts.parent(k).astype(np.int64)
            if k == 2:
                parent = seen_row[parent]
            last = g[:, -1].astype(np.int64)
            keys = parent * v + last
            if k == 2:
                suffix = np.searchsorted(uni, last)
            elif kernel is not None:
                suffix = np.empty(keys.size, np.int64)
                kernel.hash_find(tables[-1], self.suffix[k - 2][parent] * v + last, suffix)
            else:
                suffix = lookup(self.keys[k - 2], self.suffix[k - 2][parent] * v + last)
            if kernel is not None:
                tables.append(hash_table(keys, kernel))
            self.ngrams.append(g)
            self.raw.append(counts.counts(k).astype(np.int64))
            self.parent.append(parent)
            self.suffix.append(suffix)
            self.keys.append(keys)
        self.index = None
        if kernel is not None:
            uni_row = np.full(v, -1, np.int32)
            uni_row[uni] = np.arange(uni.size, dtype=np.int32)
            self.index = (uni_row, tuple(tables))
        self.n_children = [np.bincount(self.parent[k], minlength=self.raw[k - 1].size).astype(np.int64)
                           for k in range(1, order)] + [np.zeros(self.raw[-1].size, np.int64)]
        self.n_predictable = uni.size - 1  # |V|: all ids but <s> and <pad>

    def size(self, k: int) -> int:
        return int(self.raw[k - 1].size)

    def starts_with_bos(self, k: int) -> np.ndarray:
        return self.ngrams[k - 1][:, 0] == BOS_ID

    def continuation(self, k: int) -> np.ndarray:
        """(M_k,) int64 N1+(. w_1..w_k): distinct left extensions in order k+1 (k < N)."""
        return np.bincount(self.suffix[k], minlength=self.size(k)).astype(np.int64)

    def kenlm_adjusted(self, k: int) -> np.ndarray:
        """KenLM's adjusted counts: raw at the top order and for n-grams starting with ``<s>``, else continuation."""
        if k == self.order:
            return self.raw[k - 1]
        return np.where(self.starts_with_bos(k), self.raw[k - 1], self.continuation(k))

    def counts_for(self, k: int, adjusted: bool) -> np.ndarray:
        """(M_k,) int64 counts a method estimates order k from: raw or KenLM-adjusted, ``<s>`` zeroed at k = 1."""
        return self.predictable(k, self.kenlm_adjusted(k) if adjusted else self.raw[k - 1])

    def predictable(self, k: int, a: np.ndarray) -> np.ndarray:
        """``a`` with the ``<s>`` unigram zeroed (it is context only) when k == 1."""
        if k == 1:
            a = a.copy()
            a[self.bos_row] = 0
        return a

    def context_sum(self, k: int, values: np.ndarray) -> np.ndarray:
        """(M_{k-1},) sum of ``values`` (M_k,) over the children of every order-(k-1) row."""
        return np.bincount(self.parent[k - 1], weights=values, minlength=self.size(k - 1))

    def context_count(self, k: int, mask: np.ndarray) -> np.ndarray:
        """(M_{k-1},) number of children with ``mask`` true, per order-(k-1) row."""
        return np.bincount(self.parent[k - 1][mask], minlength=self.size(k - 1)).astype(np.float64)


def _safe_div(num, den):
    """num / den with 0/0 -> 0 and no numpy warnings."""
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


CONTEXT_AGGREGATES = ("total", "n1", "n2", "n3p", "types")


def context_aggregates(a: np.ndarray, parent: np.ndarray, n_contexts: int, names) -> dict[str, np.ndarray]:
    """Per context row, (n_contexts,) float64 sums over its children (rows with that ``parent``) of counts ``a``.

    ``total``: sum of ``a``; ``n1``, ``n2``, ``n3p``: number of children with
    a == 1, a == 2, a >= 3; ``types``: number with a > 0. Every one is a sum
    of integers (exact in float64 below 2**53), so sums over any split of the
    rows into chunks give the same bits: the out-of-core estimator relies on it.
    """
    out = {}
    for name in names:
        if name == "total":
            out[name] = np.bincount(parent, weights=a.astype(np.float64), minlength=n_contexts)
            continue
        mask = {"n1": lambda: a == 1, "n2": lambda: a == 2, "n3p": lambda: a >= 3, "types": lambda: a > 0}[name]()
        out[name] = np.bincount(parent[mask], minlength=n_contexts).astype(np.float64)
    return out


class RowContext:
    """The aggregates of each row's context, gathered on first use: ``ctx["total"]`` -> (m,) float64."""

    def __init__(self, gather):
        self._gather = gather
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._gather(name)
        return self._cache[name]


class InterpolatedModel(BackoffModel):
    """Base of the interpolated models: a method supplies u and gamma, order by order.

    Per order k = 1..N, from the counts ``a`` (M_k,) int64 of the order
    (raw, or KenLM's adjusted counts when ``adjusted``; ``<s>`` zeroed at
    k = 1) and the aggregates of :func:`context_aggregates` listed in
    ``aggregates`` (the single empty context at k = 1):

    - :meth:`_level` (k, count-of-counts n1..n4 of a > 0 if
      ``needs_count_of_counts``) -> the order's parameters (discounts...);
    - :meth:`_gamma` (k, aggregates of the order-(k-1) contexts, params) ->
      gamma of those contexts (k = 1: (1,) gamma_0 of the uniform floor);
    - :meth:`_u` (k, a, ``ctx``: the aggregates of each row's context, params) -> u.

    Both estimators run exactly this code: :meth:`_estimate` in memory
    (:class:`CountTables`) and :mod:`ngramkit.outofcore.estimate` chunk by
    chunk, so a method written once works in a fixed memory budget too.
    """

    adjusted = False  # estimate lower orders from KenLM's adjusted (continuation) counts
    aggregates: tuple[str, ...] = ("total",)  # context aggregates _u and _gamma read
    needs_count_of_counts = False  # _level gets the order's count-of-counts (else None)

    def __init__(self, order: int):
        super().__init__(order)
        self.fitted_: dict = {}  # statistics estimated at fit time (discounts...), saved with the model

    # ---- what a method supplies ---------------------------------------------------------------
    def _begin_fit(self) -> None:
        """Reset what :meth:`_level` records in ``fitted_``."""

    def _end_fit(self) -> None:
        """Called after the last order."""

    def _level(self, k: int, coc: np.ndarray | None):
        """Parameters of order k (passed to :meth:`_u` and :meth:`_gamma`)."""
        return None

    def _u(self, k: int, a: np.ndarray, ctx: RowContext, params) -> np.ndarray:
        """(M_k,) float64 discounted probability mass of each row."""
        raise NotImplementedError

    def _gamma(self, k: int, agg: dict[str, np.ndarray], params) -> np.ndarray:
        """(M_{k-1},) float64 interpolation weight of each order-(k-1) context (k = 1: (1,) gamma_0)."""
        raise NotImplementedError

    # ---- estimation ---------------------------------------------------------------------------
    def _estimate(self, tab: CountTables) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """(u, gamma, gamma0): u[k-1] (M_k,) and gamma[k-1] (M_k,) (weight of row as context), gamma_0."""
        self._begin_fit()
        u, gamma = [], []
        for k in range(1, self.order + 1):
            a = tab.counts_for(k, self.adjusted)
            coc = count_of_counts(a[a > 0]) if self.needs_count_of_counts else None
            params = self._level(k, coc)
            parent = tab.parent[k - 1]
            agg = context_aggregates(a, parent, tab.size(k - 1) if k > 1 else 1, self.aggregates)
            gamma.append(self._gamma(k, agg, params))
            u.append(self._u(k, a, RowContext(lambda name: agg[name][parent]), params))
        self._end_fit()
        gamma0 = float(gamma[0][0])
        return u, gamma[1:] + [np.zeros(tab.size(self.order))], gamma0

    def fit(self, counts: NGramCounts, memory: int | None = None, workdir=None, *, prune=None,
            limit_vocab=None) -> InterpolatedModel:
        """Estimate from ``counts``; with ``memory`` (bytes), in that budget.

        When the in-memory estimate would not fit ``memory`` (see
        :func:`ngramkit.outofcore.estimate.needs_out_of_core`), or, without
        pruning, when the tables are large enough for the chunked estimate to
        be the faster one (:func:`~ngramkit.outofcore.estimate.faster_in_chunks`,
        above 4M n-grams), the model is estimated chunk by chunk in ``workdir`` (a folder the caller owns and
        removes after the model is written; None: a temporary folder removed
        when the model is garbage-collected) and its tables are memory-mapped
        ``.npy`` files there. The result is the same either way, bit for bit.

        ``prune``: count pruning as KenLM ``lmplz --prune`` (see :func:`prune_thresholds`): one threshold per
        order (the last repeats for higher orders), non-decreasing; n-grams whose raw count is at most their
        order's threshold are dropped. ``limit_vocab``: as ``lmplz --limit_vocab_file``, a vocabulary file's
        path or an iterable of words; n-grams holding another word (but ``<unk>``, ``<s>``, ``</s>``) are
        dropped and so are those words. Either way the estimate is lmplz's (:func:`kept_rows`,
        :func:`move_pruned_mass`); both are refused when the estimate would run out of core.
        """
        self._check_counts(counts)
        thresholds = prune_thresholds(prune, self.order)
        allowed = None if limit_vocab is None else limitvocab.allowed_mask(counts.vocab, limit_vocab)
        pruning = thresholds is not None or allowed is not None
        if memory is not None:
            from ..outofcore import estimate  # noqa: PLC0415 (outofcore imports this module)

            if estimate.needs_out_of_core(counts, self.order, memory):
                if pruning:
                    raise ParameterError("prune" if thresholds is not None else "limit_vocab",
                                         "is not supported when the estimate runs out of core (in blocks); "
                                         "give a larger memory budget (--memory)")
                return estimate.fit_out_of_core(self, counts, memory, workdir)
            if not pruning and estimate.faster_in_chunks(counts, self.order):
                return estimate.fit_out_of_core(self, counts, memory, workdir)
        tab = CountTables(counts, self.order)
        u, gamma, gamma0 = self._estimate(tab)
        for key in ("prune", "limit_vocab"):  # recorded below for a pruned fit only (a refit must not keep them)
            self.fitted_.pop(key, None)
        keep = None
        if pruning:
            keep = kept_rows(tab, thresholds, allowed)
            gamma0 = move_pruned_mass(tab, u, gamma, gamma0, keep)
        ln = self.order
        prob = []
        # |V| of the floor: the kept unigrams but <s> (lmplz's Interpolate gets the pruned unigram count)
        n_predictable = tab.n_predictable if keep is None else int(keep[0].sum()) - 1
        p = u[0] + gamma0 / n_predictable  # (M_1,)
        p[tab.bos_row] = np.nan  # <s>: context only
        prob.append(p)
        for k in range(2, ln + 1):
            p = u[k - 1] + gamma[k - 2][tab.parent[k - 1]] * prob[k - 2][tab.suffix[k - 1]]
            prob.append(p)
        with np.errstate(divide="ignore"):
            logp10 = [np.log10(p) for p in prob]
            backoff10 = []
            for k in range(1, ln + 1):
                b = np.zeros(tab.size(k))
                if k < ln:
                    ctx = (tab.n_children[k - 1] if keep is None else
                           np.bincount(tab.parent[k][keep[k]], minlength=tab.size(k))) > 0
                    b[ctx] = np.log10(gamma[k - 1][ctx])
                backoff10.append(b)
        if keep is None:
            self._set_tables(counts.vocab, tab.ngrams, logp10, backoff10, keys=tab.keys, validate=False)
        else:
            uni_ids = tab.ngrams[0][:, 0]
            vocab_keep = np.zeros(len(counts.vocab), bool)
            vocab_keep[uni_ids[keep[0]]] = True
            vocab, old_to_new = limitvocab.shrink_vocab(counts.vocab, vocab_keep)
            tables = limitvocab.subset_tables(tab.ngrams, logp10, backoff10, tab.keys, keep, old_to_new,
                                              tab.v, len(vocab))
            self._set_tables(vocab, *tables[:3], keys=tables[3], validate=False)
            self.fitted_["prune"] = None if thresholds is None else list(thresholds)
            self.fitted_["limit_vocab"] = allowed is not None
        self._suffix_closed = True  # every counted n-gram's suffix is counted too (and kept, when pruning)
        return self

    def get_state(self):
        meta, arrays = super().get_state()
        meta["fitted"] = self.fitted_
        return meta, arrays

    @classmethod
    def from_state(cls, meta, arrays, vocab):
        model = super().from_state(meta, arrays, vocab)
        model.fitted_ = dict(meta.get("fitted", {}))
        return model


# ---- count pruning and vocabulary limits (KenLM lmplz --prune, --limit_vocab_file) -------------

def prune_thresholds(prune, order: int) -> list[int] | None:
    """lmplz's ``--prune`` thresholds for orders 1..``order``: None (no pruning) or one int >= 0 per order.

    ``prune``: None, one integer (every order from 2 up), or a sequence of up to ``order`` integers, one per
    order from 1, non-decreasing, the last repeating for the higher orders (KenLM lmplz_main.cc
    ``ParsePruning``: "the sequence of values must be non-decreasing and the last value applies to any
    remaining orders"). All zeros means no pruning. A bad value is a :class:`ParameterError` (``prune``).

    >>> prune_thresholds([0, 1], 4)
    [0, 1, 1, 1]
    >>> prune_thresholds(1, 3)
    [0, 1, 1]
    """
    if prune is None:
        return None
    if isinstance(prune, (int, np.integer)) and not isinstance(prune, bool):
        values = [0] + [prune] * (order - 1)
    elif isinstance(prune, (list, tuple, np.ndarray)):
        values = list(prune)
    else:
        raise ParameterError("prune", f"must be one threshold per order (a list of integers), got {prune!r}")
    if not values:
        raise ParameterError("prune", "needs at least one threshold (one per order, from the unigrams)")
    if len(values) > order:
        raise ParameterError("prune", f"gives {len(values)} thresholds but the model has order {order} "
                                      "(one per order, from the unigrams)")
    for x in values:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
            raise ParameterError("prune", f"thresholds must be integers >= 0, got {x!r}")
    values = [int(x) for x in values]
    if any(b < a for a, b in zip(values, values[1:])):
        raise ParameterError("prune", f"thresholds must be non-decreasing (as lmplz requires: otherwise an "
                                      f"n-gram's prefix could go while it stays), got {' '.join(map(str, values))}")
    values += [values[-1]] * (order - len(values))
    return values if any(values) else None


def kept_rows(tab: CountTables, thresholds: list[int] | None, allowed: np.ndarray | None) -> list[np.ndarray]:
    """Per order k: (M_k,) bool, the rows lmplz keeps (KenLM lm/builder/adjust_counts.cc, ``AdjustCounts::Run``).

    An n-gram is pruned when its RAW count is at most its order's threshold (``actual_counts`` there: lmplz
    marks lower orders by their actual counts and the top order by its counts, never by the adjusted
    counts), or when it holds a word outside ``allowed`` ((V,) bool). ``<unk>``, ``<s>`` and ``</s>`` are
    never pruned as unigrams. With non-decreasing thresholds an n-gram's prefix and suffix have at least its
    count (and its words), so every kept row's prefix and suffix are kept.
    """
    keep = []
    for k in range(1, tab.order + 1):
        kp = np.ones(tab.size(k), bool)
        if thresholds is not None and thresholds[k - 1] > 0:
            kp &= tab.raw[k - 1] > thresholds[k - 1]
        if allowed is not None:
            kp &= allowed[tab.ngrams[k - 1]].all(axis=1)
        if k == 1:
            kp[np.isin(tab.ngrams[0][:, 0], limitvocab.ALWAYS_KEPT)] = True
        keep.append(kp)
    return keep


def move_pruned_mass(tab: CountTables, u: list[np.ndarray], gamma: list[np.ndarray], gamma0: float,
                     keep: list[np.ndarray]) -> float:
    """Give each pruned row's mass u to its context's interpolation weight (in place); returns the new gamma_0.

    lmplz's ``AddRight`` (lm/builder/initial_probabilities.cc) computes, per context, gamma =
    (D1 n1 + D2 n2 + D3+ n3+ over the KEPT children + the adjusted counts of the pruned children) / (the sum
    of the adjusted counts of ALL children), and the kept rows keep u = (a - D(a)) / that same sum; the
    discounts come from the count-of-counts of all rows (``StatCollector::Add`` counts pruned rows too).
    That is gamma plus the pruned children's u, which keeps every distribution summing to 1 for any
    interpolated method; the uniform floor then spreads gamma_0 over the kept unigrams only (lmplz's
    ``InterpolateProbabilities`` is given the pruned counts, lm/builder/pipeline.cc).
    """
    for k in range(2, tab.order + 1):
        gone = ~keep[k - 1]
        gamma[k - 2] += np.bincount(tab.parent[k - 1][gone], weights=u[k - 1][gone], minlength=tab.size(k - 1))
    return gamma0 + float(u[0][~keep[0]].sum())


# ---- discounts ---------------------------------------------------------------------------------

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM lmplz's --discount_fallback default (D1, D2, D3+)


def _triple(d) -> str:
    return ", ".join(f"{float(x):g}" for x in d)


def fallback_note(orders, discounts=FALLBACK_DISCOUNTS) -> str:
    """The one sentence every output uses to say modified Kneser-Ney fell back; "" when ``orders`` is empty.

    >>> fallback_note([4, 5])
    "modified Kneser-Ney discounts of orders 4, 5 undefined on this data (degenerate count-of-counts); used KenLM lmplz --discount_fallback's D1, D2, D3+ = 0.5, 1, 1.5 there"
    """
    orders = [int(k) for k in orders]
    if not orders:
        return ""
    which = f"order{'s' if len(orders) > 1 else ''} {', '.join(map(str, orders))}"
    source = ("KenLM lmplz --discount_fallback's" if tuple(map(float, discounts)) == FALLBACK_DISCOUNTS
              else "the fallback")
    return (f"modified Kneser-Ney discounts of {which} undefined on this data (degenerate count-of-counts); "
            f"used {source} D1, D2, D3+ = {_triple(discounts)} there")


def chen_goodman(t: np.ndarray) -> tuple[tuple[float, float, float] | None, str]:
    """Chen & Goodman (1998, eq. 26): D_i = i - (i+1) Y t_{i+1} / t_i, Y = t_1 / (t_1 + 2 t_2).

    ``t``: count-of-counts n1..n4 of one order's (adjusted) counts. Returns
    ``(discounts, "")``, or ``(None, why)`` when the estimate is invalid: a
    zero among n1..n3 (division by zero), or some D_i outside (0, i] --
    KenLM's ``adjust_counts`` rejects the same cases (it accepts D_i = 0).
    """
    t1, t2, t3, t4 = (int(x) for x in t[:4])
    if min(t1, t2, t3) == 0:
        return None, "a zero among n1..n3 makes the discounts undefined"
    y = t1 / (t1 + 2 * t2)
    d = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    for i, di in enumerate(d, 1):
        if not (np.isfinite(di) and 0 < di <= i):
            return None, f"discount D{i if i < 3 else '3+'} = {di:.4g} is outside (0, {i}]"
    return d, ""


def modified_discounts(t: np.ndarray, k: int) -> tuple[float, float, float]:
    """:func:`chen_goodman` for order ``k``, raising :class:`NgramkitError` (with the fix) when invalid."""
    d, why = chen_goodman(t)
    if d is None:
        raise NgramkitError(_bad_discounts_message(t, k, why))
    return d


def _bad_discounts_message(t: np.ndarray, k: int, why: str) -> str:
    t1, t2, t3, t4 = (int(x) for x in t[:4])
    return (f"modified Kneser-Ney: order {k} has count-of-counts n1..n4 = {t1}, {t2}, {t3}, {t4} "
            f"(of its adjusted counts), so {why}; pass discount_fallback=True (CLI: drop "
            f"--no-discount-fallback) to use KenLM lmplz's fallback D1, D2, D3+ = "
            f"{_triple(FALLBACK_DISCOUNTS)} on such orders, "
            f"or pass discounts=... explicitly (CLI: --discount D1,D2,D3+), or use more text")


def single_discount(t: np.ndarray, k: int) -> float:
    """Ney et al. (1994): D = n1 / (n1 + 2 n2)."""
    t1, t2 = int(t[0]), int(t[1])
    if t1 == 0:
        raise NgramkitError(
            f"Kneser-Ney: order {k} has no n-gram seen once (n1 = 0, n2 = {t2}), so the discount "
            "n1/(n1 + 2 n2) is 0; pass discount=... explicitly (CLI: --discount) or use more text"
        )
    return t1 / (t1 + 2 * t2)


def _check_nonneg(d, name: str, hi: float = float("inf"), item: str = "") -> float:
    """``d`` as a float if it is a finite number in [0, hi]; else a :class:`ParameterError` naming ``name``.

    ``item`` names the element of a sequence parameter (``"D2 "``) in the message.
    """
    if isinstance(d, bool) or not isinstance(d, (int, float, np.floating, np.integer)) or not np.isfinite(d):
        raise ParameterError(name, f"{item}must be a finite number, got {d!r}")
    if not 0 <= d <= hi:
        raise ParameterError(name, f"{item}must be in [0, {hi:g}], got {d}" if np.isfinite(hi)
                             else f"{item}must be >= 0, got {d}")
    return float(d)


def _per_order(value, order: int, name: str, hi: float) -> list[float] | None:
    """None, one number for every order, or a sequence of one number per order."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != order:
            raise ParameterError(name, f"needs one value per order (1..{order}), got {len(value)}")
        return [_check_nonneg(x, name, hi) for x in value]
    return [_check_nonneg(value, name, hi)] * order


# ---- the discounting family ------------------------------------------------------------------

class _DiscountModel(InterpolatedModel):
    """Shared machinery: counts per order (raw or adjusted) and three discounts per order.

    u = max(a - D(a), 0) / c(ctx), gamma = (D1 n1 + D2 n2 + D3+ n3+)(ctx) / c(ctx),
    with D(a) = (D1, D2, D3+)[min(a, 3) - 1] (Chen & Goodman 1998, eq. 17-19).
    """

    adjusted = True  # use KenLM's adjusted (continuation) counts below the top order
    aggregates = ("total", "n1", "n2", "n3p")
    needs_count_of_counts = True

    def _discounts(self, k: int, t: np.ndarray) -> tuple[float, float, float]:
        raise NotImplementedError

    def _begin_fit(self):
        self.fitted_ = {"discounts": [], "count_of_counts": []}

    def _level(self, k, coc):
        self.fitted_["count_of_counts"].append(coc.tolist())
        d3 = self._discounts(k, coc)
        self.fitted_["discounts"].append(list(d3))
        return d3

    def _gamma(self, k, agg, d3):
        total = agg["total"]
        if k == 1 and total[0] <= 0:
            raise NgramkitError("cannot fit: no word was counted")
        hold = d3[0] * agg["n1"] + d3[1] * agg["n2"] + d3[2] * agg["n3p"]
        return _safe_div(hold, total)

    def _u(self, k, a, ctx, d3):
        dvec = np.array([0.0, d3[0], d3[1], d3[2]])
        num = np.maximum(a - dvec[np.minimum(a, 3)], 0.0)
        return num / ctx["total"]


class ModifiedKneserNey(_DiscountModel):
    """Interpolated modified Kneser-Ney (Chen & Goodman 1998), exactly KenLM ``lmplz``'s estimator.

    Three discounts per order (D1, D2, D3+), by default estimated from the
    count-of-counts of the adjusted counts of that order; lower orders use
    adjusted counts (distinct left extensions, except n-grams starting with
    ``<s>``, which keep their raw counts); unigrams are interpolated with the
    uniform distribution, which is where ``<unk>`` and unseen words get
    their probability.

    ``discounts``: None (estimate), or one (D1, D2, D3+) triple per order (a
    single triple is used for every order).

    ``discount_fallback``: what to do when an order's estimate is invalid
    (a zero among n1..n3, or a discount out of range: tiny or artificial
    data, typically the top orders). False (default): raise an error naming
    the order, its count-of-counts and the fix. True: use KenLM ``lmplz
    --discount_fallback``'s D1, D2, D3+ = 0.5, 1, 1.5 on those orders only
    (the others keep their estimates); a (D1, D2, D3+) triple: use those
    instead. After :meth:`fit`, ``fallback_orders_`` lists the orders that
    fell back (also in ``fitted_["fallback_orders"]``, saved with the model)
    and ``fallback_note_`` says so in the words ``ngramkit train ngram`` and
    ``ngramkit compare`` print. (Those commands fall back by default, the
    library refuses by default: a library caller gets lmplz's behaviour.)

    >>> from ngramkit import NGramCounts
    >>> counts = NGramCounts.from_sentences([["a", "b"], ["a", "c"]], 2)
    >>> model = ModifiedKneserNey(2, discount_fallback=True).fit(counts)
    >>> model.fallback_orders_
    [1, 2]
    >>> model.fallback_note_
    "modified Kneser-Ney discounts of orders 1, 2 undefined on this data (degenerate count-of-counts); used KenLM lmplz --discount_fallback's D1, D2, D3+ = 0.5, 1, 1.5 there"
    """

    name = "mkn"

    def __init__(self, order: int, *, discounts=None, discount_fallback=False):
        super().__init__(order)
        self.discounts = self._check_discounts(discounts)
        self.discount_fallback = self._check_fallback(discount_fallback)
        if self.discounts is not None and self.discount_fallback is not None:
            raise NgramkitError("discount_fallback has no effect when discounts= fixes every order's discounts; "
                                "pass only one of them")
        self._fell_back: list[int] = []

    def _check_discounts(self, discounts):
        if discounts is None:
            return None
        arr = np.asarray(discounts, dtype=object)
        if arr.ndim == 1 and len(arr) == 3:
            discounts = [tuple(discounts)] * self.order
        elif arr.ndim == 2 and arr.shape == (self.order, 3):
            discounts = [tuple(row) for row in discounts]
        else:
            raise ParameterError("discounts", f"must be one (D1, D2, D3+) triple or {self.order} triples "
                                              "(one per order)")
        return [tuple(_check_nonneg(x, "discounts", i + 1, f"D{i + 1} ") for i, x in enumerate(row))
                for row in discounts]

    @staticmethod
    def _check_fallback(value):
        """None (off) or the (D1, D2, D3+) fallback triple."""
        if value is None or value is False:
            return None
        if value is True:
            return FALLBACK_DISCOUNTS
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 3:
            return tuple(_check_nonneg(x, "discount_fallback", i + 1, f"D{i + 1} ") for i, x in enumerate(value))
        raise ParameterError("discount_fallback", f"must be False, True (D1, D2, D3+ = {_triple(FALLBACK_DISCOUNTS)}) "
                                                  f"or a (D1, D2, D3+) triple, got {value!r}")

    def hparams(self):
        return {"discounts": None if self.discounts is None else [list(d) for d in self.discounts],
                "discount_fallback": False if self.discount_fallback is None else list(self.discount_fallback)}

    @property
    def fallback_orders_(self) -> list[int]:
        """Orders (1..N) whose estimated discounts were invalid and replaced by the fallback ones."""
        return [int(k) for k in self.fitted_.get("fallback_orders", [])]

    @property
    def fallback_note_(self) -> str:
        """After :meth:`fit`: which orders fell back and the discounts used there (:func:`fallback_note`);
        "" when every order was estimated."""
        return fallback_note(self.fallback_orders_, self.discount_fallback or FALLBACK_DISCOUNTS)

    def _discounts(self, k, t):
        if self.discounts is not None:
            return self.discounts[k - 1]
        d, why = chen_goodman(t)
        if d is not None:
            return d
        if self.discount_fallback is None:
            raise NgramkitError(_bad_discounts_message(t, k, why))
        self._fell_back.append(k)
        return self.discount_fallback

    def _begin_fit(self):
        super()._begin_fit()
        self._fell_back = []

    def _end_fit(self):
        self.fitted_["fallback_orders"] = list(self._fell_back)


class KneserNey(_DiscountModel):
    """Interpolated Kneser-Ney with one discount per order (Kneser & Ney 1995; Chen & Goodman's "interpolated KN").

    Same counts as :class:`ModifiedKneserNey` (adjusted continuation counts,
    uniform floor); ``discount``: None (estimate D = n1 / (n1 + 2 n2) per
    order from the adjusted count-of-counts), one number for all orders, or
    one per order.
    """

    name = "kn"

    def __init__(self, order: int, *, discount=None):
        super().__init__(order)
        self.discount = _per_order(discount, order, "discount", 1.0)

    def hparams(self):
        return {"discount": self.discount}

    def _discounts(self, k, t):
        d = self.discount[k - 1] if self.discount is not None else single_discount(t, k)
        return (d, d, d)


class AbsoluteDiscounting(_DiscountModel):
    """Interpolated absolute discounting (Ney et al. 1994) on raw counts, uniform floor.

    p(w|c) = max(c(cw) - D, 0) / c(c) + D N1+(c .) / c(c) p(w|c').
    ``discount``: one number for every order (default 0.75) or one per order.
    """

    name = "absolute"
    adjusted = False

    def __init__(self, order: int, *, discount=0.75):
        super().__init__(order)
        self.discount = _per_order(discount, order, "discount", 1.0)

    def hparams(self):
        return {"discount": self.discount}

    def _discounts(self, k, t):
        d = self.discount[k - 1]
        return (d, d, d)


class WittenBell(InterpolatedModel):
    """Interpolated Witten-Bell (Witten & Bell 1991; nltk.lm's ``WittenBellInterpolated``), uniform floor.

    p(w|c) = (c(cw) + T(c) p(w|c')) / (c(c) + T(c)), T(c) = distinct words after c;
    the unigram level is (c(w) + T / |V|) / (N + T) (nltk stops at the plain MLE unigram).
    """

    name = "witten-bell"

    def __init__(self, order: int):
        super().__init__(order)

    aggregates = ("total", "types")

    def _gamma(self, k, agg, params):
        s, t = agg["total"], agg["types"]
        if k == 1:
            return t / (s + t)
        return _safe_div(t, s + t)

    def _u(self, k, a, ctx, params):
        return a.astype(np.float64) / (ctx["total"] + ctx["types"])


class Additive(InterpolatedModel):
    """The interpolated additive estimator of *Dive into Deep Learning* (sec. 9.3).

    P(x) = (n(x) + e1 / m) / (n + e1); P(x'|x) = (n(x, x') + e2 P(x')) / (n(x) + e2);
    and so on with e3, ... for higher orders (m = |V|, n = predicted tokens,
    n(x) = occurrences of x as a context). ``epsilons``: one value per order, >= 0
    (a single number is used for every order); all must be > 0 for unseen events to be possible.
    """

    name = "additive"

    def __init__(self, order: int, *, epsilons=1.0):
        super().__init__(order)
        if isinstance(epsilons, (list, tuple, np.ndarray)):
            if len(epsilons) != order:
                raise ParameterError("epsilons", f"needs one value per order (1..{order}), got {len(epsilons)}")
            eps = list(epsilons)
        else:
            eps = [epsilons] * order
        self.epsilons = [_check_nonneg(e, "epsilons") for e in eps]

    def hparams(self):
        return {"epsilons": self.epsilons}

    def _gamma(self, k, agg, params):
        e, s = self.epsilons[k - 1], agg["total"]
        if k == 1:
            return e / (s + e)
        return np.where(s + e > 0, _safe_div(e, s + e), 1.0)

    def _u(self, k, a, ctx, params):
        e, s = self.epsilons[k - 1], ctx["total"]
        if k == 1:
            return a.astype(np.float64) / (s + e)
        return _safe_div(a.astype(np.float64), s + e)
