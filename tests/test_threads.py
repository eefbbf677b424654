"""limit_threads and the commands' --threads: the BLAS and kernel thread counts inside, restored after."""

from __future__ import annotations

import io
import json
import os
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info, threadpool_limits

from ngramkit import limit_threads
from ngramkit.errors import NgramkitError
from ngramkit.threads import KERNEL_THREADS_VAR, ahead, usable_cores


def blas_threads() -> list[int]:
    """What every BLAS loaded in the process reports for its own thread count."""
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def two_threads(monkeypatch):
    """Start from two BLAS threads and no kernel setting, whatever the environment said."""
    monkeypatch.delenv(KERNEL_THREADS_VAR, raising=False)
    if not blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        if set(blas_threads()) != {2}:
            pytest.skip("numpy's BLAS cannot run 2 threads here (one processor?)")
        yield


def test_limit_threads_sets_and_restores_both(two_threads):
    with limit_threads(1):
        assert set(blas_threads()) == {1} and os.environ[KERNEL_THREADS_VAR] == "1"
        np.ones((64, 64), np.float32) @ np.ones((64, 64), np.float32)  # the limit does not break BLAS calls
    assert set(blas_threads()) == {2} and KERNEL_THREADS_VAR not in os.environ


def test_limit_threads_restores_after_an_error_and_keeps_a_previous_setting(two_threads, monkeypatch):
    monkeypatch.setenv(KERNEL_THREADS_VAR, "2")
    with pytest.raises(RuntimeError), limit_threads(1):
        raise RuntimeError("boom")
    assert set(blas_threads()) == {2} and os.environ[KERNEL_THREADS_VAR] == "2"


def test_no_limit_changes_nothing(two_threads):
    with limit_threads(None):
        assert set(blas_threads()) == {2} and KERNEL_THREADS_VAR not in os.environ


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(NgramkitError, match="threads must be an integer >= 1"), limit_threads(bad):
        pass


def test_ppl_scores_under_the_requested_limit(two_threads, monkeypatch, tmp_path, timemachine_path):
    """`ppl --threads N` scores the RNN with N BLAS and kernel threads; the perplexity does not depend on N."""
    from ngramkit.cli.main import cli

    from ngramkit.rnn import RNNLM

    lines = [ln for ln in timemachine_path.read_text().splitlines() if ln.strip()]
    (tmp_path / "train.txt").write_text("\n".join(lines[100:300]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[300:340]) + "\n")
    model = tmp_path / "m.ngk"
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", "rnn", str(tmp_path / "train.txt"), "--schedule", "none", "--epochs", "1",
                                  "--hidden", "24", "--softmax", "class", "--classes", "10", "--batch", "8",
                                  "--bptt", "8", "-q", "-o", str(model)])
    assert trained.exit_code == 0, trained.output

    seen = []
    original = RNNLM.log_probs

    def recording(self, *args, **kwargs):
        seen.append((set(blas_threads()), os.environ.get(KERNEL_THREADS_VAR)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RNNLM, "log_probs", recording)
    ppls = {}
    for n in (1, 2):
        seen.clear()
        result = runner.invoke(cli, ["ppl", "--model", str(model), str(tmp_path / "test.txt"), "--threads", str(n),
                                     "--json", "-q"])
        assert result.exit_code == 0, result.output
        assert seen and all(s == ({n}, str(n)) for s in seen)
        ppls[n] = json.loads(result.stdout)["ppl"]
    assert ppls[1] == pytest.approx(ppls[2], rel=1e-6)
    assert set(blas_threads()) == {2} and KERNEL_THREADS_VAR not in os.environ

    # NGRAMKIT_THREADS, the kernel's own variable, is the option's default
    seen.clear()
    monkeypatch.setenv(KERNEL_THREADS_VAR, "2")
    with threadpool_limits(limits=1, user_api="blas"):
        result = runner.invoke(cli, ["ppl", "--model", str(model), str(tmp_path / "test.txt"), "-q"])
        assert result.exit_code == 0, result.output
        assert seen and all(s == ({2}, "2") for s in seen)
    monkeypatch.delenv(KERNEL_THREADS_VAR)

    bad = runner.invoke(cli, ["ppl", "--model", str(model), str(tmp_path / "test.txt"), "--threads", "0"])
    assert bad.exit_code == 2 and "--threads" in bad.output and "Traceback" not in bad.output


# ---- ahead: items computed on a worker thread, in order ---------------------------------------------------------

def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ngramkit-ahead"]


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_ahead_yields_every_item_in_order(depth):
    items = [np.full(3, i) for i in range(300)]
    got = list(ahead(iter(items), depth))
    assert len(got) == 300 and all(g is want for g, want in zip(got, items))
    assert not _ahead_threads()


def test_ahead_raises_the_producers_error_at_its_place():
    def items():
        yield from range(5)
        raise ValueError("bad chunk")

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for x in ahead(items(), 2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4] and not _ahead_threads()


def test_closing_ahead_early_stops_the_producer_and_runs_its_cleanup():
    made, closed = [], []

    def items():
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            closed.append(True)

    gen = ahead(items(), 3)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # what a consumer's error or Ctrl-C does (write_arpa closes it)
    assert closed == [True] and not _ahead_threads()
    assert len(made) <= 3 + 3 + 1  # what was taken, the queue, and the one the producer held


def test_write_arpa_with_and_without_the_formatting_thread_is_byte_identical(tmp_path, monkeypatch, tm_counts):
    import ngramkit.arpa as arpa
    from ngramkit.models import ModifiedKneserNey

    model = ModifiedKneserNey(3).fit(tm_counts)
    monkeypatch.setattr(arpa, "_CHUNK_ROWS", 1000)  # many chunks through the queue
    files = {}
    for cores in (1, 2):
        monkeypatch.setattr(arpa, "usable_cores", lambda: cores)
        files[cores] = arpa.write_arpa(model, tmp_path / f"m{cores}.arpa").read_bytes()
    assert files[1] == files[2] and files[1].count(b"\n") > 20_000

    class FullFile(io.FileIO):  # the disk fills up in the middle of the file, while chunks are queued
        writes = 0

        def write(self, data):
            FullFile.writes += 1
            if FullFile.writes > 5:
                raise OSError(28, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(arpa, "open", lambda path, mode: FullFile(path, mode), raising=False)
    try:
        arpa.write_arpa(model, tmp_path / "full.arpa")
    except OSError as exc:  # checked here, while the traceback still holds write_arpa's frame: the producer
        # must be stopped by write_arpa itself, not by the garbage collector
        assert "No space" in str(exc) and FullFile.writes == 6
        assert not _ahead_threads()
    else:
        pytest.fail("the full disk was not reported")
    assert not (tmp_path / "full.arpa").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m1.arpa", "m2.arpa"]


def test_usable_cores_follows_ngramkit_threads(monkeypatch):
    monkeypatch.setenv(KERNEL_THREADS_VAR, "1")
    assert usable_cores() == 1
    monkeypatch.delenv(KERNEL_THREADS_VAR)
    assert usable_cores() == len(os.sched_getaffinity(0))
