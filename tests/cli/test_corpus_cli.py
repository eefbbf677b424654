"""`ngramkit corpus list|path|download` through click's CliRunner."""

from __future__ import annotations

import http.server
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ngramkit.cli.main import cli
from oracles import http_server
from clierrors import error_line


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves ../shared/corpora; anything else is a 404."""

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror(data_dir):
    handler = lambda *a, **kw: _Files(*a, directory=str(data_dir), **kw)  # noqa: E731
    with http_server(handler) as (_, base):
        yield base


def run(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def assert_one_line_error(result, fragment):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_help_lists_subcommands_with_summaries():
    result = run("corpus", "--help")
    assert result.exit_code == 0
    for name, summary in (("list", "List the registry"), ("path", "Print the local paths"),
                          ("download", "Download a corpus and verify")):
        assert any(line.split()[:1] == [name] and summary in line for line in result.output.splitlines())
    assert "ngramkit corpus download ptb" in result.output  # epilog example
    assert "ngramkit corpus download timemachine" in run("corpus", "download", "--help").output
    top = run("--help").output
    assert any(line.split()[:1] == ["corpus"] for line in top.splitlines())


def test_list_table(data_dir):
    result = run("corpus", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "files", "size", "downloaded", "licence"]
    ptb = next(line for line in lines if line.startswith("ptb "))
    tm = next(line for line in lines if line.startswith("timemachine"))
    assert ptb.split()[1:5] == ["3", "6.0", "MB", "yes"]
    assert tm.split()[:6] == ["timemachine", "(default)", "1", "179.0", "kB", "yes"]
    assert "public domain" in tm
    assert f"data directory: {data_dir}" in result.output
    assert "packaged" not in result.output  # the shared copies are in the data directory


def test_list_json(data_dir):
    result = run("corpus", "list", "--json")
    data = json.loads(result.output)
    assert data["data_dir"] == str(data_dir)
    rows = {r["name"]: r for r in data["corpora"]}
    assert set(rows) == {"ptb", "timemachine"}
    assert rows["ptb"]["files"] == ["ptb/ptb.train.txt", "ptb/ptb.valid.txt", "ptb/ptb.test.txt"]
    assert rows["ptb"]["size_bytes"] == 5_101_618 + 399_782 + 449_945
    assert rows["timemachine"]["default"] is True and rows["timemachine"]["text_options"]["normalize"] == "d2l"
    assert all(r["downloaded"] == "yes" for r in rows.values())


def test_list_marks_missing_and_packaged_corpora(empty_cache):
    rows = {r["name"]: r for r in json.loads(run("corpus", "list", "--json").output)["corpora"]}
    assert rows["ptb"]["downloaded"] == "no" and rows["ptb"]["packaged"] is False
    assert rows["timemachine"]["downloaded"] == "packaged" and rows["timemachine"]["packaged"] is True
    lines = run("corpus", "list").output.splitlines()
    assert next(line for line in lines if line.startswith("timemachine")).split()[5] == "packaged"
    assert next(line for line in lines if line.startswith("ptb")).split()[4] == "no"
    assert any(line.startswith("packaged: read from the gzip copy shipped inside ngramkit") for line in lines)


def test_path(data_dir):
    result = run("corpus", "path", "ptb")
    assert result.exit_code == 0
    assert result.output.splitlines() == [str(data_dir / "ptb" / f"ptb.{s}.txt") for s in ("train", "valid", "test")]
    assert run("corpus", "path", "timemachine").output == f"{data_dir / 'timemachine.txt'}\n"
    assert run("corpus", "path", "ptb", "--file", "ptb.test.txt").output == f"{data_dir / 'ptb' / 'ptb.test.txt'}\n"


def test_path_of_packaged_copy(empty_cache, data_dir):
    import gzip

    result = run("corpus", "path", "timemachine")
    assert result.exit_code == 0
    p = Path(result.stdout.strip())
    assert p.name == "timemachine.txt.gz" and p.parent != empty_cache
    assert gzip.decompress(p.read_bytes()) == (data_dir / "timemachine.txt").read_bytes()
    assert result.stderr.startswith("packaged: the gzip copy shipped inside ngramkit (not in ")
    assert "`ngramkit corpus download timemachine`" in result.stderr and len(result.stderr.splitlines()) == 1
    assert run("corpus", "path", "timemachine", "--file", "timemachine.txt").stdout == result.stdout
    assert run("corpus", "path", "ptb").stderr.count("\n") == 1  # the missing-corpus error, no note


def test_path_errors(empty_cache):
    assert_one_line_error(run("corpus", "path", "ptb"), "`ngramkit corpus download ptb`")
    assert "unknown corpus 'nope'" in error_line(run("corpus", "path", "nope"), 2)


def test_download(mirror, empty_cache, data_dir):
    result = run("corpus", "download", "timemachine", "--base-url", mirror)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{empty_cache / 'timemachine.txt'}\n"
    assert "downloading timemachine" in result.stderr  # progress bar on stderr, not stdout
    assert (empty_cache / "timemachine.txt").read_bytes() == (data_dir / "timemachine.txt").read_bytes()
    # Again: already there, verified, printed.
    again = run("corpus", "download", "timemachine", "--quiet", "--base-url", "http://127.0.0.1:9")
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_download_from_mirror_env(mirror, empty_cache, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_MIRROR", mirror)
    result = run("corpus", "download", "ptb", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    assert [Path(p).name for p in result.stdout.split()] == ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"]
    assert "yes" in next(line for line in run("corpus", "list").output.splitlines() if line.startswith("ptb"))


def test_download_errors(mirror, empty_cache):
    result = run("corpus", "download", "timemachine", "--base-url", mirror + "/nowhere")
    assert_one_line_error(result, "HTTP 404")
    assert not empty_cache.exists() or list(empty_cache.rglob("*")) == []
    assert "unknown corpus 'wiki'" in error_line(run("corpus", "download", "wiki"), 2)
