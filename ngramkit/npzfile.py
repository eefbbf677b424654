"""ngramkit's native file container: one uncompressed zip of aligned ``.npy`` arrays plus JSON metadata.

Input of :func:`write`: a path, a JSON-serialisable ``meta`` dict naming its
``format`` (:data:`MODEL` or :data:`COUNTS`) and ``version``, and a dict of
named numpy arrays. Output of :func:`read`: the same ``(meta, arrays)``, the
arrays memory-mapped read-only (``mmap=True``) or private copies. This layer
knows file kinds, never model classes: :mod:`ngramkit.modelio` turns a model
record into a model, :class:`~ngramkit.counts.NGramCounts` reads counts.

The file is a valid ``.npz`` (``np.load(path)`` and ``unzip -l`` can inspect
it) holding

- one ``<name>.npy`` member per array, stored uncompressed, its local header
  padded (the extra-field id Android's ``zipalign`` uses) so that, with
  numpy's own 64-byte ``.npy`` header padding, the array data starts on a
  64-byte boundary of the file: loading maps the arrays instead of reading
  them;
- ``meta.json`` (UTF-8), after the arrays: the caller's fields plus
  ``"arrays": {"<name>": {"file": "<name>.npy", "dtype": "<i4", "shape": [..],
  "sha256": "..."}}``;
- in a model file whose arrays hold a probing index, last, its query header
  :data:`QUERY_MEMBER` (where the index lies, for :mod:`ngramkit.kenlm` to
  open the file from its last few KiB).

Integrity: the SHA-256 of every ``.npy`` member (header and data) is checked
on read unless ``verify=False`` (about 1 GB/s; ``verify`` may also be a
function of the metadata, so :mod:`ngramkit.modelio` decides per file once
``meta.json`` is read); ``meta.json`` is covered by the zip CRC-32. The zip
and ``.npy`` headers are read through the file, not the mapping: an
unverified read maps the arrays and touches none of their pages. A missing, corrupt, truncated or foreign file, or a file of
the other kind (counts where a model is expected), raises a one-line
:class:`~ngramkit.errors.InputError` naming it. Files are written to a
temporary name and renamed (:mod:`ngramkit.fileio`); equal inputs give equal
bytes (fixed timestamps). No pickle is ever written or read.

Two records share the container (``"format"`` in ``meta.json``):

- :data:`MODEL` (``.ngk``), written by :func:`write_model`:
  ``{"format": "ngramkit-model", "version": 2, "kind": "ngram" | "rnn",
  "class": "ModifiedKneserNey", "name": "mkn", "state": {...}, "vocab_size":
  V, "info": {...}, "ngramkit_version": "...", "arrays": {...}}``,
  with the vocabulary in arrays: ``vocab.counts``, the words' UTF-8 bytes
  and where each starts, and their hash (:data:`VOCAB_ARRAYS`: searched in
  place by the scorers, nothing built at open). Version 1 (still read) kept
  the words as a list ``"vocab"`` in ``meta.json``;
- :data:`COUNTS` (``.ngc``): n-gram counts (:meth:`ngramkit.counts.NGramCounts.save`).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import mmap as _mmap
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ngramkit  # its __version__ (installed metadata) is looked up when a file is written, not at import
from .errors import InputError, NgramkitError
from .fileio import atomic_path, check_writable
from .outofcore.chunks import iter_chunks
from .vocab import Vocabulary

MODEL = "ngramkit-model"  # the "format" of a model file
MODEL_VERSION = 2  # 2: the vocabulary is stored as arrays (VOCAB_ARRAYS) with its hash, not in meta.json
COUNTS = "ngramkit-counts"  # the "format" of an n-gram counts file
META_MEMBER = "meta.json"
ZIP_MAGIC = b"PK\x03\x04"
_ALIGN = 64  # numpy's own .npy header alignment; keeps memory-mapped arrays aligned
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_PAD_EXTRA_ID = 0xD935  # the extra-field id Android's zipalign uses for padding
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: equal inputs give equal files
# What zipfile and numpy raise for a damaged file: a bad "version needed" field gives NotImplementedError,
# an "encrypted" flag RuntimeError, a flipped compression method zlib/lzma errors, a bad name encoding
# UnicodeDecodeError (a ValueError), a size field pointing past the end EOFError or struct.error.
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError,
            ValueError, struct.error, zlib.error, lzma.LZMAError, OverflowError, IndexError, KeyError)


@dataclass(frozen=True)
class FileKind:
    noun: str  # in messages: "no such model file", "corrupt counts file"
    extension: str  # the conventional file-name extension
    make: str  # how to write a file of this kind (ends the wrong-kind error)


KINDS = {
    MODEL: FileKind("model", ".ngk", "train one with `ngramkit train` (from a counts file: "
                                     "`ngramkit train ngram FILE.ngc -o model.ngk`; library: ngramkit.modelio.save_model)"),
    COUNTS: FileKind("counts", ".ngc", "write one with `ngramkit count --output FILE.ngc` (library: NGramCounts.save)"),
}


def check_path(path: str | os.PathLike, fmt: str) -> Path:
    """Fail early, with one line, if a file of kind ``fmt`` cannot be written at ``path``.

    Besides :func:`ngramkit.fileio.check_writable`, refuses the other kind's
    extension (a counts file called ``.ngk``, a model called ``.ngc``).
    """
    path = Path(path)
    for other, kind in KINDS.items():
        if other != fmt and path.suffix.lower() == kind.extension:
            raise NgramkitError(f"{path}: {kind.extension} is the extension of ngramkit {kind.noun} files; "
                                f"name {KINDS[fmt].noun} files {KINDS[fmt].extension}")
    return check_writable(path)


# ---- writing -----------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) and value.size <= 1000:
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, fh):
        self._fh = fh
        self.sha256 = hashlib.sha256()

    def write(self, data):
        self.sha256.update(data)
        return self._fh.write(data)


def check_arrays(arrays: dict) -> None:
    """Refuse, before anything is written, array names and values the container cannot hold."""
    for name, arr in arrays.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise NgramkitError(f"cannot save array name {name!r}: use letters, digits, '_', '.', '-'")
        if not isinstance(arr, np.ndarray):
            raise NgramkitError(f"cannot save state array {name!r}: a {type(arr).__name__}, expected a numpy array")
        if arr.dtype.hasobject:
            raise NgramkitError(f"cannot save state array {name!r}: object dtype would need pickle")


class _Sink:
    """The temporary file as the zip writer sees it; once ``abandoned``, every write and seek is a no-op.

    A signal can interrupt a write at any bytecode, even inside zipfile's own
    ``close`` before it marks itself closed. The temporary file is removed,
    but the half-built ``ZipFile`` and member writer live on in the
    traceback and would finish themselves when collected, writing into the
    closed file ("Exception ignored ... ValueError: seek of closed file"
    under the one-line "Interrupted by SIGINT"). Abandoned, they write nowhere.
    """

    def __init__(self, fh):
        self._fh = fh
        self.abandoned = False

    def write(self, data):
        return len(data) if self.abandoned else self._fh.write(data)

    def tell(self):
        return 0 if self.abandoned else self._fh.tell()

    def seek(self, *args):
        return 0 if self.abandoned else self._fh.seek(*args)

    def flush(self):
        if not self.abandoned:
            self._fh.flush()

    def seekable(self):
        return True


class _ZipWriter(zipfile.ZipFile):
    """A writing ZipFile finished by a successful ``with`` block only: never on an error, never by ``__del__``.

    (``ZipFile.__exit__`` closes on an error too, and its "Can't close the ZIP
    file while there is an open writing handle" replaced the
    KeyboardInterrupt of a signal that arrived while a member was written.)
    """

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()

    def __del__(self):
        pass


def write(path: str | os.PathLike, meta: dict, arrays: dict, *, query: tuple[int, bool] | None = None) -> Path:
    """Write ``arrays`` and ``meta`` (plus its ``"arrays"`` table) to ``path`` atomically. Returns the path.

    ``meta["format"]`` must be one of :data:`KINDS`. ``query``: ``(order,
    suffix_closed)`` of the probing index that ``arrays`` hold (``probe1`` ..
    ``probeN`` and :data:`VOCAB_ARRAYS`): the file then ends with its query
    header (:data:`QUERY_MEMBER`). A failed write leaves no file (and an
    existing one untouched); errors are one-line
    :class:`~ngramkit.errors.NgramkitError` naming ``path``.
    """
    path = Path(path)
    kind = KINDS[meta["format"]]
    check_path(path, meta["format"])
    check_arrays(arrays)
    meta = dict(meta, arrays={})
    _to_json(meta, path)  # refuse unserialisable metadata before writing anything
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as raw:
                sink = _Sink(raw)
                try:
                    with _ZipWriter(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                        spans = {}
                        for name, arr in arrays.items():
                            meta["arrays"][name] = _write_member(zf, sink, name, arr)
                            spans[name] = (sink.tell() - arr.nbytes, arr.nbytes)  # the data ends the member
                        zinfo = zipfile.ZipInfo(META_MEMBER, date_time=_DATE)
                        zinfo.compress_type = zipfile.ZIP_STORED
                        zf.writestr(zinfo, _to_json(meta, path).encode("utf-8"))
                        if query is not None:
                            header = query_header(*query, meta["vocab_size"], spans, zinfo.CRC)
                            _write_member(zf, sink, QUERY_MEMBER[:-len(".npy")], header)
                except BaseException:
                    sink.abandoned = True  # whatever of the zip is left unfinished stays so
                    raise
                raw.flush()
                os.fsync(raw.fileno())
    except OSError as exc:
        raise NgramkitError(f"{path}: cannot write the {kind.noun} file ({exc.strerror or exc})") from None
    return path


def _to_json(meta: dict, path: Path) -> str:
    try:
        return json.dumps(meta, ensure_ascii=False, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise NgramkitError(f"{path}: cannot save: the metadata is not JSON ({exc})") from None


def _write_member(zf: zipfile.ZipFile, raw, name: str, arr: np.ndarray) -> dict:
    member = f"{name}.npy"
    zinfo = zipfile.ZipInfo(member, date_time=_DATE)
    zinfo.compress_type = zipfile.ZIP_STORED
    # Pad the local header's extra field so the member (and with numpy's 64-byte
    # header padding, the array data) starts on a 64-byte boundary.
    # Local header: 30 bytes + name + extra + 20 bytes of zip64 sizes.
    start = raw.tell() + 30 + len(member.encode()) + 20
    pad = -start % _ALIGN
    if 0 < pad < 4:
        pad += _ALIGN
    if pad:
        zinfo.extra = struct.pack("<HH", _PAD_EXTRA_ID, pad - 4) + bytes(pad - 4)
    fh = zf.open(zinfo, "w", force_zip64=True)  # closed on success only: a failed write is abandoned whole
    writer = _HashingWriter(fh)
    _write_npy(writer, np.asarray(arr))
    fh.close()
    return {"file": member, "dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": writer.sha256.hexdigest()}


_CHUNK_BYTES = 16 << 20


def _write_npy(writer, arr: np.ndarray) -> None:
    """``np.lib.format.write_array``'s bytes; a C-contiguous array goes in 16 MiB chunks whose mapped pages are
    released behind (:func:`~ngramkit.outofcore.chunks.iter_chunks`): writing a memory-mapped table larger
    than memory keeps one chunk resident."""
    if arr.ndim == 0 or not arr.flags.c_contiguous:
        np.lib.format.write_array(writer, arr, allow_pickle=False)
        return
    header = np.lib.format.header_data_from_array_1_0(arr)
    try:
        np.lib.format.write_array_header_1_0(writer, header)
    except ValueError:  # a header too long for format 1.0, as write_array decides
        np.lib.format.write_array_header_2_0(writer, header)
    row = max(1, arr.itemsize * (arr.size // max(arr.shape[0], 1)))
    for _, chunk in iter_chunks(arr, max(1, _CHUNK_BYTES // row)):
        writer.write(np.ascontiguousarray(chunk).tobytes())


# ---- reading -----------------------------------------------------------------------------


def peek(path: str | os.PathLike, fmt: str) -> bytes:
    """The first 4 KiB of ``path``, or a one-line error if it is missing, a directory or unreadable."""
    path, noun = Path(path), KINDS[fmt].noun
    if not path.exists():
        raise InputError(f"{path}: no such {noun} file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a {noun} file")
    try:
        with open(path, "rb") as fh:
            return fh.read(4096)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def is_container(head: bytes) -> bool:
    """True when a file's first bytes are a zip signature (what this container always starts with)."""
    return head.startswith(ZIP_MAGIC)


