"""Model files (version 2) store their vocabulary as arrays with its hash: opening one builds nothing.

Oracles: a dict of the words (what the normal path builds), a pure-Python
FNV-1a hash table (:func:`ngramkit.npzfile.word_hash`, written out again in
tests/test_modelio.py), the same model saved as a version-1 file (words in
``meta.json``: still read by every path), and the normal path itself (click
+ numpy), which the fast ``ppl`` path and the mapped ``ngramkit.kenlm.Model``
must agree with on every file they accept. Damaged vocabularies are written
into the file with stale checksums (the query path does not hash): the fast
paths decline or stay in bounds, the normal path refuses with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngramkit import fastppl, modelio, npzfile
from ngramkit.errors import InputError
from ngramkit.models import ModifiedKneserNey

from .process import NGRAMKIT
from .test_query_index import data_span

nk = pytest.importorskip("ngramkit.kenlm")
fast = pytest.importorskip("ngramkit._fastppl")
pytestmark = pytest.mark.skipif(nk._score is None, reason="ngramkit._score (C extension) not built")

WORDS = ["<unk>", "<s>", "</s>", "<pad>", "the", "time", "ça", "naïve", "日本語", "emoji\U0001f600", "a\ud800b", "x" * 300]


@pytest.fixture(scope="module")
def files(tm_counts, tmp_path_factory):
    """A Time Machine 3-gram saved now (version 2) and the same model as a version-1 file."""
    d = tmp_path_factory.mktemp("vocab")
    v2 = modelio.save_model(ModifiedKneserNey(3).fit(tm_counts), d / "v2.ngk")
    meta, arrays = npzfile.read(v2, npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    npzfile.write(d / "v2-checked.ngk", meta, arrays)  # no query header: as written before it existed
    words = npzfile._stored_words(arrays, v2)  # pops the vocabulary arrays
    meta.pop("vocab_size")
    npzfile.write(d / "v1.ngk", {**meta, "version": 1, "vocab": words}, arrays)
    text = d / "text.txt"
    text.write_text("the time traveller said\n\nxyzzy the <unk> </s> time\nhe said nothing at all\n", encoding="utf-8")
    return {"v2": v2, "v2-checked": d / "v2-checked.ngk", "v1": d / "v1.ngk", "text": text, "words": words}


def test_the_kernel_builds_the_table_python_builds(monkeypatch):
    with_kernel = npzfile.vocab_arrays(WORDS)
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    without = npzfile.vocab_arrays(WORDS)
    for name in npzfile.VOCAB_ARRAYS:
        assert np.array_equal(with_kernel[name], without[name]), name
    blob, offsets = without[npzfile.VOCAB_WORDS].tobytes(), without[npzfile.VOCAB_OFFSETS]
    assert [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(offsets[:-1], offsets[1:])] == WORDS
    assert len(without[npzfile.VOCAB_INDEX]) == 32  # the smallest power of two above 2 * 12
    with pytest.raises(ValueError, match="duplicate word"):
        nk._score.vocab_build(blob + b"the", np.append(offsets, offsets[-1] + 3), np.empty(32, np.int32))


def test_every_path_reads_both_versions_alike(files):
    """Version 1 (words in meta.json) and version 2 (words in arrays): the same vocabulary, scores and output."""
    a, b = modelio.load_model(files["v1"]), modelio.load_model(files["v2"])
    assert a.vocab.words == b.vocab.words == files["words"]
    assert np.array_equal(a.vocab.counts, b.vocab.counts)
    assert modelio.read_metadata(files["v1"])["version"] == 1
    for path in (files["v1"], files["v2"]):
        opened = fastppl.open_model(fast, str(path))
        assert opened is not None, path  # both take the fast path
    m1, m2 = nk.Model(files["v1"]), nk.Model(files["v2"])
    for line in files["text"].read_text().splitlines() + ["ça naïve", "<s> <pad>"]:
        assert list(m1.full_scores(line)) == list(m2.full_scores(line))
    assert all((w in m1) == (w in m2) for w in ["the", "<unk>", "<s>", "</s>", "<pad>", "xyzzy", ""])
    outputs = []
    for path in (files["v1"], files["v2"]):
        run = subprocess.run([*NGRAMKIT, "ppl", "-m", str(path), str(files["text"]), "-q"], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout.replace(str(path), "MODEL"))
    assert outputs[0] == outputs[1]


def _damaged(src, dst, member, change):
    """``src`` with the data of array ``member`` replaced by change(its bytes), checksums left stale."""
    data = bytearray(src.read_bytes())
    start, length = data_span(src, member)
    data[start: start + length] = change(bytes(data[start: start + length]))
    assert len(data) == src.stat().st_size
    dst.write_bytes(bytes(data))
    return dst


def _swap_first_two_entries(raw):
    index = np.frombuffer(raw, np.int32).copy()
    taken = np.flatnonzero(index >= 0)
    index[taken[:2]] = index[taken[:2]][::-1]
    return index.tobytes()


DAMAGE = {  # name: (member, change, whether the normal path refuses the file)
    "index-full": ("vocab.index.npy", lambda raw: b"\x00" * len(raw), False),  # no empty slot: would never end
    "index-out-of-range": ("vocab.index.npy", lambda raw: b"\x7f" * len(raw), False),
    "index-swapped": ("vocab.index.npy", _swap_first_two_entries, False),  # in bounds, words at the wrong ids
    "offsets-falling": ("vocab.offsets.npy", lambda raw: raw[:8] + raw[16:24] + raw[8:16] + raw[24:], True),
    "words-not-utf8": ("vocab.words.npy", lambda raw: raw[:40] + b"\xff" + raw[41:], True),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_vocabulary_is_declined_or_refused_never_misread(files, tmp_path, name):
    """The fast ppl path and kenlm.Model's checked open (files without a query header) decline a damaged
    vocabulary; the normal path then builds its own dict (the same scores as the intact file) or refuses the
    file with one line, and so does the CLI."""
    member, change, refused = DAMAGE[name]
    bad = _damaged(files["v2"], tmp_path / f"{name}.ngk", member, change)
    assert fastppl.open_model(fast, str(bad)) is None
    text = files["text"]
    run = subprocess.run([*NGRAMKIT, "ppl", "-m", str(bad), str(text), "-q"], capture_output=True, text=True,
                         timeout=120)
    checked = _damaged(files["v2-checked"], tmp_path / f"{name}.checked.ngk", member, change)
    assert fastppl.open_model(fast, str(checked)) is None
    if refused:
        with pytest.raises(InputError, match=f"^{bad}: corrupt vocabulary"):
            modelio.load_model(bad, verify=modelio.AUTO)
        with pytest.raises(OSError, match="corrupt vocabulary"):
            nk.Model(checked)
        assert run.returncode == 1 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and "corrupt vocabulary" in run.stderr and str(bad) in run.stderr
    else:
        good = nk.Model(files["v2"])
        model = nk.Model(checked)  # built by the normal path
        assert model._backoff is not None
        for line in text.read_text().splitlines():
            assert list(model.full_scores(line)) == list(good.full_scores(line))
        intact = subprocess.run([*NGRAMKIT, "ppl", "-m", str(files["v2"]), str(text), "-q"], capture_output=True,
                                text=True, timeout=120)
        assert run.returncode == intact.returncode == 0, run.stderr
        assert run.stdout.replace(str(bad), "M") == intact.stdout.replace(str(files["v2"]), "M")
    with pytest.raises(InputError, match="checksum mismatch"):
        modelio.load_model(bad)  # full verification names the array


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_vocabulary_opened_by_its_query_header_never_faults(files, tmp_path, name):
    """kenlm.Model opens a file by its query header without reading the arrays (KenLM's trust in its binary
    files): a damaged vocabulary there gives answers, every one in bounds and ending, and a word is only ever
    taken for an id whose stored bytes are that word; full verification names the damage."""
    member, change, _ = DAMAGE[name]
    bad = _damaged(files["v2"], tmp_path / f"{name}.ngk", member, change)
    model = nk.Model(bad)
    assert model._backoff is None  # mapped, not built
    blob, offsets = _stored_vocab(bad)
    for word in files["words"] + ["xyzzy", "", "time traveller"]:
        if "\ud800" in word:
            continue  # not a str KenLM's API can encode
        scores = list(model.full_scores(word, bos=False, eos=False))
        assert all(np.isfinite(p) for p, _, _ in scores)
        found = word in model
        if found:
            ids = [i for i in range(len(offsets) - 1) if 0 <= offsets[i] <= offsets[i + 1] <= len(blob)
                   and blob[offsets[i]: offsets[i + 1]] == word.encode()]
            assert ids, word
    with pytest.raises(InputError, match="checksum mismatch"):
        modelio.load_model(bad)


def _stored_vocab(path):
    """The bytes of vocab.words and the values of vocab.offsets as they lie in the file (damage included)."""
    raw = path.read_bytes()
    w_start, w_len = data_span(path, "vocab.words.npy")
    o_start, o_len = data_span(path, "vocab.offsets.npy")
    return raw[w_start: w_start + w_len], np.frombuffer(raw[o_start: o_start + o_len], "<i8")


def test_duplicate_words_are_refused_by_every_path(files, tmp_path):
    """A crafted file (checksums recomputed) whose words repeat one: the normal path refuses it, the fast
    path declines it (its hash would find only the first)."""
    meta, arrays = npzfile.read(files["v2"], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    words = list(files["words"])
    words[-1] = words[-2]
    blob = "".join(words).encode()
    offsets = np.zeros(len(words) + 1, np.int64)
    np.cumsum([len(w.encode()) for w in words], out=offsets[1:])
    arrays[npzfile.VOCAB_WORDS] = np.frombuffer(blob, np.uint8)
    arrays[npzfile.VOCAB_OFFSETS] = offsets
    crafted = npzfile.write(tmp_path / "dup.ngk", meta, arrays)
    assert fastppl.open_model(fast, str(crafted)) is None
    with pytest.raises(InputError, match=f"^{crafted}: corrupt vocabulary"):
        modelio.load_model(crafted)
    with pytest.raises(OSError, match="corrupt vocabulary"):
        nk.Model(crafted)


def test_a_bigger_hash_than_the_writer_makes_is_refused_by_both_paths(files, tmp_path):
    """A crafted file (checksums recomputed) whose index is a valid hash of twice the writer's size: the
    normal path refuses it, so the fast path must not accept it either."""
    meta, arrays = npzfile.read(files["v2"], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    blob, offsets = arrays[npzfile.VOCAB_WORDS], arrays[npzfile.VOCAB_OFFSETS]
    index = np.empty(2 * len(arrays[npzfile.VOCAB_INDEX]), np.int32)
    nk._score.vocab_build(blob, offsets, index)
    arrays[npzfile.VOCAB_INDEX] = index
    crafted = npzfile.write(tmp_path / "big.ngk", meta, arrays)
    with pytest.raises(InputError, match=f"^{crafted}: corrupt vocabulary"):
        modelio.load_model(crafted)
    assert fastppl.open_model(fast, str(crafted)) is None


def _unigram_tables(v):
    """An order-1 probing table where every word is a unigram scoring -(1 + id / 1000): a score names the id."""
    table = np.zeros((v, 3), np.int64)
    table[:, 0] = 1
    table[:, 1] = (-(1 + np.arange(v) / 1000)).view(np.int64)
    return (table.ravel(),)


def _looked_up(model, word):
    """The id the model takes ``word`` for (unk_id 0 when not found), from its unigram score."""
    return round((-model.BaseScore(nk.State(), word, nk.State()) - 1) * 1000)


def test_attach_stored_refuses_a_shape_no_search_can_use():
    """_attach_stored checks what is O(1) (ngk_vocab_shape): sizes, offsets[0] and offsets[-1]."""
    arrays = npzfile.vocab_arrays(WORDS)
    blob, offsets, index = (arrays[n] for n in npzfile.VOCAB_ARRAYS)
    tables = _unigram_tables(len(WORDS))
    model = nk._score.QueryModel()
    model._attach_stored(tables, len(WORDS), blob, offsets, index, 0, 1, 2, -99.0, -100.0)
    assert [_looked_up(model, w) for w in ["the", "ça", "日本語", "xyzzy"]] == [4, 6, 8, 0]
    for bad_index in (index[:-1], index[:len(WORDS)]):  # not a power of two; not above the vocabulary size
        with pytest.raises(ValueError, match="damaged"):
            model._attach_stored(tables, len(WORDS), blob, offsets, bad_index, 0, 1, 2, -99.0, -100.0)
    for bad_offsets in (offsets[::-1].copy(), offsets + 1, offsets[:-1]):
        with pytest.raises(ValueError, match="damaged"):
            model._attach_stored(tables, len(WORDS), blob, bad_offsets, index, 0, 1, 2, -99.0, -100.0)


@settings(max_examples=200, deadline=None)
@given(index_values=st.lists(st.integers(-2**31, 2**31 - 1), min_size=32, max_size=32),
       middle=st.lists(st.integers(-2**40, 2**40), min_size=len(WORDS) - 1, max_size=len(WORDS) - 1),
       keep_index=st.booleans(), keep_offsets=st.booleans())
def test_a_damaged_stored_vocabulary_is_searched_in_bounds(index_values, middle, keep_index, keep_offsets):
    """Whatever vocab.index and vocab.offsets hold (the shape kept), every search ends and a word is only ever
    taken for an id whose stored bytes are that word (oracle: the blob sliced in Python); undamaged arrays
    give every word its own id."""
    arrays = npzfile.vocab_arrays(WORDS)
    blob, offsets, index = (arrays[n] for n in npzfile.VOCAB_ARRAYS)
    if not keep_index:
        index = np.array(index_values, np.int32)
    if not keep_offsets:
        offsets = np.array([0, *middle, len(blob)], np.int64)
    model = nk._score.QueryModel()
    model._attach_stored(_unigram_tables(len(WORDS)), len(WORDS), blob, offsets, index, 0, 1, 2, -99.0, -100.0)
    data = blob.tobytes()
    for i, word in enumerate(WORDS + ["xyzzy", ""]):
        if "\ud800" in word:
            continue  # KenLM's API takes str it can encode
        e = _looked_up(model, word)
        if e != 0:
            a, b = offsets[e], offsets[e + 1]
            assert 0 <= a <= b <= len(data) and data[a:b] == word.encode(), (word, e)
        if keep_index and keep_offsets:
            assert e == (i if i < len(WORDS) else 0)


def test_opening_reads_no_vocabulary_into_python(files, monkeypatch):
    """The mapped open never decodes the words (the normal path's _stored_words) nor reads meta.json's list."""
    def boom(*args, **kwargs):
        raise AssertionError("the vocabulary was decoded")

    monkeypatch.setattr(npzfile, "_stored_words", boom)
    model = nk.Model(files["v2"])
    assert model._backoff is None and "the" in model and "xyzzy" not in model
    meta = json.loads(fast.open_model(str(files["v2"]))[1])
    assert "vocab" not in meta and meta["vocab_size"] == len(files["words"])
