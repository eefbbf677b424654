"""``ngramkit train ngram``: count n-grams, smooth them, write the model."""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path

import click

from ngramkit import jsonout, modelio, sources
from ngramkit.compact import MAX_BITS, MIN_BITS, quantise
from ngramkit.counts import NGramCounts
from ngramkit.errors import NgramkitError
from ngramkit.fileio import check_writable
from ngramkit.lm import LanguageModel
from ngramkit.models import MODELS
from ngramkit.outofcore.budget import TempSpace, check_temp_dir, format_bytes
from ngramkit.outofcore.count import count_files, in_blocks

from . import engine as engines
from .common import command_errors, corpus_option, echo_json, info as info_lines, json_option, text_options
from .count import memory_options
from .pruning import check_train_options, limit_vocab_option, prune_option

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
    return cls.to_backoff is not LanguageModel.to_backoff


def _native_name(output) -> str:
    name = str(output)
    for suffix in (".arpa.gz", ".arpa"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] + ".ngk"
    return name + ".ngk"


COUNTS_SUFFIX = ".ngc"  # a FILES argument with this extension is a counts file (`ngramkit count --output`)
# Options that say how to read text: they cannot apply to counts, which were read when counted.
_TEXT_READING = ("min_count", "max_vocab", "normalize", "tokenizer", "pattern", "sentences", "encoding", "errors")


def discount_fallback_setting(smoothing: str, discount, flag: bool | None) -> bool | None:
    """The one rule for degenerate modified Kneser-Ney discounts (``compare`` follows it too).

    mkn falls back by default (KenLM lmplz --discount_fallback's 0.5, 1, 1.5
    on the orders whose estimate is undefined; a warning names them);
    ``--no-discount-fallback`` refuses instead, as lmplz does without the
    flag. Returns the model's ``discount_fallback`` (None: not applicable).
    """
    if flag is not None:
        given = "--discount-fallback" if flag else "--no-discount-fallback"
        if smoothing != "mkn":
            raise click.UsageError(f"{given} applies only to --smoothing mkn, not {smoothing}")
        if discount is not None:
            raise click.UsageError(f"{given} has no effect with --discount (explicit discounts for every "
                                   "order); give only one of them")
        return flag
    return True if smoothing == "mkn" and discount is None else None


