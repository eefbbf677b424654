"""The counting kernel (ngramkit._count) on bad buffers and hand-counted inputs.

Its results on real text are checked against a naive Counter, and against
the numpy engine, in tests/test_counts.py; here are the kernel's own
argument checks and small hand-derived cases.
"""

from __future__ import annotations

import numpy as np
import pytest

_count = pytest.importorskip("ngramkit._count")


def test_kernel_rejects_bad_buffers():
    tok = np.array([1, 4, 2], np.int32)
    off = np.array([0, 3], np.int64)
    rows = tok.copy()
    par, last, cnt = np.empty(3, np.int32), np.empty(3, np.int32), np.empty(3, np.int64)
    assert _count.count_step(tok, off, 2, rows, par, last, cnt, 4) == 2
    assert par[:2].tolist() == [1, 4] and last[:2].tolist() == [4, 2] and cnt[:2].tolist() == [1, 1]
    with pytest.raises(TypeError, match="int32"):
        _count.count_step(tok.astype(np.int64), off, 2, tok.copy(), par, last, cnt, 4)
    with pytest.raises(TypeError, match="C-contiguous"):
        _count.count_step(np.arange(6, dtype=np.int32)[::2], off, 2, tok.copy(), par, last, cnt, 4)
    with pytest.raises(TypeError, match="writable"):
        ro = tok.copy()
        ro.flags.writeable = False
        _count.count_step(tok, off, 2, ro, par, last, cnt, 4)
    with pytest.raises(ValueError, match="offsets"):
        _count.count_step(tok, np.array([0, 5], np.int64), 2, tok.copy(), par, last, cnt, 4)
    with pytest.raises(ValueError, match="too small"):
        _count.count_step(tok, off, 2, tok.copy(), par[:1], last[:1], cnt[:1], 4)
    with pytest.raises(IndexError):
        _count.take(np.array([0, 5], np.int32), np.arange(3, dtype=np.int32), np.empty(2, np.int32))
    ids, ends = np.empty(2, np.int32), np.empty(1, np.int64)
    with pytest.raises(ValueError, match="too small"):
        _count.scan(b"a b c", ids, ends)


def test_packed_kernel_rejects_bad_input():
    ids = np.array([5, 6, 2, 7, 2], np.int32)
    off = np.array([0, 3, 5], np.int64)
    state, sizes = _count.count_packed(ids, off, 1, 3, 4, 8)
    # <s> 5 6 </s> / <s> 7 </s>: unigrams 1 2 5 6 7, bigrams 1-5 1-7 5-6 6-2 7-2, trigrams 1-5-6 1-7-2 5-6-2
    assert sizes == (5, 5, 3)
    g, c, p, key = np.empty(9, np.int32), np.empty(3, np.int64), np.empty(3, np.int64), np.empty(3, np.int64)
    _count.packed_fill(state, 3, g, c, p, key)
    assert g.reshape(3, 3).tolist() == [[1, 5, 6], [1, 7, 2], [5, 6, 2]]
    assert c.tolist() == [1, 1, 1] and p.tolist() == [0, 1, 2]  # rows of 1-5, 1-7, 5-6 in order 2
    assert key.tolist() == [0 * 8 + 6, 1 * 8 + 2, 2 * 8 + 2]  # parent * v + last
    with pytest.raises(ValueError, match="outputs"):
        _count.packed_fill(state, 3, g[:6], c, p, key)
    with pytest.raises(ValueError, match="order 4"):
        _count.packed_fill(state, 4, g, c, p, key)
    with pytest.raises(IndexError, match=r"outside \[0, 7\)"):
        _count.count_packed(ids, off, 1, 3, 4, 7)  # id 7 >= v
    with pytest.raises(ValueError, match="bits \\* order <= 63"):
        _count.count_packed(ids, off, 1, 8, 8, 8)
    with pytest.raises(ValueError, match="offsets"):
        _count.count_packed(ids, np.array([0, 6], np.int64), 1, 3, 4, 8)
    with pytest.raises(TypeError, match="int32"):
        _count.count_packed(ids.astype(np.int64), off, 1, 3, 4, 8)
    with pytest.raises(TypeError, match="state"):
        _count.packed_fill(object(), 1, g, c, p, key)
