"""Atomic writes: the destination appears whole or not at all, with a normal file mode."""

import os
import stat

import pytest

from ngramkit.errors import NgramkitError
from ngramkit.fileio import atomic_open, check_writable


def test_success_replaces_and_mode_matches_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_open(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert sorted(os.listdir(tmp_path)) == ["out.txt", "plain.txt"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing" / "f.txt", "does not exist"),
    (lambda p: p, "is a directory"),
    (lambda p: __import__("pathlib").Path("/dev/null"), "not a regular file"),
])
def test_unwritable_destinations(tmp_path, make, message):
    with pytest.raises(NgramkitError, match=message):
        check_writable(make(tmp_path))
