"""Options and input handling shared by the commands."""

from __future__ import annotations

import contextlib
import functools
import sys

import click

from ngramkit.errors import NgramkitError
from ngramkit.text import NORMALIZERS, TOKENIZERS, TextOptions
from ngramkit.threads import KERNEL_THREADS_VAR, limit_threads

SPLITS = ("train", "valid", "test", "all")
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
    for timemachine) and then to TextOptions' own defaults.
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


def make_text_options(base: TextOptions | None, kwargs: dict) -> TextOptions:
    """Merge explicit CLI text options over ``base`` (a corpus's defaults); pops them from kwargs."""
    base = base or TextOptions()
    changes = {}
    for name in ("normalize", "tokenizer", "pattern", "sentences", "encoding", "errors"):
        value = kwargs.pop(name, None)
        if value is not None:
            changes[name] = value
    if changes.get("pattern") and "tokenizer" not in changes:
        changes["tokenizer"] = "regex"
    return base.with_(**changes)


def corpus_option(func):
    return click.option("--corpus", "corpus_name", default=None, metavar="NAME",
                        help="A registry corpus (see `ngramkit corpus list`) instead of FILES.")(func)


def load_sentences(files, corpus_name, kwargs, *, split: str = "train"):
    """Resolve FILES / --corpus / the default corpus into (label, sentences, TextOptions).

    With no FILES and no --corpus, the default corpus is used.
    """
    from ngramkit import corpora
    from ngramkit.errors import NgramkitError
    from ngramkit.text import read_sentences

    if files and corpus_name:
        raise NgramkitError("give FILES or --corpus, not both")
    if files:
        options = make_text_options(None, kwargs)
        return ", ".join(str(f) for f in files), read_sentences(list(files), options), options
    name = corpus_name or corpora.DEFAULT_CORPUS
    options = make_text_options(corpora.get(name).text_options, kwargs)
    return name, corpora.load_split(name, split, options), options


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")(func)


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


def progress_bar(total: int, label: str, enabled: bool = True):
    """A click progress bar on stderr (no-op when disabled or not needed)."""
    return click.progressbar(length=max(total, 1), label=label, file=sys.stderr,
                             show_eta=True, hidden=not enabled)
