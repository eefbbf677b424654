"""Word classes for the class softmax by the predictive exchange algorithm.

Input: the training stream's word ids (N,) int, the vocabulary size V, a
starting class for every word (V,) int (e.g. RNNLM's frequency bins) and the
ids that are never predicted. Output: a class for every word (V,) int64,
classes numbered as in the start (some may end up empty).

The class softmax factors ``P(w|h) = P(c(w)|h) P(w|c(w),h)``. Frequency
bins (RNNLM) put words together only because they are about as frequent,
so ``P(c|h)`` has to learn classes that mean nothing. The exchange
algorithm (Kneser & Ney 1993; the *predictive* objective of Uszkoreit &
Brants 2008, eq. 5) instead maximises the likelihood of the one-sided
class bigram model ``P(w|v) = P(c(w)|v) P(w|c(w))`` on the training
stream, i.e. up to constants

    F = sum_{v,c} N(v,c) log N(v,c) - sum_c N(c) log N(c),

where ``N(v,c)`` counts word v followed by a word of class c and ``N(c)``
counts the words of class c (as successors). That is the class softmax's
own factorisation with the history cut to one word, so classes that help
the bigram model are classes the network can predict.

One pass visits the words in descending frequency and moves each to the
class that maximises F with the other words fixed (the move's gain is
exact: only the column sums over w's predecessors and two class counts
change; a word's own row is indexed by word, not class, so ``w w``
bigrams need no special case). Passes repeat until no word moves or
``iterations`` is reached. F never decreases.
"""

from __future__ import annotations

import numpy as np

from ..errors import NgramkitError


def xlogx(x: np.ndarray) -> np.ndarray:
    """x log x for counts x >= 0 (0 log 0 = 0; exact for integer-valued x since log max(x, 1) = 0 at x = 0)."""
    return x * np.log(np.maximum(x, 1.0))


def predecessor_counts(ids: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bigram counts grouped by the second word: ``(starts (V+1,), prev (K,), count (K,) float64)``.

    The predecessors of word w are ``prev[starts[w]:starts[w+1]]`` with
    their bigram counts ``count[...]``, K distinct bigrams in all.
    """
    ids = np.asarray(ids, np.int64)
    if ids.ndim != 1:
        raise NgramkitError(f"word ids must be a 1-D array, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise NgramkitError(f"word ids must lie in [0, {vocab_size}), got {ids.min()}..{ids.max()}")
    codes, count = np.unique(ids[1:] * vocab_size + ids[:-1], return_counts=True)  # sorted by (next, prev)
    nxt, prev = np.divmod(codes, vocab_size)
    starts = np.searchsorted(nxt, np.arange(vocab_size + 1))
    return starts, prev, count.astype(np.float64)


def objective(ids: np.ndarray, cls: np.ndarray) -> float:
    """F of the module docstring for classes ``cls`` on the stream ``ids`` (natural log)."""
    ids = np.asarray(ids, np.int64)
    cls = np.asarray(cls, np.int64)
    n_classes = int(cls.max()) + 1
    pair = np.bincount(ids[:-1] * n_classes + cls[ids[1:]], minlength=0).astype(np.float64)
    succ = np.bincount(cls[ids[1:]], minlength=n_classes).astype(np.float64)
    return float(xlogx(pair).sum() - xlogx(succ).sum())


def exchange_classes(ids: np.ndarray, vocab_size: int, start: np.ndarray, *, iterations: int = 10,
                     frozen=()) -> np.ndarray:
    """Improve the word classes ``start`` (V,) by exchange passes over the stream ``ids``; see the module.

    Words in ``frozen`` (e.g. ``<s>``, ``<pad>``) and words that never
    follow another word keep their class.

    >>> ids = np.array([0, 1, 3, 0, 2, 4, 0, 1, 3, 0, 2, 4])
    >>> start = np.array([0, 0, 0, 0, 1])
    >>> cls = exchange_classes(ids, 5, start)
    >>> cls.tolist()  # 0 joins 4: every word now predicts its successor's class for certain
    [1, 0, 0, 0, 1]
    >>> bool(objective(ids, cls) > objective(ids, start))
    True
    """
    if iterations < 0:
        raise NgramkitError(f"exchange iterations must be >= 0, got {iterations}")
    cls = np.array(start, np.int64)
    if cls.shape != (vocab_size,) or (vocab_size and cls.min() < 0):
        raise NgramkitError(f"start classes must be a ({vocab_size},) array of ids >= 0, got shape {cls.shape}")
    starts, prev, count = predecessor_counts(ids, vocab_size)
    n_classes = int(cls.max()) + 1
    n_word = np.bincount(np.asarray(ids, np.int64)[1:], minlength=vocab_size).astype(np.float64)
    by_class = np.zeros((vocab_size, n_classes))  # N(v, c): (V, C)
    np.add.at(by_class, (prev, cls[np.repeat(np.arange(vocab_size), np.diff(starts))]), count)
    n_class = np.bincount(cls, weights=n_word, minlength=n_classes)  # N(c): (C,)
    movable = np.ones(vocab_size, bool)
    movable[[i for i in frozen if i < vocab_size]] = False
    visit = [w for w in np.lexsort((np.arange(vocab_size), -n_word)).tolist() if movable[w] and n_word[w] > 0]
    for _ in range(iterations):
        moved = 0
        for w in visit:
            p, n, a = prev[starts[w]:starts[w + 1]], count[starts[w]:starts[w + 1]], cls[w]
            by_class[p, a] -= n  # take w out of its class
            n_class[a] -= n_word[w]
            rows = by_class[p]  # (K_w, C)
            gain = (xlogx(rows + n[:, None]) - xlogx(rows)).sum(0) - (xlogx(n_class + n_word[w]) - xlogx(n_class))
            b = int(np.argmax(gain))
            if gain[b] <= gain[a] + 1e-9 * abs(gain[a]):  # ties and rounding noise keep the word where it is
                b = a
            by_class[p, b] += n
            n_class[b] += n_word[w]
            if b != a:
                cls[w] = b
                moved += 1
        if moved == 0:
            break
    return cls
