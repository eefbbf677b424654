"""`ngramkit count` and `ngramkit train ngram` with --engine dask, against the local engine's bytes.

Oracle: the same command with the local engine (the default), whose counts and
models the rest of the suite checks against Counter, nltk and KenLM. Equality is
of the files' bytes: .ngc, ARPA, .ngk. One LocalCluster of 2 worker processes
serves the module (--scheduler ADDRESS); one test starts its own (--workers 2)
in a real process. Bad input and unsupported options: one-line errors, exit 1
(runtime) or 2 (usage), before any cluster starts where the options alone say so.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed")

from ngramkit import native  # noqa: E402
from ngramkit.cli.main import cli  # noqa: E402
from ngramkit.distributed import client_for  # noqa: E402
from clierrors import error_line  # noqa: E402
from oracles import write_slices  # noqa: E402
from process import NGRAMKIT  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning"),
              pytest.mark.skipif(native.extension("_count") is None,
                                 reason="--engine dask needs the C counting kernel (NGRAMKIT_IMPL=numpy or no build)")]


@pytest.fixture(scope="module")
def scheduler():
    with client_for(workers=2) as client:
        yield client.scheduler.address


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def content(path) -> bytes:
    """The file's bytes (a .gz file: decompressed; its header holds the time and the file's name)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.fixture(scope="module")
def valid(ptb_dir):
    return ptb_dir / "ptb.valid.txt"


@pytest.mark.parametrize("smoothing,order,suffix", [("mkn", 5, ".arpa"), ("mkn", 5, ".ngk"), ("kn", 3, ".arpa.gz"),
                                                    ("witten-bell", 4, ".ngk"), ("absolute", 2, ".arpa"),
                                                    ("additive", 3, ".ngk")])
def test_train_same_bytes_as_local_ptb(scheduler, valid, tmp_path, smoothing, order, suffix):
    local, dask = tmp_path / f"local{suffix}", tmp_path / f"dask{suffix}"
    common = ["train", "ngram", valid, "-n", order, "-s", smoothing, "-q"]
    ok(*common, "-o", local)
    result = ok(*common, "-o", dask, "--engine", "dask", "--scheduler", scheduler, "--json")
    assert content(dask) == content(local)
    info = json.loads(result.stdout)
    assert info["engine"] == {"name": "dask", "workers": None, "scheduler": scheduler}
    ref = json.loads(ok(*common, "-o", tmp_path / f"again{suffix}", "--json").stdout)
    for key in ("train_tokens", "train_sentences", "ngrams", "vocab_size", "discounts", "fallback_orders"):
        assert info.get(key) == ref.get(key), key


def test_count_same_ngc_and_json_as_local(scheduler, valid, tmp_path):
    common = ["count", valid, "--order", 4, "--top", 5, "--json", "-q"]
    ref = json.loads(ok(*common, "--output", tmp_path / "local.ngc").stdout)
    got = json.loads(ok(*common, "--output", tmp_path / "dask.ngc", "--engine", "dask",
                        "--scheduler", scheduler).stdout)
    assert (tmp_path / "dask.ngc").read_bytes() == (tmp_path / "local.ngc").read_bytes()
    assert got.pop("engine") == {"name": "dask", "workers": None, "scheduler": scheduler}
    assert got.pop("memory")["budget_bytes"] is None
    ref.pop("memory")
    got.pop("counts_file"), ref.pop("counts_file")
    assert got == ref


def test_glob_and_text_options(scheduler, timemachine_path, tmp_path):
    """A glob the workers expand equals the files listed (ARPA holds no file names); --normalize lower and
    --min-count reach the workers."""
    files = write_slices(timemachine_path, tmp_path, a=(0, 300), b=(300, 310), c=(310, 900))
    opts = ["-n", 4, "--normalize", "lower", "--min-count", 2, "-q"]
    ok("train", "ngram", *[files[n] for n in "abc"], *opts, "-o", tmp_path / "local.arpa")
    ok("train", "ngram", tmp_path / "*.txt", *opts, "-o", tmp_path / "dask.arpa", "--engine", "dask",
       "--scheduler", scheduler)
    assert (tmp_path / "dask.arpa").read_bytes() == (tmp_path / "local.arpa").read_bytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_corpora(scheduler, tmp_path, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(rng.integers(3, 40))]
    lines = [" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(rng.integers(20, 300))]
    path = tmp_path / "r.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    order = int(rng.integers(1, 6))
    for out in ("local.ngk", "dask.ngk"):
        extra = ["--engine", "dask", "--scheduler", scheduler] if out.startswith("dask") else []
        ok("train", "ngram", path, "-n", order, "-q", "-o", tmp_path / out, *extra)
    assert (tmp_path / "dask.ngk").read_bytes() == (tmp_path / "local.ngk").read_bytes()


def test_workers_starts_a_local_cluster_real_process(valid, tmp_path):
    env = {**os.environ}
    for name, extra in (("local.ngk", []), ("dask.ngk", ["--engine", "dask", "--workers", "2"])):
        proc = subprocess.run([*NGRAMKIT, "train", "ngram", str(valid), "-n", "3", "-o", str(tmp_path / name),
                               *extra], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    assert "a local cluster of 2 worker processes" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("counting, fitting")  # progress only: no Dask warning
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert (tmp_path / "dask.ngk").read_bytes() == (tmp_path / "local.ngk").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.ngk", "local.ngk"]  # no temp file left


# ---- errors ------------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler(tmp_path, valid, monkeypatch):
    from ngramkit.cli import engine

    monkeypatch.setattr(engine, "SCHEDULER_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    for args in (["count", valid], ["train", "ngram", valid, "-o", tmp_path / "m.arpa"]):
        line = error_line(run(*args, "--engine", "dask", "--scheduler", address), 1)
        assert f"cannot reach the Dask scheduler at {address}" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,needle", [("missing.txt", "missing.txt: no such file"),
                                         ("nothing-*.txt", "no file matches this pattern"),
                                         ("folder", "is a directory")])
def test_unreadable_input_is_one_line_before_a_cluster_starts(tmp_path, name, needle):
    (tmp_path / "folder").mkdir()
    for args in (["count", tmp_path / name], ["train", "ngram", tmp_path / name, "-o", tmp_path / "m.arpa"]):
        # --scheduler of a closed port: the error must come from the input check, not a connection attempt.
        # train ngram's FILES refuse a folder in click, as with the local engine (exit 2).
        code = 2 if name == "folder" and args[0] == "train" else 1
        line = error_line(run(*args, "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{_closed_port()}"), code)
        assert needle in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_worker_cannot_read_input(scheduler, tmp_path):
    """The file exists here but not where the workers run: simulated by removing it once planned."""
    path = tmp_path / "gone.txt"
    path.write_text("a b c\n", encoding="utf-8")
    from ngramkit import distributed as dist

    real = dist.plan_partitions

    def plan_then_remove(*a, **k):
        parts = real(*a, **k)
        path.unlink()
        return parts

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dist, "plan_partitions", plan_then_remove)
        line = error_line(run("count", path, "-q", "--engine", "dask", "--scheduler", scheduler), 1)
    assert "gone.txt" in line


