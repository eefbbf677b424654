"""``ngramkit prune MODEL --threshold T -o OUT``: entropy pruning (Stolcke 1998, SRILM's ``ngram -prune``)."""

from __future__ import annotations

from pathlib import Path

import click

from ngramkit import modelio
from ngramkit.fileio import check_writable
from ngramkit.prune import prune as prune_model

from .common import FiniteFloat, command_errors, echo_json, json_option, progress_output, quiet_option


def _per_order(values) -> dict[str, int]:
    return {str(k): int(x) for k, x in enumerate(values, 1)}


@click.command(epilog="Examples:\n\n"
               "  ngramkit prune tm.ngk --threshold 1e-6 -o tm.pruned.ngk\n\n"
               "  ngramkit prune tm.ngk -t 1e-7 -o tm.small.arpa.gz --json   # written as ARPA; MODEL may be ARPA too")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--threshold", "-t", required=True, type=FiniteFloat(min=0),
              help="Prune the n-grams whose removal raises the model's perplexity by less than this relative "
                   "amount (SRILM's -prune; e.g. 1e-8 .. 1e-6; 0 prunes nothing).")
@click.option("--min-order", type=click.IntRange(min=2), default=2, show_default=True,
              help="The lowest order pruned (SRILM's -minprune): unigrams are never pruned.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The pruned model: ARPA if it ends in .arpa or .arpa.gz, else native (.ngk). Written atomically.")
@json_option
@quiet_option
@command_errors(memory="the model is too large for this machine's memory")
def prune(model_path, threshold, min_order, output, as_json, quiet):
    """Entropy-prune an n-gram model (Stolcke 1998, SRILM's -prune).

    Removes the n-grams whose removal changes the model's relative entropy
    (KL divergence to the unpruned model) so little that its perplexity
    rises by less than --threshold (relative), each decided against the
    original model; the context of a kept longer n-gram is kept, unigrams
    are never pruned. The backoff weights are recomputed so the pruned
    model still sums to 1. MODEL: any n-gram model in backoff form (native,
    or ARPA from ngramkit, KenLM or SRILM); the text options stored with a
    native model are kept, so `ngramkit ppl` tokenises as before.
    """
    progress = progress_output(quiet)
    if Path(model_path).resolve() == Path(output).resolve():
        raise click.UsageError(f"MODEL and --output are the same file ({model_path}); give another --output")
    check_writable(output)
    progress(f"loading {model_path} ...")
    meta = modelio.read_metadata(model_path)
    model = modelio.load_model(model_path)
    progress(f"pruning (threshold {threshold:g}, orders >= {min_order}) ...")
    result = prune_model(model, threshold, min_order=min_order, say=progress)
    info = dict(meta.get("info") or {})
    info["pruned"] = {"threshold": threshold, "min_order": min_order, "from": str(model_path)}
    modelio.save_model(result.model, output, info=info)
    before, after = sum(result.sizes_before), sum(result.sizes_after)
    progress(f"wrote {output}: {after:,} of {before:,} n-grams kept; estimated entropy increase "
             f"{result.entropy_increase_bits:.3g} bits/word (perplexity +{100 * result.perplexity_increase:.3g}%)")
    if result.improper_contexts:
        click.echo(f"Warning: {result.improper_contexts} contexts have no proper backoff weight after pruning "
                   "(their backoff is set to 1e-99)", err=True)
    if as_json:
        echo_json({"model_file": str(output), "input_file": str(model_path), "threshold": threshold,
                   "min_order": min_order, "order": result.model.order,
                   "ngrams_before": _per_order(result.sizes_before), "ngrams_after": _per_order(result.sizes_after),
                   "pruned": _per_order(result.pruned),
                   "entropy_increase_bits": result.entropy_increase_bits,
                   "perplexity_increase": result.perplexity_increase,
                   "improper_contexts": result.improper_contexts}, "prune")
