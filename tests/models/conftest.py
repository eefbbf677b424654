"""Fixtures of the model tests: PTB as the KenLM references read it (the timemachine ones: tests/conftest.py)."""

from __future__ import annotations

import pytest

from oracles import token_lines


@pytest.fixture(scope="session")
def ptb_unk(ptb_dir):
    """PTB train/valid/test with the literal <unk> renamed UNK, as for the KenLM references."""
    return {split: token_lines(ptb_dir / f"ptb.{split}.txt", unk_to="UNK") for split in ("train", "valid", "test")}
