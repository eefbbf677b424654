"""Linear mixtures of backoff n-gram models: EM-tuned weights, written as one backoff model.

Input: two or more n-gram models (:class:`~ngramkit.models.BackoffModel`, or
any model with a backoff form: ARPA files and native files alike), weights
``l_i >= 0`` summing to 1 (or held-out text to find them with EM). Output:

- :func:`tune_weights`: the weights maximising the held-out likelihood of the
  token-level mixture ``P(w|h) = sum_i l_i p_i(w|h)``, by EM as SRILM's
  ``compute-best-mix`` (posterior of each component per token, new weight =
  mean posterior), with the weights and held-out perplexity of each
  iteration; it stops when no weight changes by more than ``tol`` (1e-4:
  the weights sum to 1, so this is relative to their total; SRILM's rule,
  whose default is 1e-3), or after ``max_iter`` iterations. A change
  relative to each weight never converges when the best weight of a
  component is 0: EM shrinks it geometrically, by a constant ratio (PTB
  mkn-3 + witten-bell-3: 1000 iterations without converging);
- :func:`mixture_log_probs`: the exact token-level mixture's log
  probabilities of a stream (each component scored by the C scorer);
- :func:`static_mixture`: ONE backoff model, as SRILM's ``ngram -mix-lm``
  writes it: its n-grams are the union of the components' n-grams; each
  stored probability is the mixture ``sum_i l_i p_i(w|h)``, ``p_i``
  computed with model i's own backoff where it lacks the n-gram; each
  context's backoff weight is recomputed so its distribution sums to 1:
  ``bow(h) = (1 - sum_{hw in union} P(w|h)) / (1 - sum_{hw in union} P'(w|h'))``,
  ``P'`` being the mixed model's own (already built) lower-order distribution.

Vocabularies: the union (the first model's words in its order, then each
further model's new words). A word that a component lacks gets probability 0
from that component, wherever it is predicted, and a context containing it
is simply not found in that component (it backs off past it). This is
SRILM's convention: its models read into one shared vocabulary and
``Ngram::wordProbBO`` returns ``LogP_Zero`` for a word without a unigram.
It keeps the mixture normalised over the union (each component contributes
``l_i * 1``). Scoring a component's ``<unk>`` instead (what that model alone
would give an out-of-vocabulary word) counts its ``<unk>`` mass once per
missing word, and the mixture would sum to more than 1. Words outside the
union are ``<unk>`` for every component, as in ``ngramkit ppl``.

Static vs exact mixture: for an n-gram in the union the static model's
probability is exactly the mixture's. For any other (h, w) the exact
mixture is ``sum_i l_i bow_i(h) p_i(w|h')`` -- each component backing off
with its own weight -- while the static model backs off with one weight,
``bow(h) P'(w|h')``: the mixture of backoff distributions is not itself a
backoff model over the union of n-grams. Both are normalised; they differ
in how the backed-off mass of a context is shared among unseen words. The
PTB numbers are in ``benchmarks/bench_mix.py`` (and README).

Everything is vectorised per order with numpy (one ``searchsorted`` per
order and suffix length over all n-grams); held-out scoring uses the C
scorer of :class:`~ngramkit.models.BackoffModel`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import NgramkitError
from .evaluate import LN10
from .models.backoff import BackoffModel
from .models.lookup import find_rows, lookup
from .stream import Stream
from .vocab import BOS_ID, PAD_ID, UNK_ID, Vocabulary

ZERO10 = -99.0  # log10 of a zero probability or backoff weight, as ARPA files write it
TOL = 1e-4  # EM stops when no weight changes by more than this (absolute; the weights sum to 1)
MAX_ITER = 1000


def as_backoff(model, name: str = "model") -> BackoffModel:
    """``model`` in backoff form; an error naming ``name`` if it has none (an RNN, stupid backoff)."""
    to_backoff = getattr(model, "to_backoff", None)
    if getattr(model, "name", "") == "stupid-backoff":
        raise NgramkitError(f"{name}: a stupid-backoff model gives scores, not probabilities; it cannot be mixed")
    if to_backoff is None:
        raise NgramkitError(f"{name}: not an n-gram model ({type(model).__name__}); only n-gram models can be mixed")
    try:
        return to_backoff()
    except NgramkitError:
        raise NgramkitError(f"{name}: a {getattr(model, 'name', type(model).__name__)} model has no backoff form; "
                            "only n-gram models can be mixed") from None


def union_vocab(models) -> Vocabulary:
    """The union of the models' vocabularies: the first's words in order, then each next model's new words."""
    words = list(models[0].vocab.words)
    seen = set(words)
    for m in models[1:]:
        new = [w for w in m.vocab.words if w not in seen]
        words.extend(new)
        seen.update(new)
    return Vocabulary(words)


