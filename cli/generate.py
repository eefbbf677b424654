"""``ngramkit generate``: sample text from a saved model (n-gram or RNN)."""

from __future__ import annotations

import contextlib
import itertools
import secrets

import click

from ngramkit.errors import NgramkitError
from ngramkit.fileio import atomic_path, check_writable
from ngramkit.models.sampling import MASK, Renderer
from ngramkit.progress import Task
from ngramkit.text import TextOptions, tokenize

from .common import (FiniteFloat, command_errors, echo_json, json_option, load_model, model_text_options,
                     progress_output, quiet_option)

JSON_MAX_WORDS = 1_000_000  # --json builds the whole object in memory; plain text is streamed (no limit)


def render(tokens: list[str], char_level: bool) -> str:
    """Tokens as text: ``</s>`` ends a line; words are space-separated (characters are joined)."""
    lines, line = [], []
    for tok in tokens:
        if tok == "</s>":
            lines.append(line)
            line = []
        else:
            line.append(tok)
    lines.append(line)
    sep = "" if char_level else " "
    return "\n".join(sep.join(words) for words in lines).rstrip("\n")


def render_stream(tokens, char_level: bool):
    """:func:`render`'s text in pieces, each as soon as its token is drawn (``"".join`` of them is render's)."""
    sep = "" if char_level else " "
    newlines, line_start = 0, True
    for tok in tokens:
        if tok == "</s>":
            newlines += 1  # written before the next word: render drops the trailing ones
            continue
        if newlines:
            yield "\n" * newlines
            newlines, line_start = 0, True
        yield tok if line_start else sep + tok
        line_start = False


PROGRESS_MIN_WORDS = 1_000_000  # runs this long report progress on stderr (unless -q)


@click.command(epilog="Examples:\n\n"
               "  ngramkit generate --model ptb.o5.ngk --words 40 --seed 1 --prefix 'the company said'\n\n"
               "  ngramkit generate --model ptb.o5.ngk --words 100000000 --seed 1 -o corpus.txt\n\n"
               "  ngramkit generate --model tm.ngk --temperature 0.7 --top-k 20 --json")
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Model file (native or ARPA).")
@click.option("--words", "-n", "num_words", type=click.IntRange(min=0), default=50, show_default=True,
              help="Number of tokens to generate (</s> counts as one); written as they are drawn "
                   f"(with --json: at most {JSON_MAX_WORDS:,}).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed (same seed, same text).")
@click.option("--temperature", "-t", type=FiniteFloat(min=0, min_open=True), default=1.0, show_default=True,
              help="Divide log-probabilities by T before sampling (< 1 sharper, > 1 flatter).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample only among the K most probable tokens.")
@click.option("--prefix", default=None, metavar="TEXT",
              help="Text to continue (tokenised like the training text); default: a sentence start.")
@click.option("--stop-at-eos", is_flag=True, help="Stop at the first end of sentence.")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default=None,
              help="Write the text to FILE (atomically: no file on error or interrupt) instead of stdout.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads of the n-gram sampler (default: up to 2); the text does not depend on it.")
@json_option
@quiet_option
@command_errors(memory="the model is too large for this machine's memory",
                aliases={"random_seed": "seed", "seed": "seed", "n_tokens": "words"})
def generate(model_path, num_words, seed, temperature, top_k, prefix, stop_at_eos, output, threads, as_json, quiet):
    """Sample text from a saved model (n-gram or RNN).

    Continues --prefix, or starts a sentence. The prefix is tokenised with the text options stored in the model (those
    of its training text); words it does not know become <unk>. The output
    shows the prefix followed by the sampled tokens, one sentence per line.

    An n-gram model at temperature 1 with no --prefix or --top-k samples
    exactly and fast (millions of tokens per second: whole sentences, each
    from its own random stream of --seed, on up to 2 threads); runs of
    1,000,000 words or more report progress on stderr.
    """
    if as_json and num_words > JSON_MAX_WORDS:
        raise click.BadParameter(f"at most {JSON_MAX_WORDS:,} with --json (one JSON object, built in memory); "
                                 f"without --json the words are written as they are drawn, got {num_words:,}",
                                 param_hint="'--words'")
    if as_json and output:
        raise click.BadParameter("--json writes its object to stdout; leave out --output", param_hint="'--output'")
    if output:
        check_writable(output)
    model, info = load_model(model_path)  # nothing on stderr on success: -q is accepted for uniformity
    options = model_text_options(model_path, info) or TextOptions()
    seed_tokens: list[str] = []
    if prefix:
        for i, sentence in enumerate(tokenize(prefix, options.with_(sentences=True))):
            if i:
                seed_tokens.append("</s>")
            seed_tokens.extend(sentence)
    if not hasattr(model, "iter_generate"):
        raise NgramkitError(f"{model_path}: a {type(model).__name__} cannot generate text")
    char_level = options.tokenizer == "char"
    if (not as_json and hasattr(model, "sample_ids") and temperature == 1 and top_k is None and not seed_tokens
            and not stop_at_eos and not char_level):
        _write_sampled(model, num_words, seed, threads, output, quiet)
        return
    tokens = model.iter_generate(num_words, text_seed=seed_tokens or None, random_seed=seed,
                                 temperature=temperature, top_k=top_k, stop_at_eos=stop_at_eos)
    if as_json:
        tokens = list(tokens)
        echo_json({"model_file": str(model_path), "model": getattr(model, "name", None) or type(model).__name__,
                   "prefix_tokens": seed_tokens, "generated_tokens": tokens,
                   "text": render(seed_tokens + tokens, char_level),
                   "seed": seed, "temperature": temperature, "top_k": top_k}, "generate")
        return
    pieces = render_stream(itertools.chain(seed_tokens, tokens), char_level)
    if output:
        with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(pieces)
            fh.write("\n")
        return
    for piece in pieces:
        click.echo(piece, nl=False)
    click.echo("")


def _write_sampled(model, num_words: int, seed, threads, output, quiet: bool) -> None:
    """The fast path: sentences from ``model.sample_ids``, rendered in chunks, to ``output`` or stdout.

    The text is :func:`render`'s of the same tokens followed by a newline: one
    sentence per line (a sentence cut at --words ends the last line).
    """
    if seed is None:
        seed = secrets.randbits(63)
    if seed > MASK:
        raise click.BadParameter(f"must be below 2**64 for the n-gram sampler, got {seed}", param_hint="'--seed'")
    render_chunk = Renderer(model.vocab.words)
    progress = progress_output(quiet)
    task = Task(progress, "generating", num_words, unit="tokens") if num_words >= PROGRESS_MIN_WORDS else None
    with contextlib.ExitStack() as stack:
        if output:
            tmp = stack.enter_context(atomic_path(output))
            write = stack.enter_context(open(tmp, "wb")).write
        else:  # click.echo writes bytes to the binary stdout and flushes; the group names stdout in its errors
            def write(data: bytes) -> None:
                click.echo(data, nl=False)
        ends_line = True
        for ids in model.sample_ids(num_words, seed, threads=threads):
            text = render_chunk(ids)
            if text:
                write(text)
                ends_line = text.endswith(b"\n")
            if task is not None:
                task.advance(ids.size)
        if not ends_line or num_words == 0:
            write(b"\n")
    if task is not None:
        task.finish(f" -> {output}" if output else "")
