"""Every writing command on a full disk and on /dev/full: one line, exit 1, nothing partial, the old file kept.

Full disk: a 1 MB tmpfs mounted for this module (``mount -t tmpfs``: needs
root or CAP_SYS_ADMIN; skipped, not failed, where mounting is not allowed)
holding the previous outputs (``prev.ngk``, ``prev.ngc``) and a filler file
that leaves either nothing or 48 kB free (the write then fails part-way).
``/dev/full``: as an output file and as standard output (real processes).

The checks are test_bad_inputs.check: exit code, exactly one message line
naming the file, no traceback, no new (or temporary) file in the output
folder, the previous outputs unchanged.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # test_bad_inputs: the table's helpers and fixture
from test_bad_inputs import OLD, _fill, check, inputs, run_in_process  # noqa: E402, F401 - inputs: a fixture
from process import NGRAMKIT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs and /dev/full are Linux's")

RNN = ["--valid", "{good}", "--epochs", "2", "--hidden", "8", "-q"]




# id -> (argv writing into {out}, the name the message must contain, marks)
DISK_CASES = {
    "count-output": (["count", "{good}", "--output", "{out}/prev.ngc"], "prev.ngc", ()),
    "train-ngram-output": (["train", "ngram", "{good}", "-o", "{out}/prev.ngk"], "prev.ngk", ()),
    "train-ngram-arpa-output": (["train", "ngram", "{good}", "-o", "{out}/new.arpa"], "new.arpa", ()),
    "train-rnn-output": (["train", "rnn", "{good}", *RNN, "-o", "{out}/prev.ngk"], "prev.ngk", ()),
    "train-rnn-log": (["train", "rnn", "{good}", *RNN, "-o", "{elsewhere}/m.ngk", "--log", "{out}/log.json"],
                      "log.json", ()),
    "train-rnn-checkpoint": (["train", "rnn", "{good}", *RNN, "-o", "{elsewhere}/m.ngk", "--checkpoint",
                              "{out}/ckpt"], "ckpt", ()),
    "compare-markdown": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models",
                          "mle:1", "-q", "--markdown", "{out}/r.md"], "r.md", ()),
    "compare-csv": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models", "mle:1",
                     "-q", "--csv", "{out}/r.csv"], "r.csv", ()),
    "compare-plot": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models", "mle:1",
                      "-q", "--plot", "{out}/r.png"], "r.png", ()),
    "compare-out": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models",
                     "mle:1,kn:2", "-q", "--out", "{out}/models"], "models", ()),
    "zipf-plot": (["zipf", "{good}", "--plot", "{out}/z.png"], "z.png", ()),
}


def _mount_tmpfs(where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory):
    where = tmp_path_factory.mktemp("tmpfs")
    if not _mount_tmpfs(where):
        pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def _fill_up(folder: Path, leave: int) -> None:
    """Write a filler file until the file system is full, then give back ``leave`` bytes."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


# Outputs larger than 8 kB also run with 8 kB free: the write then fails part-way, not at its first byte.
PART_WAY = {"count-output", "train-ngram-output", "train-ngram-arpa-output", "train-rnn-output", "compare-plot",
            "compare-out", "zipf-plot"}
NEARLY = 8 * 1024


@pytest.fixture
def disk(tmpfs):
    """A fresh folder on the tmpfs with the previous outputs; ``fill(leave)`` then takes the free space."""
    out = tmpfs / uuid.uuid4().hex[:8]
    out.mkdir()
    (out / "prev.ngk").write_bytes(OLD)
    (out / "prev.ngc").write_bytes(OLD)
    try:
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _disk_params():
    for case_id, (argv, needle, marks) in DISK_CASES.items():
        for leave in (0, NEARLY) if case_id in PART_WAY else (0,):
            yield pytest.param(argv, needle, leave, id=f"{'full' if not leave else 'nearly-full'}-{case_id}",
                               marks=marks)


@pytest.mark.parametrize("argv, needle, leave", list(_disk_params()))
def test_full_disk(argv, needle, leave, inputs, disk, tmp_path):  # noqa: F811
    _fill_up(disk, leave)
    before = sorted(p.name for p in disk.iterdir())
    argv = [a.replace("{elsewhere}", str(tmp_path)) for a in argv]
    rc, stderr = run_in_process(_fill(argv, inputs, disk))
    check(rc, stderr, 1, needle, disk, before)


@pytest.mark.parametrize("leave", [0, NEARLY])
def test_the_filler_really_fills_the_disk(leave, disk):
    """The premise of the cases above: no room for more than ``leave`` bytes (plus a page of slack)."""
    _fill_up(disk, leave)
    fd = os.open(disk / "probe.bin", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError) as info:
            os.write(fd, b"x" * (leave + 65536))
            os.write(fd, b"x" * (leave + 65536))  # a short first write: the second one fails
    finally:
        os.close(fd)
    assert info.value.errno == errno.ENOSPC
    assert (disk / "probe.bin").stat().st_size <= leave + 4096


# ---- /dev/full ------------------------------------------------------------------------------------------

DEV_FULL_FILES = {  # /dev/full as the output file
    "compare-markdown": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models",
                          "mle:1", "--markdown", "/dev/full"], ()),
    "compare-csv": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models", "mle:1",
                     "--csv", "/dev/full"], ()),
    "train-rnn-output": (["train", "rnn", "{good}", *RNN, "-o", "/dev/full"], ()),
    "train-rnn-log": (["train", "rnn", "{good}", *RNN, "-o", "{out}/new.ngk", "--log", "/dev/full"], ()),
}


@pytest.mark.parametrize("argv", [pytest.param(a, id=i, marks=m) for i, (a, m) in DEV_FULL_FILES.items()])
def test_dev_full_as_output_file(argv, inputs, tmp_path):  # noqa: F811
    (tmp_path / "prev.ngk").write_bytes(OLD)
    (tmp_path / "prev.ngc").write_bytes(OLD)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, stderr = run_in_process(_fill(argv, inputs, tmp_path))
    check(rc, stderr, 1, "/dev/full", tmp_path, before)


DEV_FULL_STDOUT = {  # standard output is /dev/full (count, generate and ppl --json are in test_bad_inputs)
    "ppl": (["ppl", "-m", "{model}", "{good}"], ()),
    "generate-json": (["generate", "-m", "{model}", "-n", "5", "--json"], ()),
    "count-json": (["count", "{good}", "--json"], ()),
    "zipf": (["zipf", "{good}"], ()),
    "compare": (["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}", "--models", "mle:1", "-q"],
                ()),
}


@pytest.mark.parametrize("argv", [pytest.param(a, id=i, marks=m) for i, (a, m) in DEV_FULL_STDOUT.items()])
def test_dev_full_as_standard_output(argv, inputs, tmp_path):  # noqa: F811
    (tmp_path / "prev.ngk").write_bytes(OLD)
    (tmp_path / "prev.ngc").write_bytes(OLD)
    before = sorted(p.name for p in tmp_path.iterdir())
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*NGRAMKIT, *_fill(argv, inputs, tmp_path)],
                              stdout=full, stderr=subprocess.PIPE, timeout=300)
    check(proc.returncode, proc.stderr.decode("utf-8", "replace"), 1, "standard output", tmp_path, before)
