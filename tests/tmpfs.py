"""A small tmpfs for full-disk tests: mounted where the machine allows it, else the test is skipped."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(path, size_bytes: int):
    """Mount a tmpfs of ``size_bytes`` (rounded up to 4 KiB pages) at ``path`` for the block; skip if not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    pages = -(-size_bytes // 4096)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * 4096}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # a memory-mapped file still open: detach


def fill(path) -> None:
    """Fill the file system holding folder ``path`` up to its last byte with the file ``path/filler``."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for block in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * block)
                except OSError:
                    break
    finally:
        os.close(fd)
