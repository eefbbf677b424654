"""`ngramkit zipf` through click's CliRunner: table, JSON, figures, one-line errors."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from ngramkit import NGramCounts, TextOptions, read_sentences
from ngramkit.cli.zipf import zipf
from ngramkit.zipf import NotFittable, fit_zipf
from clierrors import error_line


@pytest.fixture(scope="module")
def tm_counts(timemachine_path):
    return NGramCounts.from_sentences(read_sentences([timemachine_path], TextOptions(normalize="d2l")), 3)


def run(*args):
    return CliRunner().invoke(zipf, [str(a) for a in args], prog_name="ngramkit zipf")


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_schema_and_values_match_library(timemachine_path, tm_counts):
    out = run_json(timemachine_path, "--normalize", "d2l", "--method", "both")
    assert out["source"] == str(timemachine_path) and out["files"] == [str(timemachine_path)]
    assert out["corpus"] is None and out["split"] is None
    assert out["words"] == 32775 and out["tokens"] == 32775 + out["sentences"] and out["exclude_boundaries"] is True
    assert [(f["order"], f["method"]) for f in out["fits"]] == [
        (1, "ols"), (1, "mle"), (2, "ols"), (2, "mle"), (3, "ols"), (3, "mle")]
    for f in out["fits"]:
        assert {"order", "method", "alpha", "c", "r2", "rank_min", "rank_max"} <= f.keys()
        lib = fit_zipf(tm_counts, f["order"], f["method"])
        assert f["alpha"] == pytest.approx(lib.alpha, rel=1e-12) and f["c"] == pytest.approx(lib.c, rel=1e-12)
        assert (f["rank_min"], f["rank_max"], f["distinct"]) == (lib.rank_min, lib.rank_max, lib.distinct)
        if f["method"] == "ols":
            assert f["r2"] == pytest.approx(lib.r2) and f["ks"] is None
        else:
            assert f["r2"] is None and f["ks"] == pytest.approx(lib.ks) and f["xmin"] == lib.xmin
    assert "heaps" not in out and "plot_file" not in out


def test_table(timemachine_path, tm_counts):
    result = run(timemachine_path, "--normalize", "d2l", "--orders", "1,3", "--method", "mle")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "32,775 words" in lines[0] and "excluded" in lines[0]
    assert lines[1].split()[:9] == ["order", "method", "alpha", "se", "a_freq", "c", "fit", "window", "(ranks)"]
    rows = [line.split() for line in lines[3:5]]
    for row, k in zip(rows, (1, 3)):
        lib = fit_zipf(tm_counts, k, "mle")
        assert row[0] == str(k) and row[1] == "mle"
        assert float(row[2]) == pytest.approx(lib.alpha, abs=1e-4)
        assert float(row[3]) == pytest.approx(lib.alpha_se, abs=1e-4)
        assert row[6] == f"KS={lib.ks:.4f}" and row[7] == f"1:{lib.rank_max}" and row[8] == str(lib.xmin)
        assert row[-1] == f"{lib.distinct:,}"
    assert "rank exponent" in result.stdout


def test_default_corpus_is_timemachine_whole_text(tm_counts):
    out = run_json("--orders", "1-2")
    assert out["corpus"] == "timemachine" and out["split"] == "all" and out["source"] == "timemachine (all)"
    assert [f["alpha"] for f in out["fits"]] == pytest.approx([fit_zipf(tm_counts, k).alpha for k in (1, 2)])


def test_registry_corpus_split(ptb_dir):
    out = run_json("--corpus", "ptb", "--split", "train", "--orders", "1", "--method", "mle")
    counts = NGramCounts.from_sentences(read_sentences([ptb_dir / "ptb.train.txt"]), 1)
    lib = fit_zipf(counts, 1, "mle")
    (f,) = out["fits"]
    assert out["words"] == 887521 and out["sentences"] == 42068
    assert f["distinct"] == 9999 and f["xmin"] == lib.xmin and f["alpha"] == pytest.approx(lib.alpha)


def test_rank_window_and_boundaries(timemachine_path, tm_counts):
    out = run_json(timemachine_path, "--normalize", "d2l", "--orders", "1,2", "--ranks", "5:")
    assert [(f["rank_min"], f["rank_max"]) for f in out["fits"]] == [(5, 4579), (5, 18544)]
    out = run_json(timemachine_path, "--normalize", "d2l", "--orders", "1", "--ranks", "20:300", "--boundaries")
    (f,) = out["fits"]
    lib = fit_zipf(tm_counts, 1, rank_min=20, rank_max=300, exclude_boundaries=False)
    assert (f["rank_min"], f["rank_max"], f["distinct"]) == (20, 300, 4581)
    assert f["alpha"] == pytest.approx(lib.alpha) and out["exclude_boundaries"] is False


def test_plot_and_heaps_files(timemachine_path, tmp_path):
    plot, heaps = tmp_path / "zipf.png", tmp_path / "heaps.svg"
    result = run(timemachine_path, "--normalize", "d2l", "--orders", "1,2", "--plot", plot, "--heaps", heaps)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and plot.stat().st_size > 10_000
    assert b"<svg" in heaps.read_bytes()[:2000]
    assert f"Zipf plot written to {plot}" in result.stderr and f"Heaps plot written to {heaps}" in result.stderr
    assert "written" not in result.stdout  # stdout: the result only
    assert "Heaps: V(N) =" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["heaps.svg", "zipf.png"]
    out = run_json(timemachine_path, "--normalize", "d2l", "--orders", "1", "--heaps", heaps)
    assert out["heaps_plot_file"] == str(heaps) and 0.5 < out["heaps"]["beta"] < 0.9 and out["heaps"]["types"] == 4579


USAGE_COMBINATIONS = {"a rank window (CLI: --ranks) sets the OLS window", "xmin (CLI: --xmin) applies to method mle or both",
                      "give two different files"}


@pytest.mark.parametrize("args,message", [
    (["--orders", "0"], "Invalid value for '--orders': order 0 is out of range"),
    (["--orders", "13"], "Invalid value for '--orders': order 13 is out of range"),
    (["--orders", "one"], "Invalid value for '--orders': expected comma-separated orders"),
    (["--ranks", "100:10"], "Invalid value for '--ranks': need 1 <= LO <= HI"),
    (["--ranks", "ten"], "Invalid value for '--ranks': expected LO:HI"),
    (["--ranks", "10:99999"], "rank window 10:99999 is outside the data (ranks 1..4579)"),
    (["--method", "mle", "--ranks", "10:100"], "a rank window (CLI: --ranks) sets the OLS window"),
    (["--method", "ols", "--xmin", "3"], "xmin (CLI: --xmin) applies to method mle or both"),
    (["--method", "mle", "--xmin", "5000"], "choose a smaller xmin"),
    (["--orders", "9"], "need at least 5 to fit"),
    (["--plot", "{tmp}/zipf.jpg"], "unknown figure format ('.jpg')"),
    (["--heaps", "{tmp}/heaps"], "unknown figure format (no extension)"),
    (["--plot", "{tmp}/missing/zipf.png"], "does not exist"),
    (["--plot", "{tmp}/same.png", "--heaps", "{tmp}/same.png"], "give two different files"),
])
def test_bad_options_give_one_line_errors_and_no_files(timemachine_path, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # A valid --plot next to the bad option must not be written either.
    extra = [] if "--plot" in args else ["--plot", tmp_path / "ok.png"]
    result = run(timemachine_path, "--normalize", "d2l", *extra, *args)
    # Usage errors (exit 2): bad option values and combinations; the rest depend on the data or files (1).
    usage = message.startswith("Invalid value") or message in USAGE_COMBINATIONS
    assert message in error_line(result, 2 if usage else 1)
    assert result.stdout == ""
    assert os.listdir(tmp_path) == []  # neither the figure nor a temporary file


def test_bad_inputs(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a b c\n")
    result = run(tiny)
    assert result.exit_code == 1 and "only 3 distinct n-grams" in result.stderr
    result = run(tmp_path / "nope.txt")
    assert result.exit_code != 0 and "nope.txt" in result.stderr and "Traceback" not in result.output
    result = run(tiny, "--corpus", "ptb")
    assert result.exit_code == 1 and "not both" in result.stderr


@pytest.fixture
def small_text(reference_dir, tmp_path):
    """The first 20 sentences of timemachine.d2l.txt (205 words): 2- and 3-grams too sparse for some fits."""
    lines = [line for line in (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf-8").splitlines()
             if line.split()][:20]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [line.split() for line in lines]


def test_small_text_fits_what_it_can_and_warns_about_the_rest(small_text):
    path, sentences = small_text
    counts = NGramCounts.from_sentences(sentences, 3)
    result = run(path, "--method", "both")
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3 and all(w.startswith(f"warning: {path}: order ") for w in warnings)
    for line, (k, m) in zip(warnings, [(2, "ols"), (3, "ols"), (3, "mle")]):
        with pytest.raises(NotFittable) as err:
            fit_zipf(counts, k, m)
        assert line == f"warning: {path}: order {k} ({m}) not fitted: {err.value.reason}"
    rows = [line.split()[:2] for line in result.stdout.splitlines()[3:] if line[:5].strip().isdigit()]
    assert rows == [["1", "ols"], ["1", "mle"], ["2", "mle"]]
    out = run_json(path, "--method", "both")
    assert [(f["order"], f["method"], f["reason"] is None) for f in out["fits"]] == [
        (1, "ols", True), (1, "mle", True), (2, "ols", False), (2, "mle", True), (3, "ols", False),
        (3, "mle", False)]
    for f in out["fits"]:
        assert f.keys() == out["fits"][0].keys()
        if f["reason"] is None:
            assert f["alpha"] == pytest.approx(fit_zipf(counts, f["order"], f["method"]).alpha, rel=1e-12)
        else:
            assert f["alpha"] is None and f["c"] is None and f["rank_min"] is None
            k = f["order"]
            inner = {tuple(s[i:i + k]) for s in sentences for i in range(len(s) - k + 1)}  # no <s>/</s>
            assert f["distinct"] == len(inner)
            assert f"not fitted: {f['reason']}" in result.stderr
    json.dumps(out, allow_nan=False)  # strict JSON: null, never NaN


def test_a_figure_of_a_small_text_draws_the_fitted_orders(small_text, tmp_path):
    plot = tmp_path / "zipf.png"
    result = run(small_text[0], "--plot", plot)
    assert result.exit_code == 0, result.output
    assert plot.stat().st_size > 0
    assert result.stderr.count("warning: ") == 2  # orders 2 and 3 (ols)


def test_nothing_fittable_is_one_error_line(small_text, tmp_path):
    plot = tmp_path / "zipf.png"
    result = run(small_text[0], "--orders", "2,3", "--plot", plot)
    assert result.exit_code == 1 and result.stdout == "" and not plot.exists()
    err = result.stderr.strip()
    assert err.startswith(f"Error: {small_text[0]}: nothing to fit: order 2 (ols): rank window 10:5 holds 0")
    assert err.endswith("; order 3 (ols) could not be fitted either") and "\n" not in err


def test_registered_in_the_command_group(timemachine_path):
    from ngramkit.cli.main import cli

    runner = CliRunner()
    assert "zipf" in runner.invoke(cli, ["--help"]).stdout
    result = runner.invoke(cli, ["zipf", str(timemachine_path), "--normalize", "d2l", "--orders", "1", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["fits"][0]["order"] == 1
    result = runner.invoke(cli, ["zipf", "--orders", "0"])
    assert "'--orders'" in error_line(result, 2)
