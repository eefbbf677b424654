"""Compare n-gram models and RNN language models on the same token streams.

Input: a training, a validation and a test split (a registry corpus such as
``timemachine`` or ``ptb``, or three lists of files), text options, and a
model spec such as ``"laplace:1-3,mkn:3,mkn:5,rnn"``.

Output: a :class:`Report`: one :class:`Row` per model with its size,
parameters, training time, scoring speed and validation/test perplexity, plus
the facts needed to repeat the run (corpus, split sizes, vocabulary size,
seed, versions). ``Report.to_json`` / ``to_markdown`` / ``to_csv`` / ``plot``
/ ``save`` write it out.

Honesty rules:

- One :class:`~ngramkit.vocab.Vocabulary`, built on the training split only,
  is shared by every model; the valid and test streams are built once and
  every model scores exactly their N predicted tokens (every word and every
  ``</s>``, never ``<s>``; out-of-vocabulary words are ``<unk>``, an ordinary
  word, and are also counted as OOVs). ``valid_tokens`` / ``test_tokens``
  show that count per row.
- Every number comes from one array: ``model.log_probs(stream)``, (N,)
  natural-log probabilities. Perplexity is ``exp(-mean(log_probs))``,
  bits/token is ``-mean(log_probs) / ln 2`` (on the test stream), exactly
  what ``ngramkit ppl`` prints for the same model and text.
- The interpolation row mixes the best RNN and the best n-gram model (lowest
  validation perplexity) per token, ``p = w * p_rnn + (1 - w) * p_ngram``
  (Mikolov et al. 2011); ``w`` is tuned on the validation stream only (grid,
  then golden-section search: the validation cross-entropy is convex in
  ``w``) and reported.

>>> parse_models("laplace:1-3,mkn:5,rnn")  # doctest: +NORMALIZE_WHITESPACE
[ModelSpec(name='laplace', order=1, hidden=None), ModelSpec(name='laplace', order=2, hidden=None),
 ModelSpec(name='laplace', order=3, hidden=None), ModelSpec(name='mkn', order=5, hidden=None),
 ModelSpec(name='rnn', order=None, hidden=None)]
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError, NgramkitError
from .fileio import atomic_open, check_writable

DEFAULT_MODELS = "laplace:1-3,mkn:3,mkn:5,rnn"
DEFAULT_CHAR_MODELS = "laplace:1-3,mkn:3,mkn:5,mkn:7,rnn"  # characters: longer contexts pay off
RNN_CELLS = ("rnn", "gru", "lstm")
LEVELS = ("word", "char")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
MODEL_SUFFIX = ".ngk"  # ngramkit's native model format (n-gram and RNN alike)
DEFAULT_NGRAM_ORDER = 3
LN2 = math.log(2.0)
LN10 = math.log(10.0)

# Fields that measure the machine, not the model: left out when two runs are compared.
TIMING_FIELDS = ("train_seconds", "tokens_per_second", "score_seconds")


# ---- model specs -------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One requested row: an n-gram model of some order, or an RNN cell."""

    name: str  # n-gram estimator name (a key of ngramkit.models.MODELS) or an RNN cell
    order: int | None = None  # n-gram order; None for RNNs
    hidden: int | None = None  # RNN hidden size override (``lstm:200``); None: the preset's

    @property
    def is_rnn(self) -> bool:
        return self.name in RNN_CELLS

    @property
    def label(self) -> str:
        if self.is_rnn:
            return self.name if self.hidden is None else f"{self.name}:{self.hidden}"
        return f"{self.name}:{self.order}"


def ngram_model_names() -> list[str]:
    """Estimators usable in a comparison: every model of ``ngramkit.models`` that gives probabilities."""
    from .models import MODELS

    return [name for name, cls in MODELS.items() if _gives_probabilities(cls)]


def _gives_probabilities(cls) -> bool:
    # StupidBackoff gives scores, not probabilities: it has no perplexity.
    return bool(getattr(cls, "is_probabilistic", True))


