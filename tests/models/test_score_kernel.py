"""The C backoff scorer (ngramkit._score) against its numpy reference, on the same inputs.

The C scorer reads its own probing index (key, log10 p and backoff in one
slot, probed from several sentence groups in turn); the numpy reference
searches the sorted keys. Results must agree bit for bit.
"""

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


def assert_bits_equal(a, b):
    """Equal as float64 bit patterns (NaN == NaN, but -0.0 != 0.0)."""
    assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


def random_backoff_model(rng, vocab, order, n_words=12):
    """A backoff model with gaps: missing suffixes, context-only (NaN) entries, absent unigrams."""
    v = len(vocab)
    uni = np.setdiff1d(rng.choice(v, size=min(10, v), replace=False), [3])
    grams = [np.sort(uni).astype(np.int32)[:, None]]
    for k in range(2, order + 1):
        prev = grams[-1]
        parents = rng.choice(prev.shape[0], size=min(40, prev.shape[0] * 3))
        cand = np.concatenate([prev[parents], rng.integers(0, v, size=(parents.size, 1))], axis=1)
        cand = cand[cand[:, -1] != 3]
        grams.append(np.unique(cand, axis=0).astype(np.int32))
    logp = [np.where(rng.random(g.shape[0]) < 0.1, np.nan, -rng.random(g.shape[0]) * 3) for g in grams]
    bo = [-rng.random(g.shape[0]) for g in grams]
    return BackoffModel.from_tables(vocab, grams, logp, bo), grams


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_c_equals_numpy_on_fitted_models(order, tm_counts, tm_sentences, tm_vocab):
    model = ModifiedKneserNey(order).fit(tm_counts)
    stream = Stream.from_sentences(tm_sentences[:300] + [["zzz", "<s>", "the"], ["time"]], tm_vocab)
    c, ref = both(model, stream)
    assert_bits_equal(c, ref)


def test_c_equals_numpy_on_random_backoff_tables():
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(12)]
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + words)
    for trial in range(40):
        model, _ = random_backoff_model(rng, vocab, int(rng.integers(1, 6)))
        # 0..40 sentences: fewer and more than the kernel's sentence groups, empty sentences too
        n_sent = int(rng.integers(0, 41))
        sents = [[words[i] for i in rng.integers(0, 12, size=int(rng.integers(0, 8)))] for _ in range(n_sent)]
        c, ref = both(model, Stream.from_sentences(sents, vocab))
        assert_bits_equal(c, ref)


def test_probe_index_suffix_check_matches_a_naive_oracle():
    """probe_build's closure flag == every n-gram's suffix is an n-gram (a set of tuples decides)."""
    from ngramkit.models.backoff import probe_index

    rng = np.random.default_rng(11)
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + [f"w{i}" for i in range(3)])
    seen = set()
    for trial in range(60):
        model, grams = random_backoff_model(rng, vocab, int(rng.integers(1, 5)))
        present = {tuple(row) for g in grams for row in g.tolist()}
        want = all(tuple(row[1:]) in present for g in grams[1:] for row in g.tolist())
        _, closed = probe_index(model._keys, model._logp10, model._backoff10, len(vocab), kernel)
        assert closed is want
        seen.add(want)
    assert seen == {True, False}  # both cases were exercised


def test_probe_index_works_on_read_only_arrays(tm_counts, tmp_path, monkeypatch):
    """A native model loads as read-only memory maps; the index is built from them unchanged."""
    from ngramkit import modelio

    monkeypatch.setenv("NGRAMKIT_IMPL", "c")

    model = ModifiedKneserNey(3).fit(tm_counts)
    stream = Stream.from_sentences([["the", "time", "traveller"], ["zzz", "machine"]], model.vocab)
    loaded = modelio.load_model(modelio.save_model(model, tmp_path / "m.ngk"), mmap=True)
    assert not loaded._keys[1].flags.writeable
    assert loaded._suffix_closed is True and loaded._probe is None  # the fit's closure, saved with the state
    assert_bits_equal(loaded.log_probs(stream), model.log_probs(stream))


def test_unknown_closure_is_not_saved_and_is_checked_after_loading(tm_counts, tmp_path, monkeypatch):
    from ngramkit import modelio
    from ngramkit.arpa import read_arpa, write_arpa

    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    from_arpa = read_arpa(write_arpa(ModifiedKneserNey(2).fit(tm_counts), tmp_path / "m.arpa"))
    assert from_arpa._suffix_closed is None
    assert "suffix_closed" not in from_arpa.get_state()[0]
    loaded = modelio.load_model(modelio.save_model(from_arpa, tmp_path / "m.ngk"))
    assert loaded._suffix_closed is None
    stream = Stream.from_sentences([["the", "time", "machine"]], loaded.vocab)
    assert_bits_equal(loaded.log_probs(stream), from_arpa.log_probs(stream))
    assert loaded._suffix_closed is True


