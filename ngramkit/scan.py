"""The C fast path from raw text to token ids.

Input: files (paths or ``-``), or byte blocks of them, and
:class:`~ngramkit.text.TextOptions` for which :func:`fast_options` holds.
Output: :class:`Scan` per source or block (provisional ids, 0 = end of
sentence, i = ``words[i-1]``), then :func:`assemble` joins scans into the
arrays of a :class:`~ngramkit.stream.Stream` over one vocabulary:
``ids`` (N,) int32, ``offsets`` (S+1,) int64, ``oov`` (N,) bool.

The C scanner of ``ngramkit._count`` splits bytes exactly like
``str.splitlines()``/``str.split()``, so the result equals the Python
pipeline (``read_sentences`` + ``Vocabulary.build`` + ``Stream.from_sentences``);
undecodable bytes are handed to the Python decoder, which names the offset
or replaces them. The kernel module is passed in by the caller
(``ngramkit.native.extension("_count")``), so this module does not depend on how
kernels are loaded.

:func:`file_blocks` reads a file in blocks that end at line ends, for
counting in bounded memory (``NGramCounts.from_file(chunk_bytes=...)``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .text import (_BINARY_SNIFF, TextOptions, check_bytes, decode, decompress, read_bytes, read_text, source_name,
                   tokenize)
from .vocab import EOS_ID, UNK_ID, Vocabulary

# Compressed data is decompressed at once by read_bytes (gzip, bzip2, xz magic bytes and suffixes).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


def fast_options(options: TextOptions) -> bool:
    """True when the C scanner reproduces these text options exactly."""
    return (
        options.tokenizer == "whitespace"
        and options.normalize in ("none", "lower")
        and options.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    )


def source_size(source) -> int:
    """Bytes of a source on disk (0 for stdin or when unknown)."""
    try:
        return 0 if str(source) == "-" else os.path.getsize(source)
    except OSError:
        return 0


@dataclass
class Scan:
    """One source (or block) scanned: provisional ids (0 = end of sentence, i = words[i-1])."""

    ids: np.ndarray  # (T,) int32
    ends: np.ndarray  # (S,) int64 end of every sentence in ids
    words: list  # distinct words (str), first-seen order
    counts: np.ndarray  # (len(words),) int64
    nbytes: int = 0  # bytes scanned


def scan_bytes(k, data, name: str, options: TextOptions, *, first: bool = True, source=None) -> Scan:
    """Scan bytes with the C kernel ``k``, checking them as :func:`ngramkit.text.decode` does.

    ``first``: the bytes start a file (binary sniffing, byte-order mark).
    Undecodable bytes go through the Python decoder, which names the offset
    (of the whole file ``source`` when the bytes are one block of it) or, with
    ``errors="replace"``, replaces them.
    """
    if first:
        check_bytes(data, name, encoding=options.encoding)
    view = memoryview(data)[3:] if first and data.startswith(b"\xef\xbb\xbf") else data  # BOM, as utf-8-sig
    # k words need >= 2k - 1 bytes; every sentence has a word: T <= 2k <= n + 1, S <= k.
    ids = np.empty(len(view) + 1, np.int32)  # pages past T are never touched
    ends = np.empty(len(view) // 2 + 1, np.int64)
    n_tokens, n_sentences, words, counts = k.scan(view, ids, ends)
    if words is not None:
        return Scan(ids[:n_tokens], ends[:n_sentences], words, np.frombuffer(counts, np.int64), len(data))
    # Not valid UTF-8: the Python decoder names the offset, or replaces.
    if source is not None and options.errors == "strict":
        read_text(source, encoding=options.encoding, errors="strict")  # raises with whole-file offsets
    if first:
        text = decode(data, name, encoding=options.encoding, errors=options.errors)
    else:
        text = bytes(data).decode("utf-8", errors=options.errors)
    scan = _scan_sentences(tokenize(text, options.with_(normalize="none", sentences=True)))
    scan.nbytes = len(data)
    return scan


def _scan_sentences(sentences) -> Scan:
    """The same structure from token lists (the rare fallback; a Python loop)."""
    index: dict[str, int] = {}
    ids, ends = [], []
    for sentence in sentences:
        ids.extend(index.setdefault(w, len(index) + 1) for w in sentence)
        ids.append(0)
        ends.append(len(ids))
    ids = np.array(ids, np.int32)
    counts = np.bincount(ids, minlength=len(index) + 1)[1:].astype(np.int64)
    return Scan(ids, np.array(ends, np.int64), list(index), counts)


def scan_source(k, source, options: TextOptions) -> Scan:
    """Scan one whole source (path or ``-``); a source without tokens is an error naming it."""
    name = source_name(source)
    scan = scan_bytes(k, read_bytes(source), name, options)
    if scan.ids.size == 0:
        raise InputError(f"{name}: no tokens (empty file?)")
    return scan


def file_blocks(source, block_bytes: int):
    """Byte blocks of a source, each ending at a line end (a file is read block by block).

    Plain files and plain stdin are read ``block_bytes`` at a time, as they
    are used; compressed files and compressed stdin (recognised by their
    magic bytes) are decompressed at once and then cut into blocks.
    """
    name = source_name(source)
    if name == "<stdin>":
        reader = getattr(sys.stdin, "buffer", None)
        read = _stdin_reader(reader)
        head = read(max(block_bytes, 8))  # enough for any magic bytes
        if head.startswith(_COMPRESSED_MAGIC):
            yield from _cut(decompress(head + read(-1), name), block_bytes)
        else:
            yield from _line_blocks(head, read, block_bytes)
        return
    path = Path(source)
    if not path.is_file() or _is_compressed(path):
        yield from _cut(read_bytes(source), block_bytes)
        return
    with open(path, "rb") as fh:
        yield from _line_blocks(b"", fh.read, block_bytes)


def _stdin_reader(reader):
    """``read(n)`` of stdin's bytes; a failing read is :func:`~ngramkit.text.read_bytes`'s one-line error."""

    def read(n: int) -> bytes:
        try:
            return reader.read(n)
        except (OSError, AttributeError) as exc:
            raise InputError(f"<stdin>: cannot read ({exc})") from None

    return read


def _cut(data: bytes, block_bytes: int):
    """``data`` in blocks of about ``block_bytes``, each ending at a line end (or the end of the data)."""
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", min(pos + block_bytes, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        yield data[pos:end]
        pos = end


def _line_blocks(first: bytes, read, block_bytes: int):
    """Blocks ending at line ends from ``first`` and then ``read(block_bytes)`` until it returns nothing."""
    carry = b""
    block = first
    while True:
        if not block:
            block = read(block_bytes)
            if not block:
                break
        block = carry + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            carry, block = block, b""
            continue
        carry = block[cut:]
        yield block[:cut]
        block = b""
    if carry:
        yield carry


def _is_compressed(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(6)
    return head.startswith(_COMPRESSED_MAGIC) or path.suffix.lower() in _COMPRESSED_SUFFIXES


def scan_blocks(k, source, options: TextOptions, block_bytes: int):
    """Scans of one file's blocks (:func:`file_blocks`); errors name the file and whole-file offsets."""
    name = source_name(source)
    got = False
    offset = 0
    for i, block in enumerate(file_blocks(source, block_bytes)):
        if 0 < offset < _BINARY_SNIFF:
            # decode() sniffs the first 8 kB of the whole file for NUL bytes; blocks shorter than that
            # must be sniffed on, or a NUL in the second block would pass here and fail the Python path.
            check_bytes(b"x" + bytes(memoryview(block)[:_BINARY_SNIFF - offset]), name, encoding=options.encoding)
        scan = scan_bytes(k, block, name, options, first=i == 0, source=source)
        offset += len(block)
        got = got or scan.ids.size > 0
        yield scan
    if not got:
        raise InputError(f"{name}: no tokens (empty file?)")


