"""One adapter per model family: how a row of the comparison is trained.

Input: a :class:`~ngramkit.compare.specs.ModelSpec` (plus the family's
options) and, at ``fit`` time, the :class:`~ngramkit.compare.data.SplitStreams`.
Output: :class:`Fitted`: a trained model with the one scoring contract
``log_probs(stream)``, and what the report says about its training (size,
parameters, seconds, notes, learning curve).

Every adapter checks its options when it is built, before any text is read.
Scoring is not the adapters' business: :func:`ngramkit.compare.compare`
scores every fitted model the same way. A new model family is one class with
``family``, ``spec`` and ``fit(splits, say)``, added to :func:`build_candidates`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol


from ..counts import NGramCounts
from ..models import MODELS
from ..lm import LanguageModel
from ..rnn import presets
from ..rnn.model import RNNLM
from ..rnn.train import diagnose, train
from ..stream import Stream
from .data import SplitStreams
from .specs import ModelSpec

Say = Callable[[str], None]


@dataclass
class Fitted:
    """A trained model and what the report says about its training."""

    model: LanguageModel
    size: str  # the table's order/size cell: "order 3", "H=128, class softmax (60)"
    params: int  # n-gram: distinct training n-grams of orders 1..order; RNN: trainable weights
    seconds: float  # counting + estimation, or training; wall clock
    note: str = ""  # a footer line for the row (e.g. fallback discounts); empty: none
    done: str = ""  # appended to the progress line with the perplexities
    row: dict = field(default_factory=dict)  # further Row fields (hidden, epochs)
    curve: list | None = None  # validation perplexity per epoch, for the figure
    train_curve: list | None = None  # training perplexity per epoch, for the figure
    details: dict | None = None  # the report's record of the run (Report.rnn)


class Candidate(Protocol):
    family: str  # rows of different families are interpolated: "ngram" | "rnn"
    spec: ModelSpec

    def fit(self, splits: SplitStreams, say: Say) -> Fitted: ...


# ---- n-gram models ------------------------------------------------------------------------------


class TrainingCounts:
    """The training n-gram counts at the highest order any row needs, counted once, on first use.

    Counts of order N hold every lower order, and every model accepts counts
    of a higher order than its own. Released when the last of ``users`` rows
    has taken them, so they are not held while the RNNs train.
    """

    def __init__(self, order: int, users: int):
        self.order, self.users = order, users
        self._counts: NGramCounts | None = None
        self._seconds = 0.0

    def take(self, train_stream: Stream) -> tuple[NGramCounts, float]:
        """(counts, seconds spent counting)."""
        if self._counts is None:
            t0 = time.perf_counter()
            self._counts = NGramCounts.from_stream(train_stream, self.order)
            self._seconds = time.perf_counter() - t0
        counts, self.users = self._counts, self.users - 1
        if self.users <= 0:
            self._counts = None
        return counts, self._seconds


def fit_ngram(models: dict, name: str, order: int, counts: NGramCounts) -> tuple[LanguageModel, str]:
    """Fit ``models[name](order)`` on ``counts``: (model, note).

    Modified Kneser-Ney's closed-form discounts (Chen & Goodman 1998, eq. 26)
    are undefined when an order's count-of-counts are degenerate, typically
    5-grams of a small corpus or unigrams of characters. The rule is
    ``ngramkit train ngram``'s: ``mkn`` is fitted with
    ``discount_fallback=True`` (KenLM's ``lmplz --discount_fallback``), the
    orders whose estimate fails use D1, D2, D3+ = 0.5, 1, 1.5 and the others
    keep their estimates; ``note`` is the model's ``fallback_note_``, which
    names those orders and discounts (empty when none fell back).
    """
    cls = models[name]
    model = cls(order, discount_fallback=True) if name == "mkn" else cls(order)
    model.fit(counts)
    return model, getattr(model, "fallback_note_", "")


def ngram_params(counts: NGramCounts, order: int) -> int:
    """Distinct training n-grams of orders 1..order: the entries of the model's tables.

    (The backoff form also stores a ``<s>`` unigram, which is never predicted.)
    """
    return int(sum(counts.distinct(k) for k in range(1, order + 1)))


class NgramCandidate:
    """An n-gram estimator of :data:`ngramkit.models.MODELS` at one order."""

    family = "ngram"

    def __init__(self, spec: ModelSpec, counts: TrainingCounts):
        self.spec, self.counts = spec, counts

    def fit(self, splits: SplitStreams, say: Say) -> Fitted:
        counts, count_seconds = self.counts.take(splits.train)
        say(f"[{self.spec.label}] fitting ...")
        t0 = time.perf_counter()
        model, note = fit_ngram(MODELS, self.spec.name, self.spec.order, counts)
        seconds = count_seconds + time.perf_counter() - t0
        size = f"order {self.spec.order}" + (" (fallback D)" if note else "")
        return Fitted(model, size, ngram_params(counts, self.spec.order), seconds, note=note)


# ---- RNNs ---------------------------------------------------------------------------------------


class RNNCandidate:
    """A tanh RNN, GRU or LSTM: the corpus's preset (:mod:`ngramkit.rnn.presets`) with the user's options,
    trained with early stopping on the validation split."""

    family = "rnn"

    def __init__(self, spec: ModelSpec, *, corpus: str | None, level: str, options: dict, seed: int,
                 progress: Callable[[dict], None] | None):
        # cell and hidden size from the spec (lstm:200) win over the options
        self.spec, self.level, self.progress = spec, level, progress
        self.options = {**options, "cell": spec.name, "seed": seed}
        if spec.hidden is not None:
            self.options["hidden"] = spec.hidden
        for name in presets.compare_preset_choices(corpus, level):  # the choice may wait for the train size
            presets.resolve(name, self.options)

    def fit(self, splits: SplitStreams, say: Say) -> Fitted:
        name, why = presets.pick(splits.source.get("corpus"), self.level, splits.train.n_tokens)
        recipe = presets.resolve(name, self.options)
        config, tconfig = recipe.config(len(splits.vocab)), recipe.train
        say(f"[{self.spec.label}] training {config.cell} H={config.hidden} {config.softmax} softmax, "
            f"up to {tconfig.epochs} epochs ({tconfig.optimizer}, lr {tconfig.lr:g}; preset {name}) ...")
        t0 = time.perf_counter()
        model = RNNLM.create(config, splits.vocab, train_ids=splits.train.ids)
        result = train(model, splits.train, splits.valid, tconfig, progress=self.progress)
        seconds = time.perf_counter() - t0
        size = f"H={config.hidden}" + (f"x{config.layers}" if config.layers > 1 else "")
        size += f", {config.softmax} softmax" + (f" ({config.classes})" if config.softmax == "class" else "")
        history = result.history
        details = {
            "preset": name, "recipe_rule": why, "config": config.to_dict(), "train": tconfig.to_dict(),
            "stop_reason": result.stop_reason,
            "history": [{k: e.get(k) for k in ("epoch", "lr", "train_ppl", "valid_ppl")} for e in history],
            "seconds": [e.get("seconds") for e in history],
        }
        warning = diagnose(result, len(splits.vocab), tconfig)
        return Fitted(result.model, size, int(result.model.n_params), seconds, note=warning or "",
                      done=f" after {len(history)} epochs ({result.stop_reason})",
                      row={"hidden": config.hidden, "epochs": len(history)},
                      curve=[e["valid_ppl"] for e in history], train_curve=[e["train_ppl"] for e in history],
                      details=details)


def build_candidates(specs: list[ModelSpec], *, corpus: str | None, level: str, rnn: dict | None,
                     epochs: int | None, seed: int, progress: Callable[[dict], None] | None = None
                     ) -> list[Candidate]:
    """One adapter per row, n-gram rows first (they share one count of the training split), then RNNs.

    ``corpus``: the registry corpus, None for files (it picks the RNN
    preset). ``rnn``: options over the preset; ``epochs``: the RNN's maximum;
    ``progress``: the RNN trainer's callback.
    Raises NgramkitError on a bad RNN option before any text is read.
    """
    ngram_specs = [s for s in specs if not s.is_rnn]
    counts = TrainingCounts(max((s.order for s in ngram_specs), default=1), len(ngram_specs))
    out: list[Candidate] = [NgramCandidate(s, counts) for s in ngram_specs]
    options = dict(rnn or {})
    if epochs is not None:
        options["epochs"] = epochs
    out += [RNNCandidate(s, corpus=corpus, level=level, options=options, seed=seed, progress=progress)
            for s in specs if s.is_rnn]
    return out
