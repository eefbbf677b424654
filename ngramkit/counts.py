"""N-gram counting engine.

Input: a :class:`~ngramkit.stream.Stream` (or sentences + vocabulary).
Output: :class:`NGramCounts` holding, for every order k = 1..N,

- ``ngrams(k)``: (M_k, k) int32 word ids, rows unique and sorted
  lexicographically;
- ``counts(k)``: (M_k,) int64 occurrence counts;
- ``parent(k)``: (M_k,) int64 row of the (k-1)-gram prefix (the context) in
  order k-1 (all zeros for k = 1).

Sentence convention (KenLM ``lmplz``): every sentence is padded as
``<s> w1 .. wn </s>``; n-grams never cross sentences and ``<s>`` is padded
once, so an order-k n-gram starting with ``<s>`` is only the sentence start.
Order 1 therefore counts ``<s>`` once per sentence.

Rows of order k are keyed by ``parent * V + last_word`` (int64, V = vocabulary
size); because order k-1 rows are sorted, these keys are sorted too and
lookups are one ``searchsorted``.
"""

from __future__ import annotations

import numpy as np

from .errors import NgramkitError
from .stream import Stream, kernel
from .vocab import BOS_ID, Vocabulary

MAX_ORDER = 12


def check_order(order: int) -> int:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise NgramkitError(f"order must be an integer, got {order!r}")
    if order < 1:
        raise NgramkitError(f"order must be >= 1, got {order}")
    if order > MAX_ORDER:
        raise NgramkitError(f"order must be <= {MAX_ORDER}, got {order}")
    return int(order)


