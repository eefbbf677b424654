"""The bucketed primitives of ngramkit.outofcore.arrays against numpy's in-memory operations.

Oracles: ``np.searchsorted`` (via models.lookup.lookup), fancy indexing, ``np.bincount``,
and models.interpolated.context_aggregates on the whole array. Sizes include 0,
a single element, and ``rows`` from 1 (every element its own bucket) to more
than the array (one bucket), with a ``step`` (records handled at a time) below or above
``rows``; queries hit bucket boundaries and fall outside the keys.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ngramkit.models.interpolated import CONTEXT_AGGREGATES, context_aggregates
from ngramkit.models.lookup import lookup as numpy_lookup
from ngramkit.outofcore import arrays
from ngramkit.outofcore.arrays import NpyWriter, SegmentSums, chunks_of, gather_sorted, open_npy


def _mapped(folder, name, arr):
    np.save(folder / f"{name}.npy", arr)
    return open_npy(folder / f"{name}.npy")


sizes = st.integers(0, 40)
rows_st = st.integers(1, 50)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), m=sizes, nq=sizes, rows=rows_st, step=st.one_of(st.none(), st.integers(1, 60)))
def test_lookup_equals_searchsorted(tmp_path_factory, data, m, nq, rows, step):
    d = tmp_path_factory.mktemp("lk")
    keys = np.array(sorted(data.draw(st.sets(st.integers(-20, 200), min_size=m, max_size=m))), np.int64)
    # queries: present keys (bucket starts/ends among them), absent values, below and above every key
    pool = st.sampled_from(keys.tolist()) if keys.size else st.integers(-30, 210)
    q = np.array(data.draw(st.lists(st.one_of(pool, st.integers(-30, 210)), min_size=nq, max_size=nq)), np.int64)
    got = arrays.lookup(_mapped(d, "keys", keys), chunks_of(q, step or rows), nq, d, "found", rows, step=step)
    assert got.dtype == np.int64 and np.array_equal(got, numpy_lookup(keys, q))
    assert sorted(p.name for p in d.iterdir()) == ["found.npy", "keys.npy"]  # bucket files removed


@settings(max_examples=120, deadline=None)
@given(data=st.data(), m=st.integers(1, 40), nq=sizes, rows=rows_st, dtype=st.sampled_from(["f8", "i8", "i4"]),
       step=st.one_of(st.none(), st.integers(1, 60)))
def test_gather_equals_fancy_indexing(tmp_path_factory, data, m, nq, rows, dtype, step):
    d = tmp_path_factory.mktemp("ga")
    values = np.arange(m).astype(dtype) * 3 - 7
    if dtype == "f8":
        values[::3] = np.nan  # NaN positions travel too
    idx = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=nq, max_size=nq)), np.int64)
    mapped = _mapped(d, "values", values)
    got = arrays.gather(mapped, chunks_of(idx, step or rows), nq, d, "got", rows, step=step)
    assert got.dtype == values.dtype and np.array_equal(got, values[idx], equal_nan=dtype == "f8")
    srt = np.sort(idx)
    assert np.array_equal(gather_sorted(mapped, srt, rows), values[srt], equal_nan=dtype == "f8")


@settings(max_examples=120, deadline=None)
@given(data=st.data(), n=sizes, nq=sizes, rows=rows_st)
def test_scatter_count_equals_bincount(tmp_path_factory, data, n, nq, rows):
    d = tmp_path_factory.mktemp("sc")
    idx = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=nq if n else 0,
                                      max_size=nq if n else 0)), np.int64)
    got = arrays.scatter_count(n, chunks_of(idx, rows), d, "c", rows)
    want = np.bincount(idx, minlength=n)
    assert got.dtype == np.int64 and got.shape == (n,) and np.array_equal(got, want)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), n=st.integers(1, 30), nq=sizes, rows=rows_st, step=st.integers(1, 60))
def test_segment_sums_equal_context_aggregates(tmp_path_factory, data, n, nq, rows, step):
    d = tmp_path_factory.mktemp("ss")
    parent = np.sort(np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=nq, max_size=nq)), np.int64))
    a = np.array(data.draw(st.lists(st.integers(0, 5), min_size=nq, max_size=nq)), np.int64)
    sums = SegmentSums({name: d / f"{name}.npy" for name in CONTEXT_AGGREGATES}, n, rows)
    for lo in range(0, nq, step):  # the caller's chunks need not match rows
        sums.add(parent[lo:lo + step], a[lo:lo + step],
                 lambda a_, idx, length: context_aggregates(a_, idx, length, CONTEXT_AGGREGATES))
    got = sums.close()
    want = context_aggregates(a, parent, n, CONTEXT_AGGREGATES)
    for name in CONTEXT_AGGREGATES:
        assert got[name].tobytes() == want[name].tobytes(), name


def test_npy_writer_gives_np_save_bytes_and_checks_its_length(tmp_path):
    values = np.arange(10, dtype=np.int64)
    np.save(tmp_path / "want.npy", values)
    w = NpyWriter(tmp_path / "got.npy", np.int64, 10)
    w.write(values[:3])
    w.write(values[3:])
    assert isinstance(w.close(), np.memmap)
    assert (tmp_path / "got.npy").read_bytes() == (tmp_path / "want.npy").read_bytes()
    short = NpyWriter(tmp_path / "short.npy", np.int64, 3)
    short.write(values[:2])
    try:
        short.close()
    except ValueError as exc:
        assert "2 elements written, expected 3" in str(exc)
    else:
        raise AssertionError("a short file was accepted")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=40), st.lists(st.integers(-60, 60), max_size=60), st.booleans())
def test_searchsorted_many_is_numpys(keys, queries, sort_queries):
    """Sorting the queries first gives numpy's answers, in the queries' order (duplicates, absent keys, sorted
    and unsorted queries)."""
    a = np.sort(np.array(keys, np.int64))
    v = np.array(sorted(queries) if sort_queries else queries, np.int64)
    got = arrays.searchsorted_many(a, v)
    assert got.shape == v.shape
    assert np.array_equal(got, np.searchsorted(a, v))
