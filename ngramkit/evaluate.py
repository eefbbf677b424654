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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import NgramkitError
from .jsonout import jsonable
from .stream import Stream

LN10 = math.log(10.0)
LN2 = math.log(2.0)


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


def evaluate(model, stream: Stream, *, per_sentence: bool = False, allow_scores: bool = False) -> Evaluation:
    """Score ``stream`` with ``model`` and summarise as KenLM's ``query -v summary`` does.

    ``allow_scores``: evaluate a model whose scores are not probabilities
    (StupidBackoff); its "perplexity" is then not a perplexity.

    >>> from ngramkit.models import Laplace
    >>> sents = [["a", "b"], ["b", "a", "b"]]
    >>> model = Laplace(2).fit_sentences(sents)
    >>> ev = evaluate(model, model.as_stream(sents))
    >>> ev.tokens, ev.sentences, ev.oovs
    (7, 2, 0)
    """
    if not isinstance(stream, Stream):
        raise NgramkitError(f"evaluate expects a Stream, got {type(stream).__name__}")
    if not getattr(model, "is_probabilistic", True) and not allow_scores:
        raise NgramkitError(
            f"{type(model).__name__} gives scores, not probabilities: perplexity is meaningless; "
            "pass allow_scores=True (CLI: --allow-scores) to compute it anyway"
        )
    if stream.n_tokens == 0:
        raise NgramkitError("nothing to evaluate: the text has no sentences")
    if hasattr(model, "remap"):
        stream = model.remap(stream)
    lp = np.asarray(model.log_probs(stream), np.float64)  # (N,) natural log
    name = getattr(model, "name", "") or type(model).__name__
    if lp.shape == (stream.n_tokens,) and np.isnan(lp).any():
        raise NgramkitError(f"{type(model).__name__} produced NaN log-probabilities (a bug: please report it)")
    return summarize(lp, stream, per_sentence=per_sentence, model=name)


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
    lp = np.asarray(log_probs, np.float64)
    n = stream.n_tokens
    if lp.shape != (n,):
        raise NgramkitError(f"{model or 'the model'}: log_probs returned shape {lp.shape}, expected ({n},)")
    lp10 = lp / LN10
    oov = np.asarray(stream.oov, bool)
    n_oov = int(oov.sum())
    total10 = float(lp10.sum())
    total10_iv = float(lp10[~oov].sum())
    ev = Evaluation(
        tokens=n, sentences=stream.n_sentences, oovs=n_oov, zeroprobs=int(np.isneginf(lp).sum()),
        logprob10=total10, logprob=total10 * LN10,
        cross_entropy=-total10 * LN10 / LN2 / n if n else float("nan"),
        perplexity=_ppl(total10, n), perplexity_no_oov=_ppl(total10_iv, n - n_oov),
        logprob10_no_oov=total10_iv, model=model,
    )
    if per_sentence:
        sid = stream.sentence_ids()
        s = stream.n_sentences
        ev.sentence_logprob10 = np.bincount(sid, weights=lp10, minlength=s)  # -inf stays -inf, never NaN
        ev.sentence_tokens = np.diff(stream.offsets).astype(np.int64)
        ev.sentence_oovs = np.bincount(sid, weights=oov, minlength=s).astype(np.int64)
    return ev
