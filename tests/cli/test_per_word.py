"""`ngramkit ppl --per-word`: KenLM ``query``'s per-token output.

Oracle: ``ptb.UNK.o3.query.test200.txt``, what KenLM's ``query`` printed for
the first 200 PTB test sentences (``<unk>`` -> ``UNK``) with
``ptb.UNK.o3.arpa.gz``; and, for the JSON and other models, in-process
:func:`ngramkit.evaluate.evaluate` (ngramkit's own scorer, not ``full_scores``).
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from ngramkit import Stream, TextOptions, modelio, read_sentences
from ngramkit.cli.main import cli
from ngramkit.evaluate import evaluate
from oracles import write_slices


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ptb200(ptb_dir, tmp_path_factory):
    lines = (ptb_dir / "ptb.test.txt").read_text().splitlines()[:200]
    path = tmp_path_factory.mktemp("ptb") / "test200.txt"
    path.write_text("".join(line.replace("<unk>", "UNK") + "\n" for line in lines))
    return path


def parse(text: str):
    """([[(word, id, ngram_length, log10)]], [(total, oov)], summary dict) of query's output."""
    sentences, totals, summary = [], [], {}
    for line in text.splitlines():
        if line.startswith(("Perplexity", "OOVs:", "Tokens:")):
            key, value = line.split(":\t")
            summary[key] = value
            continue
        fields = line.split("\t")
        total = fields[-1].split()
        assert total[0] == "Total:" and total[2] == "OOV:", line
        totals.append((float(total[1]), int(total[3])))
        words = []
        for field in fields[:-1]:
            word_id, length, lp = field.rsplit(" ", 2)
            word, wid = word_id.rsplit("=", 1)
            words.append((word, int(wid), int(length), float(lp)))
        sentences.append(words)
    return sentences, totals, summary


def test_per_word_equals_kenlm_query(reference_dir, ptb200):
    oracle = (reference_dir / "ptb.UNK.o3.query.test200.txt").read_text()
    result = run("ppl", "-m", reference_dir / "ptb.UNK.o3.arpa.gz", ptb200, "--per-word", "-q")
    assert result.exit_code == 0, result.stderr
    got, want = parse(result.stdout), parse(oracle)
    assert len(got[0]) == len(want[0]) == 200
    for g_sent, w_sent in zip(got[0], want[0]):
        assert [(w, i, n) for w, i, n, _ in g_sent] == [(w, i, n) for w, i, n, _ in w_sent]  # ids are KenLM's
        assert max(abs(g[3] - w[3]) for g, w in zip(g_sent, w_sent)) <= 1e-5
    assert got[1] == want[1]  # totals summed as query sums them (float32), OOV counts
    assert got[2]["OOVs"] == want[2]["OOVs"] == "0" and got[2]["Tokens"] == want[2]["Tokens"] == "4266"
    for key in ("Perplexity including OOVs", "Perplexity excluding OOVs"):
        assert float(got[2][key]) == pytest.approx(float(want[2][key]), rel=1e-12)
    # The strongest true property today: the whole output is query's, byte for byte.
    assert result.stdout == oracle


@pytest.fixture(scope="module")
def tm_models(timemachine_path, tmp_path_factory):
    slices = write_slices(timemachine_path, tmp_path_factory.mktemp("tm"), train=(100, 400), test=(400, 460))
    folder = tmp_path_factory.mktemp("models")
    out = {"test": slices["test"]}
    for key, args in [("mkn", ["-s", "mkn", "--min-count", 2, "-o", folder / "mkn.ngk"]),
                      ("arpa", ["-s", "kn", "-o", folder / "kn.arpa"]),
                      ("sb", ["-s", "stupid-backoff", "-o", folder / "sb.ngk"])]:
        result = run("train", "ngram", slices["train"], "--normalize", "d2l", "-q", *args)
        assert result.exit_code == 0, result.stderr
        out[key] = args[-1]
    return out


