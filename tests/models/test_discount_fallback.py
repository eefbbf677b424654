"""ModifiedKneserNey's ``discount_fallback`` (KenLM ``lmplz --discount_fallback``).

Oracle: the adjusted counts (KenLM's: raw counts at the top order and for
n-grams starting with ``<s>``, else the number of distinct left extensions)
and their count-of-counts, recomputed here from a naive ``Counter`` over
the padded sentences, then Chen & Goodman's (1998, eq. 26) discounts; an
order whose estimate is invalid (a zero among n1..n3, or D_i outside
(0, i]) must get the fallback D1, D2, D3+ = 0.5, 1, 1.5.

Data: the first 200 sentences of KenLM's timemachine input; with order 5
the 4-grams' D3+ comes out negative there (n1..n4 = 1810, 9, 1, 1) while
orders 1, 2, 3 and 5 are estimable -- so the fallback is per order, and not
only at the top order.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream, modelio
from ngramkit.errors import NgramkitError
from ngramkit.models import ModifiedKneserNey
from ngramkit.vocab import BOS_ID
from oracles import check_next_token_distribution, probe_contexts

ORDER = 5
N_SENTENCES = 200
FALLBACK = (0.5, 1.0, 1.5)


@pytest.fixture(scope="module")
def part(tm_sentences):
    return tm_sentences[:N_SENTENCES]


@pytest.fixture(scope="module")
def part_counts(part, tm_vocab):
    """Counts of the slice over the whole text's vocabulary (so some vocabulary words are unseen)."""
    stream = Stream.from_sentences(part, tm_vocab)
    return stream, NGramCounts.from_stream(stream, ORDER)


@pytest.fixture(scope="module")
def fallback_model(part_counts):
    return ModifiedKneserNey(ORDER, discount_fallback=True).fit(part_counts[1])


# ---- the oracle ---------------------------------------------------------------------------------

def naive_adjusted_count_of_counts(sentences, order):
    """n1..n4 of KenLM's adjusted counts per order, from a naive Counter of the padded sentences."""
    raw = [Counter() for _ in range(order)]
    for s in sentences:
        padded = ["<s>", *s, "</s>"]
        for k in range(1, order + 1):
            for i in range(len(padded) - k + 1):
                raw[k - 1][tuple(padded[i:i + k])] += 1
    out = []
    for k in range(1, order + 1):
        if k == order:
            adjusted = dict(raw[k - 1])
        else:
            left = Counter(g[1:] for g in raw[k])  # distinct left extensions of each k-gram
            adjusted = {g: (c if g[0] == "<s>" else left[g]) for g, c in raw[k - 1].items()}
        if k == 1:
            adjusted.pop(("<s>",))  # <s> is context only, never predicted (ngramkit and KenLM agree on n1..n4)
        values = Counter(adjusted.values())
        out.append([values[i] for i in (1, 2, 3, 4)])
    return out


def chen_goodman_or_none(n):
    n1, n2, n3, n4 = n
    if 0 in (n1, n2, n3):
        return None
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return d if all(0 < di <= i for i, di in enumerate(d, 1)) else None


@pytest.fixture(scope="module")
def oracle(part):
    coc = naive_adjusted_count_of_counts(part, ORDER)
    return coc, [chen_goodman_or_none(n) for n in coc]


# ---- the error without the fallback --------------------------------------------------------------

def test_invalid_discounts_raise_an_error_naming_the_order_and_the_fix(part_counts, oracle):
    coc, estimates = oracle
    bad = [k for k, d in enumerate(estimates, 1) if d is None]
    assert bad == [4]  # the data the module docstring describes
    with pytest.raises(NgramkitError) as info:
        ModifiedKneserNey(ORDER).fit(part_counts[1])
    msg = str(info.value)
    assert "\n" not in msg
    assert "order 4" in msg and "n1..n4 = " + ", ".join(map(str, coc[3])) in msg
    assert "D3+" in msg  # which discount is out of range
    assert "discount_fallback=True" in msg and "drop --no-discount-fallback" in msg and "discounts=" in msg


def test_tiny_corpus_error_and_both_suggested_fixes_work():
    sentences = [["a", "b"], ["a", "c"], ["b", "c", "a"]]
    counts = NGramCounts.from_sentences(sentences, 2)
    coc = naive_adjusted_count_of_counts(sentences, 2)
    with pytest.raises(NgramkitError, match=r"modified Kneser-Ney: order 1 has count-of-counts n1\.\.n4 = "
                       + ", ".join(map(str, coc[0])) + r" .*discount_fallback=True"):
        ModifiedKneserNey(2).fit(counts)
    model = ModifiedKneserNey(2, discount_fallback=True).fit(counts)
    assert model.fallback_orders_ == [k for k, n in enumerate(coc, 1) if chen_goodman_or_none(n) is None]
    explicit = ModifiedKneserNey(2, discounts=FALLBACK).fit(counts)
    stream = Stream.from_sentences(sentences, counts.vocab)
    np.testing.assert_array_equal(model.log_probs(stream), explicit.log_probs(stream))


# ---- with the fallback ----------------------------------------------------------------------------

