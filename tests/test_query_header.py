"""The query header: a model file holding a probing index ends with ``query.npy``, read by ngramkit.kenlm alone.

Oracles: zipfile and numpy's .npy header reader (where each array's data
lies, meta.json's CRC-32), the checked open of the same model (a file
written without the header: ngramkit.fastppl.open_model's checks, then the
normal path) and KenLM's own reading of the same model where the kenlm
module is installed (tests/test_kenlm_api.py). A header that does not fit
the file is ignored (the checked open takes over); any header the reader
accepts keeps every lookup inside the file; full verification
(``load_model(verify=True)``) refuses a header that is not what the writer
would write.
"""

from __future__ import annotations

import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngramkit import modelio, npzfile
from ngramkit.errors import InputError
from ngramkit.models import AbsoluteDiscounting, KneserNey, ModifiedKneserNey, WittenBell

from .test_query_index import data_span

nk = pytest.importorskip("ngramkit.kenlm")
fast = pytest.importorskip("ngramkit._fastppl")
pytestmark = pytest.mark.skipif(nk._score is None, reason="ngramkit._score (C extension) not built")

LINES = ["the time traveller said", "xyzzy the <unk> </s> time", "", "he said nothing at all and the time machine"]


@pytest.fixture(scope="module")
def saved(tm_counts, tmp_path_factory):
    d = tmp_path_factory.mktemp("qh")
    paths = {}
    for cls, order in ((ModifiedKneserNey, 3), (KneserNey, 1), (WittenBell, 2), (AbsoluteDiscounting, 4),
                       (ModifiedKneserNey, 5)):
        paths[f"{cls.__name__}{order}"] = modelio.save_model(cls(order).fit(tm_counts), d / f"{cls.__name__}{order}.ngk")
    meta, arrays = npzfile.read(paths["ModifiedKneserNey3"], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=False)
    meta.pop("arrays")
    paths["checked"] = npzfile.write(d / "checked.ngk", meta, arrays)  # the same model without the header
    return paths


def _expected(path):
    """The header as the format says, from zipfile and numpy."""
    with zipfile.ZipFile(path) as zf:
        meta_crc = zf.getinfo("meta.json").CRC
    meta = modelio.read_metadata(path)
    order = meta["state"]["order"]
    names = [f"probe{k}" for k in range(1, order + 1)] + ["vocab.words", "vocab.offsets", "vocab.index"]
    fields = [int.from_bytes(b"ngkquery", "little"), 1, meta_crc, order, meta["vocab_size"],
              int(meta["state"].get("suffix_closed") is True)]
    return np.array(fields + [x for name in names for x in data_span(path, f"{name}.npy")], "<i8")


def _stored(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[-1] == npzfile.QUERY_MEMBER and names[-2] == "meta.json"
        return np.lib.format.read_array(zf.open(npzfile.QUERY_MEMBER), allow_pickle=False)


def _spans(opened):
    """open_query's answer as the header's (start, bytes) pairs."""
    _, vocab, closed, probes, words, offsets, index = opened
    pairs = [(s, 8 * n) for s, n in probes] + [words, (offsets[0], 8 * offsets[1]), (index[0], 4 * index[1])]
    return vocab, closed, pairs


def test_backoff_models_end_with_the_header_of_their_arrays(saved):
    for name, path in saved.items():
        if name == "checked":
            continue
        expected = _expected(path)
        assert np.array_equal(_stored(path), expected), name
        vocab, closed, pairs = _spans(fast.open_query(str(path)))
        assert [vocab, closed] == expected[4:6].tolist()
        assert [x for pair in pairs for x in pair] == expected[6:].tolist(), name
        modelio.load_model(path, verify=True)  # full verification accepts it


def test_other_files_have_no_header(saved, tmp_path, tm_counts):
    assert fast.open_query(str(saved["checked"])) is None
    counts = tm_counts.save(tmp_path / "c.ngc")
    with zipfile.ZipFile(counts) as zf:
        assert npzfile.QUERY_MEMBER not in zf.namelist()
    assert fast.open_query(str(counts)) is None
    assert fast.open_query(str(tmp_path)) is None and fast.open_query(str(tmp_path / "missing")) is None


def test_kenlm_opens_by_the_header_alone(saved, monkeypatch):
    """Nothing but the header is read: the checked open and the model classes are not called; the numbers are
    the checked open's."""
    checked = nk.Model(saved["checked"])
    assert checked._tables[1].__class__.__name__ == "FastModel"  # mapped after fastppl.open_model's checks

    def boom(*args, **kwargs):
        raise AssertionError("not the header's open")

    monkeypatch.setattr(nk.fastppl, "open_model", boom)
    monkeypatch.setattr(npzfile, "read", boom)
    mapped = nk.Model(saved["ModifiedKneserNey3"])
    assert mapped._backoff is None and mapped.order == 3
    for line in LINES:
        assert list(mapped.full_scores(line)) == list(checked.full_scores(line))
    assert all((w in mapped) == (w in checked) for w in ["the", "<unk>", "<s>", "</s>", "<pad>", "xyzzy"])


def _cd_entries(raw):
    """{member name: offset of its central-directory entry}."""
    eocd = raw.rindex(b"PK\x05\x06")
    size, offset = struct.unpack_from("<LL", raw, eocd + 12)
    out, p = {}, offset
    while p < offset + size:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, p + 28)
        out[raw[p + 46: p + 46 + name_len].decode()] = p
        p += 46 + name_len + extra_len + comment_len
    return out


