"""NGramCounts and the C counting kernel against independent oracles.

Oracle: a naive ``collections.Counter`` over the padded sentences
``<s> w1 .. wn </s>`` (KenLM's convention), written here; KenLM's distinct
n-gram counts for PTB (shared/reference/README.md). Every check runs on both
implementations (the C kernel and the numpy reference, NGRAMKIT_IMPL=numpy),
and the C text scanner is checked against the Python text pipeline.
"""

from __future__ import annotations

import math
import mmap
import os
import sys
import zipfile
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngramkit import native
from ngramkit.counts import NGramCounts, check_counts_path, count_sentences_chunked
from ngramkit.errors import InputError, NgramkitError
from ngramkit.stream import Stream
from ngramkit.text import TextOptions, read_sentences
from ngramkit.vocab import Vocabulary
from oracles import as_counter, naive_counts

IMPLS = ("c", "numpy")
# KenLM lmplz on ptb.train.txt (shared/reference/README.md), <unk> kept as a word.
PTB_DISTINCT = [10_001, 264_990, 586_558, 717_733, 737_952]


@pytest.fixture(params=IMPLS)
def impl(request, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_IMPL", request.param)
    return request.param


def _with_impl(name):
    old = os.environ.get("NGRAMKIT_IMPL")
    os.environ["NGRAMKIT_IMPL"] = name
    return old


def _restore(old):
    if old is None:
        os.environ.pop("NGRAMKIT_IMPL", None)
    else:
        os.environ["NGRAMKIT_IMPL"] = old


@pytest.fixture(scope="module")
def tm_sentences(data_dir):
    return read_sentences(data_dir / "timemachine.txt", TextOptions(normalize="d2l"))


@pytest.fixture(scope="module")
def ptb_sentences(ptb_dir):
    return read_sentences(ptb_dir / "ptb.train.txt")


@pytest.fixture(scope="module")
def ptb_naive3(ptb_sentences):
    return naive_counts(ptb_sentences, 3)


# ---- exactness on real corpora -------------------------------------------------------------


def test_timemachine_orders_1_to_5_equal_naive_counter(tm_sentences, impl):
    counts = NGramCounts.from_sentences(tm_sentences, order=5)
    assert as_counter(counts) == naive_counts(tm_sentences, 5)
    assert counts.n_tokens == 32_775 + len(tm_sentences)  # D2L: 32,775 words
    assert counts.distinct(1) == 4_579 + 2  # 4,579 words + <s> + </s>


@pytest.fixture(scope="module")
def ptb_counts5(ptb_sentences):
    """PTB orders 1..5 from both implementations: {impl: NGramCounts}."""
    stream = Stream.from_sentences(ptb_sentences, Vocabulary.build(ptb_sentences))
    out = {}
    for name in IMPLS:
        old = _with_impl(name)
        try:
            out[name] = NGramCounts.from_stream(stream, 5)
        finally:
            _restore(old)
    return out


def test_ptb_order3_equals_naive_counter(ptb_sentences, ptb_naive3):
    # The C path against the naive Counter; the numpy path is checked against the C path array by array.
    counts = NGramCounts.from_sentences(ptb_sentences, order=3)
    assert as_counter(counts) == ptb_naive3
    assert counts.n_tokens == 929_589 and counts.n_sentences == 42_068
    assert counts.count("the") == 50_770


@pytest.mark.parametrize("name", IMPLS)
def test_ptb_orders_1_to_5_distinct_equal_kenlm(ptb_counts5, ptb_sentences, name):
    counts = ptb_counts5[name]
    assert [counts.distinct(k) for k in range(1, 6)] == PTB_DISTINCT
    padded = np.array([len(s) + 2 for s in ptb_sentences])  # <s> w1 .. wn </s>
    assert [counts.total(k) for k in range(1, 6)] == [int(np.maximum(padded - k + 1, 0).sum()) for k in range(1, 6)]


def test_ptb_c_and_numpy_give_identical_arrays(ptb_counts5):
    c, n = ptb_counts5["c"], ptb_counts5["numpy"]
    for k in range(1, 6):
        for name in ("ngrams", "counts", "parent", "keys"):
            assert np.array_equal(getattr(c, name)(k), getattr(n, name)(k)), (name, k)


def test_ptb_slice_order5_equals_naive_counter(ptb_sentences):
    part = ptb_sentences[:3000]  # the numpy path equals the C path on all of PTB (above)
    assert as_counter(NGramCounts.from_sentences(part, order=5)) == naive_counts(part, 5)


def test_order6_c_and_numpy_identical(ptb_sentences):
    stream = Stream.from_sentences(ptb_sentences[:8000], Vocabulary.build(ptb_sentences[:8000]))
    old = _with_impl("c")
    try:
        c = NGramCounts.from_stream(stream, 6)
        os.environ["NGRAMKIT_IMPL"] = "numpy"
        n = NGramCounts.from_stream(stream, 6)
    finally:
        _restore(old)
    assert c == n
    for k in range(1, 7):
        assert np.array_equal(c.parent(k), n.parent(k)) and np.array_equal(c.keys(k), n.keys(k))


# ---- properties (hypothesis) ---------------------------------------------------------------

words = st.sampled_from(["a", "b", "c", "d", "<unk>", "é"])
corpora_st = st.lists(st.lists(words, max_size=7), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=corpora_st, order=st.integers(1, 6))
def test_random_token_lists_equal_naive_counter(sentences, order):
    # Empty and one-word sentences included: an empty sentence is "<s> </s>".
    expected = naive_counts(sentences, order)
    for name in IMPLS:
        old = _with_impl(name)
        try:
            counts = NGramCounts.from_sentences(sentences, order=order)
        finally:
            _restore(old)
        assert as_counter(counts) == expected
        assert counts.n_tokens == sum(len(s) + 1 for s in sentences)
        for k in range(1, order + 1):
            grams = counts.ngrams(k)
            keys = counts.keys(k)
            assert np.all(np.diff(keys) > 0)  # sorted, unique
            if k > 1 and grams.shape[0]:
                assert np.array_equal(counts.ngrams(k - 1)[counts.parent(k)], grams[:, :-1])
            naive_n = Counter(c for g, c in expected.items() if len(g) == k)
            assert counts.count_of_counts(k).tolist() == [naive_n[i] for i in range(1, 5)]


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(corpora_st, min_size=3, max_size=3), same_vocab=st.booleans())
def test_merge_is_commutative_associative_and_sums(parts, same_vocab):
    if same_vocab:
        vocab = Vocabulary.build([s for p in parts for s in p])
        a, b, c = (NGramCounts.from_stream(Stream.from_sentences(p, vocab), 3) for p in parts)
    else:  # each part its own vocabulary: merged into the union vocabulary
        a, b, c = (NGramCounts.from_sentences(p, order=3) for p in parts)
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c)) == b.merge(c.merge(a))
    whole = [s for p in parts for s in p]
    if not same_vocab:  # union vocabulary == vocabulary of the concatenation
        assert a.merge(b).merge(c) == NGramCounts.from_sentences(whole, order=3)
    assert as_counter(a.merge(b).merge(c)) == naive_counts(whole, 3)
    assert as_counter(a + b) == naive_counts(parts[0] + parts[1], 3)


