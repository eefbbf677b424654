"""``ngramkit ppl``: perplexity of a saved model on text (KenLM ``query -v summary``)."""

from __future__ import annotations

import click

from ngramkit import jsonout, sources
from ngramkit.errors import NgramkitError
from ngramkit.evaluate import evaluate

from .common import (command_errors, corpus_option, echo_json, info, json_option, load_model, model_text_options,
                     SPLITS, text_options, threads_option)


def text_to_score(model_path, info: dict, files, corpus_name, split: str, overrides) -> sources.Source:
    """The text to score, tokenised as the model's training text.

    Text options default to those stored in the model file (then to the
    corpus's defaults) and explicit options override them. With neither
    FILES nor --corpus, the split of the corpus the model was trained on.
    """
    if not files and not corpus_name:
        corpus_name = info.get("corpus")
        if not corpus_name:
            raise NgramkitError(
                f"{model_path}: the model records no registry corpus (trained on files, or an ARPA file); "
                "give FILES or --corpus NAME"
            )
    return sources.resolve(files, corpus_name, split, overrides, base=model_text_options(model_path, info))


@click.command(epilog="Examples:\n\n"
               "  ngramkit ppl --model ptb.o5.ngk --corpus ptb --split test\n\n"
               "  ngramkit ppl --model book.arpa.gz chapter12.txt --json")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Model file (native or ARPA).")
@corpus_option
@click.option("--split", type=click.Choice(SPLITS), default="test",
              show_default=True, help="Split of the corpus to score.")
@click.option("--per-sentence", is_flag=True, help="Also give each sentence's log10 probability and perplexity.")
@click.option("--allow-scores", is_flag=True,
              help="Evaluate a model whose scores are not probabilities (stupid-backoff).")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@threads_option
@json_option
@text_options
@command_errors(memory="the model or the text is too large for this machine's memory (split the text)")
def ppl(files, model_path, corpus_name, split, per_sentence, allow_scores, quiet, as_json, **kwargs):
    """Print a model's perplexity on text (KenLM query's summary).

    Every word and every </s> is a token, <s> is context only; OOV words are
    scored as <unk>, counted, and excluded in the "excluding OOVs" figure.
    The text is tokenised with the text options stored in the model (those
    of its training corpus) unless overridden; without FILES or --corpus,
    the --split of the model's training corpus is scored.
    """
    say = info(quiet)
    model, stored = load_model(model_path, quiet=quiet)
    say("reading text ...")
    source = text_to_score(model_path, stored, files, corpus_name, split, kwargs)
    label, options = source.title, source.options
    stream = source.stream(model.vocab)
    say(f"scoring {label}: {stream.n_tokens:,} tokens ...")
    ev = evaluate(model, stream, per_sentence=per_sentence, allow_scores=allow_scores)
    if as_json:
        out = {"model_file": str(model_path), **jsonout.source_fields(source), "text_options": options.to_dict(),
               "order": getattr(model, "order", None), **ev.to_dict()}
        echo_json(out, "ppl")
        return
    order = getattr(model, "order", None)
    click.echo(f"model                    {model_path} ({ev.model}{f', order {order}' if order else ''})")
    click.echo(f"text                     {label}")
    click.echo(f"sentences                {ev.sentences:,}")
    click.echo(f"tokens                   {ev.tokens:,}  (words + </s>)")
    click.echo(f"OOVs                     {ev.oovs:,}")
    if ev.zeroprobs:
        click.echo(f"zero-probability tokens  {ev.zeroprobs:,}")
    click.echo(f"log10 prob (total)       {ev.logprob10:.4f}")
    click.echo(f"cross-entropy            {ev.cross_entropy:.4f} bits/token")
    click.echo(f"perplexity (incl. OOVs)  {ev.perplexity:.4f}")
    click.echo(f"perplexity (excl. OOVs)  {ev.perplexity_no_oov:.4f}")
    if per_sentence:
        click.echo("")
        click.echo("sentence  tokens  OOVs  log10 prob  perplexity")
        for i, (lp, n, o, p) in enumerate(zip(ev.sentence_logprob10.tolist(), ev.sentence_tokens.tolist(),
                                              ev.sentence_oovs.tolist(), ev.sentence_perplexity.tolist()), 1):
            click.echo(f"{i:8d}  {n:6d}  {o:4d}  {lp:10.4f}  {p:10.3f}")
