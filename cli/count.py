"""``ngramkit count``: count the n-grams of a corpus, print per-order statistics, save the counts."""

from __future__ import annotations

import os

import click

from ngramkit import jsonout, sources
from ngramkit.counts import MAX_ORDER, NGramCounts, check_counts_path
from ngramkit.progress import BYTES, Progress, Task

from .common import (SPLITS, command_errors, corpus_option, echo_json, info as info_lines, json_option,
                     one_line_errors, progress_output, quiet_option, text_options)

PROGRESS_BYTES = 4 << 20  # report progress for inputs over 4 MB


def _count(source, order, min_count, out):
    """Read ``source`` and count orders 1..``order``; one progress line per stage for inputs over 4 MB."""
    size = source.nbytes()
    if size <= PROGRESS_BYTES:
        out = Progress(quiet=True)
    reading = Task(out, "counting: reading text", size, unit=BYTES)
    stream = source.stream(min_count=min_count, progress=reading.advance)
    reading.finish()
    ngrams = Task(out, "counting: n-grams", order, unit="orders", rate=False)
    counts = NGramCounts.from_stream(stream, order, progress=ngrams.advance)
    ngrams.finish()
    return counts


def summary(counts, source, top: int) -> dict:
    """The ``--json`` object: the text read (source, corpus, split, files), tokens, sentences, vocab_size, orders."""
    orders = {}
    for k in range(1, counts.order + 1):
        orders[str(k)] = {
            "total": counts.total(k),
            "distinct": counts.distinct(k),
            "singletons": int(counts.count_of_counts(k, 1)[0]),
            "top": [[list(gram), c] for gram, c in counts.top(k, top)],
        }
    return {**jsonout.source_fields(source), "order": counts.order, "tokens": counts.n_tokens, "sentences": counts.n_sentences,
            "vocab_size": len(counts.vocab), "orders": orders}


def format_summary(info: dict) -> list[str]:
    lines = [f"corpus: {info['source']}",
             f"tokens: {info['tokens']:,} (words + </s>)  sentences: {info['sentences']:,}  "
             f"vocabulary: {info['vocab_size']:,} (with <unk> <s> </s> <pad>)"]
    for k, o in info["orders"].items():
        lines.append("")
        lines.append(f"order {k}: tokens {o['total']:,}  distinct {o['distinct']:,}  singletons {o['singletons']:,}")
        if o["top"]:
            lines.append(f"  {'rank':>4}  {'count':>10}  {'rel.freq':>8}  {k}-gram")
            for rank, (gram, c) in enumerate(o["top"], 1):
                lines.append(f"  {rank:>4}  {c:>10,}  {c / o['total']:>8.5f}  {' '.join(gram)}")
    return lines


@click.command(
    "count",
    short_help="Count n-grams; per-order totals, distinct, singletons, top-k.",
    epilog="\b\nExamples:\n"
           "  ngramkit count                   # the default corpus (timemachine), orders 1..3\n"
           "  ngramkit count --corpus ptb --order 5 --top 10 --json\n"
           "  ngramkit count big.txt.gz --normalize lower --output big.ngc",
)
@click.argument("files", nargs=-1)
@corpus_option
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True,
              help="Corpus split to count (with --corpus or the default corpus).")
@click.option("--order", type=click.IntRange(1, MAX_ORDER), default=3, show_default=True, help="Count n-grams of orders 1..ORDER.")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show the TOP most frequent n-grams of each order.")
@text_options
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Words seen fewer times become <unk>.")
@json_option
@click.option("--output", default=None, metavar="FILE.ngc",
              help="Save the counts (memory-mappable .ngc file, written atomically).")
@quiet_option
@command_errors(memory="try a smaller --order or a larger --min-count, or split the input")
def count(files, corpus_name, split, order, top, min_count, as_json, output, quiet, **kwargs):
    """Count the n-grams of FILES (or a corpus) and print per-order statistics.

    Each non-empty line is a sentence <s> w1 .. wn </s> (KenLM's convention:
    n-grams never cross sentences). With no FILES and no --corpus the default
    corpus is counted. "tokens" are the predicted tokens: words plus one </s>
    per sentence.
    """
    with one_line_errors():
        if output is not None:
            check_counts_path(output)
        source = sources.resolve(files, corpus_name, split, kwargs)
        counts = _count(source, order, min_count, progress_output(quiet))
        if output is not None:  # with how the text was read, for `ngramkit train ngram FILE.ngc`
            counts.save(output, info={"corpus": source.corpus, "split": source.split, "files": list(source.files),
                                      "text_options": source.options.to_dict(), "min_count": min_count})
            info_lines(quiet)(f"counts saved to {os.fspath(output)}")
        result = summary(counts, source, top)
        if as_json:
            if output is not None:
                result["counts_file"] = os.fspath(output)
            echo_json(result, "count")
        else:
            click.echo("\n".join(format_summary(result)))