@settings(max_examples=60, deadline=None)
@given(sentences=corpora_st, chunk=st.integers(1, 20), order=st.integers(1, 4))
def test_chunked_equals_whole(sentences, chunk, order):
    vocab = Vocabulary.build(sentences)
    whole = NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), order)
    assert count_sentences_chunked(iter(sentences), vocab, order, chunk_tokens=chunk) == whole


def test_merge_rejects_other_orders_and_types(tm_sentences):
    a = NGramCounts.from_sentences(tm_sentences[:50], order=2)
    b = NGramCounts.from_sentences(tm_sentences[:50], order=3)
    with pytest.raises(NgramkitError, match="same order"):
        a.merge(b)
    with pytest.raises(TypeError):
        a.merge({})


# ---- files: chunked reading, fast scanner ----------------------------------------------------


def test_from_file_chunked_equals_whole(ptb_dir, tmp_path, impl):
    lines = (ptb_dir / "ptb.train.txt").read_text().splitlines(keepends=True)[:3000]
    path = tmp_path / "part.txt"
    path.write_text("".join(lines))
    whole = NGramCounts.from_file(path, 4)
    assert whole == NGramCounts.from_sentences(read_sentences(path), order=4)
    progress = []
    chunked = NGramCounts.from_file([path, path], 4, chunk_bytes=20_000, progress=progress.append)
    assert chunked == NGramCounts.from_file([path, path], 4)
    assert sum(progress) == 2 * path.stat().st_size
    lower = TextOptions(normalize="lower")
    assert NGramCounts.from_file(path, 3, options=lower, min_count=2, chunk_bytes=7_000) == \
        NGramCounts.from_file(path, 3, options=lower, min_count=2)


