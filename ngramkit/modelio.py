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
  of ``.npy`` arrays plus ``meta.json``, every array SHA-256-checked,
  memory-mapped on load), conventionally named ``.ngk``. ``.ngc`` is refused:
  it is the extension of n-gram counts files.

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

from . import arpa, npzfile
from .errors import InputError, NgramkitError
from .fileio import atomic_path, check_writable
from .models import CLASSES, MODELS
from .rnn import RNNLM, TrainingCheckpoint

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
    return npzfile.write_model(path, kind=entry.kind, cls=type(model).__name__, name=entry.name, state=dict(state),
                               arrays=dict(arrays), vocab=vocab, info=info)


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


def load_model(path: str | os.PathLike, *, mmap: bool = True, verify: bool = True):
    """Load a model saved by :func:`save_model` (native) or any ARPA file.

    ``mmap``: memory-map the native file's arrays instead of reading them.
    ``verify``: check the SHA-256 of every array (native format only).
    Raises :class:`~ngramkit.errors.InputError` (one line) for a missing,
    corrupt, truncated or foreign file, or a counts file.
    """
    path = Path(path)
    if _sniff(path) == "arpa":
        return arpa.read_arpa(path)
    meta, arrays, vocab = npzfile.read_model(path, mmap=mmap, verify=verify)
    entry = _entry(meta, path)
    try:
        return entry.from_state(meta["state"], arrays, vocab)
    except NgramkitError as exc:
        raise InputError(f"{path}: cannot rebuild the {meta['class']} model ({exc})") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, NotImplementedError) as exc:
        raise InputError(f"{path}: corrupt model state for {meta['class']} ({type(exc).__name__}: {exc})") from None