def id_map(vocab: Vocabulary, model: BackoffModel) -> np.ndarray:
    """(V_union,) int64: each union word's id in ``model`` (-1 where the model lacks it)."""
    index = model.vocab.index
    return np.fromiter((index.get(w, -1) for w in vocab.words), np.int64, count=len(vocab))


def check_weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, np.float64)
    if w.shape != (n,):
        raise NgramkitError(f"weights: {n} models need {n} weights, got {w.size}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise NgramkitError(f"weights must be finite and >= 0, got {' '.join(map(str, w.tolist()))}")
    if abs(w.sum() - 1.0) > 1e-6:
        raise NgramkitError(f"weights must sum to 1, got {' '.join(map(str, w.tolist()))} (sum {w.sum():.6g})")
    return w / w.sum()


# ---- per-token: the exact mixture and EM -----------------------------------------------------

def component_log_probs(models, stream: Stream, vocab: Vocabulary | None = None) -> np.ndarray:
    """(n_models, n_tokens) natural-log probabilities of each component on ``stream`` (union convention).

    ``stream`` is over ``vocab`` (the union, by default); a token whose word a
    component lacks gets ``-inf`` from it (a word outside the union is
    ``<unk>`` for all).
    """
    vocab = stream.vocab if vocab is None else vocab
    out = np.empty((len(models), stream.n_tokens), np.float64)
    for i, m in enumerate(models):
        mp = id_map(vocab, m)
        lacks = mp < 0
        # a word the component lacks becomes <pad>, which no n-gram contains: as a context word it is never
        # found (the component backs off past it, as SRILM and static_mixture do); predicted, it gets 0
        table = np.where(lacks, PAD_ID, mp).astype(np.int32)
        out[i] = m.log_probs(Stream(table[stream.ids], stream.offsets, stream.oov | lacks[stream.ids], m.vocab))
        out[i, lacks[stream.ids]] = -np.inf
    return out


def _mix_logsum(logp: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """log sum_i w_i exp(logp[i]) per column (natural logs), -inf where every term is 0."""
    with np.errstate(divide="ignore"):
        lw = np.log(weights)[:, None]
    terms = logp + lw
    top = terms.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(terms - safe).sum(axis=0)) + safe


def mixture_log_probs(models, weights, stream: Stream) -> np.ndarray:
    """(n_tokens,) natural-log probabilities of the exact token-level mixture ``sum_i l_i p_i(w|h)``."""
    w = check_weights(weights, len(models))
    return _mix_logsum(component_log_probs(models, stream), w)


@dataclass
class EMResult:
    weights: np.ndarray
    iterations: list[dict] = field(default_factory=list)  # {"iteration", "weights", "perplexity"} (0: the start)
    converged: bool = False
    tokens: int = 0  # tokens used (those with a non-zero probability under some component)
    zeroprobs: int = 0  # tokens every component gives probability 0 (left out, as SRILM does)

    @property
    def perplexity(self) -> float:
        return self.iterations[-1]["perplexity"]


def _perplexity(mix: np.ndarray) -> float:
    return math.exp(-float(mix.mean())) if mix.size else float("nan")


def tune_weights(logp: np.ndarray, *, init=None, tol: float = TOL, max_iter: int = MAX_ITER,
                 callback=None) -> EMResult:
    """EM for the mixture weights, from (n_models, n_tokens) component log-probabilities (natural).

    ``init``: starting weights (default uniform). Each iteration: posterior
    ``r_ti = l_i p_i(t) / sum_j l_j p_j(t)``, then ``l_i = mean_t r_ti``.
    Stops when ``max_i |l_i' - l_i| < tol`` (compute-best-mix's rule) or
    after ``max_iter`` iterations. ``callback(record)`` is called with each iteration's record.
    """
    n = logp.shape[0]
    if n < 1:
        raise NgramkitError("no models to mix")
    w = np.full(n, 1.0 / n) if init is None else check_weights(init, n)
    ok = np.isfinite(logp).any(axis=0)
    x = logp[:, ok]
    result = EMResult(w, tokens=int(ok.sum()), zeroprobs=int((~ok).sum()))
    if x.shape[1] == 0:
        raise NgramkitError("the tuning text has no token with a non-zero probability under any model")

    def record(it, weights, mix):
        rec = {"iteration": it, "weights": weights.tolist(), "perplexity": _perplexity(mix)}
        result.iterations.append(rec)
        if callback is not None:
            callback(rec)

    mix = _mix_logsum(x, w)
    record(0, w, mix)
    for it in range(1, max_iter + 1):
        with np.errstate(divide="ignore"):
            post = np.exp(x + np.log(w)[:, None] - mix[None, :])
        new = post.mean(axis=1)
        new /= new.sum()
        change = np.abs(new - w)
        w = new
        mix = _mix_logsum(x, w)
        record(it, w, mix)
        if change.max() < tol:
            result.converged = True
            break
    result.weights = w
    return result


# ---- the static mixture: one backoff model ----------------------------------------------------

def backoff_log10(keys, logp10, backoff10, v: int, ids: np.ndarray) -> np.ndarray:
    """(Q,) log10 ARPA-rule probability of the last word of each (Q, k) n-gram ``ids`` given the others.

    ``keys``/``logp10``/``backoff10``: a model's per-order tables (orders
    1..len(keys); a longer ``ids`` uses its last len(keys) words). Ids
    outside 0..v-1 (-1: a word the model lacks) are never found: predicted,
    the probability is 0 (-inf); in the context, the model backs off past them.
    """
    ids = np.asarray(ids, np.int64)
    q, k = ids.shape
    n = len(keys)
    if k > n:
        ids, k = ids[:, k - n:], n
    out = np.full(q, -np.inf)
    matched = np.zeros(q, np.int64)  # length of the longest n-gram found
    for j in range(k, 0, -1):
        todo = np.flatnonzero(matched == 0)
        if todo.size == 0:
            break
        r = find_rows(keys[:j], v, ids[todo, k - j:])
        hit = r >= 0
        p = np.full(todo.size, np.nan)
        p[hit] = logp10[j - 1][r[hit]]
        real = ~np.isnan(p)
        out[todo[real]] = p[real]
        matched[todo[real]] = j
    for m in range(1, k):  # context of m words: its backoff applies when the match is shorter than m + 1
        use = np.flatnonzero((matched > 0) & (matched <= m))
        if use.size == 0:
            continue
        r = find_rows(keys[:m], v, ids[use, k - 1 - m:k - 1])
        hit = r >= 0
        out[use[hit]] += backoff10[m - 1][r[hit]]
    return out


def _union_ngrams(models, maps, k: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique (M, k) union-id n-grams of order k, (M,) bool: a real n-gram in some model)."""
    grams, real = [], []
    for m, inv in zip(models, maps):
        if k > m.order:
            continue
        g = inv[m.ngrams(k)]
        grams.append(g)
        real.append(~np.isnan(m.logp10(k)))
    if not grams:
        return np.zeros((0, k), np.int64), np.zeros(0, bool)
    g = np.concatenate(grams)
    r = np.concatenate(real)
    order = np.lexsort(g.T[::-1])
    g, r = g[order], r[order]
    if g.shape[0] > 1:
        new = np.ones(g.shape[0], bool)
        new[1:] = (g[1:] != g[:-1]).any(axis=1)
        group = np.cumsum(new) - 1
        real_u = np.zeros(int(new.sum()), bool)
        np.logical_or.at(real_u, group, r)
        g, r = g[new], real_u
    return g, r


def static_mixture(models, weights, *, progress=None) -> BackoffModel:
    """The static mixture of backoff ``models`` with ``weights``, as one :class:`BackoffModel` (module docstring).

    ``progress(message)``, if given, is called once per order.
    """
    models = [as_backoff(m, f"model {i + 1}") for i, m in enumerate(models)]
    w = check_weights(weights, len(models))
    vocab = union_vocab(models)
    v = len(vocab)
    order = max(m.order for m in models)
    maps = []  # per model: union id -> model id (-1: absent), and model id -> union id
    invs = []
    for m in models:
        maps.append(id_map(vocab, m))
        invs.append(vocab.lookup(m.vocab.words).astype(np.int64))
    keep = w > 0
    ngrams, logp10, backoff10, keys = [], [], [], []
    for k in range(1, order + 1):
        if progress is not None:
            progress(f"order {k}")
        g, real = _union_ngrams(models, invs, k, v)
        # the mixture of each component's probability of each union n-gram (context-only entries stay NaN)
        lp = np.full(g.shape[0], np.nan)
        idx = np.flatnonzero(real)
        comp = np.full((len(models), idx.size), -np.inf)
        for i, (m, mp) in enumerate(zip(models, maps)):
            if keep[i]:
                comp[i] = backoff_log10(m._keys, m._logp10, m._backoff10, len(m.vocab), mp[g[idx]])
        with np.errstate(divide="ignore"):
            mixed = _mix_logsum(comp * LN10, w) / LN10
        lp[idx] = np.where(np.isfinite(mixed), mixed, ZERO10)
        if k == 1:
            lp[g[:, 0] == BOS_ID] = np.nan  # <s> is context only
            key = g[:, 0].copy()
        else:
            parent = find_rows(keys, v, g[:, :-1])
            if (parent < 0).any():
                raise NgramkitError(f"a {k}-gram of the mixture has no {k - 1}-gram prefix (a component is not "
                                    "prefix-closed)")
            key = parent * v + g[:, -1]
        ngrams.append(g.astype(np.int32))
        logp10.append(lp)
        backoff10.append(np.zeros(g.shape[0]))
        keys.append(key)
        if k > 1:
            _set_backoffs(ngrams, logp10, backoff10, keys, k, v)
    return BackoffModel.from_tables(vocab, ngrams, logp10, backoff10, keys=keys)


def _set_backoffs(ngrams, logp10, backoff10, keys, k: int, v: int) -> None:
    """Backoff weights of the order-(k-1) contexts from the order-k n-grams (orders 1..k-1 complete)."""
    g, lp = ngrams[k - 1], logp10[k - 1]
    real = ~np.isnan(lp)
    parent = keys[k - 1] // v
    m_ctx = ngrams[k - 2].shape[0]
    p_hi = np.where(real, 10.0 ** np.where(real, lp, 0.0), 0.0)
    # the mixed model's lower-order probability of each n-gram's last word given its shortened context
    low = backoff_log10(keys[:k - 1], logp10[:k - 1], backoff10[:k - 1], v, g[:, 1:].astype(np.int64))
    p_lo = np.where(real, 10.0 ** low, 0.0)
    num = 1.0 - np.bincount(parent, weights=p_hi, minlength=m_ctx)
    den = 1.0 - np.bincount(parent, weights=p_lo, minlength=m_ctx)
    has = np.bincount(parent[real], minlength=m_ctx) > 0
    bo = np.zeros(m_ctx)
    tiny = 1e-12
    ok = has & (num > tiny) & (den > tiny)
    bo[ok] = np.log10(num[ok] / den[ok])
    bo[has & ~ok] = ZERO10  # the context's own n-grams hold all its mass
    backoff10[k - 2] = bo


def normaliser(model: BackoffModel, context_ids) -> float:
    """sum over the vocabulary of P(w | context) (``<s>`` and ``<pad>`` excluded): 1 for a normalised model."""
    lp = model.next_log_probs(context_ids)
    return float(np.exp(lp[np.isfinite(lp)]).sum())


__all__ = ["EMResult", "as_backoff", "backoff_log10", "check_weights", "component_log_probs", "mixture_log_probs",
           "normaliser", "static_mixture", "tune_weights", "union_vocab", "UNK_ID", "PAD_ID"]