def _index(keys, logp, bo, v, slots):
    """Index tables for probe_build with the given slot counts (orders 2..N)."""
    n = len(keys)
    return tuple([np.empty(3 * v, np.int64)] + [np.empty((3 if k < n else 2) * s, np.int64)
                                                 for k, s in zip(range(2, n + 1), slots)])


def test_bad_arguments_raise():
    v = 5
    # unigrams <unk> <s> </s> w (row 3), one bigram "w </s>"
    keys = (np.array([0, 1, 2, 4], np.int64), np.array([3 * v + 2], np.int64))
    logp = (np.full(4, -1.0), np.array([-0.5]))
    bo = (np.zeros(4), np.zeros(1))
    tables = _index(keys, logp, bo, v, [2])
    assert kernel.probe_build(keys, logp, bo, v, tables, True) is True
    pad, off, out = np.array([1, 4, 2], np.int32), np.array([0, 3]), np.zeros(2)
    assert kernel.probe_score(pad, off, tables, v, out, True) == 2
    assert_bits_equal(out, np.array([-1.0, -0.5]))
    with pytest.raises(TypeError, match="padded"):
        kernel.probe_score(pad.astype(np.int64), off, tables, v, out)
    with pytest.raises(TypeError, match="out"):
        kernel.probe_score(pad, off, tables, v, np.zeros(4)[::2])  # not contiguous
    with pytest.raises(ValueError, match="out must have"):
        kernel.probe_score(pad, off, tables, v, np.zeros(3))
    with pytest.raises(ValueError, match="offsets must rise"):
        kernel.probe_score(pad, np.array([0, 0, 3]), tables, v, np.zeros(1))
    with pytest.raises(ValueError, match="offsets must rise"):
        kernel.probe_score(pad, np.array([0, 2]), tables, v, out)
    with pytest.raises(IndexError, match="word id"):
        kernel.probe_score(np.array([1, 4, 9], np.int32), off, tables, v, out)
    with pytest.raises(IndexError, match="word id"):
        kernel.probe_score(np.array([-1, 4, 2], np.int32), off, tables, v, out)
    with pytest.raises(ValueError, match="slots"):  # the top order has 2-word slots
        kernel.probe_score(pad, off, (tables[0], np.empty(5, np.int64)), v, out)
    with pytest.raises(ValueError, match="slots"):
        kernel.probe_score(pad, off, (tables[0][:-1], tables[1]), v, out)
    with pytest.raises(ValueError, match="more slots"):  # 1 slot for 1 key: no room for the empty marker
        kernel.probe_build(keys, logp, bo, v, _index(keys, logp, bo, v, [1]), False)
    with pytest.raises(ValueError, match="distinct"):
        kernel.probe_build((keys[0], np.array([3 * v + 2, 3 * v + 2])), (logp[0], np.zeros(2)), (bo[0], np.zeros(2)), v,
                           _index(keys, logp, bo, v, [4]), False)
    with pytest.raises(ValueError, match="parent"):  # parent row 7 does not exist
        kernel.probe_build((keys[0], np.array([7 * v + 2])), logp, bo, v, tables, False)
    with pytest.raises(ValueError, match="lengths differ"):
        kernel.probe_build(keys, (logp[0][:2], logp[1]), bo, v, tables, False)
    with pytest.raises(TypeError, match="tables"):
        kernel.probe_build(keys, logp, bo, v, (tables[0].astype(np.float32), tables[1]), False)


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
        assert_bits_equal(c, ref)


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


def test_suffix_closure_detection(tm_counts, tmp_path, monkeypatch):
    from ngramkit.arpa import read_arpa, write_arpa

    monkeypatch.setenv("NGRAMKIT_IMPL", "c")

    model = ModifiedKneserNey(3).fit(tm_counts)
    assert model._suffix_closed is True
    loaded = read_arpa(write_arpa(model, tmp_path / "m.arpa"))
    loaded._probe_tables(kernel)
    assert loaded._suffix_closed is True
    # A 2-gram whose suffix (its last word) is not a unigram entry: not closed, still scored exactly.
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>", "a", "b"])
    grams = [np.array([[0], [1], [2], [4]], np.int32), np.array([[4, 5]], np.int32)]
    model = BackoffModel.from_tables(vocab, grams, [np.array([-1.0, np.nan, -1, -1]), np.array([-0.5])],
                                     [np.zeros(4), np.zeros(1)])
    stream = Stream.from_sentences([["a", "b"]], vocab)
    c, ref = both(model, stream)
    assert model._suffix_closed is False
    assert_bits_equal(c, ref)
    assert c[1] == pytest.approx(-0.5 * np.log(10))
