"""Named RNN recipes, and the one rule that turns a recipe plus explicit options into configs.

Input: a preset name (or None) and explicit options (any
:class:`~ngramkit.rnn.config.RNNConfig` field but ``vocab_size``, any
:class:`~ngramkit.rnn.config.TrainConfig` field; ``seed`` sets both).
Output: a validated :class:`Recipe`: the architecture fields and the
:class:`TrainConfig`, and ``Recipe.config(vocab_size)`` once the vocabulary
exists. ``ngramkit train rnn`` and ``ngramkit compare`` both go through
:func:`resolve`, and both pick the recipe from the data with :func:`pick`
when none is named.

The merge rule: dataclass defaults, then the preset's fields, then the
explicit options; the learning rate, when neither the preset nor the options
give one, is :data:`DEFAULT_LR` of the optimizer (1 for SGD, 0.002 for Adam).

The recipe picked from the data (:func:`pick`): a registry corpus in
:data:`COMPARE_PRESETS` gets its own; any other text goes by level and the
size of its training split (:data:`SIZE_RULES`): at the word level the Time
Machine recipe (dropout 0.5) below 300,000 tokens, ``ptb-rnnlm-dropout``
(PTB's recipe with dropout 0.25) below 3,000,000 and ``ptb-rnnlm`` (no
dropout) from there; at the character level the Time Machine recipe below
300,000 characters, PTB's above. (Before, every word-level text from
300,000 tokens got ``ptb-rnnlm``: War and Peace, 570k tokens, overfitted,
train ppl 151 vs valid 416. The measurements are in the README.)

>>> r = resolve("tm-word-full64", {"epochs": 2})
>>> r.model["hidden"], r.train.epochs, r.train.lr
(64, 2, 0.003)
>>> resolve(None, {"optimizer": "adam"}).train.lr
0.002
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Mapping

from ..errors import NgramkitError
from .config import RNNConfig, TrainConfig, check_architecture

DEFAULT_LR = {"sgd": 1.0, "adam": 2e-3}  # learning rate of an optimizer when nothing else sets one

MODEL_FIELDS = tuple(f.name for f in fields(RNNConfig) if f.name != "vocab_size")
TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))


@dataclass(frozen=True)
class Preset:
    """A named recipe: fields of RNNConfig and of TrainConfig that differ from their defaults."""

    name: str
    summary: str  # one line for --help
    model: Mapping  # RNNConfig fields
    train: Mapping  # TrainConfig fields


def _preset(name, summary, model, train) -> Preset:
    return Preset(name, summary, MappingProxyType(dict(model)), MappingProxyType(dict(train)))


_TABLE = (
    # Mikolov's RNNLM setting (-hidden 100 -class 100): tanh RNN, class softmax; Adam instead of online SGD.
    # Measured on PTB: best valid ppl 156.6 after 7 epochs (benchmarks/bench_rnn.py). Also compare's PTB
    # word-level RNN (with compare's cell), under the rnnlm schedule: halve on a stall, stop at the second.
    _preset("ptb-rnnlm", "RNNLM-like tanh RNN, H=100, 100 classes, Adam",
            {"cell": "rnn", "hidden": 100, "softmax": "class", "classes": 100},
            {"batch": 64, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 5.0, "schedule": "mikolov",
             "epochs": 13}),
    # tanh RNN, H=200, full softmax, batch 20, bptt 35 (the model of the PyTorch speed comparison in
    # benchmarks/bench_rnn.py) with dropout 0.25 and Adam under Mikolov's schedule. Measured on PTB: best valid
    # ppl 134.72 after 10 epochs (stopped by the schedule), test 127.13 (benchmarks/results/bench_rnn_runs.json).
    _preset("ptb-rnn200", "tanh RNN, H=200, full softmax, dropout 0.25, Adam",
            {"cell": "rnn", "hidden": 200, "softmax": "full", "dropout": 0.25},
            {"batch": 20, "bptt": 35, "optimizer": "adam", "lr": 0.002, "clip": 5.0, "schedule": "mikolov",
             "epochs": 13, "patience": 0}),
    # Zaremba et al. (2014) "small": 2-layer LSTM, H=200, no dropout, SGD lr 1, clip 5, bptt 20, batch 20,
    # lr halved every epoch after epoch 4, 13 epochs.
    _preset("ptb-small", "Zaremba's 2x200 LSTM, SGD",
            {"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "full", "init_scale": 0.1},
            {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
             "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    # the same with the class softmax (100 classes): several times faster per word
    _preset("ptb-small-class", "ptb-small with a 100-class softmax",
            {"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "class", "classes": 100, "init_scale": 0.1},
            {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
             "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    # ptb-rnnlm with dropout 0.25: the word-level recipe for text outside the registry of 300k-3M tokens, where
    # ptb-rnnlm overfits (War and Peace, 570k tokens: train ppl 151, valid 416). Measured on PTB given as files
    # (930k tokens), seed 1: valid/test ppl 154.86 / 146.78 after 10 epochs (training ppl 118.7, measured with
    # dropout on) vs ptb-rnnlm's 155.83 / 147.85 after 8 (training ppl 84.9); tm-word-class128 there: 180.64 /
    # 169.93 (dropout 0.5 underfits: training ppl 179.8 after 12 epochs, still falling).
    _preset("ptb-rnnlm-dropout", "ptb-rnnlm with dropout 0.25 (word-level files of 300k-3M tokens)",
            {"cell": "rnn", "hidden": 100, "softmax": "class", "classes": 100, "dropout": 0.25},
            {"batch": 64, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 5.0, "schedule": "mikolov",
             "epochs": 13}),
    # PTB characters (~50 symbols, 5M training characters): a full softmax is cheap; few epochs.
    _preset("ptb-char-full256", "character-level tanh RNN, H=256, full softmax, Adam",
            {"cell": "rnn", "hidden": 256, "softmax": "full"},
            {"batch": 64, "bptt": 50, "epochs": 5, "optimizer": "adam", "lr": 2e-3, "schedule": "mikolov",
             "clip": 1.0, "patience": 2}),
    # compare's Time Machine word-level RNN. 28k training tokens: the net overfits after a few epochs, hence
    # dropout 0.5 and early stopping. Sized so that the default `ngramkit compare` finishes in well under
    # 3 minutes on 2 cores.
    _preset("tm-word-class128", "Time Machine words: tanh RNN, H=128, 60 classes, dropout 0.5, Adam",
            {"cell": "rnn", "hidden": 128, "softmax": "class", "classes": 60, "dropout": 0.5},
            {"batch": 16, "bptt": 20, "epochs": 12, "optimizer": "adam", "lr": 2e-3, "schedule": "none",
             "clip": 1.0, "patience": 2}),
    # A small tanh RNN for the Time Machine (word level, D2L's split), under a minute of CPU. Measured: valid
    # ppl 581 -> 281 over 8 epochs. (H=128 with Adam lr 0.005 was unstable: the zero-state trajectory used for
    # scoring fell into a regime with valid ppl > 1e5 mid-epoch while the training loss looked normal.)
    _preset("tm-word-full64", "Time Machine words: tanh RNN, H=64, full softmax, Adam (formerly 'timemachine')",
            {"cell": "rnn", "hidden": 64, "softmax": "full"},
            {"batch": 16, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 1.0, "schedule": "mikolov",
             "epochs": 10}),
    # compare's Time Machine character-level RNN: 28 symbols, ~170k training characters; a full softmax is
    # cheap and H=128 keeps epochs short.
    _preset("tm-char-full128", "Time Machine characters: tanh RNN, H=128, full softmax, Adam",
            {"cell": "rnn", "hidden": 128, "softmax": "full"},
            {"batch": 32, "bptt": 35, "epochs": 10, "optimizer": "adam", "lr": 3e-3, "schedule": "none",
             "clip": 1.0, "patience": 2}),
)
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _TABLE})

# Old names that still work. "timemachine" used to mean tm-word-full64 for `train rnn --preset` while
# `compare` trained tm-word-class128 on the same corpus.
ALIASES: Mapping[str, str] = MappingProxyType({"timemachine": "tm-word-full64"})

# (corpus, level) -> the preset `ngramkit compare` trains.
COMPARE_PRESETS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("timemachine", "word"): "tm-word-class128",
    ("timemachine", "char"): "tm-char-full128",
    ("ptb", "word"): "ptb-rnnlm",
    ("ptb", "char"): "ptb-char-full256",
})
# Text outside COMPARE_PRESETS, by level: (training tokens below which, preset), the last one for any size.
SIZE_RULES: Mapping[str, tuple] = MappingProxyType({
    "word": ((300_000, "tm-word-class128"), (3_000_000, "ptb-rnnlm-dropout"), (None, "ptb-rnnlm")),
    "char": ((300_000, "tm-char-full128"), (None, "ptb-char-full256")),
})


def names() -> list[str]:
    """Every accepted preset name: the table's, then the aliases."""
    return [*PRESETS, *ALIASES]