def test_fallback_discounts_on_the_bad_orders_estimates_elsewhere(fallback_model, oracle):
    coc, estimates = oracle
    assert fallback_model.fitted_["count_of_counts"] == coc
    assert fallback_model.fallback_orders_ == [4]
    assert fallback_model.fitted_["fallback_orders"] == [4]
    for k, (used, est) in enumerate(zip(fallback_model.fitted_["discounts"], estimates), 1):
        if est is None:
            assert tuple(used) == FALLBACK, k
        else:
            np.testing.assert_allclose(used, est, rtol=1e-12, err_msg=f"order {k}")


def test_fallback_model_is_the_model_with_those_discounts_given(fallback_model, part_counts, oracle):
    """The recorded discounts are the ones the estimator used: same probabilities with them given explicitly."""
    stream, counts = part_counts
    _, estimates = oracle
    given = [FALLBACK if d is None else d for d in estimates]
    explicit = ModifiedKneserNey(ORDER, discounts=given).fit(counts)
    assert explicit.fallback_orders_ == []
    np.testing.assert_allclose(fallback_model.log_probs(stream), explicit.log_probs(stream), rtol=0, atol=1e-12)


def test_custom_fallback_triple(part_counts, oracle):
    _, estimates = oracle
    model = ModifiedKneserNey(ORDER, discount_fallback=(0.4, 0.9, 1.2)).fit(part_counts[1])
    assert model.fallback_orders_ == [4] and model.fitted_["discounts"][3] == [0.4, 0.9, 1.2]
    np.testing.assert_allclose(model.fitted_["discounts"][4], estimates[4], rtol=1e-12)


def test_the_note_every_command_prints_names_the_orders_and_discounts(fallback_model, part_counts):
    # The words `train ngram` (warning, summary, JSON) and `compare` (footer, Markdown, JSON) print.
    assert fallback_model.fallback_note_ == (
        "modified Kneser-Ney discounts of order 4 undefined on this data (degenerate count-of-counts); "
        "used KenLM lmplz --discount_fallback's D1, D2, D3+ = 0.5, 1, 1.5 there")
    custom = ModifiedKneserNey(ORDER, discount_fallback=(0.4, 0.9, 1.2)).fit(part_counts[1])
    assert custom.fallback_note_.endswith("of order 4 undefined on this data (degenerate count-of-counts); "
                                          "used the fallback D1, D2, D3+ = 0.4, 0.9, 1.2 there")
    assert ModifiedKneserNey(3, discount_fallback=True).fit(part_counts[1]).fallback_note_ == ""
    assert ModifiedKneserNey(3).fit(part_counts[1]).fallback_note_ == ""


def test_fallback_is_a_no_op_where_every_order_is_estimable(part_counts):
    counts = part_counts[1]
    plain = ModifiedKneserNey(3).fit(counts)
    fb = ModifiedKneserNey(3, discount_fallback=True).fit(counts)
    assert fb.fallback_orders_ == [] and fb.fitted_["discounts"] == plain.fitted_["discounts"]


def test_fallback_model_sums_to_one(fallback_model, part_counts, tm_vocab):
    stream, _ = part_counts
    rng = np.random.default_rng(3)
    ctxs = probe_contexts(stream, tm_vocab, ORDER, rng, n_seen=15)
    # Some contexts are 4-grams seen in training, whose continuations use the fallback-discounted 5-grams
    # and whose own probabilities come from the fallback-discounted 4-grams.
    assert any(len(c) == 4 and c[0] != BOS_ID for c in ctxs)
    for ctx in ctxs:
        check_next_token_distribution(fallback_model.next_log_probs(ctx), len(tm_vocab))


# ---- saved and loaded --------------------------------------------------------------------------

def test_save_and_load_keep_the_fallback(fallback_model, part_counts, tmp_path):
    stream, _ = part_counts
    path = modelio.save_model(fallback_model, tmp_path / "fb.ngk")
    loaded = modelio.load_model(path)
    assert type(loaded) is ModifiedKneserNey
    assert loaded.fallback_orders_ == [4]
    assert loaded.discount_fallback == FALLBACK and loaded.discounts is None
    assert loaded.fitted_ == fallback_model.fitted_
    assert loaded.hparams() == {"discounts": None, "discount_fallback": list(FALLBACK)}
    np.testing.assert_array_equal(loaded.log_probs(stream), fallback_model.log_probs(stream))
    state = modelio.read_metadata(path)["state"]
    assert state["fitted"]["fallback_orders"] == [4] and state["hparams"]["discount_fallback"] == list(FALLBACK)


def test_a_model_saved_without_the_option_loads_with_it_off(part_counts, tmp_path):
    model = ModifiedKneserNey(3).fit(part_counts[1])
    loaded = modelio.load_model(modelio.save_model(model, tmp_path / "plain.ngk"))
    assert loaded.discount_fallback is None and loaded.fallback_orders_ == []


# ---- bad values ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["yes", 1.5, (0.5, 1.0), (0.5, 2.5, 1.5), (-0.1, 1.0, 1.5), (0.5, 1.0, float("nan"))])
def test_bad_fallback_values(value):
    with pytest.raises(NgramkitError, match="discount_fallback"):
        ModifiedKneserNey(3, discount_fallback=value)


def test_fallback_with_explicit_discounts_is_an_error():
    with pytest.raises(NgramkitError, match="discount_fallback has no effect when discounts="):
        ModifiedKneserNey(3, discounts=FALLBACK, discount_fallback=True)


def test_fallback_is_keyword_only():
    with pytest.raises(TypeError):
        ModifiedKneserNey(3, None, True)
