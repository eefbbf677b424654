"""``ngramkit convert IN OUT``: a model file between ARPA (``.arpa``, ``.arpa.gz``), the native format and the
quantised compact format (``--quantize 8``, ``.ngq``: :mod:`ngramkit.compact`)."""

from __future__ import annotations

from pathlib import Path

import click

from ngramkit import modelio
from ngramkit.compact import MAX_BITS, MIN_BITS, CompactModel, quantise

from .common import command_errors, echo_json, info, json_option, quiet_option
from .pruning import limit_vocab_option, limited, vocab_words


def _format(path) -> str:
    name = str(path).lower()
    return "arpa.gz" if name.endswith(".arpa.gz") else ("arpa" if name.endswith(".arpa") else "native")


@click.command(epilog="Examples:\n\n"
               "  ngramkit convert tm.ngk tm.arpa.gz      # native to ARPA (what train -o x.arpa.gz writes)\n\n"
               "  ngramkit convert tm.arpa.gz tm2.ngk     # ARPA (ngramkit's, KenLM's lmplz, SRILM) to native\n\n"
               "  ngramkit convert tm.ngk tm.small.arpa --limit-vocab words.txt   # only those words, renormalised\n\n"
               "  ngramkit convert tm.ngk tm.ngq --quantize 8   # 8-bit quantised compact (KenLM's -q 8 -b 8)")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@limit_vocab_option("Write the model limited to the words listed in FILE (whitespace-separated; <unk>, <s>, </s> "
                    "always): n-grams with other words are dropped and every distribution renormalised over the "
                    "listed words (SRILM -limit-vocab, renormalised). N-gram models.")
@click.option("--quantize", "bits", type=click.IntRange(MIN_BITS, MAX_BITS), default=None, metavar="BITS",
              help="Write the quantised compact format (conventionally .ngq): probabilities and backoffs binned "
                   "per order into 2^BITS values as KenLM's build_binary -q BITS -b BITS does, n-grams in a "
                   f"bit-packed trie, scored as mapped. BITS {MIN_BITS}..{MAX_BITS}; 8 is KenLM's usual choice.")
@json_option
@quiet_option
@command_errors(memory="the model is too large for this machine's memory")
def convert(input_path, output_path, limit_vocab, bits, as_json, quiet):
    """Convert a model file: ARPA, .arpa.gz or native, by OUT's name.

    OUT ending in .arpa or .arpa.gz is written as ARPA text (n-gram models
    only), any other name in the native format (conventionally .ngk), which
    loads without parsing. IN is recognised by its content. The n-gram
    values are kept: native -> ARPA writes what `train ngram -o x.arpa`
    writes; ARPA -> native -> ARPA gives the same values (within ARPA's
    printed precision). OUT is written atomically. --limit-vocab FILE keeps
    only the n-grams made of FILE's words and renormalises the model over them.

    --quantize BITS writes the quantised compact format instead (any OUT
    name but ARPA; .ngq by convention). A quantised IN converts back to
    ARPA or to the native format with its dequantised values.
    """
    say = info(quiet)
    if Path(input_path).resolve() == Path(output_path).resolve():
        raise click.UsageError(f"IN and OUT are the same file ({input_path}); give another OUT")
    if bits is not None and modelio.is_arpa_path(output_path):
        raise click.UsageError(f"--quantize writes the compact format, not ARPA; name OUT e.g. "
                               f"{Path(output_path).name.split('.')[0]}.ngq ({output_path} ends in .arpa)")
    if bits is None and str(output_path).lower().endswith(".ngq"):
        raise click.UsageError(f"OUT {output_path} is named like a quantised model (.ngq): pass --quantize 8 "
                               "to write one, or name it .ngk for the native format")
    say(f"loading {input_path} ...")
    words = vocab_words(limit_vocab)
    meta = modelio.read_metadata(input_path)
    model = modelio.load_model(input_path)
    if bits is not None and isinstance(model, CompactModel):
        raise click.UsageError(f"{input_path} is already quantised ({model.bits} bits); quantise the "
                               "unquantised model instead")
    if isinstance(model, CompactModel):
        model = model.to_backoff()  # ARPA, native or a vocabulary limit: the dequantised values
    model = limited(model, words, limit_vocab, say)
    if bits is not None:
        if not hasattr(model, "to_backoff") or getattr(model, "vocab", None) is None or model.order is None:
            raise click.UsageError(f"--quantize needs an n-gram model; {input_path} is a {type(model).__name__}")
        say(f"quantising to {bits} bits ...")
        model = quantise(model, bits)
    modelio.save_model(model, output_path, info=meta.get("info") or None)
    fmt = "compact" if bits is not None else _format(output_path)
    order = getattr(model, "order", None)
    say(f"wrote {output_path} ({fmt}{f', order {order}' if order else ''})")
    if as_json:
        input_format = "arpa" if meta.get("format") == "arpa" else (
            "compact" if meta.get("class") == CompactModel.__name__ else "native")
        echo_json({"model_file": str(output_path), "input_file": str(input_path), "format": fmt,
                   "input_format": input_format, "model": (meta.get("name") if words is None else None) or "backoff",
                   "order": order, "limit_vocab": limit_vocab, "vocab_size": len(model.vocab), "quantize_bits": bits,
                   "bytes": Path(output_path).stat().st_size}, "convert")
