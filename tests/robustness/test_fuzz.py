"""Fuzzing the readers: mutated native model and counts files, gzipped ARPA, random bytes and Unicode as text.

The property, for every input: the reader either raises the library's
one-line error (:class:`~ngramkit.errors.NgramkitError`, naming the file) or
returns exactly what an independent oracle says: the original model/counts
for a mutated file that still loads (a changed zip timestamp, say), a naive
``Counter`` over the text decoded and split the plain Python way for text.
Anything else (``NotImplementedError``, ``zipfile.BadZipFile``, ``KeyError``,
numpy's ``ValueError``, a different model) fails the test.

Crafted files (values changed, checksums recomputed by npzfile's own writer)
check the value validation of the loaders. Bounded for CI: a few hundred
examples in all; ``benchmarks/bench_robustness.py`` runs the same mutators
(imported from here) much longer.
"""

from __future__ import annotations

import functools
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ngramkit import NGramCounts, Stream, TextOptions, npzfile, read_sentences
from ngramkit.arpa import write_arpa
from ngramkit.errors import NgramkitError
from ngramkit.modelio import load_model, save_model
from ngramkit.models import MODELS
from ngramkit.rnn import RNNLM
from ngramkit.rnn.config import RNNConfig
from oracles import as_counter, naive_counts

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])

# ---- the originals (built once, small so that each example is quick) ------------------------------

_SENTENCES = [s.split() for s in """the time traveller for so it will be convenient to speak of him
was expounding a recondite matter to us his grey eyes shone and twinkled
and his usually pale face was flushed and animated the fire burned brightly
and the soft radiance of the incandescent lights in the lilies of silver
caught the bubbles that flashed and passed in our glasses""".splitlines()]


@functools.lru_cache(maxsize=None)
def originals() -> dict[str, tuple[bytes, str]]:
    """kind -> (bytes of a valid file, the loader: "model" or "counts")."""
    counts = NGramCounts.from_sentences(_SENTENCES, 3)
    vocab = counts.vocab
    models = {
        "mkn": MODELS["mkn"](3, discount_fallback=True).fit(counts),  # backoff tables: logp10/backoff10 (NaN for <s>)
        "mle": MODELS["mle"](2).fit(NGramCounts.from_sentences(_SENTENCES, 2)),  # count tables
        "rnn": RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=4, softmax="class", classes=3, seed=1), vocab),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            out[name] = (save_model(model, Path(tmp) / f"{name}.ngk").read_bytes(), "model")
        out["counts"] = (counts.save(Path(tmp) / "c.ngc").read_bytes(), "counts")
        out["arpa.gz"] = (write_arpa(models["mkn"], Path(tmp) / "m.arpa.gz").read_bytes(), "model")
    return out


@functools.lru_cache(maxsize=None)
def original_objects():
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for kind, (data, loader) in originals().items():
            path = Path(tmp) / ("x.arpa.gz" if kind == "arpa.gz" else "x.bin")
            path.write_bytes(data)
            out[kind] = load(path, loader, mmap=False)
        return out


def load(path: Path, loader: str, mmap: bool = True):
    return NGramCounts.load(path, mmap=mmap) if loader == "counts" else load_model(path, mmap=mmap)


def same(a, b) -> bool:
    """Equal models/counts: the same class, vocabulary, state and arrays (NaN equal to NaN)."""
    if isinstance(a, NGramCounts):
        return isinstance(b, NGramCounts) and a == b
    if type(a) is not type(b) or a.vocab != b.vocab:
        return False
    (ma, xa), (mb, xb) = a.get_state(), b.get_state()
    return ma == mb and xa.keys() == xb.keys() and all(
        x.dtype == xb[k].dtype and np.array_equal(x, xb[k], equal_nan=x.dtype.kind == "f") for k, x in xa.items())


# ---- mutators (also used by benchmarks/bench_robustness.py) -------------------------------------------

