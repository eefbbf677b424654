"""Memory budget parsing and the per-run temp folder (ngramkit.outofcore.budget)."""

from __future__ import annotations

import errno
import os

import pytest

from ngramkit.errors import InputError, NgramkitError, ParameterError
from ngramkit.outofcore.budget import TempSpace, default_memory, parse_memory, physical_memory


@pytest.mark.parametrize("text,expected", [("4G", 4 << 30), ("512M", 512 << 20), ("100K", 102400), ("1000", 1000),
                                           ("1.5k", 1536), ("2GiB", 2 << 30), ("3MB", 3 << 20), (" 7 ", 7), (4096, 4096)])
def test_sizes(text, expected):
    assert parse_memory(text) == expected


def test_shares_and_default():
    ram = physical_memory()
    assert parse_memory("40%") == int(ram * 0.4) == default_memory() == parse_memory(None)
    assert parse_memory("100%") == ram


@pytest.mark.parametrize("bad", ["0", "-1G", "12X", "200%", "0%", "", "G", "1.2.3M", 0, -5, True, 1.5])
def test_bad_values_name_the_parameter(bad):
    with pytest.raises(ParameterError) as info:
        parse_memory(bad, "memory")
    assert info.value.param == "memory" and "\n" not in str(info.value)


def test_tempspace_removed_on_success_and_error(tmp_path):
    with TempSpace(tmp_path) as space:
        p = space.path("a")
        with space.writing(p, 10):
            p.write_bytes(b"x" * 10)
        with space.writing(space.path("b"), 5):
            space.folder.joinpath("00002-b").write_bytes(b"y" * 5)
        assert space.used == 15 and space.peak == 15
        space.remove(p)
        assert space.used == 5 and space.peak == 15 and not p.exists()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with TempSpace(tmp_path) as space:
            space.path("c").write_bytes(b"z")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        with TempSpace(tmp_path) as space:
            space.path("d").write_bytes(b"z")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_tempspace_disk_full_is_one_line(tmp_path):
    with TempSpace(tmp_path) as space:
        p = space.path("run")
        with pytest.raises(InputError) as info:
            with space.writing(p, 1 << 20):
                p.write_bytes(b"partial")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(p))
        msg = str(info.value)
        assert msg.startswith(f"--temp {tmp_path}:") and "no space left" in msg and "1.0 MiB" in msg and "\n" not in msg
        assert not p.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_temp_folder(tmp_path):
    with pytest.raises(NgramkitError, match="does not exist"):
        TempSpace(tmp_path / "missing")
    (tmp_path / "f").write_text("x")
    with pytest.raises(NgramkitError, match="is not a directory"):
        TempSpace(tmp_path / "f")
