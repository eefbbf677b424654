"""The C ARPA kernels (ngramkit._arpa) against the Python/numpy reference.

Reading: the C reader and the Python parser give identical arrays (vocabulary, n-grams, values bit for bit,
keys) on every KenLM reference file and on files ngramkit writes, and the C reader really read them (it did
not step aside). On garbled files both either load the same model or raise the same one-line error; the C
reader never accepts a file the Python parser refuses. Writing: the C formatter's bytes equal the numpy
writer's, also on values at the formatting corners, and a model whose tables are memory-mapped files is
written chunk by chunk from the mappings.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngramkit.arpa as arpa
from ngramkit import Vocabulary
from ngramkit.arpa import read_arpa, write_arpa
from ngramkit.errors import InputError, NgramkitError
from ngramkit.models import BackoffModel, ModifiedKneserNey
from ngramkit.outofcore import chunks

_arpa = pytest.importorskip("ngramkit._arpa")


def read_with(impl: str, path, monkeypatch):
    """(model or None, error message or None) of read_arpa under NGRAMKIT_IMPL=impl."""
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    try:
        return read_arpa(path), None
    except InputError as exc:
        return None, str(exc)
    finally:
        monkeypatch.delenv("NGRAMKIT_IMPL")


def assert_same_model(a: BackoffModel, b: BackoffModel) -> None:
    assert a.order == b.order and a.vocab.words == b.vocab.words
    for k in range(1, a.order + 1):
        for x, y in ((a.ngrams(k), b.ngrams(k)), (a.logp10(k), b.logp10(k)), (a.backoff10(k), b.backoff10(k)),
                     (a.keys(k), b.keys(k))):
            assert x.dtype == y.dtype and x.shape == y.shape
            # bit for bit (NaN of <s> included, and the sign of zeros)
            assert x.tobytes() == y.tobytes()


def c_reads(path) -> BackoffModel | None:
    """The C reader alone: the model, or None when it steps aside for the Python parser."""
    sections = arpa._parse_arpa_c(_arpa, arpa._read_bytes(path))
    return None if sections is None else arpa._model_from_sections(*sections)


@pytest.fixture(scope="module")
def mkn3(tm_counts):
    return ModifiedKneserNey(3).fit(tm_counts)


@pytest.mark.parametrize("name", ["timemachine.d2l.o3.arpa.gz", "timemachine.d2l.o5.arpa.gz", "ptb.UNK.o3.arpa.gz",
                                  "ptb.UNK.o3.prune011.arpa.gz"])
def test_c_reader_equals_python_parser_on_kenlm_files(reference_dir, name, monkeypatch):
    path = reference_dir / name
    model = c_reads(path)
    assert model is not None, f"the C reader stepped aside at arpa.c:{_arpa.bail_line()}"
    python, err = read_with("numpy", path, monkeypatch)
    assert err is None
    assert_same_model(model, python)
    auto, _ = read_with("auto", path, monkeypatch)
    assert_same_model(auto, python)


def test_c_reader_equals_python_parser_on_ngramkit_files(mkn3, tmp_path, monkeypatch):
    path = write_arpa(mkn3, tmp_path / "m.arpa")
    model = c_reads(path)
    assert model is not None
    assert_same_model(model, read_with("numpy", path, monkeypatch)[0])
    # ngramkit's own file: the model it came from (values within the 8 written decimals)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(model.ngrams(k), mkn3.ngrams(k))
        np.testing.assert_array_equal(model.keys(k), mkn3.keys(k))
        np.testing.assert_allclose(model.logp10(k), mkn3.logp10(k), atol=6e-9, equal_nan=True)


def test_c_reader_reads_large_plain_files_through_a_mapping(mkn3, tmp_path, monkeypatch):
    """Files over 1 MB are mapped, not copied: the same model as from bytes, and the mapping is closed."""
    path = write_arpa(mkn3, tmp_path / "m.arpa")
    big = tmp_path / "big.arpa"
    text = path.read_bytes()
    big.write_bytes(text + b"\n" * (1 << 20))  # blank lines after \end\ are ignored by both parsers
    data = arpa._read_bytes(big)
    assert not isinstance(data, bytes)
    data.close()
    assert_same_model(read_arpa(big), read_with("numpy", path, monkeypatch)[0])



def test_c_reader_drops_each_order_in_file_order_once_sorted(reference_dir, monkeypatch):
    """KenLM's files list n-grams in another order than the model's: each order is sorted into new arrays
    and its file-order arrays are let go at once (the peak holds one order twice, not the model), with the
    same model as the Python parser's."""
    path = reference_dir / "ptb.UNK.o3.arpa.gz"
    sizes, probs, backs, ids, parents, words = arpa._parse_arpa_c(_arpa, arpa._read_bytes(path))
    sections = (probs, backs, ids, parents)
    model = arpa._model_from_sections(sizes, *sections, words)
    assert all(section[k] is None for section in sections for k in (1, 2))  # orders 2 and 3 were sorted
    assert_same_model(model, read_with("numpy", path, monkeypatch)[0])

