"""Perplexity and cross-entropy of a language model on a token stream.

Input: a model with ``log_probs(stream)`` (natural log, one value per
predicted token) and a :class:`~ngramkit.stream.Stream`. Output: an
:class:`Evaluation` holding the numbers KenLM's ``query -v summary`` prints
(and SRILM's ``ngram -ppl`` for the "excluding OOVs" figure).

Which tokens count (KenLM ``query``):

- every word and every ``</s>`` is a token (``tokens`` = words + sentences);
  ``<s>`` is context only and never scored;
- an OOV is a token whose source word is outside the model's vocabulary; it
  is scored as ``<unk>`` and counts in ``perplexity``
  (= 10 ** (-logprob10 / tokens), KenLM's "Perplexity including OOVs");
  ``perplexity_no_oov`` drops OOV tokens from both the log-probability sum
  and the token count (KenLM's "Perplexity excluding OOVs", SRILM's ``ppl``
  when the model has no ``<unk>``). OOV words still serve as ``<unk>``
  context for the following tokens, as in KenLM;
- a literal ``<unk>`` in the text is an ordinary vocabulary word, not an OOV;
- tokens with probability 0 (possible only for :class:`~ngramkit.models.MLE`)
  are counted in ``zeroprobs``; they make ``perplexity`` infinite (never NaN,
  never a crash). SRILM would drop them; ngramkit reports them.

``cross_entropy`` is in bits per token (log2 of ``perplexity``).

Streaming (flat memory, any text size): :func:`evaluate_chunks` scores an
iterable of streams (chunks of whole sentences over the model's
vocabulary) one at a time and keeps only running totals;
:func:`evaluate_sentences` batches an iterable of sentences into such
chunks and :func:`evaluate_files` reads files in blocks
(:meth:`ngramkit.sources.Source.chunks`). Each chunk is summarised exactly
as :func:`summarize` sums one stream (pairwise sums in log10, :func:`sum10`) and
the chunk sums are added with :func:`math.fsum`: a text that fits in one
chunk gives the numbers of :func:`evaluate` bit for bit; a longer one may
differ in the last bits of the sums (a different summation order, not a
less accurate one). Counts and per-sentence values never differ. Only
models that score every sentence on its own (the n-gram models) are
streamed; the RNN carries its state across sentences, so
:func:`evaluate_chunks` scores it on the whole text at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from . import sources
from .errors import NgramkitError
from .jsonout import jsonable
from .stream import Stream

LN10 = math.log(10.0)
LN2 = math.log(2.0)


def sum10(values: np.ndarray) -> float:
    """The sum of a float64 array of log10 probabilities, in one fixed order: the C pairwise sum of
    ``ngramkit._fastppl`` (numpy >= 2's order), which the fast ``ppl`` path uses too, so that both print the
    same digits whatever numpy is installed (numpy 1.x sums in another order); numpy's sum without the kernel."""
    from .native import extension  # noqa: PLC0415 - the module is cached after the first call

    kernel = extension("_fastppl")
    if kernel is None:
        return float(values.sum())
    return kernel.pairwise_sum(np.ascontiguousarray(values, np.float64))


@dataclass
class Evaluation:
    """Summary of a model on a stream (see the module docstring for which tokens count)."""

    tokens: int  # predicted tokens: words + one </s> per sentence
    sentences: int  # sentences scored
    oovs: int  # tokens whose word is outside the model's vocabulary (scored as <unk>)
    zeroprobs: int  # tokens with probability 0 (MLE only)
    logprob10: float  # sum of log10 probabilities over all tokens (KenLM's "Total")
    logprob: float  # the same sum in natural log
    cross_entropy: float  # bits per token, OOVs included
    perplexity: float  # 10 ** (-logprob10 / tokens), OOVs included
    perplexity_no_oov: float  # OOV tokens excluded from sum and count (KenLM "excluding OOVs")
    logprob10_no_oov: float  # sum of log10 probabilities of in-vocabulary tokens
    model: str = ""  # model name (e.g. "mkn")
    # Per-sentence arrays, only with per_sentence=True: (S,) each.
    sentence_logprob10: np.ndarray | None = field(default=None, repr=False)
    sentence_tokens: np.ndarray | None = field(default=None, repr=False)
    sentence_oovs: np.ndarray | None = field(default=None, repr=False)

    @property
    def sentence_perplexity(self) -> np.ndarray | None:
        """(S,) perplexity of every sentence (its </s> included), or None."""
        if self.sentence_logprob10 is None:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            return np.power(10.0, -self.sentence_logprob10 / self.sentence_tokens)

    def to_dict(self) -> dict:
        """The numbers under the CLI's JSON names (README "JSON output"), JSON-ready by :mod:`ngramkit.jsonout`.

        ``ppl``/``ppl_no_oov`` are :attr:`perplexity`/:attr:`perplexity_no_oov`,
        ``bits_per_token`` is :attr:`cross_entropy`; an infinite value is null
        with a ``<key>_nonfinite`` companion ("inf"). Per-sentence values come
        as lists under ``per_sentence``.
        """
        out = {
            "model": self.model, "tokens": self.tokens, "sentences": self.sentences, "oovs": self.oovs,
            "zeroprobs": self.zeroprobs, "logprob10": self.logprob10, "logprob": self.logprob,
            "bits_per_token": self.cross_entropy, "ppl": self.perplexity,
            "ppl_no_oov": self.perplexity_no_oov, "logprob10_no_oov": self.logprob10_no_oov,
        }
        if self.sentence_logprob10 is not None:
            out["per_sentence"] = {
                "logprob10": self.sentence_logprob10, "tokens": self.sentence_tokens,
                "oovs": self.sentence_oovs, "ppl": self.sentence_perplexity,
            }
        return jsonable(out)


def _ppl(logprob10: float, n: int) -> float:
    if n == 0:
        return float("nan")
    with np.errstate(over="ignore"):
        return float(np.power(10.0, -logprob10 / n))


def perplexity_of(mean_log_prob: float) -> float:
    """Perplexity from the mean natural-log probability per token: ``exp(-mean)``, inf when it overflows.

    >>> perplexity_of(-math.log(4.0))
    4.0
    """
    try:
        return math.exp(-mean_log_prob)
    except OverflowError:
        return math.inf


def _check_probabilistic(model, allow_scores: bool) -> None:
    if not getattr(model, "is_probabilistic", True) and not allow_scores:
        raise NgramkitError(
            f"{type(model).__name__} gives scores, not probabilities: perplexity is meaningless; "
            "pass allow_scores=True (CLI: --allow-scores) to compute it anyway"
        )


def _model_name(model) -> str:
    return getattr(model, "name", "") or type(model).__name__


def _score(model, stream: Stream) -> tuple[np.ndarray, Stream]:
    """((N,) natural-log probabilities, the stream over the model's vocabulary) of one stream or chunk."""
    if hasattr(model, "remap"):
        stream = model.remap(stream)
    lp = np.asarray(model.log_probs(stream), np.float64)  # (N,) natural log
    if lp.shape == (stream.n_tokens,) and np.isnan(lp).any():
        raise NgramkitError(f"{type(model).__name__} produced NaN log-probabilities (a bug: please report it)")
    return lp, stream


def evaluate(model, stream: Stream, *, per_sentence: bool = False, allow_scores: bool = False) -> Evaluation:
    """Score ``stream`` with ``model`` and summarise as KenLM's ``query -v summary`` does.

    ``allow_scores``: evaluate a model whose scores are not probabilities
    (StupidBackoff); its "perplexity" is then not a perplexity. For text
    too large to hold as one stream, :func:`evaluate_chunks`,
    :func:`evaluate_sentences` and :func:`evaluate_files` stream it.

    >>> from ngramkit.models import Laplace
    >>> sents = [["a", "b"], ["b", "a", "b"]]
    >>> model = Laplace(2).fit_sentences(sents)
    >>> ev = evaluate(model, model.as_stream(sents))
    >>> ev.tokens, ev.sentences, ev.oovs
    (7, 2, 0)
    """
    if not isinstance(stream, Stream):
        raise NgramkitError(f"evaluate expects a Stream, got {type(stream).__name__}")
    _check_probabilistic(model, allow_scores)
    if stream.n_tokens == 0:
        raise NgramkitError("nothing to evaluate: the text has no sentences")
    lp, stream = _score(model, stream)
    return summarize(lp, stream, per_sentence=per_sentence, model=_model_name(model))


def summarize(log_probs, stream: Stream, *, per_sentence: bool = False, model: str = "") -> Evaluation:
    """The :class:`Evaluation` of (N,) natural-log probabilities of the N predicted tokens of ``stream``.

    The arithmetic behind :func:`evaluate`, for callers that already hold
    the log-probabilities (``ngramkit compare`` scores every model once and
    mixes them): sums in log10 and ``10 ** (-sum / N)``, as KenLM does, so
    both give the same numbers bit for bit. ``stream.oov`` marks the OOVs.

    >>> import numpy as np
    >>> from ngramkit.vocab import Vocabulary
    >>> st = Stream.from_sentences([["a", "b"]], Vocabulary.build([["a", "b"]]))
    >>> ev = summarize(np.log([0.5, 0.25, 0.125]), st)  # a, b, </s>
    >>> round(ev.perplexity, 12), round(ev.cross_entropy, 12)
    (4.0, 2.0)
    """
    totals = Totals(per_sentence=per_sentence, model=model)
    totals.add(log_probs, stream)
    return totals.result()


class Totals:
    """The running sums behind :func:`summarize`, added one stream (chunk of sentences) at a time.

    Holds a few numbers per chunk (and, with ``per_sentence``, three per
    sentence), never the tokens. :meth:`result` gives the
    :class:`Evaluation`; after one :meth:`add` it is :func:`summarize`'s,
    bit for bit.
    """

    def __init__(self, *, per_sentence: bool = False, model: str = ""):
        self.model = model
        self.per_sentence = per_sentence
        self.tokens = self.sentences = self.oovs = self.zeroprobs = 0
        self._sums10: list[float] = []  # per chunk: sum of log10 probabilities (sum10)
        self._sums10_iv: list[float] = []  # the same over in-vocabulary tokens
        self._sentence_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, log_probs, stream: Stream) -> None:
        """Add (N,) natural-log probabilities of the N predicted tokens of ``stream``."""
        lp = np.asarray(log_probs, np.float64)
        n = stream.n_tokens
        if lp.shape != (n,):
            raise NgramkitError(f"{self.model or 'the model'}: log_probs returned shape {lp.shape}, expected ({n},)")
        lp10 = lp / LN10
        oov = np.asarray(stream.oov, bool)
        self.tokens += n
        self.sentences += stream.n_sentences
        self.oovs += int(oov.sum())
        self.zeroprobs += int(np.isneginf(lp).sum())
        self._sums10.append(sum10(lp10))
        self._sums10_iv.append(sum10(lp10[~oov]))
        if self.per_sentence:
            sid = stream.sentence_ids()
            s = stream.n_sentences
            self._sentence_parts.append((
                np.bincount(sid, weights=lp10, minlength=s),  # -inf stays -inf, never NaN
                np.diff(stream.offsets).astype(np.int64),
                np.bincount(sid, weights=oov, minlength=s).astype(np.int64),
            ))

    @staticmethod
    def _sum(parts: list[float]) -> float:
        return parts[0] if len(parts) == 1 else math.fsum(parts)  # one chunk: its own sum, bit for bit (and -0.0)

    def result(self) -> Evaluation:
        n, n_oov = self.tokens, self.oovs
        total10 = self._sum(self._sums10) if self._sums10 else 0.0
        total10_iv = self._sum(self._sums10_iv) if self._sums10_iv else 0.0
        ev = Evaluation(
            tokens=n, sentences=self.sentences, oovs=n_oov, zeroprobs=self.zeroprobs,
            logprob10=total10, logprob=total10 * LN10,
            cross_entropy=-total10 * LN10 / LN2 / n if n else float("nan"),
            perplexity=_ppl(total10, n), perplexity_no_oov=_ppl(total10_iv, n - n_oov),
            logprob10_no_oov=total10_iv, model=self.model,
        )
        if self.per_sentence:
            parts = self._sentence_parts
            ev.sentence_logprob10 = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
            ev.sentence_tokens = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
            ev.sentence_oovs = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
        return ev


