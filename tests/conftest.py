"""Shared fixtures: where the reference corpora and KenLM outputs live.

Tests read corpora from NGRAMKIT_DATA; when it is unset they default to
``<repo>/../shared/corpora`` (the layout of the development machines and CI).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("NGRAMKIT_DATA", str(REPO.parent / "shared" / "corpora"))
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(REPO / "tests"))  # tests/oracles.py, shared with the benchmarks

from ngramkit import NGramCounts, Stream, TextOptions, Vocabulary, read_sentences  # noqa: E402
from oracles import token_lines  # noqa: E402

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


@pytest.fixture(scope="session")
def tm_sentences(reference_dir):
    """timemachine.d2l.txt: the exact text KenLM's timemachine references were built from."""
    return token_lines(reference_dir / "timemachine.d2l.txt")


@pytest.fixture(scope="session")
def tm_vocab(tm_sentences):
    return Vocabulary.build(tm_sentences)


@pytest.fixture(scope="session")
def tm_stream(tm_sentences, tm_vocab):
    return Stream.from_sentences(tm_sentences, tm_vocab)


@pytest.fixture(scope="session")
def tm_counts(tm_stream):
    """Counts of orders 1..5 (models of lower order fit from them too)."""
    return NGramCounts.from_stream(tm_stream, 5)


@pytest.fixture(scope="session")
def tm_raw_sentences(timemachine_path):
    """The raw timemachine.txt read with the d2l normalisation."""
    return read_sentences([timemachine_path], TextOptions(normalize="d2l"))


@pytest.fixture(scope="session")
def tm_raw_counts3(tm_raw_sentences):
    return NGramCounts.from_sentences(tm_raw_sentences, 3)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty NGRAMKIT_DATA (not created yet) and no mirror from the environment."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NGRAMKIT_DATA", str(folder))
    monkeypatch.delenv("NGRAMKIT_MIRROR", raising=False)
    return folder
