"""Every command x every class of bad input: exit code, one line naming the file/option, nothing left behind.

Each case runs in a fresh output folder holding ``prev.ngk`` and ``prev.ngc`` (a previous
output, which every writing command is pointed at). Checked for each case:
the exit code (1: data/runtime error; 2: usage error, i.e. a bad option value or combination, whether
click, the command or the library checks it), exactly
one message line on stderr (progress lines, see test_signals.PROGRESS, and
click's "Usage:"/"Try ..." lines of a usage error are not messages) that
names the file or option, no traceback, no new file in the output folder
(temporary files included) and ``prev.ngk`` unchanged. In-process with
CliRunner, by subprocess where the case needs a real process (stdout to
/dev/full, environment read at import).

Cases whose fix lies in a command module being restructured elsewhere are
``xfail(strict=True)``: they turn into failures once fixed.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ngramkit.cli.main import cli
from process import NGRAMKIT

PROGRESS = re.compile(r"^(counting: .*|downloading .*|.*\.\.\.|epoch \d+/\d+ .*|RNNLM\(.*)$")
USAGE = re.compile(r"^(Usage: .*|Try '.*' for help\.|)$")
OLD = b"previous output, must survive\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, data_dir):
    d = tmp_path_factory.mktemp("inputs")
    text = (data_dir / "timemachine.txt").read_bytes()[:120_000]
    (d / "good.txt").write_bytes(text)
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.dat").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (d / "undecodable.txt").write_bytes(b"hello \xff\xfe world\n")
    (d / "truncated.txt.gz").write_bytes(gzip.compress(text)[:500])
    corrupt = bytearray(gzip.compress(text))
    corrupt[len(corrupt) // 2] ^= 0xFF
    (d / "corrupt.txt.gz").write_bytes(bytes(corrupt))
    (d / "nul.txt").write_bytes(b"a b\0c d\n")
    (d / "folder").mkdir()
    result = CliRunner().invoke(cli, ["train", "ngram", str(d / "good.txt"), "-q", "-o", str(d / "model.ngk")])
    assert result.exit_code == 0, result.output
    return d


BAD_FILES = {  # class -> (file name, the name the message must contain)
    "missing": ("missing.txt", "missing.txt"),
    "directory": ("folder", "folder"),
    "empty": ("empty.txt", "empty.txt"),
    "binary": ("binary.dat", "binary.dat"),
    "undecodable": ("undecodable.txt", "undecodable.txt"),
    "truncated-gzip": ("truncated.txt.gz", "truncated.txt.gz"),
    "corrupt-gzip": ("corrupt.txt.gz", "corrupt.txt.gz"),
    "nul-bytes": ("nul.txt", "nul.txt"),
}
TEXT_COMMANDS = {  # command -> argv with {bad} for the bad text file
    "count": ["count", "{bad}", "--output", "{out}/prev.ngc"],
    "zipf": ["zipf", "{bad}", "--plot", "{out}/prev.ngk.png"],
    "train-ngram": ["train", "ngram", "{bad}", "-o", "{out}/prev.ngk"],
    "train-rnn": ["train", "rnn", "{bad}", "--valid", "{good}", "--epochs", "1", "--hidden", "8", "-o",
                  "{out}/prev.ngk"],
    "ppl-text": ["ppl", "-m", "{model}", "{bad}"],
    "compare-train": ["compare", "--train", "{bad}", "--valid", "{good}", "--test", "{good}", "--models", "mle:1",
                      "--markdown", "{out}/prev.ngk"],
    "mix-tune": ["mix", "{model}", "{model}", "--tune", "{bad}", "-o", "{out}/prev.ngk"],
}
MODEL_COMMANDS = {
    "ppl-model": ["ppl", "-m", "{bad}", "{good}"],
    "generate-model": ["generate", "-m", "{bad}"],
    "convert-model": ["convert", "{bad}", "{out}/converted.ngk"],
    "prune-model": ["prune", "{bad}", "--threshold", "1e-7", "-o", "{out}/pruned.ngk"],
    "mix-model": ["mix", "{model}", "{bad}", "--weights", "0.5,0.5", "-o", "{out}/prev.ngk"],
}
# click.Path(dir_okay=False) refuses a directory itself: a usage error (2).
USAGE_DIRECTORY = {(c, "directory") for c in ("zipf", "train-ngram", "train-rnn", "ppl-text", "ppl-model",
                                             "generate-model", "convert-model", "prune-model", "mix-tune",
                                             "mix-model")}


def _cases():
    for cmd, argv in {**TEXT_COMMANDS, **MODEL_COMMANDS}.items():
        for kind, (name, needle) in BAD_FILES.items():
            code = 2 if (cmd, kind) in USAGE_DIRECTORY else 1
            yield pytest.param(argv, {"bad": name}, code, needle, id=f"{cmd}-{kind}")


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


# (id, argv, exit code, needle, marks). Exit codes: 2 for a bad option value or combination, wherever it is
# checked (click's types and callbacks, or the library's ParameterError mapped to the option the user typed);
# 1 for data, files and outputs. The needle is the option as the user typed it.
OPTION_CASES = [
    ("count-order-0", ["count", "{good}", "--order", "0"], 2, "--order", ()),
    ("count-order-huge", ["count", "{good}", "--order", "1000"], 2, "--order", ()),
    ("count-top-negative", ["count", "{good}", "--top", "-1"], 2, "--top", ()),
    ("count-output-directory", ["count", "{good}", "--output", "{out}"], 1, "{out}", ()),
    ("count-output-missing-dir", ["count", "{good}", "--output", "{out}/no/such/c.ngc"], 1, "no/such", ()),
    ("count-output-dev-full", ["count", "{good}", "--output", "/dev/full"], 1, "/dev/full", ()),
    ("count-bad-encoding", ["count", "{good}", "--encoding", "no-such-codec"], 2, "--encoding", ()),
    ("count-bad-pattern", ["count", "{good}", "--tokenizer", "regex", "--pattern", "(a"], 2, "--pattern", ()),
    ("zipf-orders-0", ["zipf", "{good}", "--orders", "0"], 2, "--orders", ()),
    ("zipf-ranks-bad", ["zipf", "{good}", "--ranks", "9:3"], 2, "--ranks", ()),
    ("zipf-ranks-with-mle", ["zipf", "{good}", "--method", "mle", "--ranks", "1:9"], 2, "--ranks", ()),
    ("zipf-xmin-0", ["zipf", "{good}", "--method", "mle", "--xmin", "0"], 2, "--xmin", ()),
    ("zipf-plot-bad-suffix", ["zipf", "{good}", "--plot", "{out}/prev.ngk"], 1, "prev.ngk", ()),
    ("train-ngram-order-0", ["train", "ngram", "{good}", "--order", "0", "-o", "{out}/prev.ngk"], 2, "--order", ()),
    ("train-ngram-k-nan", ["train", "ngram", "{good}", "-s", "lidstone", "--k", "nan", "-o", "{out}/prev.ngk"],
     2, "--k", ()),
    ("train-ngram-k-inf", ["train", "ngram", "{good}", "-s", "lidstone", "--k", "inf", "-o", "{out}/prev.ngk"],
     2, "--k", ()),
    ("train-ngram-k-negative", ["train", "ngram", "{good}", "-s", "lidstone", "--k", "-1", "-o",
                                "{out}/prev.ngk"], 2, "--k", ()),  # the library's check (Lidstone)
    ("train-ngram-k-not-applicable", ["train", "ngram", "{good}", "-s", "additive", "--k", "1", "-o",
                                      "{out}/prev.ngk"], 2, "--k", ()),
    ("train-ngram-alpha-inf", ["train", "ngram", "{good}", "-s", "stupid-backoff", "--alpha", "inf", "-o",
                               "{out}/prev.ngk"], 2, "--alpha", ()),
    ("train-ngram-alpha-0", ["train", "ngram", "{good}", "-s", "stupid-backoff", "--alpha", "0", "-o",
                             "{out}/prev.ngk"], 2, "--alpha", ()),  # the library's check (StupidBackoff)
    ("train-ngram-discount-nan", ["train", "ngram", "{good}", "-s", "absolute", "--discount", "nan", "-o",
                                  "{out}/prev.ngk"], 2, "--discount", ()),
    ("train-ngram-discount-2", ["train", "ngram", "{good}", "-s", "absolute", "--discount", "2", "-o",
                                "{out}/prev.ngk"], 2, "--discount", ()),  # the library's check (range [0, 1])
    ("train-ngram-mkn-discount-d3", ["train", "ngram", "{good}", "-s", "mkn", "--discount", "0.5,1,9", "-o",
                                     "{out}/prev.ngk"], 2, "--discount", ()),  # library name: discounts
    ("train-ngram-epsilons-negative", ["train", "ngram", "{good}", "-s", "additive", "--epsilons", "-1", "-o",
                                       "{out}/prev.ngk"], 2, "--epsilons", ()),
    ("train-ngram-arpa-without-backoff-form", ["train", "ngram", "{good}", "-s", "laplace", "-o",
                                               "{out}/prev.arpa"], 2, "--smoothing", ()),
    ("train-ngram-output-dev-full", ["train", "ngram", "{good}", "-o", "/dev/full"], 1, "/dev/full", ()),
    ("train-ngram-corpus-bogus", ["train", "ngram", "--corpus", "bogus", "-o", "{out}/prev.ngk"], 2, "--corpus", ()),
    ("train-rnn-seed-negative", ["train", "rnn", "{good}", "--valid", "{good}", "--seed", "-1", "--epochs", "1",
                                 "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--seed", ()),
    ("train-rnn-init-scale-inf", ["train", "rnn", "{good}", "--valid", "{good}", "--init-scale", "inf",
                                  "--epochs", "1", "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--init-scale", ()),
    ("train-rnn-clip-nan", ["train", "rnn", "{good}", "--valid", "{good}", "--clip", "nan", "--epochs", "1",
                            "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--clip", ()),
    ("train-rnn-lr-nan", ["train", "rnn", "{good}", "--valid", "{good}", "--lr", "nan", "--epochs", "1",
                          "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--lr", ()),
    ("train-rnn-lr-inf", ["train", "rnn", "{good}", "--valid", "{good}", "--lr", "inf", "--epochs", "1",
                          "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--lr", ()),
    ("train-rnn-lr-decay-nan", ["train", "rnn", "{good}", "--valid", "{good}", "--lr-decay", "nan", "--epochs",
                                "1", "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--lr-decay", ()),
    ("train-rnn-min-improvement-inf", ["train", "rnn", "{good}", "--valid", "{good}", "--min-improvement", "inf",
                                       "--epochs", "1", "--hidden", "8", "-o", "{out}/prev.ngk"], 2,
     "--min-improvement", ()),
    ("train-rnn-dropout-nan", ["train", "rnn", "{good}", "--valid", "{good}", "--dropout", "nan", "--epochs", "1",
                               "--hidden", "8", "-o", "{out}/prev.ngk"], 2, "--dropout", ()),
    ("train-rnn-hidden-0", ["train", "rnn", "{good}", "--valid", "{good}", "--hidden", "0", "-o",
                            "{out}/prev.ngk"], 2, "--hidden", ()),
    ("train-rnn-tie-weights-embed", ["train", "rnn", "{good}", "--valid", "{good}", "--tie-weights", "--embed",
                                     "4", "--hidden", "8", "--epochs", "1", "-o", "{out}/prev.ngk"], 2,
     "--tie-weights", ()),  # the library's check (RNNConfig)
    ("train-rnn-peephole-gru", ["train", "rnn", "{good}", "--valid", "{good}", "--cell", "gru", "--peephole",
                                "--hidden", "8", "--epochs", "1", "-o", "{out}/prev.ngk"], 2, "--peephole", ()),
    ("ppl-split-bogus", ["ppl", "-m", "{model}", "--corpus", "timemachine", "--split", "bogus"], 2, "--split", ()),
    ("ppl-corpus-bogus", ["ppl", "-m", "{model}", "--corpus", "bogus"], 2, "--corpus", ()),
    ("ppl-bad-encoding", ["ppl", "-m", "{model}", "{good}", "--encoding", "no-such-codec"], 2, "--encoding", ()),
    ("generate-seed-negative", ["generate", "-m", "{model}", "--seed", "-1"], 2, "--seed", ()),
    ("generate-words-negative", ["generate", "-m", "{model}", "-n", "-1"], 2, "--words", ()),
    ("generate-words-json-huge", ["generate", "-m", "{model}", "-n", "1000000000000", "--json"], 2, "--words", ()),
    ("generate-temperature-nan", ["generate", "-m", "{model}", "--temperature", "nan"], 2, "--temperature", ()),
    ("generate-temperature-inf", ["generate", "-m", "{model}", "--temperature", "inf"], 2, "--temperature", ()),
    ("generate-temperature-0", ["generate", "-m", "{model}", "--temperature", "0"], 2, "--temperature", ()),
    ("generate-top-k-0", ["generate", "-m", "{model}", "--top-k", "0"], 2, "--top-k", ()),
    ("compare-models-bogus", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                              "--models", "bogus"], 2, "--models", ()),
    ("compare-markdown-missing-dir", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                                      "--models", "mle:1", "--markdown", "{out}/no/r.md"], 1, "no/r.md", ()),
    ("compare-rnn-lr-nan", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                            "--models", "mle:1,rnn", "--rnn-lr", "nan"], 2, "--rnn-lr", ()),
    ("compare-rnn-lr-negative", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                                 "--models", "mle:1,rnn", "--rnn-lr", "-1"], 2, "--rnn-lr", ()),  # TrainConfig's lr
    ("compare-rnn-dropout-1", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                               "--models", "mle:1,rnn", "--rnn-dropout", "1"], 2, "--rnn-dropout", ()),
    ("compare-rnn-hidden-0", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                              "--models", "mle:1,rnn", "--rnn-hidden", "0"], 2, "--rnn-hidden", ()),
    ("compare-seed-negative", ["compare", "--train", "{good}", "--valid", "{good}", "--test", "{good}",
                               "--models", "mle:1", "--seed", "-1"], 2, "--seed", ()),
    ("compare-corpus-bogus", ["compare", "--corpus", "bogus"], 2, "--corpus", ()),
    ("corpus-path-bogus", ["corpus", "path", "bogus"], 2, "bogus", ()),
    ("corpus-download-bogus", ["corpus", "download", "bogus"], 2, "bogus", ()),
    ("count-corpus-bogus", ["count", "--corpus", "bogus"], 2, "--corpus", ()),
    ("prune-threshold-negative", ["prune", "{model}", "--threshold", "-1e-7", "-o", "{out}/pruned.ngk"], 2,
     "--threshold", ()),
    ("mix-max-iter-0", ["mix", "{model}", "{model}", "--tune", "{good}", "--max-iter", "0", "-o", "{out}/prev.ngk"],
     2, "--max-iter", ()),
    ("mix-weights-sum", ["mix", "{model}", "{model}", "--weights", "0.5,0.6", "-o", "{out}/prev.ngk"], 2,
     "--weights", ()),
]

# The exit-code rule over every command: (a bad option value click rejects while parsing, one the command or
# the library rejects after parsing, a data error): 2, 2, 1. A library check raises ngramkit.errors.ParameterError
# with its own name for the value (k, dropout), which the command reports under the option the user typed
# (--k, --rnn-dropout). None: the command has no such case (every option of ppl, generate and count is checked
# by click; corpus's data errors are in tests/cli/test_corpus_cli.py).
EXIT_CODE_TABLE = {
    "count": ("count-order-0", None, "count-missing"),
    "zipf": ("zipf-xmin-0", "zipf-orders-0", "zipf-corrupt-gzip"),
    "train ngram": ("train-ngram-order-0", "train-ngram-k-negative", "train-ngram-missing"),
    "train rnn": ("train-rnn-hidden-0", "train-rnn-tie-weights-embed", "train-rnn-truncated-gzip"),
    "ppl": ("ppl-split-bogus", None, "ppl-model-binary"),
    "generate": ("generate-top-k-0", None, "generate-model-missing"),
    "convert": (None, None, "convert-model-missing"),
    "prune": ("prune-threshold-negative", None, "prune-model-missing"),
    "mix": ("mix-max-iter-0", "mix-weights-sum", "mix-model-missing"),
    "compare": ("compare-rnn-hidden-0", "compare-rnn-dropout-1", "compare-train-missing"),
    "corpus list": (None, None, None),
    "corpus path": ("corpus-path-bogus", None, None),
    "corpus download": ("corpus-download-bogus", None, None),
}


def _fill(argv, inputs, out, bad=None):
    values = {"good": str(inputs / "good.txt"), "model": str(inputs / "model.ngk"), "out": str(out),
              "bad": str(inputs / bad) if bad else ""}
    return [a.format(**values) for a in argv]


def check(exit_code, stderr, code, needle, out, before):
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, stderr
    messages = [ln for ln in lines if not PROGRESS.match(ln) and not USAGE.match(ln)]
    assert len(messages) == 1, lines
    assert messages[0].startswith("Error: ") and needle in messages[0], messages
    assert exit_code == code, (exit_code, lines)
    assert sorted(p.name for p in out.iterdir()) == before, "a new (or temporary) file was left"
    assert (out / "prev.ngk").read_bytes() == OLD
    assert (out / "prev.ngc").read_bytes() == OLD


def run_in_process(argv, env=None):
    result = CliRunner().invoke(cli, argv, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an uncaught exception is a traceback for the user
    return result.exit_code, result.stderr


@pytest.fixture
def out(tmp_path):
    (tmp_path / "prev.ngk").write_bytes(OLD)  # a previous model
    (tmp_path / "prev.ngc").write_bytes(OLD)  # a previous counts file
    return tmp_path


@pytest.mark.parametrize("argv, names, code, needle", list(_cases()))
def test_bad_input_files(argv, names, code, needle, inputs, out):
    before = sorted(p.name for p in out.iterdir())
    rc, stderr = run_in_process(_fill(argv, inputs, out, names["bad"]))
    check(rc, stderr, code, needle, out, before)


@pytest.mark.parametrize("argv, code, needle", [pytest.param(a, c, n, id=i, marks=m)
                                                for i, a, c, n, m in OPTION_CASES])
def test_bad_options_and_outputs(argv, code, needle, inputs, out):
    before = sorted(p.name for p in out.iterdir())
    rc, stderr = run_in_process(_fill(argv, inputs, out))
    check(rc, stderr, code, needle.format(out=out), out, before)


def _leaf_commands(group, prefix=""):
    """Every leaf command, through list_commands/get_command: the groups load their commands lazily."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix}{name} ")
        else:
            yield prefix + name