def get(name: str) -> Preset:
    """The preset called ``name`` (an alias gives its target)."""
    preset_ = PRESETS.get(ALIASES.get(name, name))
    if preset_ is None:
        raise NgramkitError(f"--preset must be one of {', '.join(names())}, got {name!r}")
    return preset_


def preset(name: str) -> tuple[dict, dict]:
    """Copies of the (RNNConfig fields, TrainConfig fields) of a named preset."""
    p = get(name)
    return dict(p.model), dict(p.train)


def pick(corpus: str | None, level: str, train_tokens: int | None = None) -> tuple[str, str]:
    """(preset, why) for training on ``corpus`` (a registry name, or None for files) at ``level``.

    The one rule of ``ngramkit compare`` and of ``ngramkit train rnn``
    without ``--preset``: the corpus's own recipe, else by training size.

    >>> pick(None, "word", 570_000)
    ('ptb-rnnlm-dropout', 'word level, 570,000 training tokens in [300,000, 3,000,000)')
    """
    name = COMPARE_PRESETS.get((corpus, level))
    if name is not None:
        return name, f"the {corpus} {level}-level recipe"
    tokens = train_tokens or 0
    unit = "characters" if level == "char" else "tokens"
    low = 0
    for limit, name in SIZE_RULES[level]:
        if limit is None:
            return name, f"{level} level, {tokens:,} training {unit} >= {low:,}"
        if tokens < limit:
            span = f"< {limit:,}" if low == 0 else f"in [{low:,}, {limit:,})"
            return name, f"{level} level, {tokens:,} training {unit} {span}"
        low = limit
    raise AssertionError("SIZE_RULES ends with a rule for any size")


