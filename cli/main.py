"""The ``ngramkit`` command group: each command lives in its own module.

Signals: while the program starts (imports, option parsing) nothing has been
written, so SIGINT/SIGTERM print one line and exit at once (130/143). While a
command runs, both raise :class:`~ngramkit.errors.Interrupted` (a
``KeyboardInterrupt``, see :func:`ngramkit.fileio.unwind_on_signals`), so
temporary files are removed on the way out; then one line, exit 130/143.
"""

from __future__ import annotations

import os
import signal
import sys

from .entry import _SIGNALS, install_startup_handlers as _install_startup_handlers

# Before the heavy imports below (click, numpy through the commands): a Ctrl-C or SIGTERM in the first
# second of `ngramkit ...` must not print an import traceback. Only when this is the program: a test
# or a script that imports the group keeps its own signal handling.
if __name__ == "__main__" or os.path.basename(sys.argv[0]) in ("ngramkit", "ngramkit.exe"):
    _install_startup_handlers()

import importlib  # noqa: E402

import click  # noqa: E402

from ngramkit.errors import NgramkitError  # noqa: E402
from ngramkit.fileio import unwind_on_signals  # noqa: E402


class _StdoutError(OSError):
    """Flushing stdout at the end of a command failed."""


def _on_stdout(exc: OSError) -> bool:
    """True if ``exc`` came from writing stdout (click.echo, or the final flush)."""
    if isinstance(exc, _StdoutError):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name in ("echo", "secho") and \
        tb.tb_frame.f_globals.get("__name__", "").startswith("click")


def _silence_stdout() -> None:
    """Point a failed stdout at /dev/null, so that the interpreter's flush at exit adds no second message."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. click's CliRunner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class Group(click.Group):
    """Turns library errors into one-line messages and exit code 1, signals into 130/143 (no traceback)."""

    def invoke(self, ctx):
        with unwind_on_signals(_SIGNALS):
            try:
                rv = super().invoke(ctx)
                try:
                    sys.stdout.flush()  # a full disk or /dev/full on stdout fails here, not in the exit's flush
                except OSError as exc:
                    raise _StdoutError(exc.errno, exc.strerror) from None
                return rv
            except NgramkitError as exc:
                click.echo(f"Error: {exc}", err=True)
                ctx.exit(1)
            except KeyboardInterrupt as exc:  # Ctrl-C, or Interrupted (SIGINT/SIGTERM): temp files are gone
                signum = getattr(exc, "signum", signal.SIGINT)
                click.echo(f"Interrupted by {signal.Signals(signum).name}; temporary files removed.", err=True)
                ctx.exit(128 + signum)
            except BrokenPipeError:
                sys.stderr.close()
                ctx.exit(1)
            except OSError as exc:  # a write failed (full disk, /dev/full, I/O error) where no library check caught it
                if exc.filename is not None:
                    target = exc.filename
                elif _on_stdout(exc):
                    target = "standard output"
                    _silence_stdout()
                else:
                    target = "output"
                click.echo(f"Error: cannot write {target}: {exc.strerror or exc}", err=True)
                ctx.exit(1)
            except MemoryError:  # the commands add their own advice (cli.common.command_errors)
                click.echo("Error: out of memory", err=True)
                ctx.exit(1)


# Each command's module is imported only when that command runs (or --help lists them): `ngramkit ppl` must not
# import compare's, zipf's or the RNN trainer's dependencies (matplotlib, the corpus registry, ...) first.
# command name -> its module in ngramkit.cli
COMMANDS = {"count": "count", "corpus": "corpus", "zipf": "zipf", "train": "train", "ppl": "ppl",
            "generate": "generate", "compare": "compare", "convert": "convert", "prune": "prune", "mix": "mix"}


class LazyGroup(Group):
    """A :class:`Group` whose commands are the functions of the same name in the modules of :data:`COMMANDS`."""

    def list_commands(self, ctx):
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            module = importlib.import_module(f".{COMMANDS[name]}", __package__)
            self.add_command(getattr(module, name), name)
        return self.commands.get(name)


def _print_version(ctx, param, value):
    """``--version``: ``ngramkit, version X`` (ngramkit.__version__ is read from the installed metadata only
    here, not at every start)."""
    if not value or ctx.resilient_parsing:
        return
    import ngramkit

    click.echo(f"ngramkit, version {ngramkit.__version__}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
def cli():
    """Count, smooth, fit, measure and compare language models."""


def main():
    _install_startup_handlers()  # also when main() is called from elsewhere; Group.invoke takes over
    cli(prog_name="ngramkit")


if __name__ == "__main__":
    main()
