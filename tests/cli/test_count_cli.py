"""`ngramkit count` through click's CliRunner: output, JSON schema, --output, bad input."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from ngramkit.cli.main import cli
from ngramkit.counts import NGramCounts
from ngramkit.text import TextOptions, read_sentences
from oracles import naive_counts
from clierrors import error_line


def run(*args, env=None):
    result = CliRunner().invoke(cli, ["count", *map(str, args)], env=env)
    return result


def assert_one_line_error(result, *needles):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Error:")
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("the cat sat\nthe cat ran\n\nthe dog sat  down\n", encoding="utf-8")
    return path


# ---- JSON schema and values --------------------------------------------------------------------


def check_schema(info, order, top):
    assert set(info) == {"schema", "command", "source", "corpus", "split", "files", "order", "tokens", "sentences",
                         "vocab_size", "orders", "memory"}
    assert set(info["memory"]) == {"budget_bytes", "spilled", "blocks", "runs", "temp_peak_bytes"}
    assert info["command"] == "count" and info["order"] == order
    assert isinstance(info["source"], str)
    assert all(isinstance(info[k], int) for k in ("tokens", "sentences", "vocab_size"))
    assert list(info["orders"]) == [str(k) for k in range(1, order + 1)]
    for k, o in info["orders"].items():
        assert set(o) == {"total", "distinct", "singletons", "top"}
        assert len(o["top"]) == min(top, o["distinct"])
        for gram, c in o["top"]:
            assert isinstance(gram, list) and len(gram) == int(k) and all(isinstance(w, str) for w in gram)
            assert isinstance(c, int)
        counts = [c for _, c in o["top"]]
        assert counts == sorted(counts, reverse=True)


def test_json_on_files_equals_naive_counter(small):
    result = run(small, "--order", 3, "--top", 4, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    check_schema(info, 3, 4)
    sentences = [line.split() for line in small.read_text().splitlines() if line.split()]
    expected = naive_counts(sentences, 3)
    assert info["tokens"] == sum(len(s) + 1 for s in sentences) == 13
    assert info["sentences"] == 3 and info["vocab_size"] == 4 + 6
    for k in (1, 2, 3):
        grams = {g: c for g, c in expected.items() if len(g) == k}
        o = info["orders"][str(k)]
        assert o["total"] == sum(grams.values())
        assert o["distinct"] == len(grams)
        assert o["singletons"] == sum(1 for c in grams.values() if c == 1)
        for gram, c in o["top"]:
            assert grams[tuple(gram)] == c
    assert info["orders"]["1"]["top"][0] == [["<s>"], 3]


def test_ptb_corpus_json_matches_kenlm_and_issue_example():
    result = run("--corpus", "ptb", "--json", "--top", 1)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    check_schema(info, 3, 1)
    assert info["tokens"] == 929_589 and info["sentences"] == 42_068 and info["vocab_size"] == 10_002
    assert [info["orders"][str(k)]["distinct"] for k in (1, 2, 3)] == [10_001, 264_990, 586_558]
    assert info["orders"]["1"]["top"] == [[["the"], 50_770]]


def test_default_corpus_is_timemachine_train_split(data_dir):
    result = run("--json", "--order", 2)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    check_schema(info, 2, 20)
    assert info["source"].startswith("timemachine")
    assert (info["corpus"], info["split"], info["files"]) == ("timemachine", "train", [])
    lines = read_sentences(data_dir / "timemachine.txt", TextOptions(normalize="d2l"))
    train = lines[: int(0.8 * len(lines))]
    assert info["tokens"] == sum(len(s) + 1 for s in train)
    assert info["orders"]["2"]["distinct"] == len({g for g in naive_counts(train, 2) if len(g) == 2})


def test_numpy_and_c_paths_print_the_same(small):
    c = run(small, "--order", 4, "--json", env={"NGRAMKIT_IMPL": "c"})
    n = run(small, "--order", 4, "--json", env={"NGRAMKIT_IMPL": "numpy"})
    assert c.exit_code == n.exit_code == 0
    assert json.loads(c.stdout) == json.loads(n.stdout)


def test_human_output_and_text_options(small):
    result = run(small, "--order", 2, "--top", 2, "--normalize", "lower", "--min-count", 2)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "order 1: tokens 16  distinct" in out and "order 2: tokens 13" in out
    assert "singletons" in out and "rel.freq" in out
    # --min-count 2: ran, dog, down -> <unk>
    assert "vocabulary: 7" in out
    assert "0.18750  <s>" in out  # 3 / 16


def test_output_file_is_written_and_loads(small, tmp_path):
    target = tmp_path / "out.ngc"
    result = run(small, "--order", 3, "--output", target)
    assert result.exit_code == 0, result.output
    counts = NGramCounts.load(target)
    assert counts == NGramCounts.from_file(small, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ngc", "small.txt"]


# ---- bad input: one line, non-zero exit, no partial file ------------------------------------------


def test_missing_file(tmp_path):
    assert_one_line_error(run(tmp_path / "nope.txt"), "nope.txt", "no such file")


def test_directory(tmp_path):
    assert_one_line_error(run(tmp_path), "directory")


def test_binary_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 8)
    assert_one_line_error(run(path), "blob.bin", "binary")


def test_undecodable_bytes_and_replace(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    assert_one_line_error(run(path), "latin.txt", "offset 3")
    assert run(path, "--errors", "replace").exit_code == 0
    assert run(path, "--encoding", "latin-1").exit_code == 0


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert_one_line_error(run(path), "empty.txt", "no tokens")
    path.write_text(" \n\t\n")
    assert_one_line_error(run(path), "empty.txt", "no tokens")


@pytest.mark.parametrize("order", ["0", "-1", "100", "13"])
def test_bad_orders(small, order, tmp_path):
    target = tmp_path / "x.ngc"
    assert "Invalid value for '--order'" in error_line(run(small, "--order", order, "--output", target), 2)
    assert not target.exists()


def test_not_an_integer_order(small):
    result = run(small, "--order", "three")
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_unwritable_output_leaves_nothing(small, tmp_path):
    assert_one_line_error(run(small, "--output", tmp_path / "missing" / "c.ngc"), "does not exist")
    assert_one_line_error(run(small, "--output", tmp_path), "directory")
    assert_one_line_error(run(small, "--output", tmp_path / "c.ngk"), ".ngk is the extension of ngramkit model files")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):
            assert_one_line_error(run(small, "--output", locked / "c.ngc"), "not writable")
            assert list(locked.iterdir()) == []
        elif os.path.isdir("/proc/self"):  # root ignores permissions; /proc refuses new files even to root
            assert_one_line_error(run(small, "--output", "/proc/ngramkit-test.ngc"), "cannot write")
            assert not os.path.exists("/proc/ngramkit-test.ngc")
        else:
            pytest.skip("no way to make an unwritable directory here")
    finally:
        locked.chmod(0o700)


def test_failed_count_leaves_no_output(tmp_path):
    target = tmp_path / "c.ngc"
    assert_one_line_error(run(tmp_path / "nope.txt", "--output", target), "no such file")
    assert not target.exists()


def test_files_and_corpus_together(small):
    assert_one_line_error(run(small, "--corpus", "ptb"), "not both")


def test_unknown_corpus():
    result = run("--corpus", "nosuchcorpus")
    assert "Invalid value for '--corpus': unknown corpus 'nosuchcorpus'" in error_line(result, 2)


def test_stdin_and_no_sentences(small):
    text = small.read_text()
    result = CliRunner().invoke(cli, ["count", "-", "--order", "2", "--json"], input=text)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["orders"] == json.loads(run(small, "--order", 2, "--json").stdout)["orders"]
    one = json.loads(run(small, "--order", 2, "--json", "--no-sentences").stdout)
    words = text.split()
    assert one["sentences"] == 1 and one["tokens"] == len(words) + 1
    assert one["orders"]["2"]["distinct"] == len(set(zip(["<s>", *words], [*words, "</s>"])))
