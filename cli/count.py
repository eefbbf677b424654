"""``ngramkit count``: count the n-grams of a corpus, print per-order statistics, save the counts."""

from __future__ import annotations

import os
import time

import click
import numpy as np

from ngramkit import jsonout, sources
from ngramkit.counts import MAX_ORDER, NGramCounts, check_counts_path
from ngramkit.errors import ParameterError
from ngramkit.outofcore.budget import TempSpace, format_bytes, parse_memory
from ngramkit.outofcore.chunks import iter_chunks
from ngramkit.outofcore.count import CountStats, count_files, in_blocks
from ngramkit.progress import BYTES, Progress, Task

from . import engine as engines
from .common import (SPLITS, command_errors, corpus_option, echo_json, info as info_lines, json_option,
                     one_line_errors, progress_output, quiet_option, text_options)

PROGRESS_BYTES = 4 << 20  # report progress for inputs over 4 MB
BLOCK_LINE_EVERY = 2.0  # seconds: at most one "counting: block ..." line this often (and the last block's)


def _memory_value(ctx, param, value):
    try:
        return parse_memory(value)
    except ParameterError as exc:
        raise click.BadParameter(exc.problem, ctx=ctx, param=param) from None


def memory_options(func):
    """``--memory SIZE`` (bytes; unset: 40% of RAM) and ``--temp DIR``: counting in a budget, like lmplz -S / -T.

    The command receives ``memory`` in bytes and ``temp`` (None: the system's temp folder).
    """
    func = click.option("--temp", default=None, metavar="DIR",
                        help="Folder for temporary files when counting in blocks [default: the system's].")(func)
    return click.option("--memory", default=None, metavar="SIZE", callback=_memory_value,
                        help="Memory budget: 4G, 512M, 100K, bytes, or a share of RAM such as 40% "
                             "[default: 40%]. Larger inputs are counted in blocks spilled to --temp.")(func)


def _count(source, order, min_count, out, memory, space):
    """Read ``source`` and count orders 1..``order`` in ``memory`` bytes; ``(counts, stats)``.

    Files are counted by :func:`ngramkit.outofcore.count.count_files` (in
    memory when they fit, else in blocks spilled to ``space``); one progress
    line per stage for inputs over 4 MB, and one per block when counting in
    blocks. A corpus split that is not whole files is read in memory.
    """
    size = source.nbytes()
    if size <= PROGRESS_BYTES:
        out = Progress(quiet=True)
    paths = source.paths()
    if paths is not None and in_blocks(paths, order, source.options, memory):
        stages = _Stages(out, size, order)
        counts, stats = count_files(paths, order, options=source.options, min_count=min_count, memory=memory,
                                    space=space, progress=stages, force=True)
        stages.finish()
        return counts, stats
    reading = Task(out, "counting: reading text", size, unit=BYTES)
    stream = source.stream(min_count=min_count, progress=reading.advance)
    reading.finish()
    ngrams = Task(out, "counting: n-grams", order, unit="orders", rate=False)
    counts = NGramCounts.from_stream(stream, order, progress=ngrams.advance)
    ngrams.finish()
    return counts, CountStats(memory=memory, blocks=1)


class _Stages:
    """Progress of a count in blocks: one Task per stage (vocabulary, counting, merging) and one line per run."""

    LABELS = {"vocabulary": ("counting: vocabulary (pass 1)", BYTES), "counting": ("counting: blocks (pass 2)", BYTES),
              "merging": ("counting: merging runs", "orders")}

    def __init__(self, out, size: int, order: int):
        self.out, self.size, self.order = out, size, order
        self.stage = self.task = None
        self.last = time.monotonic()

    def __call__(self, event: dict) -> None:
        stage = event["stage"]
        if stage != self.stage:
            self.finish()
            label, unit = self.LABELS[stage]
            self.task = Task(self.out, label, event["total"], unit=unit, rate=unit == BYTES)
            self.stage = stage
        self.task.update(event["done"])
        if stage == "counting" and (time.monotonic() - self.last >= BLOCK_LINE_EVERY or event["done"] >= self.size):
            self.last = time.monotonic()
            self.out.line(f"counting: block {event['run']}: {format_bytes(event['done'])} of "
                          f"{format_bytes(event['total'])} read, run {event['run']} written "
                          f"({format_bytes(event['temp'])} temp)")

    def finish(self) -> None:
        if self.task is not None:
            self.task.finish()
            self.task = None