def test_missing_dask_extra_real_process(tmp_path, valid):
    """With dask.distributed not importable: one line saying what to install, exit 1, for both commands."""
    fake = tmp_path / "nodask"
    (fake / "distributed").mkdir(parents=True)
    (fake / "distributed" / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    for args in (["count", str(valid)], ["train", "ngram", str(valid), "-o", str(tmp_path / "m.arpa")]):
        proc = subprocess.run([*NGRAMKIT, *args, "--engine", "dask", "--workers", "2"], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            "Error: --engine dask needs dask.distributed, which is not installed: pip install 'ngramkit[dask]'"]
    assert not (tmp_path / "m.arpa").exists()


USAGE_CASES = [
    (["count", "{valid}", "--workers", "2"], "--workers applies only to --engine dask"),
    (["count", "{valid}", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler applies only to --engine dask"),
    (["count", "{valid}", "--engine", "dask", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["count", "{valid}", "--engine", "dask", "--memory", "1G"], "--memory does not apply to --engine dask"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngk", "--engine", "dask", "--temp", "{out}"],
     "--temp does not apply to --engine dask"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngk", "--engine", "dask", "-s", "lidstone", "--k", "0.1"],
     "not --smoothing lidstone"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngk", "--engine", "dask", "-s", "stupid-backoff"],
     "not --smoothing stupid-backoff"),
    (["train", "ngram", "{out}/c.ngc", "-o", "{out}/m.ngk", "--engine", "dask"], "not a counts file"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngk", "--engine", "dask", "--prune", "0", "1"],
     "--prune does not apply to --engine dask"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngk", "--engine", "dask", "--limit-vocab", "{out}/c.ngc"],
     "--limit-vocab does not apply to --engine dask"),
    (["train", "ngram", "{valid}", "-o", "{out}/m.ngq", "--engine", "dask", "--quantize", "8"],
     "--quantize does not apply to --engine dask"),
    (["count", "-", "--engine", "dask"], "cannot read stdin"),
    (["count", "{valid}", "--engine", "dask", "--tokenizer", "regex", "--pattern", "\\w+"], "C scanner only"),
    (["count", "{valid}", "--engine", "dask", "--no-sentences"], "C scanner only"),
    (["count", "--corpus", "timemachine", "--tokenizer", "whitespace", "--normalize", "lower", "--engine", "dask"],
     "part of one file"),
]


@pytest.mark.parametrize("argv,needle", USAGE_CASES)
def test_unsupported_options_are_usage_errors(argv, needle, valid, tmp_path):
    (tmp_path / "c.ngc").write_bytes(b"")
    args = [a.format(valid=valid, out=tmp_path) for a in argv]
    line = error_line(run(*args), 2)
    assert needle in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ngc"]


def test_sigterm_leaves_nothing_real_process(ptb_dir, tmp_path):
    """SIGTERM while the model's shards are written (their folder beside the output exists): exit 143, the
    one-line message, no file or folder left, no worker process left."""
    import signal
    import time

    import psutil

    proc = subprocess.Popen([*NGRAMKIT, "train", "ngram", str(ptb_dir / "ptb.train.txt"), "-n", "3", "--engine", "dask",
                             "--workers", "2", "-o", str(tmp_path / "m.arpa")], stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    children = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            children = psutil.Process(proc.pid).children(recursive=True) or children
        except psutil.NoSuchProcess:
            break
        if any(p.name.startswith(".m.arpa.dask-") for p in tmp_path.iterdir()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal (a very fast machine)")
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Interrupted by SIGTERM; temporary files removed."
    assert list(tmp_path.iterdir()) == []
    psutil.wait_procs(children, timeout=30)
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
