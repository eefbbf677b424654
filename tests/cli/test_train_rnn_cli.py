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
from oracles import write_slices
from clierrors import error_line

OPTS = ["--hidden", "16", "--batch", "4", "--bptt", "10", "--optimizer", "adam", "--lr", "0.01", "-q"]


@pytest.fixture(scope="module")
def texts(tmp_path_factory, timemachine_path):
    d = tmp_path_factory.mktemp("tm")
    write_slices(timemachine_path, d, train=(100, 400), valid=(400, 450))
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


# ---- faults: write failures keep the model, leave nothing behind -----------------------------------------------

def _train(texts, out, *extra, train="train.txt"):
    return CliRunner().invoke(cli, ["train", "rnn", str(texts / train), "--valid", str(texts / "valid.txt"),
                                    "--normalize", "d2l", "--softmax", "class", "--classes", "20", "--epochs", "2",
                                    "--schedule", "none", "-o", str(out), *OPTS, *extra])


def _one_line(result, *fragments):
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("Error: ") and "Traceback" not in result.output, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_success_removes_the_checkpoints_unless_kept(texts, tmp_path):
    out = tmp_path / "m.ngk"
    assert _train(texts, out).exit_code == 0
    assert _files(tmp_path) == ["m.ngk"]  # no m.ngk.ckpt (it was 4x the model), no temp file
    kept = tmp_path / "k.ngk"
    assert _train(texts, kept, "--keep-checkpoints").exit_code == 0
    assert _files(tmp_path / "k.ngk.ckpt") == ["best.ngk", "last.ngk"]
    # a folder the user gave: only our two files go, the folder and its other files stay
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    assert _train(texts, tmp_path / "u.ngk", "--checkpoint", str(mine)).exit_code == 0
    assert _files(mine) == ["notes.txt"]
    # a nested folder the run created goes with its created parents
    assert _train(texts, tmp_path / "n.ngk", "--checkpoint", str(tmp_path / "a" / "b")).exit_code == 0
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("option, value, fragment", [
    ("--checkpoint", "/dev/null", "--checkpoint /dev/null: exists and is not a directory"),
    ("--checkpoint", "/dev/full", "--checkpoint /dev/full: exists and is not a directory"),
    ("--checkpoint", "{blocker}/ck", "is not a directory"),  # a file where a folder is expected
    ("--log", "/dev/full", "/dev/full: exists and is not a regular file"),
    ("--log", "{blocker}/log.json", "does not exist"),
])
def test_unusable_checkpoint_or_log_fails_before_training(texts, tmp_path, option, value, fragment):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    result = _train(texts, tmp_path / "m.ngk", option, value.format(blocker=blocker))
    _one_line(result, fragment)
    assert "epoch" not in result.output and _files(tmp_path) == ["blocker"]


def test_full_disk_for_the_checkpoint_still_writes_the_model(texts, tmp_path):
    from tmpfs import small_tmpfs

    probe = tmp_path / "probe"
    probe.mkdir()
    assert _train(texts, probe / "m.ngk", "--keep-checkpoints").exit_code == 0
    model, best, last = (probe / "m.ngk").stat().st_size, *(
        (probe / "m.ngk.ckpt" / name).stat().st_size for name in ("best.ngk", "last.ngk"))
    assert last > model + 16384  # the checkpoint (weights + Adam moments) is the biggest file
    # room for best.ngk and the model, not for last.ngk: the first epoch's last.ngk fails
    with small_tmpfs(tmp_path / "disk", best + model + 3 * 4096) as disk:
        result = _train(texts, disk / "m.ngk", "--log", str(disk / "log.json"))
        err = _one_line(result, f"cannot write the checkpoint {disk}/m.ngk.ckpt/last.ngk (No space left on device)",
                        "training stopped after epoch 1 of 2", f"was written to {disk}/m.ngk")
        assert "valid ppl" in err
        assert _files(disk) == ["m.ngk"]  # no checkpoint folder, no temp file, no log (it came after)
        loaded = modelio.load_model(disk / "m.ngk")
        assert isinstance(loaded, RNNLM) and loaded.config.hidden == 16 and loaded.n_params > 0
        del loaded  # memory-mapped: let the file system go


def test_full_disk_for_the_log_still_writes_the_model(texts, tmp_path):
    from tmpfs import fill, small_tmpfs

    with small_tmpfs(tmp_path / "disk", 64 * 1024) as disk:
        fill(disk)
        result = _train(texts, tmp_path / "m.ngk", "--log", str(disk / "log.json"))
        _one_line(result, f"cannot write the training log {disk}/log.json (No space left on device)",
                  "training stopped after epoch 1 of 2", f"written to {tmp_path}/m.ngk")
        assert _files(disk) == ["filler"]
    assert isinstance(modelio.load_model(tmp_path / "m.ngk"), RNNLM)
    assert _files(tmp_path) == ["disk", "m.ngk"]  # the checkpoint folder went with the failure


