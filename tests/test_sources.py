"""ngramkit.sources: FILES | - | --corpus NAME [--split] | default corpus -> one labelled source.

Oracle: the plain text pipeline, ``text.read_sentences`` + ``Vocabulary.build``
+ ``Stream.from_sentences``, run on the same files (for registry corpora: on
the corpus file read directly, its non-empty lines cut at floor(0.8 S) and
floor(0.9 S) by integer arithmetic for timemachine). Every stream is compared
array by array, under the C kernels and under ``NGRAMKIT_IMPL=numpy``.
"""

from __future__ import annotations

import doctest
import gzip
import io
import sys

import numpy as np
import pytest

from ngramkit import sources
from ngramkit.errors import CorpusError, InputError, NgramkitError
from ngramkit.stream import Stream
from ngramkit.text import TextOptions, read_sentences
from ngramkit.vocab import Vocabulary

TEXT_A = "The cat sat on the mat .\n\nthe dog  sat\tTHE END\nnaïve café\n"
TEXT_B = "a cat is not a dog\nThe mat\n"


@pytest.fixture(params=["c", "numpy"])
def impl(request, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_IMPL", request.param)
    return request.param


@pytest.fixture
def files(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt.gz"
    a.write_text(TEXT_A, encoding="utf-8")
    b.write_bytes(gzip.compress(TEXT_B.encode("utf-8")))
    return [str(a), str(b)]


def oracle(paths, options, vocab=None, **vocab_kw):
    sentences = read_sentences(paths, options)
    return Stream.from_sentences(sentences, vocab or Vocabulary.build(sentences, **vocab_kw))


def assert_same(got: Stream, want: Stream):
    assert got.vocab.words == want.vocab.words
    np.testing.assert_array_equal(got.vocab.counts, want.vocab.counts)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.offsets, want.offsets)
    np.testing.assert_array_equal(got.oov, want.oov)


def test_doctests():
    assert doctest.testmod(sources).failed == 0


OVERRIDES = [
    ({}, TextOptions()),
    ({"normalize": "lower"}, TextOptions(normalize="lower")),
    ({"normalize": "d2l"}, TextOptions(normalize="d2l")),
    ({"tokenizer": "char"}, TextOptions(tokenizer="char")),
    ({"pattern": r"[a-z]+"}, TextOptions(tokenizer="regex", pattern=r"[a-z]+")),  # --pattern implies regex
    ({"sentences": False}, TextOptions(sentences=False)),
    ({"normalize": "lower", "sentences": False, "encoding": None}, TextOptions(normalize="lower", sentences=False)),
]


@pytest.mark.parametrize("overrides, options", OVERRIDES)
def test_files_stream_equals_the_text_pipeline(impl, files, overrides, options):
    src = sources.resolve(files, None, "train", overrides)
    assert src.options == options
    assert (src.label, src.title, src.corpus, src.split, src.files) == (", ".join(files), ", ".join(files), None,
                                                                       None, tuple(files))
    assert src.sentences() == read_sentences(files, options)
    assert_same(src.stream(), oracle(files, options))
    assert_same(src.stream(min_count=2), oracle(files, options, min_count=2))
    assert_same(src.stream(max_size=6), oracle(files, options, max_size=6))


def test_stream_over_a_given_vocabulary(impl, files):
    vocab = Vocabulary.build([["the", "cat", "sat"]])
    st = sources.resolve(files[:1]).stream(vocab)
    assert st.vocab is vocab
    assert_same(st, oracle(files[:1], TextOptions(), vocab))
    assert st.n_oov == sum(w not in {"the", "cat", "sat"} for s in read_sentences(files[:1]) for w in s)


def test_dash_reads_stdin(impl, files, monkeypatch):
    data = open(files[0], "rb").read()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    src = sources.resolve(["-"], overrides={"normalize": "lower"})
    assert (src.label, src.files, src.nbytes()) == ("-", ("-",), 0)
    assert_same(src.stream(), oracle(files[:1], TextOptions(normalize="lower")))


def test_progress_gets_the_bytes_of_whole_files(impl, files):
    seen = []
    sources.resolve(files).stream(progress=seen.append)
    src = sources.resolve(files)
    assert src.nbytes() == sum(len(open(f, "rb").read()) for f in files)
    # The C path reports the decompressed bytes it scanned, the Python path the size on disk.
    want = len(TEXT_A.encode()) + len(TEXT_B.encode()) if impl == "c" else src.nbytes()
    assert sum(seen) == want


@pytest.mark.parametrize("split", ["train", "valid", "test", "all"])
def test_ptb_split_is_its_file_read_directly(impl, ptb_dir, split):
    src = sources.resolve(corpus="ptb", split=split)
    names = ["train", "valid", "test"] if split == "all" else [split]
    paths = [ptb_dir / f"ptb.{n}.txt" for n in names]
    assert (src.label, src.title, src.corpus, src.split) == ("ptb", f"ptb ({split})", "ptb", split)
    assert [p.resolve() for p in src.paths()] == [p.resolve() for p in paths]
    if split != "valid":  # one split is enough for the big ones
        return
    assert src.nbytes() == paths[0].stat().st_size
    assert_same(src.stream(), oracle(paths, TextOptions()))


def test_timemachine_splits_are_cut_from_the_file_read_directly(timemachine_path):
    d2l = TextOptions(normalize="d2l")
    lines = read_sentences(timemachine_path, d2l)
    s = len(lines)
    a, b = 8 * s // 10, 9 * s // 10
    want = {"train": lines[:a], "valid": lines[a:b], "test": lines[b:], "all": lines}
    default = sources.resolve()  # no FILES, no --corpus: the default corpus's train split, its text options
    assert (default.corpus, default.split, default.options) == ("timemachine", "train", d2l)
    for split, sentences in want.items():
        src = default.with_split(split)
        assert src.options == d2l and src.sentences() == sentences
        assert (src.paths() is None) == (split != "all")
        vocab = Vocabulary.build(lines[:a])
        assert_same(src.stream(vocab), Stream.from_sentences(sentences, vocab))
    assert_same(default.stream(min_count=2), Stream.from_sentences(lines[:a], Vocabulary.build(lines[:a],
                                                                                                min_count=2)))


def test_text_option_precedence(files):
    stored = TextOptions(normalize="lower", tokenizer="regex", pattern=r"\w+")
    # files: TextOptions() unless a base is given; overrides win over both
    assert sources.resolve(files).options == TextOptions()
    assert sources.resolve(files, base=stored).options == stored
    assert sources.resolve(files, overrides={"normalize": "none"}, base=stored).options == stored.with_(
        normalize="none")
    # a corpus: its registry defaults unless a base is given
    assert sources.resolve(corpus="timemachine").options == TextOptions(normalize="d2l")
    assert sources.resolve(corpus="timemachine", base=stored).options == stored
    assert sources.resolve(corpus="ptb", overrides={"pattern": "[a-z]+"}).options == TextOptions(
        tokenizer="regex", pattern="[a-z]+")
    # an explicit tokenizer is kept even with a pattern
    with pytest.raises(NgramkitError, match="^--pattern 'x\\(' is not a valid regex"):
        sources.resolve(files, overrides={"pattern": "x("})


def test_level_rule():
    merge = sources.merge_options
    assert merge(TextOptions(tokenizer="regex", pattern="a"), {}, level="char") == TextOptions(tokenizer="char")
    assert merge(None, {"normalize": "lower"}, level="word") == TextOptions(normalize="lower")
    given = TextOptions(tokenizer="char", normalize="lower")
    assert merge(TextOptions(normalize="d2l"), given, level="char") == given  # a TextOptions is used as is
    assert merge(None, given, level="word") == given
    for overrides, level, message in [
        ({"tokenizer": "whitespace"}, "char", "--level char needs --tokenizer char, got --tokenizer whitespace"),
        (TextOptions(), "char", "--level char needs --tokenizer char, got --tokenizer whitespace"),
        ({"tokenizer": "char"}, "word", "--tokenizer char needs --level char"),
        ({}, "byte", "--level must be word or char, got 'byte'"),
    ]:
        with pytest.raises(NgramkitError) as exc:
            merge(None, overrides, level=level)
        assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def _one_line(exc_info, *parts):
    text = str(exc_info.value)
    assert "\n" not in text
    for part in parts:
        assert part in text
    return text


def test_errors_are_one_line(files, tmp_path):
    with pytest.raises(NgramkitError) as exc:
        sources.resolve(files, "ptb")
    assert _one_line(exc) == "give FILES or --corpus, not both"
    with pytest.raises(CorpusError) as exc:
        sources.resolve(corpus="no-such-corpus")
    _one_line(exc, "unknown corpus 'no-such-corpus'", "ptb", "timemachine")
    with pytest.raises(NgramkitError) as exc:
        sources.resolve(corpus="ptb", split="dev")
    _one_line(exc, "--split must be one of train, valid, test, all, got 'dev'")
    with pytest.raises(NgramkitError) as exc:
        sources.resolve(files, overrides={"lowercase": True})
    _one_line(exc, "unknown option 'lowercase'", "normalize")
    with pytest.raises(NgramkitError) as exc:
        sources.resolve(files, overrides={"normalize": "upper"})
    _one_line(exc, "--normalize must be one of")
    with pytest.raises(NgramkitError) as exc:
        sources.resolve(files).with_split("valid")
    _one_line(exc, "files have no valid split")
    missing = tmp_path / "missing.txt"
    with pytest.raises(InputError) as exc:
        sources.resolve([missing]).stream()
    assert _one_line(exc) == f"{missing}: no such file"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(InputError) as exc:
        sources.resolve([empty]).stream()
    assert _one_line(exc) == f"{empty}: no tokens (empty file?)"


def test_a_corpus_that_is_not_downloaded_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_DATA", str(tmp_path))
    src = sources.resolve(corpus="ptb", split="test")  # resolving reads nothing
    with pytest.raises(CorpusError) as exc:
        src.stream()
    _one_line(exc, "not downloaded", "ngramkit corpus download ptb")


# ---- train / valid / test ----------------------------------------------------------------


def test_read_splits_of_files_builds_the_vocabulary_on_train(impl, files, tmp_path):
    test = tmp_path / "test.txt"
    test.write_text("the cat and the zebra\n", encoding="utf-8")
    splits = sources.resolve_splits(train=files, valid=files[1], test=[test], overrides={"normalize": "lower"})
    lower = TextOptions(normalize="lower")
    assert {name: s.files for name, s in splits.items()} == {"train": tuple(files), "valid": (files[1],),
                                                             "test": (str(test),)}
    data = sources.read_splits(splits, min_count=2)
    train = read_sentences(files, lower)
    vocab = Vocabulary.build(train, min_count=2)
    assert data.vocab.words == vocab.words and data.options == lower and data.label == ", ".join(files)
    assert_same(data.train, Stream.from_sentences(train, vocab))
    assert_same(data.valid, oracle([files[1]], lower, vocab))
    assert_same(data.test, oracle([test], lower, vocab))
    assert data.test.n_oov == 2  # and, zebra (cat is in a.txt and b.txt: kept at min_count 2)
    assert data.source == {"corpus": None, "files": {"train": files, "valid": [files[1]], "test": [str(test)]}}


def test_read_splits_of_a_corpus(ptb_dir):
    data = sources.read_splits(sources.resolve_splits("ptb"), max_size=1000)
    train = read_sentences(ptb_dir / "ptb.train.txt")
    vocab = Vocabulary.build(train, max_size=1000)
    assert data.label == "ptb" and data.source == {"corpus": "ptb", "files": {}}
    assert_same(data.test, oracle([ptb_dir / "ptb.test.txt"], TextOptions(), vocab))
    assert data.train.n_tokens == 929_589 and data.vocab.words == vocab.words


def test_split_errors(files, tmp_path):
    with pytest.raises(NgramkitError) as exc:
        sources.resolve_splits("ptb", train=files, valid=files, test=files)
    assert _one_line(exc) == "give --corpus or --train/--valid/--test files, not both"
    with pytest.raises(NgramkitError) as exc:
        sources.resolve_splits(train=files, test=files)
    assert _one_line(exc) == "--train, --valid and --test go together; missing --valid"
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError) as exc:
        sources.read_splits(sources.resolve_splits(train=files, valid=[missing], test=files))
    assert _one_line(exc) == f"--valid {missing}: no such file"
    other = tmp_path / "other.txt"
    other.write_text("xylophone quartz\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        sources.read_splits(sources.resolve_splits(train=files, valid=files, test=[other]))
    _one_line(exc, "--test file: none of its 2 words is in the training vocabulary")
