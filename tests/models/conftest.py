"""Fixtures of the model tests: the KenLM reference inputs, read once per session."""

from __future__ import annotations

import pytest

from ngramkit import NGramCounts, Stream, Vocabulary


def _lines(path, unk_to=None):
    with open(path, encoding="utf-8") as fh:
        out = []
        for line in fh:
            if unk_to is not None:
                line = line.replace("<unk>", unk_to)
            words = line.split()
            if words:
                out.append(words)
    return out


@pytest.fixture(scope="session")
def tm_sentences(reference_dir):
    """timemachine.d2l.txt: the exact text KenLM's timemachine references were built from."""
    return _lines(reference_dir / "timemachine.d2l.txt")


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
def ptb_unk(ptb_dir):
    """PTB train/valid/test with the literal <unk> renamed UNK, as for the KenLM references."""
    return {split: _lines(ptb_dir / f"ptb.{split}.txt", unk_to="UNK") for split in ("train", "valid", "test")}