def assemble(k, scans, options: TextOptions, vocab: Vocabulary | None, min_count: int = 1,
             max_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Vocabulary]:
    """Join scans into one stream's arrays: ``(ids (N,) int32, offsets (S+1,) int64, oov (N,) bool, vocab)``.

    One global word table, the vocabulary (built from the scans' word counts
    when ``vocab`` is None; ``min_count``, ``max_size`` as in
    :meth:`Vocabulary.build`), then one ``take`` per token in the kernel ``k``.
    """
    lower = options.normalize == "lower"
    index: dict[str, int] = {}  # word -> global id (1-based)
    freq: dict[str, int] = {}
    maps = []
    for scan in scans:
        words = [w.lower() for w in scan.words] if lower else scan.words
        local = np.empty(len(words) + 1, np.int64)  # local id -> global id
        local[0] = 0
        for i, (w, c) in enumerate(zip(words, scan.counts.tolist()), 1):
            g = index.get(w)
            if g is None:
                g = index[w] = len(index) + 1
                freq[w] = c
            else:
                freq[w] += c
            local[i] = g
        maps.append(local)
    if vocab is None:
        vocab = Vocabulary.from_counter(freq, min_count=min_count, max_size=max_size)
    vindex = vocab.index
    final = np.empty(len(index) + 1, np.int32)  # global id -> vocabulary id
    final[0] = EOS_ID
    final[1:] = np.fromiter((vindex.get(w, UNK_ID) for w in index), np.int32, count=len(index))
    is_oov = np.zeros(len(index) + 1, bool)
    is_oov[1:] = np.fromiter((w not in vindex for w in index), bool, count=len(index))
    if not options.sentences:  # one stream: drop the per-line ends, close it once
        total = sum(int(np.count_nonzero(s.ids)) for s in scans)
        ids = np.empty(total + 1, np.int32)
        oov = np.zeros(total + 1, bool)
        pos = 0
        for scan, local in zip(scans, maps):
            words = scan.ids[scan.ids != 0]
            ids[pos : pos + words.size] = final[local][words]
            oov[pos : pos + words.size] = is_oov[local][words]
            pos += words.size
        ids[-1] = EOS_ID
        return ids, np.array([0, total + 1], np.int64), oov, vocab
    n = sum(s.ids.size for s in scans)
    n_sent = sum(s.ends.size for s in scans)
    ids = np.empty(n, np.int32)
    has_oov = bool(is_oov.any())
    oov = np.empty(n, bool) if has_oov else np.zeros(n, bool)
    offsets = np.zeros(n_sent + 1, np.int64)
    pos = sent = 0
    for scan, local in zip(scans, maps):
        t = scan.ids.size
        k.take(scan.ids, final[local], ids[pos : pos + t])
        if has_oov:
            k.take(scan.ids, is_oov[local].view(np.uint8), oov[pos : pos + t].view(np.uint8))
        offsets[sent + 1 : sent + 1 + scan.ends.size] = scan.ends + pos
        pos += t
        sent += scan.ends.size
    return ids, offsets, oov, vocab
