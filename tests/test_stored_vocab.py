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
    words = npzfile._stored_words(arrays, v2)  # pops the vocabulary arrays
    meta.pop("vocab_size")
    npzfile.write(d / "v1.ngk", {**meta, "version": 1, "vocab": words}, arrays)
    text = d / "text.txt"
    text.write_text("the time traveller said\n\nxyzzy the <unk> </s> time\nhe said nothing at all\n", encoding="utf-8")
    return {"v2": v2, "v1": d / "v1.ngk", "text": text, "words": words}


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
    """The fast path and the mapped kenlm.Model decline a damaged vocabulary; the normal path then builds its
    own dict (the same scores as the intact file) or refuses the file with one line, and so does the CLI."""
    member, change, refused = DAMAGE[name]
    bad = _damaged(files["v2"], tmp_path / f"{name}.ngk", member, change)
    assert fastppl.open_model(fast, str(bad)) is None
    text = files["text"]
    run = subprocess.run([*NGRAMKIT, "ppl", "-m", str(bad), str(text), "-q"], capture_output=True, text=True,
                         timeout=120)
    if refused:
        with pytest.raises(InputError, match=f"^{bad}: corrupt vocabulary"):
            modelio.load_model(bad, verify=modelio.AUTO)
        with pytest.raises(OSError, match="corrupt vocabulary"):
            nk.Model(bad)
        assert run.returncode == 1 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and "corrupt vocabulary" in run.stderr and str(bad) in run.stderr
    else:
        good = nk.Model(files["v2"])
        model = nk.Model(bad)  # built by the normal path
        assert model._backoff is not None
        for line in text.read_text().splitlines():
            assert list(model.full_scores(line)) == list(good.full_scores(line))
        intact = subprocess.run([*NGRAMKIT, "ppl", "-m", str(files["v2"]), str(text), "-q"], capture_output=True,
                                text=True, timeout=120)
        assert run.returncode == intact.returncode == 0, run.stderr
        assert run.stdout.replace(str(bad), "M") == intact.stdout.replace(str(files["v2"]), "M")
    with pytest.raises(InputError, match="checksum mismatch"):
        modelio.load_model(bad)  # full verification names the array


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


def test_attach_stored_refuses_arrays_it_could_not_search_safely():
    arrays = npzfile.vocab_arrays(WORDS)
    blob, offsets, index = (arrays[n] for n in npzfile.VOCAB_ARRAYS)
    tables = (np.zeros(3 * len(WORDS), np.int64),)
    ok = (tables, len(WORDS), blob, offsets, index, 0, 1, 2, -99.0, -100.0)
    model = nk._score.QueryModel()
    model._attach_stored(*ok)
    assert model.BaseScore(nk.State(), "the", nk.State()) == -100.0  # no unigrams: every word absent
    for bad_index in (np.zeros_like(index), np.full_like(index, 99), index[:-1]):
        with pytest.raises(ValueError, match="damaged"):
            model._attach_stored(tables, len(WORDS), blob, offsets, bad_index, 0, 1, 2, -99.0, -100.0)
    for bad_offsets in (offsets[::-1].copy(), offsets + 1, offsets[:-1]):
        with pytest.raises(ValueError, match="damaged"):
            model._attach_stored(tables, len(WORDS), blob, bad_offsets, index, 0, 1, 2, -99.0, -100.0)


def test_opening_reads_no_vocabulary_into_python(files, monkeypatch):
    """The mapped open never decodes the words (the normal path's _stored_words) nor reads meta.json's list."""
    def boom(*args, **kwargs):
        raise AssertionError("the vocabulary was decoded")

    monkeypatch.setattr(npzfile, "_stored_words", boom)
    model = nk.Model(files["v2"])
    assert model._backoff is None and "the" in model and "xyzzy" not in model
    meta = json.loads(fast.open_model(str(files["v2"]))[1])
    assert "vocab" not in meta and meta["vocab_size"] == len(files["words"])
