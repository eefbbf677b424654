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


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc")
def test_counts_file_arrays_are_released(tmp_path):
    """Arrays of NGramCounts.load(mmap=True) are frombuffer views of a mapping: iter_chunks releases them too."""
    from ngramkit.counts import NGramCounts
    from ngramkit.outofcore.chunks import _mapping

    rng = np.random.default_rng(0)
    sentences = [[f"w{i}" for i in rng.integers(0, 50_000, 40)] for _ in range(20_000)]
    NGramCounts.from_sentences(sentences, order=3).save(tmp_path / "c.ngc")
    counts = NGramCounts.load(tmp_path / "c.ngc", mmap=True, verify=False)
    grams = counts.ngrams(3)
    assert _mapping(grams) is not None
    before = _rss_mib()
    rows = sum(c.shape[0] for _, c in iter_chunks(grams, 4096))
    grew = _rss_mib() - before
    assert rows == grams.shape[0] and grams.nbytes > 8 * 2**20
    assert grew < grams.nbytes / 2**20 / 2, f"RSS grew {grew:.1f} MiB over {grams.nbytes / 2**20:.1f} MiB of mapped rows"