@pytest.mark.parametrize("key", ["mkn", "arpa"])
def test_json_per_word_matches_evaluate(tm_models, key):
    """Native (with OOVs: min-count 2) and ARPA: every token's log10 is evaluate()'s, OOVs are id 0."""
    result = run("ppl", "-m", tm_models[key], tm_models["test"], "--per-word", "--json", "-q", "--normalize", "d2l")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["schema"] == "ngramkit/1" and got["command"] == "ppl"
    model = modelio.load_model(tm_models[key])
    sentences = read_sentences([tm_models["test"]], TextOptions(normalize="d2l"))
    stream = Stream.from_sentences(sentences, model.vocab)
    ev = evaluate(model, stream, per_sentence=True)
    assert (got["tokens"], got["sentences"], got["oovs"]) == (ev.tokens, ev.sentences, ev.oovs)
    if key == "mkn":
        assert ev.oovs > 0
    lp10 = (model.log_probs(stream) / math.log(10)).tolist()
    flat = [x for row in got["per_word"] for x in row["logprob10"]]
    assert flat == pytest.approx(lp10, abs=1e-6)
    assert [r["sentence_logprob10"] for r in got["per_word"]] == pytest.approx(ev.sentence_logprob10.tolist(),
                                                                               abs=1e-5)
    assert got["ppl"] == pytest.approx(ev.perplexity, rel=1e-6)
    assert got["ppl_no_oov"] == pytest.approx(ev.perplexity_no_oov, rel=1e-6)
    for row, sent in zip(got["per_word"], sentences):
        assert row["words"] == [*sent, "</s>"]
        known = [w in model.vocab.index and w != "<unk>" for w in row["words"]]
        assert row["oov"] == [not k for k in known]
        assert all((i == 0) == oov for i, oov in zip(row["ids"], row["oov"]))
        assert all(1 <= n <= model.order for n in row["ngram_lengths"])
    # ids are KenLM's numbering of the unigrams in the (written) ARPA order: distinct, from 1
    ids = {w: i for row in got["per_word"] for w, i in zip(row["words"], row["ids"]) if i}
    assert len(set(ids.values())) == len(ids) and ids["</s>"] == 2


def test_text_matches_json(tm_models):
    args = ("ppl", "-m", tm_models["mkn"], tm_models["test"], "--per-word", "-q")
    text, as_json = run(*args), json.loads(run(*args, "--json").stdout)
    sentences, totals, summary = parse(text.stdout)
    assert [[(w, i, n) for w, i, n, _ in s] for s in sentences] == \
        [list(zip(r["words"], r["ids"], r["ngram_lengths"])) for r in as_json["per_word"]]
    assert [o for _, o in totals] == [r["oovs"] for r in as_json["per_word"]]
    assert int(summary["OOVs"]) == as_json["oovs"] and int(summary["Tokens"]) == as_json["tokens"]
    assert float(summary["Perplexity including OOVs"]) == pytest.approx(as_json["ppl"], rel=1e-5)
    assert float(summary["Perplexity excluding OOVs"]) == pytest.approx(as_json["ppl_no_oov"], rel=1e-5)


def test_other_bad_inputs(tm_models, tmp_path):
    sb = run("ppl", "-m", tm_models["sb"], tm_models["test"], "--per-word")
    assert sb.exit_code == 1 and "--allow-scores" in sb.stderr
    sb = run("ppl", "-m", tm_models["sb"], tm_models["test"], "--per-word", "--allow-scores", "-q")
    assert sb.exit_code == 1 and "no backoff (ARPA) form" in sb.stderr and "Traceback" not in sb.stderr
    both = run("ppl", "-m", tm_models["mkn"], tm_models["test"], "--per-word", "--per-sentence")
    assert both.exit_code == 2 and "--per-sentence" in both.stderr
    missing = run("ppl", "-m", tmp_path / "nope.ngk", tm_models["test"], "--per-word")
    assert missing.exit_code == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_an_rnn_model_is_a_usage_error(tm_models, tmp_path):
    """Per-word output reports n-gram lengths, which an RNN has not: exit 2, one line, the fix named."""
    rnn = tmp_path / "rnn.ngk"
    trained = run("train", "rnn", tm_models["test"], "--epochs", 1, "--hidden", 8, "--schedule", "none", "-q",
                  "-o", rnn)
    assert trained.exit_code == 0, trained.stderr
    result = run("ppl", "-m", rnn, tm_models["test"], "--per-word")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and "--per-word is for n-gram models" in result.stderr, result.stderr
    assert "drop --per-word" in lines[-1] and "Traceback" not in result.stderr
