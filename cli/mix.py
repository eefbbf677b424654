"""``ngramkit mix M1 M2 [...] --tune TEXT -o OUT``: linear interpolation of n-gram models as one backoff model.

The weights come from EM on held-out text (SRILM ``compute-best-mix``) or
from ``--weights``; the written model is SRILM's static ``-mix-lm`` mixture
(:mod:`ngramkit.mix`).
"""

from __future__ import annotations

import time

import click

from ngramkit import jsonout, modelio, sources
from ngramkit import mix as mixing
from ngramkit.errors import NgramkitError
from ngramkit.fileio import check_writable

from .common import (FiniteFloat, command_errors, echo_json, info, json_option, load_model, model_text_options,
                     quiet_option, text_options)


def _parse_weights(text: str | None, n: int):
    if text is None:
        return None
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of numbers (e.g. 0.7,0.3)", param_hint="'--weights'") \
            from None
    if len(values) != n:
        raise click.BadParameter(f"{n} models need {n} weights, got {len(values)}", param_hint="'--weights'")
    try:
        return mixing.check_weights(values, n)
    except NgramkitError as exc:
        raise click.BadParameter(str(exc), param_hint="'--weights'") from None


@click.command("mix", epilog="Examples:\n\n"
               "  ngramkit train ngram book.txt --order 2 --smoothing witten-bell -o book.wb2.arpa\n\n"
               "  ngramkit mix tm.ngk book.wb2.arpa --tune held-out.txt -o tm-book.arpa.gz   # EM weights\n\n"
               "  ngramkit mix tm.ngk book.wb2.arpa --weights 0.7,0.3 -o tm-book.ngk         # fixed weights")
@click.argument("model_paths", metavar="MODEL...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--tune", "tune_path", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Held-out text: the weights maximising its likelihood are found by EM.")
@click.option("--weights", default=None, metavar="W1,W2,...",
              help="The weights (>= 0, summing to 1); with --tune, EM starts from them [default: uniform].")
@click.option("--max-iter", type=click.IntRange(min=1), default=mixing.MAX_ITER, show_default=True,
              help="At most this many EM iterations.")
@click.option("--tol", type=FiniteFloat(min=0, min_open=True), default=mixing.TOL, show_default=True,
              help="EM stops when no weight changes by more than this (the weights sum to 1; SRILM compute-best-mix's "
                   "precision).")
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False),
              help="The mixed model: .arpa / .arpa.gz for ARPA, any other name native (.ngk).")
@json_option
@quiet_option
@text_options
@command_errors(memory="the models are too large for this machine's memory")
def mix(model_paths, tune_path, weights, max_iter, tol, output, as_json, quiet, **kwargs):
    """Mix n-gram models into one backoff model.

    The mixture is linear, P(w|h) = sum_i l_i P_i(w|h).
    MODELS are ARPA or native n-gram files (two or more; vocabularies may
    differ: the union is used, and a model gives probability 0 to a word it
    lacks, as SRILM does). With --tune the weights are found by EM on that
    text (SRILM compute-best-mix; each iteration's weights and perplexity
    are printed on stderr), which is tokenised with the first model's
    stored text options unless overridden. With --weights only, they are
    used as given. The output is SRILM's static mixture (ngram -mix-lm):
    the union of the n-grams with mixed probabilities, backoff weights
    recomputed so every context sums to 1; for n-grams outside the union it
    backs off with one weight, so it differs slightly from the exact
    token-level mixture (README: Mixtures). OUT is written atomically.
    """
    say = info(quiet)
    if len(model_paths) < 2:
        raise click.UsageError("give at least two models to mix")
    if tune_path is None and weights is None:
        raise click.UsageError("give --tune TEXT (EM weights) or --weights W1,W2,...")
    init = _parse_weights(weights, len(model_paths))
    check_writable(output)
    models, infos = [], []
    for path in model_paths:
        model, stored = load_model(path, quiet=quiet)
        models.append(mixing.as_backoff(model, str(path)))
        infos.append(stored)
    vocab = mixing.union_vocab(models)
    say(f"mixing {len(models)} models over the union of their vocabularies ({len(vocab):,} words; "
        f"{', '.join(f'{len(m.vocab):,}' for m in models)} in the models) ...")
    out = {"model_file": str(output), "models": [str(p) for p in model_paths],
           "orders": [m.order for m in models], "vocab_size": len(vocab)}
    options = model_text_options(model_paths[0], infos[0])
    if tune_path is not None:
        source = sources.resolve([tune_path], None, "train", kwargs, base=options)
        options = source.options
        say(f"reading {source.title} ...")
        stream = source.stream(vocab)
        if stream.n_tokens == 0:
            raise NgramkitError(f"--tune {tune_path}: the text has no sentences")
        say(f"scoring {stream.n_tokens:,} tokens with {len(models)} models ...")
        logp = mixing.component_log_probs(models, stream)
        start = time.perf_counter()

        def report(rec):
            say(f"EM iteration {rec['iteration']:3d}: weights {' '.join(f'{x:.6f}' for x in rec['weights'])}  "
                f"perplexity {rec['perplexity']:.4f}")

        result = mixing.tune_weights(logp, init=init, tol=tol, max_iter=max_iter, callback=report)
        seconds = time.perf_counter() - start
        final = result.weights
        if not result.converged:
            say(f"EM stopped after --max-iter {max_iter} iterations before converging (--tol {tol:g})")
        out.update({"tune": {**jsonout.source_fields(source), "tokens": stream.n_tokens,
                             "zeroprob_tokens": result.zeroprobs},
                    "em": {"iterations": result.iterations, "converged": result.converged,
                           "n_iterations": len(result.iterations) - 1, "seconds": seconds},
                    "tune_perplexity": result.perplexity})
    else:
        final = init
    say(f"weights {' '.join(f'{x:.6f}' for x in final)}; building the static mixture ...")
    mixed = mixing.static_mixture(models, final, progress=lambda msg: say(f"  {msg}"))
    stored = {"mix": {"models": [str(p) for p in model_paths], "weights": [float(x) for x in final]}}
    if options is not None:
        stored["text_options"] = options.to_dict()
    modelio.save_model(mixed, output, info=stored)
    sizes = [int(mixed.ngrams(k).shape[0]) for k in range(1, mixed.order + 1)]
    say(f"wrote {output} (order {mixed.order}, n-grams {' '.join(f'{s:,}' for s in sizes)})")
    out.update({"weights": [float(x) for x in final], "order": mixed.order, "ngrams": sizes,
                "format": "arpa" if modelio.is_arpa_path(output) else "native"})
    if as_json:
        echo_json(out, "mix")
    else:
        click.echo(f"weights {' '.join(f'{x:.6f}' for x in final)}")
        if "tune_perplexity" in out:
            click.echo(f"tune perplexity {out['tune_perplexity']:.4f}")
        click.echo(f"wrote {output}")

