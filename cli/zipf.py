"""``ngramkit zipf``: fit Zipf's law (and Heaps' law) to a corpus, print the table, draw the figures."""

from __future__ import annotations

import math

import click

from ngramkit import jsonout, sources
from ngramkit.counts import MAX_ORDER, NGramCounts
from ngramkit.errors import NgramkitError
from ngramkit.plots import check_figure_path, plot_heaps, plot_zipf, save_figure
from ngramkit.zipf import check_zipf_options, fit_heaps, fit_zipf_orders

from .common import (SPLITS, command_errors, corpus_option, echo_json, info, json_option, one_line_errors,
                     quiet_option, text_options)

METHODS = ("ols", "mle", "both")



def parse_orders(text: str) -> list[int]:
    """``"1,2,3"`` or ``"1-3"`` -> [1, 2, 3] (sorted, unique)."""
    orders: set[int] = set()
    for part in text.replace(" ", "").split(","):
        try:
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                orders.update(range(lo, hi + 1))
            else:
                orders.add(int(part))
        except ValueError:
            raise click.BadParameter(
                f"expected comma-separated orders like 1,2,3 or a range 1-3, got {text!r}", param_hint="'--orders'"
            ) from None
    if not orders:
        raise click.BadParameter(f"no order given in {text!r}", param_hint="'--orders'")
    bad = [k for k in sorted(orders) if not 1 <= k <= MAX_ORDER]
    if bad:
        raise click.BadParameter(f"order {bad[0]} is out of range; orders must be in 1..{MAX_ORDER}",
                                 param_hint="'--orders'")
    return sorted(orders)


def parse_ranks(text: str | None) -> tuple[int | None, int | None]:
    """``"10:1000"`` -> (10, 1000); ``"10:"`` -> (10, None) meaning "to the last rank"; None -> default."""
    if text is None:
        return None, None
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        lo_v = int(lo) if lo.strip() else 1
        hi_v = int(hi) if hi.strip() else None
    except ValueError:
        raise click.BadParameter(
            f"expected LO:HI such as 10:1000 (or 10: for all ranks from 10), got {text!r}", param_hint="'--ranks'"
        ) from None
    if lo_v < 1 or (hi_v is not None and hi_v < lo_v):
        raise click.BadParameter(f"need 1 <= LO <= HI, got {text!r}", param_hint="'--ranks'")
    return lo_v, hi_v


def report_skipped(results, label: str) -> None:
    """One warning line on stderr per order that could not be fitted; an error when nothing could be."""
    skipped = results.skipped
    if not results.fits:
        first, rest = skipped[0], [f"{s.order} ({s.method})" for s in skipped[1:]]
        more = f"; order {', '.join(rest)} could not be fitted either" if rest else ""
        raise NgramkitError(f"{label}: nothing to fit: order {first.order} ({first.method}): {first.reason}{more}")
    for s in skipped:
        click.echo(f"warning: {label}: order {s.order} ({s.method}) not fitted: {s.reason}", err=True)


def _fmt(x, spec: str, missing: str = "-") -> str:
    return missing if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def format_table(fits) -> list[str]:
    header = (f"{'order':>5}  {'method':<6}  {'alpha':>7}  {'se':>6}  {'a_freq':>6}  {'c':>7}  "
              f"{'fit':<11}  {'window (ranks)':<16}  {'xmin':>5}  {'points':>8}  {'distinct':>10}")
    lines = [header, "-" * len(header)]
    for f in fits:
        quality = f"R2={f.r2:.4f}" if f.method == "ols" else f"KS={f.ks:.4f}"
        lines.append(
            f"{f.order:>5}  {f.method:<6}  {f.alpha:>7.4f}  {_fmt(f.alpha_se, '6.4f'):>6}  {f.alpha_freq:>6.3f}  "
            f"{f.c:>7.3f}  {quality:<11}  {f'{f.rank_min}:{f.rank_max}':<16}  {_fmt(f.xmin, 'd'):>5}  "
            f"{f.n_points:>8,}  {f.distinct:>10,}"
        )
    return lines


@click.command(short_help="Fit Zipf's (and Heaps') law; table, JSON, plots.", epilog="Examples:\n\n\b\n"
               "  ngramkit zipf --plot zipf.png\n"
               "  ngramkit zipf --corpus ptb --split train --method both --json\n"
               "  ngramkit zipf book.txt --orders 1,2 --ranks 5:500 --heaps heaps.pdf")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@corpus_option
@click.option("--split", type=click.Choice(SPLITS), default="all", show_default=True,
              help="Split of a registry corpus (ignored with FILES); Zipf statistics describe the whole text.")
@click.option("--orders", default="1,2,3", show_default=True, metavar="K[,K...]",
              help="N-gram orders to fit, e.g. 1,2,3 or 1-5.")
@click.option("--method", type=click.Choice(METHODS), default="ols", show_default=True,
              help="ols: least squares on log rank-frequency; mle: Clauset et al. discrete power law; both.")