def test_exit_code_table_covers_every_command():
    """Every command is in EXIT_CODE_TABLE, and its cases (run above) expect 2, 2 and 1."""
    assert sorted(_leaf_commands(cli)) == sorted(EXIT_CODE_TABLE)
    codes = {case_id: code for case_id, _, code, _, _ in OPTION_CASES}
    codes.update({p.id: p.values[2] for p in _cases()})
    for command, ids in EXIT_CODE_TABLE.items():
        for case_id, expected in zip(ids, (2, 2, 1)):
            assert case_id is None or codes[case_id] == expected, (command, case_id)


def test_huge_line_is_counted(inputs, out, tmp_path_factory):
    """One 10 MB line of 2 million words: valid input, counted exactly (the oracle: 2,000,000 + one </s>)."""
    huge = tmp_path_factory.mktemp("huge") / "huge.txt"
    huge.write_bytes(b"word " * 2_000_000)
    result = CliRunner().invoke(cli, ["count", str(huge), "--top", "1", "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.stderr
    assert '"tokens": 2000001' in result.output.replace(" ", "").replace('":', '": ')


def test_unwritable_output_folder(inputs, out):
    if os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    before = sorted(p.name for p in out.iterdir())
    out.chmod(0o555)
    try:
        rc, stderr = run_in_process(_fill(["count", "{good}", "--output", "{out}/c.ngc"], inputs, out))
    finally:
        out.chmod(0o755)
    check(rc, stderr, 1, "not writable", out, before)


SUBPROCESS_CASES = [
    ("count-stdout-dev-full", ["count", "{good}"], None, 1, "standard output", ()),
    ("generate-stdout-dev-full", ["generate", "-m", "{model}", "-n", "5"], None, 1, "standard output", ()),
    ("ppl-json-stdout-dev-full", ["ppl", "-m", "{model}", "{good}", "--json", "-q"], None, 1, "standard output", ()),
    ("count-impl-bogus", ["count", "{good}"], "bogus", 1, "NGRAMKIT_IMPL", ()),
    ("ppl-impl-bogus", ["ppl", "-m", "{model}", "{good}", "-q"], "bogus", 1, "NGRAMKIT_IMPL", ()),
    ("train-rnn-impl-bogus", ["train", "rnn", "{good}", "--valid", "{good}", "--epochs", "1", "--hidden", "8",
                              "-q", "-o", "{out}/prev.ngk"], "bogus", 1, "NGRAMKIT_IMPL", ()),
]


@pytest.mark.parametrize("argv, impl, code, needle", [pytest.param(a, e, c, n, id=i, marks=m)
                                                      for i, a, e, c, n, m in SUBPROCESS_CASES])
def test_real_process_cases(argv, impl, code, needle, inputs, out):
    before = sorted(p.name for p in out.iterdir())
    env = dict(os.environ)
    if impl is not None:
        env["NGRAMKIT_IMPL"] = impl
    stdout = open("/dev/full", "w") if impl is None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.run([*NGRAMKIT, *_fill(argv, inputs, out)],
                              stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=300)
    finally:
        if stdout is not subprocess.DEVNULL:
            stdout.close()
    check(proc.returncode, proc.stderr.decode("utf-8", "replace"), code, needle, out, before)