# zip header fields (offset within the record, struct format): "version needed" first
_LOCAL = {"version": (4, "<H"), "flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"),
          "csize": (18, "<I"), "usize": (22, "<I"), "name_len": (26, "<H"), "extra_len": (28, "<H")}
_CENTRAL = {"version_made": (4, "<H"), "version": (6, "<H"), "flags": (8, "<H"), "method": (10, "<H"),
            "crc": (16, "<I"), "csize": (20, "<I"), "usize": (24, "<I"), "name_len": (28, "<H"),
            "extra_len": (30, "<H"), "comment_len": (32, "<H"), "offset": (42, "<I")}
_EOCD = {"disk": (4, "<H"), "entries_disk": (8, "<H"), "entries": (10, "<H"), "cd_size": (12, "<I"),
         "cd_offset": (16, "<I"), "comment_len": (20, "<H")}
_RECORDS = {b"PK\x03\x04": _LOCAL, b"PK\x01\x02": _CENTRAL, b"PK\x05\x06": _EOCD}
FIELD_VALUES = (0, 1, 8, 14, 20, 45, 46, 63, 99, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 12, 0x800, 0x41)


def zip_fields(data: bytes) -> list[tuple[int, str]]:
    """(absolute offset, struct format) of every header field of the zip records in ``data``."""
    out = []
    for magic, fields in _RECORDS.items():
        start = data.find(magic)
        while start >= 0:
            out += [(start + off, fmt) for off, fmt in fields.values() if start + off + struct.calcsize(fmt) <= len(data)]
            start = data.find(magic, start + 1)
    return out


def mutate(data: bytes, edits) -> bytes:
    """Apply edits: ("flip", pos, bit), ("truncate", pos), ("insert", pos, bytes), ("overwrite", pos, bytes),
    ("field", index, value) (a zip header field of :func:`zip_fields`, "version needed" among them).
    Positions are taken modulo the current length."""
    buf = bytearray(data)
    fields = zip_fields(data)
    for edit in edits:
        op, a = edit[0], edit[1]
        n = max(len(buf), 1)
        if op == "flip" and buf:
            buf[a % n] ^= 1 << (edit[2] % 8)
        elif op == "truncate":
            del buf[a % n:]
        elif op == "insert":
            buf[a % n: a % n] = edit[2]
        elif op == "overwrite":
            buf[a % n: a % n + len(edit[2])] = edit[2]
        elif op == "field" and fields:
            pos, fmt = fields[a % len(fields)]
            value = edit[2] & (0xFFFF if fmt == "<H" else 0xFFFFFFFF)
            if pos + struct.calcsize(fmt) <= len(buf):
                struct.pack_into(fmt, buf, pos, value)
    return bytes(buf)


_pos = st.integers(0, 1 << 20)
edit_st = st.one_of(
    st.tuples(st.just("flip"), _pos, st.integers(0, 7)),
    st.tuples(st.just("truncate"), _pos),
    st.tuples(st.just("insert"), _pos, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("overwrite"), _pos, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("field"), _pos, st.one_of(st.sampled_from(FIELD_VALUES), st.integers(0, 0xFFFFFFFF))),
)
edits_st = st.lists(edit_st, min_size=1, max_size=3)


def check_mutated(kind: str, data: bytes, folder: Path) -> str:
    """Load mutated bytes of ``kind``: "error" (the library's one-line error), "same" (loads equal); else fail."""
    path = folder / ("fuzz.arpa.gz" if kind == "arpa.gz" else "fuzz.ngc" if kind == "counts" else "fuzz.ngk")
    path.unlink(missing_ok=True)  # a new inode: an earlier example's memory map never sees these bytes
    path.write_bytes(data)
    loader = originals()[kind][1]
    try:
        got = load(path, loader)
    except NgramkitError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message, message
        return "error"
    assert same(got, original_objects()[kind]), f"{kind}: a mutated file loaded as a different {loader}"
    return "same"


# ---- (a, b) native model and counts files, (c) gzipped ARPA ----------------------------------------

