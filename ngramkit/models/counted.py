"""Models scored straight from the count tables: MLE, Laplace, Lidstone, StupidBackoff.

Input: :class:`~ngramkit.counts.NGramCounts` of orders >= N. Output: a
model whose ``log_probs`` (natural log) look the n-grams of every order up
in the whole stream at once (one ``searchsorted`` per order).

Context: the model uses the last N-1 tokens, or fewer at a sentence start
(``<s> w1`` is scored with the bigram ``<s> w1`` in a trigram model), as
nltk.lm does with a short context. c(h) is the number of times h was seen
*as a context* (the sum of the counts of its continuations), so every
distribution over the |V| predictable tokens (vocabulary + ``</s>``, without
``<s>``/``<pad>``) sums to 1:

- :class:`Laplace` / :class:`Lidstone` (nltk.lm's): P(w|h) = (c(hw) + k) / (c(h) + k |V|);
  an unseen context gives the uniform distribution. Not interpolated: no ARPA form.
- :class:`MLE`: P(w|h) = c(hw) / c(h) for the longest suffix h of the context
  that was seen as a context (nltk.lm returns 0 for an unseen context instead;
  ngramkit falls back to shorter contexts so that every context has a
  distribution). Unseen events get probability 0: log-probability ``-inf``,
  perplexity ``inf``.
- :class:`StupidBackoff` (Brants et al. 2007): S(w|h) = c(hw)/c(h) if c(hw) > 0,
  else alpha S(w|h'); S(w) = c(w)/N. Scores, not probabilities
  (``is_probabilistic = False``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import native
from ..counts import NGramCounts
from ..errors import NgramkitError, ParameterError
from ..lm import LanguageModel
from ..stream import Stream
from ..vocab import BOS_ID, PAD_ID, Vocabulary
from .lookup import (fast_stream_rows, find_rows, key_index, sentence_positions, state_tables, stream_rows,
                     tables_state)


class CountModel(LanguageModel):
    """Base of the count-table models; subclasses define :meth:`_log_prob` and :meth:`_next`."""

    def __init__(self, order: int):
        super().__init__(order)
        self._ngrams: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._fast = None  # hash index of the keys for the C kernel, built on first use

    # ---- fitting and state --------------------------------------------------------------------
    def fit(self, counts: NGramCounts) -> CountModel:
        self._check_counts(counts)
        n = self.order
        self._set(counts.vocab, [counts.ngrams(k) for k in range(1, n + 1)],
                  [counts.counts(k) for k in range(1, n + 1)], [counts.keys(k) for k in range(1, n + 1)])
        return self

    def _set(self, vocab: Vocabulary, ngrams, counts, keys) -> None:
        self.vocab = vocab
        self._ngrams, self._counts, self._keys = list(ngrams), list(counts), list(keys)
        self._fast = None
        v = len(vocab)
        uni = self._keys[0]
        c1 = self._counts[0].astype(np.float64)
        # Unigram distribution: predicted tokens only (<s> is context, counted once per sentence).
        self._uni = np.zeros(v)
        self._uni[uni] = c1
        self._uni[BOS_ID] = 0.0
        if PAD_ID < v:
            self._uni[PAD_ID] = 0.0
        self._total = float(self._uni.sum())  # N: predicted tokens
        # (M_{k-1},) c(h) for every order-(k-1) row h: sum of the counts of its continuations.
        self._ctx = [None] + [
            np.bincount(self._keys[k] // v, weights=self._counts[k], minlength=self._counts[k - 1].size)
            for k in range(1, self.order)
        ]
        self.n_predictable = v - 2 if v > PAD_ID else v - 1  # |V|: all ids but <s> and <pad>

    def hparams(self) -> dict:
        return {}

    def get_state(self):
        self._check_fitted()
        meta = {"class": type(self).__name__, "name": self.name, "order": self.order,
                "hparams": self.hparams(), "tables": "counts"}
        return meta, tables_state({"ngrams": self._ngrams, "counts": self._counts, "keys": self._keys})

    @classmethod
    def from_state(cls, meta, arrays, vocab):
        try:
            order = int(meta["order"])
            model = cls(order, **meta.get("hparams", {}))
            tables = state_tables(arrays, order, ("ngrams", "counts", "keys"))
        except (KeyError, TypeError, ValueError) as exc:
            raise NgramkitError(f"model state for {cls.__name__} is incomplete or invalid ({exc})") from None
        model._set(vocab, *tables)
        return model

    # ---- scoring ------------------------------------------------------------------------------
    def log_probs(self, stream: Stream) -> np.ndarray:
        stream = self.remap(stream)
        padded, offsets = stream.padded(BOS_ID)
        pos = sentence_positions(offsets, padded.size)
        kernel = native.extension("_score")
        if kernel is not None:
            if self._fast is None:
                self._fast = key_index(self._keys, len(self.vocab), kernel)
            rows = fast_stream_rows(self._fast, len(self.vocab), padded, offsets, kernel)
        else:
            rows = stream_rows(self._keys, len(self.vocab), padded, pos)
        pred = np.flatnonzero(pos > 0)
        with np.errstate(divide="ignore"):
            return self._log_prob(rows, padded, pos, pred)

    def _gram_count(self, rows, k: int, at: np.ndarray) -> np.ndarray:
        """(len(at),) count of the k-gram ending at padded positions ``at`` (0 if unseen)."""
        r = rows[k - 1][at]
        return np.where(r >= 0, self._counts[k - 1][np.maximum(r, 0)], 0).astype(np.float64)

    def _ctx_count(self, rows, k: int, at: np.ndarray) -> np.ndarray:
        """(len(at),) c(h): the (k-1)-word context of the tokens at ``at`` seen as a context."""
        if k == 1:
            return np.full(at.size, self._total)
        r = rows[k - 2][at - 1]
        return np.where(r >= 0, self._ctx[k - 1][np.maximum(r, 0)], 0.0)

    def _context_rows(self, ctx: list[int]) -> list[int]:
        """Row of each suffix of ``ctx`` (length j = 1..len) in order j, -1 if absent; index j-1."""
        v = len(self.vocab)
        return [int(find_rows(self._keys, v, np.asarray(ctx[len(ctx) - j:], np.int64)[None, :])[0])
                for j in range(1, len(ctx) + 1)]

    def _children(self, k: int, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Last words and counts of the order-k continuations of order-(k-1) row ``row``."""
        v = len(self.vocab)
        keys = self._keys[k - 1]
        lo, hi = np.searchsorted(keys, [row * v, (row + 1) * v])
        return self._ngrams[k - 1][lo:hi, -1], self._counts[k - 1][lo:hi].astype(np.float64)

    def _clip_context(self, context_ids) -> list[int]:
        self._check_fitted()
        v = len(self.vocab)
        ctx = [int(i) for i in context_ids]
        if any(not 0 <= i < v for i in ctx):
            raise NgramkitError(f"context ids must be in 0..{v - 1}, got {ctx}")
        return ctx[max(0, len(ctx) - (self.order - 1)):] if self.order > 1 else []

    def _mask_specials(self, lp: np.ndarray) -> np.ndarray:
        lp[BOS_ID] = -np.inf
        if PAD_ID < lp.size:
            lp[PAD_ID] = -np.inf
        return lp


