"""``ngramkit compare`` through click's CliRunner, on a small slice of timemachine.

Oracles: ``ngramkit train ngram`` + ``ngramkit ppl`` on the same split files
and text options (the n-gram perplexities must be the same numbers), the
json/csv parsers, file magic bytes, and models reloaded from ``--out``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ngramkit.cli.main import cli

SMALL_RNN = ["--rnn-hidden", "12", "--rnn-softmax", "full", "--rnn-batch", "16", "--rnn-bptt", "35", "--epochs", "2"]


@pytest.fixture(scope="module")
def splits(tmp_path_factory, timemachine_path):
    """train/valid/test files: consecutive non-empty lines of timemachine (raw text, d2l applied by options)."""
    lines = [line for line in timemachine_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    d = tmp_path_factory.mktemp("tm_slice")
    parts = {"train": lines[100:500], "valid": lines[500:560], "test": lines[560:620]}
    for name, part in parts.items():
        (d / f"{name}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    return {name: str(d / f"{name}.txt") for name in parts}


def split_args(splits):
    return ["--train", splits["train"], "--valid", splits["valid"], "--test", splits["test"], "--normalize", "d2l"]


def run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def one_line_error(result, *fragments, code=1):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    err = lines[-1]  # progress lines (if any) come before; the error is one last line
    assert err.startswith("Error: ") and not any(line.startswith("Error") for line in lines[:-1]), lines
    assert "Traceback" not in result.output and result.stdout == ""
    for fragment in fragments:
        assert fragment in err, err
    return result.stderr


@pytest.fixture(scope="module")
def full_run(splits, tmp_path_factory):
    """One run with every output option: its result and output folder."""
    out = tmp_path_factory.mktemp("compare_out")
    args = ["compare", *split_args(splits), "--models", "laplace:1-2,mkn:3,rnn", *SMALL_RNN, "--seed", "3",
            "--json", "--markdown", str(out / "r.md"), "--csv", str(out / "r.csv"), "--plot", str(out / "r.svg"),
            "--title", "Slice of TM: all models", "--out", str(out / "run")]
    result = run(args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def test_rows_and_same_tokens(full_run):
    data, _ = full_run
    labels = [r["label"] for r in data["rows"]]
    best = min((r for r in data["rows"] if r["order"] is not None), key=lambda r: r["valid_ppl"])["label"]
    assert labels == ["laplace:1", "laplace:2", "mkn:3", "rnn", f"rnn+{best}"]
    assert {r["valid_tokens"] for r in data["rows"]} == {data["valid_tokens"]}
    assert {r["test_tokens"] for r in data["rows"]} == {data["test_tokens"]}
    for r in data["rows"]:
        for key in ("model", "order", "valid_ppl", "test_ppl", "params", "train_seconds", "tokens_per_second"):
            assert key in r
        assert r["valid_ppl"] > 1 and r["test_ppl"] > 1 and r["params"] > 0
    assert 0 <= data["interpolation"]["weight"] <= 1
    assert len(data["curves"]["rnn"]) == data["rows"][3]["epochs"] <= 2


def test_output_files(full_run):
    data, out = full_run
    md = (out / "r.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == len(data["rows"]) + 2  # header, separator, one line per row
    assert all(r["label"] in md for r in data["rows"])
    rows = list(csv.DictReader((out / "r.csv").open()))
    assert [r["label"] for r in rows] == [r["label"] for r in data["rows"]]
    assert float(rows[2]["test_ppl"]) == pytest.approx(data["rows"][2]["test_ppl"], rel=1e-12)
    assert (out / "r.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert "Slice of TM: all models" in (out / "r.svg").read_text()  # --title (SVG keeps text as text)
    run_dir = out / "run"
    names = set(os.listdir(run_dir))
    assert {"report.json", "report.md", "report.csv", "compare.png"} <= names
    assert json.loads((run_dir / "report.json").read_text())["rows"][0]["label"] == "laplace:1"
    assert (run_dir / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind


def test_saved_models_reload_with_the_same_perplexity(full_run, splits):
    from ngramkit.evaluate import evaluate
    from ngramkit.modelio import load_model
    from ngramkit.stream import Stream
    from ngramkit.text import TextOptions, read_sentences

    data, out = full_run
    saved = {p.name: p for p in (out / "run").iterdir() if not p.name.startswith(("report", "compare"))}
    assert len(saved) == 4  # laplace:1, laplace:2, mkn:3, rnn
    sentences = read_sentences(splits["test"], TextOptions(normalize="d2l"))
    for row in data["rows"][:4]:
        path = next(p for name, p in saved.items() if name.startswith(row["label"].replace(":", "-")))
        model = load_model(path)
        ev = evaluate(model, Stream.from_sentences(sentences, model.vocab))
        assert ev.tokens == row["test_tokens"]
        assert ev.perplexity == pytest.approx(row["test_ppl"], rel=1e-9)


@pytest.mark.parametrize("smoothing, order", [("laplace", 1), ("laplace", 3), ("mkn", 3), ("mkn", 4), ("kn", 5),
                                               ("witten-bell", 2)])
def test_ngram_perplexities_equal_ppl_command(splits, tmp_path, smoothing, order):
    result = run(["compare", *split_args(splits), "--models", f"{smoothing}:{order}", "--json", "-q"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    model = tmp_path / "m.ngk"
    trained = run(["train", "ngram", splits["train"], "--normalize", "d2l", "--order", str(order),
                   "--smoothing", smoothing, "-o", str(model), "-q"])
    assert trained.exit_code == 0, trained.output
    for split in ("valid", "test"):
        ppl = run(["ppl", "--model", str(model), splits[split], "--json"])
        assert ppl.exit_code == 0, ppl.output
        got = json.loads(ppl.stdout)
        assert got["tokens"] == row[f"{split}_tokens"]
        assert got["ppl"] == pytest.approx(row[f"{split}_ppl"], rel=1e-12)


def test_char_level(splits):
    result = run(["compare", *split_args(splits), "--level", "char", "--models", "laplace:1-2,mkn:5",
                  "--json", "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["level"] == "char" and data["vocab_size"] <= 4 + 27  # specials, a-z, space
    chars = sum(len(s) for s in Path(splits["test"]).read_text().splitlines())
    assert data["test_tokens"] < chars  # d2l collapses punctuation runs
    assert [r["label"] for r in data["rows"]] == ["laplace:1", "laplace:2", "mkn:5"]
    assert data["rows"][2]["test_ppl"] < data["rows"][0]["test_ppl"] < 28


# ---- bad input: one line, exit 1, before any training --------------------------------------


def test_unknown_model_spec(splits):
    err = one_line_error(run(["compare", *split_args(splits), "--models", "laplace:1-3,foo:2"]), "'foo:2'",
                         "valid models:", "mkn", "lstm", "Invalid value for '--models'", code=2)
    assert "reading" not in err


@pytest.mark.parametrize("which", ["train", "valid", "test"])
def test_missing_split_file(splits, tmp_path, which):
    args = dict(splits)
    args[which] = str(tmp_path / "nope.txt")
    one_line_error(run(["compare", "--train", args["train"], "--valid", args["valid"], "--test", args["test"],
                        "--models", "mkn:3"]), f"--{which}", "nope.txt")


@pytest.mark.parametrize("which", ["valid", "test"])
def test_empty_split_file(splits, tmp_path, which):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    args = dict(splits, **{which: str(empty)})
    one_line_error(run(["compare", "--train", args["train"], "--valid", args["valid"], "--test", args["test"],
                        "--models", "mkn:3"]), f"--{which}", "empty.txt")


def test_no_overlap_with_vocabulary(splits, tmp_path):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("zzyzx qwertz\nxyzzy plugh\n")
    one_line_error(run(["compare", *split_args(dict(splits, valid=str(foreign))), "--models", "mkn:3"]),
                   "--valid", "training vocabulary")


def test_epochs_zero(splits):
    err = one_line_error(run(["compare", *split_args(splits), "--epochs", "0"]), "'--epochs'", ">=1", code=2)
    assert "reading" not in err


def test_partial_split_files(splits):
    one_line_error(run(["compare", "--train", splits["train"], "--test", splits["test"]]), "--valid")
    one_line_error(run(["compare", "--corpus", "ptb", "--train", splits["train"], "--valid", splits["valid"],
                        "--test", splits["test"]]), "not both")


@pytest.mark.parametrize("option, name", [("--markdown", "r.md"), ("--csv", "r.csv"), ("--plot", "r.png")])
def test_unwritable_output_fails_before_work(splits, tmp_path, option, name):
    bad = tmp_path / "missing-dir" / name
    result = run(["compare", *split_args(splits), "--models", "mkn:3,rnn", option, str(bad)])
    one_line_error(result, option, "does not exist")
    assert "reading" not in result.stderr and "training" not in result.stderr
    assert not bad.parent.exists()


def test_plot_extension_and_out_dir_errors(splits, tmp_path):
    # the same checker and wording as every figure destination (ngramkit.fileio.check_output_path)
    one_line_error(run(["compare", *split_args(splits), "--plot", str(tmp_path / "f.bmp")]), "--plot",
                   "unknown figure format ('.bmp'); use one of .png, .svg, .pdf")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run(["compare", *split_args(splits), "--out", str(blocker / "sub")]), "--out")
    one_line_error(run(["compare", *split_args(splits), "--out", str(blocker)]), "--out", "not a directory")


def test_quiet_means_no_stderr_and_progress_goes_to_stderr(splits):
    quiet = run(["compare", *split_args(splits), "--models", "laplace:2,rnn", *SMALL_RNN, "--epochs", "1", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert "laplace:2" in quiet.stdout and "rnn+laplace:2" in quiet.stdout
    loud = run(["compare", *split_args(splits), "--models", "laplace:2", "--json"])
    assert loud.exit_code == 0 and "laplace:2" in loud.stderr  # progress on stderr, JSON alone on stdout
    assert json.loads(loud.stdout)["rows"][0]["label"] == "laplace:2"
