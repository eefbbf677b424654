"""Degenerate modified Kneser-Ney discounts: one rule for `train ngram` and `compare`, said in both outputs.

The rule: mkn falls back to KenLM lmplz --discount_fallback's D1, D2, D3+ =
0.5, 1, 1.5 on the orders whose estimate is undefined (a warning, the
summary/JSON of `train ngram`, the table footer/Markdown/JSON of `compare`
name them); `train ngram --no-discount-fallback` refuses as lmplz does
without the flag; `--discount-fallback` (KenLM users' habit) is the default.

Data: the first 200 sentences of KenLM's timemachine input, where the
4-grams' discounts are invalid (D3+ < 0) and every other order of a 5-gram
model is estimable; and a two-sentence text where every order falls back.
Oracles: the library fit with ``ModifiedKneserNey(5, discount_fallback=True)``
and with the same discounts given explicitly; the count-of-counts of the
tiny text are derived by hand below.
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

NOTE_4 = ("modified Kneser-Ney discounts of order 4 undefined on this data (degenerate count-of-counts); "
          "used KenLM lmplz --discount_fallback's D1, D2, D3+ = 0.5, 1, 1.5 there")
NOTE_123 = NOTE_4.replace("of order 4", "of orders 1, 2, 3")


@pytest.fixture(scope="module")
def small(reference_dir, tmp_path_factory):
    lines = [line for line in (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf-8").splitlines()
             if line.split()]
    folder = tmp_path_factory.mktemp("fallback")
    train, test = folder / "train.txt", folder / "test.txt"
    train.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
    test.write_text("\n".join(lines[200:300]) + "\n", encoding="utf-8")
    return train, test


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # Padded: <s> a b c </s>, <s> a b d </s>. Adjusted counts (KenLM): order 3 raw, lower orders
    # continuation counts except n-grams starting with <s>:
    #   3-grams <s> a b: 2, a b c / a b d / b c </s> / b d </s>: 1   -> n1..n3 = 4, 1, 0 (n3 = 0: undefined)
    #   2-grams <s> a: 2 (raw), a b: 1, b c / b d / c </s> / d </s>: 1 -> n1..n3 = 5, 1, 0
    #   1-grams a: 1, b: 1, c: 1, d: 1, </s>: 2                       -> n1..n3 = 4, 1, 0
    path = tmp_path_factory.mktemp("tiny") / "tiny.txt"
    path.write_text("a b c\na b d\n", encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def library_fit(train, order=5, **hparams):
    sentences = read_sentences(train, TextOptions())
    vocab = Vocabulary.build(sentences)
    counts = NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), order)
    return ModifiedKneserNey(order, **hparams).fit(counts)


def test_by_default_the_fallback_is_used_and_said(small, tmp_path):
    train, test = small
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", train, "-n", 5, "-s", "mkn", "-o", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    # A warning, not progress: one line even with -q.
    assert result.stderr == f"warning: {NOTE_4} (--no-discount-fallback refuses instead)\n"
    summary = json.loads(result.stdout)
    expected = library_fit(train, discount_fallback=True)
    assert summary["fallback_orders"] == [4] == expected.fallback_orders_
    assert summary["fallback_note"] == NOTE_4 == expected.fallback_note_
    assert summary["discounts"] == expected.fitted_["discounts"] and summary["discounts"][3] == [0.5, 1.0, 1.5]
    assert summary["hparams"] == {"discount_fallback": True}
    loaded = modelio.load_model(out)
    assert type(loaded) is ModifiedKneserNey and loaded.fallback_orders_ == [4]
    assert loaded.fitted_ == expected.fitted_ and loaded.fallback_note_ == NOTE_4
    stream = Stream.from_sentences(read_sentences(test, TextOptions()), loaded.vocab)
    np.testing.assert_allclose(loaded.log_probs(stream), expected.log_probs(stream), rtol=0, atol=1e-12)
    # The same model as giving those discounts explicitly with --discount (3 per order): no fallback then.
    flat = ",".join(repr(float(d)) for row in expected.fitted_["discounts"] for d in row)
    explicit = tmp_path / "e.ngk"
    result = run("train", "ngram", train, "-n", 5, "-s", "mkn", "--discount", flat, "-o", explicit, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["fallback_orders"] == [] and json.loads(result.stdout)["fallback_note"] is None
    np.testing.assert_allclose(modelio.load_model(explicit).log_probs(stream), loaded.log_probs(stream),
                               rtol=0, atol=1e-12)


def test_the_kenlm_flag_is_the_default(small, tmp_path):
    a, b = tmp_path / "a.ngk", tmp_path / "b.ngk"
    assert run("train", "ngram", small[0], "-n", 5, "-o", a, "-q").exit_code == 0
    assert run("train", "ngram", small[0], "-n", 5, "--discount-fallback", "-o", b, "-q").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_no_discount_fallback_refuses_as_lmplz_does(small, tmp_path):
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", small[0], "-n", 5, "-s", "mkn", "--no-discount-fallback", "-o", out, "-q")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert "order 4" in lines[0] and "count-of-counts n1..n4 = 1810, 9, 1, 1" in lines[0]
    assert "drop --no-discount-fallback" in lines[0] and "--discount D1,D2,D3+" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_human_summary_and_arpa_output(small, tmp_path):
    out = tmp_path / "m.arpa"
    result = run("train", "ngram", small[0], "-n", 5, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"fallback   {NOTE_4}" in lines
    assert lines[-1].startswith("time") and result.stderr.count("\n") == 1
    arpa = modelio.load_model(out)
    expected = library_fit(small[0], discount_fallback=True)
    stream = Stream.from_sentences(read_sentences(small[1], TextOptions()), arpa.vocab)
    np.testing.assert_allclose(arpa.log_probs(stream), expected.log_probs(stream), rtol=0, atol=1e-5)


def test_nothing_is_said_when_every_order_is_estimable(small, tmp_path):
    a, b = tmp_path / "a.ngk", tmp_path / "b.ngk"
    result = run("train", "ngram", small[0], "-n", 3, "-o", a, "-q", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["fallback_orders"] == [] and summary["fallback_note"] is None
    assert run("train", "ngram", small[0], "-n", 3, "--no-discount-fallback", "-o", b, "-q").exit_code == 0
    assert modelio.load_model(a).fitted_["discounts"] == modelio.load_model(b).fitted_["discounts"]
    result = run("train", "ngram", small[0], "-n", 3, "-o", tmp_path / "h.ngk", "-q")
    assert not any(line.startswith("fallback") for line in result.stdout.splitlines())


def compare_outputs(train, test, spec, tmp_path):
    """compare's JSON, Markdown and terminal table for one n-gram row, plus its saved model."""
    tmp_path.mkdir()
    md, out = tmp_path / "report.md", tmp_path / "out"
    result = run("compare", "--train", train, "--valid", test, "--test", test, "--models", spec,
                 "--no-interpolate", "--json", "--markdown", md, "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    table = run("compare", "--train", train, "--valid", test, "--test", test, "--models", spec,
                "--no-interpolate", "-q")
    assert table.exit_code == 0, table.stderr
    saved = [p for p in out.rglob("*.ngk")]
    assert len(saved) == 1
    return json.loads(result.stdout), md.read_text(encoding="utf-8"), table.stdout, modelio.load_model(saved[0])


