"""Saving and loading language models: ARPA or the native format.

Input of :func:`save_model`: a fitted model (any n-gram model of
:mod:`ngramkit.models`, or an RNN model of :mod:`ngramkit.rnn`) and a path.
Output of :func:`load_model`: a model with the same ``log_probs`` (natural
log) as the one saved: identical for the native format, within 1e-6 for ARPA
(log10 text, rounded).

Which format:

- a path ending in ``.arpa`` or ``.arpa.gz`` is written as ARPA text
  (:mod:`ngramkit.arpa`; n-gram models only);
- any other path is written in the native format: a model record in
  ngramkit's container (:mod:`ngramkit.npzfile`: an uncompressed, aligned zip
  of ``.npy`` arrays plus ``meta.json``, every array SHA-256-summed,
  memory-mapped on load), conventionally named ``.ngk``. ``.ngc`` is refused:
  it is the extension of n-gram counts files. Backoff models store the C
  scorer's probing index too (``probe1 .. probeN``), so the query path
  (``load_model(verify="auto")``: ``ngramkit ppl``, ``ngramkit.kenlm``) maps
  the file and scores without building or hashing anything (see
  :func:`load_model` for what is checked when).

:func:`load_model` recognises the format by the file's first bytes (a zip
signature is the native format; gzip data or text starting with ``\\data\\``
is ARPA), so a model can be loaded whatever it is called; a counts file
given as a model is a one-line error saying so.

This is the one module that knows both model families: :data:`MODEL_CLASSES`
maps the class name stored in a file to its kind and class, and only classes
in that table are saved or loaded. A file's ``state`` is the model's own
metadata as its ``get_state()`` returns it; ``info`` is free-form context
the caller passes (the CLI stores the training corpus and its text options
there so ``ngramkit ppl`` tokenises test text the same way). Failed saves
leave nothing behind; a corrupt, truncated or foreign file raises one-line
:class:`~ngramkit.errors.InputError`. No pickle is ever written or read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import arpa, compact, npzfile
from .errors import InputError, NgramkitError
from .fileio import atomic_path, check_writable
from .models import CLASSES, MODELS, BackoffModel, CountModel
from .models.backoff import PROBE_PREFIX, compiled_kernel, stored_index
from .models.lookup import PROBE_LAYOUT, probe_index
from .rnn import RNNLM, TrainingCheckpoint
from .vocab import BOS_ID

ARPA_SUFFIXES = (".arpa", ".arpa.gz")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ModelClass:
    """How one model class is stored: its family, its registry name and how a file becomes a model."""

    kind: str  # "ngram" or "rnn" (the file's "kind")
    name: str | None  # the file's "name": the --smoothing name ("mkn"), "rnn", or None (BackoffModel)
    cls: type  # the class save_model accepts
    from_state: Callable  # (state, arrays, vocab) -> the model load_model returns


_NGRAM_NAMES = {cls: name for name, cls in reversed(MODELS.items())}  # the first name wins

# Class name (the file's "class") -> how it is saved and loaded. Only these classes are written or read.
MODEL_CLASSES: dict[str, ModelClass] = {
    **{name: ModelClass("ngram", _NGRAM_NAMES.get(cls), cls, cls.from_state) for name, cls in CLASSES.items()},
    "RNNLM": ModelClass("rnn", "rnn", RNNLM, RNNLM.from_state),
    # a training checkpoint loads as its model, so `ngramkit ppl --model CKPT/last.ngk` works mid-run
    "TrainingCheckpoint": ModelClass("rnn", "rnn", TrainingCheckpoint, TrainingCheckpoint.model_from_state),
    # the quantised compact format (.ngq, ngramkit.compact): scored as it is mapped, checked by compact.check_state
    "CompactModel": ModelClass("ngram", "compact", compact.CompactModel, compact.CompactModel.from_state),
}


def is_arpa_path(path: str | os.PathLike) -> bool:
    """True when ``path`` is named like an ARPA file (``.arpa`` or ``.arpa.gz``)."""
    return str(path).lower().endswith(ARPA_SUFFIXES)


def model_class(model) -> ModelClass:
    """The :data:`MODEL_CLASSES` entry of ``model``'s class, or a one-line error if it cannot be saved."""
    entry = MODEL_CLASSES.get(type(model).__name__)
    if entry is None or entry.cls is not type(model):
        raise NgramkitError(f"cannot save a {type(model).__name__}: save_model writes the n-gram models of "
                            "ngramkit.models and ngramkit.rnn.RNNLM (see ngramkit.modelio.MODEL_CLASSES)")
    return entry


