"""ARPA write/read: round trips, KenLM's files scored as KenLM's query does, malformed input."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngramkit import NgramkitError, Stream, Vocabulary
from ngramkit.arpa import read_arpa, write_arpa
from ngramkit.errors import InputError
from ngramkit.evaluate import evaluate
from ngramkit.models import BackoffModel, Laplace, ModifiedKneserNey, WittenBell
from ngramkit.vocab import BOS_ID


@pytest.fixture(scope="module")
def mkn3(tm_counts):
    return ModifiedKneserNey(3).fit(tm_counts)


@pytest.mark.parametrize("suffix", [".arpa", ".arpa.gz"])
def test_round_trip_scores_identically(suffix, mkn3, tm_stream, tmp_path):
    path = write_arpa(mkn3, tmp_path / f"m{suffix}")
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" if suffix.endswith(".gz") else raw.startswith(b"\\data\\\nngram 1=4582\n")  # vocabulary minus <pad>, as lmplz
    loaded = read_arpa(path)
    assert isinstance(loaded, BackoffModel) and loaded.order == 3
    assert loaded.vocab.words == mkn3.vocab.words  # specials first, then file order = model order
    for k in (1, 2, 3):
        np.testing.assert_array_equal(loaded.ngrams(k), mkn3.ngrams(k))
        np.testing.assert_allclose(loaded.logp10(k), mkn3.logp10(k), atol=6e-9, equal_nan=True)
        np.testing.assert_allclose(loaded.backoff10(k), mkn3.backoff10(k), atol=6e-9)
    np.testing.assert_allclose(loaded.log_probs(tm_stream), mkn3.log_probs(tm_stream), atol=1e-6, rtol=0)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_written_text_is_standard(mkn3, tmp_path):
    """Checked with a naive line parser: header counts, sections, columns, values."""
    text = write_arpa(mkn3, tmp_path / "m.arpa").read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[:4] == ["\\data\\", f"ngram 1={mkn3.ngrams(1).shape[0]}", f"ngram 2={mkn3.ngrams(2).shape[0]}",
                         f"ngram 3={mkn3.ngrams(3).shape[0]}"]
    assert text.endswith("\n\\end\\\n")
    words = mkn3.vocab.words
    for k in (1, 2, 3):
        start = lines.index(f"\\{k}-grams:") + 1
        body = lines[start : start + mkn3.ngrams(k).shape[0]]
        fields = [ln.split("\t") for ln in body]
        assert all(len(f) == (3 if k < 3 else 2) for f in fields)
        assert [f[1] for f in fields] == [" ".join(words[i] for i in row) for row in mkn3.ngrams(k).tolist()]
        probs = np.array([float(f[0]) for f in fields])
        want = np.where(np.isnan(mkn3.logp10(k)), -99.0, mkn3.logp10(k))
        np.testing.assert_allclose(probs, want, atol=5.1e-9, rtol=0)
        if k < 3:
            np.testing.assert_allclose([float(f[2]) for f in fields], mkn3.backoff10(k), atol=5.1e-9, rtol=0)
    # Formatting corner cases: zero, -99, tiny and integral values.
    assert "-99\t<s>\t" in text and "\t0\n" in text


def test_float_formatting():
    from ngramkit.arpa import _float_text

    values = np.array([0.0, -0.0, -1.0, -1.5, -0.000000004, -0.123456789, -12.3, -99, -np.inf, np.nan, 2.25,
                       -100.5, -0.00000001])
    buf, start, length = _float_text(values)
    text = [bytes(buf[s : s + n]).decode() for s, n in zip(start.tolist(), length.tolist())]
    assert text == ["0", "0", "-1", "-1.5", "0", "-0.12345679", "-12.3", "-99", "-99", "-99", "2.25", "-99",
                    "-0.00000001"]


def test_kenlm_file_scores_like_kenlm_query(reference_dir, tm_sentences):
    """read_arpa + log_probs on lmplz's own file gives the perplexity `query -v summary` printed."""
    for order, ppl in ((3, 18.58095059456021), (5, 14.22953009187237)):
        model = read_arpa(reference_dir / f"timemachine.d2l.o{order}.arpa.gz")
        assert model.order == order and model.vocab.words[:4] == ["<unk>", "<s>", "</s>", "<pad>"]
        ev = evaluate(model, Stream.from_sentences(tm_sentences, model.vocab))
        assert ev.tokens == 35_623
        assert ev.perplexity == pytest.approx(ppl, rel=1e-7)  # query sums float32 values


