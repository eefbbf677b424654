"""`ngramkit count --memory/--temp` and `train ngram --memory/--temp`: same results, bad values, cleanup.

CliRunner for the results and usage errors; real processes (the console
script) for SIGINT/SIGTERM, with tests/robustness/test_signals.py's helper.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clierrors import error_line
from ngramkit.cli.main import cli
from ngramkit.counts import NGramCounts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "robustness"))
from test_signals import PROGRESS, run_and_signal  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(cli, [*map(str, args)])


def test_count_memory_writes_the_same_ngc(ptb_dir, tmp_path):
    text = ptb_dir / "ptb.valid.txt"
    temp = tmp_path / "temp"
    temp.mkdir()
    spilled = invoke("count", text, "--order", "4", "--memory", "1M", "--temp", temp, "--json", "--top", "3",
                     "--output", tmp_path / "a.ngc")
    plain = invoke("count", text, "--order", "4", "--json", "--top", "3", "--output", tmp_path / "b.ngc")
    assert spilled.exit_code == 0 and plain.exit_code == 0, (spilled.output, plain.output)
    a, b = json.loads(spilled.stdout), json.loads(plain.stdout)
    assert a["memory"]["spilled"] and a["memory"]["runs"] > 1 and a["memory"]["temp_peak_bytes"] > 0
    assert a["memory"]["budget_bytes"] == 1 << 20
    assert not b["memory"]["spilled"] and b["memory"]["temp_peak_bytes"] == 0
    for info in (a, b):
        del info["memory"], info["counts_file"]
    assert a == b  # the statistics and top-k, computed in chunks from the mapped arrays
    assert (tmp_path / "a.ngc").read_bytes() == (tmp_path / "b.ngc").read_bytes()
    x = NGramCounts.load(tmp_path / "a.ngc")
    assert all(np.array_equal(x.parent(k), NGramCounts.load(tmp_path / "b.ngc").parent(k)) for k in range(1, 5))
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("smoothing, output", [("mkn", "m.arpa"), ("mkn", "m.ngk"), ("witten-bell", "m.arpa"),
                                                ("kn", "m.ngk")])
def test_train_ngram_memory_same_model(ptb_dir, tmp_path, smoothing, output):
    """A budget small enough that counting AND estimation go to --temp gives the same bytes, and cleans up."""
    text = ptb_dir / "ptb.valid.txt"
    temp = tmp_path / "temp"
    temp.mkdir()
    a, b = tmp_path / ("a-" + output), tmp_path / ("b-" + output)
    r1 = invoke("train", "ngram", text, "--order", "3", "--smoothing", smoothing, "--memory", "100K", "--temp", temp,
                "-o", a, "--json")
    r2 = invoke("train", "ngram", text, "--order", "3", "--smoothing", smoothing, "-o", b, "--json")
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    spilled, plain = json.loads(r1.stdout)["memory"], json.loads(r2.stdout)["memory"]
    assert spilled["counted_in_blocks"] and spilled["count_runs"] > 1 and spilled["count_temp_peak_bytes"] > 0
    assert spilled["estimated_in_blocks"] and spilled["estimate_temp_bytes"] > 0
    assert not plain["counted_in_blocks"] and not plain["estimated_in_blocks"]
    assert a.read_bytes() == b.read_bytes()
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("command", [["count"], ["train", "ngram", "-o", "m.ngk"]])
@pytest.mark.parametrize("bad", ["0", "-1G", "12X", "200%", "0%", ""])
def test_bad_memory_is_a_usage_error(command, bad, small_text):
    line = error_line(invoke(*command, small_text, "--memory", bad), 2)
    assert "--memory" in line and repr(bad) in line, line


@pytest.mark.parametrize("command", [["count"], ["train", "ngram", "-o", "m.ngk"]])
def test_bad_temp_is_one_line(command, small_text, tmp_path):
    line = error_line(invoke(*command, small_text, "--temp", tmp_path / "nope"), 1)
    assert line == f"Error: --temp {tmp_path / 'nope'}: does not exist"


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("the cat sat\nthe dog ran\n")
    return path


def test_full_temp_disk_cli(ptb_dir, tmp_path):
    from tmpfs import small_tmpfs

    out = tmp_path / "out.ngc"
    with small_tmpfs(tmp_path / "small", 256 << 10) as small:
        line = error_line(invoke("count", ptb_dir / "ptb.valid.txt", "--order", "5", "--memory", "1", "--temp", small,
                                 "--output", out), 1)
        assert line.startswith(f"Error: --temp {small}: no space left on the device") and "needs at least" in line
        assert list(small.iterdir()) == [] and not out.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals and /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["counting: vocabulary", "counting: blocks"], ids=["blocks", "merging"])
def test_interrupted_spilled_count_leaves_nothing(sig, when, ptb_dir, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    rc, lines = run_and_signal(["count", str(ptb_dir / "ptb.train.txt"), "--order", "5", "--top", "0", "--memory",
                                "1M", "--temp", str(temp), "--output", "out.ngc"], tmp_path, sig, when)
    messages = [ln for ln in lines if not PROGRESS.match(ln)]
    assert "Traceback" not in "\n".join(lines)
    assert rc == 128 + sig and len(messages) == 1 and messages[0].startswith("Interrupted by"), (rc, lines)
    assert list(temp.iterdir()) == []
    assert not (tmp_path / "out.ngc").exists() and not list(tmp_path.glob(".*.tmp"))
