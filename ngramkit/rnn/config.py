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
        if self.cell not in CELLS:
            raise NgramkitError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.peephole and self.cell != "lstm":
            raise NgramkitError(f"--peephole needs --cell lstm, got --cell {self.cell}")
        if self.softmax not in SOFTMAXES:
            raise NgramkitError(f"--softmax must be full or class, got {self.softmax!r}")
        if self.class_binning not in CLASS_BINNINGS:
            raise NgramkitError(f"--class-binning must be one of {', '.join(CLASS_BINNINGS)}, got {self.class_binning!r}")
        for name in ("hidden", "layers", "classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NgramkitError(f"--{name} must be an integer >= 1, got {value!r}")
        if self.embed is not None and (not isinstance(self.embed, int) or self.embed < 1):
            raise NgramkitError(f"--embed must be an integer >= 1, got {self.embed!r}")
        if self.tie_weights and self.embed_size != self.hidden:
            raise NgramkitError(
                f"--tie-weights needs --embed equal to --hidden, got embed {self.embed_size} and hidden {self.hidden}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise NgramkitError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not self.init_scale > 0:
            raise NgramkitError(f"init_scale must be > 0, got {self.init_scale}")

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


# Named recipes: (RNNConfig fields, TrainConfig fields). ``ngramkit train rnn --preset NAME`` and
# ``ngramkit compare`` start from these; explicit options override single fields.
PRESETS = {
    # Mikolov's RNNLM setting (-hidden 100 -class 100): tanh RNN, class softmax; Adam instead of online SGD.
    # Measured on PTB: best valid ppl 156.6 after 7 epochs (benchmarks/bench_rnn.py).
    "ptb-rnnlm": ({"cell": "rnn", "hidden": 100, "softmax": "class", "classes": 100},
                  {"batch": 64, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 5.0, "schedule": "mikolov",
                   "epochs": 13}),
    # tanh RNN, H=200, full softmax, batch 20, bptt 35 (issue 5's PyTorch comparison model) with dropout 0.25
    # and Adam under Mikolov's schedule. Measured on PTB: best valid ppl 134.72 after 10 epochs (stopped by the
    # schedule), test 127.13 (benchmarks/results/bench_rnn_runs.json).
    "ptb-rnn200": ({"cell": "rnn", "hidden": 200, "softmax": "full", "dropout": 0.25},
                   {"batch": 20, "bptt": 35, "optimizer": "adam", "lr": 0.002, "clip": 5.0, "schedule": "mikolov",
                    "epochs": 13, "patience": 0}),
    # Zaremba et al. (2014) "small": 2-layer LSTM, H=200, no dropout, SGD lr 1, clip 5, bptt 20, batch 20,
    # lr halved every epoch after epoch 4, 13 epochs.
    "ptb-small": ({"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "full", "init_scale": 0.1},
                  {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
                   "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    # the same with the class softmax (100 classes): several times faster per word
    "ptb-small-class": ({"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "class", "classes": 100,
                         "init_scale": 0.1},
                        {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
                         "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    # a small tanh RNN for the Time Machine (word level, D2L's split), under a minute of CPU. Measured: valid ppl
    # 581 -> 281 over 8 epochs. (H=128 with Adam lr 0.005 was unstable: the zero-state trajectory used for
    # scoring fell into a regime with valid ppl > 1e5 mid-epoch while the training loss looked normal.)
    "timemachine": ({"cell": "rnn", "hidden": 64, "softmax": "full"},
                    {"batch": 16, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 1.0, "schedule": "mikolov",
                     "epochs": 10}),
}


def preset(name: str) -> tuple[dict, dict]:
    """Copies of the (model, training) fields of a named preset."""
    if name not in PRESETS:
        raise NgramkitError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    model, training = PRESETS[name]
    return dict(model), dict(training)
