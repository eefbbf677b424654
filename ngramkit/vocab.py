"""Vocabulary: token strings <-> int32 ids.

Input: training sentences (lists of token strings). Output: a deterministic
id assignment: the special tokens first (``<unk>`` 0, ``<s>`` 1, ``</s>`` 2,
``<pad>`` 3), then words by descending training frequency, ties broken
lexicographically (Python string order, i.e. by code point). Lookup maps
unknown words to ``<unk>`` and reports how many there were (OOVs); a
literal ``<unk>`` in the text is a known word, not an OOV.

``counts[i]`` is how often id ``i`` occurs in the training tokens: for
``<unk>`` that is the literal ``<unk>`` plus every word dropped by
``min_count``/``max_size``; ``<s>``, ``</s>``, ``<pad>`` have 0.

Files: JSON (``{"format": "ngramkit-vocab", "version": 1, "words": [...],
"counts": [...]}``) or text, one ``word<TAB>count`` per line in id order,
a backslash, tab, newline or carriage return inside a word written as a
backslash followed by a backslash, ``t``, ``n`` or ``r``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from .errors import InputError, NgramkitError
from .fileio import atomic_open
from .specials import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID  # noqa: F401 - ngramkit.vocab's names


class Vocabulary:
    """A frozen token <-> id mapping with ``<unk>``, ``<s>``, ``</s>``, ``<pad>``.

    >>> v = Vocabulary.build([["a", "b", "a"], ["c"]])
    >>> v.words[4:], len(v)
    (['a', 'b', 'c'], 7)
    >>> v.lookup(["a", "zzz"]).tolist()
    [4, 0]
    >>> v.lookup("a"), v.lookup("zzz")  # one string is one word
    (4, 0)
    """

    def __init__(self, words, counts=None):
        words = list(words)
        if tuple(words[:4]) != SPECIALS:
            raise NgramkitError(f"vocabulary must start with {' '.join(SPECIALS)}, got {' '.join(map(str, words[:4]))}")
        bad = next((w for w in words if not isinstance(w, str) or not w), None)
        if bad is not None:
            raise NgramkitError(f"vocabulary words must be non-empty strings, got {bad!r}")
        if len(set(words)) != len(words):
            dup = next(w for w, c in Counter(words).items() if c > 1)
            raise NgramkitError(f"vocabulary has duplicate word {dup!r}")
        self.words: list[str] = words
        self.index: dict[str, int] = {w: i for i, w in enumerate(words)}
        # Training frequency per id (specials 0 unless given); used for class softmax and top-k.
        if counts is None:
            self.counts = np.zeros(len(words), np.int64)
        else:
            try:
                self.counts = np.asarray(counts, np.int64)
            except (TypeError, ValueError, OverflowError):
                raise NgramkitError("vocabulary counts must be integers") from None
            if self.counts.shape != (len(words),):
                raise NgramkitError(f"vocabulary has {len(words)} words but {self.counts.size} counts")
            if (self.counts < 0).any():
                raise NgramkitError("vocabulary counts must be >= 0")

    @classmethod
    def build(cls, sentences, *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Build from training sentences; words below ``min_count`` or past ``max_size`` become ``<unk>``."""
        freq = Counter(chain.from_iterable(sentences))
        return cls.from_counter(freq, min_count=min_count, max_size=max_size)

    @classmethod
    def from_counter(cls, freq, *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Build from a ``word -> count`` mapping (see :meth:`build`)."""
        if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise NgramkitError(f"min_count must be an integer >= 1, got {min_count!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < len(SPECIALS)
        ):
            raise NgramkitError(
                f"max_size must be an integer >= {len(SPECIALS)} (the special tokens), got {max_size!r}"
            )
        items = sorted(
            ((w, c) for w, c in freq.items() if w not in SPECIALS and c > 0),
            key=lambda wc: (-wc[1], wc[0]),
        )
        kept = [wc for wc in items if wc[1] >= min_count]
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        # <unk>'s training frequency: the literal <unk> plus every dropped word's tokens,
        # i.e. how often id 0 occurs in the training stream.
        unk_count = freq.get(UNK, 0) + sum(c for _, c in items) - sum(c for _, c in kept)
        words = list(SPECIALS) + [w for w, _ in kept]
        counts = [unk_count, 0, 0, 0] + [c for _, c in kept]
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

    def lookup(self, tokens: str | Iterable[str]) -> int | np.ndarray:
        """Ids of words (unknown -> ``<unk>``).

        A single string is one word: its id (an int), as :meth:`id`. A list,
        tuple or other iterable of strings gives an (N,) int32 array.
        """
        if isinstance(tokens, str):
            return self.id(tokens)
        tokens = tokens if isinstance(tokens, (list, tuple)) else list(tokens)
        return np.fromiter(map(self.index.get, tokens, repeat(UNK_ID)), np.int32, count=len(tokens))

    def count_oov(self, tokens: str | Iterable[str]) -> int:
        """Number of tokens not in the vocabulary (the literal ``<unk>`` is in it); a string is one token."""
        if isinstance(tokens, str):
            tokens = (tokens,)
        index = self.index
        return sum(1 for t in tokens if t not in index)

    def decode(self, ids) -> list[str]:
        words = self.words
        return [words[i] for i in np.asarray(ids).tolist()]

    # ---- files -------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as JSON (``.json``) or plain text (one ``word<TAB>count`` per line).

        In the text form a backslash, tab, newline or carriage return inside a
        word is written as ``\\\\``, ``\\t``, ``\\n``, ``\\r`` (character tokens can be any of them).
        """
        path = Path(path)
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
            if path.suffix == ".json":
                json.dump({"format": _FORMAT, "version": 1, "words": self.words,
                           "counts": self.counts.tolist()}, fh, ensure_ascii=False)
                fh.write("\n")
            else:
                for w, c in zip(self.words, self.counts.tolist()):
                    fh.write(f"{_escape(w)}\t{c}\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a file written by :meth:`save` (JSON if it ends in ``.json``, else text).

        A text file may also be a plain word list (one word per line, counts 0).
        """
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a vocabulary file")
        if not path.is_file():
            raise InputError(f"{path}: no such vocabulary file")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not a vocabulary file (undecodable byte at offset {exc.start})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if path.suffix == ".json":
            words, counts = _parse_json(path, text)
        else:
            words, counts = _parse_text(path, text)
        try:
            return cls(words, counts)
        except NgramkitError as exc:
            raise InputError(f"{path}: {exc}") from None


_FORMAT = "ngramkit-vocab"
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _escape(word: str) -> str:
    if any(ch in word for ch in _ESCAPES):
        return "".join(_ESCAPES.get(ch, ch) for ch in word)
    return word


def _unescape(word: str, where: str) -> str:
    if "\\" not in word:
        return word
    out, i = [], 0
    while i < len(word):
        ch = word[i]
        if ch == "\\":
            nxt = word[i + 1 : i + 2]
            if nxt not in _UNESCAPES:
                raise InputError(f"{where}: bad escape {word[i:i + 2]!r} in word {word!r} (use \\\\ \\t \\n \\r)")
            out.append(_UNESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_json(path: Path, text: str) -> tuple[list[str], list[int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("words"), list):
        raise InputError(f"{path}: not an ngramkit vocabulary JSON file (expected format {_FORMAT!r} with 'words')")
    words = data["words"]
    counts = data.get("counts")
    if counts is None:
        counts = [0] * len(words)
    if not isinstance(counts, list) or not all(type(c) is int for c in counts):
        raise InputError(f"{path}: 'counts' must be a list of integers")
    return words, counts


def _parse_text(path: Path, text: str) -> tuple[list[str], list[int]]:
    words, counts = [], []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        word, tab, count = line.partition("\t")
        if not word or (tab and not (count.isascii() and count.isdigit())) or "\t" in count:
            raise InputError(f"{path}:{lineno}: expected 'word<TAB>count', got {line!r}")
        words.append(_unescape(word, f"{path}:{lineno}"))
        counts.append(int(count) if tab else 0)
    if not words:
        raise InputError(f"{path}: empty vocabulary file")
    return words, counts
