"""ngramkit.progress: one line per stage off a terminal, live frames on one, never an open line under a message."""

from __future__ import annotations

import importlib.util
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ngramkit import Stream, Vocabulary
from ngramkit.errors import NgramkitError
from ngramkit.progress import BYTES, DownloadProgress, EpochProgress, Progress, Task, token_unit
from ngramkit.rnn import RNNLM, RNNConfig, TrainConfig, train

TESTS = Path(__file__).resolve().parent


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def frames_and_lines(text: str) -> tuple[list[str], list[str]]:
    """Live frames (every ``\\r`` segment that a later one overwrote) and the lines that stay on screen."""
    frames, lines = [], []
    for line in text.split("\n")[:-1]:
        parts = line.split("\r")
        frames += [p for p in parts[:-1] if p]
        lines.append(parts[-1].rstrip(" "))
    return frames, lines


def progress_pattern(name: str) -> re.Pattern:
    spec = importlib.util.spec_from_file_location(f"_progress_{name}", TESTS / "robustness" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PROGRESS


# ---- Progress: the stream -------------------------------------------------------------------------


def test_off_a_terminal_only_finished_lines_are_written():
    log = io.StringIO()
    out = Progress(log)
    assert not out.live and not out.due()
    out.frame("a frame")
    out.line("stage one done")
    out("a message")  # calling it is line(): it serves as a `say` callable
    out.close()
    assert log.getvalue() == "stage one done\na message\n"


def test_on_a_terminal_frames_redraw_one_line_and_a_line_replaces_the_frame():
    tty = Terminal()
    out = Progress(tty, interval=0)
    assert out.live and out.due()
    out.frame("working 10%")
    out.frame("w 20%")  # shorter: the rest of the old frame is blanked
    out.line("done")
    assert tty.getvalue() == "\rworking 10%\rw 20%      \rdone \n"
    out.close()  # nothing open: nothing written
    assert tty.getvalue().endswith("\rdone \n")


def test_close_ends_an_open_frame_once_also_when_leaving_a_with_block_by_an_error():
    tty = Terminal()
    with pytest.raises(ZeroDivisionError):
        with Progress(tty, interval=0) as out:
            out.frame("half way")
            1 / 0
    assert tty.getvalue() == "\rhalf way\n"
    out.close()
    assert tty.getvalue() == "\rhalf way\n"


def test_quiet_writes_nothing_even_on_a_terminal():
    tty = Terminal()
    out = Progress(tty, quiet=True, interval=0)
    assert not out.due()
    out.frame("x")
    out.line("y")
    out.close()
    assert tty.getvalue() == ""


def test_frames_are_throttled_by_the_interval():
    tty = Terminal()
    task = Task(Progress(tty, interval=3600), "job", 10)
    for _ in range(10):
        task.advance()
    frames, lines = frames_and_lines(tty.getvalue() + "\n")
    assert len(frames) + len(lines) == 1  # only the first update was due


def test_frames_are_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    tty = Terminal()
    out = Progress(tty, interval=0)
    out.frame("x" * 100)
    assert tty.getvalue() == "\r" + "x" * 39


# ---- Task: a stage with an amount -----------------------------------------------------------------


def test_task_lines_hand_computed():
    log = io.StringIO()
    out = Progress(log)
    task = Task(out, "downloading f.txt", 2_500_000, unit=BYTES)
    task.advance(1_000_000)
    task.advance(1_000_000)
    task.finish()  # 2,000,000 of 2,500,000 bytes: both amounts in MB with one decimal
    small = Task(out, "counting: n-grams", 3, unit="orders", rate=False)
    small.advance(3)
    small.finish(", done")
    lines = log.getvalue().splitlines()
    assert re.fullmatch(r"downloading f\.txt 2\.0 MB of 2\.5 MB in \d+\.\d s \([\d.]+ [kMG]?B/s\)", lines[0]), lines[0]
    assert re.fullmatch(r"counting: n-grams 3 orders in \d+\.\d s, done", lines[1]), lines[1]
    assert len(lines) == 2


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (178_979, "179.0 kB"),
                                     (5_101_618, "5.1 MB"), (2_000_000_000, "2.0 GB")])
def test_byte_amounts(n, text):
    log = io.StringIO()
    task = Task(Progress(log), "f", n, unit=BYTES, rate=False)
    task.update(n)
    task.finish()
    assert log.getvalue().startswith(f"f {text} in ")


def test_task_on_a_terminal_shows_bar_percent_and_amounts():
    tty = Terminal()
    task = Task(Progress(tty, interval=0), "counting: reading text", 4_000_000, unit=BYTES, width=10)
    task.update(1_000_000)
    task.update(4_000_000)
    task.finish()
    frames, lines = frames_and_lines(tty.getvalue())
    assert frames[0].startswith("counting: reading text [##--------]  25% 1.0 MB/4.0 MB")
    assert frames[1].startswith("counting: reading text [##########] 100% 4.0 MB/4.0 MB")
    assert len(lines) == 1 and lines[0].startswith("counting: reading text 4.0 MB in ")