def read_meta(path: str | os.PathLike, fmt: str, version: int) -> dict:
    """The ``meta.json`` of a container file of kind ``fmt``, without reading its arrays."""
    path = Path(path)
    _check_head(path, fmt)
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_meta(zf, path, fmt, version)
    except InputError:
        raise
    except _CORRUPT as exc:
        raise _corrupt(path, KINDS[fmt].noun, exc) from None


def read(path: str | os.PathLike, fmt: str, version: int, *, mmap: bool = True,
         verify=True) -> tuple[dict, dict]:
    """Read a container file of kind ``fmt`` (at most ``version``): ``(meta, arrays)``.

    With ``mmap=True`` the arrays are read-only views of the memory-mapped
    file (64-byte aligned); otherwise private, writable copies. ``verify``
    (a bool, or a function of the metadata returning one) checks every
    array's SHA-256.
    """
    path = Path(path)
    noun = KINDS[fmt].noun
    _check_head(path, fmt)
    try:
        # The headers are read through the file, not the mapping: a mapped file's pages are touched only
        # by what uses the arrays (an unverified load of a large model maps it and touches nothing).
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            fd = fh.fileno()
            size = os.fstat(fd).st_size
            buf = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ)
            meta = _read_meta(zf, path, fmt, version)
            if callable(verify):
                verify = verify(meta)
            view = memoryview(buf)
            arrays = {}
            for name, entry in meta["arrays"].items():
                if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                    raise InputError(f"{path}: corrupt {noun} metadata (array {name!r})")
                try:
                    zinfo = zf.getinfo(entry["file"])
                except KeyError:
                    raise InputError(f"{path}: corrupt {noun} file (array member {entry['file']} missing)") from None
                start, length = _member_span(fd, zinfo, size, path, noun)
                if verify:
                    digest = hashlib.sha256(view[start: start + length]).hexdigest()
                    if digest != entry.get("sha256"):
                        raise InputError(f"{path}: checksum mismatch in array {name!r}: the file is corrupt; "
                                         f"write the {noun} file again")
                arrays[name] = _array_from(buf, fd, start, length, name, path, copy=not mmap)
            view.release()
    except InputError:
        raise
    except _CORRUPT as exc:
        raise _corrupt(path, noun, exc) from None
    if not mmap:
        buf.close()
    return meta, arrays


