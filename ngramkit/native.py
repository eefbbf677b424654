"""The compiled kernels: one loader and one ``NGRAMKIT_IMPL`` rule for all of them.

Input: an extension's name, one of :data:`EXTENSIONS` (``_count``,
``_score``, ``_rnn``, ``_optim``, ``_arpa``, ``_merge``, ``_sample``, ``_compact``,
``_fastppl``, the C modules ``pip install`` builds from
``ngramkit/_kernels``), and the environment variable ``NGRAMKIT_IMPL``,
read at every call so that tests and benchmarks can switch it. Output: the
compiled module, or None where the caller runs its numpy reference (the
same maths; the tests require the two to agree).

The rule, the same for every extension:

- unset, empty or ``auto``: the compiled module if it imports; if it does
  not, a ``RuntimeWarning`` (once per extension, already at ``import
  ngramkit`` when the file is absent: :func:`warn_missing`) says what runs
  slower and how to build the kernels, and None (never a silent slowdown);
- ``c``: the compiled module is required; a missing one is an
  :class:`~ngramkit.errors.NgramkitError`;
- ``numpy``: None everywhere (the reference);
- anything else: an :class:`~ngramkit.errors.NgramkitError`.
"""

from __future__ import annotations

import os
import sys
from _imp import extension_suffixes

# importlib and warnings are imported where they are used: `import ngramkit` (every command's start, the fast
# `ppl` path's included) stays free of them.

from .errors import NgramkitError

CHOICES = ("auto", "c", "numpy")

# What runs on the numpy reference when an extension is missing, and how much slower (benchmarks/results).
EXTENSIONS = {
    "_count": "text scanning and n-gram counting run on the Python/numpy reference, ~3x slower "
              "(bench_count: PTB trigrams 9.4M vs 2.7M tokens/s)",
    "_score": "n-gram scoring runs on the numpy reference (one searchsorted pass per order), several times slower",
    "_rnn": "the RNN recurrence and softmax run on the numpy reference, 10-100x slower "
            "(bench_kernels: backward passes 60-70x)",
    "_optim": "the RNN's embedding gradients and optimiser updates run in numpy, several times slower",
    "_arpa": "ARPA files are read and written by the Python/numpy reference, several times slower "
             "(bench_arpa: PTB order 5 read 4.5x, write_arpa 8x slower)",
    "_merge": "out-of-core counting merges its sorted runs in numpy (one order at a time in memory), "
              "slower and over the memory budget",
    "_sample": "text generation at temperature 1 (sample_ids, generate) runs the numpy reference, "
               "~10-15x slower (PTB 5-gram: ~0.12M vs 1.7M tokens/s per thread)",
    "_compact": "quantised compact models (.ngq) are packed in numpy and scored by unpacking them into a "
                "backoff model first (several times slower to open and score)",
    "_fastppl": "`ngramkit ppl --model M FILE` always runs its normal path (click, numpy): the same numbers, "
                "~0.2 s slower per run",
}

REBUILD = ("reinstall with a C compiler and the Python headers: pip install --force-reinstall --no-binary ngramkit "
           "ngramkit, or from a clone: pip install .")

_missing: dict[str, str] = {}  # name -> why its import failed: a missing extension is looked for once
_warned: set[str] = set()


def requested() -> str:
    """The value of ``NGRAMKIT_IMPL``: ``"auto"`` (unset or empty), ``"c"`` or ``"numpy"``; else NgramkitError."""
    want = os.environ.get("NGRAMKIT_IMPL", "").strip().lower() or "auto"
    if want not in CHOICES:
        raise NgramkitError(f"NGRAMKIT_IMPL must be one of {', '.join(CHOICES)}, got {want!r}")
    return want


def extension(name: str):
    """The compiled module ``ngramkit.<name>``, or None for the numpy reference (see the module docstring)."""
    if name not in EXTENSIONS:
        raise ValueError(f"unknown ngramkit extension {name!r}; one of {', '.join(EXTENSIONS)}")
    want = requested()
    if want == "numpy":
        return None
    full = f"ngramkit.{name}"
    module = sys.modules.get(full)
    if module is not None:
        return module
    why = _missing.get(name)
    if why is None:
        import importlib

        try:
            return importlib.import_module(full)
        except ImportError as exc:
            why = _missing[name] = str(exc) or type(exc).__name__
    if want == "c":
        raise NgramkitError(f"NGRAMKIT_IMPL=c but the compiled extension {full} is missing ({why}); {REBUILD}")
    _warn(name, why, stacklevel=4)
    return None


def _warn(name: str, why: str, stacklevel: int) -> None:
    if name not in _warned:
        import warnings

        _warned.add(name)
        warnings.warn(f"ngramkit.{name} (compiled kernel) is missing ({why}): {EXTENSIONS[name]}. To get the "
                      f"compiled build, {REBUILD}; NGRAMKIT_IMPL=numpy chooses the reference without this warning.",
                      RuntimeWarning, stacklevel=stacklevel)


def warn_missing() -> None:
    """At ``import ngramkit``: the warning of :func:`extension` for every extension that was not built.

    Cheap (one listing of this package's folder; nothing is imported). Only
    under ``auto``: with ``NGRAMKIT_IMPL=numpy`` nothing is missed, with
    ``c`` (or an unknown value) the first use fails with one line instead.
    """
    if os.environ.get("NGRAMKIT_IMPL", "").strip().lower() not in ("", "auto"):
        return
    built = _built()
    for name in EXTENSIONS:
        if f"ngramkit.{name}" in sys.modules or name in _warned:
            continue
        if name not in built:
            _missing[name] = "not built"
            _warn(name, "not built", stacklevel=3)


def _built() -> set:
    """The names of the compiled modules beside this file (one directory listing: no import machinery, which
    costs every `ngramkit` start, the fast `ppl` path's included, a millisecond or two)."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        files = os.listdir(folder)
    except OSError:
        return set()
    return {f[: -len(suffix)] for f in files for suffix in extension_suffixes() if f.endswith(suffix)}


def implementation(name: str) -> str:
    """``"c"`` or ``"numpy"``: which implementation of extension ``name`` the next call will use."""
    return "numpy" if extension(name) is None else "c"
