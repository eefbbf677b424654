"""The bucketed primitives of ngramkit.outofcore.arrays against numpy's in-memory operations.

Oracles: ``np.searchsorted`` (via models.lookup.lookup), fancy indexing, ``np.bincount``,
and models.interpolated.context_aggregates on the whole array. Sizes include 0,
a single element, and ``rows`` from 1 (every element its own bucket) to more
than the array (one bucket), with a ``step`` (records handled at a time) below or above
``rows``; queries hit bucket boundaries and fall outside the keys.
"""

import os
import signal

import numpy as np
import pytest
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


@settings(max_examples=80, deadline=None)
@given(data=st.data(), m=sizes, nq=sizes, rows=rows_st, step=st.one_of(st.none(), st.integers(1, 60)))
def test_lookup_hits_equal_bincount_of_the_rows_found(tmp_path_factory, data, m, nq, rows, step):
    """lookup(..., hits=NAME) also writes how many queries found each key (buckets without a query: zeros)."""
    d = tmp_path_factory.mktemp("hits")
    keys = np.array(sorted(data.draw(st.sets(st.integers(0, 300), min_size=m, max_size=m))), np.int64)
    pool = st.sampled_from(keys.tolist()) if keys.size else st.integers(0, 300)
    q = np.array(data.draw(st.lists(st.one_of(pool, st.integers(-5, 305)), min_size=nq, max_size=nq)), np.int64)
    got = arrays.lookup(_mapped(d, "keys", keys), chunks_of(q, step or rows), nq, d, "found", rows, step=step,
                        hits="hits")
    want = numpy_lookup(keys, q)
    assert np.array_equal(got, want)
    hits = np.load(d / "hits.npy")
    assert hits.dtype == np.int64 and np.array_equal(hits, np.bincount(want[want >= 0], minlength=m))


@pytest.mark.parametrize("impl", ["c", "numpy"])
def test_lookup_c_and_numpy_agree_on_many_buckets(tmp_path, monkeypatch, impl):
    """More buckets than a uint16 route holds (one key each), the C answers and the numpy reference's."""
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    keys = np.arange(70_000, dtype=np.int64) * 3
    q = np.array([0, 1, 3, 209_997, 209_998, 105_000, -3, 3, 69_999 * 3], np.int64)
    got = arrays.lookup(_mapped(tmp_path, "keys", keys), chunks_of(q, 4), q.size, tmp_path, "found", 1, step=2)
    assert np.array_equal(got, numpy_lookup(keys, q))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), wide=st.booleans(), base=st.integers(-5, 5))
def test_c_lookup_kernel_equals_searchsorted(data, wide, base):
    """ngramkit._merge.lookup: the first row of each query in sorted keys (duplicates among the keys), -1 where
    absent; keys over the whole int64 range (offsets needing all 64 bits, every radix pass) or a narrow one."""
    from ngramkit import native

    kernel = native.extension("_merge")
    if kernel is None:
        pytest.skip("no C kernels")
    lo, hi = (-(2**63), 2**63 - 1) if wide else (-20, 60)
    keys = np.sort(np.array(data.draw(st.lists(st.integers(lo, hi), max_size=50)), np.int64))
    pool = st.sampled_from(keys.tolist()) if keys.size else st.integers(lo, hi)
    q = np.array(data.draw(st.lists(st.one_of(pool, st.integers(lo, hi)), max_size=80)), np.int64)
    out = np.full(q.size, 12345, np.int64)
    scratch = np.empty(24 * q.size + data.draw(st.integers(0, 9)), np.uint8)
    kernel.lookup(keys, q, base, out, scratch)
    pos = np.searchsorted(keys, q)
    found = (pos < keys.size) & (keys[np.minimum(pos, max(keys.size - 1, 0))] == q) if keys.size else pos < 0
    assert np.array_equal(out, np.where(found, pos + base, -1))
    if q.size:
        with pytest.raises(ValueError, match="scratch"):
            kernel.lookup(keys, q, 0, out, np.empty(24 * q.size - 1, np.uint8))


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


# ---- the writer thread (arrays.Writes) ---------------------------------------------------------------------------

@pytest.mark.parametrize("background", [True, False])
def test_bucketed_operations_with_and_without_the_writer_thread(tmp_path, monkeypatch, background):
    """Many small writes, each writer over its pending limit at once: the results are numpy's."""
    monkeypatch.setattr(arrays, "usable_cores", lambda: 2 if background else 1)
    monkeypatch.setattr(arrays, "PENDING_BYTES", 64)  # a few records: the writer waits for the thread constantly
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 5000, 3000))
    q = rng.integers(-10, 5010, 4000)
    km = _mapped(tmp_path, "keys", keys)
    got = arrays.lookup(km, chunks_of(q, 97), q.size, tmp_path, "lk", rows=113, step=31)
    pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    np.testing.assert_array_equal(got, np.where(keys[pos] == q, pos, -1))
    idx = rng.integers(0, keys.size, 5000)
    np.testing.assert_array_equal(arrays.gather(km, chunks_of(idx, 89), idx.size, tmp_path, "g", rows=101), keys[idx])
    np.testing.assert_array_equal(arrays.scatter_count(keys.size, chunks_of(idx, 89), tmp_path, "c", rows=57),
                                  np.bincount(idx, minlength=keys.size))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "g.npy", "keys.npy", "lk.npy"]


class _FailingFile:
    """A file whose third write fails (a full disk); records what was written."""

    def __init__(self):
        self.calls, self.data = 0, []

    def write(self, data):
        self.calls += 1
        if self.calls == 3:
            raise OSError(28, "No space left on device")
        self.data.append(bytes(data))
        return len(data)


@pytest.mark.parametrize("background", [True, False])
def test_a_write_error_is_raised_and_nothing_is_written_after_it(monkeypatch, background):
    monkeypatch.setattr(arrays, "usable_cores", lambda: 2 if background else 1)
    fh, writes = _FailingFile(), None
    with pytest.raises(OSError, match="No space"):
        writes = arrays.Writes()
        for i in range(50):
            writes.write(fh, np.full(4, i, np.int64))
        writes.wait()
    assert fh.calls == 3 and [np.frombuffer(d, np.int64)[0] for d in fh.data] == [0, 1]
    if background:
        with pytest.raises(OSError, match="No space"):  # the error stays: a writer that failed writes no more
            writes.write(fh, np.zeros(4, np.int64))
        with pytest.raises(OSError, match="No space"):
            writes.wait()
    assert fh.calls == 3


def test_a_forked_child_writes_with_its_own_thread(tmp_path, monkeypatch):
    """The parent's writer thread does not exist in a forked child (multiprocessing's default on Linux)."""
    monkeypatch.setattr(arrays, "usable_cores", lambda: 2)
    w = NpyWriter(tmp_path / "parent.npy", np.int64, 3)
    w.write(np.arange(3))
    w.close()  # the pool and its thread exist in this process now
    pid = os.fork()
    if pid == 0:  # the child: a write that never runs would hang here; the alarm ends it instead
        signal.alarm(20)
        try:
            child = NpyWriter(tmp_path / "child.npy", np.int64, 4)
            child.write(np.arange(4))
            child.close()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "child.npy"), np.arange(4))