def _corrupt(path: Path, noun: str, exc: BaseException) -> InputError:
    """The one-line error for a file zipfile/numpy could not parse (``exc``: what they raised)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return InputError(f"{path}: cannot read ({exc.strerror or exc})")
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return InputError(f"{path}: corrupt or truncated {noun} file ({detail})")


def _check_head(path: Path, fmt: str) -> None:
    head = peek(path, fmt)
    if is_container(head):
        return
    kind = KINDS[fmt]
    if not head:
        raise InputError(f"{path}: empty file, expected an ngramkit {kind.noun} file")
    raise InputError(f"{path}: not an ngramkit {kind.noun} file; {kind.make}")


def _read_meta(zf: zipfile.ZipFile, path: Path, fmt: str, version: int) -> dict:
    noun = KINDS[fmt].noun
    try:
        data = zf.read(META_MEMBER)
    except KeyError:
        raise InputError(f"{path}: a zip file without {META_MEMBER}, not an ngramkit {noun} file") from None
    except _CORRUPT as exc:
        raise _corrupt(path, noun, exc) from None
    try:
        meta = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, an integer too long, nesting too deep
        raise InputError(f"{path}: corrupt {noun} metadata ({exc})") from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != fmt:
        if found in KINDS:
            raise InputError(f"{path}: an ngramkit {KINDS[found].noun} file, not a {noun} file; {KINDS[fmt].make}")
        raise InputError(f"{path}: {META_MEMBER} is not ngramkit {noun} metadata (no format {fmt!r})")
    found_version = meta.get("version")
    if not isinstance(found_version, int) or found_version > version:
        raise InputError(f"{path}: {noun} format version {found_version!r} is newer than this ngramkit reads "
                         f"({version}); upgrade ngramkit")
    if not isinstance(meta.get("arrays"), dict):
        raise InputError(f"{path}: corrupt {noun} metadata (field 'arrays' missing or not a dict)")
    return meta


def _member_span(fd: int, zinfo: zipfile.ZipInfo, size: int, path: Path, noun: str) -> tuple[int, int]:
    """(start, length) in the file (open as ``fd``) of a stored member's bytes."""
    if zinfo.compress_type != zipfile.ZIP_STORED:
        raise InputError(f"{path}: member {zinfo.filename} is compressed; the native format stores arrays uncompressed")
    off = zinfo.header_offset
    if off + _LOCAL_HEADER.size > size:
        raise InputError(f"{path}: truncated {noun} file (member {zinfo.filename} is cut off)")
    fields = _LOCAL_HEADER.unpack(os.pread(fd, _LOCAL_HEADER.size, off))
    if fields[0] != ZIP_MAGIC:
        raise InputError(f"{path}: corrupt {noun} file (bad zip header of {zinfo.filename})")
    start = off + _LOCAL_HEADER.size + fields[9] + fields[10]
    length = zinfo.compress_size
    if start + length > size:
        raise InputError(f"{path}: truncated {noun} file (member {zinfo.filename} is cut off)")
    return start, length