def compare_preset(corpus: str | None, level: str, train_tokens: int | None = None) -> str:
    """The preset :func:`pick` picks (``ngramkit compare``'s RNN recipe)."""
    return pick(corpus, level, train_tokens)[0]


def compare_preset_choices(corpus: str | None, level: str) -> list[str]:
    """Every preset :func:`pick` may pick before the training size is known."""
    if (corpus, level) in COMPARE_PRESETS:
        return [COMPARE_PRESETS[(corpus, level)]]
    return [name for _, name in SIZE_RULES[level]]


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: everything but the vocabulary size."""

    preset: str | None  # the preset it started from (canonical name), or None
    model: Mapping  # every RNNConfig field but vocab_size
    train: TrainConfig

    def config(self, vocab_size: int) -> RNNConfig:
        return RNNConfig(vocab_size=vocab_size, **self.model)


def resolve(name: str | None, options: Mapping | None = None) -> Recipe:
    """Preset ``name`` (None: no preset) overridden by the explicit ``options``; None values are not given.

    Raises :class:`NgramkitError` (one line) on an unknown preset or option
    and on any invalid value, before a vocabulary exists.
    """
    base = get(name) if name is not None else None
    given = {k: v for k, v in dict(options or {}).items() if v is not None}
    unknown = sorted(set(given) - set(MODEL_FIELDS) - set(TRAIN_FIELDS))
    if unknown:
        valid = ", ".join(sorted(set(MODEL_FIELDS) | set(TRAIN_FIELDS)))
        raise NgramkitError(f"unknown RNN option {unknown[0]!r}; valid: {valid}")
    model = {f.name: f.default for f in fields(RNNConfig) if f.name != "vocab_size"}
    model.update(base.model if base else {})
    model.update({k: v for k, v in given.items() if k in MODEL_FIELDS})
    check_architecture(model)
    train = dict(base.train) if base else {}
    train.update({k: v for k, v in given.items() if k in TRAIN_FIELDS})
    if "lr" not in train:
        optimizer = train.get("optimizer", TrainConfig.optimizer)
        if optimizer not in DEFAULT_LR:
            raise NgramkitError(f"--optimizer must be sgd or adam, got {optimizer!r}")
        train["lr"] = DEFAULT_LR[optimizer]
    return Recipe(base.name if base else None, MappingProxyType(model), TrainConfig(**train))
