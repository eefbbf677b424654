"""The C scorer (ngramkit._score) against the numpy reference, through the public ``log_probs``.

Every n-gram model scores through the C kernel unless ``NGRAMKIT_IMPL=numpy``
(read at every call), so the same model scores the same stream under both
values and the results must agree bit for bit: fitted models, random backoff
tables with gaps (missing suffixes, context-only entries, absent unigrams),
ARPA- and memory-map-loaded models, and the count models (MLE, Laplace,
stupid backoff: the kernel's row lookup). The rest drives the kernel's entry
points directly (probe_build's suffix check against a set of tuples, and the
argument checks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ngramkit import Stream, Vocabulary
from ngramkit.errors import NgramkitError
from ngramkit.models import MODELS, BackoffModel, ModifiedKneserNey

kernel = pytest.importorskip("ngramkit._score")


def both(model, stream, monkeypatch):
    """``model.log_probs(stream)`` with ``NGRAMKIT_IMPL=c``, then with ``=numpy``."""
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    c = model.log_probs(stream)
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    ref = model.log_probs(stream)
    monkeypatch.delenv("NGRAMKIT_IMPL")
    return c, ref


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
def test_c_equals_numpy_on_fitted_models(order, tm_counts, tm_sentences, tm_vocab, monkeypatch):
    model = ModifiedKneserNey(order).fit(tm_counts)
    stream = Stream.from_sentences(tm_sentences[:300] + [["zzz", "<s>", "the"], ["time"]], tm_vocab)
    c, ref = both(model, stream, monkeypatch)
    assert_bits_equal(c, ref)


def test_c_equals_numpy_on_random_backoff_tables(monkeypatch):
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(12)]
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + words)
    for trial in range(40):
        model, _ = random_backoff_model(rng, vocab, int(rng.integers(1, 6)))
        # 0..40 sentences: fewer and more than the kernel's sentence groups, empty sentences too
        n_sent = int(rng.integers(0, 41))
        sents = [[words[i] for i in rng.integers(0, 12, size=int(rng.integers(0, 8)))] for _ in range(n_sent)]
        c, ref = both(model, Stream.from_sentences(sents, vocab), monkeypatch)
        assert_bits_equal(c, ref)


def _tables(model):
    """(keys, log10 p, log10 backoff) per order, through the model's public accessors."""
    orders = range(1, model.order + 1)
    return (tuple(np.ascontiguousarray(model.keys(k), np.int64) for k in orders),
            tuple(np.ascontiguousarray(model.logp10(k), np.float64) for k in orders),
            tuple(np.ascontiguousarray(model.backoff10(k), np.float64) for k in orders))


def test_probe_build_suffix_check_matches_a_naive_oracle():
    """probe_build's closure flag == every n-gram's suffix is an n-gram (a set of tuples decides)."""
    rng = np.random.default_rng(11)
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + [f"w{i}" for i in range(3)])
    seen = set()
    for trial in range(60):
        model, grams = random_backoff_model(rng, vocab, int(rng.integers(1, 5)))
        present = {tuple(row) for g in grams for row in g.tolist()}
        want = all(tuple(row[1:]) in present for g in grams[1:] for row in g.tolist())
        keys, logp, bo = _tables(model)
        tables = _index(keys, logp, bo, len(vocab), [2 * k.size + 1 for k in keys[1:]])
        assert kernel.probe_build(keys, logp, bo, len(vocab), tables, True) is want
        seen.add(want)
    assert seen == {True, False}  # both cases were exercised


def test_memory_mapped_model_scores_like_the_fitted_one(tm_counts, tmp_path, monkeypatch):
    """A native model loads as read-only memory maps; the C path scores it unchanged, bit for bit."""
    from ngramkit import modelio

    model = ModifiedKneserNey(3).fit(tm_counts)
    stream = Stream.from_sentences([["the", "time", "traveller"], ["zzz", "machine"]], model.vocab)
    loaded = modelio.load_model(modelio.save_model(model, tmp_path / "m.ngk"), mmap=True)
    assert not loaded.keys(2).flags.writeable
    assert loaded.get_state()[0]["suffix_closed"] is True  # a fitted model's closure is saved with it
    c, ref = both(loaded, stream, monkeypatch)
    assert_bits_equal(c, ref)
    assert_bits_equal(c, model.log_probs(stream))