NUMBERS = ["-1", "-1.5", "-.5", "-5.", "-0", "+0", "0", "-0.000", "-1e-3", "-1E+1", "-12.345678901234567890123",
           "-0.1000000000000000055511151231257827", "-1e-320", "-4.9406564584124654e-324", "-2.2250738585072011e-308",
           "-123456789012345678901234567890", "-0.30000000000000004", "-9007199254740993", "-1e22", "-1e23",
           "-8.98846567431158e307", "-0.0000000000000000000000000000001", "-00000000000000000001.5"]


def small_file(values: list[str]) -> bytes:
    lines = [f"{v}\tw{i}\t{v.replace('-', '+', 1) if i % 2 else v}" for i, v in enumerate(values)]
    return ("\\data\\\nngram 1=%d\nngram 2=1\n\n\\1-grams:\n" % len(lines) + "\n".join(lines)
            + "\n\n\\2-grams:\n-1\tw0 w0\n\\end\\\n").encode()


def test_numbers_are_pythons_float_bit_for_bit(tmp_path, monkeypatch):
    """Short decimals take one exact division, long ones strtod: both equal float(token), the sign of 0 too."""
    rng = np.random.default_rng(3)
    values = list(NUMBERS)
    for _ in range(3000):
        digits = "".join(rng.choice(list("0123456789"), rng.integers(1, 25)))
        point = rng.integers(0, len(digits) + 1)
        tok = "-" + digits[:point] + "." + digits[point:]
        if rng.random() < 0.3:
            tok += f"e{rng.integers(-30, 5)}"
        values.append(tok)
    path = tmp_path / "n.arpa"
    path.write_bytes(small_file(values))
    model = c_reads(path)
    assert model is not None
    python, _ = read_with("numpy", path, monkeypatch)
    assert_same_model(model, python)
    words = model.vocab.words
    got = dict(zip((words[i] for i in model.ngrams(1)[:, 0]), model.logp10(1).tolist()))
    for i, v in enumerate(values):
        assert struct.pack("<d", got[f"w{i}"]) == struct.pack("<d", float(v)), v


def test_c_precheck_refuses_exactly_what_python_decodes_or_splits_differently():
    """The fast path's UTF-8 and separator check, byte by byte against Python's decoder and str.isspace():
    invalid UTF-8, NUL, CR and every whitespace other than space, tab and LF step aside; nothing else does."""
    base = SMALL
    refused = {0, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F}

    def python_ok(extra: bytes) -> bool:
        try:
            text = extra.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return not any(b in refused for b in extra) and not any(ch.isspace() and ch not in " \t\n" for ch in text)

    def c_ok(extra: bytes) -> bool:  # bytes after \end\ are checked, and ignored by both parsers
        data = base + extra
        pos, sizes = _arpa.header(data)
        probs = tuple(np.empty(m) for m in sizes)
        backs = tuple(np.empty(m) for m in sizes)
        ids = tuple(np.empty(m * k, np.int32) for k, m in enumerate(sizes, 1))
        parents = tuple(np.empty(m if k > 1 else 0, np.int32) for k, m in enumerate(sizes, 1))
        specials = tuple(w.encode() for w in arpa.SPECIALS)
        return _arpa.parse(data, pos, sizes, probs, backs, ids, parents, specials) is not None

    probes = [b"x" * pad + bytes([c]) + b"y" * 8 for c in range(128) for pad in range(9)]
    probes += [chr(cp).encode("utf-8", "surrogatepass") + b"z" * 8
               for cp in [*range(0x80, 0x3100), 0xFEFF, 0x10000, 0x10FFFF, *range(0xD800, 0xE000, 97)]]
    rng = np.random.default_rng(0)
    probes += [bytes(rng.integers(0, 256, rng.integers(1, 12))) for _ in range(5000)]
    wrong = [p for p in probes if c_ok(p) != python_ok(p)]
    assert not wrong and sum(map(python_ok, probes)) > 1000


