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
``lower``, UTF-8) it uses the C scanner of ``ngramkit._count``, which splits
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
from .text import (TextOptions, check_bytes, decode, read_bytes, read_sentences, read_text, source_name,
                   tokenize)
from .vocab import BOS_ID, EOS, EOS_ID, UNK_ID, Vocabulary


def kernel():
    """The compiled counting module ``ngramkit._count``, or None for the numpy reference (:mod:`ngramkit.native`)."""
    return native.extension("_count")


def fast_options(options: TextOptions) -> bool:
    """True when the C scanner reproduces these text options exactly."""
    return (
        options.tokenizer == "whitespace"
        and options.normalize in ("none", "lower")
        and options.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    )


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
                progress(sum(_size(source) for source in sources))
            if vocab is None:
                vocab = Vocabulary.build(sentences, min_count=min_count, max_size=max_size)
            return cls.from_sentences(sentences, vocab)
        if not sources:
            raise InputError("no input files given")
        scans = []
        for source in sources:
            scans.append(_scan_source(k, source, options))
            if progress is not None:
                progress(scans[-1].nbytes)
        return _assemble(scans, options, vocab, min_count, max_size)

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


# ---- C fast path ---------------------------------------------------------------------


@dataclass
class _Scan:
    """One source (or block) scanned: provisional ids (0 = end of sentence, i = words[i-1])."""

    ids: np.ndarray  # (T,) int32
    ends: np.ndarray  # (S,) int64 end of every sentence in ids
    words: list  # distinct words (str), first-seen order
    counts: np.ndarray  # (len(words),) int64
    nbytes: int = 0  # bytes scanned


def _scan_bytes(k, data, name: str, options: TextOptions, *, first: bool = True, source=None) -> _Scan:
    """Scan bytes with the C kernel, checking them as :func:`ngramkit.text.decode` does.

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
        return _Scan(ids[:n_tokens], ends[:n_sentences], words, np.frombuffer(counts, np.int64), len(data))
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


def _scan_sentences(sentences) -> _Scan:
    """The same structure from token lists (the rare fallback; a Python loop)."""
    index: dict[str, int] = {}
    ids, ends = [], []
    for sentence in sentences:
        ids.extend(index.setdefault(w, len(index) + 1) for w in sentence)
        ids.append(0)
        ends.append(len(ids))
    ids = np.array(ids, np.int32)
    counts = np.bincount(ids, minlength=len(index) + 1)[1:].astype(np.int64)
    return _Scan(ids, np.array(ends, np.int64), list(index), counts)


def _size(source) -> int:
    """Bytes of a source on disk (0 for stdin or when unknown)."""
    try:
        return 0 if str(source) == "-" else os.path.getsize(source)
    except OSError:
        return 0


def _scan_source(k, source, options: TextOptions) -> _Scan:
    name = source_name(source)
    scan = _scan_bytes(k, read_bytes(source), name, options)
    if scan.ids.size == 0:
        raise InputError(f"{name}: no tokens (empty file?)")
    return scan


def _assemble(scans, options: TextOptions, vocab: Vocabulary | None, min_count: int,
              max_size: int | None) -> Stream:
    """Join scans: global word table, vocabulary, one ``take`` per token."""
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
        return Stream(ids, np.array([0, total + 1], np.int64), oov, vocab)
    n = sum(s.ids.size for s in scans)
    n_sent = sum(s.ends.size for s in scans)
    ids = np.empty(n, np.int32)
    has_oov = bool(is_oov.any())
    oov = np.empty(n, bool) if has_oov else np.zeros(n, bool)
    offsets = np.zeros(n_sent + 1, np.int64)
    pos = sent = 0
    k = kernel()
    for scan, local in zip(scans, maps):
        t = scan.ids.size
        k.take(scan.ids, final[local], ids[pos : pos + t])
        if has_oov:
            k.take(scan.ids, is_oov[local].view(np.uint8), oov[pos : pos + t].view(np.uint8))
        offsets[sent + 1 : sent + 1 + scan.ends.size] = scan.ends + pos
        pos += t
        sent += scan.ends.size
    return Stream(ids, offsets, oov, vocab)
