"""Model files: native round trips (every model kind), ARPA round trips, corruption, atomicity, the class table.

Oracle: the in-memory model that was saved (its log_probs on held-out text)
and hand-built broken files (flipped bytes, truncation, foreign content).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream, TextOptions, Vocabulary, modelio, npzfile, read_sentences
from ngramkit.errors import InputError, NgramkitError
from ngramkit.models import MODELS, Laplace
from ngramkit.rnn import RNNLM, RNNConfig, TrainConfig, TrainingCheckpoint, train


@pytest.fixture(scope="module")
def data(timemachine_path):
    sentences = read_sentences(timemachine_path, TextOptions(normalize="d2l"))
    train, test = sentences[:1500], sentences[1500:1900]
    vocab = Vocabulary.build(train, min_count=2)
    counts = NGramCounts.from_stream(Stream.from_sentences(train, vocab), 3)
    return vocab, counts, test


@pytest.fixture(scope="module")
def fitted(data):
    """name -> model fitted on the timemachine slice (order 3), for every registered model."""
    _, counts, _ = data
    return {name: cls(3).fit(counts) for name, cls in MODELS.items()}


def _scores(model, sentences):
    return model.log_probs(Stream.from_sentences(sentences, model.vocab))


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ---- native round trips -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("mmap", [True, False])
def test_native_round_trip_scores_identically(fitted, data, tmp_path, name, mmap):
    model = fitted[name]
    path = modelio.save_model(model, tmp_path / f"{name}.ngk", info={"corpus": "timemachine"})
    loaded = modelio.load_model(path, mmap=mmap)
    assert type(loaded) is type(model)
    assert loaded.vocab == model.vocab
    assert np.array_equal(loaded.vocab.counts, model.vocab.counts)
    assert loaded.order == model.order
    expected, got = _scores(model, data[2]), _scores(loaded, data[2])
    assert np.isfinite(expected).sum() > 0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # next_log_probs too (generation uses it)
    ctx = model.vocab.lookup(["the", "time"]).tolist()
    np.testing.assert_allclose(loaded.next_log_probs(ctx), model.next_log_probs(ctx), rtol=0, atol=1e-9)
    assert _files(tmp_path) == [f"{name}.ngk"]  # no temporary leftovers


def test_native_file_is_a_plain_npz_with_metadata(fitted, tmp_path):
    model = fitted["mkn"]
    path = modelio.save_model(model, tmp_path / "m.ngk", info={"corpus": "timemachine", "x": [1, 2]})
    meta_state, arrays = model.get_state()
    with np.load(path, allow_pickle=False) as npz:  # readable without ngramkit
        for name, arr in arrays.items():
            assert np.array_equal(npz[name], arr, equal_nan=arr.dtype.kind == "f")
        # the vocabulary: its words' UTF-8 bytes, where each starts, and their hash (searched in place)
        blob, offsets = npz["vocab.words"].tobytes(), npz["vocab.offsets"].tolist()
        assert [blob[a:b].decode() for a, b in zip(offsets, offsets[1:])] == model.vocab.words
        assert np.array_equal(npz["vocab.counts"], model.vocab.counts)
        index = npz["vocab.index"]
    meta = modelio.read_metadata(path)
    assert meta["format"] == "ngramkit-model" and meta["version"] == 2
    assert meta["kind"] == "ngram" and meta["class"] == type(model).__name__ and meta["name"] == "mkn"
    assert "vocab" not in meta and meta["vocab_size"] == len(model.vocab)
    # the hash is FNV-1a with linear probing, as written out here (the oracle for score.c's ngk_vocab_build)
    assert len(index) == 16 * 2 ** int(np.ceil(np.log2((2 * len(model.vocab) + 1) / 16)))
    for i, word in enumerate(model.vocab.words):
        h = 0xCBF29CE484222325
        for byte in word.encode():
            h = ((h ^ byte) * 0x100000001B3) % 2**64
        slot = (h ^ (h >> 29)) % len(index)
        while index[slot] != i:
            assert index[slot] != -1, word
            slot = (slot + 1) % len(index)
    assert (index >= 0).sum() == len(model.vocab)
    assert meta["info"] == {"corpus": "timemachine", "x": [1, 2]}
    assert meta["state"]["order"] == 3
    for name, entry in meta["arrays"].items():
        assert len(entry["sha256"]) == 64
    with zipfile.ZipFile(path) as zf:
        assert all(z.compress_type == zipfile.ZIP_STORED for z in zf.infolist())


def test_mmap_arrays_are_aligned_read_only_views(fitted, tmp_path):
    path = modelio.save_model(fitted["kn"], tmp_path / "m.ngk")
    meta, arrays = npzfile.read(path, npzfile.MODEL, npzfile.MODEL_VERSION, mmap=True)
    for name, arr in arrays.items():
        assert not arr.flags.writeable, name
        if arr.size:
            assert arr.ctypes.data % 64 == 0, name
    _, copies = npzfile.read(path, npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    assert all(arr.flags.writeable for arr in copies.values())


def test_same_model_gives_byte_identical_files(fitted, tmp_path):
    a = modelio.save_model(fitted["laplace"], tmp_path / "a.ngk")
    b = modelio.save_model(fitted["laplace"], tmp_path / "b.ngk")
    assert a.read_bytes() == b.read_bytes()


def test_rnn_round_trip(data, tmp_path):
    vocab, _, test = data
    model = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8, softmax="class", classes=5, seed=3), vocab)
    path = modelio.save_model(model, tmp_path / "rnn.ngk")
    meta = modelio.read_metadata(path)
    assert (meta["kind"], meta["class"], meta["name"]) == ("rnn", "RNNLM", "rnn")
    loaded = modelio.load_model(path)
    assert type(loaded) is RNNLM
    np.testing.assert_allclose(_scores(loaded, test[:50]), _scores(model, test[:50]), rtol=0, atol=1e-9)


def test_training_checkpoint_loads_as_its_model(data, tmp_path):
    vocab, _, test = data
    valid = Stream.from_sentences(test[:30], vocab)
    model = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8, seed=1), vocab)
    cfg = TrainConfig(batch=4, bptt=5, epochs=1, optimizer="adam", lr=0.01, schedule="none")
    result = train(model, Stream.from_sentences(test[30:60], vocab), valid, cfg, checkpoint_dir=tmp_path)
    assert modelio.read_metadata(tmp_path / "last.ngk")["class"] == "TrainingCheckpoint"
    for name in ("last.ngk", "best.ngk"):  # both are model files: ngramkit ppl --model CKPT/last.ngk works
        loaded = modelio.load_model(tmp_path / name)
        assert type(loaded) is RNNLM
        np.testing.assert_array_equal(loaded.log_probs(valid), result.model.log_probs(valid))
    checkpoint = TrainingCheckpoint.load(tmp_path / "last.ngk")
    assert checkpoint.state.epoch == 1 and set(checkpoint.optimizer_arrays) == \
        {f"adam.{m}.{k}" for m in "mv" for k in model.params}
    with pytest.raises(InputError, match="not a training checkpoint"):
        TrainingCheckpoint.load(tmp_path / "best.ngk")


def test_only_classes_in_the_table_are_saved(fitted, tmp_path):
    for name, entry in modelio.MODEL_CLASSES.items():
        assert entry.cls.__name__ == name and entry.kind in ("ngram", "rnn")
    assert {modelio.MODEL_CLASSES[cls.__name__].name for cls in MODELS.values()} == set(MODELS)

    class MyLaplace(Laplace):  # a subclass would be read back as its parent: refused
        pass

    model = MyLaplace(3).fit_sentences([["a", "b"]])
    for bad in (model, object()):
        with pytest.raises(NgramkitError, match=f"cannot save a {type(bad).__name__}: .*MODEL_CLASSES"):
            modelio.save_model(bad, tmp_path / "w.ngk")
    assert _files(tmp_path) == []


# ---- ARPA -----------------------------------------------------------------------------------


def _has_arpa_form(model) -> bool:
    try:
        model.to_backoff()
    except NgramkitError:
        return False
    return True


@pytest.mark.parametrize("suffix", [".arpa", ".arpa.gz"])
@pytest.mark.parametrize("name", ["witten-bell", "kn", "mkn", "additive", "absolute"])
def test_arpa_round_trip(fitted, data, tmp_path, name, suffix):
    model = fitted[name]
    if not _has_arpa_form(model):
        pytest.skip(f"{name} has no backoff form")
    path = modelio.save_model(model, tmp_path / f"m{suffix}")
    if suffix.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert path.read_text().lstrip().startswith("\\data\\")
    assert _files(tmp_path) == [f"m{suffix}"]
    loaded = modelio.load_model(path)
    np.testing.assert_allclose(_scores(loaded, data[2]), _scores(model, data[2]), rtol=0, atol=1e-6)
    # the format is recognised by content, whatever the name
    renamed = path.rename(tmp_path / "model.bin")
    np.testing.assert_allclose(_scores(modelio.load_model(renamed), data[2]), _scores(loaded, data[2]), atol=0)
    assert modelio.read_metadata(renamed)["format"] == "arpa"


def test_model_without_backoff_form_refuses_arpa_and_writes_nothing(fitted, tmp_path):
    refused = [name for name, model in fitted.items() if not _has_arpa_form(model)]
    if not refused:
        pytest.skip("every model has an ARPA form")
    for name in refused:
        with pytest.raises(NgramkitError):
            modelio.save_model(fitted[name], tmp_path / f"{name}.arpa")
    assert _files(tmp_path) == []


# ---- corrupt, truncated and foreign files -------------------------------------------------


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "mkn.ngk"
    modelio.save_model(fitted["mkn"], path)
    return path


def _array_span(path, name):
    """(start, length) of an array member's bytes in the file."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    n, m = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    return info.header_offset + 30 + n + m, info.compress_size


