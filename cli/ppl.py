"""``ngramkit ppl``: perplexity of a saved model on text (KenLM ``query -v summary``; ``--per-word``: ``query``)."""

from __future__ import annotations

import gzip
import math

import click
import numpy as np

from ngramkit import jsonout, kenlm, modelio, sources
from ngramkit.errors import InputError, NgramkitError
from ngramkit.evaluate import evaluate_chunks
from ngramkit.fastppl import summary_lines
from ngramkit.kenlm import State

from .common import (command_errors, corpus_option, echo_json, info, json_option, load_model, model_text_options,
                     SPLITS, text_options, threads_option)
from .pruning import limit_vocab_option, limited, vocab_words


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
               "  ngramkit ppl --model book.arpa.gz chapter12.txt --json\n\n"
               "  ngramkit ppl --model book.arpa.gz chapter12.txt --per-word   # KenLM query's output")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--model", "-m", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Model file (native or ARPA).")
@corpus_option
@click.option("--split", type=click.Choice(SPLITS), default="test",
              show_default=True, help="Split of the corpus to score.")
@click.option("--per-sentence", is_flag=True, help="Also give each sentence's log10 probability and perplexity.")
@click.option("--per-word", is_flag=True,
              help="Print what KenLM's query prints: word=id ngram_length log10 per token, each sentence's "
                   "total, the summary (n-gram models).")
@click.option("--allow-scores", is_flag=True,
              help="Evaluate a model whose scores are not probabilities (stupid-backoff).")
@click.option("--verify", is_flag=True,
              help="Check the whole native model file first (checksums, values, the stored scoring index); "
                   "by default a file that stores its scoring index is only mapped.")
