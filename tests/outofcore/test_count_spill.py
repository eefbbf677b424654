"""Counting in a memory budget (ngramkit.outofcore.count) equals counting in memory.

Oracles: the in-memory NGramCounts (``Stream.from_files`` + ``from_stream``)
and, on small corpora, a naive Counter (tests/oracles.py). Spills are forced
with a budget below the interpreter's own footprint (the smallest blocks) or
with ``block_bytes``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngramkit import NGramCounts, Stream, TextOptions
from ngramkit.errors import InputError
from ngramkit.outofcore.budget import TempSpace
from ngramkit.outofcore.count import count_files
from oracles import as_counter, naive_counts


def assert_same(a: NGramCounts, b: NGramCounts) -> None:
    """Every array equal (dtype and values: ngrams, counts, parents), the totals and the vocabulary."""
    assert a.order == b.order and a.vocab == b.vocab and list(a.vocab.counts) == list(b.vocab.counts)
    assert (a.n_tokens, a.n_sentences) == (b.n_tokens, b.n_sentences)
    for k in range(1, a.order + 1):
        for what in ("ngrams", "counts", "parent"):
            x, y = getattr(a, what)(k), getattr(b, what)(k)
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), (k, what)


def in_memory(paths, order, **kw) -> NGramCounts:
    return NGramCounts.from_stream(Stream.from_files(paths, TextOptions(), **kw), order)


@pytest.mark.parametrize("threads", [1, 2])
def test_ptb_order5_many_runs_equals_in_memory(ptb_dir, tmp_path, threads):
    path = ptb_dir / "ptb.train.txt"
    expected = in_memory([path], 5)
    with TempSpace(tmp_path) as space:
        got, stats = count_files([path], 5, memory=1 << 20, space=space, block_bytes=96 << 10, threads=threads)
        assert stats.spilled and stats.runs > 40  # many runs
        assert all(isinstance(got.counts(k), np.memmap) for k in range(1, 6))  # mapped, not loaded
        assert_same(got, expected)
        assert stats.temp_peak > 0 and space.peak == stats.temp_peak
        del got
    assert list(tmp_path.iterdir()) == []


def test_from_file_memory_and_temp(ptb_dir, tmp_path):
    """The library entry point: a budget below the process's footprint spills (the smallest blocks), the
    folder is gone on return and the mapped arrays stay readable."""
    path = ptb_dir / "ptb.valid.txt"
    expected = in_memory([path], 4)
    got = NGramCounts.from_file([path], 4, memory="1K", temp=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert isinstance(got.counts(4), np.memmap)
    assert_same(got, expected)
    assert got.count(("<s>", "the")) == expected.count(("<s>", "the"))
    # a budget that fits: the ordinary in-memory arrays
    small = NGramCounts.from_file([path], 4, memory="4G", temp=tmp_path)
    assert not isinstance(small.counts(4), np.memmap)
    assert_same(small, expected)


def test_given_vocab_min_count_max_size(ptb_dir, tmp_path):
    path = ptb_dir / "ptb.valid.txt"
    with TempSpace(tmp_path) as space:
        for kw in ({"min_count": 3}, {"max_size": 500}):
            got, stats = count_files([path], 3, memory=1, space=space, block_bytes=50_000, **kw)
            assert stats.spilled
            assert_same(got, in_memory([path], 3, **kw))
        vocab = in_memory([ptb_dir / "ptb.test.txt"], 1).vocab  # another text's vocabulary: OOV words -> <unk>
        got, _ = count_files([path], 3, vocab=vocab, memory=1, space=space, block_bytes=50_000)
        assert_same(got, in_memory([path], 3, vocab=vocab))


def test_several_files_and_error_in_second_leaves_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = folder / "a.txt", folder / "b.txt"
    a.write_text("the cat sat\n\non the mat\n" * 300)
    b.write_text("a dog\nthe dog sat on the cat\n" * 200)
    temp = tmp_path / "temp"
    temp.mkdir()
    got = NGramCounts.from_file([a, b], 3, memory=1, temp=temp)
    assert_same(got, in_memory([a, b], 3))
    assert list(temp.iterdir()) == []
    bad = folder / "bad.txt"
    bad.write_bytes(b"fine line\n" * 5000 + b"\xff\xfe bad bytes\n")  # invalid UTF-8 far into the file
    for sources in ([a, bad], [a, folder / "missing.txt"]):
        with pytest.raises(InputError) as info:
            NGramCounts.from_file(sources, 3, memory=1, temp=temp)
        assert str(sources[1]) in str(info.value) and "\n" not in str(info.value)
        assert list(temp.iterdir()) == []


def test_count_threads_follows_ngramkit_threads(monkeypatch):
    from ngramkit.outofcore.count import MAX_COUNT_THREADS, count_threads

    monkeypatch.setenv("NGRAMKIT_THREADS", "1")
    assert count_threads() == 1
    monkeypatch.delenv("NGRAMKIT_THREADS")
    import os
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert count_threads() == max(1, min(MAX_COUNT_THREADS, cores))


def test_an_error_on_a_counting_thread_leaves_nothing(tmp_path, monkeypatch):
    """A failure in one block while another is being counted: the error reaches the caller, the other thread
    ends, and the temporary folder is removed with every run either wrote."""
    from ngramkit.outofcore import count as count_module

    src = tmp_path / "a.txt"
    src.write_text("the cat sat on the mat\n" * 4000)
    temp = tmp_path / "temp"
    temp.mkdir()
    real = count_module.write_runs
    calls = []

    def failing(space, part, name):
        calls.append(name)
        if len(calls) == 3:
            raise InputError("disk on fire")
        return real(space, part, name)

    monkeypatch.setattr(count_module, "write_runs", failing)
    with pytest.raises(InputError, match="disk on fire"):
        with TempSpace(temp) as space:
            count_files([src], 3, memory=1, space=space, block_bytes=4000, threads=2)
    assert len(calls) >= 3 and list(temp.iterdir()) == []


def test_full_temp_disk_is_one_line(tmp_path, ptb_dir):
    from tmpfs import small_tmpfs

    with small_tmpfs(tmp_path / "small", 256 << 10) as small:
        with pytest.raises(InputError) as info:
            NGramCounts.from_file([ptb_dir / "ptb.valid.txt"], 5, memory=1, temp=small)
        msg = str(info.value)
        assert msg.startswith(f"--temp {small}: no space left") and "needs at least" in msg and "\n" not in msg
        assert list(small.iterdir()) == []


# ---- property: random corpora ------------------------------------------------------------------

@st.composite
def corpora(draw):
    vocab_size = draw(st.sampled_from([1, 3, 40, 5000]))  # 5000 types: 13 bits, packed keys only to order 4
    n = draw(st.integers(0, 120))
    lines = []
    for _ in range(n):
        length = draw(st.integers(0, 14))  # 0: an empty line (no sentence)
        ids = draw(st.lists(st.integers(0, vocab_size - 1), min_size=length, max_size=length))
        lines.append(" ".join(f"w{i}" for i in ids))
    if not any(lines):
        lines.append("w0")
    return lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(lines=corpora(), order=st.integers(1, 6), block=st.integers(1, 400), split=st.integers(0, 3),
       fanin=st.sampled_from([2, 3, 256]), threads=st.sampled_from([1, 2, 3]))
def test_random_corpora_equal_in_memory_and_naive(tmp_path_factory, monkeypatch, lines, order, block, split, fanin,
                                                  threads):
    from ngramkit.outofcore import runs

    monkeypatch.setattr(runs, "MAX_FANIN", fanin)
    folder = tmp_path_factory.mktemp("corpus")
    files = []  # the corpus in 1..4 files (n-grams never cross files: lines end at file ends)
    cut = [0] + sorted({min(len(lines), i * len(lines) // (split + 1)) for i in range(1, split + 1)}) + [len(lines)]
    for i, (lo, hi) in enumerate(zip(cut, cut[1:])):
        if lo == hi:
            continue
        path = folder / f"part{i}.txt"
        path.write_text("".join(line + "\n" for line in lines[lo:hi]))
        files.append(path)
    files = [f for f in files if f.read_text().split()]  # a file without tokens is an error (both paths)
    if not files:
        return
    expected = in_memory(files, order)
    temp = tmp_path_factory.mktemp("temp")
    with TempSpace(temp) as space:
        got, stats = count_files(files, order, memory=1, space=space, block_bytes=block, threads=threads)
        assert stats.spilled
        assert_same(got, expected)
        if sum(len(line.split()) for line in lines) < 400:
            sentences = [line.split() for f in files for line in f.read_text().splitlines() if line.split()]
            assert as_counter(got) == naive_counts(sentences, order)
        del got
    assert list(temp.iterdir()) == []
