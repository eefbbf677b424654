"""The comparison's result: one :class:`Row` per model and the facts needed to repeat the run.

Input: rows and run facts from :func:`ngramkit.compare.compare`. Output:
the same as a terminal table (``to_text``), Markdown, CSV, JSON, a figure
(``plot``) or a directory of models and reports (``save``); every file is
written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import asdict, dataclass, field, fields

from ..fileio import atomic_open, prepare_out_dir
from ..jsonout import dumps, jsonable
from ..modelio import save_model
from ..plots import plot_compare

MODEL_SUFFIX = ".ngk"  # ngramkit's native model format (n-gram and RNN alike)

# Fields that measure the machine, not the model: left out when two runs are compared.
TIMING_FIELDS = ("train_seconds", "tokens_per_second", "score_seconds")


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
        """The row under the JSON names (README "JSON output"): non-finite numbers are null plus a companion."""
        d = asdict(self)
        if not timings:
            for k in TIMING_FIELDS:
                d.pop(k, None)
        return jsonable(d)


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
    train_curves: dict = field(default_factory=dict)  # RNN label -> per-epoch training perplexities
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
        """The report under the JSON names of every ``--json`` (README "JSON output"), JSON-ready.

        Per-split counts are flat keys (``train_tokens``, ``valid_sentences``,
        ``test_oovs``, ...), as in the rows (``valid_ppl``, ``test_tokens``);
        ``source`` is the corpus name or the training files, ``corpus`` the
        registry name (null for files), ``split_files`` the files of each split.
        ``timings=False`` drops what measures the machine, not the models.
        """
        d = {"source": self.corpus, "corpus": self.source.get("corpus"), "level": self.level,
             "vocab_size": self.vocab_size}
        for split in ("train", "valid", "test"):
            d[f"{split}_tokens"] = self.tokens.get(split)
            d[f"{split}_sentences"] = self.sentences.get(split)
        for split in ("valid", "test"):
            d[f"{split}_oovs"] = self.oovs.get(split)
        rnn = {}
        for label, details in self.rnn.items():
            details = {("epoch_seconds" if k == "seconds" else k): v for k, v in details.items()}
            if not timings:
                details.pop("epoch_seconds", None)
            rnn[label] = details
        d.update({
            "seed": self.seed,
            "min_count": self.min_count,
            "text_options": dict(self.text_options),
            "models": self.models,
            "rows": [r.to_dict(timings=timings) for r in self.rows],
            "curves": {k: list(v) for k, v in self.curves.items()},
            "rnn": rnn,
            "interpolation": self.interpolation,
            "notes": dict(self.notes),
            "split_files": dict(self.source.get("files", {})),
            "versions": dict(self.versions),
        })
        if timings:
            d["wall_seconds"] = self.wall_seconds
        return jsonable(d)

    def to_json(self) -> str:
        """The report as ngramkit's JSON (:func:`ngramkit.jsonout.dumps`: schema key, indent 2, null for inf/nan)."""
        return dumps(self.to_dict(), command="compare")

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
                "valid_ppl": format_ppl(r.valid_ppl),
                "test_ppl": format_ppl(r.test_ppl),
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
        for label, run in self.rnn.items():
            if run.get("preset"):
                rule = f" ({run['recipe_rule']})" if run.get("recipe_rule") else ""
                lines.append(f"{label}: recipe {run['preset']}{rule}")
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

    def plot(self, path=None, *, title: str | None = None, **kwargs):
        """The figure: test perplexity of every row (dot plot) and the RNN training curves.

        Every row is drawn, the interpolated one included; the n-gram and
        interpolated rows' validation perplexities are reference lines on the
        curves (see :func:`ngramkit.plots.plot_compare`). ``title``: the
        figure's title (default: corpus and level). Writes ``path``
        (``.png``/``.svg``/``.pdf``) atomically when given; returns the
        matplotlib figure.
        """
        refs = {r.label: r.valid_ppl for r in self.rows if r.label not in self.curves}
        return plot_compare(
            [r.label for r in self.rows],
            [r.test_ppl for r in self.rows],
            curves=self.curves,
            train_curves=self.train_curves,
            references=refs,
            path=path,
            title=title or f"{self.corpus} ({self.level} level): perplexity",
            **kwargs,
        )

    def save(self, directory, *, plot: bool = True, title: str | None = None) -> dict:
        """Write every trained model, ``report.json``/``.md``/``.csv`` and ``compare.png`` into ``directory``.

        Returns {what: path}. Models go through :mod:`ngramkit.modelio`
        (native format), one file per row label.
        """
        directory = prepare_out_dir(directory)
        written = {}
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
            self.plot(directory / "compare.png", title=title)
            written["compare.png"] = directory / "compare.png"
        return written


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", label.replace(":", "-"))


def format_ppl(x: float) -> str:
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