def test_full_disk_for_everything_leaves_nothing(texts, tmp_path):
    from tmpfs import fill, small_tmpfs

    with small_tmpfs(tmp_path / "disk", 64 * 1024) as disk:
        fill(disk)
        result = _train(texts, disk / "m.ngk")
        _one_line(result, f"cannot write the checkpoint {disk}/m.ngk.ckpt/best.ngk (No space left on device)",
                  f"cannot write the model {disk}/m.ngk (No space left on device)")
        assert _files(disk) == ["filler"]  # nothing could be kept: nothing is left


def test_resume_refuses_another_architecture_or_text(texts, tmp_path):
    out, ckpt = tmp_path / "m.ngk", tmp_path / "ck"
    assert _train(texts, out, "--checkpoint", str(ckpt), "--keep-checkpoints").exit_code == 0
    before = _files(tmp_path)
    result = _train(texts, tmp_path / "r.ngk", "--checkpoint", str(ckpt), "--resume", "--epochs", "3", "--hidden", "8")
    _one_line(result, "--resume", "--hidden 16 in the checkpoint, 8 now")
    (texts / "other.txt").write_text((texts / "train.txt").read_text().replace(" the ", " a ", 5))
    result = _train(texts, tmp_path / "r.ngk", "--checkpoint", str(ckpt), "--resume", "--epochs", "3",
                    train="other.txt")
    _one_line(result, "--resume", "the training text differs")
    result = _train(texts, tmp_path / "r.ngk", "--checkpoint", str(ckpt), "--resume", "--epochs", "3", "--lr", "0.02")
    _one_line(result, "--resume", "--lr 0.01 in the checkpoint, 0.02 now")
    assert _files(tmp_path) == before
    # the same options and text resume; success removes the resumed run's checkpoints and folder
    assert _train(texts, tmp_path / "r.ngk", "--checkpoint", str(ckpt), "--resume", "--epochs", "3").exit_code == 0
    assert not ckpt.exists() and (tmp_path / "r.ngk").is_file()


# ---- the default recipe ---------------------------------------------------------------------------------------

# the former defaults (no preset): tanh RNN H=200, full softmax, SGD lr 1, clip 5, the mikolov schedule
FORMER_DEFAULTS = ["--cell", "rnn", "--hidden", "200", "--softmax", "full", "--optimizer", "sgd", "--lr", "1",
                   "--schedule", "mikolov", "--clip", "5", "--dropout", "0", "--batch", "20", "--bptt", "35"]


def _defaults(texts, out, *extra):
    return CliRunner().invoke(cli, ["train", "rnn", str(texts / "train.txt"), "--valid", str(texts / "valid.txt"),
                                    "--normalize", "d2l", "--epochs", "3", "--json", "-o", str(out), *extra])


def test_defaults_pick_a_recipe_that_learns_where_the_former_defaults_diverged(texts, tmp_path):
    new = _defaults(texts, tmp_path / "n.ngk")
    assert new.exit_code == 0, new.output
    summary = json.loads(new.stdout)
    vocab = summary["vocab_size"]
    # picked from the data as compare picks it, and said
    assert summary["preset"] == "tm-word-class128"
    assert "recipe tm-word-class128 (word level, 3,581 training tokens < 300,000)" in new.stderr
    assert summary["best_valid_ppl"] < vocab / 2 and "Warning" not in new.stderr  # better than a uniform guess
    old = _defaults(texts, tmp_path / "o.ngk", *FORMER_DEFAULTS)
    assert old.exit_code == 0, old.output
    assert json.loads(old.stdout)["best_valid_ppl"] > vocab  # what the former defaults gave: worse than uniform
    warning = [line for line in old.stderr.splitlines() if line.startswith("Warning")]
    assert len(warning) == 1 and f"worse than a uniform guess over the {vocab:,}-word vocabulary" in warning[0]
    assert "training diverged" in warning[0] and "sgd lr 1" in warning[0] and "--lr 0.1" in warning[0]


def test_a_bad_learning_rate_is_named_in_the_warning(texts, tmp_path):
    result = _defaults(texts, tmp_path / "b.ngk", "--lr", "0.5", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["best_valid_ppl"] > json.loads(result.stdout)["vocab_size"]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Warning: ")
    assert "likely cause: training diverged: the learning rate (adam lr 0.5) is too high" in result.stderr
    assert "try --lr 0.05" in result.stderr
