"""The C backoff scorer (ngramkit._score) against its numpy reference, on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ngramkit import Stream, Vocabulary
from ngramkit.models import BackoffModel, ModifiedKneserNey
from ngramkit.models.backoff import score_kernel
from ngramkit.vocab import BOS_ID

kernel = pytest.importorskip("ngramkit._score")


def both(model, stream):
    padded, offsets = stream.padded(model.order, BOS_ID)
    return model.log_probs(stream), model._log_probs_numpy(padded, offsets)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_c_equals_numpy_on_fitted_models(order, tm_counts, tm_sentences, tm_vocab):
    model = ModifiedKneserNey(order).fit(tm_counts)
    stream = Stream.from_sentences(tm_sentences[:300] + [["zzz", "<s>", "the"], ["time"]], tm_vocab)
    c, ref = both(model, stream)
    np.testing.assert_array_equal(c, ref)


def test_c_equals_numpy_on_random_backoff_tables():
    """Random models with gaps: missing suffixes, context-only (NaN) entries, absent unigrams."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(12)]
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + words)
    v = len(vocab)
    for trial in range(20):
        order = int(rng.integers(1, 5))
        uni = np.setdiff1d(rng.choice(v, size=10, replace=False), [3])
        grams = [np.sort(uni).astype(np.int32)[:, None]]
        for k in range(2, order + 1):
            prev = grams[-1]
            parents = rng.choice(prev.shape[0], size=min(40, prev.shape[0] * 3))
            cand = np.concatenate([prev[parents], rng.integers(0, v, size=(parents.size, 1))], axis=1)
            cand = cand[cand[:, -1] != 3]
            cand = np.unique(cand, axis=0).astype(np.int32)
            grams.append(cand)
        logp = [np.where(rng.random(g.shape[0]) < 0.1, np.nan, -rng.random(g.shape[0]) * 3) for g in grams]
        bo = [-rng.random(g.shape[0]) for g in grams]
        model = BackoffModel.from_tables(vocab, grams, logp, bo)
        sents = [[words[i] for i in rng.integers(0, 12, size=int(rng.integers(0, 8)))] for _ in range(30)]
        c, ref = both(model, Stream.from_sentences(sents, vocab))
        np.testing.assert_array_equal(c, ref)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="padded"):
        kernel.backoff_score(np.zeros(3, np.int64), np.array([0, 3]), np.zeros(4, np.int32), (np.zeros(1, np.int64),),
                             (np.zeros(1),), (np.zeros(1),), (), 4, np.zeros(2))
    with pytest.raises(ValueError, match="out must have"):
        kernel.backoff_score(np.zeros(3, np.int32), np.array([0, 3]), np.zeros(4, np.int32), (np.zeros(1, np.int64),),
                             (np.zeros(1),), (np.zeros(1),), (), 4, np.zeros(5))
    with pytest.raises(IndexError, match="word id"):
        kernel.backoff_score(np.array([0, 9], np.int32), np.array([0, 2]), np.zeros(4, np.int32),
                             (np.zeros(1, np.int64),), (np.zeros(1),), (np.zeros(1),), (), 4, np.zeros(1))


def test_impl_switch(monkeypatch):
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    assert score_kernel() is None
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    assert score_kernel() is kernel
    monkeypatch.setenv("NGRAMKIT_IMPL", "fortran")
    with pytest.raises(ValueError, match="NGRAMKIT_IMPL"):
        score_kernel()


def test_hash_build_checks_its_input():
    keys = np.array([5, 9, 1 << 40], np.int64)
    table = np.empty(2 * 8, np.int64)
    kernel.hash_build(keys, table)
    stored = table[0::2]
    assert sorted(stored[stored >= 0].tolist()) == sorted(keys.tolist())
    assert sorted(table[1::2][stored >= 0].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="power of two"):
        kernel.hash_build(keys, np.empty(2 * 6, np.int64))
    with pytest.raises(ValueError, match="power of two"):
        kernel.hash_build(keys, np.empty(2 * 2, np.int64))  # no room
    with pytest.raises(ValueError, match="distinct"):
        kernel.hash_build(np.array([3, 3], np.int64), np.empty(2 * 4, np.int64))


@pytest.mark.parametrize("name", ["mle", "laplace", "stupid-backoff"])
def test_count_models_c_rows_equal_numpy(name, tm_counts, tm_sentences, tm_vocab, monkeypatch):
    from ngramkit.models import MODELS

    stream = Stream.from_sentences(tm_sentences[:200] + [["zzz", "the", "time", "machine"]], tm_vocab)
    for order in (1, 3, 5):
        model = MODELS[name](order).fit(tm_counts)
        c = model.log_probs(stream)
        monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
        ref = model.log_probs(stream)
        monkeypatch.delenv("NGRAMKIT_IMPL")
        np.testing.assert_array_equal(c, ref)


def test_stream_rows_kernel_matches_numpy(tm_counts, tm_sentences, tm_vocab):
    from ngramkit.models.backoff import fast_stream_rows, key_index, sentence_positions, stream_rows

    keys = [tm_counts.keys(k) for k in range(1, 6)]
    stream = Stream.from_sentences(tm_sentences[:100], tm_vocab)
    padded, offsets = stream.padded(5, BOS_ID)
    index = key_index(keys, len(tm_vocab), kernel)
    got = fast_stream_rows(index, len(tm_vocab), padded, offsets, kernel)
    want = stream_rows(keys, len(tm_vocab), padded, sentence_positions(offsets, padded.size))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    with pytest.raises(ValueError, match="rows must have"):
        kernel.stream_rows(padded, offsets, index[0], index[1], len(tm_vocab), np.empty(3, np.int64))


def test_suffix_closure_detection(tm_counts, tmp_path):
    from ngramkit.arpa import read_arpa, write_arpa

    model = ModifiedKneserNey(3).fit(tm_counts)
    assert model._suffix_closed is True
    loaded = read_arpa(write_arpa(model, tmp_path / "m.arpa"))
    loaded._fast_tables(kernel)
    assert loaded._suffix_closed is True
    # A 2-gram whose suffix (its last word) is not a unigram entry: not closed, still scored exactly.
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>", "a", "b"])
    grams = [np.array([[0], [1], [2], [4]], np.int32), np.array([[4, 5]], np.int32)]
    model = BackoffModel.from_tables(vocab, grams, [np.array([-1.0, np.nan, -1, -1]), np.array([-0.5])],
                                     [np.zeros(4), np.zeros(1)])
    stream = Stream.from_sentences([["a", "b"]], vocab)
    c, ref = both(model, stream)
    assert model._suffix_closed is False
    np.testing.assert_array_equal(c, ref)
    assert c[1] == pytest.approx(-0.5 * np.log(10))
