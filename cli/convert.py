"""``ngramkit convert IN OUT``: a model file between ARPA (``.arpa``, ``.arpa.gz``) and the native format."""

from __future__ import annotations

from pathlib import Path

import click

from ngramkit import modelio

from .common import command_errors, echo_json, info, json_option, quiet_option


def _format(path) -> str:
    name = str(path).lower()
    return "arpa.gz" if name.endswith(".arpa.gz") else ("arpa" if name.endswith(".arpa") else "native")


@click.command(epilog="Examples:\n\n"
               "  ngramkit convert tm.ngk tm.arpa.gz      # native to ARPA (what train -o x.arpa.gz writes)\n\n"
               "  ngramkit convert tm.arpa.gz tm2.ngk     # ARPA (ngramkit's, KenLM's lmplz, SRILM) to native")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@json_option
@quiet_option
@command_errors(memory="the model is too large for this machine's memory")
def convert(input_path, output_path, as_json, quiet):
    """Convert a model file: ARPA, .arpa.gz or native, by OUT's name.

    OUT ending in .arpa or .arpa.gz is written as ARPA text (n-gram models
    only), any other name in the native format (conventionally .ngk), which
    loads without parsing. IN is recognised by its content. The n-gram
    values are kept: native -> ARPA writes what `train ngram -o x.arpa`
    writes; ARPA -> native -> ARPA gives the same values (within ARPA's
    printed precision). OUT is written atomically.
    """
    say = info(quiet)
    if Path(input_path).resolve() == Path(output_path).resolve():
        raise click.UsageError(f"IN and OUT are the same file ({input_path}); give another OUT")
    say(f"loading {input_path} ...")
    meta = modelio.read_metadata(input_path)
    model = modelio.load_model(input_path)
    modelio.save_model(model, output_path, info=meta.get("info") or None)
    fmt = _format(output_path)
    order = getattr(model, "order", None)
    say(f"wrote {output_path} ({fmt}{f', order {order}' if order else ''})")
    if as_json:
        echo_json({"model_file": str(output_path), "input_file": str(input_path), "format": fmt,
                   "input_format": "arpa" if meta.get("format") == "arpa" else "native", "model": meta.get("name") or "backoff",
                   "order": order}, "convert")