def _array_from(buf, fd: int, start: int, length: int, name: str, path: Path, copy: bool) -> np.ndarray:
    """The array stored in ``buf[start: start + length]`` (its ``.npy`` header read through ``fd``)."""
    head = os.pread(fd, min(length, 12), start)  # magic, version, header length: read just the header
    wide = len(head) >= 7 and head[6] >= 2
    fmt = "<I" if wide else "<H"
    at = 8 + struct.calcsize(fmt)
    extra = struct.unpack_from(fmt, head, 8)[0] if len(head) >= at else 0
    header = io.BytesIO(os.pread(fd, min(length, at + extra), start))
    try:
        major, minor = np.lib.format.read_magic(header)
        if (major, minor) == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
        elif major in (2, 3):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
        else:
            raise ValueError(f"unsupported .npy version {major}.{minor}")
    except ValueError as exc:
        raise InputError(f"{path}: corrupt array {name!r} ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{path}: array {name!r} holds Python objects; refusing to unpickle")
    count = int(np.prod(shape, dtype=np.int64))
    data_start = start + header.tell()
    if header.tell() + count * dtype.itemsize != length:
        raise InputError(f"{path}: corrupt array {name!r} (size does not match its header)")
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=data_start)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    return arr.copy(order="K") if copy else arr


