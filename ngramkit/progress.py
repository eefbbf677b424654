"""Progress reports of long runs (downloads, counting, RNN epochs): one implementation for every command.

Input: what the library's ``progress=`` callbacks report (the trainer's
epoch events, the downloader's ``(path, bytes done, bytes total)``, amounts
of work done); output: text lines on a stream (stderr by default).

- On a terminal (``stream.isatty()``) a running stage is one live line,
  redrawn with ``\\r`` at most every ``interval`` seconds; when the stage
  ends, its summary line replaces it and the line is ended.
- Elsewhere (a log file, a pipe, CI) live frames are not written at all:
  each stage writes exactly one line, its summary, when it ends. Logs never
  hold ``\\r`` frames.
- A live line is never left open under another message: :meth:`Progress.line`
  ends it first, and :meth:`Progress.close` (also on leaving a ``with``
  block, error or interrupt included) ends it.
- ``quiet=True`` writes nothing.

The library never prints by itself: a caller (the command line) builds a
:class:`Progress` and passes it, or one of the adapters below, as the
``progress=`` argument. Summary lines, for the tests that tell progress from
messages (tests/robustness): ``epoch N/M ...``, ``downloading PATH ...``,
``counting: ...``.

Rates name their unit: ``tokens/s`` for word-level text (words plus
``</s>``), ``chars/s`` for character-level text (:func:`token_unit`).

>>> import io
>>> log = io.StringIO()  # not a terminal: one line per stage
>>> task = Task(Progress(log), "counting: n-grams", 3, unit="orders", rate=False)
>>> task.advance(1); task.advance(2); task.finish()
>>> log.getvalue().startswith("counting: n-grams 3 orders in ")
True
"""

from __future__ import annotations

import math
import shutil
import sys
import time

BYTES = "bytes"  # Task unit: amounts shown as kB/MB/GB


def token_unit(tokenizer: str | None) -> str:
    """The unit of a stream's tokens: ``chars`` for the char tokenizer (or ``--level char``), else ``tokens``."""
    return "chars" if tokenizer == "char" else "tokens"


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Progress:
    """Where progress goes: a text stream, live frames only on a terminal.

    ``live``: draw live frames (default: ``stream.isatty()``). ``interval``:
    the least time between two frames, in seconds. Calling the object with a
    message is :meth:`line` (so it serves as a ``say`` callable).
    """

    def __init__(self, stream=None, *, live: bool | None = None, interval: float = 0.2, quiet: bool = False):
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.live = not quiet and (_is_terminal(self.stream) if live is None else live)
        self.interval = interval
        self.columns = shutil.get_terminal_size().columns if self.live else 0
        self._open = 0  # characters of the live frame on screen; 0: no open line
        self._last = -math.inf  # time.monotonic() of the last frame

    def due(self) -> bool:
        """Whether a frame would be drawn now; False off a terminal (check before formatting one)."""
        return self.live and time.monotonic() - self._last >= self.interval

    def frame(self, text: str) -> None:
        """Redraw the live line with ``text`` (cut to the terminal's width); nothing off a terminal."""
        if not self.live:
            return
        self._last = time.monotonic()
        text = text[: max(self.columns - 1, 20)]
        self.stream.write("\r" + text + " " * max(self._open - len(text), 0))
        self.stream.flush()
        self._open = max(len(text), 1)

    def line(self, text: str) -> None:
        """Write a finished line (a stage's summary, or a message); it replaces an open live line."""
        if self.quiet:
            return
        if self._open:
            text = "\r" + text + " " * max(self._open - len(text), 0)
            self._open = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    __call__ = line

    def close(self) -> None:
        """End an open live line, so that what follows (an error, an interrupt) starts on its own line."""
        if self._open:
            self._open = 0
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _amount(n: float, unit: str) -> str:
    if unit == BYTES:
        for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if n >= scale:
                return f"{n / scale:.1f} {name}"
        return f"{n:.0f} B"
    return f"{n:,.0f} {unit}".rstrip()


def _bar(fraction: float, width: int) -> str:
    fill = int(min(max(fraction, 0.0), 1.0) * width)
    return "[" + "#" * fill + "-" * (width - fill) + "]"


