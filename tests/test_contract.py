"""The scoring contract (ngramkit.lm.LanguageModel), checked on every language model ngramkit builds.

Models: every smoothing of ``ngramkit.models.MODELS`` at orders 1..5, fitted
on 600 sentences of KenLM's timemachine input, and a tiny RNNLM of every
cell and both softmax kinds, trained for one short epoch. One test asserts,
for each:

- ``log_probs(stream)`` is (N,) float64, one value per word and ``</s>``,
  and no NaN;
- ``next_log_probs(context)`` is a (V,) distribution for many contexts
  (seen, unseen, empty, longer than the order, with ``<unk>`` or words the
  training text lacks): ``<s>`` and ``<pad>`` at -inf, the rest sums to 1
  (stupid backoff gives scores: no sum);
- a stream built with a foreign vocabulary (other ids, a word the model
  lacks) scores exactly as the same sentences built with the model's own
  vocabulary (the lacking word as ``<unk>``), with the same OOV flags;
- a native save/load round trip through :mod:`ngramkit.modelio` scores bit
  for bit as the model; where the model has an ARPA form, the ARPA round
  trip agrees to ARPA's 8 decimals and a second ARPA round trip is bit-exact
  (the written values are a fixed point); where it has none, saving as ARPA
  is a one-line error that leaves no file.
"""

from __future__ import annotations

import numpy as np
import pytest

from ngramkit import NGramCounts, NgramkitError, Stream, Vocabulary, modelio
from ngramkit.lm import LanguageModel
from ngramkit.models import MODELS
from ngramkit.rnn import RNNLM, RNNConfig
from ngramkit.rnn.config import TrainConfig
from ngramkit.rnn.train import train
from oracles import check_next_token_distribution, probe_contexts

# Explicit hyper-parameters where 600 sentences cannot estimate them (modified KN's 5-gram discounts,
# see test_discount_fallback.py); the estimated ones are exercised by test_kenlm_exact.py.
HPARAMS = {"lidstone": {"k": 0.3}, "additive": {"epsilons": 0.5}, "absolute": {"discount": 0.6},
           "mkn": {"discounts": (0.6, 1.1, 1.4)}}
ARPA_DECIMALS = 8  # ngramkit.arpa writes log10 values rounded to 8 decimals

CASES = ([pytest.param(("ngram", name, order), id=f"{name}-{order}")
          for name in sorted(MODELS) for order in (1, 2, 3, 4, 5)]
         + [pytest.param(("rnn", cell, softmax), id=f"rnn-{cell}-{softmax}")
            for cell in ("rnn", "gru", "lstm") for softmax in ("full", "class")])


@pytest.fixture(scope="module")
def small(tm_sentences, tm_vocab):
    """600 training sentences over the whole text's vocabulary (so some vocabulary words are unseen)."""
    stream = Stream.from_sentences(tm_sentences[:600], tm_vocab)
    return stream, NGramCounts.from_stream(stream, 5)


def build(case, small, tm_sentences, vocab) -> LanguageModel:
    family, a, b = case
    if family == "ngram":
        return MODELS[a](b, **HPARAMS.get(a, {})).fit(small[1])
    head = Stream.from_sentences(tm_sentences[:60], vocab)
    config = RNNConfig(vocab_size=len(vocab), cell=a, hidden=8, softmax=b, classes=20, seed=1)
    model = RNNLM.create(config, vocab, np.bincount(head.ids, minlength=len(vocab)))
    # one epoch of 60 sentences (660 tokens): about 20 Adam steps, which move every weight off its initial value
    return train(model, head, None, TrainConfig(batch=4, bptt=8, epochs=1, optimizer="adam", lr=0.01,
                                                schedule="none")).model


def held_out(tm_sentences):
    """Unseen sentences, a few training ones, and words no vocabulary holds (OOVs)."""
    return tm_sentences[600:640] + tm_sentences[:5] + [["zzzunknown", "the", "time"], ["qqq"]]


def has_arpa_form(model) -> bool:
    return type(model).to_backoff is not LanguageModel.to_backoff


@pytest.mark.parametrize("case", CASES)
def test_language_model_contract(case, small, tm_sentences, tm_vocab, tmp_path):
    model = build(case, small, tm_sentences, tm_vocab)
    assert isinstance(model, LanguageModel) and model.vocab == tm_vocab
    sents = held_out(tm_sentences)
    stream = Stream.from_sentences(sents, tm_vocab)

    # log_probs: (N,) float64, one value per word and </s>
    lp = model.log_probs(stream)
    assert lp.shape == (stream.n_tokens,) and lp.dtype == np.float64
    assert stream.n_tokens == sum(len(s) + 1 for s in sents)
    assert not np.isnan(lp).any()

    # next_log_probs: a distribution over the vocabulary for many contexts
    order = model.order if model.order is not None else 5
    for ctx in probe_contexts(small[0], tm_vocab, order, np.random.default_rng(order)):
        check_next_token_distribution(model.next_log_probs(ctx), len(tm_vocab),
                                      probabilistic=model.is_probabilistic)

    # a stream over a foreign vocabulary (other ids, one more word) is remapped through the words
    foreign_vocab = Vocabulary.build([["zzzunknown"] * 3, *reversed(sents)])
    assert foreign_vocab.words != tm_vocab.words
    foreign = Stream.from_sentences(sents, foreign_vocab)
    assert not np.array_equal(foreign.ids, stream.ids)
    np.testing.assert_array_equal(model.log_probs(foreign), lp)
    np.testing.assert_array_equal(model.remap(foreign).ids, stream.ids)
    np.testing.assert_array_equal(model.remap(foreign).oov, stream.oov)
    assert stream.oov.sum() == 2  # zzzunknown and qqq: scored as <unk>

    # native file: bit for bit
    native = modelio.load_model(modelio.save_model(model, tmp_path / "m.ngk"))
    assert type(native) is type(model) and native.vocab == model.vocab
    np.testing.assert_array_equal(native.log_probs(stream), lp)

    # ARPA: 8 decimals per log10 value (the probability and at most order - 1 backoff weights)
    arpa_path = tmp_path / "m.arpa"
    if has_arpa_form(model):
        arpa = modelio.load_model(modelio.save_model(model, arpa_path))
        np.testing.assert_allclose(arpa.log_probs(stream), lp, rtol=0,
                                   atol=model.order * 0.5 * 10.0**-ARPA_DECIMALS * np.log(10) * (1 + 1e-9))
        again = modelio.load_model(modelio.save_model(arpa, tmp_path / "again.arpa"))
        np.testing.assert_array_equal(again.log_probs(stream), arpa.log_probs(stream))
    else:
        with pytest.raises(NgramkitError, match="ARPA") as err:
            modelio.save_model(model, arpa_path)
        assert "\n" not in str(err.value)
        assert not arpa_path.exists() and list(tmp_path.iterdir()) == [tmp_path / "m.ngk"]
