"""Every docstring example in ngramkit runs and prints what it says.

The modules are found on disk, not by a list: every ``.py`` file under the
``ngramkit`` package folder (recursively), and under the folders installed
as ``ngramkit.cli`` and ``ngramkit.corpora``. Each is imported (a module that
cannot be imported fails its test; none is skipped) and run through
``doctest.testmod``.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import ngramkit

REPO = Path(__file__).resolve().parent.parent
# package name -> source folder (pyproject.toml's package-dir)
ROOTS = {"ngramkit": Path(ngramkit.__file__).resolve().parent, "ngramkit.cli": REPO / "cli",
         "ngramkit.corpora": REPO / "corpora"}


def module_names() -> list[str]:
    names = set()
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.add(".".join([package, *parts]))
    return sorted(names)


MODULES = module_names()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output)"


def test_the_walk_finds_the_modules_with_examples():
    """The walk reaches the subpackages, and testmod runs the examples it should find."""
    for name in ("ngramkit.rnn.wordclasses", "ngramkit.models.counted", "ngramkit.cli.main", "ngramkit.corpora",
                 "ngramkit.lm"):
        assert name in MODULES
    attempted = {name: doctest.testmod(importlib.import_module(name)).attempted
                 for name in ("ngramkit.vocab", "ngramkit.text", "ngramkit.zipf", "ngramkit.corpora",
                              "ngramkit.rnn.wordclasses")}
    assert attempted["ngramkit.vocab"] >= 2 and attempted["ngramkit.text"] >= 2
    assert attempted["ngramkit.zipf"] >= 3 and attempted["ngramkit.corpora"] >= 2
    assert attempted["ngramkit.rnn.wordclasses"] >= 5