@click.option("--ranks", default=None, metavar="LO:HI",
              help="OLS rank window, inclusive (LO: = to the last rank) [default: 10:1000, clipped to the "
                   "n-grams seen at least twice].")
@click.option("--xmin", type=click.IntRange(min=1), default=None,
              help="MLE: fix the tail's smallest frequency instead of choosing it by minimum KS distance.")
@click.option("--min-tail", type=click.IntRange(min=2), default=50, show_default=True,
              help="MLE: fewest n-grams a candidate xmin must leave in the tail.")
@click.option("--boundaries/--no-boundaries", default=False, show_default=True,
              help="Include n-grams containing <s> or </s> (default: words only, as in D2L).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="Write the rank-frequency figure (.png, .svg or .pdf).")
@click.option("--heaps", "heaps_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="Fit Heaps' law and write the vocabulary-growth figure (.png, .svg or .pdf).")
@click.option("--title", default=None, metavar="TEXT", help="Title of the figure(s) [default: law and corpus].")
@json_option
@quiet_option
@text_options
@command_errors(memory="try fewer or lower --orders, or split the input")
def zipf(files, corpus_name, split, orders, method, ranks, xmin, min_tail, boundaries, plot_path, heaps_path,
         title, as_json, quiet, **kwargs):
    """Fit Zipf's law to unigram, bigram, trigram... frequencies; optionally plot them.

    alpha is the rank exponent of n_r ~ r^-alpha (log n_r = -alpha log r + c,
    natural log); the frequency-distribution exponent is 1 + 1/alpha. With no
    FILES and no --corpus, the default corpus (timemachine) is used.
    """
    with one_line_errors():
        _run(files, corpus_name, split, orders, method, ranks, xmin, min_tail, boundaries, plot_path,
             heaps_path, as_json, kwargs, say=info(quiet), title=title)


def _run(files, corpus_name, split, orders, method, ranks, xmin, min_tail, boundaries, plot_path, heaps_path,
         as_json, kwargs, say, title=None):
    # Validate everything cheap before reading the corpus, so bad options leave nothing behind.
    orders = parse_orders(orders)
    rank_min, rank_max = parse_ranks(ranks)
    fit_options = dict(rank_min=rank_min, rank_max=rank_max, xmin=xmin, min_tail=min_tail)
    try:  # the library's cross-checks, before any reading; a bad combination of options is a usage error
        check_zipf_options(orders, method, **fit_options)
    except NgramkitError as exc:
        raise click.UsageError(str(exc)) from None
    for path in (plot_path, heaps_path):
        if path is not None:
            check_figure_path(path)
    if plot_path is not None and plot_path == heaps_path:
        raise click.UsageError(f"--plot and --heaps both name {plot_path}; give two different files")

    source = sources.resolve(files, corpus_name, split, kwargs)
    name, split = source.label, source.split
    label = name if split in (None, "all") else f"{name} ({split} split)"
    stream = source.stream()
    counts = NGramCounts.from_stream(stream, max(orders))
    exclude = not boundaries
    results = fit_zipf_orders(counts, orders, method, exclude_boundaries=exclude, **fit_options)
    fits = results.fits
    report_skipped(results, label)
    heaps = fit_heaps(stream, exclude_boundaries=exclude) if heaps_path is not None else None

    # Draw every figure first, then write them (atomically): a failure leaves no partial set of files.
    figures = []
    if plot_path is not None:
        figures.append((plot_zipf(fits, corpus=label, title=title), plot_path))
    if heaps is not None:
        figures.append((plot_heaps(heaps, corpus=label, title=title), heaps_path))
    if figures:
        for fig, path in figures:
            save_figure(fig, path)
    if plot_path is not None:
        say(f"Zipf plot written to {plot_path}")
    if heaps_path is not None:
        say(f"Heaps plot written to {heaps_path}")

    words = stream.n_tokens - stream.n_sentences
    if as_json:
        out = {
            **jsonout.source_fields(source),
            "words": words,
            "tokens": stream.n_tokens,
            "sentences": stream.n_sentences,
            "exclude_boundaries": exclude,
            "fits": results.to_list(),
        }
        if heaps is not None:
            out["heaps"] = heaps.to_dict()
        if plot_path is not None:
            out["plot_file"] = str(plot_path)
        if heaps_path is not None:
            out["heaps_plot_file"] = str(heaps_path)
        echo_json(out, "zipf")
        return
    scope = "n-grams with <s>/</s> excluded" if exclude else "n-grams with <s>/</s> included"
    click.echo(f"{label}: {words:,} words in {stream.n_sentences:,} sentences; {scope}")
    for line in format_table(fits):
        click.echo(line)
    click.echo("alpha: rank exponent, n_r ~ r^-alpha (log n_r = -alpha log r + c, natural log); "
               "a_freq = 1 + 1/alpha: frequency-distribution exponent.")
    if heaps is not None:
        click.echo(f"Heaps: V(N) = {heaps.k:.3f} N^{heaps.beta:.4f}  (R2={heaps.r2:.4f}, N >= {heaps.n_min:,}; "
                   f"{heaps.types:,} types in {heaps.tokens:,} tokens)")
