"""``ngramkit train ngram``: count n-grams, smooth them, write the model."""

from __future__ import annotations

import inspect
import json
import math
import time

import click

from ngramkit import sources
from ngramkit.errors import NgramkitError

from .common import command_errors, corpus_option, json_option, text_options

SMOOTHINGS = ("mle", "laplace", "lidstone", "additive", "witten-bell", "absolute", "kn", "mkn",
              "stupid-backoff")

# CLI option -> keyword of the model class; each applies only to the models that accept it.
_HPARAM_OPTIONS = {"k": "--k", "discount": "--discount", "epsilons": "--epsilons", "alpha": "--alpha",
                   "discount_fallback": "--discount-fallback"}


def _floats(option: str):
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            values = tuple(float(v) for v in value.split(","))
        except ValueError:
            raise click.BadParameter(f"expected a number or comma-separated numbers, got {value!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise click.BadParameter(f"expected finite numbers, got {value!r}")
        return values
    return convert


def model_class(smoothing: str):
    from ngramkit.models import MODELS

    try:
        return MODELS[smoothing]
    except KeyError:
        raise NgramkitError(f"--smoothing: unknown model {smoothing!r}; choose from {', '.join(MODELS)}") from None


def build_model(smoothing: str, order: int, given: dict):
    """Construct (unfitted) the model; hyper-parameters a model does not take are an error."""
    cls = model_class(smoothing)
    accepted = inspect.signature(cls).parameters
    hparams = {}
    for key, value in given.items():
        if value is None:
            continue
        option = _HPARAM_OPTIONS[key]
        if key == "discount" and "discount" not in accepted and "discounts" in accepted:
            # Modified Kneser-Ney: D1,D2,D3+ for every order, or one triple per order (flattened).
            if len(value) == 3:
                hparams["discounts"] = value
            elif len(value) == 3 * order:
                hparams["discounts"] = [value[i:i + 3] for i in range(0, len(value), 3)]
            else:
                raise click.BadParameter(f"--smoothing {smoothing} takes D1,D2,D3+ (3 numbers) "
                                         f"or 3 per order ({3 * order}), got {len(value)}", param_hint=f"'{option}'")
            continue
        if key not in accepted:
            raise click.UsageError(f"{option} does not apply to --smoothing {smoothing}")
        if key == "discount_fallback":
            hparams[key] = bool(value)
            continue
        if key in ("k", "alpha"):
            if len(value) != 1:
                raise click.BadParameter(f"takes one number, got {len(value)}", param_hint=f"'{option}'")
            value = value[0]
        elif len(value) == 1:
            value = value[0]
        hparams[key] = value
    return cls(order, **hparams), hparams


def has_arpa_form(cls) -> bool:
    """Whether models of ``cls`` convert to backoff (ARPA) form."""
    from ngramkit.lm import LanguageModel

    return cls.to_backoff is not LanguageModel.to_backoff


def _native_name(output) -> str:
    name = str(output)
    for suffix in (".arpa.gz", ".arpa"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] + ".ngk"
    return name + ".ngk"


@click.command(epilog="Examples:\n\n"
               "  ngramkit train ngram --corpus ptb --order 5 --smoothing mkn -o ptb.o5.ngk\n\n"
               "  ngramkit train ngram book.txt --order 3 --smoothing kn -o book.arpa.gz\n\n"
               "  ngramkit train ngram book.txt --order 3 --smoothing lidstone --k 0.1 -o book.ngk"
               "   # no backoff (ARPA) form")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@corpus_option
@click.option("--order", "-n", type=click.IntRange(1, 12), default=3, show_default=True, help="N-gram order.")
@click.option("--smoothing", "-s", type=click.Choice(SMOOTHINGS), default="mkn", show_default=True,
              help="Smoothing method.")
@click.option("--k", "k", default=None, metavar="K", callback=_floats("--k"),
              help="Pseudo-count added to every count (lidstone).")
@click.option("--discount", default=None, metavar="D[,D...]", callback=_floats("--discount"),
              help="Discount(s) overriding the estimated ones (absolute, kn: one or one per order; "
                   "mkn: D1,D2,D3+).")
@click.option("--discount-fallback", is_flag=True,
              help="mkn: on orders whose estimated discounts are invalid (tiny or artificial data), use "
                   "KenLM lmplz --discount_fallback's D1,D2,D3+ = 0.5,1,1.5 instead of failing.")
@click.option("--epsilons", default=None, metavar="E1[,E2...]", callback=_floats("--epsilons"),
              help="Interpolation pseudo-counts e1, e2, ... (additive, one per order).")
@click.option("--alpha", default=None, metavar="A", callback=_floats("--alpha"),
              help="Backoff factor (stupid-backoff).")
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Words seen fewer times in training become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=4), default=None,
              help="Keep only the most frequent words (specials included).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Model file: .arpa / .arpa.gz for ARPA, anything else (e.g. .ngk) for the native format.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@json_option
