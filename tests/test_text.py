"""Text pipeline: readers, normalisers, tokenisers, sentence mode, bad input."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngramkit.errors import InputError, NgramkitError
from ngramkit.stream import Stream
from ngramkit.text import TextOptions, check_bytes, read_sentences, read_text, source_name, tokenize

SAMPLE = "The Time Machine, by H. G. Wells [1898]\n\n\nI\n  The Time Traveller (for so it will be convenient)\n"


def d2l_oracle(text: str) -> list[list[str]]:
    """D2L sec. 9.2, written out: per line re.sub('[^A-Za-z]+', ' ', line).strip().lower(), then split."""
    out = []
    for line in text.split("\n"):
        words = re.sub("[^A-Za-z]+", " ", line).strip().lower().split(" ")
        words = [w for w in words if w]
        if words:
            out.append(words)
    return out


# ---- the figures the issue quotes ------------------------------------------------------


def test_timemachine_d2l_token_counts(timemachine_path):
    sentences = read_sentences(timemachine_path, TextOptions(normalize="d2l"))
    tokens = [w for s in sentences for w in s]
    assert len(tokens) == 32_775
    assert len(set(tokens)) == 4_579
    assert sentences == d2l_oracle(timemachine_path.read_text(encoding="utf-8"))


def test_timemachine_whitespace_words(timemachine_path):
    # ../shared/corpora/README.md: 32,306 whitespace-separated words.
    assert sum(map(len, read_sentences(timemachine_path))) == 32_306


def test_ptb_train_words_and_lines(data_dir):
    sentences = read_sentences(data_dir / "ptb" / "ptb.train.txt")
    assert len(sentences) == 42_068
    assert sum(map(len, sentences)) == 887_521


# ---- normalisers and tokenisers --------------------------------------------------------


def test_normalizers():
    text = "Hello, WORLD!\n\nIt's 1984 ok\n"
    assert tokenize(text) == [["Hello,", "WORLD!"], ["It's", "1984", "ok"]]
    assert tokenize(text, TextOptions(normalize="lower")) == [["hello,", "world!"], ["it's", "1984", "ok"]]
    assert tokenize(text, TextOptions(normalize="d2l")) == [["hello", "world"], ["it", "s", "ok"]]


def test_d2l_line_of_only_non_letters_is_not_a_sentence():
    assert tokenize("abc\n1984 !!!\ndef\n", TextOptions(normalize="d2l")) == [["abc"], ["def"]]


def test_nltk_tokenizer_hand_checked():
    text = 'Mr. Smith didn\'t pay $3.50, did he? "Yes," she said.'
    expected = ["Mr.", "Smith", "did", "n't", "pay", "$", "3.50", ",", "did", "he", "?",
                "``", "Yes", ",", "''", "she", "said", "."]
    assert tokenize(text, TextOptions(tokenizer="nltk")) == [expected]


def test_nltk_tokenizer_needs_no_downloaded_data(monkeypatch):
    import nltk.data

    def refuse(*args, **kwargs):
        raise LookupError("nltk data must not be needed")

    monkeypatch.setattr(nltk.data, "load", refuse)
    monkeypatch.setattr(nltk.data, "find", refuse)
    assert tokenize("We can't stop.", TextOptions(tokenizer="nltk")) == [["We", "ca", "n't", "stop", "."]]


def test_regex_tokenizer_whole_match_even_with_groups():
    opts = TextOptions(tokenizer="regex", pattern=r"(\w)(\w*)")
    assert tokenize("ab cd, e\n", opts) == [["ab", "cd", "e"]]
    # Empty matches are not tokens.
    assert tokenize("a  b\n", TextOptions(tokenizer="regex", pattern=r"\w*")) == [["a", "b"]]


def test_char_tokenizer_sentences_and_stream():
    text = "ab c\n\n  d \n"
    assert tokenize(text, TextOptions(tokenizer="char")) == [["a", "b", " ", "c"], ["d"]]
    assert tokenize(text, TextOptions(tokenizer="char", sentences=False)) == [["a", "b", " ", "c", " ", "d"]]
    assert tokenize(text, TextOptions(sentences=False)) == [["ab", "c", "d"]]
    assert tokenize("\n \n", TextOptions(tokenizer="char", sentences=False)) == []


def test_d2l_char_stream_matches_d2l_whole_text_rule(timemachine_path):
    # D2L (v1.0) character level: re.sub('[^A-Za-z]+', ' ', text).lower() on the whole text, then list().
    raw = timemachine_path.read_text(encoding="utf-8")
    expected = list(re.sub("[^A-Za-z]+", " ", raw).lower().strip())
    opts = TextOptions(normalize="d2l", tokenizer="char", sentences=False)
    assert read_sentences(timemachine_path, opts) == [expected]
    assert tokenize(raw, opts) == [expected]


ALPHABET = st.sampled_from(list("ab Z9,.\t\n\n\r\u00e9"))
OPTIONS = st.builds(
    TextOptions,
    normalize=st.sampled_from(["none", "lower", "d2l"]),
    tokenizer=st.sampled_from(["whitespace", "char"]),
    sentences=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(ALPHABET, min_size=1, max_size=40), min_size=1, max_size=3), options=OPTIONS)
def test_read_sentences_equals_tokenize_of_joined_files(tmp_path_factory, texts, options):
    # Several files read together == tokenize() of their concatenation (one line break between files).
    folder = tmp_path_factory.mktemp("files")
    paths = []
    for i, text in enumerate(texts):
        p = folder / f"f{i}.txt"
        p.write_bytes(text.encode("utf-8"))
        paths.append(p)
    expected = tokenize("\n".join(texts), options)
    per_file = [tokenize(t, options.with_(sentences=True)) for t in texts]
    if not all(per_file):
        with pytest.raises(InputError, match="no tokens"):
            read_sentences(paths, options)
        return
    assert read_sentences(paths, options) == expected


# ---- readers ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)])
def test_compressed_files_are_transparent(tmp_path, suffix, compress):
    plain = tmp_path / "sample.txt"
    plain.write_text(SAMPLE, encoding="utf-8")
    packed = tmp_path / f"sample.txt{suffix}"
    packed.write_bytes(compress(SAMPLE.encode("utf-8")))
    assert read_text(packed) == SAMPLE
    assert read_sentences(packed) == read_sentences(plain) == tokenize(SAMPLE)
    # Recognised by content, not by name.
    renamed = tmp_path / "sample.data"
    renamed.write_bytes(packed.read_bytes())
    assert read_text(renamed) == SAMPLE


def test_multi_member_gzip(tmp_path):
    p = tmp_path / "two.gz"
    p.write_bytes(gzip.compress(b"a b\n") + gzip.compress(b"c d\n"))
    assert read_sentences(p) == [["a", "b"], ["c", "d"]]


def test_truncated_gzip_is_an_error(tmp_path):
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(gzip.compress(SAMPLE.encode() * 50)[:-20])
    with pytest.raises(InputError, match=r"cut\.txt\.gz: corrupt or truncated gzip data"):
        read_sentences(p)


def test_gz_name_without_gzip_data(tmp_path):
    p = tmp_path / "plain.gz"
    p.write_text("a b\n")
    with pytest.raises(InputError, match=r"plain\.gz: named like gzip data but is not gzip-compressed"):
        read_sentences(p)


def _fake_stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_stdin_dash(monkeypatch):
    _fake_stdin(monkeypatch, SAMPLE.encode())
    assert read_sentences("-") == tokenize(SAMPLE)


def test_stdin_compressed(monkeypatch):
    _fake_stdin(monkeypatch, gzip.compress(SAMPLE.encode()))
    assert read_sentences(["-"], TextOptions(normalize="d2l")) == d2l_oracle(SAMPLE)


def test_stdin_empty(monkeypatch):
    _fake_stdin(monkeypatch, b"")
    with pytest.raises(InputError, match=r"^<stdin>: no tokens"):
        read_sentences("-")


def test_utf8_bom_is_dropped(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes(b"\xef\xbb\xbfhello world\n")
    assert read_sentences(p) == [["hello", "world"]]


def test_other_encodings(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("caf\u00e9 na\u00efve\n".encode("latin-1"))
    assert read_sentences(p, TextOptions(encoding="latin-1")) == [["caf\u00e9", "na\u00efve"]]
    p16 = tmp_path / "utf16.txt"
    p16.write_bytes("one two\nthree\n".encode("utf-16"))  # has NUL bytes, still text
    assert read_sentences(p16, TextOptions(encoding="utf-16")) == [["one", "two"], ["three"]]


def test_undecodable_bytes_name_file_offset_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"good line\nab\xffcd\n")
    with pytest.raises(InputError) as info:
        read_sentences(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: cannot decode byte 0xff at offset 12 (line 2) as utf-8")
    assert "--errors replace" in msg and "\n" not in msg
    assert read_sentences(p, TextOptions(errors="replace")) == [["good", "line"], ["ab\ufffdcd"]]


@pytest.mark.parametrize("data, what", [
    (b"abc\x00\x01\x02def\n", "binary file"),
    (b"PK\x03\x04rest-of-zip", "zip archive"),
    (b"\x7fELF\x02\x01\x01", "executable"),
    (bytes(range(1, 8)) * 20 + b"\xff\xfe" * 10, "binary file .control bytes; byte 0xff at offset 140"),
])
def test_binary_files_are_refused(tmp_path, data, what):
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    with pytest.raises(InputError, match=re.escape(str(p)) + ": looks like .*" + what):
        read_sentences(p)


@pytest.mark.parametrize("data, what", [
    (b"abc\x00def\n", "binary file .NUL byte"),
    (b"PK\x03\x04rest-of-zip", "zip archive"),
    (b"\x28\xb5\x2f\xfdzstd", "zstd-compressed"),
    (b"\x89PNG\r\n", "PNG image"),
    (b"%PDF-1.4", "PDF file"),
    (b"\x93NUMPY\x01\x00", "numpy array file"),
])
def test_check_bytes_refuses_what_every_reader_refuses(tmp_path, data, what):
    """check_bytes is the one sniffing rule: the Python reader and the C scanner both give its message."""
    with pytest.raises(InputError, match="^in.txt: looks like .*" + what) as direct:
        check_bytes(data, "in.txt")
    with pytest.raises(InputError, match="^in.txt: looks like .*" + what):
        check_bytes(memoryview(data), "in.txt")  # buffers too, as the C path passes them
    p = tmp_path / "in.txt"
    p.write_bytes(data)
    for read in (read_sentences, Stream.from_files):
        with pytest.raises(InputError) as exc:
            read(p)
        assert str(exc.value) == str(direct.value).replace("in.txt", str(p), 1)


def test_check_bytes_accepts_text_and_wide_encodings():
    check_bytes(b"plain text\n", "a")
    check_bytes(b"x" * 9000 + b"\x00", "a")  # a NUL past the 8 kB sniff window is not looked at
    check_bytes("one two\n".encode("utf-16"), "a", encoding="utf-16")  # NUL bytes are normal there
    with pytest.raises(InputError, match="NUL byte"):
        check_bytes("one two\n".encode("utf-16"), "a")
    assert source_name("-") == "<stdin>" and source_name("x/y.txt") == "x/y.txt"


def test_empty_and_blank_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n")
    digits = tmp_path / "digits.txt"
    digits.write_text("1984 2001\n")
    good = tmp_path / "good.txt"
    good.write_text("a b\n")
    with pytest.raises(InputError, match=re.escape(f"{empty}: no tokens (empty file?)")):
        read_sentences(empty)
    with pytest.raises(InputError, match=re.escape(f"{blank}: no tokens (empty file?)")):
        read_sentences([good, blank])
    with pytest.raises(InputError, match=re.escape(f"{digits}: no tokens after --normalize d2l")):
        read_sentences(digits, TextOptions(normalize="d2l"))
    # tokenize() of a string is not a file: it just returns no sentences.
    assert tokenize("") == [] and tokenize("", TextOptions(sentences=False)) == []


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'nope.txt'}: no such file")):
        read_sentences(tmp_path / "nope.txt")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: is a directory")):
        read_sentences(tmp_path)
    with pytest.raises(InputError, match="no input files"):
        read_sentences([])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"normalize": "upper"}, "--normalize must be one of"),
    ({"tokenizer": "spacy"}, "--tokenizer must be one of"),
    ({"tokenizer": "regex"}, "needs a PATTERN"),
    ({"tokenizer": "regex", "pattern": "("}, "not a valid regex"),
    ({"errors": "ignore"}, "--errors must be strict or replace"),
    ({"encoding": "klingon-8"}, "unknown encoding"),
])
def test_bad_text_options(kwargs, fragment):
    with pytest.raises(NgramkitError, match=fragment):
        TextOptions(**kwargs)