# ---- checking values (once per array, vectorised) -----------------------------------------------


def dtype_problem(name: str, arr: np.ndarray, dtype: str, ndim: int | None = None) -> str | None:
    """Why ``arr`` is not what the writer stores as ``name`` (exact ``dtype`` such as ``"<i4"``, ``ndim``), or None."""
    want = np.dtype(dtype)
    if arr.dtype != want:
        return f"array {name!r} is {arr.dtype.str}, expected {want.str}"
    if ndim is not None and arr.ndim != ndim:
        return f"array {name!r} has shape {arr.shape}, expected {ndim} dimensions"
    return None


def check_dtype(path, noun: str, name: str, arr: np.ndarray, dtype: str, ndim: int | None = None) -> np.ndarray:
    """``arr`` if :func:`dtype_problem` finds nothing, else a one-line :class:`InputError` naming ``path``."""
    why = dtype_problem(name, arr, dtype, ndim)
    if why:
        raise InputError(f"{path}: corrupt {noun} file ({why})")
    return arr


def check_ngram_tables(path, noun: str, vocab_size: int, ngrams: list, parents: list, names: list,
                       keys: list | None = None) -> None:
    """Refuse n-gram tables that are inconsistent: per order k, ``ngrams[k-1]`` (M_k, k) ``<i4`` word ids
    in ``0..vocab_size-1``, ``parents[k-1]`` (M_k,) int64 rows of the (k-1)-word prefix (zeros for k = 1),
    every row's prefix equal to its parent's n-gram, rows strictly increasing (unique, sorted).

    ``keys``: the rows' sort keys ``parent * vocab_size + last word`` when the
    caller has them (models store them), else computed here. Vectorised, one
    pass per array: what a crafted file with recomputed checksums would otherwise slip
    past the loader into lookups and C kernels that trust these invariants.
    """
    v = int(vocab_size)
    prev = None
    for k, (g, par, name) in enumerate(zip(ngrams, parents, names), 1):
        def bad(why, name=name):
            return InputError(f"{path}: corrupt {noun} file (order-{k} table {name!r}: {why})")
        if g.ndim != 2 or g.shape[1] != k:
            raise bad(f"shape {g.shape}, expected (M, {k})")
        if par.shape != (g.shape[0],):
            raise bad(f"{g.shape[0]} n-grams but {par.shape} parent rows")
        if g.size and (int(g.min()) < 0 or int(g.max()) >= v):
            raise bad(f"word ids outside the vocabulary of {v} words")
        if k == 1:
            if par.size and (par != 0).any():
                raise bad("unigrams have no parent row")
        else:
            if par.size and (int(par.min()) < 0 or int(par.max()) >= prev.shape[0]):
                raise bad(f"parent rows outside the {prev.shape[0]} rows of order {k - 1}")
            if not all(np.array_equal(prev[:, j][par], g[:, j]) for j in range(k - 1)):
                raise bad("an n-gram's prefix differs from its parent row")
        key = par.astype(np.int64) * v + g[:, -1] if keys is None else keys[k - 1]
        if key.size > 1 and not (key[1:] > key[:-1]).all():
            raise bad("n-grams not unique and sorted")
        prev = g