# ---- streaming: chunks of sentences, flat memory ---------------------------------------------------

CHUNK_TOKENS = 1 << 20  # tokens per chunk of evaluate_sentences (about 35 MB of transient arrays)


def _concat(streams: list[Stream]) -> Stream:
    """One stream of several over the same vocabulary (for models that carry state across sentences)."""
    if len(streams) == 1:
        return streams[0]
    offsets = [streams[0].offsets]
    base = int(streams[0].offsets[-1])
    for st in streams[1:]:
        offsets.append(st.offsets[1:] + base)
        base += int(st.offsets[-1])
    return Stream(np.concatenate([st.ids for st in streams]), np.concatenate(offsets),
                  np.concatenate([st.oov for st in streams]), streams[0].vocab)


def evaluate_chunks(model, chunks: Iterable[Stream], *, per_sentence: bool = False,
                    allow_scores: bool = False) -> Evaluation:
    """:func:`evaluate` of the concatenation of ``chunks`` (streams of whole sentences), one chunk at a time.

    Memory stays flat whatever the number of chunks: each chunk is scored
    and summed (:class:`Totals`) before the next is read. A model that
    carries state across sentences (``scores_sentences_alone`` False: the
    RNN) gets the chunks joined and scored at once, as :func:`evaluate`
    would. The numbers: see the module docstring.

    >>> from ngramkit.models import Laplace
    >>> sents = [["a", "b"], ["b", "a", "b"]]
    >>> model = Laplace(2).fit_sentences(sents)
    >>> ev = evaluate_chunks(model, (model.as_stream([s]) for s in sents))
    >>> whole = evaluate(model, model.as_stream(sents)).perplexity  # summed in another order: the last bits may differ
    >>> (ev.tokens, ev.sentences) == (7, 2), abs(ev.perplexity / whole - 1) < 1e-12
    (True, True)
    """
    _check_probabilistic(model, allow_scores)
    if isinstance(chunks, Stream):
        chunks = [chunks]
    if not getattr(model, "scores_sentences_alone", False):
        chunks = list(chunks)
        for chunk in chunks:
            if not isinstance(chunk, Stream):
                raise NgramkitError(f"evaluate_chunks expects streams, got {type(chunk).__name__}")
        chunks = [_concat(chunks)] if chunks else []
    totals = Totals(per_sentence=per_sentence, model=_model_name(model))
    for chunk in chunks:
        if not isinstance(chunk, Stream):
            raise NgramkitError(f"evaluate_chunks expects streams, got {type(chunk).__name__}")
        if chunk.n_tokens == 0:
            continue
        lp, chunk = _score(model, chunk)
        totals.add(lp, chunk)
    if totals.tokens == 0:
        raise NgramkitError("nothing to evaluate: the text has no sentences")
    return totals.result()