def _write(tmp_path, data: bytes, name="bad.ngk"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _one_line_error(path, **kw) -> str:
    with pytest.raises(InputError) as err:
        modelio.load_model(path, **kw)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


@pytest.mark.parametrize("where", [0.1, 0.5, 0.99])
def test_flipped_byte_in_an_array_is_a_checksum_error(saved, tmp_path, where):
    meta = modelio.read_metadata(saved)
    for name, entry in meta["arrays"].items():
        start, length = _array_span(saved, entry["file"])
        data = bytearray(saved.read_bytes())
        pos = start + 128 + int((length - 129) * where)  # inside the data, past the .npy header
        data[pos] ^= 0x01
        path = _write(tmp_path, bytes(data))
        assert f"checksum mismatch in array {name!r}" in _one_line_error(path)
    # verify=False skips hashing: the damaged file loads
    assert modelio.load_model(path, verify=False).order == 3


def test_flipped_byte_in_metadata_is_detected(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("meta.json")
    data[info.header_offset + 30 + len("meta.json") + 40] ^= 0x01
    assert "corrupt" in _one_line_error(_write(tmp_path, bytes(data)))


@pytest.mark.parametrize("keep", [10, 100, 0.3, 0.9, -1, -22])
def test_truncated_file(saved, tmp_path, keep):
    data = saved.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    msg = _one_line_error(_write(tmp_path, data[:n]))
    assert "corrupt" in msg or "truncated" in msg


@pytest.mark.parametrize("content", [
    b'{"format": "ngramkit-model", "version": 1}',
    json.dumps({"a": list(range(50))}).encode(),
    b"hello world\n",
    bytes(range(256)) * 4,
])
def test_foreign_file(tmp_path, content):
    assert "not a model file" in _one_line_error(_write(tmp_path, content))


def test_missing_empty_and_directory(tmp_path):
    assert "no such" in _one_line_error(tmp_path / "nope.ngk")
    assert "empty" in _one_line_error(_write(tmp_path, b""))
    with pytest.raises(InputError, match="directory"):
        modelio.load_model(tmp_path)


def _zip(tmp_path, members: dict[str, bytes]):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return _write(tmp_path, buf.getvalue())


def test_zip_that_is_not_a_model(tmp_path):
    assert "without meta.json" in _one_line_error(_zip(tmp_path, {"a.txt": b"x"}))
    assert "not ngramkit model metadata" in _one_line_error(_zip(tmp_path, {"meta.json": b'{"format": "x"}'}))
    assert "corrupt model metadata" in _one_line_error(_zip(tmp_path, {"meta.json": b"{nope"}))


def _rewrite(saved, tmp_path, edit_meta=None, replace=None):
    """Copy ``saved`` with its metadata edited and/or an array member replaced (checksum updated)."""
    with zipfile.ZipFile(saved) as zf:
        members = {z.filename: zf.read(z.filename) for z in zf.infolist()}
    meta = json.loads(members["meta.json"])
    if replace:
        name, data = replace
        members[f"{name}.npy"] = data
        import hashlib
        meta["arrays"][name]["sha256"] = hashlib.sha256(data).hexdigest()
    if edit_meta:
        edit_meta(meta)
    members["meta.json"] = json.dumps(meta).encode()
    return _zip(tmp_path, members)


def test_newer_version_and_unknown_class(saved, tmp_path):
    path = _rewrite(saved, tmp_path, lambda m: m.update(version=99))
    assert "upgrade ngramkit" in _one_line_error(path)
    for name in ("os.system", "LanguageModel", "NGramCounts", "__class__"):
        path = _rewrite(saved, tmp_path, lambda m: m.update({"class": name}))
        assert "unknown ngram model class" in _one_line_error(path)
    path = _rewrite(saved, tmp_path, lambda m: m.update({"class": "Laplace"}))  # state of another model
    assert "corrupt model state for Laplace" in _one_line_error(path) or "cannot rebuild" in _one_line_error(path)
    path = _rewrite(saved, tmp_path, lambda m: m.update(state={"order": "x"}))
    assert "ModifiedKneserNey" in _one_line_error(path)
    path = _rewrite(saved, tmp_path, lambda m: m.update(kind="transformer"))
    assert "unknown model kind" in _one_line_error(path)


def test_never_unpickles(saved, tmp_path):
    meta = modelio.read_metadata(saved)
    name = next(iter(meta["arrays"]))
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    path = _rewrite(saved, tmp_path, replace=(name, buf.getvalue()))
    assert "refusing to unpickle" in _one_line_error(path)


def test_array_members_must_be_stored_uncompressed(saved, tmp_path):
    with zipfile.ZipFile(saved) as zf:
        members = {z.filename: zf.read(z.filename) for z in zf.infolist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    assert "compressed" in _one_line_error(_write(tmp_path, buf.getvalue()))


# ---- atomic writes ---------------------------------------------------------------------------


def test_failed_write_leaves_nothing_and_keeps_the_old_file(fitted, tmp_path, monkeypatch):
    target = tmp_path / "m.ngk"
    modelio.save_model(fitted["laplace"], target)
    before = target.read_bytes()
    calls = {"n": 0}
    real = npzfile._write_npy  # writes each array's .npy bytes

    def failing(fh, arr, **kw):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise OSError(28, "No space left on device")
        return real(fh, arr, **kw)

    monkeypatch.setattr(npzfile, "_write_npy", failing)
    with pytest.raises(NgramkitError, match="m.ngk: cannot write the model file .No space left on device"):
        modelio.save_model(fitted["mkn"], target)
    with pytest.raises(NgramkitError, match="No space left"):
        modelio.save_model(fitted["mkn"], tmp_path / "new.ngk")
    assert _files(tmp_path) == ["m.ngk"]
    assert target.read_bytes() == before


def test_failed_arpa_write_leaves_nothing(fitted, tmp_path, monkeypatch):
    import ngramkit.arpa

    def failing(model, path, *a, **kw):
        with open(path, "w") as fh:
            fh.write("\\data\\\nngram 1=")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ngramkit.arpa, "write_arpa", failing)
    for name in ("m.arpa", "m.arpa.gz"):
        with pytest.raises(NgramkitError, match="No space left"):
            modelio.save_model(fitted["kn"], tmp_path / name)
    assert _files(tmp_path) == []


def test_unsaveable_state_is_refused_before_writing(data, fitted, tmp_path):
    base = {"format": npzfile.MODEL, "version": 1}
    for bad, match in [({"x": np.array([None])}, "object dtype"), ({"../x": np.zeros(2)}, "array name"),
                       ({"x": [1, 2]}, "expected a numpy array")]:
        with pytest.raises(NgramkitError, match=match):
            npzfile.write(tmp_path / "w.ngk", base, bad)
    with pytest.raises(NgramkitError, match="not JSON"):
        npzfile.write(tmp_path / "w.ngk", dict(base, f=object()), {})
    with pytest.raises(NgramkitError, match="not JSON"):
        modelio.save_model(fitted["laplace"], tmp_path / "w.ngk", info={"f": object()})
    with pytest.raises(NgramkitError, match="not compressed"):
        modelio.save_model(fitted["laplace"], tmp_path / "w.ngk.gz")
    with pytest.raises(NgramkitError, match="does not exist"):
        modelio.save_model(fitted["laplace"], tmp_path / "no" / "w.ngk")
    with pytest.raises(NgramkitError, match=r"w.ngc: .ngc is the extension of ngramkit counts files; .* .ngk"):
        modelio.save_model(fitted["laplace"], tmp_path / "w.ngc")
    assert _files(tmp_path) == []


# ---- models and counts share the container, not the file kind ---------------------------------


def test_counts_file_where_a_model_is_expected_and_back(data, fitted, tmp_path):
    counts_path = data[1].save(tmp_path / "c.ngc")
    for read in (modelio.load_model, modelio.read_metadata):
        with pytest.raises(InputError) as err:
            read(counts_path)
        msg = str(err.value)
        assert "\n" not in msg and msg.startswith(f"{counts_path}: an ngramkit counts file, not a model file")
    model_path = modelio.save_model(fitted["kn"], tmp_path / "m.ngk")
    with pytest.raises(InputError, match=r"m.ngk: an ngramkit model file, not a counts file; .*ngramkit count"):
        NGramCounts.load(model_path)