# ---- the vocabulary, as both records store it ----------------------------------------------


VOCAB_COUNTS = "vocab.counts"  # the array holding the vocabulary's word counts
# A model file (version 2) stores its words as arrays, so that opening it builds nothing (ngramkit.kenlm and
# the fast `ppl` path search them in place, as KenLM's probing binary stores its vocabulary's hash):
VOCAB_WORDS = "vocab.words"  # uint8: the words' UTF-8 bytes (lone surrogates as surrogatepass), concatenated
VOCAB_OFFSETS = "vocab.offsets"  # int64 (V + 1,): word i is words[offsets[i]:offsets[i + 1]]
VOCAB_INDEX = "vocab.index"  # int32 (slots,): FNV-1a open-addressing hash of the words (score.c ngk_vocab_build)
VOCAB_ARRAYS = (VOCAB_WORDS, VOCAB_OFFSETS, VOCAB_INDEX)
_FNV_OFFSET, _FNV_PRIME, _MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def vocab_slots(v: int) -> int:
    """The hash size for ``v`` words: the smallest power of two >= 16 above ``2 * v``."""
    slots = 16
    while slots <= 2 * v:
        slots *= 2
    return slots


def word_hash(word: bytes) -> int:
    """score.c's ``fnv1a``: the 64-bit FNV-1a of the bytes, then ``h ^ (h >> 29)``."""
    h = _FNV_OFFSET
    for byte in word:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return h ^ (h >> 29)


def vocab_arrays(words) -> dict:
    """The arrays :data:`VOCAB_ARRAYS` that store ``words`` (distinct strings) in a model file."""
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    offsets = np.zeros(len(encoded) + 1, "<i8")
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), np.uint8)
    index = np.empty(vocab_slots(len(encoded)), "<i4")
    from .native import extension

    kernel = extension("_score")
    if kernel is not None:
        kernel.vocab_build(blob, offsets, index)
    else:  # the same table, built in Python (and the tests' oracle for the kernel's)
        index.fill(-1)
        mask = len(index) - 1
        for i, word in enumerate(encoded):
            h = word_hash(word) & mask
            while index[h] != -1:
                h = (h + 1) & mask
            index[h] = i
    return {VOCAB_WORDS: blob, VOCAB_OFFSETS: offsets, VOCAB_INDEX: index}


