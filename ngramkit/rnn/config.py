"""Configuration dataclasses of the RNN language model and its trainer.

Input: keyword hyper-parameters. Output: validated, JSON-serialisable
dataclasses. :class:`RNNConfig` describes the model and is saved next to the
weights, so loading a model needs no flags (nanoGPT's ``model_args``);
:class:`TrainConfig` describes one training run and is saved in checkpoints,
so ``--resume`` continues with exactly the same settings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import NgramkitError, ParameterError

CELLS = ("rnn", "gru", "lstm")
SOFTMAXES = ("full", "class")
CLASS_BINNINGS = ("freq", "sqrt", "exchange")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("mikolov", "step", "none")


def _from_dict(cls, data: dict, what: str):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise NgramkitError(f"{what}: unknown field(s) {', '.join(unknown)}; was it written by a newer ngramkit?")
    return cls(**data)


def _integer(value, name: str, low: int) -> int:
    """``value`` if it is an integer >= ``low`` (not a bool); else a :class:`ParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(name, f"must be an integer >= {low}, got {value!r}")
    return value


def _finite(value, name: str, test, wanted: str) -> float:
    """``value`` if it is a finite number with ``test(value)``; else a :class:`ParameterError` saying ``wanted``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value) or not test(value):
        raise ParameterError(name, f"must be {wanted}, got {value!r}")
    return value


def _choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ParameterError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_architecture(arch: dict) -> None:
    """Validate every :class:`RNNConfig` field but ``vocab_size`` (all of them, defaults filled in).

    A recipe is checked with this before any text is read, when the
    vocabulary size is not known yet; :class:`RNNConfig` runs it too. A bad
    value is a :class:`ParameterError` naming the field.
    """
    cell, hidden, embed = arch["cell"], arch["hidden"], arch["embed"]
    _choice(cell, "cell", CELLS)
    if arch["peephole"] and cell != "lstm":
        raise ParameterError("peephole", f"needs the lstm cell, got cell {cell!r}")
    _choice(arch["softmax"], "softmax", SOFTMAXES)
    _choice(arch["class_binning"], "class_binning", CLASS_BINNINGS)
    for name in ("hidden", "layers", "classes"):
        _integer(arch[name], name, 1)
    if embed is not None:
        _integer(embed, "embed", 1)
    embed_size = hidden if embed is None else embed
    if arch["tie_weights"] and embed_size != hidden:
        raise ParameterError("tie_weights", f"needs the embedding size equal to the hidden size, got embed "
                                            f"{embed_size} and hidden {hidden}")
    _finite(arch["dropout"], "dropout", lambda x: 0 <= x < 1, "in [0, 1)")
    _finite(arch["init_scale"], "init_scale", lambda x: x > 0, "a finite number > 0")
    _integer(arch["seed"], "seed", 0)


@dataclass(frozen=True)
class RNNConfig:
    """Architecture of an :class:`~ngramkit.rnn.model.RNNLM`.

    >>> RNNConfig(vocab_size=100, cell="gru", hidden=32).embed_size
    32
    """

    vocab_size: int  # V: output classes = vocabulary size, specials included
    cell: str = "rnn"  # rnn (Elman tanh) | gru | lstm
    hidden: int = 200  # H: units per recurrent layer
    embed: int | None = None  # E: embedding size; None means E = H
    layers: int = 1  # L: stacked recurrent layers
    peephole: bool = False  # lstm only: the gates also see the cell state (Gers et al. 2002; reference.py)
    tie_weights: bool = False  # share the embedding with the output word matrix (needs E = H)
    softmax: str = "full"  # full (one V-way softmax) | class (Mikolov's P(class|h) P(word|class,h))
    classes: int = 100  # C requested for softmax=class (fewer if the frequency binning leaves some empty)
    class_binning: str = "freq"  # freq: equal unigram mass per class (RNNLM -old-classes); sqrt: equal
    # sqrt-frequency mass (RNNLM's default; fewer words per class on average, so faster, see class_layout);
    # exchange: the freq bins refined by the exchange algorithm on the training bigrams (rnn.wordclasses)
    dropout: float = 0.0  # drop probability on non-recurrent connections, training only
    init_scale: float = 0.1  # weights start uniform in [-init_scale, init_scale] (Zaremba et al. 2014)
    seed: int = 0  # seeds the initial weights

    def __post_init__(self):
        _integer(self.vocab_size, "vocab_size", 2)
        check_architecture({f.name: getattr(self, f.name) for f in fields(self) if f.name != "vocab_size"})

    @property
    def embed_size(self) -> int:
        return self.hidden if self.embed is None else self.embed

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RNNConfig:
        return _from_dict(cls, data, "RNN config")


@dataclass(frozen=True)
class TrainConfig:
    """One training run of :func:`~ngramkit.rnn.train.train`.

    The loss of a segment is the summed negative log-likelihood over its T
    steps divided by the batch size B (Zaremba et al.'s convention, so SGD
    learning rates near 1 and clip 5 are the usual settings).
    """

    batch: int = 20  # B: parallel sub-streams (sequential partitioning)
    bptt: int = 35  # T: truncated-BPTT segment length (mean length with random_bptt)
    random_bptt: bool = False  # draw each segment length around bptt (D2L "randomized truncation")
    epochs: int = 13  # maximum passes over the training stream
    optimizer: str = "sgd"  # sgd | adam
    lr: float = 1.0  # initial learning rate
    schedule: str = "mikolov"  # mikolov: halve when valid ppl improves < min_improvement, stop at next stall;
    #                            step: multiply lr by lr_decay every epoch after decay_after; none: constant
    min_improvement: float = 1.003  # mikolov schedule: required factor of valid-ppl improvement per epoch
    lr_decay: float = 0.5  # step schedule: lr factor per epoch
    decay_after: int = 4  # step schedule: epochs at the initial lr
    clip: float = 5.0  # clip the global gradient norm to this value (0 disables)
    patience: int = 3  # early stopping: epochs without a new best valid ppl before stopping (0 disables)
    adam_betas: tuple = (0.9, 0.999)  # Adam's moment decay rates
    adam_eps: float = 1e-8  # Adam's denominator guard
    seed: int = 0  # seeds dropout masks, segment lengths and the sub-stream offset

    def __post_init__(self):
        for name in ("batch", "bptt", "epochs"):
            _integer(getattr(self, name), name, 1)
        for name in ("patience", "decay_after", "seed"):
            _integer(getattr(self, name), name, 0)
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        _choice(self.schedule, "schedule", SCHEDULES)
        _finite(self.lr, "lr", lambda x: x > 0, "a finite number > 0")
        _finite(self.clip, "clip", lambda x: x >= 0, "a finite number >= 0 (0 disables clipping)")
        _finite(self.min_improvement, "min_improvement", lambda x: x >= 1, "a finite number >= 1")
        _finite(self.lr_decay, "lr_decay", lambda x: 0 < x <= 1, "in (0, 1]")
        _finite(self.adam_eps, "adam_eps", lambda x: x > 0, "a finite number > 0")
        if not isinstance(self.adam_betas, (list, tuple)) or len(self.adam_betas) != 2:
            raise ParameterError("adam_betas", f"must be two numbers in [0, 1), got {self.adam_betas!r}")
        for beta in self.adam_betas:
            _finite(beta, "adam_betas", lambda x: 0 <= x < 1, "two numbers in [0, 1)")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return _from_dict(cls, data, "training config")
