"""Out-of-core estimation (ngramkit.outofcore.estimate) equals the in-memory fit, bit for bit.

Oracle: the in-memory fit of the same counts (itself checked against KenLM's
lmplz in tests/models/test_kenlm_exact.py). Counts are read memory-mapped from
a saved ``.ngc`` file, as out-of-core counting hands them over; budgets are
small enough that every bucketed step splits into many buckets.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngramkit import NGramCounts, arpa, modelio
from ngramkit.errors import NgramkitError
from ngramkit.models import (AbsoluteDiscounting, Additive, KneserNey, ModifiedKneserNey, WittenBell)
from ngramkit.outofcore import estimate
from ngramkit.outofcore.chunks import _mapping
from ngramkit.outofcore.estimate import ROW_BYTES, fit_out_of_core

TABLES = ("ngrams", "logp10", "backoff10", "keys")


def _mapped_counts(counts, folder):
    """``counts`` with every array a memory-mapped ``.npy`` file, as out-of-core counting hands them over."""
    arrays = {}
    for k in range(1, counts.order + 1):
        for name in ("ngrams", "counts", "parent"):
            np.save(folder / f"{name}{k}.npy", getattr(counts, name)(k))
            arrays[name, k] = np.load(folder / f"{name}{k}.npy", mmap_mode="r")
    return NGramCounts(counts.vocab, *([arrays[name, k] for k in range(1, counts.order + 1)]
                                       for name in ("ngrams", "counts", "parent")),
                       n_sentences=counts.n_sentences, n_tokens=counts.n_tokens)


def _assert_same_model(want, got):
    assert got.order == want.order
    for k in range(1, want.order + 1):
        for table in TABLES:
            a, b = np.asarray(getattr(want, table)(k)), np.asarray(getattr(got, table)(k))
            assert a.dtype == b.dtype and a.shape == b.shape, (table, k)
            assert a.tobytes() == b.tobytes(), f"{table} of order {k} differs"  # NaN positions and -0.0 too
    assert got.fitted_ == want.fitted_


@pytest.fixture(scope="module")
def ptb5(ptb_dir, tmp_path_factory):
    counts = NGramCounts.from_file([ptb_dir / "ptb.train.txt"], 5)
    return _mapped_counts(counts, tmp_path_factory.mktemp("ptb5"))


def test_ptb_mkn5_in_a_tiny_budget_equals_the_in_memory_model(ptb5, tmp_path):
    memory = 2 << 20
    rows = memory // ROW_BYTES
    assert ptb5.ngrams(5).shape[0] > 60 * rows  # many buckets and chunks at every order >= 3
    assert _mapping(ptb5.ngrams(5)) is not None
    want = ModifiedKneserNey(5).fit(ptb5)
    work = tmp_path / "work"
    work.mkdir()
    got = ModifiedKneserNey(5).fit(ptb5, memory=memory, workdir=work)
    _assert_same_model(want, got)
    for k in range(2, 6):  # the tables are mapped files of the work folder
        assert _mapping(got.logp10(k)) is not None and (work / f"o{k}.logp10.npy").exists()
    assert sorted(p.name for p in work.iterdir()) == sorted(f"o{k}.{t}.npy" for k in range(2, 6)
                                                            for t in ("logp10", "backoff10", "keys"))
    arpa.write_arpa(want, tmp_path / "want.arpa")
    arpa.write_arpa(got, tmp_path / "got.arpa")
    assert (tmp_path / "want.arpa").read_bytes() == (tmp_path / "got.arpa").read_bytes()
    modelio.save_model(want, tmp_path / "want.ngk")
    modelio.save_model(got, tmp_path / "got.ngk")
    assert (tmp_path / "want.ngk").read_bytes() == (tmp_path / "got.ngk").read_bytes()


METHODS = [ModifiedKneserNey, KneserNey, AbsoluteDiscounting, WittenBell, Additive]


@pytest.mark.parametrize("order", [3, 4])
@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.name)
def test_every_method_on_timemachine_equals_the_in_memory_model(cls, order, timemachine_path, tmp_path):
    counts = _mapped_counts(NGramCounts.from_file([timemachine_path], order), tmp_path)
    want = cls(order).fit(counts)
    got = fit_out_of_core(cls(order), counts, 300 * ROW_BYTES, tmp_path / "work")
    _assert_same_model(want, got)
    arpa.write_arpa(want, tmp_path / "want.arpa")
    arpa.write_arpa(got, tmp_path / "got.arpa")
    assert (tmp_path / "want.arpa").read_bytes() == (tmp_path / "got.arpa").read_bytes()


def test_fit_stays_in_memory_when_the_budget_allows(tm_counts, tmp_path):
    memory = 10 * estimate.INMEMORY_BYTES_PER_NGRAM * sum(tm_counts.distinct(k) for k in range(1, 4))
    assert not estimate.needs_out_of_core(tm_counts, 3, memory)
    assert estimate.needs_out_of_core(tm_counts, 3, 1000)
    model = ModifiedKneserNey(3).fit(tm_counts, memory=memory, workdir=tmp_path)
    assert _mapping(model.logp10(3)) is None and not list(tmp_path.iterdir())


def test_large_tables_fit_in_chunks_within_any_budget_unless_pruned(tm_counts, tmp_path, monkeypatch):
    """Above FASTER_IN_CHUNKS_ROWS n-grams the chunked fit runs (it is the faster one) even where the budget
    holds the in-memory fit, with the same model; a pruned fit, which only the in-memory path does, stays there."""
    rows = estimate.ngram_rows(tm_counts, 3)
    memory = 10 * estimate.INMEMORY_BYTES_PER_NGRAM * rows
    monkeypatch.setattr(estimate, "FASTER_IN_CHUNKS_ROWS", rows - 1)
    model = ModifiedKneserNey(3).fit(tm_counts, memory=memory, workdir=tmp_path / "chunks")
    assert _mapping(model.logp10(3)) is not None and (tmp_path / "chunks" / "o3.logp10.npy").exists()
    _assert_same_model(ModifiedKneserNey(3).fit(tm_counts), model)
    pruned = ModifiedKneserNey(3).fit(tm_counts, memory=memory, workdir=tmp_path / "pruned", prune=[0, 0, 1])
    assert _mapping(pruned.logp10(3)) is None and not (tmp_path / "pruned").exists()
    monkeypatch.setattr(estimate, "FASTER_IN_CHUNKS_ROWS", rows)
    model = ModifiedKneserNey(3).fit(tm_counts, memory=memory, workdir=tmp_path / "memory")
    assert _mapping(model.logp10(3)) is None


def test_without_a_workdir_a_temporary_folder_lives_as_long_as_the_model(tm_counts):
    model = ModifiedKneserNey(3).fit(tm_counts, memory=300 * ROW_BYTES)
    folder = model._workdir.name
    assert _mapping(model.logp10(3)) is not None and (Path(folder) / "o3.logp10.npy").exists()
    _assert_same_model(ModifiedKneserNey(3).fit(tm_counts), model)


def test_an_invalid_discount_is_the_same_error_out_of_core(tmp_path):
    counts = NGramCounts.from_sentences([["a", "b"], ["a", "c"]], 2)
    with pytest.raises(NgramkitError) as want:
        ModifiedKneserNey(2).fit(counts)
    with pytest.raises(NgramkitError) as got:
        fit_out_of_core(ModifiedKneserNey(2), counts, 100, tmp_path)
    assert str(got.value) == str(want.value)


# ---- random corpora (hypothesis) --------------------------------------------------------------

def _method(draw_name, order):
    return {
        "mkn": lambda: ModifiedKneserNey(order, discount_fallback=True),
        "kn": lambda: KneserNey(order),
        "absolute": lambda: AbsoluteDiscounting(order, discount=0.6),
        "witten-bell": lambda: WittenBell(order),
        "additive": lambda: Additive(order, epsilons=0.3),
    }[draw_name]()


@st.composite
def corpora(draw):
    big = draw(st.booleans())  # sometimes more than 4096 word types (ids past 12 bits)
    n_types = draw(st.integers(4100, 5000)) if big else draw(st.integers(1, 8))
    word = st.integers(0, n_types - 1).map(lambda i: f"w{i}")
    sentences = draw(st.lists(st.lists(word, max_size=9), min_size=1, max_size=25))
    if big:
        sentences.append([f"w{i}" for i in range(n_types)])  # every type seen
    rows = draw(st.integers(300, 3000) if big else st.integers(2, 40))  # tiny: many buckets; big: a few
    # the caps of a streaming step and of a bucket (estimate.STEP_ROWS, WINDOW_ROWS; at real budgets the
    # step is far below the bucket, which is below the budget's rows): None keeps the module's
    caps = draw(st.one_of(st.none(), st.tuples(st.integers(1, 30), st.integers(1, 400))))
    return sentences, rows, caps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(corpus=corpora(), order=st.integers(1, 6),
       name=st.sampled_from(["mkn", "kn", "absolute", "witten-bell", "additive"]))
def test_random_corpora_and_budgets_equal_the_in_memory_model(tmp_path_factory, corpus, order, name, monkeypatch):
    sentences, rows, caps = corpus
    counts = NGramCounts.from_sentences(sentences, order)  # empty sentences included: "<s> </s>"
    with monkeypatch.context() as patch:
        if caps is not None:
            patch.setattr(estimate, "STEP_ROWS", caps[0])
            patch.setattr(estimate, "WINDOW_ROWS", caps[1])
        _check_random_corpus(tmp_path_factory, counts, rows, order, name)


def _check_random_corpus(tmp_path_factory, counts, rows, order, name):
    try:
        want = _method(name, order).fit(counts)
    except NgramkitError as exc:  # e.g. Kneser-Ney's estimated discount undefined: the same error
        with pytest.raises(NgramkitError) as got:
            fit_out_of_core(_method(name, order), counts, rows * ROW_BYTES, tmp_path_factory.mktemp("w"))
        assert str(got.value) == str(exc)
        return
    got = fit_out_of_core(_method(name, order), counts, rows * ROW_BYTES, tmp_path_factory.mktemp("w"))
    _assert_same_model(want, got)


def test_a_full_temporary_disk_is_a_one_line_error_naming_the_folder(tm_counts, tmp_path):
    from tmpfs import small_tmpfs

    with small_tmpfs(tmp_path / "small", 64 * 1024) as folder:
        with pytest.raises(NgramkitError) as err:
            fit_out_of_core(ModifiedKneserNey(3), tm_counts, 300 * ROW_BYTES, folder / "work")
    message = str(err.value)
    assert message.startswith(f"{folder / 'work'}: cannot write") and "No space left on device" in message
    assert "\n" not in message