def test_kenlm_file_round_trip(reference_dir, tmp_path, tm_sentences):
    model = read_arpa(reference_dir / "timemachine.d2l.o3.arpa.gz")
    again = read_arpa(write_arpa(model, tmp_path / "again.arpa.gz"))
    stream = Stream.from_sentences(tm_sentences[:200] + [["never", "zzz", "seen"]], model.vocab)
    np.testing.assert_allclose(again.log_probs(stream), model.log_probs(stream), atol=1e-7, rtol=0)


SRILM_STYLE = """
\\data\\
ngram 1=4
ngram 2=3

\\1-grams:
-99\t<s>\t-0.5
-0.6\ta\t-0.2
-0.7  b
-0.8\t</s>

\\2-grams:
-0.1\t<s> a
-0.3\ta b
-0.4\tb </s>

\\end\\
"""


def test_srilm_style_file_by_hand(tmp_path):
    """Spaces as separators, missing backoff columns, no <unk>: scored by the ARPA rule by hand."""
    path = tmp_path / "s.arpa"
    path.write_text(SRILM_STYLE)
    model = read_arpa(path)
    assert model.vocab.words == ["<unk>", "<s>", "</s>", "<pad>", "a", "b"]
    stream = Stream.from_sentences([["a", "b"], ["b", "a", "zz"]], model.vocab)
    got = model.log_probs(stream) / math.log(10)
    # <s> a | a b | b </s> ; <s> b = bo(<s>) + p(b) | b a = bo(b)=0 + p(a) | a zz = bo(a) + p(<unk>)=-100
    # | zz </s> = bo(<unk>)=0 + p(</s>).
    want = [-0.1, -0.3, -0.4, -0.5 - 0.7, -0.6, -0.2 - 100.0, -0.8]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert stream.oov.tolist() == [False, False, False, False, False, True, False]


