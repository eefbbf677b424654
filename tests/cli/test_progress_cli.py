"""Progress of every command on stderr: one line per stage/epoch off a terminal, live on one, -q silences it.

CliRunner's stderr is not a terminal; the terminal cases make ngramkit.progress
take it for one. An error or interrupt in the middle of a stage must start on
its own line (never appended to a live frame).
"""

from __future__ import annotations

import http.server
import importlib
import json
import re

import pytest
from click.testing import CliRunner

import ngramkit.progress
from ngramkit.cli import count as count_cli
from ngramkit.cli.main import cli
from oracles import http_server, write_slices

train_module = importlib.import_module("ngramkit.rnn.train")  # (ngramkit.rnn.train is also the function)
RNN = ["--hidden", "8", "--batch", "4", "--bptt", "10", "--optimizer", "adam", "--lr", "0.01",
       "--schedule", "none", "--patience", "0"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def screen(text: str) -> list[str]:
    """What a terminal shows: each line as its last ``\\r`` frame."""
    return [line.split("\r")[-1].rstrip(" ") for line in text.split("\n")]


@pytest.fixture
def terminal(monkeypatch):
    """stderr counts as a terminal; every update draws a frame."""
    monkeypatch.setattr(ngramkit.progress, "_is_terminal", lambda stream: True)
    init = ngramkit.progress.Progress.__init__
    monkeypatch.setattr(ngramkit.progress.Progress, "__init__",
                        lambda self, stream=None, **kw: init(self, stream, **{**kw, "interval": 0}))


@pytest.fixture(scope="module")
def texts(tmp_path_factory, timemachine_path):
    d = tmp_path_factory.mktemp("progress")
    write_slices(timemachine_path, d, train=(100, 300), valid=(300, 340))
    return d


# ---- train rnn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer, unit", [("whitespace", "tokens"), ("char", "chars")])
def test_train_rnn_one_line_per_epoch_with_the_right_unit(texts, tmp_path, tokenizer, unit):
    result = run("train", "rnn", texts / "train.txt", "--valid", texts / "valid.txt", "--tokenizer", tokenizer,
                 "--epochs", 3, *RNN, "--json", "-o", tmp_path / "m.ngk")
    assert result.exit_code == 0, result.stderr
    history = json.loads(result.stdout)["history"]
    assert "\r" not in result.stderr and "words/s" not in result.stderr
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == len(history) == 3
    for line, entry in zip(epochs, history):
        assert line == (f"epoch {entry['epoch']}/3 {entry['tokens_per_second']:,.0f} {unit}/s  "
                        f"train ppl {entry['train_ppl']:.1f}  valid ppl {entry['valid_ppl']:.1f}  lr 0.01")
    text = run("train", "rnn", texts / "train.txt", "--tokenizer", tokenizer, "--epochs", 1, *RNN,
               "-q", "-o", tmp_path / "n.ngk")
    assert text.exit_code == 0 and text.stderr == ""  # -q: nothing at all
    assert f" {unit}/s" in next(line for line in text.stdout.splitlines() if line.startswith("speed"))


def _fail_at_step(monkeypatch, step: int, exc):
    """The trainer's step ``step`` fails with ``exc`` (a gradient norm of NaN, or an exception)."""
    real, calls = train_module.clip_factor, []

    def clip_factor(grads, clip):
        calls.append(1)
        if len(calls) == step:
            if exc == "nan":
                return float("nan"), 1.0
            raise exc
        return real(grads, clip)

    monkeypatch.setattr(train_module, "clip_factor", clip_factor)


@pytest.mark.parametrize("on_terminal", [False, True], ids=["log", "terminal"])
@pytest.mark.parametrize("failure, message", [
    ("nan", "Error: training diverged"),
    (KeyboardInterrupt(), "Interrupted by SIGINT; temporary files removed."),
])
def test_train_rnn_error_mid_epoch_is_on_its_own_line(texts, tmp_path, monkeypatch, request, on_terminal, failure,
                                                      message):
    if on_terminal:
        request.getfixturevalue("terminal")
    _fail_at_step(monkeypatch, 3, failure)
    result = run("train", "rnn", texts / "train.txt", "--epochs", 2, *RNN, "-o", tmp_path / "m.ngk")
    assert result.exit_code in (1, 130)
    shown = screen(result.stderr)
    assert shown[-1] == "" and shown[-2].startswith(message), result.stderr  # the message is the last line...
    assert not any(message in line for line in shown[:-2])  # ...and only there
    if on_terminal:  # the live epoch line was drawn, and ended before the message
        assert "\repoch 1/2 [" in result.stderr
        assert result.stderr.split("\n")[-2] == shown[-2]  # the message's line holds no frame
    else:
        assert "\r" not in result.stderr and not any(line.startswith("epoch") for line in shown)


def test_train_rnn_on_a_terminal_is_live(texts, tmp_path, terminal):
    result = run("train", "rnn", texts / "train.txt", "--epochs", 2, *RNN, "-o", tmp_path / "m.ngk")
    assert result.exit_code == 0, result.stderr
    assert "\repoch 1/2 [" in result.stderr and "\repoch 2/2 [" in result.stderr
    epochs = [line for line in screen(result.stderr) if line.startswith("epoch")]
    assert len(epochs) == 2 and all(re.fullmatch(r"epoch \d/2 [\d,]+ tokens/s  train ppl [\d.]+  lr 0\.01", line)
                                    for line in epochs), epochs


# ---- compare --level char ------------------------------------------------------------------------------


def test_compare_char_level_one_line_per_epoch_in_chars(texts):
    files = ["--train", texts / "train.txt", "--valid", texts / "valid.txt", "--test", texts / "valid.txt"]
    result = run("compare", *files, "--level", "char", "--models", "mkn:3,rnn", "--epochs", 2, "--rnn-hidden", 8,
                 "--no-interpolate")
    assert result.exit_code == 0, result.stderr
    assert "\r" not in result.stderr and "words/s" not in result.stderr
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    ran = int(re.search(r"\[rnn\] valid ppl .* after (\d+) epochs", result.stderr).group(1))
    assert [line.split()[1] for line in epochs] == [f"{k}/2" for k in range(1, ran + 1)]
    assert all(" chars/s  train ppl " in line for line in epochs)


# ---- count ---------------------------------------------------------------------------------------------


def test_count_one_line_per_stage_and_quiet(texts, monkeypatch):
    monkeypatch.setattr(count_cli, "PROGRESS_BYTES", 0)  # report progress for this small file too
    path = texts / "train.txt"
    size = path.stat().st_size
    result = run("count", path, "--order", 4, "--top", 0)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and len(lines) == 2, lines
    assert lines[0].startswith(f"counting: reading text {size / 1e3:.1f} kB in ")
    assert re.fullmatch(r"counting: n-grams 4 orders in \d+\.\d s", lines[1])
    quiet = run("count", path, "--order", 4, "--top", 0, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == result.stdout


def test_count_small_input_prints_no_progress(texts):
    result = run("count", texts / "train.txt", "--top", 0)
    assert result.exit_code == 0 and result.stderr == ""


def test_count_on_a_terminal_is_live(texts, monkeypatch, terminal):
    monkeypatch.setattr(count_cli, "PROGRESS_BYTES", 0)
    result = run("count", texts / "train.txt", "--order", 2, "--top", 0)
    assert result.exit_code == 0, result.stderr
    assert "\rcounting: reading text [" in result.stderr and "\rcounting: n-grams [" in result.stderr
    assert [line.split(" in ")[0] for line in screen(result.stderr)] == [
        f"counting: reading text {(texts / 'train.txt').stat().st_size / 1e3:.1f} kB", "counting: n-grams 2 orders",
        ""]


# ---- corpus download (a local HTTP server) --------------------------------------------------------------


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(data_dir):
    with http_server(lambda *a, **kw: _Files(*a, directory=str(data_dir), **kw)) as (_, base):
        yield base


def test_download_one_line_per_file(mirror, empty_cache, data_dir):
    result = run("corpus", "download", "ptb", "--base-url", mirror)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and len(lines) == 3, lines
    for line, name in zip(lines, ("train", "valid", "test")):
        size = (data_dir / "ptb" / f"ptb.{name}.txt").stat().st_size
        amount = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        assert line.startswith(f"downloading ptb/ptb.{name}.txt {amount} in "), line


def test_download_on_a_terminal_is_live_and_quiet_is_silent(mirror, empty_cache, terminal):
    result = run("corpus", "download", "timemachine", "--base-url", mirror)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("\rdownloading timemachine.txt [")
    assert screen(result.stderr)[0].startswith("downloading timemachine.txt 179.0 kB in ")
    again = run("corpus", "download", "timemachine", "--base-url", mirror, "--force", "-q")
    assert again.exit_code == 0 and again.stderr == ""


def test_download_error_mid_file_on_a_terminal_starts_its_own_line(empty_cache, data_dir, terminal):
    class Truncated(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data = (data_dir / "timemachine.txt").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    with http_server(Truncated) as (_, base):
        result = run("corpus", "download", "timemachine", "--base-url", base)
    assert result.exit_code == 1
    lines = result.stderr.split("\n")
    assert lines[0].startswith("\rdownloading timemachine.txt [")  # the live frame, ended
    assert lines[1].startswith("Error: download of ") and "interrupted" in lines[1] and lines[2:] == [""]
