"""`ngramkit ppl` through click's CliRunner.

Oracle: :func:`ngramkit.evaluate.evaluate` called in-process on the saved
model and independently tokenised text.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import Stream, TextOptions, modelio, read_sentences
from ngramkit.cli.main import cli
from ngramkit.evaluate import evaluate
from oracles import write_slices

D2L = TextOptions(normalize="d2l")
SUMMARY_KEYS = {"schema", "command", "model", "tokens", "sentences", "oovs", "zeroprobs", "logprob10", "logprob",
                "bits_per_token", "ppl", "ppl_no_oov", "logprob10_no_oov", "model_file", "source", "corpus", "split",
                "files", "order", "text_options", "limit_vocab"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def texts(timemachine_path, tmp_path_factory):
    slices = write_slices(timemachine_path, tmp_path_factory.mktemp("tm"), train=(100, 400), test=(400, 550))
    return slices["train"], slices["test"]


@pytest.fixture(scope="module")
def models(texts, tmp_path_factory):
    """Native MKN (min-count 2, so the test text has OOVs), ARPA KN, native stupid backoff."""
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for key, args in [("mkn", ["-s", "mkn", "--min-count", 2, "-o", folder / "mkn.ngk"]),
                      ("arpa", ["-s", "kn", "-o", folder / "kn.arpa"]),
                      ("sb", ["-s", "stupid-backoff", "-o", folder / "sb.ngk"])]:
        result = run("train", "ngram", texts[0], "--normalize", "d2l", "-q", *args)
        assert result.exit_code == 0, result.stderr
        out[key] = args[-1]
    return out


def _expected(model_path, sentences, **kw):
    model = modelio.load_model(model_path)
    return evaluate(model, Stream.from_sentences(sentences, model.vocab), **kw)


def test_json_equals_in_process_evaluate(texts, models):
    result = run("ppl", "--model", models["mkn"], texts[1], "--json", "-q")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert set(got) == SUMMARY_KEYS
    # the model's stored text options (d2l) are reused: tokenise independently the same way
    ev = _expected(models["mkn"], read_sentences(texts[1], D2L))
    assert ev.oovs > 0
    for key, value in ev.to_dict().items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key
    assert got["text_options"]["normalize"] == "d2l"
    assert got["bits_per_token"] == pytest.approx(math.log2(got["ppl"]), rel=1e-9)


def test_human_summary_shows_the_same_numbers(texts, models):
    result = run("ppl", "--model", models["mkn"], texts[1])
    assert result.exit_code == 0, result.stderr
    ev = _expected(models["mkn"], read_sentences(texts[1], D2L))
    fields = {line[:25].strip(): line[25:].split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert int(fields["tokens"].replace(",", "")) == ev.tokens
    assert int(fields["sentences"].replace(",", "")) == ev.sentences
    assert int(fields["OOVs"].replace(",", "")) == ev.oovs
    assert float(fields["log10 prob (total)"]) == pytest.approx(ev.logprob10, abs=1e-4)
    assert float(fields["perplexity (incl. OOVs)"]) == pytest.approx(ev.perplexity, abs=1e-4)
    assert float(fields["perplexity (excl. OOVs)"]) == pytest.approx(ev.perplexity_no_oov, abs=1e-4)
    assert float(fields["cross-entropy"]) == pytest.approx(ev.cross_entropy, abs=1e-4)
    assert "scoring" in result.stderr  # progress goes to stderr


def test_per_sentence(texts, models):
    result = run("ppl", "--model", models["mkn"], texts[1], "--json", "--per-sentence")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)["per_sentence"]
    sentences = read_sentences(texts[1], D2L)
    ev = _expected(models["mkn"], sentences, per_sentence=True)
    assert got["tokens"] == [len(s) + 1 for s in sentences]
    np.testing.assert_allclose(got["logprob10"], ev.sentence_logprob10, rtol=1e-12)
    assert sum(got["logprob10"]) == pytest.approx(ev.logprob10, rel=1e-9)
    text = run("ppl", "--model", models["mkn"], texts[1], "--per-sentence").stdout.splitlines()
    rows = text[text.index("sentence  tokens  OOVs  log10 prob  perplexity") + 1:]
    assert len(rows) == len(sentences)
    assert int(rows[0].split()[1]) == len(sentences[0]) + 1


def test_text_option_override_changes_tokenisation(texts, models):
    result = run("ppl", "--model", models["mkn"], texts[1], "--normalize", "none", "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    raw = read_sentences(texts[1], TextOptions())
    assert got["tokens"] == sum(len(s) + 1 for s in raw)
    assert got["text_options"]["normalize"] == "none"


def test_arpa_model(texts, models):
    result = run("ppl", "--model", models["arpa"], texts[1], "--normalize", "d2l", "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    ev = _expected(models["arpa"], read_sentences(texts[1], D2L))
    assert got["ppl"] == pytest.approx(ev.perplexity, rel=1e-12)


def test_registry_corpus_default_split(tmp_path):
    from ngramkit import corpora

    out = tmp_path / "tm.ngk"
    assert run("train", "ngram", "--corpus", "timemachine", "-n", 2, "-s", "kn", "-o", out, "-q").exit_code == 0
    result = run("ppl", "--model", out, "--json")  # the model's own corpus, test split
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    ev = _expected(out, corpora.load_split("timemachine", "test"))
    assert got["source"] == "timemachine (test)"
    assert got["tokens"] == ev.tokens and got["ppl"] == pytest.approx(ev.perplexity, rel=1e-12)
    valid = json.loads(run("ppl", "--model", out, "--split", "valid", "--json").stdout)
    assert valid["tokens"] == _expected(out, corpora.load_split("timemachine", "valid")).tokens


def test_stupid_backoff_needs_allow_scores(texts, models):
    result = run("ppl", "--model", models["sb"], texts[1])
    assert result.exit_code == 1 and "--allow-scores" in result.stderr
    result = run("ppl", "--model", models["sb"], texts[1], "--allow-scores", "--json")
    assert result.exit_code == 0, result.stderr
    ev = _expected(models["sb"], read_sentences(texts[1], D2L), allow_scores=True)
    got = json.loads(result.stdout)
    for key in ("logprob10", "logprob10_no_oov", "ppl", "ppl_no_oov"):
        assert got[key] == ev.to_dict()[key] or got[key] == pytest.approx(ev.to_dict()[key], rel=1e-12)


def test_rnn_model(texts, tmp_path):
    from ngramkit import Vocabulary
    from ngramkit.rnn import RNNLM, RNNConfig

    train = read_sentences(texts[0], D2L)
    vocab = Vocabulary.build(train)
    model = RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=16, seed=1), vocab)
    path = modelio.save_model(model, tmp_path / "rnn.ngk", info={"text_options": D2L.to_dict(), "corpus": None})
    result = run("ppl", "--model", path, texts[1], "--json")
    assert result.exit_code == 0, result.stderr
    ev = evaluate(model, Stream.from_sentences(read_sentences(texts[1], D2L), vocab))
    got = json.loads(result.stdout)
    assert got["tokens"] == ev.tokens and got["ppl"] == pytest.approx(ev.perplexity, rel=1e-9)
    assert "order" not in run("ppl", "--model", path, texts[1]).stdout.splitlines()[0]


def test_bad_inputs(texts, models, tmp_path):
    data = bytearray(models["mkn"].read_bytes())
    data[len(data) // 3] ^= 0xFF
    corrupt = tmp_path / "corrupt.ngk"
    corrupt.write_bytes(bytes(data))
    junk = tmp_path / "junk.ngk"
    junk.write_text("not a model\n")
    for args, message in [
        (["--model", tmp_path / "missing.ngk", texts[1]], "no such model file"),
        # the query path maps a file that stores its scoring index without hashing it: --verify checks it all
        (["--model", corrupt, texts[1], "--verify"], "corrupt"),
        (["--model", junk, texts[1]], "not a model file"),
        (["--model", models["mkn"]], "give FILES or --corpus"),
        (["--model", models["mkn"], tmp_path / "missing.txt"], "no such file"),
        (["--model", models["mkn"], texts[1], "--corpus", "ptb"], "not both"),
    ]:
        result = run("ppl", *args)
        assert result.exit_code == 1, (args, result.stdout)
        err = result.stderr.strip().splitlines()
        assert err[-1].startswith("Error:") and message in err[-1], (args, err)
        assert [e for e in err if e.startswith("Error")] == [err[-1]] and "Traceback" not in result.stderr
        assert result.stdout == ""
    result = run("ppl", texts[1])
    assert result.exit_code == 2 and "Missing option '--model'" in result.stderr


def test_kenlm_reference_perplexity_end_to_end(reference_dir, tmp_path):
    """KenLM's own ARPA file and our CLI-trained MKN both give query's perplexity (shared/reference/README.md)."""
    text = reference_dir / "timemachine.d2l.txt"
    kenlm_ppl, tokens = 18.58095059456021, 35_623
    result = run("ppl", "--model", reference_dir / "timemachine.d2l.o3.arpa.gz", text, "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["tokens"] == tokens and got["oovs"] == 0
    assert got["ppl"] == pytest.approx(kenlm_ppl, rel=1e-6)
    out = tmp_path / "tm.o3.ngk"
    assert run("train", "ngram", text, "-n", 3, "-s", "mkn", "-o", out, "-q").exit_code == 0
    got = json.loads(run("ppl", "--model", out, text, "--json").stdout)
    assert got["tokens"] == tokens and got["ppl"] == pytest.approx(kenlm_ppl, rel=1e-6)


@pytest.mark.parametrize("kind, make, expected", [
    # KenLM's build_binary files start with this header (lm/binary_format.cc); gzip-wrapped too.
    ("kenlm-binary", lambda d: (d / "m.bin").write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0\0\1\2"),
     "a KenLM binary model (made by build_binary), which ngramkit does not read; load the ARPA file"),
    ("counts-file", None, "an ngramkit counts file, not a model file; train one with `ngramkit train` "
                          "(from a counts file: `ngramkit train ngram FILE.ngc -o model.ngk`"),
])
def test_a_file_that_is_not_a_model_is_named_for_what_it_is(texts, tmp_path, kind, make, expected):
    if make is None:
        path = tmp_path / "c.ngc"
        assert CliRunner().invoke(cli, ["count", str(texts[0]), "-q", "--output", str(path)]).exit_code == 0
    else:
        path = make(tmp_path) and tmp_path / "m.bin"
    result = CliRunner().invoke(cli, ["ppl", "-q", "--model", str(path), str(texts[1])])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: ") and expected in lines[0], lines
