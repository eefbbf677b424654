"""Options, error handling and model loading shared by the commands (input goes through ngramkit.sources)."""

from __future__ import annotations

import codecs
import contextlib
import functools
import math
import re
import sys

import click

from ngramkit import jsonout, modelio, sources
from ngramkit.errors import NgramkitError, ParameterError
from ngramkit.models import BackoffModel, CountModel
from ngramkit.progress import Progress
from ngramkit.text import NORMALIZERS, TOKENIZERS, TextOptions
from ngramkit.threads import KERNEL_THREADS_VAR, limit_blas_threads, limit_threads

SPLITS = sources.SPLITS  # train, valid, test, all
DEFAULT_THREADS = 1


class FiniteFloat(click.FloatRange):
    """A float option that refuses ``nan`` and ``inf`` (click's FLOAT and FloatRange accept them), with
    an optional range: ``FiniteFloat(min=0, min_open=True)``.
    """

    name = "finite float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def _option_for(ctx: click.Context, name: str) -> click.Parameter | None:
    """The command's parameter called ``name`` (its Python name, or one of its option strings)."""
    for param in ctx.command.params:
        if param.name == name or name in getattr(param, "opts", ()):
            return param
    return None


def usage_error(exc: ParameterError, aliases: dict | None = None) -> click.ClickException:
    """A library :class:`ParameterError` as the user sees it.

    ``exc.param`` (a library name: ``k``, ``init_scale``) is mapped through
    ``aliases`` (library name -> the command's parameter: ``{"hidden":
    "rnn_hidden"}``) or else taken as the name of the command's parameter.
    An option the user can type gives click's usage error, exit 2:
    ``Error: Invalid value for '--init-scale': must be ...``. A parameter
    with no option (e.g. ``vocab_size``, set by the data) is a plain
    one-line error, exit 1.
    """
    ctx = click.get_current_context()
    param = _option_for(ctx, (aliases or {}).get(exc.param, exc.param))
    if param is None:
        return click.ClickException(str(exc))
    return click.BadParameter(exc.problem, ctx=ctx, param=param)


@contextlib.contextmanager
def one_line_errors(aliases: dict | None = None):
    """Library errors become click errors: a bad parameter value is a usage error under the option's name
    (exit 2, :func:`usage_error`), any other library error one line, exit 1 (also when a command runs
    outside the group).
    """
    try:
        yield
    except ParameterError as exc:
        raise usage_error(exc, aliases) from None
    except NgramkitError as exc:
        raise click.ClickException(str(exc)) from None


def command_errors(*, memory: str, aliases: dict | None = None):
    """Decorator of a command's function: a library :class:`ParameterError` becomes a usage error naming the
    option (exit 2, :func:`usage_error`; ``aliases`` maps library names to the command's parameters), and
    running out of memory one line with ``memory``, the command's own advice (exit 1).
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except ParameterError as exc:
                raise usage_error(exc, aliases) from None
            except MemoryError:
                raise click.ClickException(f"out of memory; {memory}") from None
        return wrapper
    return decorate


def _valid_regex(ctx, param, value):
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise click.BadParameter(f"{value!r} is not a valid regex: {exc}", ctx=ctx, param=param) from None
    return value


def _known_encoding(ctx, param, value):
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise click.BadParameter(f"unknown encoding {value!r}", ctx=ctx, param=param) from None
    return value


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
        click.option("--pattern", default=None, metavar="REGEX", callback=_valid_regex,
                     help="Token pattern for --tokenizer regex (re.findall)."),
        click.option("--sentences/--no-sentences", default=None,
                     help="Each non-empty line is a sentence (default) or the input is one stream."),
        click.option("--encoding", default="utf-8", show_default=True, callback=_known_encoding,
                     help="Input encoding."),
        click.option("--errors", type=click.Choice(["strict", "replace"]), default="strict",
                     show_default=True, help="On undecodable bytes: fail naming the offset, or replace."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def known_corpus(ctx, param, value):
    """Click callback: an unknown registry corpus name is a bad option value (exit 2)."""
    if value is not None:
        from ngramkit import corpora

        try:
            corpora.get(value)
        except NgramkitError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def corpus_option(func):
    return click.option("--corpus", "corpus_name", default=None, metavar="NAME", callback=known_corpus,
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


def load_model(model_path, *, quiet: bool = True, verify=True):
    """(model, info): load a model file, with the training context stored in it (empty for ARPA).

    ``verify``: as for :func:`ngramkit.modelio.load_model` (``"auto"`` on the query path of ``ppl``).
    """
    if not quiet:
        click.echo(f"loading {model_path} ...", err=True)
    meta = modelio.read_metadata(model_path)
    model = modelio.load_model(model_path, verify=verify)
    if not isinstance(model, (BackoffModel, CountModel)):  # an RNN scores with BLAS products: --threads limits them
        apply_blas_limit = click.get_current_context().meta.get(_BLAS_LIMIT)
        if apply_blas_limit is not None:
            apply_blas_limit()
    return model, meta.get("info") or {}


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


_BLAS_LIMIT = "ngramkit.blas_limit"  # click context meta: applies the pending --threads BLAS limit


def threads_option(func):
    """``--threads N``: the command's work runs with at most N BLAS and kernel threads (ngramkit.threads).

    A command that scores a saved model (it has ``--model``, loaded by :func:`load_model`) sets the BLAS
    limit only once the model turns out to run BLAS products (an RNN): n-gram scoring runs none, and
    threadpoolctl's scan of the loaded libraries is then start-up time for nothing.
    """
    @functools.wraps(func)
    def wrapper(*args, threads, **kwargs):
        ctx = click.get_current_context()
        with contextlib.ExitStack() as stack:
            loads_model = any(param.name == "model_path" for param in ctx.command.params)
            stack.enter_context(limit_threads(threads, blas=not loads_model))
            if loads_model:
                ctx.meta[_BLAS_LIMIT] = lambda: stack.enter_context(limit_blas_threads(threads))
                stack.callback(ctx.meta.pop, _BLAS_LIMIT, None)
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
