"""``ngramkit convert IN OUT``: a model file between ARPA (``.arpa``, ``.arpa.gz``) and the native format."""

from __future__ import annotations

from pathlib import Path

import click

from ngramkit import modelio

from .common import command_errors, echo_json, info, json_option, quiet_option
from .pruning import limit_vocab_option, limited, vocab_words


def _format(path) -> str:
    name = str(path).lower()
    return "arpa.gz" if name.endswith(".arpa.gz") else ("arpa" if name.endswith(".arpa") else "native")


@click.command(epilog="Examples:\n\n"
               "  ngramkit convert tm.ngk tm.arpa.gz      # native to ARPA (what train -o x.arpa.gz writes)\n\n"
               "  ngramkit convert tm.arpa.gz tm2.ngk     # ARPA (ngramkit's, KenLM's lmplz, SRILM) to native\n\n"
               "  ngramkit convert tm.ngk tm.small.arpa --limit-vocab words.txt   # only those words, renormalised")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@limit_vocab_option("Write the model limited to the words listed in FILE (whitespace-separated; <unk>, <s>, </s> "
                    "always): n-grams with other words are dropped and every distribution renormalised over the "
                    "listed words (SRILM -limit-vocab, renormalised). N-gram models.")
@json_option
@quiet_option
@command_errors(memory="the model is too large for this machine's memory")
def convert(input_path, output_path, limit_vocab, as_json, quiet):
    """Convert a model file: ARPA, .arpa.gz or native, by OUT's name.

    OUT ending in .arpa or .arpa.gz is written as ARPA text (n-gram models
    only), any other name in the native format (conventionally .ngk), which
    loads without parsing. IN is recognised by its content. The n-gram
    values are kept: native -> ARPA writes what `train ngram -o x.arpa`
    writes; ARPA -> native -> ARPA gives the same values (within ARPA's
    printed precision). OUT is written atomically. --limit-vocab FILE keeps
    only the n-grams made of FILE's words and renormalises the model over them.
    """
    say = info(quiet)
    if Path(input_path).resolve() == Path(output_path).resolve():
        raise click.UsageError(f"IN and OUT are the same file ({input_path}); give another OUT")
    say(f"loading {input_path} ...")
    words = vocab_words(limit_vocab)
    meta = modelio.read_metadata(input_path)
    model = limited(modelio.load_model(input_path), words, limit_vocab, say)
    modelio.save_model(model, output_path, info=meta.get("info") or None)
    fmt = _format(output_path)
    order = getattr(model, "order", None)
    say(f"wrote {output_path} ({fmt}{f', order {order}' if order else ''})")
    if as_json:
        echo_json({"model_file": str(output_path), "input_file": str(input_path), "format": fmt,
                   "input_format": "arpa" if meta.get("format") == "arpa" else "native", "model": (meta.get("name") if words is None else None) or "backoff",
                   "order": order, "limit_vocab": limit_vocab, "vocab_size": len(model.vocab)}, "convert")
