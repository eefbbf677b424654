"""`ngramkit generate` through click's CliRunner.

Oracles: the library's ``generate`` with the same seed, and greedy decoding
(top-k 1) re-derived from ``next_log_probs`` step by step.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import TextOptions, modelio, tokenize
from ngramkit.cli.generate import render
from ngramkit.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def model_path(timemachine_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    lines = [line for line in timemachine_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = folder / "train.txt"
    train.write_text("\n".join(lines[100:400]) + "\n", encoding="utf-8")
    out = folder / "kn.ngk"
    result = run("train", "ngram", train, "--normalize", "d2l", "-n", 3, "-s", "kn", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    return out


def _json(*args):
    result = run("generate", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_same_seed_same_text_as_the_library(model_path):
    got = _json("--model", model_path, "--words", 30, "--seed", 7)
    model = modelio.load_model(model_path)
    assert got["generated_tokens"] == model.generate(30, random_seed=7)
    assert len(got["generated_tokens"]) == 30 and set(got["generated_tokens"]) <= set(model.vocab.words) - {"<s>", "<pad>"}
    assert _json("--model", model_path, "--words", 30, "--seed", 7)["generated_tokens"] == got["generated_tokens"]
    assert _json("--model", model_path, "--words", 30, "--seed", 8)["generated_tokens"] != got["generated_tokens"]
    text = run("generate", "--model", model_path, "--words", 30, "--seed", 7).stdout
    assert text.rstrip("\n") == render(got["generated_tokens"], False)


def test_prefix_is_tokenised_like_the_training_text_and_greedy_follows_argmax(model_path):
    prefix = "The Time-Traveller, smiling!"
    got = _json("--model", model_path, "--words", 12, "--seed", 1, "--top-k", 1, "--prefix", prefix)
    assert got["prefix_tokens"] == ["the", "time", "traveller", "smiling"]
    assert got["prefix_tokens"] == tokenize(prefix, TextOptions(normalize="d2l"))[0]
    model = modelio.load_model(model_path)
    history = ["<s>", *got["prefix_tokens"]]
    for token in got["generated_tokens"]:  # greedy: each token is the argmax given the last two words
        lp = model.next_log_probs(model.vocab.lookup(history[-2:]).tolist())
        lp[[1, 3]] = -np.inf
        assert token == model.vocab.words[int(np.argmax(lp))]
        history = ["<s>"] if token == "</s>" else history + [token]
    assert got["text"].startswith("the time traveller smiling")


def test_stop_at_eos_and_temperature(model_path):
    got = _json("--model", model_path, "--words", 500, "--seed", 3, "--stop-at-eos")
    assert got["generated_tokens"][-1] == "</s>" and "</s>" not in got["generated_tokens"][:-1]
    cold = _json("--model", model_path, "--words", 200, "--seed", 3, "--temperature", 0.05)["generated_tokens"]
    hot = _json("--model", model_path, "--words", 200, "--seed", 3, "--temperature", 5)["generated_tokens"]
    assert len(set(cold)) < len(set(hot))  # low temperature concentrates on few words


def test_render():
    assert render(["a", "b", "</s>", "c"], False) == "a b\nc"
    assert render(["a", "b", "</s>"], False) == "a b"
    assert render(["a", " ", "b", "</s>", "c"], True) == "a b\nc"


def test_rnn_model(tmp_path):
    from ngramkit import Vocabulary
    from ngramkit.rnn import RNNLM, RNNConfig

    vocab = Vocabulary.build([["a", "b", "c"], ["b", "c"]])
    model = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8, seed=2), vocab)
    path = modelio.save_model(model, tmp_path / "rnn.ngk")
    got = _json("--model", path, "--words", 15, "--seed", 4, "--prefix", "a b")
    assert got["prefix_tokens"] == ["a", "b"]
    assert got["generated_tokens"] == model.generate(15, text_seed=["a", "b"], random_seed=4)


@pytest.mark.parametrize("args, code, message", [
    (["--temperature", "0"], 2, "--temperature"),
    (["--top-k", "0"], 2, "--top-k"),
    (["--words", "-1"], 2, "--words"),
])
def test_bad_options(model_path, args, code, message):
    result = run("generate", "--model", model_path, *args)
    assert result.exit_code == code and message in result.stderr and result.stdout == ""


def test_bad_model(tmp_path):
    result = run("generate", "--model", tmp_path / "missing.ngk")
    assert result.exit_code == 1 and result.stderr.strip().startswith("Error:") and "no such model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
