"""Entropy pruning of backoff n-gram models (Stolcke 1998), as SRILM's ``ngram -prune`` does it.

Input: a backoff model (:class:`~ngramkit.models.BackoffModel`, or any n-gram
model with ``to_backoff()``: trained by ngramkit, or an ARPA file of KenLM or
SRILM) and a threshold. Output: a smaller :class:`BackoffModel` without the
n-grams whose removal raises the model's perplexity by a relative amount
below the threshold, with the backoff weights recomputed so that it still
normalises.

The criterion (Stolcke, "Entropy-based pruning of backoff language models",
1998; SRILM ``Ngram::pruneProbs``), for an n-gram ``h w`` of order k >= 2
with an explicit probability p(w|h), ``h'`` being h without its first word::

    num(h)   = 1 - sum_{v in E(h)} p(v|h)            E(h): the explicit n-grams h v
    den(h)   = 1 - sum_{v in E(h)} p_BO(v|h')        p_BO: the ARPA rule on the model
    bow'(h)  = (num(h) + p(w|h)) / (den(h) + p_BO(w|h'))      h's backoff without h w
    dH       = -P(h) [ p(w|h) (log p_BO(w|h') + log bow'(h) - log p(w|h))
                       + num(h) (log bow'(h) - log bow(h)) ]
    pruned   <=> 10**dH - 1 < threshold                (logs base 10, as SRILM)

``10**dH - 1`` is the relative change of the model's (training-set)
perplexity when this one n-gram goes. P(h) is the context's marginal
probability from the model's own chain of lower-order probabilities,
``P(h1) P(h2|h1) ...`` (SRILM's ``contextProb``: a context starting with
``<s>`` uses P(``</s>``) for it; a zero-probability ``<s>``/pad term is
skipped). Every quantity is taken from the ORIGINAL model: orders are pruned
from the highest down, and a pruning decision at order k reads only orders
< k and the context's stored backoff, which pruning order k+1 does not touch
(SRILM's order of evaluation gives the same). Decisions are independent of
each other within an order, as in SRILM (num and den are computed once per
context, before any of its n-grams goes).

SRILM's rules kept here:

- only orders >= ``min_order`` are pruned (SRILM's ``-minprune``, default 2):
  unigrams are never pruned (``min_order`` >= 2 is enforced);
- an n-gram that is the context (prefix) of a kept higher-order n-gram with
  a probability is not pruned (SRILM checks the context node for probs);
- contexts whose num/den are improper (num < 0, or den <= 0 with num >
  3e-6: SRILM's ``computeBOW`` failing, with its clamping of tiny negative
  rounding to 0) prune nothing.

After pruning, the backoff weight of every context whose distribution changed
is recomputed exactly, ``bow(h) = num(h) / den(h)`` over the pruned model
(SRILM's ``computeBOW``), in increasing order so that ``p_BO`` already uses
the new lower-order weights. "Changed" means: the context lost an n-gram, or
one of its suffixes (h', h'', ...) did. The other backoffs are kept bit for
bit -- SRILM recomputes every one; for a model that normalised before this
is the same up to rounding, and it means that threshold 0 returns the model
unchanged (also for ARPA files whose backoffs are printed to 7 digits). A
row that loses its probability but stays as the context of kept
higher-order rows (only possible under a context-only row) becomes a
context-only row (NaN probability, see :mod:`ngramkit.models.backoff`).

Vectorised per order with numpy (``np.searchsorted`` lookups, ``np.bincount``
per context): no Python loop per n-gram. ``tests/test_prune.py`` checks
every decision, probability and backoff against a per-n-gram implementation
written from the formulas above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import NgramkitError, ParameterError
from .compact import CompactModel
from .models.backoff import BackoffModel
from .models.lookup import find_rows
from .vocab import BOS_ID, EOS_ID, PAD_ID

PROB_EPSILON = 3e-6  # SRILM's Prob_Epsilon: |sums| below it count as 0 in computeBOW
IMPROPER_BACKOFF = -99.0  # log10 backoff of a context whose recomputed weight is improper (SRILM: LogP_Zero)


@dataclass
class PruneResult:
    """What :func:`prune` returns: the pruned model and what pruning did."""

    model: BackoffModel
    threshold: float
    min_order: int
    sizes_before: list[int]  # rows per order (what an ARPA header counts)
    sizes_after: list[int]
    pruned: list[int]  # n-grams whose probability was removed, per order
    entropy_increase: float  # Stolcke's estimate, log10 units: the sum of dH over the pruned n-grams
    improper_contexts: int = 0  # recomputed backoffs that were improper (set to IMPROPER_BACKOFF)
    deltas: list[np.ndarray] = field(default_factory=list, repr=False)  # per order: 10**dH - 1 (NaN: not a candidate)

    @property
    def entropy_increase_bits(self) -> float:
        """The estimated entropy increase in bits per word (``entropy_increase`` x log2 10)."""
        return self.entropy_increase * math.log2(10)

    @property
    def perplexity_increase(self) -> float:
        """The estimated relative perplexity increase, ``10**entropy_increase - 1``."""
        return 10.0 ** self.entropy_increase - 1.0


def _tables(model):
    if isinstance(model, CompactModel):
        raise NgramkitError(f"a quantised model ({model.bits}-bit CompactModel) cannot be entropy-pruned: its quantised "
                            "values do not sum to 1, so the entropy it would measure is wrong; prune the unquantised "
                            "model, then quantise it (ngramkit convert --quantize)")
    if isinstance(model, BackoffModel):
        bm = model
    else:
        try:
            bm = model.to_backoff()
        except (NgramkitError, AttributeError):
            bm = None
        if not isinstance(bm, BackoffModel):
            raise NgramkitError(f"a {type(model).__name__} model cannot be pruned: entropy pruning needs an n-gram "
                                "model in backoff form (an ARPA file, or a smoothed model of `train ngram`)")
    n = bm.order
    return bm, [bm.ngrams(k) for k in range(1, n + 1)], [bm.logp10(k) for k in range(1, n + 1)], \
        [bm.backoff10(k) for k in range(1, n + 1)], [bm.keys(k) for k in range(1, n + 1)]


def bo_logp10(keys, logp10, backoff10, v: int, context: np.ndarray, words: np.ndarray) -> np.ndarray:
    """(M,) log10 p_BO(w | context) by the ARPA rule over the given tables (-inf: no unigram w).

    ``context``: (M, c) word ids (c may be 0), ``words``: (M,). Only the last
    ``order - 1`` context words matter.
    """
    context = np.asarray(context, np.int64)
    words = np.asarray(words, np.int64)
    m = words.size
    c = min(context.shape[1], len(keys) - 1)
    context = context[:, context.shape[1] - c:]
    out = np.full(m, -np.inf)
    done = np.zeros(m, bool)
    added = np.zeros(m)
    for j in range(c + 1):  # j words dropped from the context's left
        gram = np.column_stack([context[:, j:], words])
        rows = find_rows(keys, v, gram)
        p = np.full(m, np.nan)
        found = rows >= 0
        p[found] = logp10[gram.shape[1] - 1][rows[found]]
        hit = ~done & ~np.isnan(p)
        out[hit] = added[hit] + p[hit]
        done |= hit
        if j < c:
            crow = find_rows(keys, v, context[:, j:])
            use = ~done & (crow >= 0)
            added[use] += backoff10[c - j - 1][crow[use]]
    return out


def _context_logprob(ngrams, logp10, backoff10, keys, v: int) -> list[np.ndarray]:
    """Per order j: (M_j,) log10 P(h) of each row h as a context (SRILM's ``contextProb``)."""
    out = []
    lp1 = logp10[0]
    uni = ngrams[0][:, 0]
    eos = np.flatnonzero(uni == EOS_ID)
    first = lp1.copy()
    first[uni == BOS_ID] = lp1[eos[0]] if eos.size else -np.inf  # P(<s> as a context) := P(</s>)
    out.append(_skip_nonevents(first, uni, skip_bos=False))
    for j in range(2, len(ngrams)):  # contexts of orders 2..N-1
        g = ngrams[j - 1]
        term = logp10[j - 1].copy()
        missing = np.flatnonzero(np.isnan(term))  # context-only rows: p(last | prefix) by backing off
        if missing.size:
            term[missing] = bo_logp10(keys, logp10, backoff10, v, g[missing, :-1], g[missing, -1])
        term = _skip_nonevents(term, g[:, -1], skip_bos=True)
        out.append(out[-1][keys[j - 1] // v] + term)
    return out


def _skip_nonevents(term: np.ndarray, words: np.ndarray, *, skip_bos: bool) -> np.ndarray:
    """SRILM skips a zero-probability term of a non-event word (``<s>``, pad) in a context's probability.

    A context's first ``<s>`` is not skipped: it stands for P(``</s>``) there (``skip_bos=False``).
    """
    nonevent = (words == PAD_ID) | ((words == BOS_ID) if skip_bos else False)
    zero = np.isneginf(term) | np.isnan(term)
    return np.where(nonevent & zero, 0.0, np.where(np.isnan(term), -np.inf, term))


def _num_den(parent: np.ndarray, p10: np.ndarray, pbo10: np.ndarray, size: int):
    """Per context row: SRILM's computeBOW numerator and denominator, and whether they are proper."""
    with np.errstate(over="ignore", under="ignore"):
        num = 1.0 - np.bincount(parent, 10.0 ** p10, minlength=size)
        den = 1.0 - np.bincount(parent, 10.0 ** pbo10, minlength=size)
    num[(num < 0) & (num > -PROB_EPSILON)] = 0.0
    den[(den < 0) & (den > -PROB_EPSILON)] = 0.0
    ok = ~((num < 0) | ((den <= 0) & (num > PROB_EPSILON)))
    zero = (den <= 0) & (num <= PROB_EPSILON) & ok
    num[zero] = 0.0
    den[zero] = 0.0
    return num, den, ok


def entropy_deltas(model, *, min_order: int = 2) -> list[np.ndarray]:
    """Per order k (list index k-1): (M_k,) ``10**dH - 1`` of each n-gram against ``model`` (NaN: not a candidate).

    Not candidates: orders below ``min_order``, context-only rows, and
    n-grams of an improper context (see the module docstring).
    """
    _, ngrams, logp10, backoff10, keys = _tables(model)
    return _deltas(ngrams, logp10, backoff10, keys, len(model.vocab), min_order)[0]


def _deltas(ngrams, logp10, backoff10, keys, v: int, min_order: int):
    n = len(ngrams)
    deltas = [np.full(g.shape[0], np.nan) for g in ngrams]
    dhs = [np.full(g.shape[0], np.nan) for g in ngrams]
    if n < max(min_order, 2):
        return deltas, dhs
    cprob = _context_logprob(ngrams, logp10, backoff10, keys, v)
    for k in range(max(min_order, 2), n + 1):
        g, lp = ngrams[k - 1], logp10[k - 1]
        parent = keys[k - 1] // v
        real = np.flatnonzero(~np.isnan(lp))
        g, lp, parent = g[real], lp[real], parent[real]
        pbo = bo_logp10(keys, logp10, backoff10, v, g[:, 1:-1], g[:, -1])
        num, den, ok = _num_den(parent, lp, pbo, ngrams[k - 2].shape[0])
        nh, dh_, bow = num[parent], den[parent], backoff10[k - 2][parent]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            p = 10.0 ** lp
            new_bow = np.log10(nh + p) - np.log10(dh_ + 10.0 ** pbo)
            delta_prob = pbo + new_bow - lp
            dh = -(10.0 ** cprob[k - 2][parent]) * (p * delta_prob + nh * (new_bow - bow))
            change = 10.0 ** dh - 1.0
        change[~ok[parent]] = np.nan
        dh[~ok[parent]] = np.nan
        deltas[k - 1][real] = change
        dhs[k - 1][real] = dh
    return deltas, dhs


def prune(model, threshold: float, *, min_order: int = 2, say: Callable[[str], None] | None = None) -> PruneResult:
    """Entropy-prune ``model`` (see the module docstring); returns the pruned model and statistics.

    ``threshold``: the largest relative perplexity increase an n-gram's
    removal may cause and still be pruned (SRILM ``-prune``; 0 prunes
    nothing). ``min_order``: the lowest order pruned (SRILM ``-minprune``,
    at least 2). ``say``: progress lines (one per order).
    """
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ParameterError("threshold", f"must be a number, got {threshold!r}") from None
    if not math.isfinite(threshold) or threshold < 0:
        raise ParameterError("threshold", f"must be a finite number >= 0, got {threshold}")
    if isinstance(min_order, bool) or not isinstance(min_order, int) or min_order < 2:
        raise ParameterError("min_order", f"must be an integer >= 2 (unigrams are never pruned), got {min_order!r}")
    say = say or (lambda msg: None)
    bm, ngrams, logp10, backoff10, keys = _tables(model)
    v, n = len(bm.vocab), bm.order
    deltas, dhs = _deltas(ngrams, logp10, backoff10, keys, v, min_order)
    sizes_before = [g.shape[0] for g in ngrams]

    # ---- decisions, from the highest order down (a kept n-gram protects its prefix) ----
    keep = [np.ones(m, bool) for m in sizes_before]
    lose_prob = [np.zeros(m, bool) for m in sizes_before]  # rows whose probability goes (removed or context-only)
    pruned_counts = [0] * n
    entropy = 0.0
    for k in range(n, 0, -1):
        m = sizes_before[k - 1]
        if k < n:
            child_parent = keys[k] // v
            kept_child = np.bincount(child_parent[keep[k]], minlength=m) > 0
            kept_real = keep[k] & ~np.isnan(logp10[k]) & ~lose_prob[k]
            kept_real_child = np.bincount(child_parent[kept_real], minlength=m) > 0
        else:
            kept_child = kept_real_child = np.zeros(m, bool)
        if k >= min_order and threshold > 0:
            with np.errstate(invalid="ignore"):
                cand = deltas[k - 1] < threshold  # NaN (not a candidate) compares False
            cand &= ~kept_real_child
        else:
            cand = np.zeros(m, bool)
        context_only = np.isnan(logp10[k - 1])
        lose_prob[k - 1] = cand
        keep[k - 1] = (~cand & ~context_only) | kept_child
        if k == 1:
            keep[0][:] = True  # unigrams stay (the vocabulary's rows), context-only <s> included
        pruned_counts[k - 1] = int(cand.sum())
        entropy += float(dhs[k - 1][cand].sum())
        if k >= min_order:
            say(f"order {k}: {m:,} -> {int(keep[k - 1].sum()):,} n-grams")

    # ---- the pruned tables (rows keep their order, so keys stay sorted) ----
    new_index = [np.cumsum(kp) - 1 for kp in keep]
    out_ngrams, out_logp, out_bow, out_keys = [], [], [], []
    for k in range(1, n + 1):
        kp = keep[k - 1]
        out_ngrams.append(np.ascontiguousarray(ngrams[k - 1][kp]))
        lp = np.array(logp10[k - 1][kp], np.float64)
        lp[lose_prob[k - 1][kp]] = np.nan
        out_logp.append(lp)
        out_bow.append(np.array(backoff10[k - 1][kp], np.float64))
        if k == 1:
            out_keys.append(np.asarray(keys[0][kp], np.int64))
        else:
            parent = keys[k - 1][kp] // v
            out_keys.append(new_index[k - 2][parent] * v + out_ngrams[-1][:, -1].astype(np.int64))

    # ---- backoffs: recompute the changed contexts, lowest order first ----
    improper = 0
    dirty_prev: list[np.ndarray] = []
    for j in range(1, n):
        lost = np.bincount(keys[j] // v, (~keep[j] | lose_prob[j]).astype(np.float64),
                           minlength=sizes_before[j - 1]) > 0
        dirty = lost.copy()
        g = ngrams[j - 1]
        for s in range(1, j):  # a suffix of the context (s words dropped) that changed
            rows = find_rows(keys, v, g[:, s:])
            found = rows >= 0
            dirty[found] |= dirty_prev[j - s - 1][rows[found]]
        dirty_prev.append(dirty)
        redo = np.flatnonzero(dirty[keep[j - 1]])  # rows of the pruned order-j table
        if redo.size == 0:
            continue
        children = out_ngrams[j]
        child_lp = out_logp[j]
        parent = out_keys[j] // v
        sel = np.flatnonzero(np.isin(parent, redo) & ~np.isnan(child_lp))
        pbo = bo_logp10(out_keys, out_logp, out_bow, v, children[sel, 1:-1], children[sel, -1])
        num, den, ok = _num_den(parent[sel], child_lp[sel], pbo, out_ngrams[j - 1].shape[0])
        num, den, ok = num[redo], den[redo], ok[redo]
        with np.errstate(divide="ignore", invalid="ignore"):
            bow = np.where((num == 0) & (den == 0), 0.0, np.log10(num) - np.log10(den))
        bad = ~ok | np.isnan(bow) | (bow == np.inf)
        improper += int(bad.sum())
        bow[bad | (bow == -np.inf)] = IMPROPER_BACKOFF  # -inf: the n-grams hold all the mass (ARPA's -99, as SRILM)
        out_bow[j - 1][redo] = bow

    pruned_model = BackoffModel.from_tables(bm.vocab, out_ngrams, out_logp, out_bow, keys=out_keys)
    return PruneResult(model=pruned_model, threshold=threshold, min_order=min_order, sizes_before=sizes_before,
                       sizes_after=[g.shape[0] for g in out_ngrams], pruned=pruned_counts,
                       entropy_increase=entropy, improper_contexts=improper, deltas=deltas)


def prune_entropy(model, threshold: float, *, min_order: int = 2) -> BackoffModel:
    """The pruned model of :func:`prune` (Stolcke's entropy pruning, SRILM ``ngram -prune threshold``)."""
    return prune(model, threshold, min_order=min_order).model
