"""`ngramkit train ngram` through click's CliRunner.

Oracles: n-gram counts from a naive Counter over the padded sentences, and
models fitted in-process by the library on the same sentences.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import NGramCounts, Stream, TextOptions, Vocabulary, modelio, read_sentences
from ngramkit.cli.main import cli
from ngramkit.models import MODELS
from oracles import distinct_per_order, naive_counts, write_slices
from clierrors import error_line

SMOOTHINGS = ["mle", "laplace", "lidstone", "additive", "witten-bell", "absolute", "kn", "mkn", "stupid-backoff"]


@pytest.fixture(scope="module")
def texts(timemachine_path, tmp_path_factory):
    """A 300-line training slice and a 150-line test slice of the raw timemachine text."""
    slices = write_slices(timemachine_path, tmp_path_factory.mktemp("tm"), train=(100, 400), test=(400, 550))
    return slices["train"], slices["test"]


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def test_train_summary_json_counts_match_a_naive_counter(texts, tmp_path):
    train, _ = texts
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", train, "--normalize", "d2l", "--order", 4, "--smoothing", "kn", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    sentences = read_sentences(train, TextOptions(normalize="d2l"))
    assert summary["ngrams"] == distinct_per_order(naive_counts(sentences, 4), 4)
    assert summary["tokens"] == sum(len(s) + 1 for s in sentences)
    assert summary["sentences"] == len(sentences)
    assert summary["vocab_size"] == len({w for s in sentences for w in s}) + 4
    assert summary["order"] == 4 and summary["smoothing"] == "kn" and summary["format"] == "native"
    assert set(summary["seconds"]) == {"read", "count", "fit", "write", "total"}
    assert summary["text_options"]["normalize"] == "d2l"
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == ["m.ngk"]
    info = modelio.read_metadata(out)["info"]
    assert info["text_options"] == TextOptions(normalize="d2l").to_dict() and info["corpus"] is None


def test_train_human_summary(texts, tmp_path):
    result = run("train", "ngram", texts[0], "--order", 3, "-s", "laplace", "-o", tmp_path / "m.ngk")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model") and "Laplace" in lines[0]
    assert [line.split()[0] for line in lines[2:5]] == ["1-grams", "2-grams", "3-grams"]
    assert lines[-1].startswith("time")


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_trained_model_equals_the_library_fit(texts, tmp_path, smoothing):
    train, test = texts
    extra = {"lidstone": ["--k", "0.3"], "additive": ["--epsilons", "0.5,0.2,0.1"], "absolute": ["--discount", "0.6"],
             "stupid-backoff": ["--alpha", "0.5"]}.get(smoothing, [])
    out = tmp_path / "m.ngk"
    result = run("train", "ngram", train, "--normalize", "d2l", "--min-count", 2, "-n", 3, "-s", smoothing,
                 *extra, "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # --quiet
    options = TextOptions(normalize="d2l")
    sentences = read_sentences(train, options)
    vocab = Vocabulary.build(sentences, min_count=2)
    hparams = {"lidstone": {"k": 0.3}, "additive": {"epsilons": (0.5, 0.2, 0.1)}, "absolute": {"discount": 0.6},
               "stupid-backoff": {"alpha": 0.5}}.get(smoothing, {})
    expected = MODELS[smoothing](3, **hparams).fit(NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), 3))
    loaded = modelio.load_model(out)
    assert type(loaded) is type(expected) and loaded.vocab == vocab
    stream = Stream.from_sentences(read_sentences(test, options), vocab)
    np.testing.assert_allclose(loaded.log_probs(stream), expected.log_probs(stream), rtol=0, atol=1e-12)


def test_train_arpa_output(texts, tmp_path):
    out = tmp_path / "m.arpa.gz"
    result = run("train", "ngram", texts[0], "-s", "mkn", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["format"] == "arpa"
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    model = modelio.load_model(out)
    assert model.order == 3


def test_train_on_a_registry_corpus_stores_its_name(tmp_path):
    out = tmp_path / "tm.ngk"
    result = run("train", "ngram", "--corpus", "timemachine", "-n", 2, "-s", "witten-bell", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    info = modelio.read_metadata(out)["info"]
    assert info["corpus"] == "timemachine"
    from ngramkit import corpora

    assert info["text_options"] == corpora.get("timemachine").text_options.to_dict()
    assert json.loads(result.stdout)["sentences"] == len(corpora.load_split("timemachine", "train"))


def test_train_lists_ngram_and_rnn():
    result = run("train", "--help")
    assert result.exit_code == 0
    assert "ngram" in result.stdout
    assert "rnn" in result.stdout


@pytest.mark.parametrize("args, code, message", [
    (["-s", "good-turing"], 2, "Invalid value for '--smoothing'"),
    (["-s", "kn", "--k", "0.5"], 2, "--k does not apply to --smoothing kn"),
    (["-s", "lidstone", "--k", "abc"], 2, "expected a number"),
    (["-s", "lidstone", "--k", "0.1,0.2"], 2, "Invalid value for '--k': takes one number"),
    (["-s", "lidstone", "--k", "-1"], 2, "Invalid value for '--k': must be a finite number > 0"),
    (["-s", "lidstone", "--k", "inf"], 2, "Invalid value for '--k': expected finite numbers"),
    (["-s", "laplace", "--epsilons", "0.5"], 2, "--epsilons does not apply"),
    (["--order", "0"], 2, "--order"),
    (["--min-count", "0"], 2, "--min-count"),
])
def test_bad_options_fail_without_output(texts, tmp_path, args, code, message):
    out = tmp_path / "m.ngk"
    result = CliRunner().invoke(cli, ["train", "ngram", str(texts[0]), "-o", str(out), *args])
    assert result.exit_code == code, result.stdout
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_inputs_fail_with_one_line(texts, tmp_path):
    out = tmp_path / "m.ngk"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    for args, code, message in [
        ([tmp_path / "missing.txt", "-o", out], 1, "no such file"),
        ([empty, "-o", out], 1, "no tokens"),
        ([texts[0], "-o", tmp_path / "nodir" / "m.ngk"], 1, "does not exist"),
        (["--corpus", "nosuchcorpus", "-o", out], 2, "nosuchcorpus"),
        ([texts[0], "-s", "laplace", "-o", tmp_path / "m.arpa"], 2, "no backoff (ARPA) form; write it in the "
                                                                     "native format (e.g. -o "),
        ([texts[0], "--corpus", "timemachine", "-o", out], 1, "not both"),
    ]:
        result = run("train", "ngram", *args, "-q")
        assert message in error_line(result, code), args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt"]
    result = run("train", "ngram", texts[0])
    assert result.exit_code == 2 and "Missing option '--output'" in result.stderr
    result = run("train", "ngram", texts[0], "-o", tmp_path)
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_help_has_an_example():
    for args in (["train"], ["train", "ngram"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "ngramkit train ngram --corpus ptb" in result.stdout