def sentence_chunks(model, sentences, chunk_tokens: int = CHUNK_TOKENS):
    """Streams over ``model``'s vocabulary of consecutive ``sentences`` (lists of token strings), each of
    at least ``chunk_tokens`` tokens but the last; the sentences are read lazily, one chunk at a time."""
    if isinstance(sentences, (str, bytes)):
        raise NgramkitError("text must be sentences (lists of token strings), got a string")
    if chunk_tokens < 1:
        raise NgramkitError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    batch, size = [], 0
    for sentence in sentences:
        batch.append(sentence)
        size += len(sentence) + 1
        if size >= chunk_tokens:
            yield model.as_stream(batch)
            batch, size = [], 0
    if batch:
        yield model.as_stream(batch)


def evaluate_sentences(model, sentences, *, per_sentence: bool = False, allow_scores: bool = False,
                       chunk_tokens: int = CHUNK_TOKENS) -> Evaluation:
    """:func:`evaluate` of an iterable of sentences (lists of token strings, e.g. a generator), in flat memory.

    The sentences are read and scored ``chunk_tokens`` tokens at a time
    (:func:`sentence_chunks`, :func:`evaluate_chunks`).

    >>> from ngramkit.models import Laplace
    >>> model = Laplace(2).fit_sentences([["a", "b"], ["b", "a", "b"]])
    >>> evaluate_sentences(model, (line.split() for line in ["a b", "b a b"]), chunk_tokens=2).tokens
    7
    """
    return evaluate_chunks(model, sentence_chunks(model, sentences, chunk_tokens), per_sentence=per_sentence,
                           allow_scores=allow_scores)


def evaluate_files(model, files, options=None, *, per_sentence: bool = False, allow_scores: bool = False,
                   chunk_bytes: int | None = None) -> Evaluation:
    """:func:`evaluate` of text files (paths, ``-`` for stdin), read in blocks of ``chunk_bytes``, in flat memory.

    ``options``: the :class:`~ngramkit.text.TextOptions` to tokenise with
    (default ``TextOptions()``; give the model's training options). Which
    inputs are read block by block: :meth:`ngramkit.sources.Source.chunks`.
    """
    paths = [files] if isinstance(files, (str, bytes)) or hasattr(files, "__fspath__") else list(files)
    if not paths:
        raise NgramkitError("no input files given")
    source = sources.resolve(paths, overrides=options)
    vocab = getattr(model, "vocab", None)
    if vocab is None:
        raise NgramkitError(f"{type(model).__name__} is not fitted: it has no vocabulary to read text with")
    return evaluate_chunks(model, source.chunks(vocab, chunk_bytes or sources.CHUNK_BYTES), per_sentence=per_sentence,
                           allow_scores=allow_scores)