def counts_file(files, corpus_name) -> Path | None:
    """The counts file when FILES is one ``.ngc`` file (nothing else may be given to read), else None."""
    named = [f for f in files if Path(f).suffix.lower() == COUNTS_SUFFIX]
    if not named:
        return None
    if len(files) > 1 or corpus_name:
        raise NgramkitError(f"{named[0]}: a counts file is the whole training input; give it alone "
                            "(no other FILES, no --corpus)")
    ctx = click.get_current_context()
    given = [name for name in _TEXT_READING
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise NgramkitError(f"{option} does not apply to a counts file ({named[0]}): its text was read when it "
                            f"was counted; count again with `ngramkit count ... {option} ... --output FILE.ngc`")
    return Path(named[0])


def read_counts(path: Path, order: int):
    """(counts, info): a counts file of order >= ``order`` and how its text was read (for the model's info)."""
    counts = NGramCounts.load(path)
    if counts.order < order:
        raise NgramkitError(f"{path}: holds counts of orders 1..{counts.order}, below --order {order}; count "
                            f"orders 1..{order} (`ngramkit count ... --order {order} --output FILE.ngc`) or "
                            f"train order {counts.order} or lower")
    stored = counts.info
    info = {"corpus": stored.get("corpus"), "files": list(stored.get("files") or []),
            "text_options": stored.get("text_options"), "min_count": stored.get("min_count"), "max_vocab": None}
    return counts, info


def fit_in_budget(model, counts, memory: int, temp, say, **pruning) -> int | None:
    """Fit ``model`` on ``counts`` within ``memory`` bytes when it can estimate out of core.

    Interpolated models whose in-memory estimate would exceed the budget, or
    (unpruned) whose tables are large enough for the chunked estimate to be
    faster (above 4M n-grams), are estimated chunk by chunk in a folder under ``--temp`` (their tables map
    files there until the command ends, after the model is written); the
    others fit in memory. ``pruning``: ``prune``/``limit_vocab`` for ``fit`` (refused out of core).
    """
    if "memory" not in inspect.signature(model.fit).parameters:
        model.fit(counts)
        return
    from ngramkit.outofcore.estimate import faster_in_chunks, needs_out_of_core  # noqa: PLC0415 (only this path)

    if pruning or not (needs_out_of_core(counts, model.order, memory) or faster_in_chunks(counts, model.order)):
        model.fit(counts, memory=memory, **pruning)  # pruning out of core: fit refuses, naming the option
        return None
    space = click.get_current_context().with_resource(TempSpace(temp, prefix="ngramkit-estimate-"))
    say(f"estimating in blocks (--memory {format_bytes(memory)}) in {space.folder} ...")
    model.fit(counts, memory=memory, workdir=space.folder / "estimate")
    return sum(f.stat().st_size for f in space.folder.rglob("*") if f.is_file())


@click.command(epilog="Examples:\n\n"
               "  ngramkit train ngram --corpus ptb --order 5 --smoothing mkn -o ptb.o5.ngk\n\n"
               "  ngramkit train ngram book.txt --order 3 --smoothing kn -o book.arpa.gz\n\n"
               "  ngramkit train ngram book.txt --order 3 --smoothing lidstone --k 0.1 -o book.ngk"
               "   # no backoff (ARPA) form\n\n"
               "  ngramkit count book.txt --order 5 --output book.ngc   # count once ...\n\n"
               "  ngramkit train ngram book.ngc --order 5 --smoothing kn -o book.kn.ngk   # ... fit many\n\n"
               "  ngramkit train ngram a.txt b.txt -n 5 --engine dask --workers 2 -o ab.arpa   # on Dask")
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
@click.option("--discount-fallback/--no-discount-fallback", default=None,
              help="mkn: on orders whose estimated discounts are undefined (small or artificial data), use "
                   "KenLM lmplz --discount_fallback's D1,D2,D3+ = 0.5,1,1.5 and say so (the default, as in "
                   "`ngramkit compare`), or refuse with an error as lmplz does without the flag.")
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
@click.option("--quantize", "bits", type=click.IntRange(MIN_BITS, MAX_BITS), default=None, metavar="BITS",
              help="Write the quantised compact format (-o x.ngq; as `ngramkit convert --quantize`): values binned "
                   "into 2^BITS per order as KenLM's build_binary -q BITS -b BITS, n-grams in a bit-packed trie.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@json_option
@text_options
@memory_options
@prune_option
@limit_vocab_option("Keep only n-grams made of the words listed in FILE (whitespace-separated; <unk>, <s>, </s> "
                    "always), as KenLM lmplz --limit_vocab_file; the model's vocabulary is those words. "
                    "Interpolated smoothings only.")
@engines.engine_options
@command_errors(memory="try a smaller --order or a larger --min-count, or split the input",
                aliases={"discounts": "discount"})
def ngram(files, corpus_name, order, smoothing, k, discount, discount_fallback, epsilons, alpha, min_count,
          max_vocab, output, bits, quiet, as_json, memory, temp, prune, limit_vocab, engine, workers, scheduler,
          **kwargs):
    """Count n-grams (or read a counts file) and write a smoothed n-gram model.

    Reads FILES (or a registry corpus's training split; default: the default
    corpus), builds the vocabulary, counts n-grams of orders 1..ORDER
    (sentences padded with <s> ... </s>, never crossing sentences, as KenLM)
    and fits the chosen smoothing. FILES may instead be one counts file
    (FILE.ngc from `ngramkit count --output`, of order >= ORDER): count once,
    fit many smoothings. The corpus name and text options (those of the
    counts file) are stored in a native model file, so `ngramkit ppl` and
    `ngramkit generate` tokenise new text the same way.

    Modified Kneser-Ney's discounts are undefined on some orders of small
    texts: those orders use KenLM's fallback discounts, and the warning, the
    summary and the JSON name them (--no-discount-fallback refuses instead).

    --engine dask counts and fits on a dask.distributed cluster (--workers N:
    a local one started for the run; --scheduler: a running one) the
    interpolated smoothings, from FILES (paths or globs every worker can
    read): the same model file.
    """
    # Fail before any heavy work on bad options or an unwritable output path.
    check_writable(output)
    check_temp_dir(temp)
    fallback = discount_fallback_setting(smoothing, discount, discount_fallback)
    counts_path = counts_file(files, corpus_name)
    run = engines.choose(engine, workers, scheduler, local_only=("memory", "temp", "prune", "limit_vocab", "bits"))
    if run is not None and counts_path is not None:
        raise click.UsageError(f"--engine dask reads text, not a counts file ({counts_path})")
    model, hparams = build_model(smoothing, order,
                                 {"k": k, "discount": discount, "epsilons": epsilons, "alpha": alpha,
                                  "discount_fallback": fallback})
    pruning = check_train_options(model, smoothing, prune, limit_vocab)
    if modelio.is_arpa_path(output) and not has_arpa_form(type(model)):
        raise click.UsageError(f"--smoothing {smoothing} has no backoff (ARPA) form; "
                            f"write it in the native format (e.g. -o {_native_name(output)})")
    if bits is not None and (modelio.is_arpa_path(output) or not has_arpa_form(type(model))):
        raise click.UsageError("--quantize writes the compact format of a backoff model: "
                               + (f"name -o e.g. {Path(_native_name(output)).with_suffix('.ngq')}"
                                  if modelio.is_arpa_path(output) else f"--smoothing {smoothing} has no backoff form"))
    if bits is None and str(output).lower().endswith(".ngq"):
        raise click.UsageError(f"-o {output} is named like a quantised model (.ngq): pass --quantize 8 to write "
                               "one, or name it .ngk for the native format")
    say = info_lines(quiet)
    times = {}
    count_stats = None  # counting in blocks: its CountStats
    t0 = time.perf_counter()
    if counts_path is not None:
        say(f"reading counts {counts_path} ...")
        counts, source_info = read_counts(counts_path, order)
        label, vocab = str(counts_path), counts.vocab
        text_opts = source_info["text_options"]
        n_tokens, n_sentences = counts.n_tokens, counts.n_sentences
        source_json = {"source": label, "corpus": source_info.get("corpus"), "split": source_info.get("split"),
                       "files": list(source_info.get("files") or []), "counts_file": str(counts_path)}
        if not isinstance(text_opts, dict):
            click.echo(f"warning: {counts_path} records no text options (saved by the library without info=); "
                       "the model will not either", err=True)
        t2 = time.perf_counter()
        times["read"] = t2 - t0  # loading (memory-mapping and verifying) the counts
    else:
        source = sources.resolve(files, corpus_name, "train", kwargs)
        label, text_opts = source.label, source.options.to_dict()
        source_json = jsonout.source_fields(source)
        source_info = {"corpus": source.corpus, "files": list(source.files), "text_options": text_opts,
                       "min_count": min_count, "max_vocab": max_vocab}
        paths = None if run is not None else source.paths()
        if run is not None:  # counted, fitted and written on the cluster (cli/engine.py)
            counts, times["dask"] = engines.train(run, source, model, min_count, max_vocab, say, output,
                                                  {**source_info, "smoothing": smoothing})
            vocab, n_tokens, n_sentences = counts.vocab, counts.n_tokens, counts.n_sentences
            t2 = time.perf_counter()
        elif paths is not None and in_blocks(paths, order, source.options, memory):
            # Larger than --memory allows: counted in blocks, spilled to --temp as sorted runs, merged on disk;
            # the counts' arrays map files in the temp folder, removed when the command ends.
            space = click.get_current_context().with_resource(TempSpace(temp))
            say(f"counting n-grams of orders 1..{order} in blocks of {label} (--memory {format_bytes(memory)}) ...")
            vocab_pass = {}  # when the vocabulary pass reported its last block

            def mark(event):
                if event["stage"] == "vocabulary":
                    vocab_pass["end"] = time.perf_counter()

            counts, count_stats = count_files(paths, order, options=source.options, min_count=min_count, max_size=max_vocab,
                                    memory=memory, space=space, force=True, progress=mark)
            vocab, n_tokens, n_sentences = counts.vocab, counts.n_tokens, counts.n_sentences
            t2 = time.perf_counter()
            t1 = vocab_pass.get("end", t0)
            times["read"] = t1 - t0  # the vocabulary pass (the first blocks' counting is in "count")
            times["count"] = t2 - t1  # counting the blocks, merging the runs
        else:
            say(f"reading {label} ...")
            stream = source.stream(min_count=min_count, max_size=max_vocab)
            vocab, n_tokens, n_sentences = stream.vocab, stream.n_tokens, stream.n_sentences
            t1 = time.perf_counter()
            times["read"] = t1 - t0  # reading, tokenising, vocabulary, id stream
            say(f"counting n-grams of orders 1..{order} in {n_tokens:,} tokens ...")
            counts = NGramCounts.from_stream(stream, order)
            t2 = time.perf_counter()
            times["count"] = t2 - t1
    if run is None:
        say(f"fitting {type(model).__name__} ...")
    estimate_bytes = fit_in_budget(model, counts, memory, temp, say, **pruning) if run is None else None
    t3 = time.perf_counter()
    if run is None:
        times["fit"] = t3 - t2
    fallback_orders = list(getattr(model, "fallback_orders_", []))
    note = getattr(model, "fallback_note_", "")
    if note:  # a warning, not progress: printed with -q too
        click.echo(f"warning: {note} (--no-discount-fallback refuses instead)", err=True)
    info = {
        **source_info,
        "smoothing": smoothing,
        "train_tokens": n_tokens,
        "train_sentences": n_sentences,
    }
    if counts_path is not None:
        info["counts_file"] = str(counts_path)
    if run is None:
        say(f"writing {output} ...")
        modelio.save_model(model if bits is None else quantise(model, bits), output, info=info)
    times["write"] = time.perf_counter() - t3
    wall = time.perf_counter() - t0
    summary = {
        "model_file": str(output),
        "format": "arpa" if modelio.is_arpa_path(output) else ("native" if bits is None else "compact"),
        "quantize_bits": bits,
        "model": smoothing,
        "class": type(model).__name__,
        "order": order,
        "hparams": {key: list(v) if isinstance(v, tuple) else v for key, v in hparams.items()},
        **source_json,
        "text_options": text_opts,
        "vocab_size": len(vocab),
        "train_tokens": n_tokens,
        "train_sentences": n_sentences,
        "ngrams": {str(i): counts.distinct(i) for i in range(1, order + 1)},
        "prune": pruning.get("prune"),  # thresholds of every order (null: none)
        "limit_vocab": limit_vocab,
        "kept_ngrams": {str(i): int(model.ngrams(i).shape[0]) for i in range(1, order + 1)} if pruning else None,
        **({"engine": run.json()} if run is not None else {}),
        "memory": {"budget_bytes": memory if run is None else None,
                   "counted_in_blocks": count_stats is not None,
                   "count_runs": count_stats.runs if count_stats is not None else 0,
                   "count_temp_peak_bytes": count_stats.temp_peak if count_stats is not None else 0,
                   "estimated_in_blocks": estimate_bytes is not None,
                   "estimate_temp_bytes": estimate_bytes or 0},
        "stage_seconds": {key: round(v, 4) for key, v in times.items()},
        "wall_seconds": round(wall, 4),
    }
    fitted = getattr(model, "fitted_", {})
    if "discounts" in fitted:  # discounting models: the discounts used, one (D1, D2, D3+) per order
        summary["discounts"] = fitted["discounts"]
    if hasattr(model, "fallback_orders_"):
        summary["fallback_orders"] = fallback_orders  # orders whose discounts are the fallback ones
        summary["fallback_note"] = note or None  # the sentence the warning and compare print; null: none
    if as_json:
        echo_json(summary, "train ngram")
        return
    click.echo(f"model      {output} ({summary['format']}, {type(model).__name__}, order {order})")
    click.echo(f"source     {label}: {n_sentences:,} sentences, {n_tokens:,} tokens, "
               f"vocabulary {len(vocab):,}")
    for i in range(1, order + 1):
        kept = f"  kept {summary['kept_ngrams'][str(i)]:,}" if pruning else ""
        click.echo(f"{i}-grams    {counts.distinct(i):>12,}{kept}")
    if note:
        click.echo(f"fallback   {note}")
    used = summary["memory"]
    if used["counted_in_blocks"] or used["estimated_in_blocks"]:
        click.echo(f"memory     --memory {format_bytes(memory)}: "
                   + (f"counted in {used['count_runs']} runs per order (temp peak "
                      f"{format_bytes(used['count_temp_peak_bytes'])})" if used["counted_in_blocks"] else
                      "counted in memory")
                   + (f", estimated in blocks (temp {format_bytes(used['estimate_temp_bytes'])})"
                      if used["estimated_in_blocks"] else ", estimated in memory"))
    click.echo("time       " + ", ".join(f"{key} {v:.2f} s" for key, v in {**times, "total": wall}.items()))
