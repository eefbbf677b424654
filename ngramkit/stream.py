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
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from .vocab import EOS, EOS_ID, Vocabulary


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

    def padded(self, order: int, bos_id: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Each sentence as ``<s> w1 .. wn </s>`` concatenated: (ids (N+S,), offsets (S+1,))."""
        s = self.n_sentences
        out = np.empty(self.n_tokens + s, np.int32)
        starts = self.offsets[:-1] + np.arange(s)
        out[starts] = bos_id
        mask = np.ones(out.size, bool)
        mask[starts] = False
        out[mask] = self.ids
        return out, self.offsets + np.arange(s + 1)

    def __len__(self) -> int:
        return self.n_tokens
