"""ngramkit's one JSON convention: every command's ``--json`` and the compare report go through here.

Input: a dict of plain values (numbers, strings, booleans, None, lists,
dicts; numpy scalars and small arrays, tuples and paths are accepted).
Output: strict JSON text (RFC 8259: no ``NaN``/``Infinity`` literals),
indented by 2 spaces, with ``"schema"`` (:data:`SCHEMA`) first.

The rules (README "JSON output" lists the shared key names):

- a non-finite float becomes ``null`` and a companion key
  ``<key>_nonfinite`` says what it was: ``"inf"``, ``"-inf"`` or ``"nan"``;
  in a list, the companion (beside the list) maps each such item's index
  (``"3"``, or ``"3.1"`` in a list of lists) to that word;
- paths end in ``_file`` (``_dir`` for directories), perplexities in
  ``ppl``, times in ``seconds``; one key per concept in every command.

Model files keep their own metadata format (:mod:`ngramkit.npzfile`
round-trips NaN there on purpose); this module is for reports.

>>> print(dumps({"ppl": float("inf"), "tokens": 3}, command="ppl"))
{
  "schema": "ngramkit/1",
  "command": "ppl",
  "ppl": null,
  "ppl_nonfinite": "inf",
  "tokens": 3
}
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

SCHEMA = "ngramkit/1"  # bump when a key changes meaning or disappears
INDENT = 2
NONFINITE_SUFFIX = "_nonfinite"


def _word(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _convert(value):
    """(JSON-ready value, marks): marks is None, a word for a non-finite scalar, or {index path: word} for a list."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value), None
    if isinstance(value, (int, np.integer)):
        return int(value), None
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return (x, None) if math.isfinite(x) else (None, _word(x))
    if isinstance(value, np.ndarray):
        return _convert(value.tolist())
    if isinstance(value, dict):
        return jsonable(value), None
    if isinstance(value, (list, tuple)):
        items, marks = [], {}
        for i, item in enumerate(value):
            converted, mark = _convert(item)
            items.append(converted)
            if isinstance(mark, str):
                marks[str(i)] = mark
            elif mark:
                marks.update({f"{i}.{path}": word for path, word in mark.items()})
        return items, (marks or None)
    if isinstance(value, os.PathLike):
        return os.fspath(value), None
    if value is None or isinstance(value, str):
        return value, None
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def jsonable(obj: dict) -> dict:
    """``obj`` with every value JSON-ready: non-finite floats become null plus a ``<key>_nonfinite`` companion.

    >>> jsonable({"x": [1.0, float("nan")], "n": np.int64(2)})
    {'x': [1.0, None], 'x_nonfinite': {'1': 'nan'}, 'n': 2}
    """
    if not isinstance(obj, dict):
        raise TypeError(f"expected a dict, got {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        key = str(key)
        converted, marks = _convert(value)
        out[key] = converted
        if marks is not None:
            companion = key + NONFINITE_SUFFIX
            if companion in obj:
                raise ValueError(f"key {companion!r} is reserved for the non-finite marks of {key!r}")
            out[companion] = marks
    return out


def dumps(obj: dict, *, command: str | None = None) -> str:
    """``obj`` as ngramkit's JSON text: ``schema`` (and ``command``) first, then :func:`jsonable` of ``obj``."""
    head = {"schema": SCHEMA}
    if command is not None:
        head["command"] = command
    body = jsonable(obj)
    for key in head:
        if key in body and body[key] != head[key]:
            raise ValueError(f"key {key!r} is reserved")
    return json.dumps({**head, **body}, indent=INDENT, ensure_ascii=False, allow_nan=False)


def source_fields(source) -> dict:
    """The shared keys naming the text a command read (a :class:`ngramkit.sources.Source`).

    ``source``: the label (``ptb (test)``, or the files as given);
    ``corpus``/``split``: the registry corpus and split, null for files;
    ``files``: the paths as given (empty for a corpus).
    """
    return {"source": source.title, "corpus": source.corpus, "split": source.split, "files": list(source.files)}
