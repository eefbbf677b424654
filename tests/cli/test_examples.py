"""Every example we show people runs: each `--help` epilog line and each README command.

The examples are read from the live click commands and from README.md (never
copied here), so an example added or changed there is tested without editing
this file. They run in-process through click's CliRunner, in one scratch folder
per source and in the order they appear, so an example that uses a file written
by an earlier one (``ppl --model ptb.o5.ngk``) gets it.

Speed: PTB is replaced by its first lines (400 train lines: the fewest for which order-5 modified Kneser-Ney has defined discounts) (the registry entry is pointed at the
reduced files' sizes and digests), so the PTB-sized RNN presets run their full
recipe on a few thousand tokens. Everything else (options, files, orders) is
exactly as written. User files an example names (``book.txt``, ``a.txt`` ...)
are slices of The Time Machine. Nothing is downloaded: the mirror points at a
closed local port, so a download attempt fails the example instead of reaching
the network.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import shlex
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ngramkit import corpora
from ngramkit.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
PTB_LINES = {"ptb.train.txt": 400, "ptb.valid.txt": 40, "ptb.test.txt": 40}


def _command_lines(text: str) -> list[str]:
    """The ``ngramkit ...`` commands in a block of shell text, comments stripped, `&&` chains split."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("ngramkit ") or part == "ngramkit":
                out.append(part)
    return out


def epilog_examples() -> list[str]:
    def walk(cmd):  # through list_commands/get_command: the group loads its commands lazily
        yield cmd
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name))

    lines = [line for cmd in walk(cli) for line in _command_lines(cmd.epilog or "")]
    # Examples that make files (models, counts) run before the ones that read them, whatever the walk's order.
    makes = ("ngramkit corpus", "ngramkit count", "ngramkit train")
    return sorted(lines, key=lambda line: not line.startswith(makes))


def readme_blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def readme_examples() -> list[str]:
    return [line for block in readme_blocks("bash") for line in _command_lines(block)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, data_dir):
    """A data folder with The Time Machine and a reduced PTB, plus the user files examples name."""
    root = tmp_path_factory.mktemp("examples")
    data = root / "data"
    (data / "ptb").mkdir(parents=True)
    (data / "timemachine.txt").write_bytes((data_dir / "timemachine.txt").read_bytes())
    for name, n in PTB_LINES.items():
        lines = (data_dir / "ptb" / name).read_bytes().splitlines(keepends=True)[:n]
        (data / "ptb" / name).write_bytes(b"".join(lines))
    tm = (data_dir / "timemachine.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    book = "".join(tm[:600])
    return root, data, {
        "book.txt": book, "tiny.txt": "".join(tm[100:140]), "held-out.txt": "".join(tm[600:700]),
        "chapter12.txt": "".join(tm[700:800]),
        "words.txt": "the time traveller machine and of a to i in was\n",  # a --limit-vocab word list
        "a.txt": "".join(tm[:500]), "b.txt": "".join(tm[500:600]), "c.txt": "".join(tm[600:700]),
        "big.txt.gz": gzip.compress("".join(tm).encode("utf-8")),
    }


@pytest.fixture
def env(workspace, monkeypatch):
    root, data, files = workspace
    monkeypatch.setenv("NGRAMKIT_DATA", str(data))
    monkeypatch.setenv("NGRAMKIT_MIRROR", "http://127.0.0.1:9")  # closed port: no download reaches out
    monkeypatch.setenv("MPLBACKEND", "Agg")
    registry = corpora._registry()
    ptb = registry["ptb"]
    reduced = {}
    for rel, f in ptb.files.items():
        body = (data / rel).read_bytes()
        reduced[rel] = dataclasses.replace(f, sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    monkeypatch.setitem(registry, "ptb", dataclasses.replace(ptb, files=reduced))
    return root, files


def _prepare(folder: Path, files: dict) -> Path:
    """``folder`` holding the user files the examples name."""
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        target = folder / name
        if not target.exists():
            target.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return folder


def _run_all(commands: list[str], folder: Path, files: dict, setup: list[str] = ()) -> list[str]:
    _prepare(folder, files)
    runner = CliRunner()
    failures = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        for line in list(setup) + commands:
            args = shlex.split(line)[1:]
            start = time.process_time()
            result = runner.invoke(cli, args, catch_exceptions=True)
            print(f"{time.process_time() - start:6.2f} s CPU  {line}")  # shown with -s or on failure
            if result.exit_code != 0:
                tail = (result.output or "").strip().splitlines()[-3:]
                failures.append(f"{line!r} exited {result.exit_code}: {' | '.join(tail)} {result.exception!r}")
    return failures


def test_every_help_example_runs(env):
    root, files = env
    commands = epilog_examples()
    assert len(commands) >= 15, commands  # the walk found the epilogs
    # `generate --model tm.ngk` names a model no epilog trains: make it the way the README says.
    setup = ["ngramkit train ngram --order 3 --smoothing mkn -o tm.ngk"]
    failures = _run_all(commands, root / "help", files, setup)
    assert not failures, "\n".join(failures)


def test_every_readme_command_runs(env):
    root, files = env
    commands = readme_examples()
    assert len(commands) >= 20, commands
    failures = _run_all(commands, root / "readme", files)
    assert not failures, "\n".join(failures)


def test_readme_library_example_runs(env, capsys):
    root, files = env
    blocks = readme_blocks("python")
    assert blocks
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(_prepare(root / "library", files))
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert printed.strip(), "the README's library example printed nothing"


def test_command_lines_parser():
    text = "  ngramkit a --x 1   # comment\nfoo && ngramkit b 'c d' && ngramkit c\n  pip install .\n"
    assert _command_lines(text) == ["ngramkit a --x 1", "ngramkit b 'c d'", "ngramkit c"]
