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


# ---- nltk.lm's perplexity over n-gram tuples, and the habits of nltk.lm and kenlm users --------


def test_perplexity_of_ngram_tuples_equals_nltk_mle(corpus):
    """nltk's own pipeline: bigrams of pad_both_ends(s, n=2) pad as ngramkit does (one <s>, one </s>)."""
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    from ngramkit.models import MLE

    sents = corpus[0]
    train, words = padded_everygram_pipeline(2, sents)
    theirs = nltk_lm.MLE(2)
    theirs.fit(train, words)
    ours = MLE(2).fit_sentences(sents)
    test = sents[::7]  # seen sentences: every MLE probability is positive
    grams = [g for s in test for g in ngrams(pad_both_ends(s, n=2), 2)]
    want = theirs.perplexity(grams)
    assert 1 < want < 1e4
    assert ours.perplexity(grams) == pytest.approx(want, rel=1e-9)
    assert ours.entropy(grams) == pytest.approx(theirs.entropy(grams), rel=1e-9)
    assert ours.perplexity(iter(grams)) == pytest.approx(want, rel=1e-9)  # a generator, as ngrams() gives
    # Sentences give the same events: <s> as context, every word and </s> predicted.
    assert ours.perplexity(test) == pytest.approx(want, rel=1e-9)
    # The old reading (each tuple a sentence of its own) was far off.
    assert abs(ours.perplexity([list(g) for g in grams]) / want - 1) > 0.1


@pytest.mark.parametrize("order", [2, 3])
def test_perplexity_of_ngram_tuples_equals_nltk_laplace(order, corpus, tm_sentences):
    """Laplace where the definitions coincide: nltk's vocabulary without <s> (|V| as ngramkit's), one <s>.

    nltk then reads <s> as <UNK>, in training and in queries alike; with every training word in its
    vocabulary <UNK> stands for <s> only, so n-grams whose context holds an unknown word are left out.
    Unknown predicted words are kept (both give (0 + 1) / (c(context) + |V|)).
    """
    from nltk.util import ngrams

    sents, vocab, counts, padded = corpus
    words = vocab.words[4:] + ["</s>"]
    nv = nltk_lm.Vocabulary(words, unk_cutoff=1)
    theirs = nltk_lm.Laplace(order, vocabulary=nv)
    theirs.fit([list(everygrams(p, max_len=order)) for p in padded])
    ours = Laplace(order).fit(counts)
    assert len(theirs.vocab) == ours.n_predictable
    known = set(words) | {"<s>"}
    grams = [g for s in tm_sentences[700:900] for g in ngrams(["<s>", *s, "</s>"], order)
             if set(g[:-1]) <= known]
    assert len(grams) > 1000 and any(g[-1] not in known for g in grams)
    assert ours.perplexity(grams) == pytest.approx(theirs.perplexity(grams), rel=1e-9)


def test_laplace_differs_from_nltk_pipeline_by_bos_in_v():
    """README's example: nltk's own pipeline puts <s> in |V| (9 here), ngramkit's |V| (8) has no <s>."""
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    train = [["a", "b", "c"], ["a", "c", "d", "c", "e", "f"]]
    test = [["a", "b", "c", "d", "c", "f"]]
    grams = [g for s in test for g in ngrams(pad_both_ends(s, n=2), 2)]
    theirs = nltk_lm.Laplace(2)
    theirs.fit(*padded_everygram_pipeline(2, train))
    ours = Laplace(2).fit_sentences(train)
    assert (len(theirs.vocab), ours.n_predictable) == (9, 8)
    # Hand-derived: P(b | a) = (c(a b) + 1) / (c(a) + |V|).
    assert theirs.score("b", ["a"]) == pytest.approx(2 / 11) and ours.score("b", ["a"]) == pytest.approx(2 / 10)
    # Perplexity of the 7 bigrams: counts c(<s> a)=2, c(a b)=1, c(b c)=1, c(c d)=1, c(d c)=1, c(c f)=0,
    # c(f </s>)=1; context counts c(<s>)=2, c(a)=2, c(b)=1, c(c)=3, c(d)=1, c(f)=1.
    num = [3, 2, 2, 2, 2, 1, 2]
    den = [2, 2, 1, 3, 1, 3, 1]
    for size, model in ((9, theirs), (8, ours)):
        ppl = np.prod([(d + size) / n for n, d in zip(num, den)]) ** (1 / 7)
        assert model.perplexity(grams) == pytest.approx(ppl, rel=1e-12)
    assert round(theirs.perplexity(grams), 2) == 5.64 and round(ours.perplexity(grams), 2) == 5.12


def test_bad_ngram_tuples_are_refused(corpus):
    from ngramkit.errors import NgramkitError
    from ngramkit.models import StupidBackoff

    sents, vocab, counts, padded = corpus
    model = Laplace(2).fit(counts)
    with pytest.raises(NgramkitError, match=r"n-gram \('the', 'time', 'machine'\): a tuple is read as an n-gram "
                       r"\(nltk.lm's form\) and must hold 1 to 2 words .*ngrams\(pad_both_ends\(s, n=2\), 2\)"):
        model.perplexity([("<s>", "the"), ("the", "time", "machine")])
    with pytest.raises(NgramkitError, match="mixes tuples"):
        model.perplexity([("<s>", "the"), ["the", "time"]])
    with pytest.raises(NgramkitError, match="must hold 1 to 2 words"):
        model.perplexity([()])
    with pytest.raises(NgramkitError, match="scores, not probabilities"):
        StupidBackoff(2).fit(counts).perplexity([("<s>", "the")])


def test_score_of_a_sentence_is_an_error(corpus):
    """KenLM's habit, model.score(sentence), used to return P(<unk>) without a word of warning."""
    from ngramkit.errors import NgramkitError
    from ngramkit.models import ModifiedKneserNey

    sents, vocab, counts, padded = corpus
    model = ModifiedKneserNey(ORDER).fit(counts)
    for call in (model.score, model.logscore):
        with pytest.raises(NgramkitError) as info:
            call("the company said it expects a loss")
        msg = str(info.value)
        assert msg.startswith("score/logscore take one word, got 'the company said it expects a loss' (it contains")
        assert "model.perplexity([sentence.split()])" in msg and "ngramkit.evaluate" in msg and "\n" not in msg
        assert "ngramkit.kenlm.Model(path).score(sentence)" in msg  # KenLM's sentence-level call, now there
    assert 0 < model.score("zzz") == model.score("<unk>")  # an unknown word is still P(<unk>)
    # A word with whitespace that the vocabulary holds (character level: the space) is a word.
    chars = Laplace(2).fit_sentences([list("the time machine"), list("a time")])
    # "e" is followed by " " twice and by </s> twice; |V| = 13 ids less <s> and <pad>.
    assert " " in chars.vocab and chars.score(" ", ["e"]) == pytest.approx((2 + 1) / (4 + len(chars.vocab) - 2))
