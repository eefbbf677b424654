"""evaluate(): the numbers KenLM's `query -v summary` prints, computed naively here as the oracle."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from ngramkit import NgramkitError, Stream, Vocabulary
from ngramkit.evaluate import evaluate
from ngramkit.models import MLE, KneserNey, ModifiedKneserNey, StupidBackoff
from ngramkit.vocab import BOS_ID


@pytest.fixture(scope="module")
def setup(tm_sentences):
    train, test = tm_sentences[:1500], tm_sentences[1500:1700]
    vocab = Vocabulary.build(train)
    model = ModifiedKneserNey(3).fit_sentences(train, vocab)
    return model, vocab, test


def test_summary_matches_naive_computation(setup):
    model, vocab, test = setup
    stream = Stream.from_sentences(test, vocab)
    ev = evaluate(model, stream, per_sentence=True)
    # Oracle: every word and </s> of every sentence, context restarting at <s>; OOV = word not in vocab.
    total10, total10_iv, n, oov = 0.0, 0.0, 0, 0
    for sent in test:
        hist = [BOS_ID]
        for word in sent + ["</s>"]:
            wid = vocab.id(word)
            lp10 = model.next_log_probs(hist)[wid] / math.log(10)
            total10 += lp10
            n += 1
            if word in vocab:
                total10_iv += lp10
            else:
                oov += 1
            hist.append(wid)
    assert oov > 0
    assert (ev.tokens, ev.sentences, ev.oovs) == (n, len(test), oov)
    assert ev.tokens == sum(len(s) + 1 for s in test)
    assert ev.logprob10 == pytest.approx(total10, rel=1e-12)
    assert ev.logprob == pytest.approx(total10 * math.log(10), rel=1e-12)
    assert ev.perplexity == pytest.approx(10 ** (-total10 / n), rel=1e-12)
    assert ev.perplexity_no_oov == pytest.approx(10 ** (-total10_iv / (n - oov)), rel=1e-12)
    assert ev.cross_entropy == pytest.approx(math.log2(ev.perplexity), rel=1e-12)
    assert ev.zeroprobs == 0
    # Per sentence: sums and counts add up; perplexity of each sentence includes its </s>.
    assert ev.sentence_logprob10.sum() == pytest.approx(ev.logprob10, rel=1e-12)
    assert ev.sentence_tokens.tolist() == [len(s) + 1 for s in test]
    assert ev.sentence_oovs.sum() == ev.oovs
    assert ev.sentence_perplexity[0] == pytest.approx(10 ** (-ev.sentence_logprob10[0] / (len(test[0]) + 1)))
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["tokens"] == n and len(d["per_sentence"]["logprob10"]) == len(test)
    # The conveniences go through the same code.
    assert model.perplexity(test) == pytest.approx(ev.perplexity, rel=1e-12)
    assert model.entropy(test) == pytest.approx(ev.cross_entropy, rel=1e-12)


def test_literal_unk_is_not_an_oov(setup):
    model, vocab, _ = setup
    ev = evaluate(model, Stream.from_sentences([["<unk>", "the"], ["qqqq"]], vocab))
    assert ev.oovs == 1 and ev.tokens == 5


def test_stream_with_another_vocabulary_is_remapped(setup):
    model, vocab, test = setup
    other = Vocabulary.build(test)  # different ids; words outside the model's vocabulary become OOVs
    ev_other = evaluate(model, Stream.from_sentences(test, other))
    ev_same = evaluate(model, Stream.from_sentences(test, vocab))
    assert ev_other.oovs == ev_same.oovs
    assert ev_other.logprob10 == pytest.approx(ev_same.logprob10, rel=1e-12)


def test_mle_unseen_events_give_infinite_perplexity_without_warnings(setup):
    mle = MLE(3).fit_sentences([["a", "b"]])
    stream = Stream.from_sentences([["a", "b"], ["b", "a"]], mle.vocab)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = evaluate(mle, stream, per_sentence=True)
    # Second sentence: c(<s> b) = 0; "<s> b" unseen as a context -> c(b a) = 0; "b a" unseen -> c(a </s>) = 0.
    assert ev.zeroprobs == 3
    assert ev.perplexity == math.inf and ev.cross_entropy == math.inf and ev.logprob10 == -math.inf
    assert not math.isnan(ev.perplexity_no_oov)
    assert ev.sentence_logprob10[0] == pytest.approx(0.0) and ev.sentence_logprob10[1] == -math.inf
    d = json.loads(json.dumps(ev.to_dict(), allow_nan=False))  # strict JSON: null plus a companion, no "inf"
    assert (d["ppl"], d["ppl_nonfinite"]) == (None, "inf")
    assert (d["bits_per_token"], d["bits_per_token_nonfinite"]) == (None, "inf")
    assert (d["logprob10"], d["logprob10_nonfinite"]) == (None, "-inf")
    assert d["per_sentence"]["logprob10"][0] == pytest.approx(0.0) and d["per_sentence"]["logprob10"][1] is None
    assert d["per_sentence"]["logprob10_nonfinite"] == {"1": "-inf"}
    assert d["per_sentence"]["ppl_nonfinite"] == {"1": "inf"} and d["ppl_no_oov_nonfinite"] == "inf"  # no OOVs here


def test_stupid_backoff_is_refused_unless_allowed(setup):
    _, vocab, test = setup
    sb = StupidBackoff(3).fit_sentences(test, vocab)
    stream = Stream.from_sentences(test[:10], vocab)
    with pytest.raises(NgramkitError, match="allow_scores=True"):
        evaluate(sb, stream)
    assert evaluate(sb, stream, allow_scores=True).tokens == stream.n_tokens


def test_empty_text_and_bad_input(setup):
    model, vocab, _ = setup
    with pytest.raises(NgramkitError, match="no sentences"):
        evaluate(model, Stream.from_sentences([], vocab))
    with pytest.raises(NgramkitError, match="expects a Stream"):
        evaluate(model, [["a"]])


def test_kn_perplexity_orders_improve_on_held_out(tm_sentences):
    """Sanity on held-out text: KN beats MLE-free baselines and higher orders do not blow up."""
    train, test = tm_sentences[:2500], tm_sentences[2500:]
    vocab = Vocabulary.build(train)
    ppl = [evaluate(KneserNey(k).fit_sentences(train, vocab), Stream.from_sentences(test, vocab)).perplexity
           for k in (1, 2, 3)]
    assert ppl[1] < ppl[0] and ppl[2] < ppl[0] * 0.8
