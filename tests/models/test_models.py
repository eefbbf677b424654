"""The model classes: vectorised scoring vs per-context distributions, hand-derived values, state, generation, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ngramkit import NGramCounts, NgramkitError, Stream, Vocabulary
from ngramkit.models import (MODELS, MLE, AbsoluteDiscounting, Additive, BackoffModel, KneserNey, Laplace,
                             LanguageModel, ModifiedKneserNey, StupidBackoff, WittenBell)
from ngramkit.vocab import BOS_ID, EOS_ID, PAD_ID

HPARAMS = {"lidstone": {"k": 0.3}, "mkn": {"discounts": (0.6, 1.1, 1.4)}}
TINY = [["a", "b", "a"], ["b", "a", "c"], ["a", "b"], ["c"]]


@pytest.fixture(scope="module")
def part(tm_sentences, tm_vocab):
    stream = Stream.from_sentences(tm_sentences[:500], tm_vocab)
    return NGramCounts.from_stream(stream, 4)


def naive_log_probs(model, stream):
    """Oracle: one next_log_probs call per token, context = the sentence so far after <s>."""
    out = []
    for i in range(stream.n_sentences):
        sent = stream.sentence(i).tolist()
        hist = [BOS_ID]
        for wid in sent:
            out.append(model.next_log_probs(hist)[wid])
            hist.append(wid)
    return np.array(out)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_log_probs_match_next_log_probs(name, order, part, tm_sentences, tm_vocab):
    model = MODELS[name](order, **HPARAMS.get(name, {})).fit(part)
    # Held-out sentences (unseen n-grams, unseen contexts) and a few training ones (seen n-grams).
    sents = tm_sentences[500:540] + tm_sentences[:10] + [["zzzunknown", "the", "time"]]
    stream = Stream.from_sentences(sents, tm_vocab)
    got = model.log_probs(stream)
    want = naive_log_probs(model, stream)
    assert got.shape == (stream.n_tokens,) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if name not in ("mle", "stupid-backoff"):  # those two give 0 to unseen events
        assert np.isfinite(got).all()


def test_hand_derived_values():
    # Counts of TINY with <s> ... </s>: c(a)=4, c(b)=3, c(c)=2, c(</s>)=4 -> N = 13 predicted tokens;
    # bigrams: <s> a 2, <s> b 1, <s> c 1, a b 2, b a 2, a </s> 1, a c 1, c </s> 2, b </s> 1.
    vocab = Vocabulary.build(TINY)  # <unk> <s> </s> <pad> a b c -> |V| = 5 predictable
    # MLE: P(b|a) = c(a b) / c(a .) = 2 / 4.
    assert MLE(2).fit_sentences(TINY, vocab).score("b", ["a"]) == pytest.approx(2 / 4)
    # Laplace: (2 + 1) / (4 + 5).
    assert Laplace(2).fit_sentences(TINY, vocab).score("b", ["a"]) == pytest.approx(3 / 9)
    # Witten-Bell: T(a) = 3 continuations (b, </s>, c); P(b) = (3 + 4/5) / (13 + 4).
    p_b = (3 + 4 / 5) / (13 + 4)
    wb = WittenBell(2).fit_sentences(TINY, vocab)
    assert wb.score("b", ["a"]) == pytest.approx((2 + 3 * p_b) / (4 + 3))
    assert wb.score("<unk>", []) == pytest.approx((0 + 4 / 5) / 17)
    # D2L additive: P(b) = (3 + e1/5) / (13 + e1), P(b|a) = (2 + e2 P(b)) / (4 + e2).
    e1, e2 = 0.5, 2.0
    add = Additive(2, epsilons=(e1, e2)).fit_sentences(TINY, vocab)
    p_b = (3 + e1 / 5) / (13 + e1)
    assert add.score("b", ["a"]) == pytest.approx((2 + e2 * p_b) / (4 + e2))
    # Absolute discounting D = 0.5: P(b) = (3 - .5)/13 + .5 * 4/13 / 5; P(b|a) = (2-.5)/4 + .5*3/4 * P(b).
    ab = AbsoluteDiscounting(2, discount=0.5).fit_sentences(TINY, vocab)
    p_b = 2.5 / 13 + 0.5 * 4 / 13 / 5
    assert ab.score("b", ["a"]) == pytest.approx(1.5 / 4 + 0.5 * 3 / 4 * p_b)
    # Stupid backoff: S(c|b) = 0.4 * c(c)/N since "b c" is unseen.
    sb = StupidBackoff(2).fit_sentences(TINY, vocab)
    assert sb.score("c", ["b"]) == pytest.approx(0.4 * 2 / 13)
    assert sb.score("a", ["b"]) == pytest.approx(2 / 3)
    # Kneser-Ney D = 0.5: continuation counts N1+(. w): a {<s>, b} 2, b {<s>, a} 2, c {<s>, a} 2,
    # </s> {a, b, c} 3 -> total 9; P(b) = (2 - .5)/9 + .5 * 4/9 / 5; P(b|a) = (2 - .5)/4 + .5 * 3/4 P(b).
    kn = KneserNey(2, discount=0.5).fit_sentences(TINY, vocab)
    p_b = 1.5 / 9 + 0.5 * 4 / 9 / 5
    assert kn.score("b", ["a"]) == pytest.approx(1.5 / 4 + 0.5 * 3 / 4 * p_b)
    assert kn.logscore("b", ["a"]) == pytest.approx(math.log2(1.5 / 4 + 0.5 * 3 / 4 * p_b))


def test_mle_unseen_event_is_minus_infinity():
    vocab = Vocabulary.build(TINY)
    model = MLE(2).fit_sentences(TINY, vocab)
    lp = model.log_probs(Stream.from_sentences([["b", "c"]], vocab))
    assert lp[1] == -np.inf and np.isfinite(lp[0])
    assert model.score("c", ["b"]) == 0.0
    # An unseen context falls back to the longest suffix seen as a context (here: the unigram MLE).
    assert model.score("a", ["<unk>"]) == pytest.approx(4 / 13)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_roundtrip_scores_identically(name, part, tm_sentences, tm_vocab):
    model = MODELS[name](3, **HPARAMS.get(name, {})).fit(part)
    meta, arrays = model.get_state()
    import json

    meta = json.loads(json.dumps(meta))  # JSON-able
    frozen = {}
    for key, arr in arrays.items():
        arr = np.array(arr)
        arr.flags.writeable = False  # memory maps are read-only: loading must not write into them
        frozen[key] = arr
    loaded = type(model).from_state(meta, frozen, tm_vocab)
    stream = Stream.from_sentences(tm_sentences[500:530], tm_vocab)
    np.testing.assert_array_equal(loaded.log_probs(stream), model.log_probs(stream))
    assert loaded.name == model.name and loaded.order == model.order
    np.testing.assert_array_equal(loaded.next_log_probs([BOS_ID, 5]), model.next_log_probs([BOS_ID, 5]))


def test_to_backoff_scores_identically(part, tm_sentences, tm_vocab):
    stream = Stream.from_sentences(tm_sentences[500:530], tm_vocab)
    for cls in (ModifiedKneserNey, KneserNey, WittenBell, AbsoluteDiscounting, Additive):
        model = cls(3, **({"discounts": (0.6, 1.1, 1.4)} if cls is ModifiedKneserNey else {})).fit(part)
        bo = model.to_backoff()
        assert type(bo) is BackoffModel
        np.testing.assert_array_equal(bo.log_probs(stream), model.log_probs(stream))
    for cls in (MLE, Laplace, StupidBackoff):
        with pytest.raises(NgramkitError, match="native format"):
            cls(3).fit(part).to_backoff()


def test_fit_from_higher_order_counts_is_the_same(tm_sentences, tm_vocab):
    stream = Stream.from_sentences(tm_sentences[:300], tm_vocab)
    a = ModifiedKneserNey(2, discounts=(0.5, 1, 1.5)).fit(NGramCounts.from_stream(stream, 2))
    b = ModifiedKneserNey(2, discounts=(0.5, 1, 1.5)).fit(NGramCounts.from_stream(stream, 4))
    for k in (1, 2):
        np.testing.assert_array_equal(a.logp10(k), b.logp10(k))
        np.testing.assert_array_equal(a.backoff10(k), b.backoff10(k))


def test_generate(part, tm_vocab):
    model = ModifiedKneserNey(3, discounts=(0.6, 1.1, 1.4)).fit(part)
    a = model.generate(40, random_seed=3)
    assert a == model.generate(40, random_seed=3)
    assert len(a) == 40 and all(w in tm_vocab for w in a)
    assert "<s>" not in a and "<pad>" not in a
    assert "</s>" in a  # generation continues across sentences
    one = model.generate(200, random_seed=1, stop_at_eos=True)
    assert one[-1] == "</s>" and one.count("</s>") == 1
    # Greedy limits: top_k=1 and a tiny temperature both take the most probable token.
    lp = model.next_log_probs([BOS_ID, tm_vocab.id("the")])
    best = tm_vocab.words[int(np.argmax(lp))]
    assert model.generate(1, text_seed=["the"], top_k=1, random_seed=0) == [best]
    assert model.generate(1, text_seed=["the"], temperature=1e-6, random_seed=5) == [best]
    # The seed after a </s> starts a new sentence.
    after = model.next_log_probs([BOS_ID])
    assert model.generate(1, text_seed=["the", "</s>"], top_k=1) == [tm_vocab.words[int(np.argmax(after))]]
    for bad in ({"temperature": 0}, {"top_k": 0}, {"temperature": float("nan")}):
        with pytest.raises(NgramkitError):
            model.generate(3, **bad)
    with pytest.raises(NgramkitError, match="num_words"):
        model.generate(-1)


def test_errors_are_clear(tm_vocab):
    with pytest.raises(NgramkitError, match="order must be >= 1"):
        KneserNey(0)
    with pytest.raises(NgramkitError, match="not fitted"):
        Laplace(2).perplexity([["a"]])
    counts = NGramCounts.from_sentences(TINY, 2)
    with pytest.raises(NgramkitError, match="needs counts of orders 1..3"):
        Laplace(3).fit(counts)
    with pytest.raises(NgramkitError, match=r"count-of-counts .* pass discounts=\.\.\."):
        ModifiedKneserNey(2).fit(counts)
    ModifiedKneserNey(2, discounts=[(0.5, 1.0, 1.5), (0.5, 1.0, 1.5)]).fit(counts)  # the suggested fix works
    for make in (lambda: Lidstone_(k=0), lambda: StupidBackoff(2, alpha=-1), lambda: KneserNey(2, discount=1.5),
                 lambda: ModifiedKneserNey(2, discounts=(0.5, 1.0)), lambda: AbsoluteDiscounting(2, discount=[0.5]),
                 lambda: Additive(2, epsilons=-1)):
        with pytest.raises(NgramkitError):
            make()
    with pytest.raises(TypeError):
        KneserNey(2, 0.5)  # hyper-parameters are keyword-only


def Lidstone_(**kw):
    return MODELS["lidstone"](2, **kw)


def test_registry():
    assert set(MODELS) == {"mle", "laplace", "lidstone", "additive", "witten-bell", "absolute", "kn", "mkn",
                           "stupid-backoff"}
    for name, cls in MODELS.items():
        assert cls.name == name and issubclass(cls, LanguageModel)
        assert cls.is_probabilistic == (name != "stupid-backoff")


def test_next_log_probs_masks_specials(part):
    for name in MODELS:
        lp = MODELS[name](2, **HPARAMS.get(name, {})).fit(part).next_log_probs([BOS_ID])
        assert lp[BOS_ID] == -np.inf and lp[PAD_ID] == -np.inf
        assert np.isfinite(lp[EOS_ID]) or name == "mle"  # MLE: "<s> </s>" was never seen