def _positive_number(value, name: str, what: str) -> float:
    """``value`` as a float if it is a finite number > 0; else a :class:`ParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            math.isfinite(value) and value > 0):
        raise ParameterError(name, f"must be a finite number > 0 ({what}), got {value!r}")
    return float(value)


class Lidstone(CountModel):
    """Add-k smoothing of the highest-order counts: P(w|h) = (c(hw) + k) / (c(h) + k |V|) (nltk.lm ``Lidstone``)."""

    name = "lidstone"

    def __init__(self, order: int, *, k: float = 0.5):
        super().__init__(order)
        self.k = _positive_number(k, "k", "the additive constant")

    def hparams(self):
        return {"k": self.k}

    def _log_prob(self, rows, padded, pos, pred):
        out = np.empty(pred.size)
        used = np.minimum(pos[pred], self.order - 1) + 1  # order of the n-gram used per token
        for k in range(1, self.order + 1):
            sel = np.flatnonzero(used == k)
            at = pred[sel]
            out[sel] = np.log(self._gram_count(rows, k, at) + self.k) - np.log(
                self._ctx_count(rows, k, at) + self.k * self.n_predictable)
        return out

    def next_log_probs(self, context_ids):
        ctx = self._clip_context(context_ids)
        v = len(self.vocab)
        counts = np.zeros(v)
        if not ctx:
            counts[:] = self._uni
            total = self._total
        else:
            row = self._context_rows(ctx)[-1]
            total = 0.0
            if row >= 0:
                total = float(self._ctx[len(ctx)][row])
                words, c = self._children(len(ctx) + 1, row)
                counts[words] = c
        lp = np.log(counts + self.k) - math.log(total + self.k * self.n_predictable)
        return self._mask_specials(lp)


class Laplace(Lidstone):
    """Add-one smoothing (Laplace; nltk.lm ``Laplace``): Lidstone with k = 1.

    >>> m = Laplace(2).fit_sentences([["a", "b"], ["b", "a", "b"]])
    >>> round(m.score("b", ["a"]), 4)  # (c(a b) + 1) / (c(a) + |V|) = (2 + 1) / (2 + 4)
    0.5
    """

    name = "laplace"

    def __init__(self, order: int):
        super().__init__(order, k=1.0)

    def hparams(self):
        return {}


class MLE(CountModel):
    """Maximum likelihood: P(w|h) = c(hw) / c(h), h the longest suffix of the context seen as a context."""

    name = "mle"

    def _log_prob(self, rows, padded, pos, pred):
        out = np.full(pred.size, np.nan)
        longest = np.minimum(pos[pred], self.order - 1) + 1
        for k in range(self.order, 0, -1):
            todo = np.flatnonzero(np.isnan(out) & (longest >= k))
            at = pred[todo]
            ctx = self._ctx_count(rows, k, at)
            seen = ctx > 0
            todo, at, ctx = todo[seen], at[seen], ctx[seen]
            out[todo] = np.log(self._gram_count(rows, k, at)) - np.log(ctx)
        return out

    def next_log_probs(self, context_ids):
        ctx = self._clip_context(context_ids)
        rows = self._context_rows(ctx)
        counts = None
        for j in range(len(ctx), 0, -1):
            if rows[j - 1] >= 0 and self._ctx[j][rows[j - 1]] > 0:
                words, c = self._children(j + 1, rows[j - 1])
                counts = np.zeros(len(self.vocab))
                counts[words] = c
                total = float(self._ctx[j][rows[j - 1]])
                break
        if counts is None:
            counts, total = self._uni, self._total
        with np.errstate(divide="ignore"):
            lp = np.log(counts) - math.log(total)
        return self._mask_specials(lp)


class StupidBackoff(CountModel):
    """Stupid backoff (Brants et al. 2007): relative frequencies, times ``alpha`` per backoff step.

    Scores, not probabilities: :func:`~ngramkit.evaluate.evaluate` refuses
    them unless ``allow_scores=True``.
    """

    name = "stupid-backoff"
    is_probabilistic = False

    def __init__(self, order: int, *, alpha: float = 0.4):
        super().__init__(order)
        self.alpha = _positive_number(alpha, "alpha", "the backoff factor")

    def hparams(self):
        return {"alpha": self.alpha}

    def _log_prob(self, rows, padded, pos, pred):
        out = np.full(pred.size, np.nan)
        longest = np.minimum(pos[pred], self.order - 1) + 1
        log_alpha = math.log(self.alpha)
        for k in range(self.order, 0, -1):
            todo = np.flatnonzero(np.isnan(out) & (longest >= k))
            at = pred[todo]
            c = self._gram_count(rows, k, at)
            hit = c > 0 if k > 1 else np.ones(at.size, bool)
            todo, at, c = todo[hit], at[hit], c[hit]
            out[todo] = np.log(c) - np.log(self._ctx_count(rows, k, at)) + (longest[todo] - k) * log_alpha
        return out

    def next_log_probs(self, context_ids):
        ctx = self._clip_context(context_ids)
        rows = self._context_rows(ctx)
        with np.errstate(divide="ignore"):
            lp = np.log(self._uni) - math.log(self._total)
            for j in range(1, len(ctx) + 1):
                lp += math.log(self.alpha)
                if rows[j - 1] >= 0 and self._ctx[j][rows[j - 1]] > 0:
                    words, c = self._children(j + 1, rows[j - 1])
                    lp[words] = np.log(c) - math.log(float(self._ctx[j][rows[j - 1]]))
        return self._mask_specials(lp)
