"""Id streams: what every language model reads and scores.

Input: sentences of token strings and a :class:`Vocabulary`. Output: a
:class:`Stream` with

- ``ids``: (N,) int32, the words of every sentence, each sentence followed
  by ``</s>``; these are exactly the N predicted tokens (``<s>`` is context
  only and is never stored or predicted);
- ``offsets``: (S+1,) int64, sentence i is ``ids[offsets[i]:offsets[i+1]]``
  (its last element is ``</s>``);
- ``oov``: (N,) bool, True where the source word was outside the vocabulary
  (mapped to ``<unk>``).

The PTB training split gives N = 929,589 (887,521 words + 42,068 ``</s>``).

:meth:`Stream.from_files` goes from files to a stream in one step. For the
default text options (whitespace tokeniser, ``--normalize none`` or
``lower``, UTF-8) it uses the C scanner (:mod:`ngramkit.scan`), which splits
bytes exactly like ``str.splitlines()``/``str.split()`` and gives the same
stream as the Python pipeline (``read_sentences`` + ``Vocabulary.build`` +
``from_sentences``); other options, and undecodable input, use that pipeline.
``NGRAMKIT_IMPL=numpy`` forces the pure Python/numpy code everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain

import numpy as np

from . import native
from .errors import InputError
from .scan import assemble, fast_options, scan_source, source_size
from .text import TextOptions, read_sentences
from .vocab import BOS_ID, EOS, Vocabulary


@dataclass(frozen=True)
class Stream:
    ids: np.ndarray  # (N,) int32 predicted tokens, </s> closes every sentence
    offsets: np.ndarray  # (S+1,) int64 sentence boundaries into ids
    oov: np.ndarray  # (N,) bool, source word was out of vocabulary
    vocab: Vocabulary

    @classmethod
    def from_sentences(cls, sentences, vocab: Vocabulary) -> Stream:
        lengths = np.fromiter(map(len, sentences), np.int64, count=len(sentences)) + 1
        offsets = np.zeros(len(sentences) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        n = int(offsets[-1])
        tokens = list(chain.from_iterable(chain(s, (EOS,)) for s in sentences))
        ids = vocab.lookup(tokens)
        index = vocab.index
        oov = np.fromiter((t not in index for t in tokens), bool, count=n) if n else np.zeros(0, bool)
        return cls(ids, offsets, oov, vocab)

    @classmethod
    def from_files(cls, sources, options: TextOptions = TextOptions(), *, vocab: Vocabulary | None = None,
                   min_count: int = 1, max_size: int | None = None, progress=None) -> Stream:
        """Read, tokenise and map files (paths or ``-``) to a stream in one step.

        With ``vocab=None`` the vocabulary is built from these files
        (``min_count``, ``max_size`` as in :meth:`Vocabulary.build`). Equal to
        ``from_sentences(read_sentences(sources, options), vocab)``, raising the
        same errors, but for :func:`fast_options` it runs in C at ~100 MB/s.
        ``progress(nbytes)``, if given, is called after each source is read.
        """
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        sources = list(sources)
        k = native.extension("_count")
        if k is None or not fast_options(options):
            sentences = read_sentences(sources, options)
            if progress is not None:
                progress(sum(source_size(source) for source in sources))
            if vocab is None:
                vocab = Vocabulary.build(sentences, min_count=min_count, max_size=max_size)
            return cls.from_sentences(sentences, vocab)
        if not sources:
            raise InputError("no input files given")
        scans = []
        for source in sources:
            scans.append(scan_source(k, source, options))
            if progress is not None:
                progress(scans[-1].nbytes)
        return cls(*assemble(k, scans, options, vocab, min_count, max_size))

    @property
    def n_tokens(self) -> int:
        """Predicted tokens: words plus one ``</s>`` per sentence."""
        return int(self.ids.size)

    @property
    def n_sentences(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def n_oov(self) -> int:
        return int(self.oov.sum())

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def sentence_ids(self) -> np.ndarray:
        """(N,) int64: the sentence number of every token."""
        return np.repeat(np.arange(self.n_sentences, dtype=np.int64), np.diff(self.offsets))

    def positions(self) -> np.ndarray:
        """(N,) int64: position of every token within its sentence (0 = first word)."""
        return np.arange(self.n_tokens, dtype=np.int64) - np.repeat(self.offsets[:-1], np.diff(self.offsets))

    def padded(self, bos_id: int = BOS_ID) -> tuple[np.ndarray, np.ndarray]:
        """Each sentence as ``<s> w1 .. wn </s>`` concatenated: (ids (N+S,), offsets (S+1,)).

        One ``<s>`` whatever the model's order: n-grams never cross sentences,
        so the scorers and counters stop their contexts at it.
        """
        s = self.n_sentences
        out = np.empty(self.n_tokens + s, np.int32)
        k = native.extension("_count")
        if k is not None:
            k.pad(np.ascontiguousarray(self.ids, np.int32), np.ascontiguousarray(self.offsets, np.int64),
                  int(bos_id), out)
            return out, self.offsets + np.arange(s + 1)
        starts = self.offsets[:-1] + np.arange(s)
        out[starts] = bos_id
        mask = np.ones(out.size, bool)
        mask[starts] = False
        out[mask] = self.ids
        return out, self.offsets + np.arange(s + 1)

    def __len__(self) -> int:
        return self.n_tokens

