"""Saving and loading language models: ARPA or the native format.

Input of :func:`save_model`: a fitted model (any n-gram model of
:mod:`ngramkit.models`, or an RNN model of :mod:`ngramkit.rnn`) and a path.
Output of :func:`load_model`: a model with the same ``log_probs`` (natural
log) as the one saved: identical for the native format, within 1e-6 for ARPA
(log10 text, rounded).

Which format:

- a path ending in ``.arpa`` or ``.arpa.gz`` is written as ARPA text
  (:mod:`ngramkit.arpa`; n-gram models only);
- any other path is written in the native format described below.

:func:`load_model` recognises the format by the file's first bytes (a zip
signature is the native format; gzip data or text starting with ``\\data\\``
is ARPA), so a model can be loaded whatever it is called.

The native format is one file: an *uncompressed* zip archive (a valid
``.npz``; ``np.load(path)`` and ``unzip -l`` can inspect it) holding

- one ``<name>.npy`` member per state array, each stored uncompressed and
  aligned to 64 bytes inside the file, so loading memory-maps them instead
  of reading them (``mmap=True``);
- ``meta.json`` (UTF-8 JSON), the last member::

    {"format": "ngramkit-model", "version": 1, "kind": "ngram" | "rnn",
     "class": "ModifiedKneserNey", "name": "mkn", "state": {...},
     "vocab": ["<unk>", "<s>", "</s>", "<pad>", ...],
     "arrays": {"<name>": {"file": "<name>.npy", "dtype": "<i4", "shape": [..],
                           "sha256": "..."}},
     "info": {...}, "ngramkit_version": "..."}

  ``state`` is the model's own metadata (order, hyper-parameters) as
  returned by its ``get_state()``; ``info`` is free-form context the caller
  passes (the CLI stores the training corpus and its text options there so
  ``ngramkit ppl`` tokenises test text the same way).

Integrity: the SHA-256 of every ``.npy`` member (header and data) is checked
on load unless ``verify=False`` (hashing runs at about 1 GB/s; a PTB 5-gram
model is checked in a few tens of milliseconds); ``meta.json`` is covered by
the zip CRC-32. A corrupt, truncated or foreign file raises one-line
:class:`~ngramkit.errors.InputError`. Files are written to a temporary name
and renamed (:mod:`ngramkit.fileio`), so a failed save leaves nothing. No
pickle is ever written or read.
"""

from __future__ import annotations

import hashlib
import io
import json
import mmap as _mmap
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError, NgramkitError
from .fileio import atomic_path, check_writable

FORMAT = "ngramkit-model"
VERSION = 1
META_MEMBER = "meta.json"
ARPA_SUFFIXES = (".arpa", ".arpa.gz")
_ALIGN = 64  # numpy's own .npy header alignment; keeps memory-mapped arrays aligned
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_MAGIC = b"\x1f\x8b"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_PAD_EXTRA_ID = 0xD935  # the extra-field id Android's zipalign uses for padding
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: equal models give equal files


def is_arpa_path(path: str | os.PathLike) -> bool:
    """True when ``path`` is named like an ARPA file (``.arpa`` or ``.arpa.gz``)."""
    return str(path).lower().endswith(ARPA_SUFFIXES)


# ---- saving ----------------------------------------------------------------


def _model_kind(model) -> str:
    module = type(model).__module__
    if module == "ngramkit.rnn" or module.startswith("ngramkit.rnn."):
        return "rnn"
    return "ngram"


def _model_name(model) -> str | None:
    """The registry name ("mkn", "laplace", ...) of an n-gram model's class, if it has one."""
    try:
        from .models import MODELS
    except ImportError:
        return None
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    return None


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


def _get_state(model):
    if not hasattr(model, "get_state"):
        raise NgramkitError(
            f"cannot save a {type(model).__name__}: it has no get_state(); save n-gram or RNN models"
        )
    meta, arrays = model.get_state()
    return dict(meta), dict(arrays)