def write_bytes(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("data, message", [
    (b"", "expected the '\\\\data\\\\' header"),
    (b"hello\n", ":1: expected the '\\\\data\\\\' header"),
    (b"\\data\\\nngram 1=x\n", ":2: expected 'ngram K=COUNT'"),
    (b"\\data\\\nngram 2=1\n", ":2: expected 'ngram 1=COUNT'"),
    (b"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n", ":6: expected 2 1-gram lines"),
    (b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n", ":6: expected '\\\\end\\\\'"),
    (b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n-2\tb\n\\end\\\n", "more n-gram lines than"),
    (b"\\data\\\nngram 1=1\n\n\\1-grams:\nx\ta\n\\end\\\n", ":5: expected a finite decimal log10 probability"),
    (b"\\data\\\nngram 1=\xd9\xa1\n", ":2: expected 'ngram K=COUNT'"),  # Arabic-Indic digit one: ASCII only
    (b"\\data\\\nngram 1=-1\n", ":2: expected 'ngram K=COUNT'"),
    (b"\\data\\\nngram 1=1_0\n", ":2: expected 'ngram K=COUNT'"),
    (b"\\data\\\nngram 0=1\n", ":2: expected 'ngram 1=COUNT'"),
    (b"\\data\\\nngram 1=1\nngram 1=1\n", ":3: expected 'ngram 2=COUNT'"),
    (b"\\data\\\nngram 1=99999999999999999999\n\n\\1-grams:\n-1\ta\n\\end\\\n",
     ":6: expected 99999999999999999999 1-gram lines"),
    (b"\\data\\\nngram 1=1\n\n\\2-grams:\n", ":4: expected '\\\\1-grams:'"),
    (b"\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1\ta\t0\n\n\\2-grams:\n-1\ta c\n\\end\\\n",
     ":9: expected words listed among the 1-grams, got 'c'"),
    (b"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n-1\ta\n\\end\\\n", "unigram 'a' is listed twice"),
    (b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t\xff\n\\end\\\n", ":5: expected UTF-8 text"),
    (b"mmap lm http://kheafield.com/code format version 5\n\0\0\0", "KenLM binary model"),
    (b"BZh91AY&SY", "bzip2"),
    (b"\x00\x01\x02binary", "binary data"),
])
def test_malformed_files_name_file_line_and_expectation(data, message, tmp_path):
    path = write_bytes(tmp_path, "bad.arpa", data)
    with pytest.raises(InputError, match=message) as info:
        read_arpa(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_prefix_and_missing_file(tmp_path):
    data = b"\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\ta\t0\n-1\tb\t0\n\n\\2-grams:\n-1\ta b\n\\end\\\n"
    assert read_arpa(write_bytes(tmp_path, "ok.arpa", data)).order == 2
    data3 = (b"\\data\\\nngram 1=2\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\ta\t0\n-1\tb\t0\n\n\\2-grams:\n"
             b"-1\ta b\t0\n\n\\3-grams:\n-1\tb a b\n\\end\\\n")
    with pytest.raises(InputError, match="'b a b' has no 2-gram prefix"):
        read_arpa(write_bytes(tmp_path, "noprefix.arpa", data3))
    with pytest.raises(InputError, match="no such ARPA file"):
        read_arpa(tmp_path / "absent.arpa")
    with pytest.raises(InputError, match="is a directory"):
        read_arpa(tmp_path)
    gz = tmp_path / "trunc.arpa.gz"
    gz.write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(InputError, match="corrupt gzip"):
        read_arpa(gz)


def test_models_without_arpa_form_leave_no_file(tm_counts, tmp_path):
    target = tmp_path / "laplace.arpa"
    with pytest.raises(NgramkitError, match="no backoff \\(ARPA\\) form"):
        write_arpa(Laplace(2).fit(tm_counts), target)
    assert not target.exists() and not list(tmp_path.iterdir())


def test_failed_write_keeps_the_old_file(tm_counts, tmp_path, monkeypatch):
    target = tmp_path / "m.arpa"
    target.write_text("old")
    model = WittenBell(2).fit(tm_counts)
    import ngramkit.arpa as arpa

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(arpa, "_segments_to_bytes", boom)  # the numpy writer
    monkeypatch.setattr(arpa, "_lines_c", boom)  # the C writer
    with pytest.raises(RuntimeError):
        write_arpa(model, target)
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_vocabulary_from_file_order(tmp_path):
    model = read_arpa(write_bytes(tmp_path, "v.arpa", SRILM_STYLE.replace("\ta\t", "\tzeta\t")
                                  .replace("<s> a", "<s> zeta").replace("a b", "zeta b").encode()))
    assert model.vocab.words[4:] == ["zeta", "b"]
    lp = model.next_log_probs([BOS_ID])
    assert lp[BOS_ID] == -np.inf and lp[model.vocab.index["zeta"]] == pytest.approx(-0.1 * math.log(10))
    assert isinstance(model.vocab, Vocabulary)


def test_chunked_parsing_gives_the_same_model(mkn3, tmp_path, monkeypatch):
    import ngramkit.arpa as arpa

    path = write_arpa(mkn3, tmp_path / "m.arpa")
    whole = read_arpa(path)
    monkeypatch.setattr(arpa, "_CHUNK_LINES", 1000)
    chunked = read_arpa(path)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(chunked.ngrams(k), whole.ngrams(k))
        np.testing.assert_array_equal(chunked.logp10(k), whole.logp10(k))
        np.testing.assert_array_equal(chunked.backoff10(k), whole.backoff10(k))
    # An error deep in a later chunk still names its line.
    lines = path.read_text().split("\n")
    start = lines.index("\\3-grams:")
    bad = start + 2500
    lines[bad] = "-1.5\tthe time zzzqqq"
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match=f":{bad + 1}: expected words listed among the 1-grams, got 'zzzqqq'"):
        read_arpa(path)


def test_c_gather_equals_numpy_gather(monkeypatch):
    """The ARPA writer's line assembly: C memcpy segments == numpy byte gather == a Python join."""
    from ngramkit.arpa import _segments_to_bytes

    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, 5000, dtype=np.uint8)
    lens = rng.integers(0, 40, (300, 4)).astype(np.int32)
    starts = rng.integers(0, 5000 - 40, (300, 4)).astype(np.int32)
    expected = b"".join(src[s:s + n].tobytes() for s, n in zip(starts.ravel().tolist(), lens.ravel().tolist()))
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    assert _segments_to_bytes(src, starts, lens) == expected
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    assert _segments_to_bytes(src, starts, lens) == expected


def test_c_gather_rejects_bad_segments():
    from ngramkit import _count

    src = np.arange(10, dtype=np.uint8)
    with pytest.raises(IndexError):
        _count.gather(src, np.array([8], np.int32), np.array([5], np.int32))
    with pytest.raises(ValueError):
        _count.gather(src, np.array([0], np.int32), np.array([-1], np.int32))
    with pytest.raises(ValueError):
        _count.gather(src, np.array([0, 1], np.int32), np.array([1], np.int32))
    with pytest.raises(TypeError):
        _count.gather(src, np.array([0], np.int64), np.array([1], np.int32))


# ---- values: every probability a finite log10 <= 0, every backoff finite ------------------------------

def _naive_arpa(path):
    """{k: {words tuple: (log10 prob, log10 backoff or 0)}} with a plain line parser (the oracle)."""
    tables, k = {}, None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("\\") and line.endswith("-grams:"):
                k = int(line[1:].split("-")[0])
                tables[k] = {}
            elif k is not None and line and not line.startswith("\\"):
                f = line.split()
                tables[k][tuple(f[1 : k + 1])] = (float(f[0]), float(f[k + 1]) if len(f) == k + 2 else 0.0)
    return tables


@pytest.mark.parametrize("name", ["timemachine.d2l.o3.arpa.gz", "timemachine.d2l.o5.arpa.gz",
                                  "ptb.UNK.o3.prune011.arpa.gz"])
def test_kenlm_reference_files_load_with_their_numbers(reference_dir, name):
    """KenLM's own files (its 0 for <s>, backoffs of 0) still load, every value as written in the file."""
    tables = _naive_arpa(reference_dir / name)
    model = read_arpa(reference_dir / name)
    assert model.order == len(tables)
    words = model.vocab.words
    for k, table in tables.items():
        got = {tuple(words[i] for i in row): (p, b) for row, p, b in
               zip(model.ngrams(k).tolist(), model.logp10(k).tolist(), model.backoff10(k).tolist())}
        assert got.keys() == table.keys()
        for key, (p, b) in table.items():
            if key == ("<s>",):
                assert p == 0.0 and math.isnan(got[key][0])  # KenLM writes 0; context only when read
                assert got[key][1] == b
            else:
                assert got[key] == (p, b)


SMALL = ("\\data\\\nngram 1=4\nngram 2=3\nngram 3=1\n\n"
         "\\1-grams:\n{p1}\t<s>\t{b1}\n-0.6\ta\t-0.2\n-0.7\tb\t0\n-0.8\t</s>\n\n"
         "\\2-grams:\n{p2}\t<s> a\t{b2}\n-0.3\ta b\t0\n-0.4\tb </s>\n\n"
         "\\3-grams:\n{p3}\t<s> a b\n\\end\\\n")
GOOD = {"p1": "-99", "b1": "-0.5", "p2": "-0.1", "b2": "-0.15", "p3": "-0.2"}
LINE = {"p1": 7, "b1": 7, "p2": 13, "b2": 13, "p3": 18}


def test_small_file_loads_with_srilm_and_kenlm_conventions(tmp_path):
    for p1 in ("-99", "0", "-0", "-1e-3", "-.5", "-5.", "-1E+1"):
        path = write_bytes(tmp_path, "ok.arpa", SMALL.format(**{**GOOD, "p1": p1, "b2": "+0.25"}).encode())
        model = read_arpa(path)
        assert model.backoff10(2)[0] == 0.25 and model.logp10(3).tolist() == [-0.2]  # a positive backoff is fine


@pytest.mark.parametrize("field", list(GOOD))
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "+inf", "Infinity", "1e999999", "-1e999999",
                                   "1_0", "-1_0", "\u0661", "\uff11", "0x1", "1e", "--1", "."])
def test_non_finite_or_non_decimal_values_are_refused_with_file_and_line(field, value, tmp_path):
    path = write_bytes(tmp_path, "bad.arpa", SMALL.format(**{**GOOD, field: value}).encode())
    kind = "probability" if field[0] == "p" else "backoff"
    with pytest.raises(InputError, match=f"^{path}:{LINE[field]}: expected a finite decimal log10 {kind}") as info:
        read_arpa(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("field", ["p1", "p2", "p3"])
@pytest.mark.parametrize("value", ["99", "3.5", "+1e-9", "0.0000001"])
def test_positive_log10_probabilities_are_refused(field, value, tmp_path):
    path = write_bytes(tmp_path, "bad.arpa", SMALL.format(**{**GOOD, field: value}).encode())
    with pytest.raises(InputError, match=f"^{path}:{LINE[field]}: expected a log10 probability <= 0"):
        read_arpa(path)


def test_bad_value_in_a_later_chunk_names_its_line(mkn3, tmp_path, monkeypatch):
    import ngramkit.arpa as arpa

    path = write_arpa(mkn3, tmp_path / "m.arpa")
    lines = path.read_text().split("\n")
    bad = lines.index("\\2-grams:") + 3100
    lines[bad] = "nan\t" + lines[bad].split("\t", 1)[1]
    path.write_text("\n".join(lines))
    monkeypatch.setattr(arpa, "_CHUNK_LINES", 1000)
    with pytest.raises(InputError, match=f":{bad + 1}: expected a finite decimal log10 probability"):
        read_arpa(path)


_VALID = SMALL.format(**GOOD).encode()
_PIECES = [b"nan", b"-inf", b"inf", b"1e999999", b"99", b"3.5", b"1_0", b"\xd9\xa1", b"\t", b" ", b"\n", b"\\",
           b"-", b".", b"e", b"0", b"<s>", b"a", b"\xff", b"\x00", b"=", b"ngram 2=", b"\\end\\", b"\r\n"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(_VALID)), st.integers(0, 4), st.sampled_from(_PIECES)),
                      min_size=1, max_size=4))
def test_mutated_files_load_valid_values_or_raise_the_arpa_error(edits, tmp_path):
    """Any mutation of a valid file: either it loads with every value finite and <= 0 or InputError; nothing else."""
    data = bytearray(_VALID)
    for pos, cut, piece in edits:
        data[pos : pos + cut] = piece
    path = write_bytes(tmp_path, "fuzz.arpa", bytes(data))
    try:
        model = read_arpa(path)
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    for k in range(1, model.order + 1):
        p, b = model.logp10(k), model.backoff10(k)
        if k == 1:
            assert np.isnan(p[model.ngrams(1)[:, 0] == BOS_ID]).all()  # <s>: context only
            p = p[model.ngrams(1)[:, 0] != BOS_ID]
        assert np.isfinite(p).all() and (p <= 0).all() and np.isfinite(b).all()
