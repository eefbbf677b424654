"""NGRAMKIT_IMPL=bogus through the commands: one line naming the variable and its choices, exit 1, no traceback.

Oracle: the rule of ngramkit.native (the same wording for every kernel).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

ERROR = "Error: NGRAMKIT_IMPL must be one of auto, c, numpy, got 'bogus'"


@pytest.fixture(scope="module")
def text(timemachine_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("impl") / "t.txt"
    lines = [line for line in timemachine_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("\n".join(lines[:150]) + "\n", encoding="utf-8")
    return path


# One command per kernel that runs first: _count (count, zipf, train ngram), _rnn (train rnn).
@pytest.mark.parametrize("args", [
    ["count", "{text}"],
    ["zipf", "{text}"],
    ["train", "ngram", "{text}", "-o", "{out}/m.ngk"],
    ["train", "rnn", "{text}", "--valid", "{text}", "--hidden", "8", "--epochs", "1", "-o", "{out}/r.ngk"],
], ids=lambda a: " ".join(a[:2]))
def test_bogus_impl_is_one_line_error_exit_1(text, tmp_path, monkeypatch, args):
    monkeypatch.setenv("NGRAMKIT_IMPL", "bogus")
    argv = [a.format(text=text, out=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "ngramkit.cli.main", *argv], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == ERROR
    assert proc.stderr.count("NGRAMKIT_IMPL") == 1
    assert not list(tmp_path.glob("*.ngk*"))  # nothing written