SMALL = ("\\data\\\nngram 1=4\nngram 2=3\nngram 3=2\n\n"
         "\\1-grams:\n-99\t<s>\t-0.5\n-0.6\ta\t-0.2\n-0.7\tb\t0\n-0.8\t</s>\n\n"
         "\\2-grams:\n-0.1\t<s> a\t-0.15\n-0.3\ta b\t0\n-0.4\tb </s>\n\n"
         "\\3-grams:\n-0.2\t<s> a b\n-0.25\ta b </s>\n\\end\\\n").encode()

GARBLED = [
    SMALL.replace(b"\n", b"\r\n"),  # CR LF: the Python parser reads it
    SMALL.replace(b"-0.6\ta", b"-0.6\xc2\xa0a"),  # U+00A0: a separator for str.split()
    SMALL.replace(b"ngram 3=2", b"ngram 3=3"),
    SMALL.replace(b"ngram 3=2", b"ngram 3=1"),
    SMALL.replace(b"a b </s>", b"a a </s>"),  # no 2-gram prefix 'a a'
    SMALL.replace(b"a b </s>", b"<s> a b"),  # top-order duplicate
    SMALL.replace(b"-0.4\tb </s>", b"-0.4\ta b"),  # 2-gram duplicate
    SMALL.replace(b"-0.7\tb\t0", b"-0.7\ta\t0"),  # unigram duplicate
    SMALL.replace(b"-0.25", b"nan"),
    SMALL.replace(b"-0.25", b"0.5"),
    SMALL.replace(b"-0.15", b"1e400"),
    SMALL.replace(b"\\end\\", b"\\end"),
    SMALL.replace(b"\\2-grams:", b"\\02-grams:"),
    SMALL.replace(b"-0.3\ta b\t0\n", b"-0.3\ta b\t0\n\n"),  # a blank line inside a section
    SMALL.replace(b"-0.3\ta b\t0\n", b"-0.3\ta b\t0 extra\n"),
    SMALL.replace(b"-0.3\ta b\t0\n", b"-0.3\ta   b\n"),
    SMALL.replace(b"\n\n\\3-grams", b"\n \t\n\\3-grams"),
    SMALL.replace(b"-0.2\t<s> a b\n", b"-0.2\t<s> a b\t-1\n"),  # a backoff on the top order
    SMALL.replace(b"a", b"\xff"),
    SMALL.replace(b"a", b"\xed\xa0\x80"),  # a surrogate: not UTF-8
    SMALL.replace(b"b", b"\xf0\x9f\x98\x80"),  # an emoji: fine
    SMALL.replace(b"\\data\\\n", b"\n\n  \\data\\  \n"),
    SMALL[:-8],
    SMALL + b"anything after \\end\\ is ignored\n",
]


@pytest.mark.parametrize("data", GARBLED, ids=range(len(GARBLED)))
def test_garbled_files_same_model_or_same_error(data, tmp_path, monkeypatch):
    path = tmp_path / "g.arpa"
    path.write_bytes(data)
    check_same(path, monkeypatch)



@pytest.mark.parametrize("data", GARBLED, ids=range(len(GARBLED)))
def test_garbled_files_through_the_query_index_open_or_fail_as_the_python_parser(data, tmp_path, monkeypatch):
    """ngramkit.kenlm builds an ARPA file's probing index from the C parse (read_arpa_probe, no model):
    it opens what the Python parser reads, scoring as the index of the Python parser's model, and refuses
    the rest with the Python parser's one-line error."""
    from ngramkit import kenlm as nk

    if nk._score is None:
        pytest.skip("ngramkit._score not built")
    path = tmp_path / "g.arpa"
    path.write_bytes(data)
    py_model, py_err = read_with("numpy", path, monkeypatch)
    try:
        model, err = nk.Model(path), None
    except OSError as exc:
        model, err = None, str(exc)
    if py_err is not None:
        assert err is not None and py_err in err
        return
    assert err is None, err
    with monkeypatch.context() as m:
        m.setattr(arpa, "read_arpa_probe", lambda *a: None)
        m.setenv("NGRAMKIT_IMPL", "numpy")
        reference = nk.Model(path)
    words = [w for w in py_model.vocab.words if w not in ("<s>", "</s>")]
    for sentence in [" ".join(words), " ".join(reversed(words)), "zz " + " ".join(words[:2]), ""]:
        assert list(model.full_scores(sentence)) == list(reference.full_scores(sentence))

def check_same(path, monkeypatch):
    c_model, c_err = read_with("c", path, monkeypatch)
    py_model, py_err = read_with("numpy", path, monkeypatch)
    assert c_err == py_err
    if py_model is not None:
        assert_same_model(c_model, py_model)
    try:
        alone = c_reads(path)
    except InputError as exc:  # before any parsing: no file, corrupt gzip, binary data
        assert str(exc) == py_err
        return
    if alone is not None:  # the C reader never accepts what the Python parser refuses
        assert py_model is not None
        assert_same_model(alone, py_model)


