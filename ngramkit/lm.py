"""The one scoring contract every language model implements -- n-gram and RNN alike -- and the conveniences built on it.

Input: a fitted model and token ids (a :class:`~ngramkit.stream.Stream`, or a
context as a list of ids). Output:

- ``log_probs(stream)``: (N,) float64 natural-log probability of every
  predicted token of the stream -- every word and every ``</s>``, never
  ``<s>``. The n-gram context restarts at each sentence with ``<s>`` (KenLM
  ``query`` convention): the first word of a sentence is scored given ``<s>``.
- ``next_log_probs(context_ids)``: (V,) float64 natural-log distribution of
  the next token over all vocabulary ids. ``<s>`` and ``<pad>`` get ``-inf``
  (never predicted); ``<unk>`` is an ordinary word; the rest sums to 1
  (except for :class:`~ngramkit.models.StupidBackoff`, whose scores are not
  probabilities). The context is used as given: pass ``<s>`` first for a
  sentence start; an empty context gives the lowest-order distribution.

Everything else -- ``score``, ``logscore`` (log2, as nltk.lm), ``perplexity``,
``entropy``, ``generate`` -- is written once here, as in nltk.lm's
``LanguageModel`` base class. ``score``/``logscore`` take one word (a word
with whitespace that the vocabulary does not hold is an error, not
P(``<unk>``)); ``perplexity``/``entropy`` take sentences, a Stream, or
nltk.lm's form (n-gram tuples, padded by the caller).

Stream vocabulary: if a stream was built with another vocabulary than the
model's, its ids are remapped through the words (words the model does not
know become ``<unk>`` and count as OOVs).
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import numpy as np

from .counts import NGramCounts, check_order
from .errors import NgramkitError, ParameterError
from .evaluate import evaluate
from .stream import Stream
from .vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

__all__ = ["LanguageModel", "generation_rng", "sample_next"]


def generation_rng(num_words, temperature, top_k, random_seed) -> np.random.Generator:
    """Check ``generate``'s arguments (:class:`ParameterError`) and return its random generator.

    ``num_words`` may be None (no limit: :meth:`LanguageModel.iter_generate`).
    """
    if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, (int, np.integer))
                                  or num_words < 0):
        raise ParameterError("num_words", f"must be an integer >= 0, got {num_words!r}")
    if isinstance(temperature, bool) or not (isinstance(temperature, (int, float, np.integer, np.floating))
                                             and math.isfinite(temperature) and temperature > 0):
        raise ParameterError("temperature", f"must be a finite number > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ParameterError("top_k", f"must be an integer >= 1 or None, got {top_k!r}")
    if isinstance(random_seed, np.random.Generator):
        return random_seed
    if random_seed is not None and (isinstance(random_seed, bool) or not isinstance(random_seed, (int, np.integer))
                                    or random_seed < 0):
        raise ParameterError("random_seed", f"must be an integer >= 0, a numpy Generator or None, "
                                            f"got {random_seed!r}")
    return np.random.default_rng(random_seed)


def sample_next(log_probs, rng: np.random.Generator, temperature: float, top_k: int | None) -> int:
    """Draw one word id from a (V,) natural-log distribution divided by ``temperature``, cut to its ``top_k``.

    ``<s>`` and ``<pad>`` are never drawn.
    """
    lp = np.asarray(log_probs, np.float64) / temperature
    lp[BOS_ID] = -np.inf
    if PAD_ID < lp.size:
        lp[PAD_ID] = -np.inf
    if top_k is not None and top_k < lp.size:
        cut = np.partition(lp, lp.size - top_k)[lp.size - top_k]
        lp = np.where(lp >= cut, lp, -np.inf)
    finite = np.isfinite(lp)
    if not finite.any():
        raise NgramkitError("cannot generate: every next token has probability 0 after this context")
    p = np.exp(lp - lp[finite].max())
    p /= p.sum()
    return int(rng.choice(p.size, p=p))


class LanguageModel(abc.ABC):
    """Abstract n-gram/neural language model: subclasses supply ``log_probs`` and ``next_log_probs``.

    Attributes: ``order`` (the n-gram order, context = ``order - 1`` tokens;
    ``None`` for a model whose context is the whole history, such as
    :class:`~ngramkit.rnn.RNNLM`, which also overrides ``generate``),
    ``vocab`` (:class:`~ngramkit.vocab.Vocabulary`, set by ``fit``),
    ``name`` (short registry name, e.g. ``"mkn"``), ``is_probabilistic``
    (False only for scores that do not sum to 1), ``scores_sentences_alone``
    (True when a sentence's scores do not depend on the sentences before it,
    so text can be scored in chunks: :func:`~ngramkit.evaluate.evaluate_chunks`).
    """

    name: ClassVar[str] = ""
    is_probabilistic: ClassVar[bool] = True
    scores_sentences_alone: ClassVar[bool] = True

    def __init__(self, order: int):
        self.order = check_order(order)
        self.vocab: Vocabulary | None = None

    # ---- what subclasses implement ----------------------------------------------------------
    def fit(self, counts: NGramCounts) -> LanguageModel:
        """Estimate from n-gram counts (of at least ``order`` orders); returns ``self``."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fitted from counts")

    @abc.abstractmethod
    def log_probs(self, stream: Stream) -> np.ndarray:
        """(N,) float64 natural-log probability of every predicted token of ``stream``."""

    @abc.abstractmethod
    def next_log_probs(self, context_ids) -> np.ndarray:
        """(V,) float64 natural-log distribution of the token following ``context_ids``."""

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, arrays): JSON-able hyper-parameters and the numpy arrays that define the model."""
        raise NotImplementedError(f"{type(self).__name__} has no saveable state")

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], vocab: Vocabulary) -> LanguageModel:
        """Rebuild a model from :meth:`get_state` output (arrays may be read-only memory maps)."""
        raise NotImplementedError(f"{cls.__name__} cannot be loaded from state")

    def to_backoff(self):
        """This model as a :class:`~ngramkit.models.BackoffModel` (ARPA form), if it has one."""
        raise NgramkitError(
            f"{type(self).__name__} ({self.name}) has no backoff (ARPA) form; "
            "save it in the native format instead (a path not ending in .arpa)"
        )

    # ---- construction helpers ---------------------------------------------------------------
    def fit_sentences(self, sentences, vocab: Vocabulary | None = None, **vocab_kw) -> LanguageModel:
        """Count ``sentences`` (lists of token strings) and fit; the vocabulary is built if not given."""
        vocab = vocab if vocab is not None else Vocabulary.build(sentences, **vocab_kw)
        return self.fit(NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), self.order))

    def _check_fitted(self) -> None:
        if self.vocab is None:
            raise NgramkitError(f"{type(self).__name__} is not fitted: call .fit(counts) or .fit_sentences(...) first")

    def _check_counts(self, counts: NGramCounts) -> None:
        if not isinstance(counts, NGramCounts):
            raise NgramkitError(f"fit expects NGramCounts, got {type(counts).__name__}")
        if counts.order < self.order:
            raise NgramkitError(
                f"{type(self).__name__}(order={self.order}) needs counts of orders 1..{self.order}, "
                f"got 1..{counts.order}; count with order >= {self.order}"
            )
        if counts.n_tokens == 0:
            raise NgramkitError("cannot fit a language model on empty text (0 tokens counted)")

    # ---- streams and words ------------------------------------------------------------------
    def as_stream(self, text) -> Stream:
        """A stream over this model's vocabulary: from sentences of strings, or a stream (remapped)."""
        self._check_fitted()
        if isinstance(text, Stream):
            return self.remap(text)
        if isinstance(text, (str, bytes)):
            raise NgramkitError("text must be a list of sentences (lists of token strings) or a Stream, got a string")
        sentences = [list(s) for s in text]
        for s in sentences:
            if any(not isinstance(w, str) for w in s):
                raise NgramkitError("text must be a list of sentences of token strings")
        return Stream.from_sentences(sentences, self.vocab)

    def remap(self, stream: Stream) -> Stream:
        """``stream`` with ids of this model's vocabulary (identity when the vocabularies agree)."""
        self._check_fitted()
        if stream.vocab is self.vocab or stream.vocab == self.vocab:
            return stream
        table = self.vocab.lookup(stream.vocab.words)  # (V_stream,) model id of each stream id
        ids = table[stream.ids]
        known = np.asarray([w in self.vocab.index for w in stream.vocab.words], bool)
        oov = stream.oov | ~known[stream.ids]
        return Stream(ids.astype(np.int32), stream.offsets, oov, self.vocab)

    def _context_ids(self, context) -> list[int]:
        if context is None:
            return []
        if isinstance(context, str):
            raise NgramkitError("context must be a sequence of words, got a string (wrap it in a list)")
        return [self.vocab.id(w) if isinstance(w, str) else int(w) for w in context]

    # ---- nltk.lm-style conveniences -----------------------------------------------------------
    def score(self, word: str, context=None) -> float:
        """P(word | context) (a probability; a score for StupidBackoff). ``context``: words, oldest first.

        ``word`` is one word: a string with whitespace that is not in the
        vocabulary (a sentence, KenLM's habit) is an error, not P(``<unk>``).
        """
        return float(math.exp(self.logscore(word, context) * math.log(2.0)))

    def logscore(self, word: str, context=None) -> float:
        """log2 P(word | context), as nltk.lm's ``logscore`` (``-inf`` for impossible events)."""
        self._check_fitted()
        if isinstance(word, str) and word not in self.vocab.index and any(ch.isspace() for ch in word):
            shown = repr(word) if len(word) <= 40 else repr(word[:37] + "...")
            raise NgramkitError(
                f"score/logscore take one word, got {shown} (it contains whitespace); to score a sentence use "
                "ngramkit.evaluate.evaluate(model, model.as_stream([sentence.split()])) or "
                "model.perplexity([sentence.split()]); KenLM's score(sentence, bos, eos) is "
                "ngramkit.kenlm.Model(path).score(sentence) on a saved model"
            )
        lp = self.next_log_probs(self._context_ids(context))
        wid = self.vocab.id(word) if isinstance(word, str) else int(word)
        return float(lp[wid] / math.log(2.0))

    def entropy(self, text) -> float:
        """Cross-entropy in bits per predicted token (words and ``</s>``) of ``text``.

        ``text`` as for :meth:`perplexity`; n-gram tuples give nltk.lm's
        ``entropy``: ``-mean(logscore(g[-1], g[:-1]))``.
        """
        text, grams = self._nltk_ngrams(text)
        if grams is not None:
            return self._ngram_entropy(grams)
        return evaluate(self, self.as_stream(text), allow_scores=True).cross_entropy

    def perplexity(self, text) -> float:
        """Perplexity of ``text``, OOV tokens included (KenLM/SRILM).

        ``text`` is sentences (lists of token strings; each gets ``<s>`` as
        context and ``</s>`` predicted) or a Stream -- or nltk.lm's form, an
        iterable of n-gram *tuples* the caller has padded, e.g.
        ``[g for s in sents for g in ngrams(pad_both_ends(s, n=2), 2)]``.
        For those, as nltk.lm's ``perplexity``: ``2 ** -mean(logscore(g[-1],
        g[:-1]))`` over the tuples, so it equals nltk.lm's number wherever the
        models agree (README: nltk's Laplace counts ``<s>`` in ``|V|``).
        Tuples are n-grams, lists are sentences.

        >>> from ngramkit.models import MLE
        >>> m = MLE(2).fit_sentences([["a", "b"], ["b", "a", "b"]])
        >>> round(m.perplexity([["a", "b"]]), 6)  # (P(a|<s>) P(b|a) P(</s>|b)) ** (-1/3) = (1/2 * 1 * 2/3) ** (-1/3)
        1.44225
        >>> round(m.perplexity([("<s>", "a"), ("a", "b"), ("b", "</s>")]), 6)  # nltk.lm's form, same events
        1.44225
        """
        text, grams = self._nltk_ngrams(text)
        if grams is not None:
            if not self.is_probabilistic:
                raise NgramkitError(f"{type(self).__name__} gives scores, not probabilities: perplexity is meaningless")
            return float(2.0 ** self._ngram_entropy(grams))
        return evaluate(self, self.as_stream(text)).perplexity

    def _nltk_ngrams(self, text):
        """(text, n-gram tuples or None): nltk.lm's form is recognised by its tuples (a generator is read once)."""
        self._check_fitted()
        if isinstance(text, (Stream, str, bytes)):
            return text, None
        items = list(text)
        tuples = [isinstance(x, tuple) for x in items]
        if not any(tuples):
            return items, None
        example = f"e.g. [g for s in sents for g in ngrams(pad_both_ends(s, n={self.order}), {self.order})]"
        if not all(tuples):
            raise NgramkitError(
                "text mixes tuples (n-grams, nltk.lm's form) and other items: pass sentences as lists of words, "
                f"or only n-gram tuples ({example})"
            )
        for g in items:
            if not 1 <= len(g) <= self.order or not all(isinstance(w, str) for w in g):
                shown = repr(g) if len(g) <= 6 else repr(g[:5])[:-1] + ", ...)"
                raise NgramkitError(
                    f"n-gram {shown}: a tuple is read as an n-gram (nltk.lm's form) and must hold 1 to "
                    f"{self.order} words for this order-{self.order} model ({example}); pass sentences "
                    "as lists of words"
                )
        return items, items

    def _ngram_entropy(self, grams) -> float:
        """-mean log2 P(g[-1] | g[:-1]) over n-gram tuples (nltk.lm's ``entropy``); one distribution per context."""
        by_context: dict[tuple, list[int]] = {}
        for g in grams:
            by_context.setdefault(g[:-1], []).append(self.vocab.id(g[-1]))
        total = math.fsum(float(self.next_log_probs(self._context_ids(ctx))[ids].sum())
                          for ctx, ids in by_context.items())
        return -total / len(grams) / math.log(2.0)

    def generate(self, num_words: int = 1, text_seed=None, random_seed=None, *, temperature: float = 1.0,
                 top_k: int | None = None, stop_at_eos: bool = False) -> list[str]:
        """Sample ``num_words`` tokens after ``text_seed`` (words; default: a sentence start).

        ``</s>`` is an ordinary generated token: it is returned, and the next
        token starts a new sentence (context reset to ``<s>``), so generation
        continues across sentences as nltk.lm's does -- unless ``stop_at_eos``,
        which stops after the first ``</s>``. ``<s>``/``<pad>`` are never
        generated. ``temperature`` divides the log-probabilities before
        sampling (-> 0: greedy); ``top_k`` keeps only the k most probable
        tokens. ``random_seed``: int >= 0 or ``numpy.random.Generator``.
        The list of :meth:`iter_generate`'s tokens.
        """
        return list(self.iter_generate(num_words, text_seed, random_seed, temperature=temperature, top_k=top_k,
                                       stop_at_eos=stop_at_eos))

    def iter_generate(self, num_words: int | None = None, text_seed=None, random_seed=None, *,
                      temperature: float = 1.0, top_k: int | None = None, stop_at_eos: bool = False):
        """:meth:`generate` as an iterator: each token as soon as it is drawn (``num_words=None``: no end).

        The arguments are checked at the call, before the first token; the
        same seed gives the same tokens as :meth:`generate`.

        >>> from ngramkit.models import MLE
        >>> m = MLE(2).fit_sentences([["a", "b"]])
        >>> it = m.iter_generate(None, random_seed=0)
        >>> [next(it) for _ in range(5)]
        ['a', 'b', '</s>', 'a', 'b']
        """
        self._check_fitted()
        rng = generation_rng(num_words, temperature, top_k, random_seed)
        history = [BOS_ID] + self._context_ids(text_seed)
        # Context of the current sentence only: from the last <s> (n-grams never cross sentences).
        for i in range(len(history) - 1, -1, -1):
            if history[i] == EOS_ID:
                history = [BOS_ID] + history[i + 1 :]
                break
            if history[i] == BOS_ID:
                history = history[i:]
                break
        return self._sample(history, num_words, rng, temperature, top_k, stop_at_eos)

    def _sample(self, history, num_words, rng, temperature, top_k, stop_at_eos):
        keep = max(self.order - 1, 0)
        drawn = 0
        while num_words is None or drawn < num_words:
            ctx = history[max(0, len(history) - keep) :] if keep else []
            wid = sample_next(self.next_log_probs(ctx), rng, temperature, top_k)
            drawn += 1
            yield self.vocab.words[wid]
            if wid == EOS_ID:
                if stop_at_eos:
                    return
                history = [BOS_ID]
            else:
                history.append(wid)

    def __repr__(self) -> str:
        fitted = f", vocab={len(self.vocab)}" if self.vocab is not None else ", unfitted"
        return f"{type(self).__name__}(order={self.order}{fitted})"