_ORDER_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_models(spec: str, ngram_names=None) -> list[ModelSpec]:
    """Parse ``"laplace:1-3,mkn:3,mkn:5,rnn,gru,lstm:200"`` into model specs.

    ``NAME:ORDER`` or ``NAME:FIRST-LAST`` for n-gram estimators (order 3 when
    omitted; a bare order after an n-gram item continues it, so
    ``mkn:3,5`` is ``mkn:3,mkn:5``); ``rnn``, ``gru``, ``lstm`` optionally
    with ``:HIDDEN``. Duplicates are dropped, order is kept. Unknown names
    and malformed items raise :class:`NgramkitError` naming the item and
    listing the valid names.
    """
    if ngram_names is None:
        ngram_names = ngram_model_names()
    ngram_names = list(ngram_names)
    valid = ", ".join(list(ngram_names) + list(RNN_CELLS))
    example = "e.g. laplace:1-3,mkn:3,mkn:5,rnn"
    if not isinstance(spec, str) or not spec.strip():
        raise NgramkitError(f"--models: empty model list; valid models: {valid} ({example})")
    out: list[ModelSpec] = []
    previous: str | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise NgramkitError(f"--models: empty item in {spec!r} (stray comma?); {example}")
        name, sep, arg = item.partition(":")
        name = name.strip().lower()
        if _ORDER_RE.match(name) and not sep:
            # A bare order continues the previous n-gram item: "mkn:3,5".
            if previous is None or previous in RNN_CELLS:
                raise NgramkitError(f"--models: {item!r} needs a model name, e.g. mkn:{item}; valid models: {valid}")
            name, arg, sep = previous, item, ":"
        if name in RNN_CELLS:
            hidden = None
            if sep:
                if not arg.strip().isdigit() or int(arg) < 1:
                    raise NgramkitError(f"--models: bad hidden size in {item!r}; use {name} or {name}:HIDDEN, e.g. {name}:200")
                hidden = int(arg)
            out.append(ModelSpec(name, None, hidden))
        elif name in ngram_names:
            first, last = DEFAULT_NGRAM_ORDER, DEFAULT_NGRAM_ORDER
            if sep:
                m = _ORDER_RE.match(arg.strip())
                if not m:
                    raise NgramkitError(f"--models: bad order in {item!r}; use {name}:ORDER or {name}:FIRST-LAST, e.g. {name}:1-3")
                first = int(m.group(1))
                last = int(m.group(2)) if m.group(2) else first
            from .counts import MAX_ORDER

            if not 1 <= first <= last <= MAX_ORDER:
                raise NgramkitError(f"--models: orders in {item!r} must satisfy 1 <= first <= last <= {MAX_ORDER}")
            out.extend(ModelSpec(name, k) for k in range(first, last + 1))
        else:
            hint = ""
            if "stupid" in name:
                hint = " (stupid backoff gives scores, not probabilities: it has no perplexity)"
            raise NgramkitError(f"--models: unknown model {item!r}{hint}; valid models: {valid} ({example})")
        previous = name
    seen, unique = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


# ---- report ------------------------------------------------------------------