def test_arpa_model_closure_is_checked_when_its_index_is_built_and_then_saved(tm_counts, tmp_path, monkeypatch):
    """A model read from ARPA has no known suffix closure until its probing index is built (on first score, or
    when it is saved: the index goes into the file, the closure with it)."""
    from ngramkit import modelio
    from ngramkit.arpa import read_arpa, write_arpa

    fitted = ModifiedKneserNey(2).fit(tm_counts)
    from_arpa = read_arpa(write_arpa(fitted, tmp_path / "m.arpa"))
    meta, arrays = from_arpa.get_state()
    assert meta["suffix_closed"] is True and {"probe1", "probe2"} <= arrays.keys()  # a fitted model's ARPA is closed
    loaded = modelio.load_model(modelio.save_model(from_arpa, tmp_path / "m.ngk"))
    assert loaded.get_state()[0]["suffix_closed"] is True
    stream = Stream.from_sentences([["the", "time", "machine"]], loaded.vocab)
    c, ref = both(loaded, stream, monkeypatch)
    assert_bits_equal(c, ref)
    np.testing.assert_allclose(c, fitted.log_probs(stream), rtol=0, atol=1e-5)  # ARPA keeps 6-7 digits


def test_unclosed_tables_score_exactly(monkeypatch):
    """A 2-gram whose suffix (its last word) is not a unigram entry: not closed, still scored exactly."""
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>", "a", "b"])
    grams = [np.array([[0], [1], [2], [4]], np.int32), np.array([[4, 5]], np.int32)]
    model = BackoffModel.from_tables(vocab, grams, [np.array([-1.0, np.nan, -1, -1]), np.array([-0.5])],
                                     [np.zeros(4), np.zeros(1)])
    c, ref = both(model, Stream.from_sentences([["a", "b"]], vocab), monkeypatch)
    assert model.get_state()[0]["suffix_closed"] is False
    assert_bits_equal(c, ref)
    # hand-derived: a | <s> backs off to P(a) = 10^-1; b | a is the 2-gram, 10^-0.5; </s> | b backs off to P(</s>)
    assert_bits_equal(c, np.array([-1.0, -0.5, -1.0]) * math.log(10))  # math.log: numpy's SIMD log(10) can be 1 ulp off


def test_impl_values(tm_counts, monkeypatch):
    """c and numpy agree (tested above); unset means the C kernel; any other value is a one-line error."""
    model = ModifiedKneserNey(2).fit(tm_counts)
    stream = Stream.from_sentences([["the", "time"]], model.vocab)
    c, _ = both(model, stream, monkeypatch)
    assert_bits_equal(model.log_probs(stream), c)
    monkeypatch.setenv("NGRAMKIT_IMPL", "fortran")
    with pytest.raises(NgramkitError, match="NGRAMKIT_IMPL"):
        model.log_probs(stream)


@pytest.mark.parametrize("name", ["mle", "laplace", "stupid-backoff"])
def test_count_models_c_equal_numpy(name, tm_counts, tm_sentences, tm_vocab, monkeypatch):
    """The count models look their rows up with the kernel's hash tables (stream_rows) or by searchsorted."""
    stream = Stream.from_sentences(tm_sentences[:200] + [["zzz", "the", "time", "machine"]], tm_vocab)
    for order in (1, 3, 5):
        c, ref = both(MODELS[name](order).fit(tm_counts), stream, monkeypatch)
        assert_bits_equal(c, ref)


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


def test_stream_rows_rejects_a_short_output():
    v = 5
    keys2 = np.array([1 * v + 4, 3 * v + 2], np.int64)  # rows of bigrams <s> w, w </s> (unigram rows 1, 3)
    uni_row = np.array([0, 1, 2, 3, -1], np.int32)
    table = np.empty(2 * 16, np.int64)
    kernel.hash_build(keys2, table)
    pad, off = np.array([1, 4, 2], np.int32), np.array([0, 3], np.int64)
    rows = np.empty(2 * 3, np.int64)
    kernel.stream_rows(pad, off, uni_row, (table,), v, rows)
    assert rows.reshape(2, 3)[:, 1:].tolist() == [[-1, 2], [0, -1]]  # unigram rows of w, </s>; bigram <s> w
    with pytest.raises(ValueError, match="rows must have"):
        kernel.stream_rows(pad, off, uni_row, (table,), v, np.empty(3, np.int64))


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
