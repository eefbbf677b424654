"""Every command's ``--json`` follows one convention, and stdout holds only the result.

The convention (README "JSON output"): strict JSON (no NaN/Infinity, no
"inf" strings), indent 2, ``schema`` and ``command`` first, null plus a
``<key>_nonfinite`` companion for non-finite numbers, and one key per
concept: :data:`CONCEPTS` below is the table every command is checked
against. Oracles: a strict parser (``json.loads`` refusing NaN/Infinity),
``json.dumps(indent=2)`` of what was parsed, and the math (an MLE model
gives an unseen bigram probability 0, so its perplexity is infinite).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import jsonout
from ngramkit.cli.main import cli
from oracles import write_slices

SCHEMA = "ngramkit/1"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt(check):
    return lambda v: v is None or check(v)


def _str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# One key per concept, wherever it appears in a record (the top-level object, a compare row, a corpus):
# key -> check of its value. Numbers that may be non-finite are "optional" (null + companion).
CONCEPTS = {
    "schema": lambda v: v == SCHEMA,
    "command": lambda v: isinstance(v, str),
    "model_file": lambda v: isinstance(v, str) and v.endswith((".ngk", ".arpa", ".arpa.gz")),
    "model": lambda v: isinstance(v, str) and "/" not in v and "." not in v,  # a name, never a path
    "source": lambda v: isinstance(v, str),
    "corpus": _opt(lambda v: isinstance(v, str)),
    "split": _opt(lambda v: v in ("train", "valid", "test", "all")),
    "files": _str_list,
    "text_options": lambda v: isinstance(v, dict) and {"normalize", "tokenizer"} <= v.keys(),
    "tokens": _is_int,
    "train_tokens": _is_int,
    "valid_tokens": _opt(_is_int),
    "test_tokens": _is_int,
    "sentences": _is_int,
    "train_sentences": _is_int,
    "oovs": _is_int,
    "vocab_size": _is_int,
    "order": _opt(_is_int),
    "ppl": _opt(_is_num),
    "ppl_no_oov": _opt(_is_num),
    "valid_ppl": _opt(_is_num),
    "test_ppl": _opt(_is_num),
    "best_valid_ppl": _opt(_is_num),
    "bits_per_token": _opt(_is_num),
    "params": _is_int,
    "epochs": _opt(_is_int),
    "tokens_per_second": _opt(_is_num),
    "wall_seconds": _is_num,
    "seed": _opt(_is_int),
}
# Old or competing names for those concepts: none may appear anywhere.
SYNONYMS = {"perplexity", "perplexity_no_oov", "cross_entropy", "words_per_second", "epochs_run", "smoothing",
            "kind", "checkpoint", "plot", "heaps_plot", "model_path"}
NONFINITE_WORDS = {"inf", "-inf", "nan", "infinity", "-infinity"}


def strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _walk(value, path="$"):
    """(path, key, value, parent dict) for every dict entry, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", k, v, value
            if not k.endswith(jsonout.NONFINITE_SUFFIX):  # a companion's own entries are checked with it
                yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def _records(out: dict, command: str) -> list[dict]:
    if command == "compare":
        return [out, *out["rows"]]
    if command == "corpus list":
        return [out, *out["corpora"]]
    return [out]


def check_convention(stdout: str, command: str) -> dict:
    out = strict_loads(stdout)
    assert isinstance(out, dict)
    assert list(out)[:2] == ["schema", "command"] and out["schema"] == SCHEMA and out["command"] == command
    assert stdout == json.dumps(out, indent=2, ensure_ascii=False) + "\n"  # indent 2, one object, nothing else
    for record in _records(out, command):
        for key, check in CONCEPTS.items():
            if key in record:
                assert check(record[key]), f"{command}: {key} = {record[key]!r}"
    for path, key, value, parent in _walk(out):
        assert key not in SYNONYMS, f"{command}: {path} uses an old name"
        if key.endswith("_file"):
            assert isinstance(value, str), path
        if key.endswith(jsonout.NONFINITE_SUFFIX):
            base = parent[key[: -len(jsonout.NONFINITE_SUFFIX)]]
            if isinstance(value, str):
                assert base is None and value in ("inf", "-inf", "nan"), path
            else:
                assert value and all(base[int(i)] is None and w in ("inf", "-inf", "nan") for i, w in value.items())
        elif isinstance(value, str):
            assert value.strip().lower() not in NONFINITE_WORDS, f"{command}: {path} = {value!r}"
    return out


# ---- the commands on small inputs -------------------------------------------------------------------------

INFO_LINE = re.compile(r"^(loading|reading|scoring|counting|fitting|writing|wrote|resuming)\b|written to|saved to|"
                       r"progress|\bepoch \d", re.IGNORECASE | re.MULTILINE)


