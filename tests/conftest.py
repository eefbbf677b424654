"""Shared fixtures: where the reference corpora and KenLM outputs live.

Tests read corpora from NGRAMKIT_DATA; when it is unset they default to
``<repo>/../shared/corpora`` (the layout of the development machines and CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("NGRAMKIT_DATA", str(REPO.parent / "shared" / "corpora"))
os.environ.setdefault("MPLBACKEND", "Agg")
DATA = Path(os.environ["NGRAMKIT_DATA"])
REFERENCE = Path(os.environ.get("NGRAMKIT_REFERENCE", REPO.parent / "shared" / "reference"))

if not (DATA / "timemachine.txt").is_file():
    raise pytest.UsageError(
        f"NGRAMKIT_DATA={DATA} does not hold timemachine.txt; point it at a copy of shared/corpora"
    )


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder with timemachine.txt and ptb/ptb.{train,valid,test}.txt."""
    return DATA


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder with KenLM's reference ARPA files (shared/reference)."""
    return REFERENCE


@pytest.fixture(scope="session")
def timemachine_path(data_dir) -> Path:
    return data_dir / "timemachine.txt"


@pytest.fixture(scope="session")
def ptb_dir(data_dir) -> Path:
    return data_dir / "ptb"