class Task:
    """One stage with a known amount of work (``total`` in ``unit``; :data:`BYTES` for sizes).

    Live: ``LABEL [####------]  40% 2.0 MB/5.1 MB 3.1 MB/s``; at
    :meth:`finish`, one summary line: ``LABEL 5.1 MB in 1.6 s (3.2 MB/s)``.
    ``rate=False`` leaves the rate out (for a handful of big steps).
    """

    def __init__(self, out: Progress, label: str, total: int, *, unit: str = "", rate: bool = True,
                 width: int = 20):
        self.out, self.label, self.total, self.unit = out, label, max(int(total), 0), unit
        self.rate, self.width = rate, width
        self.done = 0
        self.t0 = time.perf_counter()

    def _rate(self, seconds: float) -> str:
        if not self.rate or seconds <= 0 or self.done <= 0:
            return ""
        return f"{_amount(self.done / seconds, self.unit)}/s"

    def update(self, done: int) -> None:
        """``done`` units of the stage are finished (absolute)."""
        self.done = int(done)
        if not self.out.due():
            return
        fraction = self.done / self.total if self.total else 1.0
        text = (f"{self.label} {_bar(fraction, self.width)} {100 * min(fraction, 1.0):3.0f}% "
                f"{_amount(self.done, self.unit)}/{_amount(self.total, self.unit)}")
        rate = self._rate(time.perf_counter() - self.t0)
        self.out.frame(text + (f" {rate}" if rate else ""))

    def advance(self, n: int = 1) -> None:
        """``n`` more units are finished (the shape of the library's ``progress(n)`` callbacks)."""
        self.update(self.done + int(n))

    def finish(self, note: str = "") -> None:
        """The stage ended: its one summary line (``note`` appended)."""
        seconds = time.perf_counter() - self.t0
        amount = _amount(self.done, self.unit)
        if self.done != self.total:
            amount += f" of {_amount(self.total, self.unit)}"
        rate = self._rate(seconds)
        self.out.line(f"{self.label} {amount} in {seconds:.1f} s" + (f" ({rate})" if rate else "") + note)


class EpochProgress:
    """The RNN trainer's ``progress=`` callback (events of :func:`ngramkit.rnn.train`).

    Live: ``epoch 2/13 [#####-----]  48% 41,200 tokens/s  train ppl 182.3  lr 1``;
    one line per epoch: ``epoch 2/13 41,380 tokens/s  train ppl 180.9  valid ppl 190.2  lr 1``.
    ``unit``: what a token is (:func:`token_unit`).
    """

    def __init__(self, out: Progress | None = None, *, unit: str = "tokens", width: int = 20):
        self.out = Progress() if out is None else out
        self.unit, self.width = unit, width

    def __call__(self, event: dict) -> None:
        end = event.get("valid_ppl") is not None  # the trainer's end-of-epoch event (nan: no validation)
        if not end and not self.out.due():
            return
        head = f"epoch {event['epoch']}/{event['epochs']}"
        tail = (f"{event['words_per_second']:,.0f} {self.unit}/s  train ppl {event['train_ppl']:.1f}")
        lr = f"  lr {event['lr']:.3g}"
        if end:
            valid = event["valid_ppl"]
            self.out.line(f"{head} {tail}" + (f"  valid ppl {valid:.1f}" if math.isfinite(valid) else "") + lr)
        else:
            fraction = event["done"] / max(event["total"], 1)
            self.out.frame(f"{head} {_bar(fraction, self.width)} {100 * fraction:3.0f}% {tail}{lr}")


class DownloadProgress:
    """The downloader's ``progress=`` callback ``(relative path, bytes done, bytes total)``: a Task per file.

    One line per finished file: ``downloading ptb/ptb.train.txt 5.1 MB in 1.6 s (3.2 MB/s)``.
    """

    def __init__(self, out: Progress | None = None):
        self.out = Progress() if out is None else out
        self.task: Task | None = None
        self._path: str | None = None

    def __call__(self, path: str, done: int, total: int) -> None:
        if self.task is None or path != self._path:
            self.task, self._path = Task(self.out, f"downloading {path}", total, unit=BYTES), path
        self.task.total = total
        self.task.update(done)
        if done >= total:
            self.task.finish()
            self.task = None

    def close(self) -> None:
        """End an unfinished file's live line (the download failed)."""
        self.task = None
        self.out.close()
