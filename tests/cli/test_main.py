"""The command group: --version, --help listing every command with a whole one-line summary."""

import re
import subprocess
import sys

from click.testing import CliRunner

import ngramkit
from ngramkit.cli.main import cli

COMMANDS = {"compare", "convert", "corpus", "count", "generate", "mix", "ppl", "prune", "train", "zipf"}


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ngramkit, version {ngramkit.__version__}"


def test_help_lists_every_command_with_a_whole_summary():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = dict(re.findall(r"^  (\w+)\s{2,}(.+)$", result.output.split("Commands:")[1], re.M))
    assert set(listed) == COMMANDS
    for name, summary in listed.items():
        assert not summary.endswith("..."), f"{name}: truncated summary {summary!r}"


def test_console_script_runs_without_traceback(tmp_path):
    # The installed entry point: an unknown option is a one-line usage error, exit 2.
    proc = subprocess.run([sys.executable, "-m", "ngramkit.cli.main", "count", "--no-such-option"],
                          capture_output=True, text=True, cwd=tmp_path)  # the installed package
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "No such option" in proc.stderr
