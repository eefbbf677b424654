"""Count pruning and vocabulary limits at training time against KenLM ``lmplz --prune`` / ``--limit_vocab_file``.

Oracles: ARPA files lmplz wrote (``tests/data/README.md`` gives the commands; the PTB one is
``../shared/reference/ptb.UNK.o3.prune011.arpa.gz``), compared n-gram by n-gram with the independent
parser of ``tests/oracles.py``; the perplexities ``query`` printed (shared/reference/README.md); and a
naive per-n-gram recomputation of which n-grams survive, from a ``Counter`` of the text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream, Vocabulary
from ngramkit.errors import ParameterError
from ngramkit.evaluate import evaluate
from ngramkit.limitvocab import read_vocab_file
from ngramkit.models import Additive, AbsoluteDiscounting, KneserNey, ModifiedKneserNey, WittenBell
from ngramkit.models.interpolated import prune_thresholds

from oracles import compare_arpa_tables as compare, parse_arpa

DATA = Path(__file__).resolve().parent.parent / "data"
TOP200 = DATA / "timemachine.top200.vocab"


@pytest.fixture(scope="module")
def tm_counts4(tm_stream):
    return NGramCounts.from_stream(tm_stream, 4)


@pytest.mark.parametrize("name, order, kwargs", [
    ("timemachine.top200.o3.arpa.gz", 3, {"limit_vocab": TOP200}),
    ("timemachine.top200.prune011.o3.arpa.gz", 3, {"limit_vocab": TOP200, "prune": [0, 1, 1]}),
    ("timemachine.prune0123.o4.arpa.gz", 4, {"prune": [0, 1, 2, 3]}),
    ("timemachine.prune111.o3.arpa.gz", 3, {"prune": [1, 1, 1]}),
])
def test_timemachine_matches_lmplz(name, order, kwargs, tm_counts4):
    model = ModifiedKneserNey(order).fit(tm_counts4, **kwargs)
    ref = parse_arpa(DATA / name, model.vocab)  # every word of lmplz's file is in the model's vocabulary
    compare(model, ref)  # the same n-grams; every probability and backoff within 1e-4 (in practice 3e-7)
    if "limit_vocab" in kwargs:
        listed = set(read_vocab_file(TOP200))
        assert set(model.vocab.words[4:]) == listed & set(tm_counts4.vocab.words)


def test_ptb_order3_prune011_matches_lmplz(ptb_unk, reference_dir):
    vocab = Vocabulary.build(ptb_unk["train"])
    counts = NGramCounts.from_stream(Stream.from_sentences(ptb_unk["train"], vocab), 5)
    ref = parse_arpa(reference_dir / "ptb.UNK.o3.prune011.arpa.gz", vocab)
    assert [ref[k][0].shape[0] for k in (1, 2, 3)] == [10_002, 88_482, 81_305]
    model = ModifiedKneserNey(3).fit(counts, prune=[0, 1, 1])
    # lmplz's unigram count-of-counts quirk (656 vs 657 count-4 unigrams, see test_kenlm_exact): the unigram
    # level differs by < 1e-3 with ngramkit's own discounts, by float32 rounding with lmplz's.
    compare(model, ref, tol=(1e-3, 1e-4, 1e-4), tight=None)
    t1, t2, t3, t4 = 176, 255, 388, 656
    y = t1 / (t1 + 2 * t2)
    kenlm_d1 = [1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3]
    exact = ModifiedKneserNey(3, discounts=[kenlm_d1] + model.fitted_["discounts"][1:]).fit(counts, prune=[0, 1, 1])
    compare(exact, ref)
    test = Stream.from_sentences(ptb_unk["test"], vocab)
    assert evaluate(model, test).perplexity == pytest.approx(164.789109452294, rel=1e-6)
    # order 5, --prune 0 0 1 1 1: the sizes and the perplexity lmplz/query printed (reference README)
    model5 = ModifiedKneserNey(5).fit(counts, prune=[0, 0, 1, 1, 1])
    assert [model5.ngrams(k).shape[0] for k in range(1, 6)] == [10_002, 264_990, 81_305, 43_110, 22_983]
    assert evaluate(model5, test).perplexity == pytest.approx(147.40026029303476, rel=1e-6)


def test_kept_ngrams_by_a_naive_count(tm_sentences, tm_counts4):
    """Which n-grams survive, from a Counter of the padded sentences: raw count > threshold, words listed."""
    listed = set(read_vocab_file(TOP200)) | {"<unk>", "<s>", "</s>"}
    thresholds = [0, 1, 2, 3]
    grams = Counter()
    for s in tm_sentences:
        padded = ["<s>"] + list(s) + ["</s>"]
        for k in range(1, 5):
            grams.update(tuple(padded[i:i + k]) for i in range(len(padded) - k + 1))
    model = ModifiedKneserNey(4).fit(tm_counts4, prune=thresholds, limit_vocab=sorted(listed))
    for k in range(2, 5):
        expect = {g for g, c in grams.items() if len(g) == k and c > thresholds[k - 1] and set(g) <= listed}
        got = {tuple(model.vocab.decode(row)) for row in model.ngrams(k)}
        assert got == expect


@pytest.mark.parametrize("cls", [ModifiedKneserNey, KneserNey, AbsoluteDiscounting, WittenBell, Additive])
def test_pruned_models_sum_to_one(cls, tm_counts4):
    """Every pruned interpolated model normalises: the pruned n-grams' mass moved to their context's weight."""
    kw = {"discount_fallback": True} if cls is ModifiedKneserNey else {}
    model = cls(4, **kw).fit(tm_counts4, prune=[0, 1, 1, 2], limit_vocab=TOP200)
    rng = np.random.default_rng(0)
    contexts = [[]] + [model.ngrams(k)[i].tolist() for k in (1, 2, 3)
                       for i in rng.choice(model.ngrams(k).shape[0], 30, replace=False)]
    for ctx in contexts:
        lp = model.next_log_probs(ctx)
        assert np.exp(lp[np.isfinite(lp)]).sum() == pytest.approx(1.0, abs=1e-9)


def test_no_pruning_is_the_unpruned_model(tm_counts4):
    plain = ModifiedKneserNey(3).fit(tm_counts4)
    for kwargs in ({"prune": [0, 0, 0]}, {"prune": [0]}, {"prune": 0}):
        model = ModifiedKneserNey(3).fit(tm_counts4, **kwargs)
        for k in (1, 2, 3):
            np.testing.assert_array_equal(model.ngrams(k), plain.ngrams(k))
            np.testing.assert_array_equal(model.logp10(k), plain.logp10(k))


def test_pruning_is_saved_and_reloaded(tm_counts4, tmp_path):
    import ngramkit

    model = ModifiedKneserNey(3).fit(tm_counts4, prune=[0, 1], limit_vocab=TOP200)
    assert model.fitted_["prune"] == [0, 1, 1] and model.fitted_["limit_vocab"] is True
    path = tmp_path / "m.ngk"
    ngramkit.save_model(model, path)
    back = ngramkit.load_model(path)
    assert back.vocab == model.vocab and back.fitted_["prune"] == [0, 1, 1]
    for k in (1, 2, 3):
        np.testing.assert_array_equal(back.logp10(k), model.logp10(k))
    model.fit(tm_counts4)  # a refit without pruning forgets it
    assert "prune" not in model.fitted_ and len(model.vocab) == len(tm_counts4.vocab)


def test_thresholds_parse_as_lmplz():
    assert prune_thresholds(None, 3) is None
    assert prune_thresholds([0, 0, 0], 3) is None
    assert prune_thresholds([0, 1], 5) == [0, 1, 1, 1, 1]  # the last value repeats (lmplz ParsePruning)
    assert prune_thresholds(2, 3) == [0, 2, 2]
    for bad, msg in (([0, 2, 1], "non-decreasing"), ([0, 1, 1, 1], "order 3"), ([0, -1], ">= 0"),
                     ([0, 1.5], "integers"), ([], "at least one"), ("0 1", "one threshold per order")):
        with pytest.raises(ParameterError, match=msg) as info:
            prune_thresholds(bad, 3)
        assert info.value.param == "prune"


def test_refused_out_of_core(tm_counts4):
    with pytest.raises(ParameterError, match="out of core") as info:
        ModifiedKneserNey(3).fit(tm_counts4, memory=1000, prune=[0, 1])
    assert info.value.param == "prune"
    with pytest.raises(ParameterError, match="out of core") as info:
        ModifiedKneserNey(3).fit(tm_counts4, memory=1000, limit_vocab=["the"])
    assert info.value.param == "limit_vocab"