@text_options
@command_errors(memory="try a smaller --order or a larger --min-count, or split the input",
                aliases={"discounts": "discount"})
def ngram(files, corpus_name, order, smoothing, k, discount, discount_fallback, epsilons, alpha, min_count,
          max_vocab, output, quiet, as_json, **kwargs):
    """Count n-grams and write a smoothed n-gram model.

    Reads FILES (or a registry corpus's training split; default: the default
    corpus), builds the vocabulary, counts n-grams of orders 1..ORDER
    (sentences padded with <s> ... </s>, never crossing sentences, as KenLM)
    and fits the chosen smoothing. The corpus name and text options are
    stored in a native model file, so `ngramkit ppl` and `ngramkit generate`
    tokenise new text the same way.
    """
    from ngramkit import modelio
    from ngramkit.counts import NGramCounts
    from ngramkit.fileio import check_writable

    # Fail before any heavy work on bad options or an unwritable output path.
    check_writable(output)
    if discount_fallback and smoothing != "mkn":
        raise click.UsageError(f"--discount-fallback applies only to --smoothing mkn, not {smoothing}")
    if discount_fallback and discount is not None:
        raise click.UsageError("--discount-fallback has no effect with --discount (explicit discounts for every "
                            "order); give only one of them")
    model, hparams = build_model(smoothing, order,
                                 {"k": k, "discount": discount, "epsilons": epsilons, "alpha": alpha,
                                  "discount_fallback": discount_fallback or None})
    if modelio.is_arpa_path(output) and not has_arpa_form(type(model)):
        raise click.UsageError(f"--smoothing {smoothing} has no backoff (ARPA) form; "
                            f"write it in the native format (e.g. -o {_native_name(output)})")
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    times = {}
    t0 = time.perf_counter()
    source = sources.resolve(files, corpus_name, "train", kwargs)
    label, options = source.label, source.options
    say(f"reading {label} ...")
    stream = source.stream(min_count=min_count, max_size=max_vocab)
    vocab = stream.vocab
    t1 = time.perf_counter()
    times["read"] = t1 - t0  # reading, tokenising, vocabulary, id stream
    say(f"counting n-grams of orders 1..{order} in {stream.n_tokens:,} tokens ...")
    counts = NGramCounts.from_stream(stream, order)
    t2 = time.perf_counter()
    times["count"] = t2 - t1
    say(f"fitting {type(model).__name__} ...")
    model.fit(counts)
    t3 = time.perf_counter()
    times["fit"] = t3 - t2
    fallback_orders = list(getattr(model, "fallback_orders_", []))
    if fallback_orders:
        say(f"discounts of order {', '.join(map(str, fallback_orders))} invalid on this data (degenerate "
            f"count-of-counts); used the fallback D1, D2, D3+ = "
            f"{', '.join(f'{d:g}' for d in model.discount_fallback)} there")
    say(f"writing {output} ...")
    info = {
        "corpus": source.corpus,
        "files": list(source.files),
        "text_options": options.to_dict(),
        "min_count": min_count,
        "max_vocab": max_vocab,
        "smoothing": smoothing,
        "train_tokens": stream.n_tokens,
        "train_sentences": stream.n_sentences,
    }
    modelio.save_model(model, output, info=info)
    times["write"] = time.perf_counter() - t3
    times["total"] = time.perf_counter() - t0
    summary = {
        "model": str(output),
        "format": "arpa" if modelio.is_arpa_path(output) else "native",
        "smoothing": smoothing,
        "class": type(model).__name__,
        "order": order,
        "hparams": {key: list(v) if isinstance(v, tuple) else v for key, v in hparams.items()},
        "source": label,
        "text_options": options.to_dict(),
        "vocab_size": len(vocab),
        "tokens": stream.n_tokens,
        "sentences": stream.n_sentences,
        "ngrams": {str(i): counts.distinct(i) for i in range(1, order + 1)},
        "seconds": {key: round(v, 4) for key, v in times.items()},
    }
    fitted = getattr(model, "fitted_", {})
    if "discounts" in fitted:  # discounting models: the discounts used, one (D1, D2, D3+) per order
        summary["discounts"] = fitted["discounts"]
    if hasattr(model, "fallback_orders_"):
        summary["fallback_orders"] = fallback_orders
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"model      {output} ({summary['format']}, {type(model).__name__}, order {order})")
    click.echo(f"source     {label}: {stream.n_sentences:,} sentences, {stream.n_tokens:,} tokens, "
               f"vocabulary {len(vocab):,}")
    for i in range(1, order + 1):
        click.echo(f"{i}-grams    {counts.distinct(i):>12,}")
    if fallback_orders:
        click.echo(f"fallback   discounts of order {', '.join(map(str, fallback_orders))}: D1, D2, D3+ = "
                   f"{', '.join(f'{d:g}' for d in model.discount_fallback)} (--discount-fallback)")
    click.echo("time       " + ", ".join(f"{key} {v:.2f} s" for key, v in times.items()))