@dataclass
class Row:
    """One model's line in the report. Perplexities include OOVs (scored as ``<unk>``)."""

    model: str  # estimator or cell name: laplace, mkn, rnn, gru, lstm, interpolated
    label: str  # unique row name: laplace:3, mkn:5, rnn, rnn+mkn:5
    order: int | None  # n-gram order (None for RNNs)
    size: str  # human-readable order or size: "order 3", "H=100 class(100)"
    params: int  # n-gram: stored n-gram entries; RNN: trainable weights
    train_seconds: float  # counting + estimation (n-gram) or training (RNN), wall clock
    tokens_per_second: float  # scoring speed of log_probs over valid + test
    valid_ppl: float  # validation perplexity
    test_ppl: float  # test perplexity
    bits_per_token: float  # test cross-entropy, log2
    oov_rate: float  # test OOVs / test tokens
    valid_tokens: int  # predicted tokens scored in valid (the same for every row)
    test_tokens: int  # predicted tokens scored in test (the same for every row)
    valid_ppl_no_oov: float = float("nan")  # validation perplexity over in-vocabulary tokens only
    test_ppl_no_oov: float = float("nan")  # test perplexity over in-vocabulary tokens only
    hidden: int | None = None  # RNN hidden size
    epochs: int | None = None  # RNN epochs trained
    weight: float | None = None  # interpolation: weight of the RNN
    score_seconds: float = 0.0  # wall time of scoring valid + test

    def to_dict(self, *, timings: bool = True) -> dict:
        d = {k: _jsonable(v) for k, v in asdict(self).items()}
        if not timings:
            for k in TIMING_FIELDS:
                d.pop(k, None)
        return d


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no inf/nan
    if isinstance(value, (np.floating,)):
        return _jsonable(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


COLUMNS = (
    ("model", "model"),
    ("size", "order/size"),
    ("params", "params"),
    ("train_seconds", "train s"),
    ("tokens_per_second", "tokens/s"),
    ("valid_ppl", "valid ppl"),
    ("test_ppl", "test ppl"),
    ("bits_per_token", "bits/token"),
    ("oov_rate", "OOV rate"),
    ("scored", "scored tokens (valid/test)"),
)


@dataclass
class Report:
    """The comparison: rows, learning curves and everything needed to repeat the run."""

    corpus: str  # registry name or the training file names
    level: str  # word | char
    vocab_size: int  # shared vocabulary, specials included
    tokens: dict  # predicted tokens per split: {"train": N, "valid": N, "test": N}
    sentences: dict  # sentences per split
    oovs: dict  # OOV tokens in valid and test
    seed: int
    rows: list[Row]
    text_options: dict = field(default_factory=dict)
    min_count: int = 1
    models: str = ""  # the model spec that was run
    curves: dict = field(default_factory=dict)  # RNN label -> per-epoch validation perplexities
    rnn: dict = field(default_factory=dict)  # RNN label -> {"config": ..., "train": ...}
    interpolation: dict | None = None  # {"rnn", "ngram", "weight", "valid_ppl", "test_ppl"}
    notes: dict = field(default_factory=dict)  # row label -> note (e.g. fallback discounts)
    source: dict = field(default_factory=dict)  # {"corpus": registry name or None, "files": {split: [paths]}}
    versions: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    trained: dict = field(default_factory=dict, repr=False, compare=False)  # label -> model object

    # ---- views -----------------------------------------------------------------
    def row(self, label: str) -> Row:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(label)

    def to_dict(self, *, timings: bool = True) -> dict:
        d = {
            "corpus": self.corpus,
            "level": self.level,
            "vocab_size": self.vocab_size,
            "tokens": dict(self.tokens),
            "sentences": dict(self.sentences),
            "oovs": dict(self.oovs),
            "seed": self.seed,
            "min_count": self.min_count,
            "text_options": dict(self.text_options),
            "models": self.models,
            "rows": [r.to_dict(timings=timings) for r in self.rows],
            "curves": {k: list(v) for k, v in self.curves.items()},
            "rnn": self.rnn,
            "interpolation": self.interpolation,
            "notes": dict(self.notes),
            "source": dict(self.source),
            "versions": dict(self.versions),
        }
        if timings:
            d["wall_seconds"] = self.wall_seconds
        else:
            d["rnn"] = {k: {kk: vv for kk, vv in v.items() if kk != "seconds"} for k, v in self.rnn.items()}
        return _jsonable(d)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as one JSON object (non-finite numbers become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def table(self) -> list[dict]:
        """Formatted table cells, one dict per row, keyed by the COLUMNS names."""
        out = []
        for r in self.rows:
            out.append({
                "model": r.label,
                "size": r.size,
                "params": f"{r.params:,}",
                "train_seconds": f"{r.train_seconds:.2f}",
                "tokens_per_second": _fmt_rate(r.tokens_per_second),
                "valid_ppl": _fmt_ppl(r.valid_ppl),
                "test_ppl": _fmt_ppl(r.test_ppl),
                "bits_per_token": f"{r.bits_per_token:.3f}" if math.isfinite(r.bits_per_token) else "inf",
                "oov_rate": f"{100 * r.oov_rate:.2f}%",
                "scored": f"{r.valid_tokens:,} / {r.test_tokens:,}",
            })
        return out

    def footer(self) -> list[str]:
        t, s = self.tokens, self.sentences
        opts = ", ".join(f"{k}={v}" for k, v in self.text_options.items() if v is not None)
        lines = [
            f"corpus: {self.corpus} ({self.level} level; {opts})",
            f"splits (predicted tokens / sentences): train {t['train']:,} / {s['train']:,}, "
            f"valid {t['valid']:,} / {s['valid']:,}, test {t['test']:,} / {s['test']:,}",
            f"vocabulary: {self.vocab_size:,} types incl. specials, built on train (min count {self.min_count}); "
            f"OOV tokens: valid {self.oovs['valid']:,}, test {self.oovs['test']:,}",
            f"seed: {self.seed}; models: {self.models}",
        ]
        if self.interpolation:
            i = self.interpolation
            lines.append(
                f"interpolation: p = {i['weight']:.3f} * p({i['rnn']}) + {1 - i['weight']:.3f} * p({i['ngram']}), "
                "weight tuned on valid"
            )
        for label, note in self.notes.items():
            lines.append(f"{label}: {note}")
        lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in self.versions.items()))
        if self.wall_seconds:
            lines.append(f"wall time: {self.wall_seconds:.1f} s")
        return lines

    def to_markdown(self) -> str:
        """A Markdown table plus a footer (perplexities include OOVs; bits/token on test)."""
        cells = self.table()
        heads = [h for _, h in COLUMNS]
        numeric = {"params", "train_seconds", "tokens_per_second", "valid_ppl", "test_ppl", "bits_per_token",
                   "oov_rate", "scored"}
        lines = ["| " + " | ".join(heads) + " |",
                 "|" + "|".join("---:" if k in numeric else "---" for k, _ in COLUMNS) + "|"]
        for c in cells:
            lines.append("| " + " | ".join(c[k] for k, _ in COLUMNS) + " |")
        lines.append("")
        lines.extend(f"- {line}" for line in self.footer())
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """A plain-text table for the terminal."""
        cells = self.table()
        heads = [h for _, h in COLUMNS]
        widths = [max([len(h)] + [len(c[k]) for c in cells]) for k, h in COLUMNS]
        left = {"model", "size"}

        def fmt(values):
            return "  ".join(v.ljust(w) if k in left else v.rjust(w)
                             for (k, _), v, w in zip(COLUMNS, values, widths)).rstrip()

        lines = [fmt(heads), fmt(["-" * w for w in widths])]
        lines.extend(fmt([c[k] for k, _ in COLUMNS]) for c in cells)
        lines.append("")
        lines.extend(self.footer())
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """One CSV line per row with the raw (unformatted) numbers of :class:`Row`."""
        buf = io.StringIO()
        names = [f.name for f in fields(Row)]
        writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            d = asdict(r)
            writer.writerow({k: ("" if d[k] is None else d[k]) for k in names})
        return buf.getvalue()

    # ---- files -----------------------------------------------------------------
    def write_json(self, path) -> None:
        _write_text(path, self.to_json() + "\n")

    def write_markdown(self, path) -> None:
        _write_text(path, self.to_markdown())

    def write_csv(self, path) -> None:
        _write_text(path, self.to_csv())

    def plot(self, path=None, **kwargs):
        """Test perplexity per model (bars) and the RNN validation learning curves.

        The n-gram results are drawn as horizontal reference lines on the
        curves. Writes ``path`` (``.png``/``.svg``/``.pdf``) atomically when
        given; returns the matplotlib figure.
        """
        from .plots import plot_compare

        ngram_refs = {r.label: r.valid_ppl for r in self.rows if r.order is not None}
        return plot_compare(
            [r.label for r in self.rows],
            [r.test_ppl for r in self.rows],
            curves=self.curves,
            references=ngram_refs,
            path=path,
            title=f"{self.corpus} ({self.level} level): perplexity",
            **kwargs,
        )

    def save(self, directory, *, plot: bool = True) -> dict:
        """Write every trained model, ``report.json``/``.md``/``.csv`` and ``compare.png`` into ``directory``.

        Returns {what: path}. Models go through :mod:`ngramkit.modelio`
        (native format), one file per row label.
        """
        directory = prepare_out_dir(directory)
        written = {}
        from .modelio import save_model

        for label, model in self.trained.items():
            path = directory / f"{_safe_name(label)}{MODEL_SUFFIX}"
            # The training context, so `ngramkit ppl --model FILE` tokenises text the same way.
            info = {"corpus": self.source.get("corpus"), "files": list(self.source.get("files", {}).get("train", [])),
                    "text_options": dict(self.text_options), "min_count": self.min_count,
                    "train_tokens": self.tokens["train"], "train_sentences": self.sentences["train"],
                    "compare_row": label, "seed": self.seed}
            save_model(model, path, info=info)
            written[label] = path
        for name, writer in (("report.json", self.write_json), ("report.md", self.write_markdown),
                             ("report.csv", self.write_csv)):
            writer(directory / name)
            written[name] = directory / name
        if plot:
            self.plot(directory / "compare.png")
            written["compare.png"] = directory / "compare.png"
        return written


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", label.replace(":", "-"))