def _with_member(path, dst, member, change):
    """``path`` with the bytes of ``member`` replaced by change(bytes) (same length), its CRC-32 recomputed in
    the local header and the central directory: a valid zip."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    new = change(bytes(raw[start: start + info.compress_size]))
    assert len(new) == info.compress_size
    raw[start: start + len(new)] = new
    crc = zlib.crc32(new)
    struct.pack_into("<L", raw, info.header_offset + 14, crc)
    struct.pack_into("<L", raw, _cd_entries(raw)[member] + 16, crc)
    dst.write_bytes(bytes(raw))
    with zipfile.ZipFile(dst) as zf:
        assert zf.testzip() is None
    return dst


def test_a_header_not_written_with_this_metadata_is_ignored(saved, tmp_path):
    """meta.json changed after the header was written (same length, CRC-32 fixed up): the header no longer
    fits, the checked open takes over, full verification names the header."""
    src = saved["ModifiedKneserNey3"]
    edited = _with_member(src, tmp_path / "edited.ngk", "meta.json", lambda b: b.replace(b'"mkn"', b'"MKN"'))
    assert fast.open_query(str(edited)) is None
    model = nk.Model(edited)
    assert model.score(LINES[0]) == nk.Model(src).score(LINES[0])
    with pytest.raises(InputError, match="query header"):
        modelio.load_model(edited, verify=True)


def test_a_damaged_header_is_ignored(saved, tmp_path):
    src = saved["ModifiedKneserNey3"]
    raw = bytearray(src.read_bytes())
    start, length = data_span(src, npzfile.QUERY_MEMBER)
    raw[start + 8 * 3] ^= 1  # the order, CRC-32 left stale
    bad = tmp_path / "bad.ngk"
    bad.write_bytes(bytes(raw))
    assert fast.open_query(str(bad)) is None
    assert nk.Model(bad).score(LINES[0]) == nk.Model(src).score(LINES[0])
    truncated = tmp_path / "cut.ngk"
    truncated.write_bytes(src.read_bytes()[:-1])
    assert fast.open_query(str(truncated)) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.integers(0, 21), value=st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(-100, 100),
                                                  st.integers(0, 1 << 22)))
def test_a_crafted_header_is_refused_or_stays_in_the_file(saved, tmp_path_factory, field, value):
    """Any one field of the header changed, its CRC-32 recomputed: open_query refuses it, or every span it
    gives lies in the file with the size its order and vocabulary give, and the model it opens scores
    without fault; full verification refuses every changed header."""
    src = saved["ModifiedKneserNey5"]
    expected = _expected(src)
    if expected[field] == value:
        return
    changed = expected.copy()
    changed[field] = value
    def change(member):  # the .npy header, then the values
        return member[:len(member) - changed.nbytes] + changed.tobytes()

    path = _with_member(src, tmp_path_factory.mktemp("craft") / "x.ngk", npzfile.QUERY_MEMBER, change)
    size = path.stat().st_size
    opened = fast.open_query(str(path))
    if opened is not None:
        vocab, closed, pairs = _spans(opened)
        order = len(pairs) - 3
        assert 1 <= order <= 16 and 4 <= vocab < 2**31 and closed in (0, 1)
        assert all(0 <= s and 0 <= n and s + n <= size for s, n in pairs)
        assert pairs[0][1] == 24 * vocab and pairs[-2][1] == 8 * (vocab + 1)
        model = nk.Model(path)
        for line in LINES:
            assert all(np.isfinite(p) or p == -np.inf for p, _, _ in model.full_scores(line))
    with pytest.raises(InputError):
        modelio.load_model(path, verify=True)


def test_zip64_files_open_by_their_header(tm_counts, tmp_path, monkeypatch):
    """A file past zipfile's zip64 limits (its end record and offsets in zip64 records; made here by lowering
    the limit, as a file over 4 GiB would be): the header is found and gives the arrays' spans."""
    model = ModifiedKneserNey(3).fit(tm_counts)
    plain = modelio.save_model(model, tmp_path / "plain.ngk")
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 16)
    big = modelio.save_model(model, tmp_path / "zip64.ngk")
    monkeypatch.undo()
    raw = big.read_bytes()
    assert b"PK\x06\x06" in raw[-200:] and b"PK\x06\x07" in raw[-100:]  # zip64 end record and locator
    assert np.array_equal(_stored(big), _expected(big))
    _, _, pairs = _spans(fast.open_query(str(big)))
    assert pairs[-3] == data_span(big, "vocab.words.npy")
    mapped, reference = nk.Model(big), nk.Model(plain)
    assert mapped._backoff is None
    for line in LINES:
        assert list(mapped.full_scores(line)) == list(reference.full_scores(line))
    modelio.load_model(big, verify=True)
