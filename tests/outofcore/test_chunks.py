"""iter_chunks: the same values as slicing, and mapped pages do not stay resident (RSS read from /proc)."""

import numpy as np
import pytest

from ngramkit.outofcore.chunks import iter_chunks, release


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


@pytest.mark.parametrize("shape", [(1000,), (333, 3), (0,), (7, 5)])
def test_chunks_equal_slices(tmp_path, shape):
    want = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    np.save(tmp_path / "a.npy", want)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    parts = [(s, c) for s, c in iter_chunks(mapped, 64)]
    got = np.concatenate([c for _, c in parts]) if parts else want[:0]
    assert np.array_equal(got, want)
    assert [s for s, _ in parts] == list(range(0, shape[0], 64))
    assert all(isinstance(c, np.ndarray) and not isinstance(c, np.memmap) for _, c in parts)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc")
def test_pass_over_mapping_stays_small(tmp_path):
    n = 16 * 2**20  # 128 MiB of int64
    arr = np.lib.format.open_memmap(tmp_path / "big.npy", "w+", np.int64, (n,))
    arr[:] = 3
    arr.flush()
    release(arr)
    del arr
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    before = _rss_mib()
    total = sum(int(c.sum()) for _, c in iter_chunks(mapped, 2**18))
    grew = _rss_mib() - before
    assert total == 3 * n
    assert grew < 32, f"RSS grew {grew:.0f} MiB over a chunked pass of a 128 MiB mapping"
    # Control: touching the whole mapping does make it resident (so the check above can fail).
    assert int(np.asarray(mapped).sum()) == 3 * n
    assert _rss_mib() - before > 96
