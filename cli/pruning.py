"""The count-pruning and vocabulary-limit options of `train ngram` (--prune, --limit-vocab), `ppl` and `convert`.

The library does the work (:mod:`ngramkit.limitvocab`, ``fit(counts, prune=..., limit_vocab=...)`` of the
interpolated models); this module only parses the options and says where they do not apply.
"""

from __future__ import annotations

import inspect
import re

import click

from ngramkit import limitvocab
from ngramkit.models.interpolated import prune_thresholds

_INTEGER = re.compile(r"[0-9]+")


class _Thresholds(click.ParamType):
    """``0 1 1`` / ``0,1,1`` -> (0, 1, 1); the library checks the values (order, non-decreasing)."""

    name = "thresholds"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [p for p in re.split(r"[\s,]+", str(value).strip()) if p]
        if not parts or not all(_INTEGER.fullmatch(p) for p in parts):
            self.fail(f"expected integer thresholds >= 0, one per order (e.g. 0 1 1), got {value!r}", param, ctx)
        return tuple(int(p) for p in parts)


class _IntegersOption(click.Option):
    """An option that also takes the integers following its value: ``--prune 0 1 1`` as lmplz writes it.

    (click options take a fixed number of values; the parser's handler of this option is wrapped to
    consume the next arguments while they are integers. ``--prune 0,1,1`` and ``--prune '0 1 1'`` work too.)
    """

    def add_to_parser(self, parser, ctx):
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:  # pragma: no cover - every name of the option is registered
                continue
            original = option.process

            def process(value, state, original=original):
                values = [value]
                while state.rargs and _INTEGER.fullmatch(state.rargs[0]):
                    values.append(state.rargs.pop(0))
                original(" ".join(values), state)

            option.process = process


def prune_option(func):
    return click.option(
        "--prune", cls=_IntegersOption, type=_Thresholds(), default=None, metavar="T1 [T2 ...]",
        help="Count pruning as KenLM lmplz --prune: one threshold per order from the unigrams (the last "
             "repeats for higher orders), non-decreasing; n-grams seen at most T_n times are dropped and their "
             "mass goes to their context's backoff (e.g. --prune 0 1 1). Interpolated smoothings only.")(func)


def limit_vocab_option(help_text: str):
    def decorate(func):
        return click.option("--limit-vocab", "limit_vocab", type=click.Path(dir_okay=False), default=None,
                            metavar="FILE", help=help_text)(func)
    return decorate


def check_train_options(model, smoothing: str, prune, limit_vocab) -> dict:
    """The ``prune``/``limit_vocab`` keywords of ``model.fit`` (empty when neither option is given): the
    thresholds of every order (None: all 0) and the listed words.

    A smoothing whose fit takes neither (mle, laplace, lidstone, stupid-backoff) is a usage error.
    """
    given = {"prune": list(prune) if prune is not None else None, "limit_vocab": limit_vocab}
    if all(v is None for v in given.values()):
        return {}
    if "prune" not in inspect.signature(model.fit).parameters:
        option = "--prune" if prune is not None else "--limit-vocab"
        raise click.UsageError(f"{option} applies to the interpolated smoothings (mkn, kn, absolute, witten-bell, "
                               f"additive), not --smoothing {smoothing}")
    given["prune"] = prune_thresholds(given["prune"], model.order)  # bad values: a usage error before any work
    if limit_vocab is not None:
        given["limit_vocab"] = limitvocab.read_vocab_file(limit_vocab)
    return given


def vocab_words(path) -> list[str] | None:
    """The words of ``--limit-vocab FILE`` (None without it), read before any model is loaded."""
    return None if path is None else limitvocab.read_vocab_file(path)


def limited(model, words, path, say):
    """``model`` limited to ``words`` (from ``path``) and renormalised; ``model`` itself when ``words`` is None."""
    if words is None:
        return model
    say(f"limiting the model to the {len(words):,} words of {path} (and <unk>, <s>, </s>) ...")
    return limitvocab.limit_vocab(model, words)
