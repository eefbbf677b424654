"""The k-way merge of sorted runs (ngramkit._merge, ngramkit.outofcore.runs) against a naive Python merge."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ngramkit import native
from ngramkit.outofcore import runs as R
from ngramkit.outofcore.budget import TempSpace


def random_runs(rng, n_runs: int, k: int, vocab: int, max_rows: int):
    """``n_runs`` sorted unique (grams, counts) with many rows repeated across runs; and their naive sum."""
    oracle = Counter()
    out = []
    for _ in range(n_runs):
        g = np.unique(rng.integers(0, vocab, size=(int(rng.integers(0, max_rows + 1)), k)).astype(np.int32), axis=0)
        # counts beyond 32 bits (a run of int64 counts) in every other run, else int32 counts (a block's run)
        c = rng.integers(1, 1 << (40 if len(out) % 2 == 0 else 31), size=g.shape[0]).astype(np.int64)
        for row, n in zip(map(tuple, g.tolist()), c.tolist()):
            oracle[row] += n
        out.append((g.reshape(-1, k), c))
    return out, oracle


def read_records(path, k):
    rec = np.fromfile(path, R.record_dtype(k, R.count_bytes(path)))
    return [tuple(r) for r in rec["ids"].reshape(-1, k).tolist()], rec["count"].tolist()


@pytest.mark.parametrize("impl", ["c", "numpy"])
@pytest.mark.parametrize("n_runs,k,vocab,fanin", [(1, 1, 5, 256), (2, 3, 3, 256), (7, 2, 50, 3), (200, 4, 4, 256),
                                                   (200, 2, 30, 16), (37, 6, 3, 5)])
def test_merge_equals_naive(impl, n_runs, k, vocab, fanin, tmp_path, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    rng = np.random.default_rng(n_runs * 100 + k)
    runs, oracle = random_runs(rng, n_runs, k, vocab, 30)
    with TempSpace(tmp_path) as space:
        paths = [R.write_run(space, g, c, f"r{i}") for i, (g, c) in enumerate(runs)]
        widths = {R.count_bytes(p) for p, (g, c) in zip(paths, runs) if c.size}
        assert widths == ({8, 4} if sum(c.size > 0 for _, c in runs) > 1 else widths)  # both record widths
        for p, (g, c) in zip(paths, runs):  # a narrow run has 4k + 4-byte records
            assert p.stat().st_size == g.shape[0] * (4 * k + R.count_bytes(p))
        # Only order k is checked here; orders below get one run with every prefix (their parents need it).
        prefixes = [sorted({row[:j] for row in oracle}) for j in range(1, k)]
        lower = [[R.write_run(space, np.array(p, np.int32).reshape(-1, j), np.ones(len(p), np.int64), f"p{j}")]
                 for j, p in enumerate(prefixes, 1)]
        files = R.merge_runs(space, lower + [paths], 1 << 20, fanin=fanin)
        grams = np.load(files[f"ngrams{k}"])
        counts = np.load(files[f"counts{k}"])
        parents = np.load(files[f"parent{k}"])
        expected = sorted(oracle.items())
        assert grams.dtype == np.int32 and counts.dtype == np.int64 and parents.dtype == np.int64
        assert [tuple(r) for r in grams.tolist()] == [g for g, _ in expected]
        assert counts.tolist() == [c for _, c in expected]
        if k == 1:
            assert not parents.any()
        else:
            prev = [tuple(r) for r in np.load(files[f"ngrams{k - 1}"]).tolist()]
            assert [prev[p] for p in parents.tolist()] == [g[:-1] for g, _ in expected]
        assert all(p.name.endswith(".npy") for p in space.folder.iterdir())  # the runs are gone
        assert space.used == sum(p.stat().st_size for p in space.folder.iterdir())


@pytest.mark.skipif(native.extension("_merge") is None, reason="needs the compiled _merge extension")
def test_c_record_mode_and_errors(tmp_path):
    k_mod = native.extension("_merge")
    rng = np.random.default_rng(7)
    runs, oracle = random_runs(rng, 50, 3, 4, 20)
    with TempSpace(tmp_path) as space:
        paths = [str(R.write_run(space, g, c, f"r{i}")) for i, (g, c) in enumerate(runs)]
        out = space.path("out.run")
        m = k_mod.merge_runs(paths, 3, 4096, str(out), None, None, None, None, 0, [R.count_bytes(p) for p in paths])
        assert m == len(oracle)
        assert read_records(out, 3) == ([g for g, _ in sorted(oracle.items())], [c for _, c in sorted(oracle.items())])
        # a run whose rows are out of order; a partial record; a missing file
        bad = space.path("bad.run")
        with pytest.raises(ValueError, match="widths"):
            k_mod.merge_runs(paths, 3, 4096, str(space.path("o")), None, None, None, None, 0, [4] * (len(paths) - 1))
        rec = np.zeros(2, R.record_dtype(3))
        rec["ids"] = [[0, 0, 2], [0, 0, 1]]
        rec.tofile(bad)
        with pytest.raises(ValueError, match="malformed run"):
            k_mod.merge_runs([str(bad)], 3, 4096, str(space.path("o")), None, None, None, None, 0)
        bad.write_bytes(b"\0" * 21)
        with pytest.raises(ValueError, match="malformed run"):
            k_mod.merge_runs([str(bad)], 3, 4096, str(space.path("o")), None, None, None, None, 0)
        with pytest.raises(OSError) as info:
            k_mod.merge_runs([str(space.folder / "missing.run")], 3, 4096, str(space.path("o")), None, None, None,
                             None, 0)
        assert info.value.filename == str(space.folder / "missing.run")
        # a missing prefix in the order below: no parent
        one = R.write_run(space, np.array([[1, 1]], np.int32), np.ones(1, np.int64), "two")
        prev = space.path("prev.npy")
        prev.write_bytes(R.npy_header("<i4", (1, 1)) + np.array([0], "<i4").tobytes())
        with pytest.raises(ValueError, match="malformed run"):
            k_mod.merge_runs([str(one)], 2, 4096, None, str(space.path("g")), str(space.path("c")),
                             str(space.path("p")), str(prev), R.NPY_HEADER)


def test_npy_header_loads(tmp_path):
    for shape in [(0,), (5,), (3, 4), (10**15, 12)]:
        h = R.npy_header("<i8", shape)
        assert len(h) == R.NPY_HEADER
        (tmp_path / "a.npy").write_bytes(h + b"\0" * (8 * int(np.prod(shape)) if np.prod(shape) < 100 else 0))
        if np.prod(shape) < 100:
            assert np.load(tmp_path / "a.npy").shape == shape
