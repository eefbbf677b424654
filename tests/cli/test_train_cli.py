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
    assert summary["train_tokens"] == sum(len(s) + 1 for s in sentences)
    assert summary["train_sentences"] == len(sentences)
    assert summary["vocab_size"] == len({w for s in sentences for w in s}) + 4
    assert summary["order"] == 4 and summary["model"] == "kn" and summary["model_file"] == str(out) and summary["format"] == "native"
    assert set(summary["stage_seconds"]) == {"read", "count", "fit", "write"}
    assert summary["wall_seconds"] >= sum(summary["stage_seconds"].values()) - 1e-3
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
    assert json.loads(result.stdout)["train_sentences"] == len(corpora.load_split("timemachine", "train"))


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


# ---- from a counts file (`ngramkit count --output FILE.ngc`) ----------------------------------------

READING = ["--normalize", "lower", "--min-count", 2]  # how the counts' text was read: kept with the model


@pytest.fixture(scope="module")
def counted(texts, tmp_path_factory):
    """The training slice counted once, orders 1..4, lower-cased, words seen once as <unk>."""
    path = tmp_path_factory.mktemp("counts") / "c.ngc"
    result = run("count", texts[0], "--order", 4, *READING, "--output", path, "--json")
    assert result.exit_code == 0, result.stderr
    return path


def model_file(path):
    """(meta without info, info, arrays) of a native model file (the container is an .npz)."""
    meta = modelio.read_metadata(path)
    info = meta.pop("info")
    with np.load(path) as npz:
        # meta: compared as JSON; the query header holds meta.json's CRC-32 (tests/test_query_header.py)
        arrays = {name: npz[name] for name in npz.files if name not in ("meta.json", "query")}
    return meta, info, arrays


@pytest.mark.parametrize("smoothing, order, extra", [
    ("mkn", 4, []), ("mkn", 2, []), ("kn", 3, []), ("witten-bell", 4, []), ("absolute", 3, ["--discount", "0.6"]),
    ("laplace", 2, []), ("additive", 3, ["--epsilons", "0.5,0.2,0.1"]),
])
def test_a_model_from_a_counts_file_is_the_model_from_the_text(texts, counted, tmp_path, smoothing, order, extra):
    # Oracle: the same command on the text the counts were made from.
    common = ["-n", order, "-s", smoothing, *extra, "-q", "--json"]
    from_counts, from_text = tmp_path / "c.ngk", tmp_path / "t.ngk"
    a = run("train", "ngram", counted, *common, "-o", from_counts)
    b = run("train", "ngram", texts[0], *READING, *common, "-o", from_text)
    assert a.exit_code == 0 and b.exit_code == 0, (a.stderr, b.stderr)
    meta_c, info_c, arrays_c = model_file(from_counts)
    meta_t, info_t, arrays_t = model_file(from_text)
    assert meta_c == meta_t and arrays_c.keys() == arrays_t.keys()
    for name in arrays_t:
        np.testing.assert_array_equal(arrays_c[name], arrays_t[name], err_msg=name)
        assert arrays_c[name].dtype == arrays_t[name].dtype
    # The text options and vocabulary settings travel with the counts into the model.
    assert info_c.pop("counts_file") == str(counted) and info_c == info_t
    assert info_t["text_options"]["normalize"] == "lower" and info_t["min_count"] == 2
    sa, sb = json.loads(a.stdout), json.loads(b.stdout)
    assert sa.pop("source") == str(counted) and sb.pop("source") == str(texts[0])
    assert sa.pop("counts_file") == str(counted) and "counts_file" not in sb
    for s in (sa, sb):
        s.pop("model_file"), s.pop("stage_seconds"), s.pop("wall_seconds")
    assert sa == sb
    if smoothing in ("mkn", "kn", "witten-bell", "absolute"):  # backoff form: identical ARPA bytes
        arpa_c, arpa_t = tmp_path / "c.arpa", tmp_path / "t.arpa"
        assert run("train", "ngram", counted, *common, "-o", arpa_c).exit_code == 0
        assert run("train", "ngram", texts[0], *READING, *common, "-o", arpa_t).exit_code == 0
        assert arpa_c.read_bytes() == arpa_t.read_bytes()


