"""ngramkit.rnn.presets: one table of recipes, the merge rule shared by `train rnn --preset` and `compare`."""

from __future__ import annotations

import pytest

from ngramkit.errors import NgramkitError
from ngramkit.rnn import presets
from ngramkit.rnn.config import RNNConfig, TrainConfig

# The networks as the two former tables defined them (rnn/config.py PRESETS and compare.py RNN_PRESETS at
# 59269c6), copied by hand: renaming must not change a single number.
FORMER = {
    "ptb-rnnlm": ({"cell": "rnn", "hidden": 100, "softmax": "class", "classes": 100},
                  {"batch": 64, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 5.0, "schedule": "mikolov",
                   "epochs": 13}),
    "ptb-rnn200": ({"cell": "rnn", "hidden": 200, "softmax": "full", "dropout": 0.25},
                   {"batch": 20, "bptt": 35, "optimizer": "adam", "lr": 0.002, "clip": 5.0, "schedule": "mikolov",
                    "epochs": 13, "patience": 0}),
    "ptb-small": ({"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "full", "init_scale": 0.1},
                  {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
                   "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    "ptb-small-class": ({"cell": "lstm", "hidden": 200, "layers": 2, "softmax": "class", "classes": 100,
                         "init_scale": 0.1},
                        {"batch": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0, "clip": 5.0, "schedule": "step",
                         "decay_after": 4, "lr_decay": 0.5, "epochs": 13, "patience": 0}),
    "timemachine": ({"cell": "rnn", "hidden": 64, "softmax": "full"},
                    {"batch": 16, "bptt": 35, "optimizer": "adam", "lr": 0.003, "clip": 1.0, "schedule": "mikolov",
                     "epochs": 10}),
    # compare's table, keyed (corpus, level); compare always set the cell from the model spec
    ("timemachine", "word"): ({"hidden": 128, "softmax": "class", "classes": 60, "dropout": 0.5},
                              {"batch": 16, "bptt": 20, "epochs": 12, "optimizer": "adam", "lr": 2e-3,
                               "schedule": "none", "clip": 1.0, "patience": 2}),
    ("timemachine", "char"): ({"hidden": 128, "softmax": "full"},
                              {"batch": 32, "bptt": 35, "epochs": 10, "optimizer": "adam", "lr": 3e-3,
                               "schedule": "none", "clip": 1.0, "patience": 2}),
    ("ptb", "word"): ({"hidden": 100, "softmax": "class", "classes": 100},
                      {"batch": 64, "bptt": 35, "epochs": 13, "optimizer": "adam", "lr": 3e-3,
                       "schedule": "mikolov", "min_improvement": 1.003, "clip": 5.0, "patience": 3}),
    ("ptb", "char"): ({"hidden": 256, "softmax": "full"},
                      {"batch": 64, "bptt": 50, "epochs": 5, "optimizer": "adam", "lr": 2e-3,
                       "schedule": "mikolov", "clip": 1.0, "patience": 2}),
}


def _former_configs(key, cell="rnn", seed=0, vocab_size=50):
    model, train = FORMER[key]
    if isinstance(key, tuple):  # compare's merge: preset, then the spec's cell and the seed
        model, train = {**model, "cell": cell, "seed": seed}, {**train, "seed": seed}
    return RNNConfig(vocab_size=vocab_size, **model), TrainConfig(**train)


@pytest.mark.parametrize("key", list(FORMER))
def test_every_former_network_is_unchanged(key):
    if isinstance(key, tuple):
        name = presets.compare_preset(*key)
        recipe = presets.resolve(name, {"cell": "gru", "seed": 7})
        expected = _former_configs(key, cell="gru", seed=7)
    else:
        recipe = presets.resolve(key)
        expected = _former_configs(key)
    assert (recipe.config(50), recipe.train) == expected


def test_the_two_timemachine_networks_have_distinct_names_and_the_old_name_is_an_alias():
    assert presets.compare_preset("timemachine", "word") == "tm-word-class128"
    assert presets.get("timemachine").name == "tm-word-full64"
    assert presets.resolve("timemachine").preset == "tm-word-full64"
    assert presets.get("tm-word-class128").model != presets.get("tm-word-full64").model
    assert set(presets.COMPARE_PRESETS.values()) <= set(presets.PRESETS)
    assert "timemachine" in presets.names() and len(set(presets.names())) == len(presets.names())


def test_compare_picks_by_corpus_then_by_training_size():
    assert presets.compare_preset("ptb", "word") == "ptb-rnnlm"
    # user files, word level: a dropout recipe below 3M tokens (War and Peace's 570k overfitted without it)
    assert presets.compare_preset(None, "word", 299_999) == "tm-word-class128"
    assert presets.compare_preset(None, "word", 300_000) == "ptb-rnnlm-dropout"
    assert presets.compare_preset(None, "word", 570_000) == "ptb-rnnlm-dropout"
    assert presets.compare_preset(None, "word", 2_999_999) == "ptb-rnnlm-dropout"
    assert presets.compare_preset(None, "word", 3_000_000) == "ptb-rnnlm"
    assert presets.get("ptb-rnnlm-dropout").model["dropout"] == 0.25
    assert presets.compare_preset(None, "char", 299_999) == "tm-char-full128"
    assert presets.compare_preset("wikitext", "char", 10**7) == "ptb-char-full256"
    assert presets.compare_preset_choices("ptb", "char") == ["ptb-char-full256"]
    assert presets.compare_preset_choices(None, "word") == ["tm-word-class128", "ptb-rnnlm-dropout", "ptb-rnnlm"]
    # the reason names the rule
    assert presets.pick("ptb", "word")[1] == "the ptb word-level recipe"
    assert presets.pick(None, "word", 929_589)[1] == "word level, 929,589 training tokens in [300,000, 3,000,000)"


def test_merge_rule_defaults_then_preset_then_explicit_options():
    r = presets.resolve("ptb-small", {"hidden": 8, "epochs": 1, "seed": 3, "class_binning": None})
    assert r.model["hidden"] == 8 and r.model["layers"] == 2 and r.model["cell"] == "lstm"  # option, preset
    assert r.model["class_binning"] == "freq" and r.model["seed"] == 3  # None = not given; seed sets both
    assert (r.train.epochs, r.train.lr, r.train.schedule, r.train.seed) == (1, 1.0, "step", 3)
    assert r.train.min_improvement == TrainConfig().min_improvement  # neither: the dataclass default
    # the learning rate, when nothing sets it, follows the optimizer (1 for SGD, 0.002 for Adam)
    assert presets.resolve(None).train.lr == 1.0
    assert presets.resolve(None, {"optimizer": "adam"}).train.lr == 0.002
    assert presets.resolve("ptb-small", {"optimizer": "adam"}).train.lr == 1.0  # the preset's lr stays
    assert presets.resolve(None, {"optimizer": "adam", "lr": 0.5}).train.lr == 0.5


@pytest.mark.parametrize("name, options, fragment", [
    ("nope", {}, "--preset must be one of"),
    (None, {"hiddne": 3}, "unknown RNN option 'hiddne'"),
    ("tm-word-class128", {"hidden": 0}, "hidden must be an integer >= 1, got 0"),
    (None, {"cell": "rnn", "peephole": True}, "peephole needs the lstm cell"),
    (None, {"tie_weights": True, "embed": 10}, "tie_weights needs the embedding size equal to the hidden size"),
    (None, {"dropout": 1.0}, "dropout must be in [0, 1)"),
    (None, {"epochs": 0}, "epochs must be an integer >= 1"),
    (None, {"optimizer": "rmsprop"}, "--optimizer must be sgd or adam"),
])
def test_bad_recipes_fail_with_one_line_before_any_vocabulary(name, options, fragment):
    with pytest.raises(NgramkitError) as err:
        presets.resolve(name, options)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_train_rnn_option_defaults_are_the_config_defaults():
    """`train rnn` passes its option values only when no preset is given; they must be the dataclasses'."""
    import click

    from ngramkit.cli.train_rnn import rnn

    ctx = click.Context(rnn)
    defaults = {p.name: p.get_default(ctx) for p in rnn.params}
    defaults = {k: (False if v is None and p.is_flag else v) for (k, v), p in zip(defaults.items(), rnn.params)}
    config, train = RNNConfig(vocab_size=2), TrainConfig()
    for name in presets.MODEL_FIELDS:
        assert defaults[name] == getattr(config, name), name
    for name in presets.TRAIN_FIELDS:
        if name in defaults:
            expected = None if name == "lr" else getattr(train, name)  # lr: by optimizer (1 for the default sgd)
            assert defaults[name] == expected, name
    assert presets.resolve(None).train.lr == train.lr