def _order_stats(counts, k: int, top: int) -> dict:
    """total, distinct, singletons and the top-k of order k in one chunked pass (mapped arrays stay unread)."""
    c = counts.counts(k)
    total = singletons = 0
    best_c = np.empty(0, np.int64)
    best_r = np.empty(0, np.int64)
    for start, chunk in iter_chunks(c, 1 << 20):
        total += int(chunk.sum())
        singletons += int(np.count_nonzero(chunk == 1))
        if top:
            cand_c = np.concatenate([best_c, chunk])
            cand_r = np.concatenate([best_r, np.arange(start, start + chunk.size, dtype=np.int64)])
            keep = np.lexsort((cand_r, -cand_c))[:top]  # the rule of NGramCounts.top: count desc, row asc
            best_c, best_r = cand_c[keep], cand_r[keep]
    words = counts.vocab.words
    grams = counts.ngrams(k)
    top_list = [[[words[i] for i in grams[r].tolist()], int(n)] for r, n in zip(best_r.tolist(), best_c.tolist())]
    return {"total": total, "distinct": int(c.size), "singletons": singletons, "top": top_list}


def summary(counts, source, top: int) -> dict:
    """The ``--json`` object: the text read (source, corpus, split, files), tokens, sentences, vocab_size, orders."""
    orders = {str(k): _order_stats(counts, k, top) for k in range(1, counts.order + 1)}
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
           "  ngramkit count big.txt.gz --normalize lower --output big.ngc\n"
           "  ngramkit count a.txt b.txt --order 5 --engine dask --workers 2 --output ab.ngc   # on Dask",
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
@memory_options
@engines.engine_options
@command_errors(memory="try a smaller --memory (it bounds the tables held; the rest goes to --temp), "
                       "a smaller --order or a larger --min-count")
def count(files, corpus_name, split, order, top, min_count, as_json, output, quiet, memory, temp, engine, workers,
          scheduler, **kwargs):
    """Count the n-grams of FILES (or a corpus) and print per-order statistics.

    Each non-empty line is a sentence <s> w1 .. wn </s> (KenLM's convention:
    n-grams never cross sentences). With no FILES and no --corpus the default
    corpus is counted. "tokens" are the predicted tokens: words plus one </s>
    per sentence.

    Text larger than --memory allows is counted in blocks written to --temp
    as sorted runs and merged on disk (like lmplz -S / -T); the counts are
    the same.

    With --engine dask the text is counted on a dask.distributed cluster
    (--workers N: a local one started for the run; --scheduler: a running
    one), FILES being paths or globs every worker can read; the counts are
    the same.
    """
    run = engines.choose(engine, workers, scheduler, local_only=("memory", "temp"))
    with one_line_errors():
        if output is not None:
            check_counts_path(output)
        source = sources.resolve(files, corpus_name, split, kwargs)
        with TempSpace(temp) as space:
            if run is None:
                counts, stats = _count(source, order, min_count, progress_output(quiet), memory, space)
            else:
                counts = engines.count(run, source, order, min_count, info_lines(quiet))
                stats = CountStats(memory=None, blocks=0)
            if output is not None:  # with how the text was read, for `ngramkit train ngram FILE.ngc`
                counts.save(output, info={"corpus": source.corpus, "split": source.split,
                                          "files": list(source.files),
                                          "text_options": source.options.to_dict(), "min_count": min_count})
                info_lines(quiet)(f"counts saved to {os.fspath(output)}")
            result = summary(counts, source, top)
            stats.temp_peak = space.peak
            del counts  # its arrays may map files in the temp folder, removed next
        if as_json:
            if output is not None:
                result["counts_file"] = os.fspath(output)
            result["memory"] = {"budget_bytes": stats.memory, "spilled": stats.spilled, "blocks": stats.blocks,
                                "runs": stats.runs, "temp_peak_bytes": stats.temp_peak}
            if run is not None:
                result["engine"] = run.json()
            echo_json(result, "count")
        else:
            click.echo("\n".join(format_summary(result)))