def test_ppl_reads_text_for_a_counts_model_as_for_the_text_model(texts, counted, tmp_path):
    train, test = texts
    assert any(ch.isupper() for ch in test.read_text(encoding="utf-8"))  # lower-casing matters here
    from_counts, from_text = tmp_path / "c.ngk", tmp_path / "t.ngk"
    assert run("train", "ngram", counted, "-n", 3, "-o", from_counts, "-q").exit_code == 0
    assert run("train", "ngram", train, *READING, "-n", 3, "-o", from_text, "-q").exit_code == 0
    a = run("ppl", "--model", from_counts, test, "--json", "-q")
    b = run("ppl", "--model", from_text, test, "--json", "-q")
    assert a.exit_code == 0 and b.exit_code == 0, (a.stderr, b.stderr)
    def scores(result):  # the JSON without the model's path and timings
        return {k: v for k, v in json.loads(result.stdout).items()
                if v not in (str(from_counts), str(from_text)) and "second" not in k}

    assert scores(a) == scores(b) and len(scores(a)) >= 5
    # Not what reading the test text without the counts' options gives (capitals would be OOVs).
    c = run("ppl", "--model", from_counts, test, "--json", "-q", "--normalize", "none")
    assert c.exit_code == 0 and scores(c) != scores(a)


def test_counts_of_a_registry_corpus_keep_its_name(tmp_path):
    path, model = tmp_path / "tm.ngc", tmp_path / "tm.ngk"
    assert run("count", "--corpus", "timemachine", "--order", 2, "--output", path, "--json").exit_code == 0
    result = run("train", "ngram", path, "-n", 2, "-s", "witten-bell", "-o", model, "-q")
    assert result.exit_code == 0, result.stderr
    info = modelio.read_metadata(model)["info"]
    from ngramkit import corpora

    assert info["corpus"] == "timemachine" and info["files"] == []
    assert info["text_options"] == corpora.get("timemachine").text_options.to_dict()
    direct = tmp_path / "direct.ngk"
    assert run("train", "ngram", "--corpus", "timemachine", "-n", 2, "-s", "witten-bell", "-o", direct, "-q").exit_code == 0
    a, b = run("ppl", "--model", model, "--json", "-q"), run("ppl", "--model", direct, "--json", "-q")
    assert a.exit_code == 0, a.stderr  # no FILES: the test split of the corpus the counts came from
    paths = (str(model), str(direct))
    assert ({k: v for k, v in json.loads(a.stdout).items() if v not in paths and "second" not in k}
            == {k: v for k, v in json.loads(b.stdout).items() if v not in paths and "second" not in k})


def test_counts_file_refusals_are_one_line(texts, counted, tmp_path):
    out = tmp_path / "m.ngk"
    not_counts = tmp_path / "text.ngc"
    not_counts.write_text("a b c\n", encoding="utf-8")
    for args, message in [
        ([counted, "-n", 5], f"{counted}: holds counts of orders 1..4, below --order 5; count orders 1..5"),
        ([counted, "--min-count", 3], "--min-count does not apply to a counts file"),
        ([counted, "--normalize", "d2l"], "--normalize does not apply to a counts file"),
        ([counted, "--encoding", "utf-8"], "--encoding does not apply to a counts file"),
        ([counted, texts[0]], "a counts file is the whole training input; give it alone"),
        ([counted, "--corpus", "timemachine"], "a counts file is the whole training input"),
        ([not_counts], str(not_counts)),
        ([tmp_path / "missing.ngc"], "no such counts file"),
    ]:
        result = run("train", "ngram", *args, "-o", out, "-q")
        assert result.exit_code == 1, (args, result.stdout)
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error: ") and message in err[0], (args, err)
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.ngc"]


def test_counts_saved_by_the_library_without_info_train_with_a_warning(texts, tmp_path):
    sentences = read_sentences(texts[0], TextOptions())
    counts = NGramCounts.from_stream(Stream.from_sentences(sentences, Vocabulary.build(sentences)), 2)
    path = counts.save(tmp_path / "lib.ngc")
    result = run("train", "ngram", path, "-n", 2, "-o", tmp_path / "m.ngk", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"warning: {path} records no text options")
    assert modelio.read_metadata(tmp_path / "m.ngk")["info"]["text_options"] is None
