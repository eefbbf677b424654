"""Vocabulary limits: keep only the n-grams made of listed words (lmplz ``--limit_vocab_file``, SRILM ``-limit-vocab``).

Input: a word list (a file of whitespace-separated words, as lmplz reads it,
or any iterable of words) and either a vocabulary (training) or a fitted
backoff model (loading). Output:

- :func:`allowed_mask`: (V,) bool over a vocabulary's ids, True for the
  listed words and for ``<unk>``, ``<s>``, ``</s>`` (never dropped, as in
  lmplz's ``CorpusCount``); what ``fit(counts, limit_vocab=...)`` of the
  interpolated models uses to drop n-grams while estimating (lmplz's
  semantics, :mod:`ngramkit.models.interpolated`);
- :func:`shrink_vocab`: the vocabulary of the kept ids and the old -> new id map;
- :func:`limit_vocab`: a fitted model restricted to the listed words and
  renormalised (the ``--limit-vocab`` of ``ppl`` and ``convert``).

Loading with a limit (:func:`limit_vocab`) gives, for every history h over
the kept vocabulary V' and every w in V',

    P'(w | h) = P(w | h) / Z(h),      Z(h) = sum_{v in V'} P(v | h),

the original model conditioned on the next word being in V'. In backoff
form that is exact with the n-grams over V' only: an explicit n-gram ``h w``
gets ``p(w|h) / Z(h)`` and a context h the backoff weight
``bow(h) Z(h') / Z(h)`` (h' = h without its first word; a context that is
not in the model has Z of its longest stored suffix), with, per context row,

    Z(h) = sum_{w in E'(h)} p(w|h) + bow(h) (Z(h') - sum_{w in E'(h)} P(w|h')),

E'(h) the explicit kept n-grams of h, computed order by order with numpy
(``Z()`` of the empty context is the sum of the kept unigrams). So the
limited model sums to 1 over V' in every context (SRILM's ``-limit-vocab``
drops the parameters and leaves the distributions unnormalised; this keeps
what it keeps and renormalises). Words outside V' become ``<unk>`` when text
is scored with the limited model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from .errors import InputError, NgramkitError, ParameterError
from .models.backoff import BackoffModel
from .models.lookup import find_rows
from .text import decode, read_bytes
from .vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocabulary

ALWAYS_KEPT = (UNK_ID, BOS_ID, EOS_ID)  # lmplz never prunes <unk>, <s>, </s> (corpus_count.cc)


def read_vocab_file(path: str | os.PathLike) -> list[str]:
    """The words of a vocabulary file: whitespace-separated (any layout; lmplz's delimiters), UTF-8, gz/bz2/xz ok.

    A missing, binary or undecodable file, or one without words, is an :class:`InputError` naming it.
    """
    name = str(path)
    text = decode(read_bytes(path), name)
    words = text.replace("\0", " ").split()
    if not words:
        raise InputError(f"{name}: holds no words (a vocabulary file lists words separated by whitespace)")
    return words


def word_list(words, param: str = "limit_vocab") -> list[str]:
    """``words`` as a list: a path (str or PathLike) is read with :func:`read_vocab_file`, else an iterable of words."""
    if isinstance(words, (str, os.PathLike)):
        return read_vocab_file(words)
    if not isinstance(words, Iterable):
        raise ParameterError(param, f"must be a vocabulary file's path or an iterable of words, got {words!r}")
    out = list(words)
    bad = next((w for w in out if not isinstance(w, str)), None)
    if bad is not None:
        raise ParameterError(param, f"words must be strings, got {bad!r}")
    return out


def allowed_mask(vocab: Vocabulary, words) -> np.ndarray:
    """(V,) bool: the ids of ``vocab`` that are listed in ``words`` (see :func:`word_list`), plus <unk>, <s>, </s>.

    Listed words absent from ``vocab`` are ignored; ``<pad>`` is never allowed (it is never a word of a model).
    """
    listed = set(word_list(words))
    allowed = np.zeros(len(vocab), bool)
    ids = [vocab.index[w] for w in listed if w in vocab.index]
    allowed[np.asarray(ids, np.int64)] = True
    allowed[list(ALWAYS_KEPT)] = True
    allowed[PAD_ID] = False
    return allowed


def shrink_vocab(vocab: Vocabulary, keep: np.ndarray) -> tuple[Vocabulary, np.ndarray]:
    """(vocabulary of the ids with ``keep`` (V,) True, in their order; (V,) int64 old id -> new id, -1 if dropped).

    The specials always stay (ids 0..3). The training counts of dropped words are added to ``<unk>``'s (they
    are ``<unk>`` for the new vocabulary). The map is increasing, so sorted n-gram tables stay sorted.
    """
    keep = np.asarray(keep, bool).copy()
    keep[: len(SPECIALS)] = True
    ids = np.flatnonzero(keep)
    counts = vocab.counts[ids].copy()
    counts[UNK_ID] += int(vocab.counts[~keep].sum())
    new = Vocabulary([vocab.words[i] for i in ids.tolist()], counts)
    old_to_new = np.full(len(vocab), -1, np.int64)
    old_to_new[ids] = np.arange(ids.size)
    return new, old_to_new


def limit_vocab(model, words) -> BackoffModel:
    """``model`` restricted to the listed ``words`` (plus <unk>, <s>, </s>) and renormalised (module docstring).

    ``model``: a :class:`BackoffModel` or any n-gram model with ``to_backoff()``; ``words``: a vocabulary
    file's path or an iterable of words (:func:`word_list`). Returns a new :class:`BackoffModel` whose
    vocabulary is the kept words in their old order.

    >>> from ngramkit import NGramCounts
    >>> from ngramkit.models import WittenBell
    >>> lm = WittenBell(2).fit(NGramCounts.from_sentences([["a", "b"], ["a", "c"], ["b", "c", "a"]], 2))
    >>> small = limit_vocab(lm, ["a", "b"])
    >>> small.vocab.words
    ['<unk>', '<s>', '</s>', '<pad>', 'a', 'b']
    >>> lp = small.next_log_probs(small.vocab.lookup(["a"]))  # natural logs over the new ids
    >>> round(float(np.exp(lp[np.isfinite(lp)]).sum()), 12)
    1.0
    """
    bm = _as_backoff(model)
    vocab = bm.vocab
    v = len(vocab)
    n = bm.order
    allowed = allowed_mask(vocab, words)
    ngrams = [bm.ngrams(k) for k in range(1, n + 1)]
    logp10 = [bm.logp10(k) for k in range(1, n + 1)]
    backoff10 = [bm.backoff10(k) for k in range(1, n + 1)]
    keys = [bm.keys(k) for k in range(1, n + 1)]
    keep = [allowed[np.asarray(g, np.int64)].all(axis=1) for g in ngrams]
    # the probability of the last word of rows given its context, on the ORIGINAL model (NaN: context-only)
    prob = [np.where(np.isnan(p), 0.0, 10.0 ** np.where(np.isnan(p), -np.inf, p)) for p in logp10]
    uni = ngrams[0][:, 0]
    real1 = keep[0] & ~np.isnan(logp10[0]) & (uni != BOS_ID)
    z0 = float(prob[0][real1].sum())
    if not z0 > 0:
        raise NgramkitError("the words of the vocabulary limit have probability 0 in this model")
    z, zs = [], []  # per order k < n: (M_k,) Z(h) of each row h as a context, and Z(h') of its suffix context
    for k in range(1, n):
        zs.append(_suffix_z(k, ngrams, keys, z, z0, v))
        z.append(_context_z(k, ngrams, logp10, backoff10, keys, prob, keep, zs[-1], v))
    # new values: explicit rows p / Z(context); backoffs bow * Z(h') / Z(h)
    new_p, new_b = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(1, n + 1):
            p = logp10[k - 1].copy()
            if k == 1:
                p = p - np.log10(z0)
            else:
                parent = keys[k - 1] // v
                p = p - np.log10(z[k - 2][parent])
            new_p.append(p)
            b = backoff10[k - 1].copy()
            if k < n:
                b = np.where(keep[k - 1], b + np.log10(zs[k - 1]) - np.log10(z[k - 1]), b)
            new_b.append(b)
    new_vocab, old_to_new = shrink_vocab(vocab, allowed)
    g, p, b, kk = subset_tables(ngrams, new_p, new_b, keys, keep, old_to_new, v, len(new_vocab))
    return BackoffModel.from_tables(new_vocab, g, p, b, keys=kk)


def _as_backoff(model) -> BackoffModel:
    if isinstance(model, BackoffModel):
        return model
    try:
        bm = model.to_backoff()
    except (NgramkitError, AttributeError):
        bm = None
    if not isinstance(bm, BackoffModel):
        raise ParameterError("limit_vocab", f"applies to n-gram models (backoff form), not to {type(model).__name__}")
    return bm


def _suffix_rows(ngrams, keys, k: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    """For each order-k row h: (row of its longest stored proper suffix, that suffix's length; -1/0: empty context)."""
    g = np.asarray(ngrams[k - 1], np.int64)
    m = g.shape[0]
    row = np.full(m, -1, np.int64)
    length = np.zeros(m, np.int64)
    todo = np.arange(m)
    for j in range(k - 1, 0, -1):  # suffix of j words
        if todo.size == 0:
            break
        r = find_rows(keys[:j], v, g[todo, k - j:])
        hit = r >= 0
        row[todo[hit]] = r[hit]
        length[todo[hit]] = j
        todo = todo[~hit]
    return row, length


def _suffix_z(k: int, ngrams, keys, z, z0: float, v: int) -> np.ndarray:
    """(M_k,) Z(h') of each order-k row's suffix context (its longest stored suffix; Z() for none)."""
    row, length = _suffix_rows(ngrams, keys, k, v)
    out = np.full(row.size, z0)
    for j in range(1, k):
        sel = length == j
        out[sel] = z[j - 1][row[sel]]
    return out


def _context_z(k, ngrams, logp10, backoff10, keys, prob, keep, zs, v) -> np.ndarray:
    """(M_k,) Z(h) of every order-k row h as a context (module docstring), from ``zs`` (M_k,) Z(h')."""
    m = len(ngrams[k - 1])
    child = ngrams[k]  # (M_{k+1}, k+1)
    parent = keys[k] // v
    real = keep[k] & ~np.isnan(logp10[k])
    explicit = np.bincount(parent[real], weights=prob[k][real], minlength=m)
    # P(w | h') of the explicit kept children, on the original model
    lower = np.zeros(child.shape[0])
    idx = np.flatnonzero(real)
    if idx.size:
        lower[idx] = 10.0 ** _bo_log10(keys, logp10, backoff10, v, np.asarray(child[idx, 1:], np.int64))
    lower_sum = np.bincount(parent[real], weights=lower[real], minlength=m)
    bow = 10.0 ** np.asarray(backoff10[k - 1], np.float64)
    out = explicit + bow * np.maximum(zs - lower_sum, 0.0)  # a row without children: bow(h) Z(h')
    bad = keep[k - 1] & ~(out > 0)
    if bad.any():
        raise NgramkitError(f"the words of the vocabulary limit have probability 0 after a {k}-word context")
    return out


def _bo_log10(keys, logp10, backoff10, v: int, ids: np.ndarray) -> np.ndarray:
    """(Q,) log10 P_BO(last word | the others) of the (Q, j) ``ids`` by the ARPA rule on the tables."""
    from .mix import backoff_log10  # noqa: PLC0415 (ngramkit.mix imports ngramkit.models, which imports this module)

    return backoff_log10(keys, logp10, backoff10, v, ids)


def subset_tables(ngrams, logp10, backoff10, keys, keep, old_to_new, v_old: int, v_new: int):
    """Per-order tables restricted to the rows with ``keep[k-1]`` True, in the new ids (``old_to_new``, from
    :func:`shrink_vocab`), with their keys ``parent * v_new + last`` (parent rows renumbered).

    Every kept row's prefix must be kept and its words kept (true of both callers: a row's words include its
    prefix's, and count thresholds do not decrease with the order). Returns (ngrams, logp10, backoff10, keys).
    """
    out_g, out_p, out_b, out_k = [], [], [], []
    new_row = None
    for k in range(1, len(ngrams) + 1):
        kp = keep[k - 1]
        ids = old_to_new[np.asarray(ngrams[k - 1], np.int64)[kp]]
        if k == 1:
            key = ids[:, 0]
        else:
            parent = new_row[keys[k - 1][kp] // v_old]
            key = parent * v_new + ids[:, -1]
        new_row = np.cumsum(kp, dtype=np.int64) - 1
        out_g.append(ids.astype(np.int32))
        out_p.append(logp10[k - 1][kp])
        out_b.append(backoff10[k - 1][kp])
        out_k.append(key)
    return out_g, out_p, out_b, out_k