_PIECES = [b"nan", b"-inf", b"1e999999", b"99", b"3.5", b"1_0", b"\xd9\xa1", b"\t", b" ", b"\n", b"\\", b"-", b".",
           b"e", b"0", b"<s>", b"a", b"b", b"\xff", b"\x00", b"\r", b"\x0c", b"ngram 2=", b"\\end\\", b"\xc2\x85",
           b"-0.5\ta b\n", b"\n\n"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(SMALL)), st.integers(0, 4), st.sampled_from(_PIECES)),
                      min_size=1, max_size=4))
def test_fuzzed_files_same_model_or_same_error(edits, tmp_path, monkeypatch):
    data = bytearray(SMALL)
    for pos, cut, piece in edits:
        data[pos : pos + cut] = piece
    path = tmp_path / "fuzz.arpa"
    path.write_bytes(bytes(data))
    check_same(path, monkeypatch)


def test_fuzzed_gzip_files(tmp_path, monkeypatch):
    path = tmp_path / "g.arpa.gz"
    path.write_bytes(gzip.compress(SMALL))
    check_same(path, monkeypatch)
    path.write_bytes(gzip.compress(SMALL)[:-6])
    check_same(path, monkeypatch)


# ---- writing -----------------------------------------------------------------------------------------

def write_with(impl, model, path, monkeypatch) -> bytes:
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    try:
        return write_arpa(model, path).read_bytes()
    finally:
        monkeypatch.delenv("NGRAMKIT_IMPL")


@pytest.mark.parametrize("order", [2, 4])
def test_c_writer_bytes_equal_numpy_writer(order, tm_counts, tmp_path, monkeypatch):
    model = ModifiedKneserNey(order).fit(tm_counts)
    monkeypatch.setattr(arpa, "_CHUNK_ROWS", 7919)  # several chunks per order, a last partial one
    c = write_with("c", model, tmp_path / "c.arpa", monkeypatch)
    ref = write_with("numpy", model, tmp_path / "n.arpa", monkeypatch)
    assert c == ref


CORNERS = [0.0, -0.0, -1.0, -1.5, -0.000000004, -0.000000005, -0.000000015, -0.123456789, -12.3, -99.0, -99.5,
           -100.5, -1e300, -np.inf, np.nan, -0.00000001, -98.999999996, -9.999999996, 2.25, 0.3, 999.999999999,
           5e-9, 1.000000005, 123.456, -np.finfo(float).tiny]


def corner_model(values, back=None):
    """A unigram + bigram model carrying ``values`` as probabilities (and backoffs) of its unigrams."""
    m = len(values)
    words = [f"w{i}" for i in range(m)]
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>"] + words)
    uni = np.arange(4, 4 + m, dtype=np.int32)[:, None]
    uni = np.concatenate([np.array([[0], [1], [2]], np.int32), uni])
    p = np.concatenate([[-1.0, -0.5, -2.0], values])
    b = np.concatenate([[0.0, -0.25, 0.0], values if back is None else back])
    bi = np.array([[1, 4], [4, 2]], np.int32)
    return BackoffModel.from_tables(vocab, [uni, bi], [p, np.array([-0.5, -0.25])], [b, np.zeros(2)])


def test_c_writer_formatting_corners(tmp_path, monkeypatch):
    model = corner_model(np.array(CORNERS))
    c = write_with("c", model, tmp_path / "c.arpa", monkeypatch)
    assert c == write_with("numpy", model, tmp_path / "n.arpa", monkeypatch)
    lines = c.decode().split("\n")
    assert "-99\t<s>\t-0.25" in lines  # <s> is never predicted: -99 whatever the table says
    assert "0\tw0\t0" in lines and "0\tw1\t0" in lines and "-99\tw13\t-99" in lines and "-99\tw14\t-99" in lines
    rng = np.random.default_rng(5)
    values = -np.abs(rng.standard_normal(5000) * 10 ** rng.uniform(-10, 2, 5000))
    values[::7] = np.round(values[::7], rng.integers(0, 9))  # values that end in zeros
    model = corner_model(values, back=-values)
    assert write_with("c", model, tmp_path / "c.arpa", monkeypatch) == \
        write_with("numpy", model, tmp_path / "n.arpa", monkeypatch)


