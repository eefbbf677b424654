"""`ngramkit train ngram --smoothing mkn --discount-fallback` through click's CliRunner.

Data: the first 200 sentences of KenLM's timemachine input, where the
4-grams' modified Kneser-Ney discounts are invalid (D3+ < 0) and every other
order of a 5-gram model is estimable. Oracle: the library fit with
``ModifiedKneserNey(5, discount_fallback=True)`` and with the same discounts
given explicitly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import NGramCounts, Stream, TextOptions, Vocabulary, modelio, read_sentences
from ngramkit.cli.main import cli
from ngramkit.models import ModifiedKneserNey
from clierrors import error_line


@pytest.fixture(scope="module")
def small(reference_dir, tmp_path_factory):
    lines = [line for line in (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf-8").splitlines()
             if line.split()]
    folder = tmp_path_factory.mktemp("fallback")
    train, test = folder / "train.txt", folder / "test.txt"
    train.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    test.write_text("\n".join(lines[200:300]) + "\n", encoding="utf-8")
    return train, test


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def library_fit(train, **hparams):
    sentences = read_sentences(train, TextOptions())
    vocab = Vocabulary.build(sentences)
    return ModifiedKneserNey(5, **hparams).fit(NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), 5))


def test_without_the_flag_a_one_line_error_names_the_order_and_the_fix(small, tmp_path):
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", small[0], "-n", 5, "-s", "mkn", "-o", out, "-q")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert "order 4" in lines[0] and "--discount-fallback" in lines[0] and "--discount D1,D2,D3+" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_with_the_flag_the_model_is_the_library_fallback_fit(small, tmp_path):
    train, test = small
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", train, "-n", 5, "-s", "mkn", "--discount-fallback", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    expected = library_fit(train, discount_fallback=True)
    assert summary["fallback_orders"] == [4] == expected.fallback_orders_
    assert summary["discounts"] == expected.fitted_["discounts"] and summary["discounts"][3] == [0.5, 1.0, 1.5]
    assert summary["hparams"] == {"discount_fallback": True}
    assert "discounts of order 4 invalid" in result.stderr and "0.5, 1, 1.5" in result.stderr
    loaded = modelio.load_model(out)
    assert type(loaded) is ModifiedKneserNey and loaded.fallback_orders_ == [4]
    assert loaded.fitted_ == expected.fitted_
    stream = Stream.from_sentences(read_sentences(test, TextOptions()), loaded.vocab)
    np.testing.assert_allclose(loaded.log_probs(stream), expected.log_probs(stream), rtol=0, atol=1e-12)
    # The same model as giving those discounts explicitly with --discount (3 per order).
    flat = ",".join(repr(float(d)) for row in expected.fitted_["discounts"] for d in row)
    explicit = tmp_path / "e.ngk"
    result = run("train", "ngram", train, "-n", 5, "-s", "mkn", "--discount", flat, "-o", explicit, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["fallback_orders"] == []
    np.testing.assert_allclose(modelio.load_model(explicit).log_probs(stream), loaded.log_probs(stream),
                               rtol=0, atol=1e-12)


def test_human_summary_and_arpa_output(small, tmp_path):
    out = tmp_path / "m.arpa"
    result = run("train", "ngram", small[0], "-n", 5, "--discount-fallback", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("fallback") and "order 4" in line and "0.5, 1, 1.5" in line for line in lines)
    assert lines[-1].startswith("time") and result.stderr == ""
    arpa = modelio.load_model(out)
    expected = library_fit(small[0], discount_fallback=True)
    stream = Stream.from_sentences(read_sentences(small[1], TextOptions()), arpa.vocab)
    np.testing.assert_allclose(arpa.log_probs(stream), expected.log_probs(stream), rtol=0, atol=1e-5)


def test_the_flag_changes_nothing_when_every_order_is_estimable(small, tmp_path):
    a, b = tmp_path / "a.ngk", tmp_path / "b.ngk"
    assert run("train", "ngram", small[0], "-n", 3, "-o", a, "-q").exit_code == 0
    result = run("train", "ngram", small[0], "-n", 3, "--discount-fallback", "-o", b, "-q", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["fallback_orders"] == []
    assert modelio.load_model(a).fitted_["discounts"] == modelio.load_model(b).fitted_["discounts"]


@pytest.mark.parametrize("extra, message", [
    (["-s", "kn"], "--discount-fallback applies only to --smoothing mkn, not kn"),
    (["-s", "laplace"], "--discount-fallback applies only to --smoothing mkn, not laplace"),
    (["-s", "mkn", "--discount", "0.5,1,1.5"], "--discount-fallback has no effect with --discount"),
])
def test_bad_combinations(small, tmp_path, extra, message):
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", small[0], "--discount-fallback", *extra, "-o", out)
    assert error_line(result, 2).startswith(f"Error: {message}")  # a usage error
    assert "Traceback" not in result.output and not out.exists()