@pytest.mark.parametrize("order, note", [(5, NOTE_4), (3, NOTE_123)])
def test_compare_follows_the_same_rule_and_says_it_the_same_way(small, tiny, tmp_path, order, note):
    train, test = small if order == 5 else (tiny, tiny)
    spec = f"mkn:{order}"
    report, markdown, table, compared = compare_outputs(train, test, spec, tmp_path / "cmp")
    assert report["notes"] == {spec: note}
    assert f"- {spec}: {note}" in markdown.splitlines()
    assert f"{spec}: {note}" in table.splitlines()
    result = run("train", "ngram", train, "-n", order, "-o", tmp_path / "t.ngk", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["fallback_note"] == note
    assert result.stderr == f"warning: {note} (--no-discount-fallback refuses instead)\n"
    trained = modelio.load_model(tmp_path / "t.ngk")
    # One rule: the same discounts, so the same model.
    assert compared.fitted_ == trained.fitted_ and compared.fallback_orders_ == summary["fallback_orders"]
    stream = Stream.from_sentences(read_sentences(test, TextOptions()), trained.vocab)
    np.testing.assert_allclose(compared.log_probs(stream), trained.log_probs(stream), rtol=0, atol=1e-12)


def test_tiny_text_count_of_counts_match_the_hand_derivation(tiny):
    model = library_fit(tiny, 3, discount_fallback=True)
    assert [c[:3] for c in model.fitted_["count_of_counts"]] == [[4, 1, 0], [5, 1, 0], [4, 1, 0]]
    assert model.fallback_orders_ == [1, 2, 3] and model.fitted_["discounts"] == [[0.5, 1.0, 1.5]] * 3


@pytest.mark.parametrize("extra, message", [
    (["-s", "kn", "--discount-fallback"], "--discount-fallback applies only to --smoothing mkn, not kn"),
    (["-s", "laplace", "--no-discount-fallback"], "--no-discount-fallback applies only to --smoothing mkn, not laplace"),
    (["-s", "mkn", "--discount", "0.5,1,1.5", "--discount-fallback"], "--discount-fallback has no effect with --discount"),
])
def test_bad_combinations(small, tmp_path, extra, message):
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", small[0], *extra, "-o", out)
    assert error_line(result, 2).startswith(f"Error: {message}")  # a usage error
    assert "Traceback" not in result.output and not out.exists()
