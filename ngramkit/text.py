"""Text pipeline: read -> normalise -> tokenise -> sentences.

Input: file paths (``-`` is stdin; ``.gz``/``.bz2``/``.xz`` are opened
transparently) or a string. Output: a list of sentences, each a list of
token strings (no ``<s>``/``</s>``; those are added by :mod:`ngramkit.stream`).

Conventions: each non-empty line is a sentence (``sentences=True``, the
default, as KenLM and SRILM read text); with ``sentences=False`` the whole
input is one stream (one long sentence).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import InputError, NgramkitError

NORMALIZERS = ("none", "lower", "d2l")
TOKENIZERS = ("whitespace", "char", "regex", "nltk")
_D2L_NONLETTERS = re.compile(r"[^A-Za-z]+")
_BINARY_SNIFF = 8192


@dataclass(frozen=True)
class TextOptions:
    """How raw text becomes tokens."""

    normalize: str = "none"  # none | lower | d2l (runs of non-letters -> one space, lower-case)
    tokenizer: str = "whitespace"  # whitespace | char | regex | nltk
    pattern: str | None = None  # token regex for tokenizer="regex" (re.findall)
    sentences: bool = True  # each non-empty line is a sentence; False: one stream
    encoding: str = "utf-8"  # input encoding
    errors: str = "strict"  # strict (fail with file and byte offset) | replace

    def __post_init__(self):
        if self.normalize not in NORMALIZERS:
            raise NgramkitError(
                f"--normalize must be one of {', '.join(NORMALIZERS)}, got {self.normalize!r}"
            )
        if self.tokenizer not in TOKENIZERS:
            raise NgramkitError(
                f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}"
            )
        if self.tokenizer == "regex":
            if not self.pattern:
                raise NgramkitError("--tokenizer regex needs a PATTERN (--pattern)")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise NgramkitError(f"--pattern {self.pattern!r} is not a valid regex: {exc}") from None
        if self.errors not in ("strict", "replace"):
            raise NgramkitError(f"--errors must be strict or replace, got {self.errors!r}")
        try:
            "".encode(self.encoding)
        except LookupError:
            raise NgramkitError(f"--encoding: unknown encoding {self.encoding!r}") from None

    def with_(self, **changes) -> TextOptions:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "normalize": self.normalize,
            "tokenizer": self.tokenizer,
            "pattern": self.pattern,
            "sentences": self.sentences,
            "encoding": self.encoding,
            "errors": self.errors,
        }


def read_bytes(source: str | os.PathLike) -> bytes:
    """Return the (decompressed) bytes of a file, or of stdin for ``-``."""
    if str(source) == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a text file")
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        kind = path.suffix.lstrip(".") or "file"
        raise InputError(f"{path}: cannot read ({kind}): {exc}") from None


def decode(data: bytes, name: str, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Decode bytes; refuse binary data and name the byte offset of bad input."""
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise InputError(f"{name}: looks like a binary file (NUL byte), expected text")
    try:
        return data.decode(encoding, errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: cannot decode byte 0x{data[exc.start]:02x} at offset {exc.start} as "
            f"{encoding} (use --encoding, or --errors replace to go on)"
        ) from None


def read_text(source: str | os.PathLike, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Read one source (path or ``-``) as text."""
    name = "<stdin>" if str(source) == "-" else str(source)
    return decode(read_bytes(source), name, encoding=encoding, errors=errors)


def normalize(text: str, how: str) -> str:
    """Apply a normaliser to one line (or a whole text; none keeps newlines)."""
    if how == "none":
        return text
    if how == "lower":
        return text.lower()
    if how == "d2l":
        # Dive into Deep Learning, sec. 9.2: re.sub('[^A-Za-z]+', ' ', line).strip().lower()
        return _D2L_NONLETTERS.sub(" ", text).strip().lower()
    raise NgramkitError(f"unknown normaliser {how!r}; choose from {', '.join(NORMALIZERS)}")


def _tokenizer(options: TextOptions):
    if options.tokenizer == "whitespace":
        return str.split
    if options.tokenizer == "char":
        return list
    if options.tokenizer == "regex":
        return re.compile(options.pattern).findall
    if options.tokenizer == "nltk":
        # Treebank-style word tokeniser: needs no downloaded data (unlike word_tokenize/punkt).
        from nltk.tokenize import NLTKWordTokenizer

        return NLTKWordTokenizer().tokenize
    raise NgramkitError(f"unknown tokenizer {options.tokenizer!r}")


def tokenize(text: str, options: TextOptions = TextOptions()) -> list[list[str]]:
    """Split a text into sentences of tokens according to ``options``.

    >>> tokenize("The Time  Machine\\n\\nby H. G. Wells\\n", TextOptions(normalize="d2l"))
    [['the', 'time', 'machine'], ['by', 'h', 'g', 'wells']]
    """
    split = _tokenizer(options)
    how = options.normalize
    if options.tokenizer == "whitespace" and how in ("none", "lower"):
        # Fast path: one C-level pass per line.
        if how == "lower":
            text = text.lower()
        lines = [line.split() for line in text.splitlines()]
    else:
        lines = [split(normalize(line, how)) for line in text.splitlines()]
    sentences = [s for s in lines if s]
    if not options.sentences:
        if options.tokenizer == "char" and sentences:
            # Lines joined by one space, as D2L's character-level stream does.
            flat = list(" ".join("".join(s) for s in sentences))
        else:
            flat = [tok for s in sentences for tok in s]
        return [flat] if flat else []
    return sentences


def read_sentences(sources, options: TextOptions = TextOptions()) -> list[list[str]]:
    """Read and tokenise one or more sources (paths or ``-``) into sentences."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sentences: list[list[str]] = []
    for source in sources:
        text = read_text(source, encoding=options.encoding, errors=options.errors)
        sentences.extend(tokenize(text, options.with_(sentences=True)))
    if not options.sentences:
        flat = [tok for s in sentences for tok in s]
        return [flat] if flat else []
    return sentences