def _stream_or_error(paths, options, **kw):
    try:
        s = Stream.from_files(paths, options, **kw)
    except InputError as exc:
        return str(exc)
    return s.vocab.words, s.vocab.counts.tolist(), s.ids.tolist(), s.offsets.tolist(), s.oov.tolist()


def _both(paths, options, **kw):
    old = _with_impl("c")
    try:
        fast = _stream_or_error(paths, options, **kw)
        os.environ["NGRAMKIT_IMPL"] = "numpy"
        slow = _stream_or_error(paths, options, **kw)
    finally:
        _restore(old)
    return fast, slow


@pytest.mark.parametrize("normalize", ["none", "lower"])
def test_c_scanner_equals_python_pipeline_on_corpora(data_dir, ptb_dir, normalize):
    options = TextOptions(normalize=normalize)
    for paths in ([data_dir / "timemachine.txt"], [ptb_dir / "ptb.train.txt", ptb_dir / "ptb.test.txt"]):
        fast, slow = _both(paths, options, min_count=2)
        assert fast == slow


ODD = ["a", "b", "B", " ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f",
       "\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f",
       "\u3000", "\ufeff", "é", "É", "İ", "ß", "ǅ", "日本", "<unk>", "</s>", "\x00"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from(ODD), max_size=30).map("".join),
       normalize=st.sampled_from(["none", "lower"]), sentences=st.booleans(), min_count=st.integers(1, 2),
       bom=st.booleans())
def test_c_scanner_equals_python_pipeline_on_odd_text(tmp_path_factory, text, normalize, sentences, min_count, bom):
    path = tmp_path_factory.mktemp("odd") / "t.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    fast, slow = _both([path, path], TextOptions(normalize=normalize, sentences=sentences), min_count=min_count)
    assert fast == slow


@pytest.mark.parametrize("data", [b"ab \xff cd\n", b"ok\nab\xc3", b"\xed\xa0\x80 x", b"a\x00b", b"", b" \n\t\r\n",
                                  b"PK\x03\x04zip"])
@pytest.mark.parametrize("errors", ["strict", "replace"])
def test_c_scanner_bad_bytes_like_python(tmp_path, data, errors):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    fast, slow = _both([path], TextOptions(errors=errors))
    assert fast == slow


def test_chunked_file_errors_name_whole_file_offsets(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"good line\n" * 5000 + b"bad \xff byte\n")
    with pytest.raises(InputError) as whole:
        NGramCounts.from_file(path, 2)
    with pytest.raises(InputError) as chunked:
        NGramCounts.from_file(path, 2, chunk_bytes=1000)
    assert str(whole.value) == str(chunked.value)
    assert "offset 50004" in str(whole.value)


# ---- access ---------------------------------------------------------------------------------


def test_count_find_top_iteration(tm_sentences, impl):
    counts = NGramCounts.from_sentences(tm_sentences, order=3)
    naive = naive_counts(tm_sentences, 3)
    assert counts.count(("the", "time", "traveller")) == naive[("the", "time", "traveller")]
    ids = [counts.vocab.index[w] for w in ("the", "time")]
    assert counts.count(ids) == naive[("the", "time")]
    assert counts.count(("the", "zzzz")) == 0
    v = len(counts.vocab)
    assert counts.find(np.array([[ids[0], v + ids[1] - v], [ids[0], v], [-1, 0]])).tolist()[1:] == [-1, -1]
    top = counts.top(2, 5)
    best = sorted(((c, g) for g, c in naive.items() if len(g) == 2), key=lambda cg: -cg[0])[:5]
    assert [c for _, c in top] == [c for c, _ in best]
    assert list(counts.items(3)) == [x for x in counts if len(x[0]) == 3]
    assert len(counts) == len(naive) == len(list(counts))
    with pytest.raises(NgramkitError, match="orders 1..3"):
        counts.ngrams(4)