@limit_vocab_option("Score with the model limited to the words listed in FILE (whitespace-separated; <unk>, <s>, "
                    "</s> always): n-grams with other words are dropped and every distribution renormalised over "
                    "the listed words (SRILM -limit-vocab, renormalised); other words are OOVs. N-gram models.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@threads_option
@json_option
@text_options
@command_errors(memory="the model or the text is too large for this machine's memory (split the text)")
def ppl(files, model_path, corpus_name, split, per_sentence, per_word, allow_scores, verify, limit_vocab, quiet,
        as_json, **kwargs):
    """Print a model's perplexity on text (KenLM query's summary).

    Every word and every </s> is a token, <s> is context only; OOV words are
    scored as <unk>, counted, and excluded in the "excluding OOVs" figure.
    The text is tokenised with the text options stored in the model (those
    of its training corpus) unless overridden; without FILES or --corpus,
    the --split of the model's training corpus is scored.

    --per-word prints KenLM query's output instead (n-gram models only):
    word=id ngram_length log10 for every token (ids are KenLM's: <unk> 0,
    then the unigrams in the ARPA file's order), Total: and OOV: per
    sentence, then the perplexities, OOVs and tokens.
    """
    say = info(quiet)
    if per_word:
        if limit_vocab is not None:
            raise click.UsageError("--per-word scores the model file as KenLM's query does; --limit-vocab does not "
                                   "apply (write the limited model with `ngramkit convert --limit-vocab` first)")
        if per_sentence:
            raise click.UsageError("--per-word already gives every sentence's total; drop --per-sentence")
        return _per_word(files, model_path, corpus_name, split, allow_scores, say, as_json, kwargs, verify)
    words = vocab_words(limit_vocab)
    model, stored = load_model(model_path, quiet=quiet, verify=True if verify else modelio.AUTO)
    model = limited(model, words, limit_vocab, say)
    say("reading text ...")
    source = text_to_score(model_path, stored, files, corpus_name, split, kwargs)
    label, options = source.title, source.options
    say(f"scoring {label} as it is read ...")
    # chunks of sentences, each scored before the next is read: memory stays flat whatever the text size
    ev = evaluate_chunks(model, source.chunks(model.vocab), per_sentence=per_sentence, allow_scores=allow_scores)
    if as_json:
        out = {"model_file": str(model_path), **jsonout.source_fields(source), "text_options": options.to_dict(),
               "order": getattr(model, "order", None), "limit_vocab": limit_vocab, **ev.to_dict()}
        echo_json(out, "ppl")
        return
    for line in summary_lines(model_path, ev.model, getattr(model, "order", None), label, ev):  # as the fast path
        click.echo(line)
    if per_sentence:
        click.echo("")
        click.echo("sentence  tokens  OOVs  log10 prob  perplexity")
        for i, (lp, n, o, p) in enumerate(zip(ev.sentence_logprob10.tolist(), ev.sentence_tokens.tolist(),
                                              ev.sentence_oovs.tolist(), ev.sentence_perplexity.tolist()), 1):
            click.echo(f"{i:8d}  {n:6d}  {o:4d}  {lp:10.4f}  {p:10.3f}")


# ---- --per-word: KenLM query's output ------------------------------------------------------------


def _query_model(model_path, allow_scores, verify=False):
    """(ngramkit.kenlm.Model, file metadata, KenLM word ids): the model as KenLM's API scores it.

    An RNN model is a usage error: per-word output gives n-gram lengths,
    which only n-gram models have.
    """
    meta = modelio.read_metadata(model_path)  # a missing, foreign or counts file fails here, one line
    if meta.get("kind") != "ngram":
        raise click.UsageError(f"--per-word is for n-gram models; {model_path} is a {meta.get('kind')} model "
                               "(drop --per-word for its perplexity)")
    entry = modelio.MODEL_CLASSES.get(meta.get("class", ""))
    if entry is not None and not getattr(entry.cls, "is_probabilistic", True) and not allow_scores:
        raise NgramkitError(f"{entry.cls.__name__} gives scores, not probabilities: perplexity is meaningless; "
                            "pass --allow-scores to compute it anyway")

    if verify:
        modelio.load_model(model_path, verify=True)  # kenlm.Model maps the file; --verify checks it all first
    try:
        model = kenlm.Model(model_path)
    except OSError as exc:  # kenlm.Model raises KenLM's IOError; the cause is our one-line error
        cause = exc.__cause__
        raise (cause if isinstance(cause, NgramkitError) else InputError(str(exc))) from None
    if meta.get("format") == "arpa":
        ids = _arpa_unigram_ids(model_path)
    else:
        backoff = model.backoff_model
        ids = _kenlm_ids(backoff.vocab.words[i] for i in backoff.ngrams(1)[:, 0].tolist())
    return model, meta, ids


def _kenlm_ids(unigrams) -> dict:
    """KenLM's vocabulary ids of ``unigrams`` (words in ARPA order): ``<unk>`` 0, the others 1, 2, ... in order."""
    ids, bound = {}, 1
    for word in unigrams:
        if word == "<unk>" or word in ids:
            continue
        ids[word] = bound
        bound += 1
    return ids


def _arpa_unigram_ids(path) -> dict:
    """KenLM's ids for the words of an ARPA file: numbered in the order of its 1-gram section."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open if gz else open)(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip() == "\\1-grams:":
                break

        def words():
            for line in fh:
                parts = line.split()
                if not parts or parts[0].startswith("\\"):
                    return
                if len(parts) >= 2:
                    yield parts[1]

        return _kenlm_ids(words())


def _sentence_scores(model, words):
    """[(log10, ngram_length, oov)] of ``words`` and ``</s>``, after ``<s>`` (KenLM's ``full_scores``)."""
    if not any(any(c in " \t\n\r\f\v" for c in w) for w in words):
        return list(model.full_scores(" ".join(words)))

    state, out, scores = State(), State(), []
    model.BeginSentenceWrite(state)
    for word in [*words, "</s>"]:
        r = model.BaseFullScore(state, word, out)
        scores.append((r.log_prob, r.ngram_length, r.oov))
        state, out = out, state
    return scores


def _float32(x) -> str:
    """``x`` as KenLM prints its float32 numbers: the shortest text that reads back as the same float32."""
    x = np.float32(x)
    return np.format_float_positional(x, trim="-") if np.isfinite(x) else str(float(x))


class _KenLMSums:
    """query's arithmetic, for text output that equals its own: per-word float32 values summed in float32 per
    sentence (``Total:``), sentence totals and OOV values summed in double for the perplexities."""

    def __init__(self):
        self.f32 = np.float32
        self.total = self.oov_total = 0.0

    def sentence(self, scores):
        s = self.f32(0.0)
        for lp, _, oov in scores:
            p = self.f32(lp)
            s = self.f32(s + p)
            if oov:
                self.oov_total += float(p)
        self.total += float(s)
        return s


def _ppl10(total10: float, n: int) -> float:
    if n == 0:
        return math.nan
    try:
        return 10.0 ** (-total10 / n)
    except OverflowError:
        return math.inf


def _per_word(files, model_path, corpus_name, split, allow_scores, say, as_json, overrides, verify=False):
    """``ppl --per-word``: every token's KenLM triple from :meth:`ngramkit.kenlm.Model.full_scores`."""
    model, meta, ids = _query_model(model_path, allow_scores, verify)
    say("reading text ...")
    source = text_to_score(model_path, meta.get("info") or {}, files, corpus_name, split, overrides)
    say(f"scoring {source.title} word by word ...")
    total = total_iv = 0.0
    tokens = oovs = 0
    rows, kenlm_sums, n_sentences = [], _KenLMSums(), 0
    for words in source.iter_sentences():  # read a block at a time: memory stays flat (but for --json's rows)
        n_sentences += 1
        scores = _sentence_scores(model, words)
        s_total = sum(lp for lp, _, _ in scores)
        s_oovs = sum(1 for _, _, oov in scores if oov)
        total += s_total
        total_iv += sum(lp for lp, _, oov in scores if not oov)
        tokens += len(scores)
        oovs += s_oovs
        shown = [*words, "</s>"]
        if as_json:
            rows.append({"words": shown, "ids": [0 if o else ids.get(w, 0) for w, (_, _, o) in zip(shown, scores)],
                         "ngram_lengths": [n for _, n, _ in scores], "logprob10": [lp for lp, _, _ in scores],
                         "oov": [bool(o) for _, _, o in scores], "sentence_logprob10": s_total, "oovs": s_oovs})
        else:
            line = "".join(f"{w}={0 if o else ids.get(w, 0)} {n} {_float32(lp)}\t"
                           for w, (lp, n, o) in zip(shown, scores))
            click.echo(f"{line}Total: {_float32(kenlm_sums.sentence(scores))} OOV: {s_oovs}")
    if n_sentences == 0:
        raise NgramkitError("nothing to evaluate: the text has no sentences")
    if as_json:
        ppl, ppl_no_oov = _ppl10(total, tokens), _ppl10(total_iv, tokens - oovs)
        out = {"model_file": str(model_path), **jsonout.source_fields(source),
               "text_options": source.options.to_dict(), "order": model.order,
               "model": meta.get("name") or "backoff",
               "tokens": tokens, "sentences": n_sentences, "oovs": oovs, "logprob10": total,
               "logprob10_no_oov": total_iv, "ppl": ppl, "ppl_no_oov": ppl_no_oov, "per_word": rows}
        echo_json(out, "ppl")
        return
    ppl = _ppl10(kenlm_sums.total, tokens)
    ppl_no_oov = _ppl10(kenlm_sums.total - kenlm_sums.oov_total, tokens - oovs)
    click.echo(f"Perplexity including OOVs:\t{ppl!r}")
    click.echo(f"Perplexity excluding OOVs:\t{ppl_no_oov!r}")
    click.echo(f"OOVs:\t{oovs}")
    click.echo(f"Tokens:\t{tokens}")