@pytest.mark.parametrize("kind", ["mkn", "mle", "rnn", "counts", "arpa.gz"])
def test_unmutated_files_load_equal(kind, tmp_path):
    assert check_mutated(kind, originals()[kind][0], tmp_path) == "same"


@pytest.mark.parametrize("kind", ["mkn", "mle", "rnn", "counts"])
@FUZZ
@given(edits=edits_st)
def test_mutated_native_files_load_equal_or_raise_one_line(kind, edits, tmp_path):
    check_mutated(kind, mutate(originals()[kind][0], edits), tmp_path)


@settings(FUZZ, max_examples=40)
@given(edits=edits_st)
def test_mutated_gzipped_arpa_loads_equal_or_raises_one_line(edits, tmp_path):
    """The ARPA text mutations are in tests/models/test_arpa.py; this adds the gzip layer (CRC, truncation)."""
    check_mutated("arpa.gz", mutate(originals()["arpa.gz"][0], edits), tmp_path)


@pytest.mark.parametrize("kind", ["mkn", "counts"])
@pytest.mark.parametrize("field", sorted(set(_LOCAL) | set(_CENTRAL)))
def test_every_zip_header_field_of_every_record(kind, field, tmp_path):
    """Each field of each local/central header set to hostile values (0xFFFF "version needed" was a
    NotImplementedError from zipfile)."""
    data = originals()[kind][0]
    fields = zip_fields(data)
    records = [(m, s) for m in (b"PK\x03\x04", b"PK\x01\x02") for s in _find_all(data, m)]
    seen = set()
    for magic, start in records:
        table = _LOCAL if magic == b"PK\x03\x04" else _CENTRAL
        if field not in table:
            continue
        off, fmt = table[field]
        index = fields.index((start + off, fmt))
        for value in (0, 20, 45, 46, 63, 0xFFFF, 0xFFFFFFFF, 1):
            seen.add(check_mutated(kind, mutate(data, [("field", index, value)]), tmp_path))
    assert seen


def _find_all(data: bytes, magic: bytes):
    start = data.find(magic)
    while start >= 0:
        yield start
        start = data.find(magic, start + 1)


def test_corrupt_version_needed_is_one_line(tmp_path):
    """The crash of issue 14: "version needed" > 6.3 made zipfile raise NotImplementedError."""
    data = bytearray(originals()["mkn"][0])
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 6, 0xFFFF)
    path = tmp_path / "bad.ngk"
    path.write_bytes(bytes(data))
    with pytest.raises(NgramkitError, match=f"^{path}: corrupt or truncated model file"):
        load_model(path)
    from ngramkit.modelio import read_metadata
    with pytest.raises(NgramkitError, match=f"^{path}: corrupt or truncated model file"):
        read_metadata(path)


# ---- crafted files: values changed, checksums recomputed by npzfile's own writer ------------------------

def _rewrite(kind: str, folder: Path, change) -> Path:
    """The original file of ``kind`` rewritten by npzfile.write after ``change(meta, arrays)``.

    A change that leaves the stored probing index (``probe1 ..``) alone drops it: an index left stale by a
    change to the n-gram tables would be refused first (full verification compares it with a rebuild),
    hiding what the case checks. The ``mkn-probe-*`` cases change the index itself.
    """
    src = folder / "src.bin"
    src.write_bytes(originals()[kind][0])
    fmt = npzfile.COUNTS if kind == "counts" else npzfile.MODEL
    meta, arrays = npzfile.read(src, fmt, 99, mmap=False)
    meta.pop("arrays")
    index = {name: arr for name, arr in arrays.items() if name.startswith("probe")}
    change(meta, arrays)
    if index and all(arrays.get(name) is arr for name, arr in index.items()):
        for name in index:
            del arrays[name]
        meta["state"].pop("probe", None)
    return npzfile.write(folder / ("crafted.ngc" if kind == "counts" else "crafted.ngk"), meta, arrays)


def _set(name, index, value, dtype=None):
    def change(meta, arrays):
        arr = arrays[name].astype(dtype or arrays[name].dtype)
        arr.reshape(-1)[index] = value
        arrays[name] = arr
    return change


