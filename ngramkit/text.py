"""Text pipeline: read -> normalise -> tokenise -> sentences.

Input: file paths (``-`` is stdin; gzip, bzip2 and xz data are recognised by
their magic bytes and decompressed transparently, whatever the file is
called) or a string. Output: a list of sentences, each a list of token
strings (no ``<s>``/``</s>``; those are added by :mod:`ngramkit.stream`).

Conventions:

- Each non-empty line is a sentence (``sentences=True``, the default, as
  KenLM and SRILM read text). With ``sentences=False`` the whole input is one
  stream, returned as a single sentence; several files are joined in order.
  For the ``char`` tokeniser the lines of that stream are joined by one
  space (D2L's character-level stream), for word tokenisers they are simply
  concatenated.
- A line is a sentence when it yields at least one token; the ``char``
  tokeniser strips leading and trailing whitespace of each line first.
- Bytes are decoded as UTF-8 by default (a leading byte-order mark is
  dropped); undecodable bytes raise :class:`InputError` naming the file,
  byte offset and line, unless ``errors="replace"``.
- :func:`read_sentences` refuses a file that yields no tokens at all, since
  counting or training on it would silently produce nothing.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import os
import re
import sys
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from .errors import InputError, NgramkitError

NORMALIZERS = ("none", "lower", "d2l")
TOKENIZERS = ("whitespace", "char", "regex", "nltk")
_D2L_NONLETTERS = re.compile(r"[^A-Za-z]+")
_BINARY_SNIFF = 8192

# Magic bytes -> (format name, one-shot decompressor for possibly multi-member data).
_COMPRESSED = (
    (b"\x1f\x8b", "gzip", gzip.decompress),
    (b"BZh", "bzip2", bz2.decompress),
    (b"\xfd7zXZ\x00", "xz", lzma.decompress),
)
# Bytes that occur in text (as `file` counts them); many others in the first 8 kB means binary data.
_TEXT_BYTES = bytes({7, 8, 9, 10, 11, 12, 13, 27} | set(range(0x20, 0x100)))
_SUFFIX_FORMAT = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}
# Formats we recognise but do not read: say what they are instead of "cannot decode byte 0x50".
_UNSUPPORTED = (
    (b"PK\x03\x04", "a zip archive; unzip it first"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; decompress it first (zstd -d)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF file"),
    (b"\x7fELF", "an executable"),
    (b"\x93NUMPY", "a numpy array file"),
)


@dataclass(frozen=True)
class TextOptions:
    """How raw text becomes tokens."""

    normalize: str = "none"  # none | lower | d2l (runs of non-letters -> one space, lower-case)
    tokenizer: str = "whitespace"  # whitespace | char | regex | nltk
    pattern: str | None = None  # token regex for tokenizer="regex" (every match is a token)
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
            codecs.lookup(self.encoding)
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


# ---- reading -----------------------------------------------------------------


def source_name(source) -> str:
    """How errors name a source: ``<stdin>`` for ``-``, else the path as given."""
    return "<stdin>" if str(source) == "-" else str(source)


_source_name = source_name  # old private name, kept for callers outside this package


def check_bytes(data, name: str, *, encoding: str = "utf-8") -> None:
    """Refuse bytes that are not text before decoding them (what :func:`decode` checks first).

    Raises :class:`InputError` naming ``name`` when ``data`` (bytes or a
    buffer; only its first 8 kB are looked at) starts like a recognised
    non-text format (zip, zstd, PNG, PDF, ELF, ``.npy``) or holds a NUL byte
    in its first 8 kB (allowed for UTF-16/32, where NUL bytes are normal).
    Compressed gzip/bzip2/xz data is not refused here: :func:`read_bytes`
    decompresses it.
    """
    head = bytes(memoryview(data)[:_BINARY_SNIFF])
    for magic, what in _UNSUPPORTED:
        if head.startswith(magic):
            raise InputError(f"{name}: looks like {what}, expected text")
    if not _is_wide_encoding(encoding) and b"\x00" in head:
        raise InputError(f"{name}: looks like a binary file (NUL byte), expected text")


def read_bytes(source: str | os.PathLike) -> bytes:
    """Return the (decompressed) bytes of a file, or of stdin for ``-``.

    gzip/bzip2/xz data is recognised by its magic bytes, so compressed stdin
    works too; a file named ``.gz``/``.bz2``/``.xz`` that is not such data is
    an error rather than a silent fallback.
    """
    name = source_name(source)
    if name == "<stdin>":
        try:
            data = sys.stdin.buffer.read()
        except (OSError, AttributeError) as exc:
            raise InputError(f"<stdin>: cannot read ({exc})") from None
        suffix_format = None
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a text file")
        try:
            data = path.read_bytes()
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        suffix_format = _SUFFIX_FORMAT.get(path.suffix.lower())
    return decompress(data, name, suffix_format)


def decompress(data: bytes, name: str, suffix_format: str | None = None) -> bytes:
    """``data`` decompressed if it starts with gzip/bzip2/xz magic bytes, else as it is.

    ``suffix_format``: the compression the file's name announces (``.gz``
    ...); data without its magic bytes is then an error naming ``name``.
    """
    for magic, fmt, decompressor in _COMPRESSED:
        if data.startswith(magic):
            try:
                return decompressor(data)
            except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
                raise InputError(f"{name}: corrupt or truncated {fmt} data ({exc})") from None
    if suffix_format is not None:
        raise InputError(f"{name}: named like {suffix_format} data but is not {suffix_format}-compressed")
    return data


def _is_wide_encoding(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def decode(data: bytes, name: str, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Decode bytes; refuse binary data (:func:`check_bytes`) and name the byte offset of bad input."""
    check_bytes(data, name, encoding=encoding)
    codec = codecs.lookup(encoding).name
    if codec == "utf-8":
        codec = "utf-8-sig"  # drop a leading byte-order mark instead of making it part of a token
    try:
        return data.decode(codec, errors=errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        sniff = data[:_BINARY_SNIFF]
        if len(sniff.translate(None, _TEXT_BYTES)) > len(sniff) // 10:
            raise InputError(
                f"{name}: looks like a binary file (control bytes; byte 0x{data[exc.start]:02x} at offset "
                f"{exc.start} is not {encoding}), expected text"
            ) from None
        raise InputError(
            f"{name}: cannot decode byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}) as "
            f"{encoding} (use --encoding, or --errors replace to go on)"
        ) from None


def read_text(source: str | os.PathLike, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Read one source (path or ``-``) as text."""
    return decode(read_bytes(source), source_name(source), encoding=encoding, errors=errors)


# ---- normalising and tokenising -------------------------------------------------------


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


@lru_cache(maxsize=1)
def _nltk_tokenize():
    # Treebank-style word tokeniser: regular expressions only, needs no downloaded
    # data (unlike nltk.word_tokenize, which loads the punkt sentence model).
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer().tokenize


def _char_tokens(line: str) -> list[str]:
    return list(line.strip())


def _tokenizer(options: TextOptions):
    if options.tokenizer == "whitespace":
        return str.split
    if options.tokenizer == "char":
        return _char_tokens
    if options.tokenizer == "regex":
        finditer = re.compile(options.pattern).finditer
        # The whole match is the token (re.findall would return groups, or tuples of them);
        # empty matches (e.g. from r"\w*") are not tokens.
        return lambda line: [t for t in (m.group(0) for m in finditer(line)) if t]
    if options.tokenizer == "nltk":
        return _nltk_tokenize()
    raise NgramkitError(f"unknown tokenizer {options.tokenizer!r}")


def _split_lines(text: str, options: TextOptions) -> list[list[str]]:
    """Every line as a list of tokens (empty lists included)."""
    how = options.normalize
    if options.tokenizer == "whitespace" and how in ("none", "lower"):
        # Fast path: one C-level pass per line.
        if how == "lower":
            text = text.lower()
        return [line.split() for line in text.splitlines()]
    split = _tokenizer(options)
    return [split(normalize(line, how)) for line in text.splitlines()]


def join_stream(sentences: list[list[str]], options: TextOptions) -> list[list[str]]:
    """Join sentences into one stream: ``[]`` or ``[tokens]``.

    Character tokens get one ``" "`` between consecutive lines (so
    ``["ab", "c"]`` becomes ``a b ' ' c``); word tokens are concatenated.
    """
    if options.tokenizer == "char":
        flat = []
        for sentence in sentences:
            if flat:
                flat.append(" ")
            flat.extend(sentence)
    else:
        flat = [tok for sentence in sentences for tok in sentence]
    return [flat] if flat else []


def tokenize(text: str, options: TextOptions = TextOptions()) -> list[list[str]]:
    """Split a text into sentences of tokens according to ``options``.

    >>> tokenize("The Time  Machine\\n\\nby H. G. Wells\\n", TextOptions(normalize="d2l"))
    [['the', 'time', 'machine'], ['by', 'h', 'g', 'wells']]
    >>> tokenize("ab\\nc\\n", TextOptions(tokenizer="char", sentences=False))
    [['a', 'b', ' ', 'c']]
    """
    sentences = [s for s in _split_lines(text, options) if s]
    if not options.sentences:
        return join_stream(sentences, options)
    return sentences


def read_sentences(sources, options: TextOptions = TextOptions()) -> list[list[str]]:
    """Read and tokenise one or more sources (paths or ``-``) into sentences.

    Raises :class:`InputError` (one line naming the file) for a missing file,
    a directory, binary or undecodable data, and a file that yields no tokens.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise InputError("no input files given")
    line_options = options.with_(sentences=True)
    sentences: list[list[str]] = []
    for source in sources:
        text = read_text(source, encoding=options.encoding, errors=options.errors)
        got = tokenize(text, line_options)
        if not got:
            name = source_name(source)
            if not text.strip():
                raise InputError(f"{name}: no tokens (empty file?)")
            raise InputError(
                f"{name}: no tokens after --normalize {options.normalize} --tokenizer {options.tokenizer}"
                " (try other text options)"
            )
        sentences.extend(got)
    if not options.sentences:
        return join_stream(sentences, options)
    return sentences