def save_model(model, path: str | os.PathLike, *, info: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (ARPA by extension, else native), atomically.

    ``info`` (a JSON-serialisable dict) is stored in the native file's
    metadata and returned by :func:`read_metadata`; ARPA files ignore it.
    Returns the path written.
    """
    path = Path(path)
    if is_arpa_path(path):
        if _model_kind(model) == "rnn":
            raise NgramkitError(f"{path}: an RNN model cannot be written as ARPA; use another extension (.ngk)")
        from .arpa import write_arpa

        check_writable(path)
        try:
            with atomic_path(path) as tmp:
                # write_arpa compresses by the name it is given; keep the suffix on the temporary file.
                tmp_named = tmp.with_name(tmp.name + (".arpa.gz" if str(path).lower().endswith(".gz") else ".arpa"))
                try:
                    write_arpa(model, tmp_named)
                    os.replace(tmp_named, tmp)
                finally:
                    if tmp_named.exists():
                        tmp_named.unlink()
        except OSError as exc:
            raise NgramkitError(f"{path}: cannot write the model ({exc.strerror or exc})") from None
        return path
    if path.suffix.lower() in (".gz", ".bz2", ".xz", ".zst"):
        raise NgramkitError(
            f"{path}: the native format is not compressed (it is memory-mapped); "
            "name it e.g. .ngk, or use .arpa.gz for gzipped ARPA"
        )
    try:
        _save_native(model, path, info or {})
    except OSError as exc:
        raise NgramkitError(f"{path}: cannot write the model ({exc.strerror or exc})") from None
    return path


def _save_native(model, path: Path, info: dict) -> None:
    from . import __version__

    kind = _model_kind(model)
    state, arrays = _get_state(model)
    vocab = getattr(model, "vocab", None)
    if vocab is None:
        raise NgramkitError(f"cannot save a {type(model).__name__}: it has no vocabulary (is it fitted?)")
    arrays = dict(arrays)
    if "vocab.counts" not in arrays:
        arrays["vocab.counts"] = np.asarray(vocab.counts, np.int64)
    for name, arr in arrays.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise NgramkitError(f"cannot save array name {name!r}: use letters, digits, '_', '.', '-'")
        if not isinstance(arr, np.ndarray):
            raise NgramkitError(f"cannot save state array {name!r}: a {type(arr).__name__}, expected a numpy array")
        if arr.dtype.hasobject:
            raise NgramkitError(f"cannot save state array {name!r}: object dtype would need pickle")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "class": type(model).__name__,
        "name": _model_name(model) if kind == "ngram" else "rnn",
        "state": state,
        "vocab": list(vocab.words),
        "arrays": {},
        "info": info,
        "ngramkit_version": __version__,
    }
    check_writable(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, arr in arrays.items():
                    member = f"{name}.npy"
                    zinfo = zipfile.ZipInfo(member, date_time=_DATE)
                    zinfo.compress_type = zipfile.ZIP_STORED
                    # Pad the local header's extra field so the member (and with numpy's
                    # 64-byte header padding, the array data) starts on a 64-byte boundary.
                    # Local header: 30 bytes + name + extra + 20 bytes of zip64 sizes.
                    start = raw.tell() + 30 + len(member.encode()) + 20
                    pad = -start % _ALIGN
                    if 0 < pad < 4:
                        pad += _ALIGN
                    if pad:
                        zinfo.extra = struct.pack("<HH", _PAD_EXTRA_ID, pad - 4) + bytes(pad - 4)
                    with zf.open(zinfo, "w", force_zip64=True) as fh:
                        writer = _HashingWriter(fh)
                        np.lib.format.write_array(writer, np.asarray(arr), allow_pickle=False)
                    meta["arrays"][name] = {
                        "file": member,
                        "dtype": np.asarray(arr).dtype.str,
                        "shape": list(np.shape(arr)),
                        "sha256": writer.sha256.hexdigest(),
                    }
                try:
                    text = json.dumps(meta, ensure_ascii=False, default=_json_default, allow_nan=True)
                except TypeError as exc:
                    raise NgramkitError(f"cannot save {type(model).__name__}: its state is not JSON ({exc})") from None
                zinfo = zipfile.ZipInfo(META_MEMBER, date_time=_DATE)
                zinfo.compress_type = zipfile.ZIP_STORED
                zf.writestr(zinfo, text.encode("utf-8"))
            raw.flush()
            os.fsync(raw.fileno())


# ---- loading ---------------------------------------------------------------


def _sniff(path: Path) -> str:
    """'native', 'arpa' or raise: decided from the first bytes, not the name."""
    if not path.exists():
        raise InputError(f"{path}: no such model file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a model file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(_ZIP_MAGIC):
        return "native"
    if head.startswith(_GZIP_MAGIC):
        return "arpa"
    text = head.lstrip(b"\xef\xbb\xbf")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        if line == b"\\data\\":
            return "arpa"
        break
    if not head:
        raise InputError(f"{path}: empty file, expected an ngramkit model or an ARPA file")
    if is_arpa_path(path):
        return "arpa"  # let the ARPA reader say what is wrong, with a line number
    raise InputError(
        f"{path}: not a model file (neither the native ngramkit format nor ARPA text); "
        "train one with `ngramkit train`"
    )


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file without loading its arrays.

    Native files return their ``meta.json`` (see the module docstring);
    ARPA files return ``{"format": "arpa", "kind": "ngram", "info": {}}``.
    """
    path = Path(path)
    if _sniff(path) == "arpa":
        return {"format": "arpa", "kind": "ngram", "info": {}}
    try:
        with zipfile.ZipFile(path) as zf:
            return _read_meta(zf, path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: corrupt or truncated model file ({exc})") from None


def _read_meta(zf: zipfile.ZipFile, path: Path) -> dict:
    try:
        data = zf.read(META_MEMBER)
    except KeyError:
        raise InputError(f"{path}: a zip file without {META_MEMBER}, not an ngramkit model") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path}: corrupt or truncated model file ({exc})") from None
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: corrupt model metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: {META_MEMBER} is not ngramkit model metadata (no format {FORMAT!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise InputError(
            f"{path}: model format version {version!r} is newer than this ngramkit reads ({VERSION}); upgrade ngramkit"
        )
    for key, kind in (("kind", str), ("class", str), ("state", dict), ("vocab", list), ("arrays", dict)):
        if not isinstance(meta.get(key), kind):
            raise InputError(f"{path}: corrupt model metadata (field {key!r} missing or not a {kind.__name__})")
    return meta


def _member_span(buf, zinfo: zipfile.ZipInfo, size: int, path: Path) -> tuple[int, int]:
    """(start, length) in the file of a stored member's bytes."""
    if zinfo.compress_type != zipfile.ZIP_STORED:
        raise InputError(f"{path}: member {zinfo.filename} is compressed; the native format stores arrays uncompressed")
    off = zinfo.header_offset
    if off + _LOCAL_HEADER.size > size:
        raise InputError(f"{path}: truncated model file (member {zinfo.filename} is cut off)")
    fields = _LOCAL_HEADER.unpack_from(buf, off)
    if fields[0] != _ZIP_MAGIC:
        raise InputError(f"{path}: corrupt model file (bad zip header of {zinfo.filename})")
    start = off + _LOCAL_HEADER.size + fields[9] + fields[10]
    length = zinfo.compress_size
    if start + length > size:
        raise InputError(f"{path}: truncated model file (member {zinfo.filename} is cut off)")
    return start, length


def _array_from(buf, start: int, length: int, name: str, path: Path, copy: bool) -> np.ndarray:
    header = io.BytesIO(bytes(buf[start : start + min(length, 65536)]))
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


def load_state(path: str | os.PathLike, *, mmap: bool = True, verify: bool = True):
    """Read a native model file: ``(meta, arrays)`` with arrays as numpy arrays.

    With ``mmap=True`` the arrays are read-only views of the memory-mapped
    file; otherwise they are private copies.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind != "native":
        raise InputError(f"{path}: an ARPA file, not the native format; load it with load_model()")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ)
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise InputError(f"{path}: corrupt or truncated model file ({exc})") from None
        with zf:
            meta = _read_meta(zf, path)
            view = memoryview(buf)
            arrays = {}
            for name, entry in meta["arrays"].items():
                if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                    raise InputError(f"{path}: corrupt model metadata (array {name!r})")
                try:
                    zinfo = zf.getinfo(entry["file"])
                except KeyError:
                    raise InputError(f"{path}: corrupt model file (array member {entry['file']} missing)") from None
                start, length = _member_span(buf, zinfo, size, path)
                if verify:
                    digest = hashlib.sha256(view[start : start + length]).hexdigest()
                    if digest != entry.get("sha256"):
                        raise InputError(
                            f"{path}: checksum mismatch in array {name!r}: the file is corrupt; "
                            "save or train the model again"
                        )
                arrays[name] = _array_from(buf, start, length, name, path, copy=not mmap)
            view.release()
    except InputError:
        raise
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise InputError(f"{path}: corrupt or truncated model file ({exc})") from None
    if not mmap:
        buf.close()
    return meta, arrays


def _vocab_from(meta: dict, arrays: dict, path: Path):
    from .vocab import Vocabulary

    counts = arrays.pop("vocab.counts", None)
    try:
        return Vocabulary(meta["vocab"], None if counts is None else np.asarray(counts))
    except (NgramkitError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt vocabulary ({exc})") from None


def _model_class(meta: dict, path: Path):
    """The class named by the metadata, only among the concrete classes that can be loaded."""
    kind, name = meta["kind"], meta["class"]
    if kind == "ngram":
        from .models import CLASSES

        known = dict(CLASSES)
    elif kind == "rnn":
        try:
            from . import rnn
        except ImportError as exc:
            raise InputError(f"{path}: an RNN model, but ngramkit.rnn cannot be imported ({exc})") from None
        known = {n: getattr(rnn, n) for n in ("RNNLM", "TrainingCheckpoint") if hasattr(rnn, n)}
    else:
        raise InputError(f"{path}: unknown model kind {kind!r}; was it written by a newer ngramkit?")
    if name not in known:
        raise InputError(f"{path}: unknown {kind} model class {name!r}; was it written by a newer ngramkit?")
    return known[name]


def load_model(path: str | os.PathLike, *, mmap: bool = True, verify: bool = True):
    """Load a model saved by :func:`save_model` (native) or any ARPA file.

    ``mmap``: memory-map the native file's arrays instead of reading them.
    ``verify``: check the SHA-256 of every array (native format only).
    Raises :class:`~ngramkit.errors.InputError` (one line) for a missing,
    corrupt, truncated or foreign file.
    """
    path = Path(path)
    if _sniff(path) == "arpa":
        from .arpa import read_arpa

        return read_arpa(path)
    meta, arrays = load_state(path, mmap=mmap, verify=verify)
    vocab = _vocab_from(meta, arrays, path)
    cls = _model_class(meta, path)
    try:
        return cls.from_state(meta["state"], arrays, vocab)
    except NgramkitError as exc:
        raise InputError(f"{path}: cannot rebuild the {meta['class']} model ({exc})") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, NotImplementedError) as exc:
        raise InputError(f"{path}: corrupt model state for {meta['class']} ({type(exc).__name__}: {exc})") from None