@pytest.mark.parametrize("order", [0, -1, 13, 100, 2.5, True])
def test_bad_orders(order):
    with pytest.raises(NgramkitError, match="order"):
        NGramCounts.from_sentences([["a"]], order=order)


# ---- save / load ----------------------------------------------------------------------------


def _file_mapped(arr: np.ndarray) -> bool:
    """True when ``arr`` is a view of a memory-mapped file (its chain of bases ends at an mmap)."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, mmap.mmap) or (isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap))


def test_save_load_round_trip(tm_sentences, tmp_path):
    counts = NGramCounts.from_sentences(tm_sentences, order=4, min_count=2)
    path = counts.save(tmp_path / "tm.ngc")
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)
    for mmap_ in (True, False):
        back = NGramCounts.load(path, mmap=mmap_)
        assert back == counts
        assert back.vocab.counts.tolist() == counts.vocab.counts.tolist()
        assert back.count(("the", "time")) == counts.count(("the", "time"))
        assert (back.n_sentences, back.n_tokens) == (counts.n_sentences, counts.n_tokens)
        for k in range(1, 5):
            arrays = (back.ngrams(k), back.counts(k), back.parent(k))
            assert all(_file_mapped(a) == mmap_ and a.flags.writeable != mmap_ for a in arrays), (k, mmap_)
            assert all(a.ctypes.data % 64 == 0 for a in arrays if mmap_ and a.size)
    if os.path.isdir("/proc/self"):  # the mapping is of the file itself
        mapped = NGramCounts.load(path)
        assert str(path) in open("/proc/self/maps").read() and mapped.order == 4
    assert [p.name for p in tmp_path.iterdir()] == ["tm.ngc"]  # no temporary file left
    assert counts.save(tmp_path / "again.ngc").read_bytes() == path.read_bytes()  # equal counts, equal bytes
    with np.load(path, allow_pickle=False) as npz:  # a plain .npz: readable without ngramkit
        assert np.array_equal(npz["ngrams3"], counts.ngrams(3)) and np.array_equal(npz["counts2"], counts.counts(2))


def _member_data(path, name):
    """(start, length) of the bytes of zip member ``name`` (stored uncompressed) in ``path``."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    extra = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little") + \
        int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    return info.header_offset + 30 + extra, info.compress_size