# ---- saving ----------------------------------------------------------------


def save_model(model, path: str | os.PathLike, *, info: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (ARPA by extension, else native), atomically.

    ``info`` (a JSON-serialisable dict) is stored in the native file's
    metadata and returned by :func:`read_metadata`; ARPA files ignore it.
    Returns the path written.
    """
    path = Path(path)
    entry = model_class(model)
    if is_arpa_path(path):
        if entry.kind == "rnn":
            raise NgramkitError(f"{path}: an RNN model cannot be written as ARPA; use another extension (.ngk)")
        check_writable(path)
        try:
            with atomic_path(path) as tmp:
                # write_arpa compresses by the name it is given; keep the suffix on the temporary file.
                tmp_named = tmp.with_name(tmp.name + (".arpa.gz" if str(path).lower().endswith(".gz") else ".arpa"))
                try:
                    arpa.write_arpa(model, tmp_named)
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
    state, arrays = model.get_state()
    vocab = getattr(model, "vocab", None)
    if vocab is None:
        raise NgramkitError(f"cannot save a {type(model).__name__}: it has no vocabulary (is it fitted?)")
    order = state.get("order")
    query = (query_safe({"class": type(model).__name__, "kind": entry.kind, "state": state}) and type(order) is int
             and all(f"probe{k}" in arrays for k in range(1, order + 1)))  # a probing index: the query header
    return npzfile.write_model(path, kind=entry.kind, cls=type(model).__name__, name=entry.name, state=dict(state),
                               arrays=dict(arrays), vocab=vocab, info=info, query=query)


# ---- loading ---------------------------------------------------------------


def _sniff(path: Path) -> str:
    """'native', 'arpa' or raise: decided from the first bytes, not the name."""
    head = npzfile.peek(path, npzfile.MODEL)
    if npzfile.is_container(head):
        return "native"
    if head.startswith(_GZIP_MAGIC) or head.startswith(arpa.KENLM_BINARY_MAGIC):
        return "arpa"  # the ARPA reader decompresses gzip and names a KenLM binary for what it is
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


def file_format(path: str | os.PathLike) -> str:
    """``"native"`` or ``"arpa"``, from the file's first bytes (a one-line error for anything else)."""
    return _sniff(Path(path))


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file without loading its arrays.

    Native files return their ``meta.json`` (see :mod:`ngramkit.npzfile`);
    ARPA files return ``{"format": "arpa", "kind": "ngram", "info": {}}``.
    """
    path = Path(path)
    if _sniff(path) == "arpa":
        return {"format": "arpa", "kind": "ngram", "info": {}}
    return npzfile.read_model_meta(path)


def _entry(meta: dict, path: Path) -> ModelClass:
    """The table entry named by the metadata (only classes in :data:`MODEL_CLASSES` are loaded)."""
    kind, name = meta["kind"], meta["class"]
    if kind not in {entry.kind for entry in MODEL_CLASSES.values()}:
        raise InputError(f"{path}: unknown model kind {kind!r}; was it written by a newer ngramkit?")
    entry = MODEL_CLASSES.get(name)
    if entry is None or entry.kind != kind:
        raise InputError(f"{path}: unknown {kind} model class {name!r}; was it written by a newer ngramkit?")
    return entry


AUTO = "auto"  # load_model(verify=AUTO): what the query paths (ppl, ngramkit.kenlm) use


def query_safe(meta: dict) -> bool:
    """True when a native model file's metadata says it stores the probing index of a backoff model
    (:data:`~ngramkit.models.lookup.PROBE_LAYOUT`): then scoring reads nothing but that index and the
    vocabulary, and the C scorer bounds every lookup, so no bytes of the file can crash it or make it
    read outside the mapping (a corrupt file gives wrong numbers, never a fault)."""
    state, name = meta.get("state"), meta.get("class")
    entry = MODEL_CLASSES.get(name) if isinstance(name, str) else None
    probe = state.get("probe") if isinstance(state, dict) else None
    if entry is not None and entry.cls is compact.CompactModel and meta.get("kind") == "ngram":
        return True  # its scorer clamps every pointer it reads; the geometry is checked at every load
    return (entry is not None and entry.kind == meta.get("kind") == "ngram" and issubclass(entry.cls, BackoffModel)
            and isinstance(probe, dict) and probe.get("layout") == PROBE_LAYOUT)


def load_model(path: str | os.PathLike, *, mmap: bool = True, verify: bool | str = True):
    """Load a model saved by :func:`save_model` (native) or any ARPA file.

    ``mmap``: memory-map the native file's arrays instead of reading them.
    What is checked (native format; dtypes, shapes, the zip structure and
    the metadata's CRC always):

    - ``verify=True``: the SHA-256 of every array, the values of the arrays
      (:func:`check_state`), a stored probing index against one built
      from the n-gram tables, and the query header against the arrays and
      metadata (:func:`ngramkit.npzfile.check_query_header`; full
      verification: training paths, ``convert``, ``ppl --verify``);
    - ``verify=False``: nothing more (the file is trusted); a stored probing
      index's geometry is still checked;
    - ``verify="auto"`` (:data:`AUTO`, the query path: ``ngramkit ppl``,
      ``ngramkit.kenlm.Model``): ``False`` for a file that stores the probing
      index of a backoff model (:func:`query_safe`: opening it maps the file
      and reads its header, nothing else), ``True`` for any other file.

    Raises :class:`~ngramkit.errors.InputError` (one line) for a missing,
    corrupt, truncated or foreign file, or a counts file.
    """
    path = Path(path)
    if _sniff(path) == "arpa":
        return arpa.read_arpa(path)
    if verify == AUTO:
        check = lambda meta: not query_safe(meta)  # noqa: E731 - decided once the metadata is read
    elif isinstance(verify, bool):
        check = verify
    else:
        raise ValueError(f"verify must be True, False or {AUTO!r}, got {verify!r}")
    meta, arrays, vocab = npzfile.read_model(path, mmap=mmap, verify=check)
    verify = check(meta) if callable(check) else check
    entry = _entry(meta, path)
    check_state(entry, meta["state"], arrays, len(vocab), path, values=verify)
    if verify:
        npzfile.check_query_header(path, meta)  # what ngramkit.kenlm opens the file by
    try:
        return entry.from_state(meta["state"], arrays, vocab)
    except NgramkitError as exc:
        raise InputError(f"{path}: cannot rebuild the {meta['class']} model ({exc})") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, NotImplementedError) as exc:
        raise InputError(f"{path}: corrupt model state for {meta['class']} ({type(exc).__name__}: {exc})") from None


def check_state(entry: ModelClass, state: dict, arrays: dict, vocab_size: int, path: str | os.PathLike, *,
                values: bool = True) -> None:
    """Refuse a model file whose arrays have other dtypes or invalid values (once per array, vectorised).

    The checksums only say the file is as written; a crafted file with
    recomputed checksums must not reach the scorers (C kernels index with
    these ids) or print nonsense perplexities. N-gram tables: ``<i4`` word
    ids in the vocabulary, ``<i8`` keys consistent with them (parent row x V
    + last word, rows sorted), log10 probabilities ``<f8`` <= 0 (NaN only
    for a context-only entry: ``<s>`` or a row some longer n-gram uses as its
    context; -inf: probability 0), backoffs finite, counts >= 1.
    RNN: ``<f4`` weights, all finite (optimiser state included),
    ``to_kernel`` a permutation of the vocabulary ids, ``class_bounds``
    increasing from 0 to V.

    A stored probing index (arrays ``probe1 .. probeN``) must have the
    geometry its n-gram tables give it; with ``values`` it must equal the
    index built from the (checked) tables, bit for bit, and a stored
    ``suffix_closed`` must be true of them.

    ``values=False`` (``load_model(verify=False)``: the file is trusted)
    checks the dtypes and shapes only, not one value: that keeps an unverified
    load at the cost of mapping the file.
    """
    v = int(vocab_size)

    def bad(why):
        return InputError(f"{path}: corrupt model state for {entry.cls.__name__} ({why})")

    def dtype(name, want, ndim=None):
        if name not in arrays:
            raise bad(f"array {name!r} missing")
        why = npzfile.dtype_problem(name, arrays[name], want, ndim)
        if why:
            raise bad(why)
        return arrays[name]

    if entry.cls is compact.CompactModel:
        compact.check_state(state, arrays, v, path, values=values)
        return
    if entry.kind == "rnn":
        for name, arr in arrays.items():
            if name in ("to_kernel", "class_bounds"):
                continue
            dtype(name, "<f4")
            if values and not np.isfinite(arr).all():
                raise bad(f"array {name!r} holds NaN or infinite weights")
        perm = dtype("to_kernel", "<i4", 1)
        if perm.shape != (v,) or values and not np.array_equal(np.sort(perm), np.arange(v, dtype=np.int32)):
            raise bad(f"array 'to_kernel' is not a permutation of the {v} vocabulary ids")
        if "class_bounds" in arrays:
            b = dtype("class_bounds", "<i4", 1)
            if b.size < 2 or b[0] != 0 or b[-1] != v or values and not (np.diff(b) > 0).all():
                raise bad(f"array 'class_bounds' does not rise from 0 to {v}")
        return
    order = state.get("order")
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= 64:
        raise bad(f"order {order!r}")
    orders = range(1, order + 1)
    grams = [dtype(f"ngrams{k}", "<i4") for k in orders]
    keys = [dtype(f"keys{k}", "<i8", 1) for k in orders]
    for k, g, key in zip(orders, grams, keys):
        if g.ndim != 2 or g.shape[1] != k or key.shape != (g.shape[0],):
            raise bad(f"order-{k} arrays have shapes {g.shape} and {key.shape}")
    if values:
        parents = [key // v for key in keys]  # keys = parent row x V + last word
        for k, g, key, parent in zip(orders, grams, keys, parents):
            if key.size and int(key.min()) < 0:
                raise bad(f"negative key in 'keys{k}'")
            if not np.array_equal(key - parent * v, g[:, -1]):
                raise bad(f"'keys{k}' do not match the n-grams' last words")
        # the parents must be the rows of the n-grams' prefixes, the keys strictly increasing
        npzfile.check_ngram_tables(path, "model", v, grams, parents, [f"ngrams{k}" for k in orders], keys=keys)
    if issubclass(entry.cls, BackoffModel):
        for k in orders:
            p = dtype(f"logp10_{k}", "<f8", 1)
            b = dtype(f"backoff10_{k}", "<f8", 1)
            if p.shape != keys[k - 1].shape or b.shape != keys[k - 1].shape:
                raise bad(f"order-{k} probabilities/backoffs do not match its {keys[k - 1].size} n-grams")
            if not values:
                continue
            if (p > 0).any():  # +inf included
                raise bad(f"array 'logp10_{k}' holds log10 probabilities above 0")
            nan = np.isnan(p)
            if nan.any():  # NaN marks a context-only entry: a row some (k+1)-gram uses as its context
                context = np.zeros(p.size, bool)
                if k < order:
                    context[parents[k]] = True
                if k == 1:
                    context[grams[0][:, 0] == BOS_ID] = True  # <s>: context only, whatever the order
                if (nan & ~context).any():
                    raise bad(f"array 'logp10_{k}' holds NaN for an n-gram that is no context")
            if not np.isfinite(b).all():
                raise bad(f"array 'backoff10_{k}' holds NaN or infinite backoffs")
        try:
            index = stored_index(state, arrays, [key.size for key in keys], v)
        except NgramkitError as exc:
            raise bad(str(exc)) from None
        kernel = compiled_kernel()
        if values and index is not None and kernel is not None:
            logp = [arrays[f"logp10_{k}"] for k in orders]
            backoff = [arrays[f"backoff10_{k}"] for k in orders]
            rebuilt, closed = probe_index(keys, logp, backoff, v, kernel, check_suffixes=True)
            for k, (got, want) in enumerate(zip(index, rebuilt), 1):
                if not np.array_equal(got, want):
                    raise bad(f"array '{PROBE_PREFIX}{k}' is not the probing index of the n-gram tables")
            if state.get("suffix_closed") is True and not closed:
                raise bad("'suffix_closed' is true but some n-gram's suffix is not in the model")
    elif issubclass(entry.cls, CountModel):
        for k in orders:
            c = dtype(f"counts{k}", "<i8", 1)
            if c.shape != keys[k - 1].shape or (values and c.size and int(c.min()) < 1):
                raise bad(f"array 'counts{k}' does not hold one count >= 1 per n-gram")
