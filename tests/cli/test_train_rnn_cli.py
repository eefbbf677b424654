"""`ngramkit train rnn`, then `ppl` and `generate` on the RNN model, on a small slice of text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import Stream, modelio
from ngramkit.cli.main import cli
from ngramkit.rnn import RNNLM
from ngramkit.text import TextOptions, read_sentences
from clierrors import error_line

OPTS = ["--hidden", "16", "--batch", "4", "--bptt", "10", "--optimizer", "adam", "--lr", "0.01", "-q"]


@pytest.fixture(scope="module")
def texts(tmp_path_factory, timemachine_path):
    d = tmp_path_factory.mktemp("tm")
    lines = [ln for ln in timemachine_path.read_text().splitlines() if ln.strip()]
    (d / "train.txt").write_text("\n".join(lines[100:400]) + "\n")
    (d / "valid.txt").write_text("\n".join(lines[400:450]) + "\n")
    return d


@pytest.fixture(scope="module")
def trained(texts):
    model = texts / "m.ngk"
    result = CliRunner().invoke(cli, ["train", "rnn", str(texts / "train.txt"), "--valid", str(texts / "valid.txt"),
                                      "--normalize", "d2l", "--softmax", "class", "--classes", "20", "--epochs", "3",
                                      "--schedule", "step", "--decay-after", "1", "--patience", "0",
                                      "--log", str(texts / "log.json"), "--keep-checkpoints", "--json", "-o", str(model),
                                      *OPTS])
    assert result.exit_code == 0, result.output
    return model, json.loads(result.stdout)


def test_train_rnn_writes_model_log_and_checkpoints(texts, trained):
    model_path, summary = trained
    model = modelio.load_model(model_path)
    assert isinstance(model, RNNLM) and model.config.softmax == "class" and model.config.hidden == 16
    assert summary["epochs"] == len(summary["history"]) >= 1
    log = json.loads((texts / "log.json").read_text())
    assert [e["valid_ppl"] for e in log["epochs"]] == [e["valid_ppl"] for e in summary["history"]]
    assert summary["best_valid_ppl"] == min(e["valid_ppl"] for e in summary["history"])
    assert (texts / "m.ngk.ckpt" / "last.ngk").is_file() and (texts / "m.ngk.ckpt" / "best.ngk").is_file()
    # the stored best valid ppl is what the saved model gives on the same text
    valid = Stream.from_sentences(read_sentences([texts / "valid.txt"], TextOptions(normalize="d2l")), model.vocab)
    assert float(np.exp(-model.log_probs(valid).mean())) == pytest.approx(summary["best_valid_ppl"], rel=1e-9)


def test_ppl_and_generate_on_rnn_model(texts, trained):
    model_path, summary = trained
    runner = CliRunner()
    result = runner.invoke(cli, ["ppl", "--model", str(model_path), str(texts / "valid.txt"), "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ppl"] == pytest.approx(summary["best_valid_ppl"], rel=1e-6)
    args = ["generate", "--model", str(model_path), "--words", "12", "--seed", "3", "--top-k", "5",
            "--prefix", "the time", "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    tokens = json.loads(first.stdout)["generated_tokens"]
    assert first.stdout == runner.invoke(cli, args).stdout and len(tokens) == 12
    model = modelio.load_model(model_path)
    assert tokens == model.generate(12, ["the", "time"], 3, top_k=5)


def test_resume_continues_the_run(texts, trained):
    model_path, summary = trained
    out = texts / "r.ngk"
    base = ["train", "rnn", str(texts / "train.txt"), "--valid", str(texts / "valid.txt"), "--normalize", "d2l",
            "--softmax", "class", "--classes", "20", "--checkpoint", str(texts / "m.ngk.ckpt"), "--json",
            "--schedule", "step", "--decay-after", "1", "--patience", "0", "-o", str(out), *OPTS]
    result = CliRunner().invoke(cli, base + ["--epochs", "5", "--resume"])
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout)
    n = summary["epochs"]
    assert resumed["history"][:n] == summary["history"]  # the first epochs come from the checkpoint
    assert [e["epoch"] for e in resumed["history"]] == list(range(1, len(resumed["history"]) + 1))
    assert n == 3 and len(resumed["history"]) == 5
    assert [e["lr"] for e in resumed["history"]] == [0.01, 0.005, 0.0025, 0.00125, 0.000625]
    assert modelio.load_model(out).config == modelio.load_model(model_path).config


@pytest.mark.parametrize("extra,code,message", [
    (["--tie-weights", "--embed", "8", "--schedule", "none"], 2,
     "Invalid value for '--tie-weights': needs the embedding size equal to the hidden size"),
    (["--schedule", "mikolov"], 1, "needs validation text"),
    (["--resume", "--schedule", "none"], 1, "no checkpoint"),
    (["--batch", "100000", "--schedule", "none"], 1, "too few for --batch 100000"),
    (["--cell", "gru", "--peephole", "--schedule", "none"], 2,
     "Invalid value for '--peephole': needs the lstm cell, got cell 'gru'"),
])
def test_bad_options_fail_with_one_line(texts, extra, code, message):
    result = CliRunner().invoke(cli, ["train", "rnn", str(texts / "train.txt"), "-o", str(texts / "x.ngk"),
                                      *OPTS, *extra])
    assert message in error_line(result, code) and result.stdout == ""
    assert not (texts / "x.ngk").exists()


def test_preset_with_explicit_overrides(texts):
    out = texts / "p.ngk"
    result = CliRunner().invoke(cli, ["train", "rnn", str(texts / "train.txt"), "--valid", str(texts / "valid.txt"),
                                      "--preset", "ptb-small-class", "--hidden", "8", "--epochs", "1", "--batch", "4",
                                      "--class-binning", "exchange", "-q", "--json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    cfg = modelio.load_model(out).config
    # from the preset: 2-layer LSTM, class softmax; from the command line: hidden 8, exchange classes, 1 epoch, batch 4
    assert (cfg.cell, cfg.layers, cfg.softmax, cfg.hidden, cfg.class_binning) == ("lstm", 2, "class", 8, "exchange")
    assert summary["train"]["optimizer"] == "sgd" and summary["train"]["bptt"] == 20
    assert summary["train"]["epochs"] == 1 and summary["train"]["batch"] == 4