def run(args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, (args, result.stderr)
    return result


@pytest.fixture(scope="module")
def ws(tmp_path_factory, timemachine_path):
    d = tmp_path_factory.mktemp("json_convention")
    files = write_slices(timemachine_path, d, train=(100, 400), valid=(400, 440), test=(440, 480))
    tiny_train, tiny_test = d / "tiny_train.txt", d / "tiny_test.txt"
    tiny_train.write_text("a b c\nb c a\n", encoding="utf-8")
    tiny_test.write_text("c b a\n", encoding="utf-8")  # bigrams never seen in training: MLE gives 0
    run(["train", "ngram", files["train"], "--normalize", "d2l", "-n", 3, "-s", "kn", "-o", d / "kn.ngk", "-q"])
    run(["train", "ngram", tiny_train, "-n", 2, "-s", "mle", "-o", d / "mle.ngk", "-q"])
    return {"dir": d, **files, "tiny_train": tiny_train, "tiny_test": tiny_test}


RNN_ARGS = ["--hidden", 8, "--epochs", 1, "--batch", 4, "--bptt", 8, "--softmax", "class", "--classes", 5]
COMPARE_ARGS = ["--models", "laplace:1,mkn:2,rnn", "--rnn-hidden", 8, "--rnn-batch", 4, "--rnn-bptt", 8,
                "--epochs", 1, "--normalize", "d2l"]


def commands(ws) -> dict[str, list]:
    """Command name -> arguments (without --json/-q) of one successful small run."""
    d = ws["dir"]
    splits = ["--train", ws["train"], "--valid", ws["valid"], "--test", ws["test"]]
    return {
        "count": ["count", ws["train"], "--order", 2, "--top", 2, "--output", d / "c.ngc"],
        "zipf": ["zipf", ws["train"], "--orders", 1, "--method", "both", "--min-tail", 5, "--plot", d / "z.png"],
        "train ngram": ["train", "ngram", ws["train"], "-n", 2, "-s", "mkn", "-o", d / "t.arpa"],
        "train rnn": ["train", "rnn", ws["train"], "--valid", ws["valid"], "--normalize", "d2l", *RNN_ARGS,
                      "-o", d / "r.ngk"],
        "ppl": ["ppl", "--model", d / "kn.ngk", ws["test"], "--per-sentence"],
        "generate": ["generate", "--model", d / "kn.ngk", "--words", 5, "--seed", 1, "--prefix", "the time"],
        "compare": ["compare", *splits, *COMPARE_ARGS, "--csv", d / "cmp.csv"],
        "corpus list": ["corpus", "list"],
    }


COMMANDS = ["count", "zipf", "train ngram", "train rnn", "ppl", "generate", "compare", "corpus list"]


@pytest.mark.parametrize("command", COMMANDS)
def test_json_follows_the_convention(ws, command):
    result = run([*commands(ws)[command], "--json", "-q"])
    assert result.stderr == ""  # -q: nothing but errors on stderr
    out = check_convention(result.stdout, command)
    if command == "compare":
        assert {r["valid_tokens"] for r in out["rows"]} == {out["valid_tokens"]}
    if command == "ppl":
        assert out["bits_per_token"] == pytest.approx(math.log2(out["ppl"]), rel=1e-12)
        assert len(out["per_sentence"]["ppl"]) == out["sentences"]


def test_shared_concepts_agree_across_commands(ws):
    """The same thing has the same key and value: the model written by train is the model_file ppl reads."""
    d = ws["dir"]
    trained = strict_loads(run(["train", "ngram", ws["train"], "--normalize", "d2l", "-n", 2, "-s", "laplace",
                                "-o", d / "lap.ngk", "--json", "-q"]).stdout)
    counted = strict_loads(run(["count", ws["train"], "--normalize", "d2l", "--order", 2, "--json", "-q"]).stdout)
    scored = strict_loads(run(["ppl", "--model", d / "lap.ngk", ws["test"], "--json", "-q"]).stdout)
    compared = strict_loads(run(["compare", "--train", ws["train"], "--valid", ws["valid"], "--test", ws["test"],
                                 "--normalize", "d2l", "--models", "laplace:2", "--no-interpolate", "--json",
                                 "-q"]).stdout)
    assert trained["model_file"] == scored["model_file"] == str(d / "lap.ngk")
    assert trained["model"] == scored["model"] == compared["rows"][0]["model"] == "laplace"
    assert trained["train_tokens"] == counted["tokens"] == compared["train_tokens"]
    assert trained["vocab_size"] == counted["vocab_size"] == compared["vocab_size"]
    assert trained["files"] == counted["files"] == [str(ws["train"])] and trained["corpus"] is None
    assert scored["tokens"] == compared["test_tokens"] and scored["oovs"] == compared["test_oovs"]
    assert scored["ppl"] == pytest.approx(compared["rows"][0]["test_ppl"], rel=1e-12)
    assert scored["bits_per_token"] == pytest.approx(compared["rows"][0]["bits_per_token"], rel=1e-12)


def test_infinite_perplexity_is_null_with_a_companion(ws):
    out = check_convention(run(["ppl", "--model", ws["dir"] / "mle.ngk", ws["tiny_test"], "--per-sentence",
                                "--json", "-q"]).stdout, "ppl")
    # <s> c, c b, b a never follow each other in "a b c" / "b c a": probability 0 (a </s> was seen)
    assert out["zeroprobs"] == 3
    assert (out["ppl"], out["ppl_nonfinite"]) == (None, "inf")
    assert (out["bits_per_token"], out["bits_per_token_nonfinite"]) == (None, "inf")
    assert (out["logprob10"], out["logprob10_nonfinite"]) == (None, "-inf")
    assert out["per_sentence"]["ppl"] == [None] and out["per_sentence"]["ppl_nonfinite"] == {"0": "inf"}
    assert out["per_sentence"]["tokens"] == [4]


def test_compare_infinite_row_is_null_with_a_companion(ws, tmp_path):
    train, valid, test = (tmp_path / f"{n}.txt" for n in ("train", "valid", "test"))
    train.write_text("a b c\nb c a\n", encoding="utf-8")
    valid.write_text("a b c\n", encoding="utf-8")
    test.write_text("c b a\n", encoding="utf-8")
    out = check_convention(run(["compare", "--train", train, "--valid", valid, "--test", test,
                                "--models", "mle:2,laplace:1", "--no-interpolate", "--json", "-q"]).stdout, "compare")
    mle = out["rows"][0]
    assert mle["label"] == "mle:2" and mle["valid_ppl"] is not None
    assert (mle["test_ppl"], mle["test_ppl_nonfinite"]) == (None, "inf")
    assert (mle["bits_per_token"], mle["bits_per_token_nonfinite"]) == (None, "inf")
    assert out["rows"][1]["test_ppl"] > 1 and "test_ppl_nonfinite" not in out["rows"][1]


@pytest.mark.parametrize("command", COMMANDS)
def test_stdout_holds_only_the_result(ws, command):
    args = commands(ws)[command]
    loud = run(args)
    assert loud.stdout.strip() and not INFO_LINE.search(loud.stdout), loud.stdout
    quiet = run([*args, "-q"])
    assert quiet.stderr == "" and quiet.stdout.strip()
    if command in ("count", "zipf", "ppl", "generate", "corpus list"):  # no timings printed: -q changes nothing
        assert quiet.stdout == loud.stdout


def test_info_lines_go_to_stderr(ws):
    d = ws["dir"]
    counted = run(["count", ws["train"], "--order", 1, "--output", d / "info.ngc"])
    assert f"counts saved to {d / 'info.ngc'}" in counted.stderr and "saved" not in counted.stdout
    zipf = run(["zipf", ws["train"], "--orders", 1, "--plot", d / "info.png"])
    assert f"Zipf plot written to {d / 'info.png'}" in zipf.stderr and "written" not in zipf.stdout
    scored = run(["ppl", "--model", d / "kn.ngk", ws["test"]])
    assert "loading" in scored.stderr and "scoring" in scored.stderr and "perplexity" in scored.stdout


def test_errors_are_not_silenced_by_quiet(ws):
    result = run(["ppl", "--model", ws["dir"] / "missing.ngk", ws["test"], "-q", "--json"], ok=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and "missing.ngk" in result.stderr


# ---- the serialiser itself ------------------------------------------------------------------------------


def test_jsonable_marks_every_non_finite_value():
    got = jsonout.jsonable({"a": np.float32(1.5), "b": math.inf, "c": [1.0, -math.inf, [math.nan, 2]],
                            "d": {"e": np.array([0.5, np.inf])}, "f": (np.int64(3), True), "g": None})
    assert got == {"a": 1.5, "b": None, "b_nonfinite": "inf", "c": [1.0, None, [None, 2]],
                   "c_nonfinite": {"1": "-inf", "2.0": "nan"}, "d": {"e": [0.5, None], "e_nonfinite": {"1": "inf"}},
                   "f": [3, True], "g": None}
    assert type(got["f"][0]) is int and type(got["a"]) is float
    text = jsonout.dumps({"x": math.nan})
    assert strict_loads(text) == {"schema": SCHEMA, "x": None, "x_nonfinite": "nan"}


def test_jsonable_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="reserved"):
        jsonout.jsonable({"x": math.inf, "x_nonfinite": "mine"})
    with pytest.raises(TypeError, match="object is not JSON"):
        jsonout.jsonable({"x": object()})
    with pytest.raises(ValueError, match="reserved"):
        jsonout.dumps({"schema": "other"})


def test_every_command_has_quiet_and_every_json_links_the_convention():
    import click

    def leaves(cmd, name=""):
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                yield from leaves(sub, f"{name} {sub_name}".strip())
        else:
            yield name, cmd

    found = dict(leaves(cli))
    assert {"count", "zipf", "train ngram", "train rnn", "ppl", "generate", "compare", "corpus list", "corpus path",
            "corpus download"} <= set(found)
    for name, cmd in found.items():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])} | \
               {o for p in cmd.params for o in getattr(p, "secondary_opts", [])}
        assert {"-q", "--quiet"} <= opts, name
        for p in cmd.params:
            if "--json" in getattr(p, "opts", []):
                assert "JSON output" in p.help, name
