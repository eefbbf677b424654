"""Configuration dataclasses of the RNN language model and its trainer.

Input: keyword hyper-parameters. Output: validated, JSON-serialisable
dataclasses. :class:`RNNConfig` describes the model and is saved next to the
weights, so loading a model needs no flags (nanoGPT's ``model_args``);
:class:`TrainConfig` describes one training run and is saved in checkpoints,
so ``--resume`` continues with exactly the same settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import NgramkitError

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


def check_architecture(arch: dict) -> None:
    """Validate every :class:`RNNConfig` field but ``vocab_size`` (all of them, defaults filled in).

    A recipe is checked with this before any text is read, when the
    vocabulary size is not known yet; :class:`RNNConfig` runs it too.
    """
    cell, hidden, embed = arch["cell"], arch["hidden"], arch["embed"]
    if cell not in CELLS:
        raise NgramkitError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if arch["peephole"] and cell != "lstm":
        raise NgramkitError(f"--peephole needs --cell lstm, got --cell {cell}")
    if arch["softmax"] not in SOFTMAXES:
        raise NgramkitError(f"--softmax must be full or class, got {arch['softmax']!r}")
    if arch["class_binning"] not in CLASS_BINNINGS:
        raise NgramkitError(f"--class-binning must be one of {', '.join(CLASS_BINNINGS)}, got {arch['class_binning']!r}")
    for name in ("hidden", "layers", "classes"):
        value = arch[name]
        if not isinstance(value, int) or value < 1:
            raise NgramkitError(f"--{name} must be an integer >= 1, got {value!r}")
    if embed is not None and (not isinstance(embed, int) or embed < 1):
        raise NgramkitError(f"--embed must be an integer >= 1, got {embed!r}")
    embed_size = hidden if embed is None else embed
    if arch["tie_weights"] and embed_size != hidden:
        raise NgramkitError(
            f"--tie-weights needs --embed equal to --hidden, got embed {embed_size} and hidden {hidden}"
        )
    if not 0.0 <= arch["dropout"] < 1.0:
        raise NgramkitError(f"--dropout must be in [0, 1), got {arch['dropout']}")
    if not arch["init_scale"] > 0:
        raise NgramkitError(f"init_scale must be > 0, got {arch['init_scale']}")


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
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise NgramkitError(f"vocab_size must be an integer >= 2, got {self.vocab_size!r}")
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
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NgramkitError(f"--{name} must be an integer >= 1, got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise NgramkitError(f"--optimizer must be sgd or adam, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise NgramkitError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not self.lr > 0:
            raise NgramkitError(f"--lr must be > 0, got {self.lr}")
        if self.clip < 0:
            raise NgramkitError(f"--clip must be >= 0 (0 disables clipping), got {self.clip}")
        if not self.min_improvement >= 1.0:
            raise NgramkitError(f"min_improvement must be >= 1, got {self.min_improvement}")
        if not 0 < self.lr_decay <= 1:
            raise NgramkitError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if self.patience < 0 or self.decay_after < 0:
            raise NgramkitError("patience and decay_after must be >= 0")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return _from_dict(cls, data, "training config")
