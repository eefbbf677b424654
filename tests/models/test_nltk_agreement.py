"""Laplace, Lidstone, KneserNey and WittenBell agree with nltk.lm where the definitions coincide.

Conventions, and how the test gets around them:

- Padding: nltk's ``padded_everygram_pipeline`` pads every sentence with
  order-1 ``<s>`` and ``</s>``; ngramkit (like KenLM and SRILM) pads one
  ``<s>`` and one ``</s>``. Here nltk is fed the n-grams of ngramkit's padding
  (``everygrams`` of ``<s> w1 .. wn </s>``), so both count the same events.
- Vocabulary: nltk's ``|V|`` counts every vocabulary entry, ``<UNK>`` and
  (with its pipeline) ``<s>``; ngramkit's ``|V|`` is the predictable tokens
  (words, ``<unk>``, ``</s>``; ``<s>`` is never predicted). nltk gets the
  vocabulary words + ``</s>`` (its ``<UNK>`` plays ``<unk>``), so the sizes
  agree. nltk maps a context word outside its vocabulary to ``<UNK>``, so the
  Laplace/Lidstone contexts avoid ``<s>``.
- Lowest order: nltk's Kneser-Ney unigram is the plain continuation-count
  ratio and its Witten-Bell unigram the plain MLE (unseen words get 0);
  ngramkit interpolates both with the uniform distribution so that every
  vocabulary word gets probability. The test replaces nltk's
  ``unigram_score`` by that interpolated unigram, computed here from a naive
  ``Counter``; every higher level is nltk's own code.
- Kneser-Ney: nltk uses continuation counts at every lower order, KenLM (and
  ngramkit) keep raw counts for n-grams starting with ``<s>``; nltk divides
  by zero for the bare context ``(<s>,)`` of a trigram. Contexts with ``<s>``
  are only used where both agree (``(<s>, w)`` as a full trigram context).
  ngramkit's ``KneserNey(discount=0.1)`` is nltk's one discount for all orders.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

nltk_lm = pytest.importorskip("nltk.lm")
from nltk.util import everygrams  # noqa: E402

from ngramkit import NGramCounts, Stream, Vocabulary  # noqa: E402
from ngramkit.models import KneserNey, Laplace, Lidstone, WittenBell  # noqa: E402

ORDER = 3
N_PAIRS = 1000


@pytest.fixture(scope="module")
def corpus(tm_sentences):
    sents = tm_sentences[:700]
    vocab = Vocabulary.build(sents)
    counts = NGramCounts.from_stream(Stream.from_sentences(sents, vocab), ORDER)
    padded = [["<s>", *s, "</s>"] for s in sents]
    return sents, vocab, counts, padded


def nltk_model(cls, padded, vocab, *, with_bos, **kw):
    words = vocab.words[4:] + ["</s>"] + (["<s>"] if with_bos else [])
    nv = nltk_lm.Vocabulary(words, unk_cutoff=1)
    model = cls(kw.pop("gamma"), ORDER, vocabulary=nv) if cls is nltk_lm.Lidstone else cls(ORDER, vocabulary=nv, **kw)
    model.fit([list(everygrams(p, max_len=ORDER)) for p in padded])
    return model


def sample_pairs(padded, vocab, *, allow_bos, rng):
    """(word, context) pairs: seen events at random positions and random (mostly unseen) words."""
    pairs = []
    words = vocab.words[4:] + ["</s>", "<unk>"]
    while len(pairs) < N_PAIRS:
        sent = padded[rng.integers(len(padded))]
        t = int(rng.integers(1, len(sent)))
        ctx = tuple(sent[max(0, t - ORDER + 1) : t])
        if len(ctx) < ORDER - 1 or (not allow_bos and "<s>" in ctx):
            continue
        word = sent[t] if rng.random() < 0.6 else words[rng.integers(len(words))]
        pairs.append((word, ctx))
    return pairs


def nltk_word(word):
    return "<UNK>" if word == "<unk>" else word


def compare(ours, theirs, pairs):
    got = np.array([ours.score(w, list(c)) for w, c in pairs])
    want = np.array([theirs.score(nltk_word(w), c) for w, c in pairs])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
    assert (got > 0).all() and len(set(pairs)) > 500


@pytest.mark.parametrize("k", [1.0, 0.1])
def test_laplace_lidstone(k, corpus):
    sents, vocab, counts, padded = corpus
    ours = Laplace(ORDER).fit(counts) if k == 1.0 else Lidstone(ORDER, k=k).fit(counts)
    theirs = (nltk_model(nltk_lm.Laplace, padded, vocab, with_bos=False) if k == 1.0
              else nltk_model(nltk_lm.Lidstone, padded, vocab, with_bos=False, gamma=k))
    assert len(theirs.vocab) == ours.n_predictable
    compare(ours, theirs, sample_pairs(padded, vocab, allow_bos=False, rng=np.random.default_rng(1)))


def test_witten_bell(corpus):
    sents, vocab, counts, padded = corpus
    ours = WittenBell(ORDER).fit(counts)
    theirs = nltk_model(nltk_lm.WittenBellInterpolated, padded, vocab, with_bos=True)
    # ngramkit's unigram level, from a naive Counter: (c(w) + T / |V|) / (N + T).
    c = Counter(w for p in padded for w in p[1:])
    n, t, size = sum(c.values()), len(c), len(vocab) - 2
    theirs.estimator.unigram_score = lambda w: (c[w] + t / size) / (n + t)
    pairs = sample_pairs(padded, vocab, allow_bos=True, rng=np.random.default_rng(2))
    assert any(ctx[0] == "<s>" for _, ctx in pairs)
    compare(ours, theirs, pairs)


def test_kneser_ney(corpus):
    sents, vocab, counts, padded = corpus
    d = 0.1
    ours = KneserNey(ORDER, discount=d).fit(counts)
    theirs = nltk_model(nltk_lm.KneserNeyInterpolated, padded, vocab, with_bos=True, discount=d)
    # ngramkit's unigram level, from a naive Counter of continuation counts N1+(. w):
    # max(N1+(. w) - D, 0) / N1+(. .) + D * |{w: N1+(. w) > 0}| / N1+(. .) / |V|.
    bigrams = {(p[i], p[i + 1]) for p in padded for i in range(len(p) - 1)}
    cont = Counter(w for _, w in bigrams)
    total, types, size = sum(cont.values()), len(cont), len(vocab) - 2
    theirs.estimator.unigram_score = lambda w: max(cont[w] - d, 0) / total + d * types / total / size
    pairs = sample_pairs(padded, vocab, allow_bos=True, rng=np.random.default_rng(3))
    assert any(ctx[0] == "<s>" for _, ctx in pairs)
    compare(ours, theirs, pairs)


def test_nltk_padding_differs_at_sentence_start(corpus):
    """The documented difference: with nltk's own pipeline the first word's context is (<s>, <s>)."""
    sents, vocab, counts, padded = corpus
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train, words = padded_everygram_pipeline(ORDER, sents)
    theirs = nltk_lm.Laplace(ORDER)
    theirs.fit(train, words)
    ours = Laplace(ORDER).fit(counts)
    assert len(theirs.vocab) == ours.n_predictable + 1  # nltk also counts <s> as a possible next word
    first = sents[0][0]
    assert theirs.counts[("<s>", "<s>")][first] == sum(s[0] == first for s in sents)
    assert ours.score(first, ["<s>"]) != theirs.score(first, ["<s>"])