def test_load_rejects_corrupt_foreign_and_truncated_files(tm_sentences, tmp_path):
    path = NGramCounts.from_sentences(tm_sentences[:200], order=3).save(tmp_path / "c.ngc")
    bad = tmp_path / "bad.ngc"
    start, length = _member_data(path, "counts3.npy")
    data = bytearray(path.read_bytes())
    data[start + length - 5] ^= 0xFF  # one byte of the last count of order 3
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad.ngc: checksum mismatch in array 'counts3'"):
        NGramCounts.load(bad)
    assert NGramCounts.load(bad, verify=False).counts(3)[-1] != NGramCounts.load(path).counts(3)[-1]
    for keep in (40, len(data) // 2, len(data) - 100):
        bad.write_bytes(path.read_bytes()[:keep])
        with pytest.raises(InputError, match="truncated|corrupt"):
            NGramCounts.load(bad)
    bad.write_bytes(b"the cat sat\n")
    with pytest.raises(InputError, match="not an ngramkit counts file"):
        NGramCounts.load(bad)
    bad.write_bytes(b"NGRAMKIT-COUNTS\0" + bytes(100))  # the single-file layout of ngramkit 0.1
    with pytest.raises(InputError, match="format of ngramkit 0.1.*count the text again"):
        NGramCounts.load(bad)
    start, _ = _member_data(path, "meta.json")
    edited = path.read_bytes()
    edited = edited[:start] + edited[start:].replace(b'"order": 3', b'"order": 2', 1)
    bad.write_bytes(edited)  # meta.json is covered by the zip CRC-32
    with pytest.raises(InputError, match="corrupt"):
        NGramCounts.load(bad)
    with pytest.raises(InputError, match="no such counts file"):
        NGramCounts.load(tmp_path / "missing.ngc")
    with pytest.raises(InputError, match="is a directory"):
        NGramCounts.load(tmp_path)


def test_save_to_unwritable_place_or_model_name_leaves_nothing(tm_sentences, tmp_path):
    counts = NGramCounts.from_sentences(tm_sentences[:20], order=2)
    with pytest.raises(NgramkitError, match="does not exist"):
        counts.save(tmp_path / "no" / "such" / "dir.ngc")
    with pytest.raises(NgramkitError, match=r"c.ngk: .ngk is the extension of ngramkit model files; name counts "
                                            r"files .ngc"):
        counts.save(tmp_path / "c.ngk")
    with pytest.raises(NgramkitError, match="c.NGK: .ngk is the extension"):
        check_counts_path(tmp_path / "c.NGK")
    assert check_counts_path(tmp_path / "c.counts") == tmp_path / "c.counts"  # any other name is fine
    assert list(tmp_path.iterdir()) == []


# ---- kernel: implementation switch and argument checks --------------------------------------


def test_missing_extension_warns_loudly_and_impl_c_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "ngramkit._count", None)  # makes the import fail
    monkeypatch.setattr(native, "_missing", {})
    monkeypatch.setattr(native, "_warned", set())
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    with pytest.warns(RuntimeWarning, match="ngramkit._count .* is missing"):
        counts = NGramCounts.from_sentences([["a", "b"]], order=2)  # still correct, via numpy
    assert counts.count(("a", "b")) == 1
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    with pytest.raises(NgramkitError, match="NGRAMKIT_IMPL=c"):
        NGramCounts.from_sentences([["a", "b"]], order=2)
    monkeypatch.setenv("NGRAMKIT_IMPL", "fortran")
    with pytest.raises(NgramkitError, match="NGRAMKIT_IMPL must be"):
        NGramCounts.from_sentences([["a", "b"]], order=2)


# ---- the packed top-order path (ceil(log2 V) * order <= 63) and its fallback ------------------


def _repetitive_corpus(n_words: int, seed: int = 0):
    """Sentences over n_words distinct words with heavy repeats, so some n-gram counts pass small
    packed count fields (the spill path) and many sentences are shorter than the order."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(n_words)]
    base = [[vocab[j] for j in rng.integers(0, n_words, size=rng.integers(0, 11))] for _ in range(60)]
    sentences = [base[i % 60] for i in range(600)] + [[vocab[0]] * 40] * 5 + [vocab[:300]]
    return sentences


@pytest.mark.parametrize("n_words, order, packed", [
    (300, 7, True),   # V = 304 -> 9 bits * 7 = 63: a 1-bit count field, every repeat spills
    (600, 6, True),   # 10 bits * 6 = 60: a 4-bit count field
    (300, 8, False),  # 72 bits: one hash table per order (count_step)
    (12, 12, True),   # 4 bits * 12 = 48
])
def test_packed_path_and_fallback_equal_naive_counter(monkeypatch, n_words, order, packed):
    sentences = _repetitive_corpus(n_words)
    stream = Stream.from_sentences(sentences, Vocabulary.build(sentences))
    # The C engine packs a top-order n-gram into one int64 when ceil(log2 V) bits per word fit in 63.
    assert (math.ceil(math.log2(len(stream.vocab))) * order <= 63) == packed
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    c = NGramCounts.from_stream(stream, order)
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    n = NGramCounts.from_stream(stream, order)
    assert as_counter(c) == naive_counts(sentences, order)
    assert c.counts(1).max() > 100  # counts far past the small packed count fields
    for k in range(1, order + 1):
        for name in ("ngrams", "counts", "parent", "keys"):
            assert np.array_equal(getattr(c, name)(k), getattr(n, name)(k)), (name, k)
