"""limit_threads and the commands' --threads: the BLAS and kernel thread counts inside, restored after."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info, threadpool_limits

from ngramkit import limit_threads
from ngramkit.errors import NgramkitError
from ngramkit.threads import KERNEL_THREADS_VAR


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