@pytest.mark.parametrize("impl", ["c", "numpy"])
def test_values_of_1000_or_more_are_refused_by_both_writers(impl, tmp_path, monkeypatch):
    target = tmp_path / "big.arpa"
    with pytest.raises(NgramkitError, match="a log10 value is >= 1000"):
        write_with(impl, corner_model(np.array([-1.0, 1000.0])), target, monkeypatch)
    assert not target.exists()
    assert write_with(impl, corner_model(np.array([np.inf])), target, monkeypatch)  # +inf is written -99


def mapped_copy(model: BackoffModel, folder) -> BackoffModel:
    """The same model with every table an np.memmap of a .npy file."""
    def mapped(name, arr):
        np.save(folder / f"{name}.npy", arr)
        return np.load(folder / f"{name}.npy", mmap_mode="r")

    n = model.order
    return BackoffModel.from_tables(
        model.vocab, [mapped(f"g{k}", model.ngrams(k)) for k in range(1, n + 1)],
        [mapped(f"p{k}", model.logp10(k)) for k in range(1, n + 1)],
        [mapped(f"b{k}", model.backoff10(k)) for k in range(1, n + 1)],
        keys=[model.keys(k) for k in range(1, n + 1)])


@pytest.mark.parametrize("impl", ["c", "numpy"])
def test_mapped_model_is_written_in_chunks_from_its_mappings(impl, mkn3, tmp_path, monkeypatch):
    """Every table is passed to iter_chunks as the mapping itself (no whole copy), in chunks of at most
    _CHUNK_ROWS rows, and the bytes are those of the in-memory model."""
    mapped = mapped_copy(mkn3.to_backoff(), tmp_path)
    assert chunks._mapping(mapped.logp10(3)) is not None  # the model really holds mappings
    seen = []
    real = chunks.iter_chunks

    def spy(arr, rows, *a, **k):
        seen.append((chunks._mapping(arr) is not None, arr.shape[0]))
        for start, chunk in real(arr, rows, *a, **k):
            assert chunk.shape[0] <= 1000
            yield start, chunk

    monkeypatch.setattr(arpa, "_CHUNK_ROWS", 1000)
    monkeypatch.setattr(arpa, "iter_chunks", spy)
    got = write_with(impl, mapped, tmp_path / "mapped.arpa", monkeypatch)
    monkeypatch.setattr(arpa, "iter_chunks", real)
    assert got == write_with(impl, mkn3, tmp_path / "memory.arpa", monkeypatch)
    assert len(seen) == 3 + 3 + 2 and all(is_map for is_map, _ in seen)  # ngrams, logp10 per order, backoffs below N
    assert max(rows for _, rows in seen) > 1000  # the chunking was exercised


def test_c_format_checks_its_arguments():
    words = np.frombuffer(b"ab", np.uint8)
    ws, wl = np.array([0, 1], np.int64), np.array([1, 1], np.int64)
    ok = _arpa.format(np.array([-1.0]), None, np.array([1], np.int32), 1, words, ws, wl, -1)
    assert ok == b"-1\tb\n"
    with pytest.raises(IndexError):
        _arpa.format(np.array([-1.0]), None, np.array([2], np.int32), 1, words, ws, wl, -1)
    with pytest.raises(ValueError):
        _arpa.format(np.array([-1.0]), None, np.array([1, 1], np.int32), 1, words, ws, wl, -1)
    with pytest.raises(ValueError):
        _arpa.format(np.array([-1.0]), None, np.array([1], np.int32), 1, words, ws, np.array([1, 5], np.int64), -1)
    with pytest.raises(TypeError):
        _arpa.format(np.array([-1.0]), None, np.array([1], np.int64), 1, words, ws, wl, -1)


def test_missing_arpa_extension_reads_and_writes_the_same(mkn3, reference_dir, tmp_path, monkeypatch):
    """NGRAMKIT_IMPL unset and ngramkit._arpa missing: one warning, then the same model and the same bytes."""
    import sys

    from ngramkit import native

    path = reference_dir / "timemachine.d2l.o3.arpa.gz"
    want_model, want_bytes = read_arpa(path), write_arpa(mkn3, tmp_path / "c.arpa").read_bytes()
    monkeypatch.setitem(sys.modules, "ngramkit._arpa", None)  # the import raises
    monkeypatch.setattr(native, "_missing", {})
    monkeypatch.setattr(native, "_warned", set())
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    with pytest.warns(RuntimeWarning, match="ngramkit._arpa"):
        got_model = read_arpa(path)
    assert_same_model(got_model, want_model)
    assert write_arpa(mkn3, tmp_path / "numpy.arpa").read_bytes() == want_bytes