# The query header: a model file whose arrays hold a probing index (a backoff model's probe1 .. probeN and its
# VOCAB_ARRAYS) ends with this member, written after meta.json, so that ngramkit.kenlm opens it by reading the
# file's last few KiB and mapping it (the C reader: ngk_query_header in ngramkit/_kernels/fastppl.c), as KenLM
# opens its binary files. An int64 array: QUERY_MAGIC, QUERY_LAYOUT, meta.json's CRC-32 (ties the header to the
# metadata it was written with), the order, the vocabulary size, whether the index is suffix-closed, then
# (start, bytes) in the file of the data of probe1 .. probeN, vocab.words, vocab.offsets and vocab.index. It is
# not listed in meta.json (whose CRC it holds); check_query_header (load_model(verify=True)) checks it.
QUERY_MEMBER = "query.npy"
QUERY_MAGIC = int.from_bytes(b"ngkquery", "little")
QUERY_LAYOUT = 1


def query_header(order: int, closed: bool, vocab_size: int, spans: dict, meta_crc: int) -> np.ndarray:
    """The query header of a file whose arrays lie at ``spans`` (name: (data start, bytes))."""
    names = [f"probe{k}" for k in range(1, order + 1)] + list(VOCAB_ARRAYS)
    fields = [QUERY_MAGIC, QUERY_LAYOUT, meta_crc, order, vocab_size, int(closed)]
    return np.array(fields + [x for name in names for x in spans[name]], "<i8")


def check_query_header(path: str | os.PathLike, meta: dict) -> None:
    """Full verification of a model file's query header, if it has one: it must be what :func:`query_header`
    gives for the file's arrays and metadata (``meta``, as read); a one-line InputError otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            info = zf.NameToInfo.get(QUERY_MEMBER)
            if info is None:
                return
            fd, noun = fh.fileno(), KINDS[MODEL].noun
            size = os.fstat(fd).st_size
            spans = {}
            for name, entry in meta["arrays"].items():
                start, length = _member_span(fd, zf.getinfo(entry["file"]), size, path, noun)
                head = os.pread(fd, 12, start)  # .npy: magic, version, header length (2 bytes, 4 from version 2)
                data = 10 + int.from_bytes(head[8:10], "little") if head[6] == 1 else 12 + int.from_bytes(head[8:12], "little")
                spans[name] = (start + data, length - data)
            start, length = _member_span(fd, info, size, path, noun)
            stored = np.load(io.BytesIO(os.pread(fd, length, start)), allow_pickle=False)
            state = meta["state"]
            expected = query_header(state["order"], state.get("suffix_closed") is True, meta["vocab_size"], spans,
                                    zf.getinfo(META_MEMBER).CRC)
    except InputError:
        raise
    except (TypeError,) + _CORRUPT as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise _corrupt(path, KINDS[MODEL].noun, exc) from None
        expected = stored = None
    if expected is None or stored.dtype != expected.dtype or not np.array_equal(stored, expected):
        raise InputError(f"{path}: corrupt model file (its query header, {QUERY_MEMBER}, does not match its arrays "
                         "and metadata); write the model file again")


def _stored_words(arrays: dict, path) -> list[str]:
    """The words of a version-2 file's :data:`VOCAB_ARRAYS` (removed from ``arrays``); InputError if damaged."""
    blob, offsets, index = (arrays.pop(name, None) for name in VOCAB_ARRAYS)
    if blob is None or offsets is None or index is None:
        raise InputError(f"{path}: corrupt model file (the vocabulary arrays {', '.join(VOCAB_ARRAYS)} are missing)")
    check_dtype(path, "vocabulary", VOCAB_WORDS, blob, "|u1", 1)
    check_dtype(path, "vocabulary", VOCAB_OFFSETS, offsets, "<i8", 1)
    check_dtype(path, "vocabulary", VOCAB_INDEX, index, "<i4", 1)
    v = len(offsets) - 1
    if (v < 0 or offsets[0] != 0 or offsets[-1] != len(blob) or (np.diff(offsets) < 0).any()
            or len(index) != vocab_slots(v)):
        raise InputError(f"{path}: corrupt vocabulary (its offsets or index do not fit its words)")
    data, bounds = blob.tobytes(), offsets.tolist()
    try:
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(bounds, bounds[1:])]
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: corrupt vocabulary (a word is not UTF-8: {exc.reason})") from None