class NGramCounts:
    """Counts of all n-grams of orders 1..``order`` of a sentence-padded stream."""

    def __init__(self, vocab: Vocabulary, ngrams, counts, parents, *, n_sentences: int = 0, n_tokens: int = 0):
        self.vocab = vocab
        self._ngrams = list(ngrams)  # per order k-1: (M_k, k) int32
        self._counts = list(counts)  # per order: (M_k,) int64
        self._parents = list(parents)  # per order: (M_k,) int64
        self.order = len(self._ngrams)
        self.n_sentences = int(n_sentences)  # sentences counted
        self.n_tokens = int(n_tokens)  # predicted tokens (words + </s>) counted
        self._keys: list[np.ndarray | None] = [None] * self.order

    # ---- construction -------------------------------------------------------
    @classmethod
    def from_stream(cls, stream: Stream, order: int = 3) -> NGramCounts:
        """Count orders 1..``order`` of a stream (C hash tables, or the numpy reference)."""
        order = check_order(order)
        k = kernel()
        if k is None:
            return cls._from_stream_numpy(stream, order)
        vocab = stream.vocab
        v = len(vocab)
        padded, offsets = stream.padded(order, BOS_ID)  # (N+S,), (S+1,)
        lengths = np.diff(offsets)  # (S,) padded sentence lengths
        # Order 1: the provisional row of a unigram is its word id.
        uni_count = np.bincount(padded, minlength=v).astype(np.int64)
        steps = []
        rows = padded.copy()  # (N+S,) provisional row of the n-gram starting at each position
        m_prev = int(np.count_nonzero(uni_count))
        for n in range(2, order + 1):
            cap = int(np.maximum(lengths - (n - 1), 0).sum())  # n-gram positions: bound on distinct
            parent = np.empty(cap, np.int32)
            last = np.empty(cap, np.int32)
            count = np.empty(cap, np.int64)
            m = k.count_step(padded, offsets, n, rows, parent, last, count, min(cap, 2 * m_prev))
            steps.append((parent[:m], last[:m], count[:m]))
            m_prev = m
        del rows, padded
        return cls._assemble(vocab, np.arange(v, dtype=np.int64), uni_count, steps,
                             n_sentences=stream.n_sentences, n_tokens=stream.n_tokens)

    @classmethod
    def _assemble(cls, vocab: Vocabulary, uni_ids, uni_count, steps, *, n_sentences: int,
                  n_tokens: int) -> NGramCounts:
        """Sort provisional tables into lexicographic order.

        ``uni_ids``/``uni_count``: (P,) word id and count of each provisional
        order-1 row (rows with count 0 are dropped). ``steps``: per order 2..N,
        (parent, last, count) of each provisional row, ``parent`` a provisional
        row of the order below; rows of one order are distinct n-grams.
        """
        v = np.int64(len(vocab))
        keep = np.flatnonzero(uni_count > 0)
        perm = keep[np.argsort(uni_ids[keep], kind="stable")]
        grams = [np.asarray(uni_ids[perm], np.int32)[:, None]]
        counts = [np.asarray(uni_count[perm], np.int64)]
        parents = [np.zeros(perm.size, np.int64)]
        keys = [np.asarray(uni_ids[perm], np.int64)]
        rank = np.full(uni_ids.size, -1, np.int64)  # provisional row -> sorted row
        rank[perm] = np.arange(perm.size)
        for parent, last, count in steps:
            sparent = rank[parent]  # (m,) sorted parent row
            key = sparent * v + last
            perm = np.argsort(key)
            key = key[perm]
            sparent = sparent[perm]
            g = np.empty((perm.size, grams[-1].shape[1] + 1), np.int32)
            g[:, :-1] = grams[-1][sparent]
            g[:, -1] = np.asarray(last)[perm]
            grams.append(g)
            counts.append(np.asarray(count, np.int64)[perm])
            parents.append(sparent)
            keys.append(key)
            rank = np.empty(perm.size, np.int64)
            rank[perm] = np.arange(perm.size)
        out = cls(vocab, grams, counts, parents, n_sentences=n_sentences, n_tokens=n_tokens)
        out._keys = keys
        return out

    @classmethod
    def _from_stream_numpy(cls, stream: Stream, order: int) -> NGramCounts:
        """The numpy reference: packed int64 keys, ``np.unique`` per order."""
        vocab = stream.vocab
        padded, offsets = stream.padded(order, BOS_ID)  # (N+S,), (S+1,)
        n = padded.size
        v = np.int64(len(vocab))
        # Distance from each position to the end of its sentence (exclusive).
        room = np.repeat(offsets[1:], np.diff(offsets)) - np.arange(n, dtype=np.int64)  # (N+S,)
        ngrams, counts, parents = [], [], []
        uniq, inv, cnt = np.unique(padded.astype(np.int64), return_inverse=True, return_counts=True)
        ngrams.append(uniq.astype(np.int32)[:, None])
        counts.append(cnt.astype(np.int64))
        parents.append(np.zeros(uniq.size, np.int64))
        row = inv.astype(np.int64)  # (n,) row in order-1 table of the unigram at each position
        for k in range(2, order + 1):
            valid = np.flatnonzero(room >= k)  # start positions of order-k n-grams
            keys = row[valid] * v + padded[valid + (k - 1)]
            uniq, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
            parent = uniq // v
            prev = ngrams[-1]
            grams = np.empty((uniq.size, k), np.int32)
            grams[:, :-1] = prev[parent]
            grams[:, -1] = (uniq % v).astype(np.int32)
            ngrams.append(grams)
            counts.append(cnt.astype(np.int64))
            parents.append(parent)
            new_row = np.full(n, -1, np.int64)
            new_row[valid] = inv
            row = new_row
        return cls(vocab, ngrams, counts, parents,
                   n_sentences=stream.n_sentences, n_tokens=stream.n_tokens)

    @classmethod
    def from_sentences(cls, sentences, order: int = 3, vocab: Vocabulary | None = None, **vocab_kw) -> NGramCounts:
        vocab = vocab or Vocabulary.build(sentences, **vocab_kw)
        return cls.from_stream(Stream.from_sentences(sentences, vocab), order)

    # ---- access -------------------------------------------------------------
    def _check(self, k: int) -> int:
        if not 1 <= k <= self.order:
            raise NgramkitError(f"order {k} not counted: these counts hold orders 1..{self.order}")
        return k - 1

    def ngrams(self, k: int) -> np.ndarray:
        return self._ngrams[self._check(k)]

    def counts(self, k: int) -> np.ndarray:
        return self._counts[self._check(k)]

    def parent(self, k: int) -> np.ndarray:
        return self._parents[self._check(k)]

    def keys(self, k: int) -> np.ndarray:
        """(M_k,) int64 sorted keys ``parent * V + last`` (order 1: the word id)."""
        i = self._check(k)
        if self._keys[i] is None:
            grams = self._ngrams[i]
            self._keys[i] = (self._parents[i] * len(self.vocab) + grams[:, -1]).astype(np.int64)
        return self._keys[i]

    def total(self, k: int) -> int:
        return int(self.counts(k).sum())

    def distinct(self, k: int) -> int:
        return int(self.counts(k).size)

    def find(self, ids) -> np.ndarray:
        """Rows of n-grams given as a (Q, k) id array; -1 where not counted. Vectorised."""
        ids = np.asarray(ids, np.int64)
        if ids.ndim == 1:
            ids = ids[None, :]
        q, k = ids.shape
        self._check(k)
        v = len(self.vocab)
        row = np.zeros(q, np.int64)
        found = np.ones(q, bool)
        for j in range(k):
            keys = self.keys(j + 1)
            want = row * v + ids[:, j] if j else ids[:, 0]
            pos = np.searchsorted(keys, want)
            pos = np.minimum(pos, keys.size - 1)
            found &= keys[pos] == want if keys.size else False
            row = np.where(found, pos, 0)
        return np.where(found, row, -1)

    def count(self, ngram) -> int:
        """Count of one n-gram given as strings or ids: ``count(("the", "cat"))``."""
        if isinstance(ngram, str):
            ngram = (ngram,)
        ids = [self.vocab.index.get(w, -1) if isinstance(w, str) else int(w) for w in ngram]
        if not ids or min(ids) < 0:
            return 0 if ids else self.n_tokens
        if len(ids) > self.order:
            raise NgramkitError(f"{len(ids)}-gram asked, but counts hold orders 1..{self.order}")
        row = int(self.find(np.array([ids]))[0])
        return 0 if row < 0 else int(self.counts(len(ids))[row])

    def top(self, k: int, n: int = 20) -> list[tuple[tuple[str, ...], int]]:
        """The ``n`` most frequent k-grams (ties: lexicographic by ids)."""
        counts = self.counts(k)
        order = np.lexsort((np.arange(counts.size), -counts))[:n]
        words = self.vocab.words
        return [(tuple(words[i] for i in self.ngrams(k)[r]), int(counts[r])) for r in order.tolist()]

    def count_of_counts(self, k: int, upto: int = 4) -> np.ndarray:
        """(upto,) int64: n_1..n_upto, the number of k-grams seen exactly 1..upto times."""
        c = self.counts(k)
        return np.bincount(np.minimum(c, upto + 1), minlength=upto + 2)[1 : upto + 1].astype(np.int64)

    def __iter__(self):
        words = self.vocab.words
        for k in range(1, self.order + 1):
            for row, c in zip(self.ngrams(k).tolist(), self.counts(k).tolist()):
                yield tuple(words[i] for i in row), c

    def __repr__(self) -> str:
        per = ", ".join(f"{k}: {self.distinct(k)}" for k in range(1, self.order + 1))
        return f"NGramCounts(order={self.order}, vocab={len(self.vocab)}, distinct={{{per}}})"
