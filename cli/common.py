"""Options, error handling and model loading shared by the commands (input goes through ngramkit.sources)."""

from __future__ import annotations

import contextlib
import functools
import sys

import click

from ngramkit import jsonout, modelio, sources
from ngramkit.errors import NgramkitError
from ngramkit.progress import Progress
from ngramkit.text import NORMALIZERS, TOKENIZERS, TextOptions
from ngramkit.threads import KERNEL_THREADS_VAR, limit_threads

SPLITS = sources.SPLITS  # train, valid, test, all
DEFAULT_THREADS = 1


@contextlib.contextmanager
def one_line_errors():
    """Library errors become click errors: one line, exit 1 (also when a command runs outside the group)."""
    try:
        yield
    except NgramkitError as exc:
        raise click.ClickException(str(exc)) from None


def text_options(func):
    """The text options every command that reads raw text accepts.

    Unset options fall back to the corpus registry's defaults (e.g. ``d2l``
    for timemachine) and then to TextOptions' own defaults. Commands collect
    them in ``**kwargs`` and hand them to ``ngramkit.sources.resolve`` as the
    overrides (the one place they are merged).
    """
    options = [
        click.option("--normalize", type=click.Choice(NORMALIZERS), default=None,
                     help="Normaliser [default: the corpus's, else none]."),
        click.option("--tokenizer", type=click.Choice(TOKENIZERS), default=None,
                     help="Tokeniser [default: the corpus's, else whitespace]."),
        click.option("--pattern", default=None, metavar="REGEX",
                     help="Token pattern for --tokenizer regex (re.findall)."),
        click.option("--sentences/--no-sentences", default=None,
                     help="Each non-empty line is a sentence (default) or the input is one stream."),
        click.option("--encoding", default="utf-8", show_default=True, help="Input encoding."),
        click.option("--errors", type=click.Choice(["strict", "replace"]), default="strict",
                     show_default=True, help="On undecodable bytes: fail naming the offset, or replace."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def corpus_option(func):
    return click.option("--corpus", "corpus_name", default=None, metavar="NAME",
                        help="A registry corpus (see `ngramkit corpus list`) instead of FILES.")(func)


def model_text_options(model_path, info) -> TextOptions | None:
    """The text options stored with a model (``info["text_options"]``), or None when it stores none (ARPA)."""
    stored = info.get("text_options") if isinstance(info, dict) else None
    if not isinstance(stored, dict):
        return None
    try:
        return TextOptions(**stored)
    except TypeError:
        raise NgramkitError(f"{model_path}: stored text options are not understood: {stored}") from None


def load_model(model_path, *, quiet: bool = True):
    """(model, info): load a model file, with the training context stored in it (empty for ARPA)."""
    if not quiet:
        click.echo(f"loading {model_path} ...", err=True)
    meta = modelio.read_metadata(model_path)
    return modelio.load_model(model_path), meta.get("info") or {}


def json_option(func):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as one JSON object (README: JSON output).")(func)


def quiet_option(func):
    """``-q/--quiet``: nothing on stderr but errors (and warnings about the result); stdout is unchanged."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress or info on stderr (errors still are).")(func)


def info(quiet: bool):
    """``say(msg)``: an info line on stderr (never stdout, which holds only the result), silent with -q."""
    return (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))


def echo_json(obj: dict, command: str) -> None:
    """Print ``obj`` as the command's result in ngramkit's JSON convention (ngramkit.jsonout)."""
    click.echo(jsonout.dumps(obj, command=command))


def threads_option(func):
    """``--threads N``: the command's work runs with at most N BLAS and kernel threads (ngramkit.threads)."""
    @functools.wraps(func)
    def wrapper(*args, threads, **kwargs):
        with limit_threads(threads):
            return func(*args, **kwargs)

    return click.option("--threads", type=click.IntRange(min=1), default=DEFAULT_THREADS, show_default=True,
                        envvar=KERNEL_THREADS_VAR, show_envvar=True,
                        help="Threads for the RNN's matrix products and kernels (numpy's BLAS, the C class "
                             "softmax); more than 1 helps only on otherwise idle cores.")(wrapper)


def progress_output(quiet: bool = False) -> Progress:
    """The command's progress on stderr (:mod:`ngramkit.progress`); nothing with ``-q``.

    A live line on a terminal, one line per stage otherwise. Closed with the
    command's click context, so an open live line is ended before the error
    or interrupt message that follows it.
    """
    return click.get_current_context().with_resource(Progress(sys.stderr, quiet=quiet))