def _astype(name, dtype):
    def change(meta, arrays):
        arrays[name] = arrays[name].astype(dtype)
    return change


def _swap_rows(name):
    def change(meta, arrays):
        arr = arrays[name].copy()
        arr[[0, 1]] = arr[[1, 0]]
        arrays[name] = arr
    return change


def _far_parent(meta, arrays):
    keys = arrays["keys3"].copy()
    v = meta["vocab_size"]
    keys[-1] = (10**6 + keys[-1] // v) * v + keys[-1] % v  # the same last word, a parent row past the end
    arrays["keys3"] = keys


def _top_order_nan(meta, arrays):
    arrays["logp10_3"] = arrays["logp10_3"].copy()
    arrays["logp10_3"][5] = np.nan


CRAFTED = {  # id -> (kind, change, what the message names)
    "mkn-backoff-nan": ("mkn", _set("backoff10_2", 3, np.nan), "backoff10_2"),
    "mkn-backoff-inf": ("mkn", _set("backoff10_1", 7, np.inf), "backoff10_1"),
    "mkn-logp-nan-top-order": ("mkn", _top_order_nan, "logp10_3"),
    "mkn-logp-positive": ("mkn", _set("logp10_2", 0, 0.5), "logp10_2"),
    "mkn-logp-plus-inf": ("mkn", _set("logp10_1", 9, np.inf), "logp10_1"),
    "mkn-logp-float32": ("mkn", _astype("logp10_2", np.float32), "logp10_2"),
    "mkn-ngrams-int64": ("mkn", _astype("ngrams2", np.int64), "ngrams2"),
    "mkn-keys-float": ("mkn", _astype("keys2", np.float64), "keys2"),
    "mkn-id-outside-vocab": ("mkn", _set("ngrams2", 1, 10_000), "keys2"),
    "mkn-id-negative": ("mkn", _set("ngrams1", 0, -1), "keys1"),
    "mkn-key-parent-out-of-range": ("mkn", _far_parent, "ngrams3"),
    "mkn-rows-unsorted": ("mkn", lambda m, a: (_swap_rows("ngrams2")(m, a), _swap_rows("keys2")(m, a)), "ngrams2"),
    "mle-count-zero": ("mle", _set("counts2", 0, 0), "counts2"),
    "mle-count-negative": ("mle", _set("counts1", 2, -5), "counts1"),
    "mle-counts-float": ("mle", _astype("counts1", np.float64), "counts1"),
    "rnn-weight-nan": ("rnn", _set("layer0.Wh", 2, np.nan), "layer0.Wh"),
    "rnn-weight-inf": ("rnn", _set("out.b", 0, -np.inf), "out.b"),
    "rnn-weights-float64": ("rnn", _astype("embed", np.float64), "embed"),
    "rnn-to-kernel-not-a-permutation": ("rnn", _set("to_kernel", 0, 1), "to_kernel"),
    "rnn-to-kernel-out-of-range": ("rnn", _set("to_kernel", 0, 10**6), "to_kernel"),
    "rnn-class-bounds-past-vocab": ("rnn", _set("class_bounds", -1, 10**6), "class_bounds"),
    "vocab-counts-float": ("mkn", _astype("vocab.counts", np.float64), "vocab.counts"),
    "mkn-probe-tampered": ("mkn", _set("probe2", 1, 12345), "probe2"),  # the index differs from a rebuild
    "mkn-probe-short": ("mkn", lambda m, a: a.update(probe3=a["probe3"][:-2]), "probe3"),  # geometry
    "mkn-probe-float": ("mkn", _astype("probe1", np.float64), "probe1"),
    "mkn-probe-missing": ("mkn", lambda m, a: a.update(probe2=a["probe2"].copy()) or a.pop("probe3"), "probe3"),
    "counts-count-zero": ("counts", _set("counts3", 4, 0), "counts3"),
    "counts-count-float": ("counts", _astype("counts2", np.float64), "counts2"),
    "counts-parent-out-of-range": ("counts", _set("parent2", 0, 10**9), "ngrams2"),
    "counts-parent-wrong-row": ("counts", _set("parent3", 0, 1), "ngrams3"),
    "counts-id-outside-vocab": ("counts", _set("ngrams1", 0, 99_999), "ngrams1"),
    "counts-ngrams-int16": ("counts", _astype("ngrams1", np.int16), "ngrams1"),
    "counts-unigram-parent": ("counts", _set("parent1", 0, 3), "ngrams1"),
    "counts-total-negative": ("counts", lambda m, a: m.update(n_tokens=-1), "n_tokens"),
}


@pytest.mark.parametrize("kind, change, needle", CRAFTED.values(), ids=CRAFTED.keys())
def test_crafted_file_with_recomputed_checksums_is_refused(kind, change, needle, tmp_path):
    path = _rewrite(kind, tmp_path, change)
    with pytest.raises(NgramkitError) as info:
        load(path, originals()[kind][1])
    message = str(info.value)
    assert message.startswith(f"{path}: corrupt") and needle in message and "\n" not in message, message


def test_context_only_nan_below_the_top_order_still_loads(tmp_path):
    """NaN in logp10 marks a context-only entry (documented): allowed on a row that is some n-gram's context."""
    model = original_objects()["mkn"]
    row = int(model.keys(3)[0] // len(model.vocab))  # the context row of the first trigram
    path = _rewrite("mkn", tmp_path, _set("logp10_2", row, np.nan))
    loaded = load_model(path)
    assert np.isnan(loaded.logp10(2)[row]) and np.array_equal(loaded.ngrams(2), model.ngrams(2))


def test_crafted_rewrite_without_changes_loads_equal(tmp_path):
    """The crafting itself is sound: npzfile.write of the unchanged arrays gives an equal model/counts."""
    for kind in ("mkn", "mle", "rnn", "counts"):
        assert same(load(_rewrite(kind, tmp_path, lambda m, a: None), originals()[kind][1]),
                    original_objects()[kind])


# ---- (d) random bytes and Unicode through the text reader and the C scanner -----------------------------

_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"PK\x03\x04", b"\x28\xb5\x2f\xfd", b"\x89PNG", b"%PDF",
           b"\x7fELF", b"\x93NUMPY")
_ODD = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", " ", "\t",
        "\xa0", "\u3000", "\u200b", "\ufeff", "İ", "ß", "Σ", "ǅ", "\U0001f600", "a", "b", "A", "ab", "\x00"]

