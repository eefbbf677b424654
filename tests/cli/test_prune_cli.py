"""`train ngram --prune/--limit-vocab`, `ppl --limit-vocab`, `convert --limit-vocab` from the command line.

Oracles: lmplz's ARPA files (tests/data/README.md) for what `train ngram` writes, parsed by the
independent parser of tests/oracles.py; the library's ``limit_vocab`` and ``evaluate`` for `ppl` and
`convert` (the library itself is checked against a brute-force renormalisation in tests/test_limitvocab.py).
Bad values: exit 2 with one line naming the option, or 1 naming the file, and no output file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clierrors import error_line
from ngramkit import modelio
from ngramkit.cli.main import cli
from ngramkit.evaluate import evaluate
from ngramkit.limitvocab import limit_vocab
from oracles import compare_arpa_tables, parse_arpa

DATA = Path(__file__).resolve().parents[1] / "data"
TOP200 = DATA / "timemachine.top200.vocab"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def text(reference_dir):
    return reference_dir / "timemachine.d2l.txt"  # lmplz's input for the files in tests/data


@pytest.mark.parametrize("prune", [["0", "1", "1"], ["0,1,1"], ["0 1"]])
def test_train_writes_lmplz_model(prune, text, tmp_path):
    out = tmp_path / "m.arpa"
    result = run("train", "ngram", text, "-n", "3", "--prune", *prune, "--limit-vocab", TOP200, "-o", out,
                 "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["prune"] == [0, 1, 1] and summary["limit_vocab"] == str(TOP200)
    assert summary["kept_ngrams"] == {"1": 203, "2": 1923, "3": 1060}  # lmplz's header
    model = modelio.load_model(out)
    compare_arpa_tables(model, parse_arpa(DATA / "timemachine.top200.prune011.o3.arpa.gz", model.vocab))


def test_train_text_output_and_files_before_the_option(text, tmp_path):
    # the integers after --prune are its values, the file after them is FILES
    result = run("train", "ngram", "-n", "4", "--prune", "0", "1", "2", "3", text, "-o", tmp_path / "m.ngk")
    assert result.exit_code == 0, result.output
    assert "4-grams" in result.stdout and "kept 22" in result.stdout  # lmplz: ngram 4=22
    model = modelio.load_model(tmp_path / "m.ngk")
    compare_arpa_tables(model, parse_arpa(DATA / "timemachine.prune0123.o4.arpa.gz", model.vocab))


def test_ppl_and_convert_limit_the_loaded_model(text, tmp_path):
    model_path = tmp_path / "m.ngk"
    assert run("train", "ngram", text, "-n", "3", "-o", model_path, "-q").exit_code == 0
    model = modelio.load_model(model_path)
    expect = limit_vocab(model, TOP200)
    ev = evaluate(expect, expect.as_stream([line.split() for line in text.read_text().splitlines()]))
    result = run("ppl", "-m", model_path, text, "--limit-vocab", TOP200, "--json", "-q")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["limit_vocab"] == str(TOP200)
    assert (got["tokens"], got["oovs"]) == (ev.tokens, ev.oovs) and ev.oovs > 0
    assert got["ppl"] == pytest.approx(ev.perplexity, rel=1e-12)
    out = tmp_path / "small.arpa.gz"
    result = run("convert", model_path, out, "--limit-vocab", TOP200, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["vocab_size"] == len(expect.vocab) == 204
    written = modelio.load_model(out)
    assert written.vocab.words == expect.vocab.words
    for k in (1, 2, 3):
        np.testing.assert_array_equal(written.ngrams(k), expect.ngrams(k))
        np.testing.assert_allclose(written.logp10(k), expect.logp10(k), rtol=0, atol=1e-6)  # ARPA's 7 digits


def _bad_cases(text, model, rnn):
    top = str(TOP200)
    train = ["train", "ngram", str(text), "-n", "3"]
    return [
        (train + ["--prune", "0", "2", "1"], 2, "'--prune': thresholds must be non-decreasing"),
        (train + ["--prune", "0", "1", "1", "1"], 2, "'--prune': gives 4 thresholds but the model has order 3"),
        (train + ["--prune", "0,x"], 2, "'--prune': expected integer thresholds"),
        (train + ["--smoothing", "laplace", "--prune", "0", "1"], 2, "--prune applies to the interpolated"),
        (train + ["--smoothing", "stupid-backoff", "--limit-vocab", top], 2, "--limit-vocab applies to the"),
        (train + ["--prune", "0", "1", "--memory", "20K"], 2, "'--prune': is not supported when the estimate runs"),
        (train + ["--limit-vocab", str(text.parent / "missing.vocab")], 1, "missing.vocab: no such file"),
        (train + ["--limit-vocab", "{empty}"], 1, "empty.vocab: holds no words"),
        (["ppl", "-m", str(model), str(text), "--limit-vocab", top, "--per-word"], 2, "--limit-vocab does not apply"),
        (["ppl", "-m", str(rnn), str(text), "--limit-vocab", top, "-q"], 2,
         "'--limit-vocab': applies to n-gram models (backoff form), not to RNNLM"),
        (["convert", str(rnn), "{out}/x.ngk", "--limit-vocab", top, "-q"], 2, "'--limit-vocab': applies to n-gram"),
    ]


def test_bad_values_are_one_line_and_write_nothing(text, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    model, rnn = d / "m.ngk", d / "rnn.ngk"
    assert run("train", "ngram", text, "-n", "3", "-o", model, "-q").exit_code == 0
    small = d / "small.txt"
    small.write_text("\n".join(text.read_text().splitlines()[:200]) + "\n")
    result = run("train", "rnn", small, "--valid", small, "--epochs", "1", "--hidden", "8", "-q", "-o", rnn)
    assert result.exit_code == 0, result.output
    (d / "empty.vocab").write_text("\n")
    for argv, code, needle in _bad_cases(text, model, rnn):
        out = tmp_path_factory.mktemp("out")
        argv = [a.replace("{empty}", str(d / "empty.vocab")).replace("{out}", str(out)) for a in argv]
        if "-o" not in argv and argv[0] == "train":
            argv += ["-o", str(out / "m.arpa"), "-q"]
        result = CliRunner().invoke(cli, argv)
        assert needle in error_line(result, code), argv
        assert list(out.iterdir()) == [], argv