def test_download_progress_one_line_per_file():
    log = io.StringIO()
    report = DownloadProgress(Progress(log))
    for path, total in (("ptb/ptb.train.txt", 5_101_618), ("ptb/ptb.valid.txt", 399_782)):
        for done in range(0, total, 65_536):
            report(path, done, total)
        report(path, total, total)
    lines = log.getvalue().splitlines()
    assert [line.split()[:3] for line in lines] == [["downloading", "ptb/ptb.train.txt", "5.1"],
                                                    ["downloading", "ptb/ptb.valid.txt", "399.8"]]
    assert "\r" not in log.getvalue()


def test_download_progress_close_ends_an_unfinished_file_on_a_terminal():
    tty = Terminal()
    report = DownloadProgress(Progress(tty, interval=0))
    report("a.txt", 0, 100)
    report("a.txt", 40, 100)
    report.close()
    assert tty.getvalue().startswith("\rdownloading a.txt [") and tty.getvalue().endswith("\n")
    assert tty.getvalue().count("\n") == 1


# ---- EpochProgress with the real trainer -------------------------------------------------------------


def _run(sentences, progress, *, valid=True, epochs=2):
    vocab = Vocabulary.build(sentences)
    stream = Stream.from_sentences(sentences, vocab)
    model = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8), vocab,
                         np.bincount(stream.ids, minlength=len(vocab)))
    cfg = TrainConfig(batch=2, bptt=5, epochs=epochs, optimizer="adam", lr=0.01, schedule="none", patience=0)
    return train(model, stream, stream if valid else None, cfg, progress=progress)


WORDS = [["the", "time", "traveller", "said"], ["it", "is", "the", "time"]] * 15
CHARS = [list("the time traveller"), list("it is the time")] * 15


@pytest.mark.parametrize("sentences, unit", [(WORDS, "tokens"), (CHARS, "chars")], ids=["word", "char"])
def test_one_line_per_epoch_with_the_trainers_numbers(sentences, unit):
    log = io.StringIO()
    result = _run(sentences, EpochProgress(Progress(log), unit=unit))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == len(result.history) == 2
    for line, entry in zip(lines, result.history):
        assert line == (f"epoch {entry['epoch']}/2 {entry['words_per_second']:,.0f} {unit}/s  "
                        f"train ppl {entry['train_ppl']:.1f}  valid ppl {entry['valid_ppl']:.1f}  "
                        f"lr {entry['lr']:.3g}")
        assert "words/s" not in line


def test_without_validation_the_epoch_line_has_no_valid_ppl():
    log = io.StringIO()
    _run(WORDS, EpochProgress(Progress(log)), valid=False)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and all("valid ppl" not in line and "nan" not in line for line in lines)


def test_epochs_on_a_terminal_are_live_then_one_line_each():
    tty = Terminal()
    result = _run(WORDS, EpochProgress(Progress(tty, interval=0), unit="tokens", width=10))
    frames, lines = frames_and_lines(tty.getvalue())
    assert len(lines) == 2 and [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    steps = math.ceil((result.history[0]["tokens"] // 2) / 5)  # segments of bptt 5 over 2 sub-streams
    assert len(frames) == 2 * steps  # interval 0: one frame per segment
    assert frames[0].startswith("epoch 1/2 [") and " tokens/s  train ppl " in frames[0]
    assert frames[steps - 1].startswith("epoch 1/2 [##########] 100% ")


def test_an_error_mid_epoch_leaves_no_open_line():
    tty = Terminal()
    calls = []

    def failing(event):
        calls.append(event)
        bar(event)
        if len(calls) == 3:
            raise NgramkitError("disk full")

    with pytest.raises(NgramkitError):
        with Progress(tty, interval=0) as out:
            bar = EpochProgress(out)
            _run(WORDS, failing)
    assert tty.getvalue().startswith("\repoch 1/2 [") and tty.getvalue().endswith("\n")
    assert tty.getvalue().count("\n") == 1


def test_token_unit():
    assert (token_unit("char"), token_unit("whitespace"), token_unit(None), token_unit("word")) == \
        ("chars", "tokens", "tokens", "tokens")


# ---- the robustness tests' idea of a progress line -----------------------------------------------------


def test_every_stage_line_is_a_progress_line_for_the_robustness_tests():
    signals, bad_inputs = progress_pattern("test_signals"), progress_pattern("test_bad_inputs")
    assert signals.pattern == bad_inputs.pattern
    log = io.StringIO()
    out = Progress(log)
    for label in ("counting: reading text", "counting: n-grams", "downloading ptb/ptb.train.txt"):
        task = Task(out, label, 10, unit=BYTES)
        task.advance(10)
        task.finish()
    _run(WORDS, EpochProgress(out))
    lines = log.getvalue().splitlines()
    assert len(lines) == 5 and all(signals.match(line) for line in lines), lines
    assert not signals.match("Error: counting failed") and not signals.match("Interrupted by SIGINT; x")