def vocab_from(meta: dict, arrays: dict, path: str | os.PathLike) -> Vocabulary:
    """The :class:`~ngramkit.vocab.Vocabulary` stored as ``meta["vocab"]`` (counts files, model files of
    version 1) or as the arrays :data:`VOCAB_ARRAYS` (model files of version 2), with the array ``vocab.counts``.

    Removes the vocabulary's arrays from ``arrays`` (they are not state arrays).
    """
    counts = arrays.pop(VOCAB_COUNTS, None)
    if counts is not None:
        check_dtype(path, "vocabulary", VOCAB_COUNTS, counts, "<i8", 1)
    words = meta["vocab"] if "vocab" in meta else _stored_words(arrays, path)
    if "vocab_size" in meta and meta["vocab_size"] != len(words):
        raise InputError(f"{path}: corrupt vocabulary ({len(words)} words stored, meta.json says {meta['vocab_size']})")
    try:
        return Vocabulary(words, None if counts is None else np.asarray(counts))
    except (NgramkitError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt vocabulary ({exc})") from None


# ---- the model record ------------------------------------------------------------------------


def write_model(path: str | os.PathLike, *, kind: str, cls: str, name: str | None, state: dict, arrays: dict,
                vocab: Vocabulary, info: dict | None = None, query: bool = False) -> Path:
    """Write one model record (see the module docstring) atomically. Returns the path.

    ``kind``/``cls``/``name`` say which model it is (:mod:`ngramkit.modelio`
    keeps the table of classes); ``state`` and ``arrays`` are what the
    model's ``get_state()`` returns. ``query``: the arrays hold a probing
    index (``probe1`` .. ``probe{state["order"]}``): write its query header.
    """
    arrays = dict(arrays)
    if VOCAB_COUNTS not in arrays:
        arrays[VOCAB_COUNTS] = np.asarray(vocab.counts, np.int64)
    arrays.update(vocab_arrays(vocab.words))
    meta = {"format": MODEL, "version": MODEL_VERSION, "kind": kind, "class": cls, "name": name, "state": state,
            "vocab_size": len(vocab), "info": info or {}, "ngramkit_version": ngramkit.__version__}
    return write(path, meta, arrays, query=(state["order"], state.get("suffix_closed") is True) if query else None)


def read_model_meta(path: str | os.PathLike) -> dict:
    """The metadata of a model file, its fields checked, without reading its arrays."""
    return _check_model_meta(read_meta(path, MODEL, MODEL_VERSION), Path(path))


def read_model(path: str | os.PathLike, *, mmap: bool = True, verify=True) -> tuple[dict, dict, Vocabulary]:
    """Read a model record: ``(meta, state arrays, vocabulary)`` (see :func:`read` for ``mmap``/``verify``)."""
    meta, arrays = read(path, MODEL, MODEL_VERSION, mmap=mmap, verify=verify)
    _check_model_meta(meta, Path(path))
    return meta, arrays, vocab_from(meta, arrays, path)


def _check_model_meta(meta: dict, path: Path) -> dict:
    stored = (("vocab", list),) if meta.get("version") == 1 else (("vocab_size", int),)  # version 2: VOCAB_ARRAYS
    for key, kind in (("kind", str), ("class", str), ("state", dict), *stored, ("arrays", dict)):
        if not isinstance(meta.get(key), kind):
            raise InputError(f"{path}: corrupt model metadata (field {key!r} missing or not a {kind.__name__})")
    return meta
