"""``ngramkit generate``: sample text from a saved model (n-gram or RNN)."""

from __future__ import annotations

import click

from ngramkit.errors import NgramkitError
from ngramkit.text import TextOptions, tokenize

from .common import echo_json, json_option, load_model, model_text_options, quiet_option


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


@click.command(epilog="Examples:\n\n"
               "  ngramkit generate --model ptb.o5.ngk --words 40 --seed 1 --prefix 'the company said'\n\n"
               "  ngramkit generate --model tm.ngk --temperature 0.7 --top-k 20 --json")
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Model file (native or ARPA).")
@click.option("--words", "-n", "num_words", type=click.IntRange(min=0), default=50, show_default=True,
              help="Number of tokens to generate (</s> counts as one).")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same text).")
@click.option("--temperature", "-t", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Divide log-probabilities by T before sampling (< 1 sharper, > 1 flatter).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample only among the K most probable tokens.")
@click.option("--prefix", default=None, metavar="TEXT",
              help="Text to continue (tokenised like the training text); default: a sentence start.")
@click.option("--stop-at-eos", is_flag=True, help="Stop at the first end of sentence.")
@json_option
@quiet_option
def generate(model_path, num_words, seed, temperature, top_k, prefix, stop_at_eos, as_json, quiet):
    """Sample text from a saved model (n-gram or RNN).

    Continues --prefix, or starts a sentence. The prefix is tokenised with the text options stored in the model (those
    of its training text); words it does not know become <unk>. The output
    shows the prefix followed by the sampled tokens, one sentence per line.
    """
    model, info = load_model(model_path)  # nothing on stderr on success: -q is accepted for uniformity
    options = model_text_options(model_path, info) or TextOptions()
    seed_tokens: list[str] = []
    if prefix:
        for i, sentence in enumerate(tokenize(prefix, options.with_(sentences=True))):
            if i:
                seed_tokens.append("</s>")
            seed_tokens.extend(sentence)
    if not hasattr(model, "generate"):
        raise NgramkitError(f"{model_path}: a {type(model).__name__} cannot generate text")
    tokens = model.generate(num_words, text_seed=seed_tokens or None, random_seed=seed,
                            temperature=temperature, top_k=top_k, stop_at_eos=stop_at_eos)
    char_level = options.tokenizer == "char"
    if as_json:
        echo_json({"model_file": str(model_path), "model": getattr(model, "name", None) or type(model).__name__,
                   "prefix_tokens": seed_tokens, "generated_tokens": tokens,
                   "text": render(seed_tokens + tokens, char_level),
                   "seed": seed, "temperature": temperature, "top_k": top_k}, "generate")
        return
    click.echo(render(seed_tokens + tokens, char_level))
