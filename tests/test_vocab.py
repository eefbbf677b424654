"""Vocabulary: deterministic ids vs a naive oracle, min_count/max_size, OOVs, files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngramkit.errors import InputError, NgramkitError
from ngramkit.text import read_sentences
from ngramkit.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocabulary


def oracle_words(sentences, min_count=1, max_size=None):
    """Ids written out the slow way: specials, then for each frequency from high to low its words in sorted order."""
    freq = {}
    for sentence in sentences:
        for word in sentence:
            freq[word] = freq.get(word, 0) + 1
    words = ["<unk>", "<s>", "</s>", "<pad>"]
    for count in sorted(set(freq.values()), reverse=True):
        if count < min_count:
            continue
        for word in sorted(w for w, c in freq.items() if c == count):
            if word not in ("<unk>", "<s>", "</s>", "<pad>"):
                words.append(word)
    if max_size is not None:
        words = words[:max_size]
    return words, freq


def test_special_ids():
    assert SPECIALS == ("<unk>", "<s>", "</s>", "<pad>")
    assert (UNK_ID, BOS_ID, EOS_ID, PAD_ID) == (0, 1, 2, 3)
    v = Vocabulary.build([])
    assert v.words == list(SPECIALS) and len(v) == 4


def test_ids_by_frequency_then_lexicographic():
    sentences = [["b", "a", "c", "b"], ["a", "d", "b"], ["c"]]
    # b:3, a:2, c:2, d:1 -> b, then a before c (tie), then d
    v = Vocabulary.build(sentences)
    assert v.words == ["<unk>", "<s>", "</s>", "<pad>", "b", "a", "c", "d"]
    assert v.counts.tolist() == [0, 0, 0, 0, 3, 2, 2, 1]


WORDS = st.sampled_from(["a", "b", "c", "d", "e", "the", "The", "<unk>", "<s>", "x y", "\u00e9", "Z"])


@settings(max_examples=80, deadline=None)
@given(
    sentences=st.lists(st.lists(WORDS, max_size=8), max_size=8),
    min_count=st.integers(1, 4),
    max_size=st.one_of(st.none(), st.integers(4, 12)),
)
def test_build_matches_oracle(sentences, min_count, max_size):
    v = Vocabulary.build(sentences, min_count=min_count, max_size=max_size)
    words, freq = oracle_words(sentences, min_count, max_size)
    assert v.words == words
    # Build is a function of the multiset of tokens only (order does not matter).
    assert Vocabulary.build(list(reversed(sentences)), min_count=min_count, max_size=max_size) == v
    tokens = [w for s in sentences for w in s]
    ids = v.lookup(tokens)
    assert ids.dtype == np.int32 and ids.shape == (len(tokens),)
    assert ids.tolist() == [words.index(t) if t in words else 0 for t in tokens]
    assert v.count_oov(tokens) == sum(1 for t in tokens if t not in words)
    # counts[id] is how often the id occurs in the training stream (<unk> absorbs dropped words).
    expected = np.bincount(ids, minlength=len(v))
    expected[[BOS_ID, EOS_ID, PAD_ID]] = 0  # literal <s> etc. in the text are not counted as words
    assert v.counts.tolist() == expected.tolist()
    assert int(v.counts.sum()) == sum(1 for t in tokens if t not in ("<s>", "</s>", "<pad>"))


def test_min_count_and_max_size():
    sentences = [["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"]]
    assert Vocabulary.build(sentences, min_count=3).words[4:] == ["a", "b", "c"]
    assert Vocabulary.build(sentences, max_size=6).words[4:] == ["a", "b"]
    v = Vocabulary.build(sentences, min_count=2, max_size=5)
    assert v.words[4:] == ["a"]
    assert v.counts[UNK_ID] == 7  # b, c, d became <unk>
    for bad in ({"min_count": 0}, {"max_size": 3}, {"min_count": 1.5}, {"max_size": True}):
        with pytest.raises(NgramkitError, match="min_count|max_size"):
            Vocabulary.build(sentences, **bad)


def test_lookup_and_oov():
    v = Vocabulary.build([["the", "cat"], ["the", "<unk>"]])
    ids = v.lookup(["the", "dog", "<unk>", "cat", "</s>"])
    assert ids.tolist() == [4, 0, 0, 5, 2]
    assert v.count_oov(["the", "dog", "<unk>", "bird"]) == 2  # the literal <unk> is in the vocabulary
    assert v.decode(ids) == ["the", "<unk>", "<unk>", "cat", "</s>"]
    assert v.lookup([]).shape == (0,) and v.lookup(iter(["cat"])).tolist() == [5]
    assert v.id("cat") == 5 and v.id("zzz") == UNK_ID and "cat" in v and "zzz" not in v


def test_lookup_of_one_string_is_one_word():
    # It used to iterate the string: lookup("cat") gave the ids of "c", "a", "t" (all <unk> here).
    v = Vocabulary.build([["the", "cat", "c", "a", "t"]])
    assert v.lookup("cat") == v.index["cat"] and type(v.lookup("cat")) is int
    assert v.lookup("dog") == UNK_ID and v.lookup("<unk>") == UNK_ID
    assert v.lookup(["cat"]).tolist() == [v.index["cat"]]
    assert v.lookup(("c", "a", "t")).tolist() == [v.index[c] for c in "cat"]
    assert v.lookup(w for w in ["the", "cat"]).tolist() == [v.index["the"], v.index["cat"]]
    assert v.count_oov("dog") == 1 and v.count_oov("cat") == 0 and v.count_oov(["d", "o", "g"]) == 3


def test_ptb_vocabulary(data_dir):
    train = read_sentences(data_dir / "ptb" / "ptb.train.txt")
    v = Vocabulary.build(train)
    # PTB's "10k vocabulary" counts </s>: 9,999 distinct tokens in the text (including the
    # literal <unk>), i.e. 9,998 words after the 4 specials.
    assert len({w for s in train for w in s}) == 9_999
    assert len(v) == 10_002
    valid = [w for s in read_sentences(data_dir / "ptb" / "ptb.valid.txt") for w in s]
    assert v.count_oov(valid) == 0
    assert v.words[4] == "the" and v.counts[4] == 50_770


@pytest.mark.parametrize("suffix", [".txt", ".json", ".vocab"])
def test_save_load_round_trip(tmp_path, suffix):
    sentences = [["a", "b", "a"], ["tab\there", "back\\slash", "new\nline", " ", "cr\r", "\u2028", "\u00e9t\u00e9"]]
    v = Vocabulary.build(sentences, min_count=1)
    p = tmp_path / f"vocab{suffix}"
    v.save(p)
    w = Vocabulary.load(p)
    assert w == v and w.words == v.words
    assert w.counts.tolist() == v.counts.tolist()
    assert [f.name for f in tmp_path.iterdir()] == [p.name]  # no temporary files left


@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.text(min_size=1, max_size=6), max_size=10, unique=True))
def test_save_load_round_trip_any_words(tmp_path_factory, words):
    words = [w for w in words if w not in SPECIALS]
    v = Vocabulary(list(SPECIALS) + words, list(range(len(words) + 4)))
    folder = tmp_path_factory.mktemp("vocab")
    for name in ("v.txt", "v.json"):
        v.save(folder / name)
        w = Vocabulary.load(folder / name)
        assert w.words == v.words and w.counts.tolist() == v.counts.tolist()


def test_json_file_format(tmp_path):
    v = Vocabulary.build([["x", "y", "x"]])
    v.save(tmp_path / "v.json")
    data = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert data["format"] == "ngramkit-vocab" and data["words"][4:] == ["x", "y"] and data["counts"][4:] == [2, 1]


def test_plain_word_list_loads(tmp_path):
    p = tmp_path / "words.txt"
    p.write_text("<unk>\n<s>\n</s>\n<pad>\nthe\ncat\n", encoding="utf-8")
    v = Vocabulary.load(p)
    assert v.words[4:] == ["the", "cat"] and v.counts.tolist() == [0] * 6


@pytest.mark.parametrize("name, content, fragment", [
    ("v.json", "{not json", "not valid JSON (line 1"),
    ("v.json", '{"words": ["<unk>", "<s>", "</s>", "<pad>"]}', "not an ngramkit vocabulary JSON file"),
    ("v.json", '{"format": "ngramkit-vocab", "words": ["<unk>", "<s>", "</s>", "<pad>"], "counts": [1, 2]}',
     "has 4 words but 2 counts"),
    ("v.json", '{"format": "ngramkit-vocab", "words": ["<unk>", "<s>", "</s>", "<pad>"], "counts": [1, 2, 3, 1.5]}',
     "'counts' must be a list of integers"),
    ("v.json", '{"format": "ngramkit-vocab", "words": ["<unk>", "<s>", "</s>", "<pad>", 7]}',
     "non-empty strings"),
    ("v.txt", "<unk>\t0\n<s>\t0\n</s>\t0\n<pad>\t0\nthe\tmany\n", ":5: expected 'word<TAB>count'"),
    ("v.txt", "<unk>\t0\n<s>\t0\n</s>\t0\n<pad>\t0\nthe\t-3\n", ":5: expected 'word<TAB>count'"),
    ("v.txt", "<unk>\t0\n<s>\t0\n</s>\t0\n<pad>\t0\n\t4\n", ":5: expected 'word<TAB>count'"),
    ("v.txt", "<unk>\t0\n<s>\t0\n</s>\t0\n<pad>\t0\nthe\t1\nthe\t2\n", "duplicate word 'the'"),
    ("v.txt", "the\t5\n<unk>\t0\n", "must start with <unk> <s> </s> <pad>"),
    ("v.txt", "<unk>\t0\n<s>\t0\n</s>\t0\n<pad>\t0\nbad\\qescape\t1\n", ":5: bad escape"),
    ("v.txt", "", "empty vocabulary file"),
])
def test_malformed_vocab_files(tmp_path, name, content, fragment):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        Vocabulary.load(p)
    msg = str(info.value)
    assert msg.startswith(str(p)) and fragment in msg and "\n" not in msg


def test_unreadable_vocab_files(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'none.txt'}: no such vocabulary file")):
        Vocabulary.load(tmp_path / "none.txt")
    with pytest.raises(InputError, match="is a directory"):
        Vocabulary.load(tmp_path)
    p = tmp_path / "binary.txt"
    p.write_bytes(b"<unk>\t0\n\x89PNG\r\n")
    with pytest.raises(InputError, match="undecodable byte at offset 8"):
        Vocabulary.load(p)


def test_save_to_missing_directory_leaves_nothing(tmp_path):
    v = Vocabulary.build([["a"]])
    with pytest.raises(NgramkitError, match="does not exist"):
        v.save(tmp_path / "no" / "such" / "v.txt")
    assert list(tmp_path.iterdir()) == []


def test_constructor_validation():
    with pytest.raises(NgramkitError, match="must start with"):
        Vocabulary(["a", "b"])
    with pytest.raises(NgramkitError, match="duplicate word 'a'"):
        Vocabulary(list(SPECIALS) + ["a", "a"])
    with pytest.raises(NgramkitError, match=">= 0"):
        Vocabulary(list(SPECIALS), [0, 0, 0, -1])
