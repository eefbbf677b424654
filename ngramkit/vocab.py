"""Vocabulary: token strings <-> int32 ids.

Input: training sentences (lists of token strings). Output: a deterministic
id assignment: the special tokens first (``<unk>`` 0, ``<s>`` 1, ``</s>`` 2,
``<pad>`` 3), then words by descending training frequency, ties broken
lexicographically. Lookup maps unknown words to ``<unk>`` and reports how
many there were (OOVs).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from itertools import repeat
from pathlib import Path

import numpy as np

from .errors import InputError, NgramkitError
from .fileio import atomic_open

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIALS = (UNK, BOS, EOS, PAD)
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(4)


class Vocabulary:
    """A frozen token <-> id mapping with ``<unk>``, ``<s>``, ``</s>``, ``<pad>``.

    >>> v = Vocabulary.build([["a", "b", "a"], ["c"]])
    >>> v.words[4:], len(v)
    (['a', 'b', 'c'], 7)
    >>> v.lookup(["a", "zzz"]).tolist()
    [4, 0]
    """

    def __init__(self, words, counts=None):
        words = list(words)
        if tuple(words[:4]) != SPECIALS:
            raise NgramkitError(f"vocabulary must start with {' '.join(SPECIALS)}, got {words[:4]}")
        if len(set(words)) != len(words):
            dup = next(w for w, c in Counter(words).items() if c > 1)
            raise NgramkitError(f"vocabulary has duplicate word {dup!r}")
        self.words: list[str] = words
        self.index: dict[str, int] = {w: i for i, w in enumerate(words)}
        # Training frequency per id (specials 0 unless given); used for class softmax and top-k.
        self.counts = np.zeros(len(words), np.int64) if counts is None else np.asarray(counts, np.int64)

    @classmethod
    def build(cls, sentences, *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Build from training sentences; words below ``min_count`` or past ``max_size`` become ``<unk>``."""
        if min_count < 1:
            raise NgramkitError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < len(SPECIALS):
            raise NgramkitError(f"max_size must be >= {len(SPECIALS)} (the special tokens), got {max_size}")
        freq = Counter()
        for sentence in sentences:
            freq.update(sentence)
        return cls.from_counter(freq, min_count=min_count, max_size=max_size)

    @classmethod
    def from_counter(cls, freq, *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        unk_count = sum(c for w, c in freq.items() if w == UNK)
        items = sorted(
            ((w, c) for w, c in freq.items() if w not in SPECIALS and c >= min_count),
            key=lambda wc: (-wc[1], wc[0]),
        )
        if max_size is not None:
            items = items[: max_size - len(SPECIALS)]
        words = list(SPECIALS) + [w for w, _ in items]
        counts = [unk_count, 0, 0, 0] + [c for _, c in items]
        return cls(words, counts)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"

    def id(self, word: str) -> int:
        return self.index.get(word, UNK_ID)

    def lookup(self, tokens) -> np.ndarray:
        """Map token strings to ids (unknown -> ``<unk>``), as an (N,) int32 array."""
        tokens = tokens if isinstance(tokens, (list, tuple)) else list(tokens)
        return np.fromiter(map(self.index.get, tokens, repeat(UNK_ID)), np.int32, count=len(tokens))

    def count_oov(self, tokens) -> int:
        """Number of tokens not in the vocabulary (the literal ``<unk>`` is in it)."""
        index = self.index
        return sum(1 for t in tokens if t not in index)

    def decode(self, ids) -> list[str]:
        words = self.words
        return [words[i] for i in np.asarray(ids).tolist()]

    # ---- files -------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (``.json``) or plain text (one ``word<TAB>count`` per line)."""
        path = Path(path)
        with atomic_open(path, "w", encoding="utf-8") as fh:
            if path.suffix == ".json":
                json.dump({"format": "ngramkit-vocab", "version": 1, "words": self.words,
                           "counts": self.counts.tolist()}, fh, ensure_ascii=False)
            else:
                for w, c in zip(self.words, self.counts.tolist()):
                    fh.write(f"{w}\t{c}\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such vocabulary file")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            try:
                data = json.loads(text)
                return cls(data["words"], data.get("counts"))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"{path}: not an ngramkit vocabulary JSON file ({exc})") from None
        words, counts = [], []
        for lineno, line in enumerate(text.splitlines(), 1):
            word, _, count = line.partition("\t")
            if not word or (count and not count.isdigit()):
                raise InputError(f"{path}:{lineno}: expected 'word<TAB>count', got {line!r}")
            words.append(word)
            counts.append(int(count or 0))
        return cls(words, counts)
