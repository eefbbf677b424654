"""Exit codes and messages for bad option values, out of memory, and generate's streamed output.

The table of every command's bad-value and data-error cases is in
tests/robustness/test_bad_inputs.py (EXIT_CODE_TABLE); here: the pieces
behind it (FiniteFloat, the library-name -> option mapping, the fallback
for a parameter no option sets), the per-command out-of-memory advice, and
generate streaming its text (oracles: ``render`` of the whole token list,
the library's ``generate`` with the same seed).
"""

from __future__ import annotations

import itertools
import math
import resource
import subprocess

import click
import numpy as np
import pytest
from click.testing import CliRunner

from clierrors import error_line
from ngramkit import Vocabulary, modelio
from ngramkit.cli.common import FiniteFloat, command_errors
from ngramkit.cli.generate import render, render_stream
from ngramkit.cli.main import cli
from ngramkit.errors import NgramkitError, ParameterError
from ngramkit.models import MLE, KneserNey
from ngramkit.rnn import RNNLM, RNNConfig
from process import NGRAMKIT

SENTS = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat"]]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_finite_float_refuses_non_finite_values(text):
    with pytest.raises(click.BadParameter, match="is not a finite number"):
        FiniteFloat(min=0).convert(text, None, None)


def test_finite_float_keeps_the_range():
    assert FiniteFloat(min=0, min_open=True).convert("2.5", None, None) == 2.5
    with pytest.raises(click.BadParameter, match="not in the range"):
        FiniteFloat(0, 1, max_open=True).convert("1", None, None)


def _command(error, **decorator):
    """A one-option command whose body raises ``error`` (as a library call would)."""
    @click.command()
    @click.option("--rnn-hidden", type=int, default=1)
    @click.option("--init-scale", type=float, default=0.1)
    @command_errors(memory="try a smaller --rnn-hidden", **decorator)
    def cmd(rnn_hidden, init_scale):
        raise error
    return cmd


def test_library_names_become_the_options_the_user_typed():
    result = CliRunner().invoke(_command(ParameterError("init_scale", "must be > 0, got -1")), [])
    assert error_line(result, 2) == "Error: Invalid value for '--init-scale': must be > 0, got -1"
    result = CliRunner().invoke(_command(ParameterError("hidden", "must be an integer >= 1, got 0"),
                                         aliases={"hidden": "rnn_hidden"}), [])
    assert error_line(result, 2) == "Error: Invalid value for '--rnn-hidden': must be an integer >= 1, got 0"


def test_a_parameter_no_option_sets_is_a_plain_error():
    """vocab_size comes from the data, not from an option: a one-line error, exit 1."""
    result = CliRunner().invoke(_command(ParameterError("vocab_size", "must be an integer >= 2, got 1")), [])
    assert error_line(result, 1) == "Error: vocab_size must be an integer >= 2, got 1"


def test_out_of_memory_gives_the_commands_advice():
    result = CliRunner().invoke(_command(MemoryError()), [])
    assert error_line(result, 1) == "Error: out of memory; try a smaller --rnn-hidden"


@pytest.mark.parametrize("call, param", [
    (lambda: KneserNey(2, discount=float("nan")), "discount"),
    (lambda: MLE(2).fit_sentences(SENTS).generate(3, temperature=math.inf), "temperature"),
    (lambda: MLE(2).fit_sentences(SENTS).generate(3, random_seed=-1), "random_seed"),
    (lambda: RNNConfig(vocab_size=10, init_scale=math.inf), "init_scale"),
    (lambda: RNNConfig(vocab_size=10, seed=-1), "seed"),
])
def test_library_checks_name_their_parameter(call, param):
    with pytest.raises(ParameterError) as err:
        call()
    assert err.value.param == param and isinstance(err.value, NgramkitError)
    assert str(err.value) == f"{param} {err.value.problem}" and "\n" not in str(err.value)


def test_out_of_memory_in_train_rnn_names_its_own_options(tmp_path, data_dir):
    """--hidden 100000 (40 GB of weights) in a real process with 3 GB of address space."""
    text = tmp_path / "t.txt"
    text.write_bytes((data_dir / "timemachine.txt").read_bytes()[:20_000])

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run([*NGRAMKIT, "train", "rnn", str(text), "--valid", str(text),
                           "--hidden", "100000", "--epochs", "1", "-q", "-o", str(tmp_path / "m.ngk")],
                          capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: out of memory; try a smaller --hidden, --embed, --layers or --batch, --softmax class, or a smaller "
        "vocabulary (--min-count, --max-vocab)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_render_stream_joins_to_render():
    rng = np.random.default_rng(0)
    words = ["a", "bb", " ", "</s>"]
    for n in range(200):
        tokens = [words[i] for i in rng.integers(0, len(words), size=n % 12)]
        for char_level in (False, True):
            assert "".join(render_stream(tokens, char_level)) == render(tokens, char_level), tokens


def _models(tmp_path):
    vocab = Vocabulary.build(SENTS)
    rnn = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8, seed=2), vocab)
    return {"kn": KneserNey(2).fit_sentences(SENTS), "rnn": rnn}


@pytest.mark.parametrize("kind", ["kn", "rnn"])
def test_iter_generate_is_generate_without_an_end(kind, tmp_path):
    model = _models(tmp_path)[kind]
    want = model.generate(40, text_seed=["the"], random_seed=5, top_k=4)
    endless = model.iter_generate(None, text_seed=["the"], random_seed=5, top_k=4)
    assert list(itertools.islice(endless, 40)) == want
    assert list(model.iter_generate(40, text_seed=["the"], random_seed=5, top_k=4)) == want
    with pytest.raises(ParameterError, match="temperature"):  # checked at the call, before any token
        model.iter_generate(None, temperature=0)


@pytest.mark.parametrize("kind", ["kn", "rnn"])
def test_generate_streams_its_text(kind, tmp_path):
    """The streamed text is render() of the library's tokens; with no end, the first words come at once."""
    model = _models(tmp_path)[kind]
    path = modelio.save_model(model, tmp_path / f"{kind}.ngk")
    result = CliRunner().invoke(cli, ["generate", "-m", str(path), "-n", "60", "--seed", "3", "--prefix", "the"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(["the", *model.generate(60, text_seed=["the"], random_seed=3)], False) + "\n"
    proc = subprocess.Popen([*NGRAMKIT, "generate", "-m", str(path),
                             "-n", "1000000000000", "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read(200)  # would block forever if nothing were written before the end
    finally:
        proc.kill()
        proc.wait()
    tokens = model.generate(400, random_seed=3)
    assert render(tokens, False).startswith(first.decode())
