"""SIGINT and SIGTERM at start-up, while counting/training and while writing: one line, 130/143, nothing left.

Real ``ngramkit`` processes (the console script), signalled at a point each
test waits for: start-up = the process has installed its SIGTERM handler
(seen in /proc/PID/status) and is still importing; counting/training = the
command's first progress line on stderr; writing = a temporary file
(``.NAME.*.tmp``) has appeared next to the output.

stderr is told apart like this: a *progress line* ends with "..." or is a
stage line of ngramkit.progress ("counting: ...", "downloading ...",
"epoch N/M ..."), or the RNN's summary line;
every other line is a *message*. After a signal there must be exactly one
message, "Interrupted by SIGINT/SIGTERM; ...", and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ngramkit.errors import Interrupted
from ngramkit.fileio import atomic_path, unwind_on_signals
from process import NGRAMKIT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc/self/status").exists(),
                                reason="needs POSIX signals and /proc (Linux)")

COMMAND = NGRAMKIT
PROGRESS = re.compile(r"^(counting: .*|downloading .*|.*\.\.\.|epoch \d+/\d+ .*|RNNLM\(.*)$")
OLD = b"previous output, must survive\n"
WAIT = 120  # seconds: only a bound against a hung test, never a timing assertion


def _catches_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    return bool(mask >> (signal.SIGTERM - 1) & 1)


def run_and_signal(args, cwd: Path, sig: int, when: str):
    """Start ``ngramkit ARGS`` in cwd, send ``sig`` once ``when`` holds; (returncode, stderr lines)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(COMMAND + list(args), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(ln.decode("utf-8", "replace").rstrip("\n")
                                                          for ln in proc.stderr), daemon=True)
    reader.start()
    start = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ngramkit {' '.join(args)} ended (rc {proc.returncode}) before '{when}': "
                            f"{lines[-3:]}")
            if when == "start-up":
                ready = _catches_sigterm(proc.pid)
            elif when == "writing":
                ready = any(cwd.rglob(".*.tmp"))
            else:  # a stderr line starting with `when`
                ready = any(ln.startswith(when) for ln in list(lines))
            if ready:
                break
            assert time.monotonic() - start < WAIT, f"'{when}' never happened"
            time.sleep(0.001)
        proc.send_signal(sig)
        proc.wait(timeout=WAIT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
    reader.join(timeout=WAIT)
    return proc.returncode, lines


def check_clean_interrupt(rc, lines, sig, folder: Path, before: set, allowed_new=()):
    text = "\n".join(lines)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    messages = [ln for ln in lines if not PROGRESS.match(ln)]
    assert len(messages) == 1, lines
    assert messages[0].startswith(f"Interrupted by {signal.Signals(sig).name}"), lines
    assert rc == 128 + sig, (rc, lines)
    assert not list(folder.rglob("*.tmp")), "temporary file left"
    new = {p.name for p in folder.iterdir()} - before
    assert new <= set(allowed_new), f"new files: {new}"
    assert (folder / "out.ngk").read_bytes() == OLD  # the previous outputs are untouched
    assert (folder / "out.ngc").read_bytes() == OLD


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "out.ngk").write_bytes(OLD)  # a previous model
    (tmp_path / "out.ngc").write_bytes(OLD)  # a previous counts file
    return tmp_path


COUNT = ["count", "--corpus", "ptb", "--order", "5", "--top", "0", "--output", "out.ngc"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["start-up", "counting", "writing"])
def test_count_interrupted(sig, when, folder):
    before = {p.name for p in folder.iterdir()}
    rc, lines = run_and_signal(COUNT, folder, sig, when)
    check_clean_interrupt(rc, lines, sig, folder, before)


def test_train_ngram_interrupted_while_writing(folder):
    before = {p.name for p in folder.iterdir()}
    rc, lines = run_and_signal(["train", "ngram", "--corpus", "ptb", "--order", "3", "-o", "out.ngk"], folder,
                               signal.SIGTERM, "writing")
    check_clean_interrupt(rc, lines, signal.SIGTERM, folder, before)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_train_rnn_interrupted_while_training(sig, folder):
    """The checkpoint folder of the interrupted run may stay (it is what --resume reads), never a temp file."""
    before = {p.name for p in folder.iterdir()}
    args = ["train", "rnn", "--corpus", "timemachine", "--hidden", "64", "--epochs", "50", "-q", "-o", "out.ngk"]
    rc, lines = run_and_signal(args, folder, sig, "start-up")
    check_clean_interrupt(rc, lines, sig, folder, before, allowed_new={"out.ngk.ckpt"})
    # Again once training has run for a moment (-q: the signal's line is the only stderr line).
    proc = subprocess.Popen(COMMAND + args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = folder / "out.ngk.ckpt"
    start = time.monotonic()
    while proc.poll() is None and not any(ckpt.glob("*.ngk")) and time.monotonic() - start < WAIT:
        time.sleep(0.002)  # the first checkpoint: training is under way
    proc.send_signal(sig)
    err = proc.communicate(timeout=WAIT)[1].decode()
    check_clean_interrupt(proc.returncode, err.splitlines(), sig, folder, before, allowed_new={"out.ngk.ckpt"})


# ---- the mechanisms, in-process ----------------------------------------------------------------------

@pytest.fixture
def saved_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_unwind_on_signals_raises_once_then_ignores(sig, saved_handlers, tmp_path):
    target = tmp_path / "x.bin"
    with pytest.raises(Interrupted) as info:
        with unwind_on_signals():
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"partial")
                os.kill(os.getpid(), sig)
                for _ in range(1000):  # the handler runs at the next bytecode boundary
                    pass
    assert info.value.exit_code == 128 + sig and isinstance(info.value, KeyboardInterrupt)
    assert not list(tmp_path.iterdir())
    assert signal.getsignal(sig) == signal.SIG_IGN  # repeated signals do not cut the unwinding short
    os.kill(os.getpid(), sig)  # ignored: no exception, the test process lives on


def test_unwind_on_signals_restores_handlers_when_nothing_arrives(saved_handlers):
    before = signal.getsignal(signal.SIGTERM)
    with unwind_on_signals():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("victim", ["close", "open"])
def test_interrupt_right_after_the_temp_file_is_created_leaves_nothing(victim, tmp_path, monkeypatch):
    """The window of the old code: mkstemp had created the file, the cleanup was not registered yet."""
    import ngramkit.fileio as fileio

    real = getattr(os, victim)

    def then_interrupt(*args, **kwargs):
        result = real(*args, **kwargs)  # the file exists now
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, victim, then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "x.bin"):
            pass
    monkeypatch.undo()
    assert not list(tmp_path.iterdir())


def test_ptb_is_available(data_dir):
    """The signal tests need a corpus whose counting and writing take long enough to be caught."""
    assert (data_dir / "ptb" / "ptb.train.txt").stat().st_size > 4_000_000
    assert shutil.which(COMMAND[0]) or Path(COMMAND[0]).exists()
