"""N-gram counting engine.

Input: a :class:`~ngramkit.stream.Stream` (or sentences + vocabulary).
Output: :class:`NGramCounts` holding, for every order k = 1..N,

- ``ngrams(k)``: (M_k, k) int32 word ids, rows unique and sorted
  lexicographically;
- ``counts(k)``: (M_k,) int64 occurrence counts;
- ``parent(k)``: (M_k,) int64 row of the (k-1)-gram prefix (the context) in
  order k-1 (all zeros for k = 1).

Sentence convention (KenLM ``lmplz``): every sentence is padded as
``<s> w1 .. wn </s>``; n-grams never cross sentences and ``<s>`` is padded
once, so an order-k n-gram starting with ``<s>`` is only the sentence start.
Order 1 therefore counts ``<s>`` once per sentence.

Rows of order k are keyed by ``parent * V + last_word`` (int64, V = vocabulary
size); because order k-1 rows are sorted, these keys are sorted too and
lookups are one ``searchsorted``.

Counting runs in the C kernel ``ngramkit._count``. When the N word ids of an
n-gram fit in 63 bits (``ceil(log2 V) * N <= 63``: PTB up to order 4) only
the top order is hashed, as packed uint64 keys, in one read of the id stream;
order k-1 is then derived from the distinct order-k rows (a (k-1)-gram's count
is the sum of its one-word extensions plus the sentences it ends), so lower
orders cost O(distinct n-grams), not O(tokens). Otherwise one open-addressing
table per order over the padded stream. ``NGRAMKIT_IMPL=numpy`` selects the
numpy reference (packed keys + ``np.unique``); all give identical arrays.

Bounded memory: :meth:`NGramCounts.merge` sums two count sets, so a corpus can
be counted in chunks (:func:`count_sentences_chunked`,
:meth:`NGramCounts.from_file` with ``chunk_bytes``) with results identical to
counting it at once. Files: :meth:`NGramCounts.save` / :meth:`NGramCounts.load`
(one ``.ngc`` file in ngramkit's container, :mod:`ngramkit.npzfile`: aligned
``.npy`` arrays plus JSON metadata, memory-mappable, SHA-256 checked, no
pickle; models use the same container with the extension ``.ngk``).

>>> c = NGramCounts.from_sentences([["a", "b"], ["a"]], order=2)
>>> c.count(("a", "b")), c.count(("<s>", "a")), c.total(1), c.n_tokens
(1, 2, 7, 5)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import native, npzfile
from .errors import InputError, NgramkitError
from .outofcore import count as outofcore_count
from .outofcore.budget import TempSpace, parse_memory
from .scan import assemble, fast_options, scan_blocks, source_size
from .stream import Stream
from .text import TextOptions, read_sentences
from .vocab import BOS_ID, SPECIALS, UNK_ID, Vocabulary

MAX_ORDER = 12


def check_order(order: int) -> int:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise NgramkitError(f"order must be an integer, got {order!r}")
    if order < 1:
        raise NgramkitError(f"order must be >= 1, got {order}")
    if order > MAX_ORDER:
        raise NgramkitError(f"order must be <= {MAX_ORDER}, got {order}")
    return int(order)


def count_of_counts(a: np.ndarray, upto: int = 4) -> np.ndarray:
    """(upto,) int64 number of entries of the counts ``a`` equal to 1..upto (n_1..n_upto)."""
    return np.bincount(np.minimum(a, upto + 1), minlength=upto + 2)[1 : upto + 1].astype(np.int64)


class NGramCounts:
    """Counts of all n-grams of orders 1..``order`` of a sentence-padded stream."""

    def __init__(self, vocab: Vocabulary, ngrams, counts, parents, *, n_sentences: int = 0, n_tokens: int = 0):
        self.vocab = vocab
        self._ngrams = list(ngrams)  # per order k-1: (M_k, k) int32
        self._counts = list(counts)  # per order: (M_k,) int64
        self._parents = list(parents)  # per order: (M_k,) int64
        self.order = len(self._ngrams)
        self.n_sentences = int(n_sentences)  # sentences counted
        self.n_tokens = int(n_tokens)  # predicted tokens (words + </s>) counted
        self._keys: list[np.ndarray | None] = [None] * self.order
        self.info: dict = {}  # where the counts came from (saved with them): corpus, files, text_options, min_count

    # ---- construction -------------------------------------------------------
    @classmethod
    def from_stream(cls, stream: Stream, order: int = 3, *, progress=None, keys: bool = True) -> NGramCounts:
        """Count orders 1..``order`` of a stream (C kernels, or the numpy reference).

        ``progress(1)``, if given, is called after each order is counted.
        ``keys=False``: the sorted keys are not computed now but on first use
        (:meth:`keys`); the out-of-core counter writes a block's runs without
        them, so it saves an int64 array per order.
        """
        order = check_order(order)
        k = native.extension("_count")
        if k is None:
            out = cls._from_stream_numpy(stream, order)
            if progress is not None:
                progress(order)
            return out
        vocab = stream.vocab
        v = len(vocab)
        bits = max(1, (v - 1).bit_length())  # bits per packed word id
        if order >= 2 and bits * order <= 63:
            out = cls._from_stream_packed(k, stream, order, bits)
            if progress is not None:
                progress(order)
            return out
        padded, offsets = stream.padded(BOS_ID)  # (N+S,), (S+1,)
        lengths = np.diff(offsets)  # (S,) padded sentence lengths
        # Order 1: the provisional row of a unigram is its word id.
        uni_count = np.bincount(padded, minlength=v).astype(np.int64)
        if progress is not None:
            progress(1)
        steps = []
        rows = padded.copy()  # (N+S,) provisional row of the n-gram starting at each position
        m_prev = int(np.count_nonzero(uni_count))
        for n in range(2, order + 1):
            cap = int(np.maximum(lengths - (n - 1), 0).sum())  # n-gram positions: bound on distinct
            parent = np.empty(cap, np.int32)
            last = np.empty(cap, np.int32)
            count = np.empty(cap, np.int64)
            m = k.count_step(padded, offsets, n, rows, parent, last, count, min(cap, 2 * m_prev))
            steps.append((parent[:m], last[:m], count[:m]))
            m_prev = m
            if progress is not None:
                progress(1)
        del rows, padded
        return cls._assemble(vocab, np.arange(v, dtype=np.int64), uni_count, steps,
                             n_sentences=stream.n_sentences, n_tokens=stream.n_tokens, keys=keys)

    @classmethod
    def _from_stream_packed(cls, k, stream: Stream, order: int, bits: int) -> NGramCounts:
        """C: the top order hashed as packed uint64 keys, lower orders derived from its rows."""
        vocab = stream.vocab
        v = len(vocab)
        state, sizes = k.count_packed(np.ascontiguousarray(stream.ids, np.int32),
                                      np.ascontiguousarray(stream.offsets, np.int64), BOS_ID, order, bits, v)
        grams, counts, parents, keys = [], [], [], []
        for j, m in enumerate(sizes, 1):
            g = np.empty((m, j), np.int32)
            c = np.empty(m, np.int64)
            par = np.empty(m, np.int64)
            key = np.empty(m, np.int64)
            k.packed_fill(state, j, g.reshape(-1), c, par, key)
            grams.append(g)
            counts.append(c)
            parents.append(par)
            keys.append(key)
        del state
        out = cls(vocab, grams, counts, parents, n_sentences=stream.n_sentences, n_tokens=stream.n_tokens)
        out._keys = keys
        return out

    @classmethod
    def _assemble(cls, vocab: Vocabulary, uni_ids, uni_count, steps, *, n_sentences: int,
                  n_tokens: int, keys: bool = True) -> NGramCounts:
        """Sort provisional tables into lexicographic order.

        ``uni_ids``/``uni_count``: (P,) word id and count of each provisional
        order-1 row (rows with count 0 are dropped). ``steps``: per order 2..N,
        (parent, last, count) of each provisional row, ``parent`` a provisional
        row of the order below; rows of one order are distinct n-grams.
        """
        v = np.int64(len(vocab))
        keep = np.flatnonzero(uni_count > 0)
        perm = keep[np.argsort(uni_ids[keep], kind="stable")]
        grams = [np.asarray(uni_ids[perm], np.int32)[:, None]]
        counts = [np.asarray(uni_count[perm], np.int64)]
        parents = [np.zeros(perm.size, np.int64)]
        all_keys = [np.asarray(uni_ids[perm], np.int64)]
        rank = np.full(uni_ids.size, -1, np.int64)  # provisional row -> sorted row
        rank[perm] = np.arange(perm.size)
        k = native.extension("_count")
        for parent, last, count in steps:
            if k is not None:  # two counting sorts in C
                m = len(parent)
                perm = np.empty(m, np.int32)
                sparent = np.empty(m, np.int64)
                slast = np.empty(m, np.int32)
                k.sort_rows(np.ascontiguousarray(parent, np.int32), np.ascontiguousarray(last, np.int32), rank,
                            int(v), perm, sparent, slast)
                key = sparent * v + slast if keys else None
            else:
                sparent = rank[parent]  # (m,) sorted parent row
                key = sparent * v + last
                perm = np.argsort(key)
                key = key[perm]
                sparent = sparent[perm]
                slast = np.asarray(last)[perm]
            g = np.empty((perm.size, grams[-1].shape[1] + 1), np.int32)
            g[:, :-1] = np.take(grams[-1], sparent, axis=0)
            g[:, -1] = slast
            grams.append(g)
            counts.append(np.asarray(count, np.int64)[perm])
            parents.append(sparent)
            all_keys.append(key)
            rank = np.empty(perm.size, np.int64)
            rank[perm] = np.arange(perm.size)
        out = cls(vocab, grams, counts, parents, n_sentences=n_sentences, n_tokens=n_tokens)
        out._keys = all_keys if keys else [all_keys[0]] + [None] * (len(all_keys) - 1)
        return out

    @classmethod
    def _from_stream_numpy(cls, stream: Stream, order: int) -> NGramCounts:
        """The numpy reference: packed int64 keys, ``np.unique`` per order."""
        vocab = stream.vocab
        padded, offsets = stream.padded(BOS_ID)  # (N+S,), (S+1,)
        n = padded.size
        v = np.int64(len(vocab))
        # Distance from each position to the end of its sentence (exclusive).
        room = np.repeat(offsets[1:], np.diff(offsets)) - np.arange(n, dtype=np.int64)  # (N+S,)
        ngrams, counts, parents = [], [], []
        uniq, inv, cnt = np.unique(padded.astype(np.int64), return_inverse=True, return_counts=True)
        ngrams.append(uniq.astype(np.int32)[:, None])
        counts.append(cnt.astype(np.int64))
        parents.append(np.zeros(uniq.size, np.int64))
        row = inv.astype(np.int64)  # (n,) row in order-1 table of the unigram at each position
        for k in range(2, order + 1):
            valid = np.flatnonzero(room >= k)  # start positions of order-k n-grams
            keys = row[valid] * v + padded[valid + (k - 1)]
            uniq, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
            parent = uniq // v
            prev = ngrams[-1]
            grams = np.empty((uniq.size, k), np.int32)
            grams[:, :-1] = prev[parent]
            grams[:, -1] = (uniq % v).astype(np.int32)
            ngrams.append(grams)
            counts.append(cnt.astype(np.int64))
            parents.append(parent)
            new_row = np.full(n, -1, np.int64)
            new_row[valid] = inv
            row = new_row
        return cls(vocab, ngrams, counts, parents,
                   n_sentences=stream.n_sentences, n_tokens=stream.n_tokens)

    @classmethod
    def from_file(cls, sources, order: int = 3, *, options: TextOptions = TextOptions(),
                  vocab: Vocabulary | None = None, min_count: int = 1, max_size: int | None = None,
                  chunk_bytes: int | None = None, progress=None, memory=None, temp=None) -> NGramCounts:
        """Read, tokenise and count files (paths or ``-``) end to end.

        Equals ``from_sentences(read_sentences(sources, options), order,
        vocab)`` (vocabulary built from the files when ``vocab`` is None) and
        raises the same one-line errors. The default text options run in C.
        With ``chunk_bytes`` files are read and counted in blocks of about that
        many bytes and the blocks merged (two passes when the vocabulary must
        be built): memory is bounded by the block and the counts, and the
        result is identical. ``progress(nbytes)`` is called after each block.

        Without ``chunk_bytes``: counting in a memory budget (the out-of-core
        path, :mod:`ngramkit.outofcore.count`). ``memory``: bytes (int) or a
        string ``"4G"``, ``"512M"``, ``"40%"`` (of RAM; default 40%);
        ``temp``: the folder for temporary files (default
        ``tempfile.gettempdir()``). Inputs estimated to fit are counted in
        memory as before; larger ones are counted in blocks whose sorted
        tables are written as runs and merged on disk, and the arrays of the
        result are memory-mapped (their files already deleted: the disk space
        is freed when the arrays are). Either way the result is identical.
        ``progress(event)`` then gets the dicts of
        :func:`ngramkit.outofcore.count.count_files`.
        """
        order = check_order(order)
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        sources = list(sources)
        if not sources:
            raise InputError("no input files given")
        if chunk_bytes is None:
            budget = parse_memory(memory)
            with TempSpace(temp) as space:
                counts, stats = outofcore_count.count_files(sources, order, options=options, vocab=vocab, min_count=min_count,
                                            max_size=max_size, memory=budget, space=space, progress=progress)
                outofcore_count.unlink_files(stats, space)
            return counts
        if not options.sentences:
            # One pass, everything in memory (a single stream cannot be cut into chunks).
            stream = Stream.from_files(sources, options, vocab=vocab, min_count=min_count, max_size=max_size)
            return cls.from_stream(stream, order)
        if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, (int, np.integer)) or chunk_bytes < 1:
            raise NgramkitError(f"chunk_bytes must be an integer >= 1, got {chunk_bytes!r}")
        k = native.extension("_count")
        if k is None or not fast_options(options) or "-" in [str(s) for s in sources]:
            sentences = read_sentences(sources, options)
            if progress is not None:
                progress(sum(source_size(source) for source in sources))
            if vocab is None:
                vocab = Vocabulary.build(sentences, min_count=min_count, max_size=max_size)
            # about 6 bytes per token in running text
            return count_sentences_chunked(sentences, vocab, order, chunk_tokens=max(1, chunk_bytes // 6))
        if vocab is None:  # pass 1: word frequencies, block by block
            freq: dict[str, int] = {}
            lower = options.normalize == "lower"
            for source in sources:
                for scan in scan_blocks(k, source, options, chunk_bytes):
                    for w, c in zip(scan.words, scan.counts.tolist()):
                        w = w.lower() if lower else w
                        freq[w] = freq.get(w, 0) + c
            vocab = Vocabulary.from_counter(freq, min_count=min_count, max_size=max_size)
        total = None
        for source in sources:  # pass 2: count every block, merge
            for scan in scan_blocks(k, source, options, chunk_bytes):
                if scan.ids.size == 0:
                    continue
                part = cls.from_stream(Stream(*assemble(k, [scan], options, vocab)), order)
                total = part if total is None else total.merge(part)
                if progress is not None:
                    progress(int(scan.nbytes))
        return total

    @classmethod
    def from_sentences(cls, sentences, order: int = 3, vocab: Vocabulary | None = None, **vocab_kw) -> NGramCounts:
        vocab = vocab or Vocabulary.build(sentences, **vocab_kw)
        return cls.from_stream(Stream.from_sentences(sentences, vocab), order)

    # ---- access -------------------------------------------------------------
    def _check(self, k: int) -> int:
        if not 1 <= k <= self.order:
            raise NgramkitError(f"order {k} not counted: these counts hold orders 1..{self.order}")
        return k - 1

    def ngrams(self, k: int) -> np.ndarray:
        return self._ngrams[self._check(k)]

    def counts(self, k: int) -> np.ndarray:
        return self._counts[self._check(k)]

    def parent(self, k: int) -> np.ndarray:
        return self._parents[self._check(k)]

    def keys(self, k: int) -> np.ndarray:
        """(M_k,) int64 sorted keys ``parent * V + last`` (order 1: the word id)."""
        i = self._check(k)
        if self._keys[i] is None:
            grams = self._ngrams[i]
            self._keys[i] = (self._parents[i] * len(self.vocab) + grams[:, -1]).astype(np.int64)
        return self._keys[i]

    def total(self, k: int) -> int:
        return int(self.counts(k).sum())

    def distinct(self, k: int) -> int:
        return int(self.counts(k).size)

    def find(self, ids) -> np.ndarray:
        """Rows of n-grams given as a (Q, k) id array; -1 where not counted. Vectorised."""
        ids = np.asarray(ids, np.int64)
        if ids.ndim == 1:
            ids = ids[None, :]
        q, k = ids.shape
        self._check(k)
        v = len(self.vocab)
        row = np.zeros(q, np.int64)
        found = ((ids >= 0) & (ids < v)).all(axis=1)  # an id outside the vocabulary is never counted
        for j in range(k):
            keys = self.keys(j + 1)
            want = row * v + ids[:, j] if j else ids[:, 0]
            pos = np.searchsorted(keys, want)
            pos = np.minimum(pos, keys.size - 1)
            found &= keys[pos] == want if keys.size else False
            row = np.where(found, pos, 0)
        return np.where(found, row, -1)

    def count(self, ngram) -> int:
        """Count of one n-gram given as strings or ids: ``count(("the", "cat"))``."""
        if isinstance(ngram, str):
            ngram = (ngram,)
        ids = [self.vocab.index.get(w, -1) if isinstance(w, str) else int(w) for w in ngram]
        if not ids or min(ids) < 0:
            return 0 if ids else self.n_tokens
        if len(ids) > self.order:
            raise NgramkitError(f"{len(ids)}-gram asked, but counts hold orders 1..{self.order}")
        row = int(self.find(np.array([ids]))[0])
        return 0 if row < 0 else int(self.counts(len(ids))[row])

    def top(self, k: int, n: int = 20) -> list[tuple[tuple[str, ...], int]]:
        """The ``n`` most frequent k-grams (ties: lexicographic by ids)."""
        counts = self.counts(k)
        order = np.lexsort((np.arange(counts.size), -counts))[:n]
        words = self.vocab.words
        return [(tuple(words[i] for i in self.ngrams(k)[r]), int(counts[r])) for r in order.tolist()]

    def count_of_counts(self, k: int, upto: int = 4) -> np.ndarray:
        """(upto,) int64: n_1..n_upto, the number of k-grams seen exactly 1..upto times."""
        return count_of_counts(self.counts(k), upto)

    def items(self, k: int):
        """Iterate ``(words tuple, count)`` over the k-grams in lexicographic id order."""
        words = self.vocab.words
        for row, c in zip(self.ngrams(k).tolist(), self.counts(k).tolist()):
            yield tuple(words[i] for i in row), c

    def __iter__(self):
        """``(words tuple, count)`` for every n-gram, order 1 first."""
        for k in range(1, self.order + 1):
            yield from self.items(k)

    def __len__(self) -> int:
        return sum(self.distinct(k) for k in range(1, self.order + 1))

    def __eq__(self, other) -> bool:
        if not isinstance(other, NGramCounts):
            return NotImplemented
        return (
            self.order == other.order and self.vocab == other.vocab
            and self.n_sentences == other.n_sentences and self.n_tokens == other.n_tokens
            and all(np.array_equal(self.ngrams(k), other.ngrams(k)) and np.array_equal(self.counts(k), other.counts(k))
                    for k in range(1, self.order + 1))
        )

    __hash__ = None

    # ---- merging --------------------------------------------------------------
    def merge(self, other: NGramCounts) -> NGramCounts:
        """The sum of two count sets (the basis of chunked and distributed counting).

        Both must hold the same orders. With the same vocabulary (counting
        in chunks with one vocabulary) the result keeps it. With different
        vocabularies both sides are remapped into their union: specials
        first, then the words by descending combined count (their order-1
        counts summed), ties lexicographic, the rule of
        :meth:`Vocabulary.build`; the union's ``counts`` are those sums. So
        counting texts with vocabularies built on each (``min_count=1``) and
        merging them in any order equals counting their concatenation:
        commutative and associative. Inputs are not modified.
        """
        if not isinstance(other, NGramCounts):
            raise TypeError(f"can only merge NGramCounts, got {type(other).__name__}")
        if other.order != self.order:
            raise NgramkitError(
                f"cannot merge counts of orders 1..{self.order} with counts of orders 1..{other.order}; "
                "count both with the same order"
            )
        a, b = self, other
        if a.vocab != b.vocab:
            vocab = _union_vocab(a, b)
            a, b = a._remap(vocab), b._remap(vocab)
        vocab = a.vocab
        v = np.int64(len(vocab))
        grams, counts, parents, keys = [], [], [], []
        map_a = map_b = None  # row of each side's (k-1)-grams in the merged order k-1
        for k in range(1, self.order + 1):
            if k == 1:
                ka, kb = a.ngrams(1)[:, 0].astype(np.int64), b.ngrams(1)[:, 0].astype(np.int64)
            else:
                ka = map_a[a.parent(k)] * v + a.ngrams(k)[:, -1]
                kb = map_b[b.parent(k)] * v + b.ngrams(k)[:, -1]
            both = np.concatenate([ka, kb])
            perm = np.argsort(both, kind="stable")
            sorted_keys = both[perm]
            new = np.ones(both.size, bool)
            new[1:] = sorted_keys[1:] != sorted_keys[:-1]
            starts = np.flatnonzero(new)
            uniq = sorted_keys[starts]
            summed = np.add.reduceat(np.concatenate([a.counts(k), b.counts(k)])[perm], starts) if both.size \
                else np.zeros(0, np.int64)
            group = np.cumsum(new) - 1  # merged row of each sorted element
            inv = np.empty(both.size, np.int64)
            inv[perm] = group
            map_a, map_b = inv[: ka.size], inv[ka.size :]
            if k == 1:
                g = uniq.astype(np.int32)[:, None]
                par = np.zeros(uniq.size, np.int64)
            else:
                par = uniq // v
                g = np.empty((uniq.size, k), np.int32)
                g[:, :-1] = grams[-1][par]
                g[:, -1] = (uniq % v).astype(np.int32)
            grams.append(g)
            counts.append(summed.astype(np.int64))
            parents.append(par)
            keys.append(uniq)
        out = NGramCounts(vocab, grams, counts, parents, n_sentences=a.n_sentences + b.n_sentences,
                          n_tokens=a.n_tokens + b.n_tokens)
        out._keys = keys
        return out

    def __add__(self, other: NGramCounts) -> NGramCounts:
        return self.merge(other)

    def _remap(self, vocab: Vocabulary) -> NGramCounts:
        """The same counts with word ids of ``vocab`` (which must hold every word counted)."""
        index = vocab.index
        try:
            mapping = np.array([index[w] for w in self.vocab.words], np.int64)  # old id -> new id
        except KeyError as exc:
            raise NgramkitError(f"cannot remap counts: word {exc.args[0]!r} missing from the new vocabulary") from None
        steps = [(self.parent(k), mapping[self.ngrams(k)[:, -1]], self.counts(k)) for k in range(2, self.order + 1)]
        return NGramCounts._assemble(vocab, mapping[self.ngrams(1)[:, 0]], self.counts(1), steps,
                                     n_sentences=self.n_sentences, n_tokens=self.n_tokens)

    # ---- files ----------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, info: dict | None = None) -> Path:
        """Write one ``.ngc`` counts file atomically (a failed write leaves no file). Returns the path.

        A :mod:`ngramkit.npzfile` container: arrays ``ngrams<k>`` (M_k, k)
        ``<i4``, ``counts<k>`` and ``parent<k>`` (M_k,) ``<i8`` for k = 1..order
        and ``vocab.counts``; ``meta.json`` holds ``"format":
        "ngramkit-counts"``, the order, the totals, the vocabulary's words and
        ``info`` (JSON-serialisable; default ``self.info``): how the text was
        read (``ngramkit count`` stores ``corpus``, ``split``, ``files``,
        ``text_options``, ``min_count``), so a model trained from the file
        reads new text the same way. A path ending in ``.ngk`` (the model
        extension) is refused.
        """
        arrays = {}
        for k in range(1, self.order + 1):
            arrays[f"ngrams{k}"] = np.ascontiguousarray(self.ngrams(k), "<i4")
            arrays[f"counts{k}"] = np.ascontiguousarray(self.counts(k), "<i8")
            arrays[f"parent{k}"] = np.ascontiguousarray(self.parent(k), "<i8")
        arrays[npzfile.VOCAB_COUNTS] = np.ascontiguousarray(self.vocab.counts, "<i8")
        meta = {"format": npzfile.COUNTS, "version": COUNTS_VERSION, "order": self.order,
                "n_sentences": self.n_sentences, "n_tokens": self.n_tokens, "vocab": list(self.vocab.words),
                "info": dict(self.info if info is None else info)}
        return npzfile.write(path, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> NGramCounts:
        """Read a counts file; ``mmap`` maps the arrays read-only instead of reading them.

        ``verify`` checks the SHA-256 sums (reads every byte once) and the
        values (ids in the vocabulary, prefixes, sort order, counts >= 1). A missing,
        foreign, truncated or corrupt file, or a model file, raises a one-line
        :class:`InputError` naming it.
        """
        path = Path(path)
        if npzfile.peek(path, npzfile.COUNTS).startswith(_OLD_MAGIC):
            raise InputError(f"{path}: a counts file in the format of ngramkit 0.1 (before .ngc); "
                             "count the text again (`ngramkit count --output FILE.ngc`)")
        meta, arrays = npzfile.read(path, npzfile.COUNTS, COUNTS_VERSION, mmap=mmap, verify=verify)
        vocab = npzfile.vocab_from(meta, arrays, path)
        try:
            order = check_order(meta["order"])
            grams = [arrays[f"ngrams{k}"] for k in range(1, order + 1)]
            counts = [arrays[f"counts{k}"] for k in range(1, order + 1)]
            parents = [arrays[f"parent{k}"] for k in range(1, order + 1)]
            totals = [meta["n_sentences"], meta["n_tokens"]]
            info = meta.get("info", {})
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: corrupt counts file ({type(exc).__name__}: {exc})") from None
        # The values, once per array: what a file with recomputed checksums could still get wrong.
        if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in totals):
            raise InputError(f"{path}: corrupt counts file (n_sentences/n_tokens {totals} are not counts)")
        for k in range(1, order + 1):
            npzfile.check_dtype(path, "counts", f"ngrams{k}", grams[k - 1], "<i4")
            npzfile.check_dtype(path, "counts", f"parent{k}", parents[k - 1], "<i8")
            c = npzfile.check_dtype(path, "counts", f"counts{k}", counts[k - 1], "<i8", 1)
            if c.shape != (grams[k - 1].shape[0],) or (verify and c.size and int(c.min()) < 1):
                raise InputError(f"{path}: corrupt counts file (array 'counts{k}': {c.shape} counts for "
                                 f"{grams[k - 1].shape[0]} n-grams, or a count below 1)")
        if verify:  # the values too (verify=False trusts the file: dtypes only, the load stays a mapping)
            npzfile.check_ngram_tables(path, "counts", len(vocab), grams, parents,
                                       [f"ngrams{k}" for k in range(1, order + 1)])
        out = cls(vocab, grams, counts, parents, n_sentences=totals[0], n_tokens=totals[1])
        out.info = dict(info) if isinstance(info, dict) else {}
        return out

    def __repr__(self) -> str:
        per = ", ".join(f"{k}: {self.distinct(k)}" for k in range(1, self.order + 1))
        return f"NGramCounts(order={self.order}, vocab={len(self.vocab)}, distinct={{{per}}})"


# ---- helpers -------------------------------------------------------------------------

COUNTS_VERSION = 2  # of the counts record; version 1 was the single-file NGRAMKIT-COUNTS layout of ngramkit 0.1
_OLD_MAGIC = b"NGRAMKIT-COUNTS\0"  # the first bytes of a version-1 file (recognised to say so)


def check_counts_path(path: str | os.PathLike) -> Path:
    """Fail early, with one line, if ``path`` cannot be written or is named like a model (``.ngk``)."""
    return npzfile.check_path(path, npzfile.COUNTS)


def _union_vocab(a: NGramCounts, b: NGramCounts) -> Vocabulary:
    """Specials, then every word of both vocabularies by descending summed order-1 count, ties lexicographic."""
    freq: dict[str, int] = {}
    unk = 0
    for side in (a, b):
        words = side.vocab.words
        for word in words[len(SPECIALS):]:
            freq.setdefault(word, 0)
        for (word_id,), c in zip(side.ngrams(1).tolist(), side.counts(1).tolist()):
            word = words[word_id]
            if word_id == UNK_ID:
                unk += c
            elif word_id >= len(SPECIALS):
                freq[word] += c
    items = sorted(freq.items(), key=lambda wc: (-wc[1], wc[0]))
    return Vocabulary(list(SPECIALS) + [w for w, _ in items], [unk, 0, 0, 0] + [c for _, c in items])


def count_sentences_chunked(sentences, vocab: Vocabulary, order: int = 3, *,
                            chunk_tokens: int = 1_000_000) -> NGramCounts:
    """Count an iterable of sentences chunk by chunk and merge the chunks.

    Only one chunk of about ``chunk_tokens`` tokens is held as ids at a time,
    so a generator of sentences is counted in bounded memory (besides the
    counts). The result equals ``NGramCounts.from_sentences(list(sentences),
    order, vocab)`` exactly.
    """
    order = check_order(order)
    if isinstance(chunk_tokens, bool) or not isinstance(chunk_tokens, (int, np.integer)) or chunk_tokens < 1:
        raise NgramkitError(f"chunk_tokens must be an integer >= 1, got {chunk_tokens!r}")
    it = iter(sentences)
    total = None
    while True:
        chunk, size = [], 0
        for sentence in it:
            chunk.append(sentence)
            size += len(sentence) + 1
            if size >= chunk_tokens:
                break
        if not chunk:
            break
        part = NGramCounts.from_stream(Stream.from_sentences(chunk, vocab), order)
        total = part if total is None else total.merge(part)
    if total is None:
        total = NGramCounts.from_stream(Stream.from_sentences([], vocab), order)
    return total