def _fmt_ppl(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{x:,.2f}" if x < 1e5 else f"{x:.3e}"


def _fmt_rate(x: float) -> str:
    if not math.isfinite(x) or x <= 0:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.1f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:,.0f}"


def _write_text(path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


# ---- output checks (before the expensive work) -----------------------------


def check_output_path(path, what: str, suffixes=None) -> Path:
    """One-line error now, rather than after minutes of training, for a path that cannot be written."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise NgramkitError(f"{what} {path}: unknown extension {path.suffix or '(none)'!r}; use {', '.join(suffixes)}")
    try:
        check_writable(path)
    except NgramkitError as exc:
        raise NgramkitError(f"{what} {exc}") from None
    return path


def prepare_out_dir(directory) -> Path:
    """Create ``directory`` (and parents) if needed; fail with one line if it cannot be written."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NgramkitError(f"--out {directory}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NgramkitError(f"--out {directory}: cannot create directory ({exc.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise NgramkitError(f"--out {directory}: directory is not writable")
    return directory


# ---- scoring -------------------------------------------------------------------


@dataclass
class Scores:
    """Perplexity numbers of one (N,) natural-log probability array."""

    tokens: int  # N predicted tokens
    oovs: int  # of which out of vocabulary (scored as <unk>)
    log_prob: float  # sum of natural-log probabilities (-inf if a token got probability 0)
    ppl: float  # exp(-log_prob / N), OOVs included
    ppl_no_oov: float  # over in-vocabulary tokens only
    bits: float  # cross-entropy in bits per token, OOVs included

    @classmethod
    def of(cls, log_probs: np.ndarray, oov: np.ndarray) -> Scores:
        # The same arithmetic as ngramkit.evaluate (log10 sums, 10 ** -mean), so the numbers
        # agree bit for bit with `ngramkit ppl` on the same model and text.
        lp10 = np.asarray(log_probs, np.float64) / LN10
        n, n_oov = int(lp10.size), int(np.count_nonzero(oov))
        total10, total10_iv = float(lp10.sum()), float(lp10[~oov].sum())
        return cls(n, n_oov, total10 * LN10, _ppl10(total10, n), _ppl10(total10_iv, n - n_oov),
                   -total10 * LN10 / LN2 / n if n else float("nan"))


def _ppl10(total10: float, n: int) -> float:
    if n == 0:
        return float("nan")
    with np.errstate(over="ignore"):
        return float(np.power(10.0, -total10 / n))


def mix_log_probs(lp_a: np.ndarray, lp_b: np.ndarray, weight: float) -> np.ndarray:
    """Per-token ``log(w * exp(a) + (1 - w) * exp(b))`` (linear interpolation of two models)."""
    if weight <= 0.0:
        return np.asarray(lp_b, np.float64)
    if weight >= 1.0:
        return np.asarray(lp_a, np.float64)
    return np.logaddexp(math.log(weight) + np.asarray(lp_a, np.float64),
                        math.log1p(-weight) + np.asarray(lp_b, np.float64))


def tune_weight(lp_a: np.ndarray, lp_b: np.ndarray, *, grid: int = 21, tol: float = 1e-4) -> float:
    """The weight w in [0, 1] of model a minimising the mean NLL of the mixture on these tokens.

    The objective ``-mean(log(w p_a + (1 - w) p_b))`` is convex in w, so a
    coarse grid followed by a golden-section search on the bracketing
    interval finds the global minimum to ``tol``.
    """
    def nll(w: float) -> float:
        return -float(np.mean(mix_log_probs(lp_a, lp_b, w)))

    ws = np.linspace(0.0, 1.0, grid)
    values = [nll(float(w)) for w in ws]
    best = int(np.nanargmin(values))
    lo, hi = float(ws[max(best - 1, 0)]), float(ws[min(best + 1, grid - 1)])
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    fc, fd = nll(c), nll(d)
    while hi - lo > tol:
        if fc <= fd:
            hi, d, fd = d, c, fc
            c = hi - inv_phi * (hi - lo)
            fc = nll(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + inv_phi * (hi - lo)
            fd = nll(d)
    w = (lo + hi) / 2.0
    # The ends are candidates too (the minimum may sit on the boundary).
    candidates = [(nll(w), w), (values[0], 0.0), (values[-1], 1.0)]
    return min(candidates)[1]


# ---- data ------------------------------------------------------------------------


@dataclass
class Data:
    """The three splits as id streams over one vocabulary built on train."""

    label: str  # corpus name or training file names
    options: object  # TextOptions used for every split
    vocab: object  # Vocabulary (train only)
    train: object  # Stream
    valid: object  # Stream
    test: object  # Stream
    source: dict = field(default_factory=dict)  # {"corpus": name or None, "files": {split: [paths]}}


def resolve_text_options(corpus: str | None, files: bool, text_options, level: str):
    """The TextOptions of a run: the corpus's defaults, then explicit overrides, then the level's tokenizer."""
    from .text import TextOptions

    if level not in LEVELS:
        raise NgramkitError(f"--level must be word or char, got {level!r}")
    overrides = {}
    if isinstance(text_options, TextOptions):
        options = text_options
    else:
        overrides = {k: v for k, v in dict(text_options or {}).items() if v is not None}
        if files:
            base = TextOptions()
        else:
            from . import corpora

            base = corpora.get(corpus or corpora.DEFAULT_CORPUS).text_options
        if overrides.get("pattern") and "tokenizer" not in overrides:
            overrides["tokenizer"] = "regex"
        try:
            options = base.with_(**overrides)
        except TypeError as exc:
            raise NgramkitError(f"text options: {exc}") from None
    if level == "char":
        if options.tokenizer != "char":
            if "tokenizer" in overrides or isinstance(text_options, TextOptions):
                raise NgramkitError(f"--level char needs --tokenizer char, got --tokenizer {options.tokenizer}")
            options = options.with_(tokenizer="char", pattern=None)
    elif options.tokenizer == "char" and not isinstance(text_options, TextOptions) and "tokenizer" in overrides:
        raise NgramkitError("--tokenizer char needs --level char (character-level models)")
    return options


def load_data(corpus: str | None = None, *, train=None, valid=None, test=None, text_options=None,
              level: str = "word", min_count: int = 1, max_vocab: int | None = None) -> Data:
    """Read the three splits, build the vocabulary on train, and the three id streams."""
    from .stream import Stream
    from .text import read_sentences
    from .vocab import Vocabulary

    given = {"--train": train, "--valid": valid, "--test": test}
    files = any(v for v in given.values())
    if files and corpus:
        raise NgramkitError("give --corpus or --train/--valid/--test files, not both")
    if files:
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise NgramkitError(f"--train, --valid and --test go together; missing {', '.join(missing)}")
    options = resolve_text_options(corpus, files, text_options, level)
    splits = {}
    if files:
        for name, value in (("train", train), ("valid", valid), ("test", test)):
            paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            try:
                splits[name] = read_sentences(paths, options)
            except NgramkitError as exc:
                raise type(exc)(f"--{name} {exc}") from None
        label = ", ".join(str(p) for p in ([train] if isinstance(train, (str, os.PathLike)) else train))
    else:
        from . import corpora

        label = corpus or corpora.DEFAULT_CORPUS
        for name in ("train", "valid", "test"):
            splits[name] = corpora.load_split(label, name, options)
    for name, sentences in splits.items():
        if not any(sentences):
            raise InputError(f"{name} split of {label} has no tokens")
    vocab = Vocabulary.build(splits["train"], min_count=min_count, max_size=max_vocab)
    streams = {name: Stream.from_sentences(s, vocab) for name, s in splits.items()}
    for name in ("valid", "test"):
        st = streams[name]
        words = st.n_tokens - st.n_sentences  # the </s> tokens are always known
        if words and st.n_oov == words:
            where = f"--{name} file" if files else f"{name} split"
            raise InputError(
                f"{where}: none of its {words:,} words is in the training vocabulary "
                f"({len(vocab):,} types); are the splits from the same text and text options?"
            )
    if files:
        source = {"corpus": None, "files": {k: [str(p) for p in ([v] if isinstance(v, (str, os.PathLike)) else v)]
                                            for k, v in (("train", train), ("valid", valid), ("test", test))}}
    else:
        source = {"corpus": label, "files": {}}
    return Data(label, options, vocab, streams["train"], streams["valid"], streams["test"], source)


# ---- RNN presets -----------------------------------------------------------------

# Per (corpus, level): RNNConfig fields ("model") and TrainConfig fields ("train").
# Sized so that the default run (timemachine, word level) finishes in well under
# 3 minutes on 2 cores, and PTB uses the class-softmax tanh RNN of the RNN issue.
RNN_PRESETS = {
    ("timemachine", "word"): {
        # 28k training tokens: the net overfits after a few epochs; dropout 0.5 and early stopping.
        "model": {"hidden": 128, "softmax": "class", "classes": 60, "dropout": 0.5},
        "train": {"batch": 16, "bptt": 20, "epochs": 12, "optimizer": "adam", "lr": 2e-3,
                  "schedule": "none", "clip": 1.0, "patience": 2},
    },
    ("timemachine", "char"): {
        # 28 symbols, ~170k training characters: a full softmax is cheap; H=128 keeps epochs short.
        "model": {"hidden": 128, "softmax": "full"},
        "train": {"batch": 32, "bptt": 35, "epochs": 10, "optimizer": "adam", "lr": 3e-3,
                  "schedule": "none", "clip": 1.0, "patience": 2},
    },
    ("ptb", "word"): {
        # The RNN issue's baseline (Mikolov's RNNLM -hidden 100 -class 100), trained with Adam
        # and the rnnlm learning-rate schedule (halve on a stall, stop at the second stall).
        "model": {"hidden": 100, "softmax": "class", "classes": 100},
        "train": {"batch": 64, "bptt": 35, "epochs": 13, "optimizer": "adam", "lr": 3e-3,
                  "schedule": "mikolov", "min_improvement": 1.003, "clip": 5.0, "patience": 3},
    },
    ("ptb", "char"): {
        "model": {"hidden": 256, "softmax": "full"},
        "train": {"batch": 64, "bptt": 50, "epochs": 5, "optimizer": "adam", "lr": 2e-3,
                  "schedule": "mikolov", "clip": 1.0, "patience": 2},
    },
}

RNN_OPTIONS = {  # compare()'s rnn={...} keys -> (which config, field)
    "hidden": ("model", "hidden"), "embed": ("model", "embed"), "layers": ("model", "layers"),
    "softmax": ("model", "softmax"), "classes": ("model", "classes"), "dropout": ("model", "dropout"),
    "tie_weights": ("model", "tie_weights"),
    "optimizer": ("train", "optimizer"), "lr": ("train", "lr"), "batch": ("train", "batch"),
    "bptt": ("train", "bptt"), "clip": ("train", "clip"), "epochs": ("train", "epochs"),
    "schedule": ("train", "schedule"), "patience": ("train", "patience"),
}


def rnn_preset(corpus: str | None, level: str, train_tokens: int | None = None) -> dict:
    """The preset for a registry corpus, else one chosen by level and training size."""
    key = (corpus, level)
    if key not in RNN_PRESETS:
        small = train_tokens is None or train_tokens < 300_000
        key = ("timemachine" if small else "ptb", level)
    preset = RNN_PRESETS[key]
    return {"model": dict(preset["model"]), "train": dict(preset["train"]), "preset": f"{key[0]}/{key[1]}"}


def rnn_settings(corpus, level, train_tokens, rnn: dict | None, epochs: int | None, seed: int,
                 hidden: int | None = None, cell: str = "rnn") -> dict:
    """Preset + user overrides, validated: {"model": RNNConfig kwargs, "train": TrainConfig kwargs, "preset"}."""
    settings = rnn_preset(corpus, level, train_tokens)
    for key, value in (rnn or {}).items():
        if value is None:
            continue
        if key not in RNN_OPTIONS:
            raise NgramkitError(f"unknown RNN option {key!r}; valid: {', '.join(RNN_OPTIONS)}")
        part, name = RNN_OPTIONS[key]
        settings[part][name] = value
    if epochs is not None:
        settings["train"]["epochs"] = epochs
    if hidden is not None:
        settings["model"]["hidden"] = hidden
    settings["model"]["cell"] = cell
    settings["model"]["seed"] = seed
    settings["train"]["seed"] = seed
    return settings


def check_epochs(epochs) -> None:
    if epochs is None:
        return
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)):
        raise NgramkitError(f"--epochs must be an integer >= 1, got {epochs!r}")
    if epochs < 1:
        raise NgramkitError(f"--epochs must be >= 1, got {epochs}")


# ---- the comparison ---------------------------------------------------------------


def _versions() -> dict:
    from . import __version__

    out = {"ngramkit": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        from .rnn import kernels

        out["rnn kernel"] = kernels.implementation()
    except (ImportError, ValueError):
        pass
    out["platform"] = f"{platform.system()} {platform.machine()}"
    return out


def _ngram_params(model, counts) -> int:
    """Stored n-gram entries (probabilities) of orders 1..order: what an ARPA file of the model lists."""
    for attr in ("n_params", "num_params", "n_parameters"):
        value = getattr(model, attr, None)
        if value is not None:
            return int(value() if callable(value) else value)
    return int(sum(counts.distinct(k) for k in range(1, model.order + 1)))


def fit_ngram(models: dict, name: str, order: int, counts):
    """Fit ``models[name](order)`` on ``counts``: (model, note).

    Modified Kneser-Ney's closed-form discounts (Chen & Goodman 1998, eq. 26)
    are undefined when an order's count-of-counts are degenerate, typically
    5-grams of a small corpus. So ``mkn`` is fitted with
    ``discount_fallback=True`` (KenLM's ``lmplz --discount_fallback``): the
    orders whose estimate fails use D1, D2, D3+ = 0.5, 1, 1.5 and the others
    keep their estimates; ``note`` says which orders fell back (empty when
    none did).
    """
    cls = models[name]
    model = cls(order, discount_fallback=True) if name == "mkn" else cls(order)
    model.fit(counts)
    fell_back = list(getattr(model, "fallback_orders_", []))
    if not fell_back:
        return model, ""
    which = ", ".join(map(str, fell_back))
    return model, (f"discounts of order {which} undefined on this data (degenerate count-of-counts); "
                   f"used KenLM's --discount_fallback values D1, D2, D3+ = 0.5, 1, 1.5 there")


def _score(model, data: Data) -> tuple[np.ndarray, np.ndarray, float]:
    """(valid log-probs, test log-probs, seconds)."""
    t0 = time.perf_counter()
    lp_valid = np.asarray(model.log_probs(data.valid), np.float64)
    lp_test = np.asarray(model.log_probs(data.test), np.float64)
    seconds = time.perf_counter() - t0
    for name, lp, stream in (("valid", lp_valid, data.valid), ("test", lp_test, data.test)):
        if lp.shape != (stream.n_tokens,):
            raise NgramkitError(
                f"{type(model).__name__}.log_probs returned shape {lp.shape} on {name}, "
                f"expected ({stream.n_tokens},): every model must score the same tokens"
            )
    return lp_valid, lp_test, seconds


def _row(model_name, label, order, size, params, train_seconds, lp_valid, lp_test, score_seconds, data,
         **extra) -> Row:
    sv, st = Scores.of(lp_valid, data.valid.oov), Scores.of(lp_test, data.test.oov)
    n = sv.tokens + st.tokens
    return Row(
        model=model_name, label=label, order=order, size=size, params=int(params),
        train_seconds=float(train_seconds),
        tokens_per_second=n / score_seconds if score_seconds > 0 else float("inf"),
        valid_ppl=sv.ppl, test_ppl=st.ppl, bits_per_token=st.bits,
        oov_rate=st.oovs / st.tokens if st.tokens else 0.0,
        valid_tokens=sv.tokens, test_tokens=st.tokens,
        valid_ppl_no_oov=sv.ppl_no_oov, test_ppl_no_oov=st.ppl_no_oov,
        score_seconds=float(score_seconds), **extra,
    )


def _say(progress):
    if progress is None:
        return lambda msg: None
    if progress is True:
        return lambda msg: print(msg, file=sys.stderr, flush=True)
    return progress


def compare(
    corpus: str | None = None,
    *,
    train=None,
    valid=None,
    test=None,
    models: str | list | None = None,
    level: str = "word",
    text_options=None,
    min_count: int = 1,
    max_vocab: int | None = None,
    rnn: dict | None = None,
    epochs: int | None = None,
    interpolate: bool = True,
    seed: int = 1,
    progress: Callable[[str], None] | bool | None = None,
    rnn_progress: bool | None = None,
    keep_models: bool = True,
) -> Report:
    """Train every requested model on the training split and score all of them on the same valid/test tokens.

    ``corpus``: a registry name (default ``timemachine``), or give
    ``train``/``valid``/``test`` (a path or a list of paths each) instead.
    ``models``: a spec string (see :func:`parse_models`) or a list of
    :class:`ModelSpec`; default ``laplace:1-3,mkn:3,mkn:5,rnn`` (word level) or
    ``laplace:1-3,mkn:3,mkn:5,mkn:7,rnn`` (char level).
    ``text_options``: a :class:`~ngramkit.text.TextOptions` used as is, or a
    dict of overrides of the corpus's defaults. ``level="char"``: the char
    tokenizer (character-level models). ``rnn``: overrides of the RNN preset
    (keys of :data:`RNN_OPTIONS`), ``epochs`` the maximum RNN epochs.
    ``progress``: a callable receiving one-line messages (``True``: stderr).
    ``keep_models``: keep the fitted models in ``Report.trained`` (for
    :meth:`Report.save`).

    Raises :class:`~ngramkit.errors.NgramkitError` (one line) on bad input,
    before any training where possible.
    """
    t_start = time.perf_counter()
    say = _say(progress)
    check_epochs(epochs)
    if level not in LEVELS:
        raise NgramkitError(f"--level must be word or char, got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NgramkitError(f"--seed must be an integer >= 0, got {seed!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise NgramkitError(f"--min-count must be an integer >= 1, got {min_count!r}")
    if models is None:
        models = DEFAULT_CHAR_MODELS if level == "char" else DEFAULT_MODELS
    spec_text = models
    specs = parse_models(spec_text) if isinstance(spec_text, str) else list(spec_text)
    spec_text = spec_text if isinstance(spec_text, str) else ",".join(s.label for s in specs)
    rnn_specs = [s for s in specs if s.is_rnn]
    if rnn_specs:
        # Validate the RNN options now (vocab_size is a placeholder until the vocabulary exists).
        from .rnn.config import RNNConfig, TrainConfig

        for s in rnn_specs:
            st = rnn_settings(corpus, level, None, rnn, epochs, int(seed), s.hidden, s.name)
            RNNConfig(vocab_size=2, **st["model"])
            TrainConfig(**st["train"])

    say("reading the train/valid/test splits ...")
    data = load_data(corpus, train=train, valid=valid, test=test, text_options=text_options, level=level,
                     min_count=min_count, max_vocab=max_vocab)
    say(f"{data.label}: train {data.train.n_tokens:,}, valid {data.valid.n_tokens:,}, "
        f"test {data.test.n_tokens:,} predicted tokens; vocabulary {len(data.vocab):,}")

    rows: list[Row] = []
    log_probs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    trained: dict = {}
    curves: dict = {}
    rnn_info: dict = {}
    notes: dict = {}  # row label -> what was done differently (e.g. fallback discounts)

    # n-gram models: counts per distinct order, shared by the rows of that order.
    ngram_specs = [s for s in specs if not s.is_rnn]
    if ngram_specs:
        from .counts import NGramCounts
        from .models import MODELS

        counts_cache: dict[int, tuple[object, float]] = {}
        for i, s in enumerate(ngram_specs, 1):
            if s.order not in counts_cache:
                t0 = time.perf_counter()
                counts_cache[s.order] = (NGramCounts.from_stream(data.train, s.order), time.perf_counter() - t0)
            counts, count_seconds = counts_cache[s.order]
            say(f"[{s.label}] fitting ({i}/{len(ngram_specs)} n-gram models) ...")
            t0 = time.perf_counter()
            model, note = fit_ngram(MODELS, s.name, s.order, counts)
            fit_seconds = time.perf_counter() - t0
            if note:
                say(f"[{s.label}] {note}")
                notes[s.label] = note
            lp_valid, lp_test, score_seconds = _score(model, data)
            size = f"order {s.order}" + (" (fallback D)" if note else "")
            row = _row(s.name, s.label, s.order, size, _ngram_params(model, counts),
                       count_seconds + fit_seconds, lp_valid, lp_test, score_seconds, data)
            say(f"[{s.label}] valid ppl {_fmt_ppl(row.valid_ppl)}, test ppl {_fmt_ppl(row.test_ppl)}")
            rows.append(row)
            log_probs[s.label] = (lp_valid, lp_test)
            if keep_models:
                trained[s.label] = model
        del counts_cache

    # RNNs: the preset for the corpus, trained with early stopping on valid.
    if rnn_specs:
        from .rnn.config import RNNConfig, TrainConfig
        from .rnn.model import RNNLM
        from .rnn.train import StderrProgress
        from .rnn.train import train as train_rnn

        show_bar = progress is not None if rnn_progress is None else rnn_progress
        class_counts = np.bincount(data.train.ids, minlength=len(data.vocab))
        for s in rnn_specs:
            st = rnn_settings(corpus or (None if train else "timemachine"), level, data.train.n_tokens, rnn,
                              epochs, int(seed), s.hidden, s.name)
            config = RNNConfig(vocab_size=len(data.vocab), **st["model"])
            tconfig = TrainConfig(**st["train"])
            say(f"[{s.label}] training {config.cell} H={config.hidden} {config.softmax} softmax, "
                f"up to {tconfig.epochs} epochs ({tconfig.optimizer}, lr {tconfig.lr:g}; preset {st['preset']}) ...")
            t0 = time.perf_counter()
            model = RNNLM.create(config, data.vocab, class_counts)
            result = train_rnn(model, data.train, data.valid, tconfig,
                               progress=StderrProgress() if show_bar else None)
            train_seconds = time.perf_counter() - t0
            model = result.model
            lp_valid, lp_test, score_seconds = _score(model, data)
            size = f"H={config.hidden}" + (f"x{config.layers}" if config.layers > 1 else "")
            size += f", {config.softmax} softmax" + (f" ({config.classes})" if config.softmax == "class" else "")
            params = int(model.n_params)
            row = _row(s.name, s.label, None, size, params, train_seconds, lp_valid, lp_test, score_seconds,
                       data, hidden=config.hidden, epochs=len(result.history))
            say(f"[{s.label}] valid ppl {_fmt_ppl(row.valid_ppl)}, test ppl {_fmt_ppl(row.test_ppl)} "
                f"after {len(result.history)} epochs ({result.stop_reason})")
            rows.append(row)
            log_probs[s.label] = (lp_valid, lp_test)
            curves[s.label] = [e["valid_ppl"] for e in result.history]
            rnn_info[s.label] = {
                "preset": st["preset"], "config": config.to_dict(), "train": tconfig.to_dict(),
                "stop_reason": result.stop_reason,
                "history": [{k: e.get(k) for k in ("epoch", "lr", "train_ppl", "valid_ppl")} for e in result.history],
                "seconds": [e.get("seconds") for e in result.history],
            }
            if keep_models:
                trained[s.label] = model

    interpolation = None
    if interpolate and rnn_specs and ngram_specs:
        best_rnn = min((r for r in rows if r.order is None), key=lambda r: r.valid_ppl)
        best_ngram = min((r for r in rows if r.order is not None), key=lambda r: r.valid_ppl)
        a_valid, a_test = log_probs[best_rnn.label]
        b_valid, b_test = log_probs[best_ngram.label]
        t0 = time.perf_counter()
        weight = tune_weight(a_valid, b_valid)
        mix_valid = mix_log_probs(a_valid, b_valid, weight)
        mix_test = mix_log_probs(a_test, b_test, weight)
        mix_seconds = time.perf_counter() - t0
        label = f"{best_rnn.label}+{best_ngram.label}"
        row = _row("interpolated", label, None, f"w={weight:.3f}", best_rnn.params + best_ngram.params,
                   best_rnn.train_seconds + best_ngram.train_seconds, mix_valid, mix_test,
                   best_rnn.score_seconds + best_ngram.score_seconds + mix_seconds, data, weight=weight)
        say(f"[{label}] weight {weight:.3f} on the RNN: valid ppl {_fmt_ppl(row.valid_ppl)}, "
            f"test ppl {_fmt_ppl(row.test_ppl)}")
        rows.append(row)
        interpolation = {"rnn": best_rnn.label, "ngram": best_ngram.label, "weight": weight,
                         "valid_ppl": row.valid_ppl, "test_ppl": row.test_ppl}

    return Report(
        corpus=data.label,
        level=level,
        vocab_size=len(data.vocab),
        tokens={"train": data.train.n_tokens, "valid": data.valid.n_tokens, "test": data.test.n_tokens},
        sentences={"train": data.train.n_sentences, "valid": data.valid.n_sentences, "test": data.test.n_sentences},
        oovs={"valid": data.valid.n_oov, "test": data.test.n_oov},
        seed=int(seed),
        rows=rows,
        text_options=data.options.to_dict(),
        min_count=int(min_count),
        models=spec_text,
        curves=curves,
        rnn=rnn_info,
        interpolation=interpolation,
        notes=notes,
        source=data.source,
        versions=_versions(),
        wall_seconds=time.perf_counter() - t_start,
        trained=trained,
    )