text_st = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(st.sampled_from(_ODD), st.characters(blacklist_categories=["Cs"])), max_size=60).map(
        lambda cs: "".join(cs).encode("utf-8")),
    st.lists(st.sampled_from(_ODD), max_size=40).map(lambda cs: "".join(cs).encode("utf-8")),
)


def oracle_sentences(data: bytes, lower: bool):
    """The plain Python reading: None where the library must refuse (NUL byte, undecodable, no tokens)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if lower:
        text = text.lower()
    sentences = [line.split() for line in text.splitlines()]
    return [s for s in sentences if s] or None


def check_text(data: bytes, lower: bool, chunk: int, folder: Path) -> str:
    """Every reader on ``data``: a one-line error exactly where the oracle refuses, else its counts.

    "error" or "counted"; anything else fails."""
    path = folder / "fuzz.txt"
    path.write_bytes(data)
    options = TextOptions(normalize="lower" if lower else "none")
    want = oracle_sentences(data, lower)
    readers = {
        "read_sentences": lambda: naive_counts(read_sentences([path], options), 2),
        "C scanner": lambda: as_counter(NGramCounts.from_stream(Stream.from_files([path], options), 2)),
        "C scanner in blocks": lambda: as_counter(NGramCounts.from_file([path], 2, options=options,
                                                                         chunk_bytes=chunk)),
    }
    for name, read in readers.items():
        try:
            got = read()
        except NgramkitError as exc:
            assert want is None, f"{name} refused valid text: {exc}"
            assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
            continue
        assert want is not None, f"{name} accepted text the plain Python reading refuses"
        assert got == naive_counts(want, 2), f"{name}: counts differ from a naive Counter"
    return "error" if want is None else "counted"


@FUZZ
@given(data=text_st, lower=st.booleans(), chunk=st.integers(1, 64))
def test_random_bytes_and_unicode_read_like_python_or_fail_cleanly(data, lower, chunk, tmp_path):
    assume(not data.startswith(_MAGICS))  # recognised formats: their own errors, tested in test_text.py
    check_text(data, lower, chunk, tmp_path)


@pytest.mark.parametrize("data", [
    "a b\rc\r\nd\x0be\x0cf\x1cg\x1dh\x1ei\x85j\u2028k\u2029l\n".encode(),
    "\ufeffx y\n\ufeffz\n".encode(),
    "İSTANBUL ǅemal ΣΑΣ Straße\n".encode(),
    b"word\x00 after a NUL\n",
    b"a b\nc d\x00 a NUL in the second line: refused whatever the block size\n",
    b"ok line\n" + b"x" * 9000 + b"\n\x00 NUL past the first 8 kB\n",
    b"\xff\xfe undecodable\n",
    b"valid\n" + "é".encode()[:1] + b"\n",
    b" \t\n\r\n",
])
@pytest.mark.parametrize("lower", [False, True])
def test_text_edge_cases(data, lower, tmp_path):
    for chunk in (1, 3, 7, 64, 1 << 16):
        check_text(data, lower, chunk, tmp_path)


@pytest.mark.parametrize("case", ["mkn-logp-float32", "mle-counts-float", "rnn-weights-float64", "counts-ngrams-int16",
                                  "mkn-probe-short", "mkn-probe-float", "mkn-probe-missing"])
def test_unverified_load_still_checks_dtypes(case, tmp_path):
    """verify=False trusts the values (the load stays a memory mapping) but never the dtypes, nor the
    geometry of a stored probing index."""
    kind, change, needle = CRAFTED[case]
    path = _rewrite(kind, tmp_path, change)
    with pytest.raises(NgramkitError, match=needle.replace(".", r"\.")):
        if kind == "counts":
            NGramCounts.load(path, verify=False)
        else:
            load_model(path, verify=False)


def test_write_interrupted_inside_zip_close_prints_nothing_later(tmp_path, monkeypatch):
    """Found by bench_robustness (SIGINT while `count` wrote): a ZipFile interrupted before it marked itself
    closed was finished by its __del__ after the temp file had gone: 'Exception ignored ... seek of closed file'."""
    import gc
    import sys
    import zipfile

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    real_close = zipfile.ZipFile.close
    calls = []

    def interrupted_close(self):
        if not calls:
            calls.append(1)
            raise KeyboardInterrupt  # the signal arrives at the first bytecode of close()
        return real_close(self)

    monkeypatch.setattr(zipfile.ZipFile, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        original_objects()["counts"].save(tmp_path / "c.ngc")
    gc.collect()
    assert not unraisable and not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["member-close", "array"])
def test_write_interrupted_while_a_member_is_open_raises_the_interrupt(where, tmp_path, monkeypatch):
    """Also found by bench_robustness: a signal while a member was being written or finished made
    ZipFile.__exit__ raise "Can't close the ZIP file while there is an open writing handle" (a traceback)
    instead of the KeyboardInterrupt."""
    import gc
    import sys
    import zipfile

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    if where == "array":
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr("ngramkit.npzfile._write_npy", interrupted)
    else:
        real = zipfile._ZipWriteFile.close
        calls = []

        def interrupted(self):
            if not calls:
                calls.append(1)
                raise KeyboardInterrupt  # before the writer marks itself closed
            return real(self)
        monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        original_objects()["counts"].save(tmp_path / "c.ngc")
    gc.collect()
    assert not unraisable and not list(tmp_path.iterdir())
