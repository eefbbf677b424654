"""ARPA n-gram files: write any backoff-form model, read any KenLM/SRILM ARPA file.

:func:`write_arpa` input: a model with ``to_backoff()`` (Kneser-Ney,
modified Kneser-Ney, Witten-Bell, absolute discounting, additive, or a
:class:`~ngramkit.models.BackoffModel`) and a path (``.gz`` -> gzip).
Output: the standard text format, log10 values::

    \\data\\
    ngram 1=M_1
    ...

    \\1-grams:
    log10(p)<TAB>w<TAB>log10(backoff)
    ...

    \\N-grams:
    log10(p)<TAB>w_1 .. w_N
    \\end\\

A backoff column is written for every n-gram below the top order (0 when it
is not a context, as KenLM does); values have 8 decimals. ``<s>`` is never
predicted: its unigram probability is written as -99 (SRILM's convention;
KenLM writes 0). The lines are formatted in C (``ngramkit._arpa.format``;
the numpy reference assembles the same bytes without a Python loop per
n-gram), chunk by chunk from the tables (mapped tables larger than RAM are
never copied whole), and the file is written atomically.

:func:`read_arpa` input: a plain or gzipped ARPA file. Output: a
:class:`~ngramkit.models.BackoffModel` (first-class: same ``log_probs``).
Its vocabulary comes from the file: ngramkit's special tokens first
(``<unk>``, ``<s>``, ``</s>``, ``<pad>``), then the other unigrams in file
order. A file without ``<unk>`` gets one with log10 probability -100 (KenLM
``query``'s default for a model without ``<unk>``). A malformed file raises
:class:`~ngramkit.errors.InputError` naming the file, the line and what was
expected; gzip is decompressed transparently and KenLM binary, bzip2/xz or
other binary input is recognised and reported. Numbers must be plain ASCII
decimals (``-1.5``, ``-2e-3``; not ``nan``, ``inf``, ``1_0`` or other
digits Python's ``float`` would take); every probability must be a finite
log10 <= 0 (``<s>``'s may be KenLM's 0 or SRILM's -99) and every backoff
finite, or the line is refused.

Reading runs in C (``ngramkit._arpa``) for files of the usual layout (UTF-8
without CR, space/tab separators); on any other file, valid or not, the C
reader steps aside and the Python parser reads it or raises its error, so
models and error messages are the same either way (``NGRAMKIT_IMPL=numpy``:
the Python parser only). Gzip is decompressed whole with Python's gzip
(zlib; as fast as zlib streaming in C, measured), then parsed.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import mmap
import os
import re
import zlib
from pathlib import Path

import numpy as np

from . import native
from .errors import InputError, NgramkitError
from .fileio import atomic_path
from .models.backoff import BackoffModel
from .models.lookup import probe_index
from .outofcore.chunks import iter_chunks
from .threads import ahead, usable_cores
from .vocab import BOS_ID, SPECIALS, UNK, UNK_ID, Vocabulary

NEVER = -99.0  # log10 written for impossible events / context-only entries
UNK_MISSING = -100.0  # log10 P(<unk>) when the file has no <unk> (KenLM query default)
_DECIMALS = 8


# ---- writing --------------------------------------------------------------------------------------

_D4 = np.array([[ord(ch) for ch in f"{i:04d}"] for i in range(10000)], np.uint8)  # (10000, 4) digits
_TZ4 = np.array([4] + [len(f"{i:04d}") - len(f"{i:04d}".rstrip("0")) for i in range(1, 10000)], np.int64)


def _float_text(values: np.ndarray, lead: bytes = b"", trail: bytes = b"") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimal text of log10 ``values``: (M * 15,) uint8 buffer, (M,) start and (M,) length of each.

    Fixed point, up to 8 decimals, trailing zeros (and a bare '.') dropped;
    non-finite values and values below -99 become -99. Each value's text is
    right-aligned in its own 15-byte slot, so it is a contiguous byte range,
    optionally preceded by the one byte ``lead`` and followed by ``trail``.
    """
    x = np.asarray(values, np.float64)
    x = np.where(np.isfinite(x), x, NEVER)
    x = np.maximum(x, NEVER)
    if (x >= 1000).any():
        raise NgramkitError("cannot write ARPA: a log10 value is >= 1000")
    a = np.rint(np.abs(x) * 10 ** _DECIMALS).astype(np.int64)  # (M,)
    neg = (x < 0) & (a > 0)
    ip, fp = np.divmod(a, 10 ** _DECIMALS)
    hi4, lo4 = np.divmod(fp, 10000)
    m = x.size
    width = 15  # [lead][sign][3 int digits]['.'][8 decimals][trail]
    mat = np.empty((m, width), np.uint8)
    mat[:, 2:5] = _D4[ip, 1:]
    mat[:, 5] = ord(".")
    mat[:, 6:10] = _D4[hi4]
    mat[:, 10:14] = _D4[lo4]
    tz = np.where(lo4 == 0, 4 + _TZ4[hi4], _TZ4[lo4])  # trailing zeros of the fraction
    nd = 1 + (ip >= 10) + (ip >= 100)  # integer digits written
    start = 5 - nd - neg
    rows = np.flatnonzero(neg)
    mat[rows, start[rows]] = ord("-")
    end = 14 - tz - (tz == _DECIMALS)  # exclusive
    every = np.arange(m)
    if lead:
        start = start - 1
        mat[every, start] = lead[0]
    if trail:
        mat[every, end] = trail[0]
        end = end + 1
    return mat.reshape(-1), every.astype(np.int64) * width + start, end - start


def _segments_to_bytes(src: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> bytes:
    """Concatenate ``src[starts[i] : starts[i] + lens[i]]`` for all i (row-major), vectorised.

    The C kernel (``ngramkit._count.gather``) copies segments with memcpy; the
    numpy reference gathers byte by byte.
    """
    starts, lens = starts.reshape(-1), lens.reshape(-1)
    _count = native.extension("_count")
    if _count is not None:
        return _count.gather(src, starts, lens)
    ends = np.cumsum(lens)
    total = int(ends[-1]) if ends.size else 0
    idx = np.repeat(starts - (ends - lens), lens)  # int32: chunks stay far below 2**31 bytes
    idx += np.arange(total, dtype=idx.dtype)
    return src[idx].tobytes()


_CHUNK_ROWS = 200_000  # n-grams formatted at a time


def arpa_bytes_iter(model):
    """Yield the ARPA text of ``model`` as byte chunks (see :func:`write_arpa`).

    The tables are read in chunks of ``_CHUNK_ROWS`` rows
    (:func:`ngramkit.outofcore.chunks.iter_chunks`), never copied whole, so
    a model whose arrays are memory-mapped files larger than RAM is written
    in the memory of one chunk. The C kernel (``ngramkit._arpa.format``)
    writes each chunk's lines; the numpy reference assembles the same bytes.
    """
    bm = model.to_backoff()
    n = bm.order
    yield arpa_head([bm.ngrams(k).shape[0] for k in range(1, n + 1)])
    lines = ArpaLines(bm.vocab.words)
    for k in range(1, n + 1):
        yield arpa_section(k)
        yield from lines(bm.ngrams(k), bm.logp10(k), bm.backoff10(k) if k < n else None)
    yield ARPA_END


ARPA_END = b"\n\\end\\\n"


def arpa_head(sizes) -> bytes:
    """The ``\\data\\`` block of an ARPA file with ``sizes[k-1]`` n-grams of order k."""
    return ("\\data\\\n" + "".join(f"ngram {k}={n}\n" for k, n in enumerate(sizes, 1))).encode()


def arpa_section(k: int) -> bytes:
    """The line (after a blank one) that opens the n-grams of order ``k``."""
    return f"\n\\{k}-grams:\n".encode()


class ArpaLines:
    """The ARPA lines of rows of n-grams over the vocabulary ``words``: ``lines(g, logp10, backoff10 or None)``
    yields byte chunks of ``_CHUNK_ROWS`` lines (rows of any part of a table: a Dask shard writes its own)."""

    def __init__(self, words):
        enc = [w.encode("utf-8") for w in words]
        self.wlen = np.fromiter(map(len, enc), np.int64, count=len(enc))
        self.wstart = np.zeros(len(enc), np.int64)
        np.cumsum(self.wlen[:-1], out=self.wstart[1:])
        self.plain = np.frombuffer(b"".join(enc), np.uint8)
        self.kernel = native.extension("_arpa")
        self.lines = _lines_c if self.kernel is not None else _lines_numpy(self.plain, self.wstart, self.wlen, enc)

    def __call__(self, g, logp10, backoff10=None):
        k = g.shape[1]
        parts = [iter_chunks(g, _CHUNK_ROWS), iter_chunks(logp10, _CHUNK_ROWS)]
        if backoff10 is not None:
            parts.append(iter_chunks(backoff10, _CHUNK_ROWS))
        for chunk in zip(*parts):
            (_, gc), (_, pc) = chunk[:2]
            bc = chunk[2][1] if backoff10 is not None else None
            if gc.size:
                yield self.lines(self.kernel, gc, pc, bc, k, self.plain, self.wstart, self.wlen)


def _lines_c(kernel, g, p, b, k, plain, wstart, wlen) -> bytes:
    """The lines of one chunk (rows g, probabilities p, backoffs b or None) by the C formatter."""
    try:
        return kernel.format(np.ascontiguousarray(p, np.float64), None if b is None else np.ascontiguousarray(b, np.float64),
                             np.ascontiguousarray(g, np.int32).reshape(-1), k, plain, wstart, wlen,
                             BOS_ID if k == 1 else -1)
    except ValueError as exc:
        raise NgramkitError(str(exc)) from None


def _lines_numpy(plain, wstart, wlen, enc):
    """The numpy reference of :func:`_lines_c`: vectorised byte assembly of the lines' segments."""
    spaced = np.frombuffer(b"".join(b" " + e for e in enc), np.uint8)  # " word": words after the first
    wstart_sp = plain.size + wstart + np.arange(len(enc))
    base = np.concatenate([plain, spaced, np.frombuffer(b"\n", np.uint8)])
    newline = base.size - 1

    def lines(kernel, g, p, b, k, plain_, wstart_, wlen_) -> bytes:
        if k == 1:
            p = p.copy()
            p[g[:, 0] == BOS_ID] = NEVER
        c = g.shape[0]
        # Segments of a line: "prob<TAB>", "w1", " w2" .. " wk", then "<TAB>backoff\n" or "\n".
        seg_s = np.empty((c, k + 2), np.int32)
        seg_l = np.empty((c, k + 2), np.int32)
        pbuf, pst, pln = _float_text(p, trail=b"\t")
        off = base.size
        seg_s[:, 0], seg_l[:, 0] = pst + off, pln
        off += pbuf.size
        parts = [pbuf]
        for j in range(k):
            ids = g[:, j]
            seg_s[:, j + 1] = wstart[ids] if j == 0 else wstart_sp[ids]
            seg_l[:, j + 1] = wlen[ids] + (j > 0)
        if b is not None:
            bbuf, bst, bln = _float_text(b, lead=b"\t", trail=b"\n")
            parts.append(bbuf)
            seg_s[:, -1], seg_l[:, -1] = bst + off, bln
        else:
            seg_s[:, -1], seg_l[:, -1] = newline, 1
        src = np.concatenate([base] + parts)
        return _segments_to_bytes(src, seg_s, seg_l)

    return lines


def write_arpa(model, path: str | os.PathLike, *, compresslevel: int = 1) -> Path:
    """Write ``model`` (anything with ``to_backoff()``) as ARPA text; ``.gz`` paths are gzipped.

    Atomic: a failed write leaves no partial file. Returns the path.
    """
    path = Path(path)
    chunks = arpa_bytes_iter(model)  # raises before any file is created if the model has no ARPA form
    first = next(chunks)
    if usable_cores() > 1:  # the next chunks are formatted while this one is written (both release the GIL)
        chunks = ahead(chunks)
    with contextlib.closing(chunks), atomic_path(path) as tmp:
        if path.suffix == ".gz":
            fh = gzip.open(tmp, "wb", compresslevel=compresslevel)
        else:
            fh = open(tmp, "wb")
        with fh:
            fh.write(first)
            for chunk in chunks:
                fh.write(chunk)
    return path


# ---- reading --------------------------------------------------------------------------------------

KENLM_BINARY_MAGIC = b"mmap lm "  # the first bytes of a KenLM build_binary file
_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip (an ngramkit native model?)",
          b"\x28\xb5\x2f\xfd": "zstd"}
_NGRAM_LINE = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)\s*$", re.ASCII)
_SECTION = re.compile(r"^\\(\d+)-grams:\s*$", re.ASCII)
# An ARPA number: an ASCII decimal, as C's strtod reads it without inf/nan/hex. Python's float() also takes
# 'nan', 'inf', '1_0' and non-ASCII digits; a token with any other character than these is refused first.
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)
_NOT_NUMERIC = re.compile(r"[^-+.0-9eE\n]")


def _read_bytes(path: Path):
    """The file's bytes (bytes, or a read-only mmap of a large plain file), gunzipped; a missing file, corrupt
    gzip or a binary format is an InputError."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an ARPA file")
    if not path.is_file():
        raise InputError(f"{path}: no such ARPA file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            fh.seek(0)
            if head[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(fh.read())
                except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # zlib: a corrupt deflate stream
                    raise InputError(f"{path}: corrupt gzip data ({exc})") from None
            elif os.fstat(fh.fileno()).st_size > (1 << 20):
                data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # no copy of a large file
            else:
                data = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[: len(KENLM_BINARY_MAGIC)] == KENLM_BINARY_MAGIC:
        raise InputError(f"{path}: a KenLM binary model (made by build_binary), which ngramkit does not read; "
                         "load the ARPA file it was built from")
    for magic, kind in _MAGIC.items():
        if data[: len(magic)] == magic:
            raise InputError(f"{path}: {kind} compressed/binary data, not ARPA text; decompress it first")
    if b"\0" in data[:4096]:
        raise InputError(f"{path}: binary data (NUL bytes), not an ARPA text file")
    return data


def _decode(path: Path, data) -> str:
    if isinstance(data, mmap.mmap):
        data = data[:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        _fail(path, line, f"UTF-8 text, found undecodable byte 0x{data[exc.start]:02x}")


def _fail(path, line: int, expected: str, got: str | None = None):
    msg = f"{path}:{line}: expected {expected}"
    if got is not None:
        shown = got if len(got) <= 60 else got[:57] + "..."
        msg += f", got {shown!r}"
    raise InputError(msg)


def _numbers(toks: list[str]) -> np.ndarray | None:
    """float64 values of ARPA number tokens, or None if any token is not one (the caller finds which)."""
    if _NOT_NUMERIC.search("\n".join(toks)):
        return None
    try:
        return np.array(toks, dtype=np.float64)
    except ValueError:  # only [-+.0-9eE] characters, but not a number: '1e', '--1', '.'
        return None


def _valid(probs: np.ndarray, backs: np.ndarray) -> bool:
    """Every probability a finite log10 <= 0 and every backoff finite (vectorised, once per array)."""
    return bool(np.isfinite(backs).all()) and bool((probs <= 0).all()) and bool(np.isfinite(probs).all())


def _parse_body(path, body: str, first_line: int, k: int, m: int, top: bool):
    """Parse the ``m`` n-gram lines of order k in ``body``; returns (probs, backoffs, words per column)."""
    widths = (k + 1,) if top else (k + 2, k + 1)
    toks = body.split()
    for width in widths:
        if len(toks) == m * width:
            probs = _numbers(toks[0::width])
            backs = _numbers(toks[k + 1 :: width]) if width == k + 2 else np.zeros(m)
            if probs is None or backs is None or not _valid(probs, backs):
                break  # the line-by-line pass below names the line
            if "\n\n" not in body:  # same token count and line count: every line has `width` fields
                return probs, backs, [toks[j::width] for j in range(1, k + 1)]
    # Slow path: line by line, to accept mixed backoff columns and to report the bad line.
    probs, backs = np.empty(m), np.zeros(m)
    words = [[None] * m for _ in range(k)]
    want = f"'log10prob<TAB>{k} word{'s' if k > 1 else ''}" + ("" if top else "[<TAB>backoff]") + "'"
    for i, ln in enumerate(body.split("\n")):
        f = ln.split()
        if not (len(f) == k + 1 or (len(f) == k + 2 and not top)):
            _fail(path, first_line + i, want, ln)
        if not _NUMBER.fullmatch(f[0]) or not math.isfinite(p := float(f[0])):
            _fail(path, first_line + i, f"a finite decimal log10 probability in {want}", ln)
        if p > 0:
            _fail(path, first_line + i, "a log10 probability <= 0 (a probability of at most 1)", ln)
        probs[i] = p
        if len(f) == k + 2:
            if not _NUMBER.fullmatch(f[-1]) or not math.isfinite(b := float(f[-1])):
                _fail(path, first_line + i, f"a finite decimal log10 backoff in {want}", ln)
            backs[i] = b
        for j in range(k):
            words[j][i] = f[1 + j]
    return probs, backs, words


_CHUNK_LINES = 250_000


def _words_to_ids(path, words, index, first_line: int, k: int) -> np.ndarray:
    """(m, k) int32 ids of the word columns; a word that is not a unigram is an error naming its line."""
    m = len(words[0]) if words else 0
    ids = np.empty((m, k), np.int32)
    for j, col in enumerate(words):
        try:
            ids[:, j] = np.fromiter(map(index.__getitem__, col), np.int32, count=m)
        except KeyError as exc:
            line = first_line + col.index(exc.args[0])
            raise InputError(f"{path}:{line}: expected words listed among the 1-grams, "
                             f"got {exc.args[0]!r} in a {k}-gram") from None
    return ids


def _parse_section(path, body: str, first_line: int, k: int, m: int, top: bool, index):
    """(probs, backoffs, ids (m, k) int32), parsing at most _CHUNK_LINES lines at a time (bounded memory)."""
    if m <= _CHUNK_LINES:
        probs, backs, words = _parse_body(path, body, first_line, k, m, top)
        return probs, backs, _words_to_ids(path, words, index, first_line, k)
    raw = body.encode("utf-8")
    newlines = np.flatnonzero(np.frombuffer(raw, np.uint8) == 10)  # (m - 1,) byte offsets
    parts = []
    for lo in range(0, m, _CHUNK_LINES):
        hi = min(lo + _CHUNK_LINES, m)
        start = 0 if lo == 0 else int(newlines[lo - 1]) + 1
        end = len(raw) if hi == m else int(newlines[hi - 1])
        chunk = raw[start:end].decode("utf-8")
        probs, backs, words = _parse_body(path, chunk, first_line + lo, k, hi - lo, top)
        parts.append((probs, backs, _words_to_ids(path, words, index, first_line + lo, k)))
        del chunk, words
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


class _Cursor:
    """Line-by-line reading of a text with line numbers, without splitting all of it."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def peek(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        end = self.text.find("\n", self.pos)
        return self.text[self.pos : end if end >= 0 else len(self.text)]

    def advance(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1
        self.line += 1

    def skip_blank(self) -> None:
        while (ln := self.peek()) is not None and not ln.strip():
            self.advance()


def read_arpa(path: str | os.PathLike):
    """Read a plain or gzipped ARPA file into a :class:`~ngramkit.models.BackoffModel`.

    The C reader (``ngramkit._arpa``) reads files of the usual layout; on
    anything else it steps aside and the Python parser reads the file or
    raises its error, so both give the same models and the same errors.
    """
    path = Path(path)
    sections, text = _parse_file(path, text_too=True)
    if sections is not None:
        model = _model_from_sections(*sections)
        if model is not None:
            return model
        text = _decode(path, _read_bytes(path))  # parsed but not a model (an n-gram listed twice): read again
    return _read_arpa_python(path, text)


def read_arpa_probe(path: str | os.PathLike, score_kernel):
    """What :mod:`ngramkit.kenlm` queries an ARPA file with, built straight from the C reader's parse:
    ``(vocab, tables, bos_log10)``, the probing index of
    :func:`~ngramkit.models.lookup.probe_index` and the log10 probability
    the file gives ``<s>`` (None without one).

    The probing index needs no sorted rows, so no model is built: the rows
    stay in file order, each n-gram's key made from its prefix's row in the
    parse. That skips the sorts of :func:`read_arpa` (about a third of its
    time on KenLM's files, which are not in the model's order) and the
    model's tables (its memory). None where :func:`read_arpa` must read the
    file (no C kernels, a file the C reader steps aside from, an n-gram
    listed twice): it gives the model or the error.
    """
    sections, _ = _parse_file(Path(path), text_too=False)
    if sections is None:
        return None
    sizes, probs, backs, ids, parents, uni_words = sections
    vocab = _vocabulary(uni_words)
    v = len(vocab)
    keys = [ids[0].astype(np.int64)]  # file row -> word id; the parse's prefix rows index these rows
    p0, b0 = probs[0], backs[0]
    at_bos = np.flatnonzero(keys[0] == BOS_ID)
    bos_log10 = float(p0[at_bos[0]]) if at_bos.size else None
    p0[at_bos] = np.nan  # context only, never predicted (as read_arpa's model)
    if UNK not in uni_words:  # appended: the rows the parse's prefixes name are unchanged
        keys[0], p0, b0 = np.append(keys[0], UNK_ID), np.append(p0, UNK_MISSING), np.append(b0, 0.0)
    for k in range(2, len(sizes) + 1):
        keys.append(parents[k - 1].astype(np.int64) * v + ids[k - 1][k - 1::k])
        ids[k - 1] = parents[k - 1] = None
    try:
        tables, _ = probe_index(keys, [p0, *probs[1:]], [b0, *backs[1:]], v, score_kernel, check_suffixes=False)
    except ValueError:  # a key listed twice: an n-gram of the top order listed twice
        return None
    return vocab, tables, bos_log10


def _parse_file(path: Path, text_too: bool):
    """``(sections, text)``: the C reader's parse of the file (:func:`_parse_arpa_c`; None where the Python
    parser must decide) and, when that is None and ``text_too``, the file's decoded text. The file's bytes
    (a gunzipped copy, or mapped pages) are let go before the sections are used."""
    data = _read_bytes(path)
    try:
        kernel = native.extension("_arpa")
        sections = _parse_arpa_c(kernel, data) if kernel is not None else None
        text = _decode(path, data) if sections is None and text_too else None
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    return sections, text


def _parse_arpa_c(kernel, data: bytes):
    """The C kernel's parse of ARPA text ``data``: ``(sizes, probs, backs, ids, parents, unigram words)``,
    one array per order in file order, words as vocabulary ids and each n-gram's prefix as its row in the
    section below; or None where the Python parser must decide. Nothing returned refers to ``data``."""
    head = kernel.header(data)
    if head is None:
        return None
    pos, sizes = head
    probs = [np.empty(m) for m in sizes]
    backs = [np.empty(m) for m in sizes]
    ids = [np.empty(m * k, np.int32) for k, m in enumerate(sizes, 1)]
    parents = [np.empty(m if k > 1 else 0, np.int32) for k, m in enumerate(sizes, 1)]
    specials = tuple(w.encode() for w in SPECIALS)
    uni_words = kernel.parse(data, pos, sizes, *map(tuple, (probs, backs, ids, parents)), specials)
    if uni_words is None:
        return None
    return sizes, probs, backs, ids, parents, uni_words


def _vocabulary(uni_words) -> Vocabulary:
    """The vocabulary of an ARPA file (both parsers): the reserved tokens, then its other unigrams in file
    order."""
    return Vocabulary(list(SPECIALS) + [w for w in uni_words if w not in SPECIALS])


def _model_from_sections(sizes, probs: list, backs: list, ids: list, parents: list, uni_words):
    """The model of the parsed sections (:func:`_parse_arpa_c`), or None where the Python parser must decide.

    The rows of each order are put in the model's order with two counting
    sorts (``_count.sort_rows``; skipped when a section is in that order
    already, as ngramkit writes it) and their keys come from those sorts,
    so no prefix search is needed. Each order's file-order arrays are
    dropped from the lists once sorted: the peak holds one order twice,
    not the whole model.
    """
    count = native.extension("_count")
    if count is None:  # sort_rows: built with _arpa, so only a broken build lacks it
        return None
    order = len(sizes)
    vocab = _vocabulary(uni_words)
    v = len(vocab)
    remap = ids[0]  # the vocabulary id of each unigram, in file order
    m1 = sizes[0]
    perm = np.argsort(remap, kind="stable")
    g = remap[perm][:, None]
    p, b = probs[0][perm], backs[0][perm]
    p[g[:, 0] == BOS_ID] = np.nan  # context only, never predicted
    shift = 0
    if UNK not in uni_words:
        g = np.concatenate([np.zeros((1, 1), np.int32), g])
        p = np.concatenate([[UNK_MISSING], p])
        b = np.concatenate([[0.0], b])
        shift = 1
    rank = np.zeros(m1 + 1, np.int64)  # file row -> row in the model's table (one spare for the sort's bound)
    rank[perm] = np.arange(shift, m1 + shift)
    ngrams, logp10, backoff10, keys = [g], [p], [b], [g[:, 0].astype(np.int64)]
    for k in range(2, order + 1):
        m = sizes[k - 1]
        rows = ids[k - 1].reshape(m, k)
        last = np.ascontiguousarray(rows[:, -1])
        head = min(m, 1000)  # files ngramkit wrote are in the model's order already: no sort then
        key = rank[parents[k - 1][:head]] * v + last[:head]
        if (key[1:] > key[:-1]).all():
            key = rank[parents[k - 1]] * v + last
            if (key[1:] > key[:-1]).all():
                ngrams.append(rows)
                logp10.append(probs[k - 1])
                backoff10.append(backs[k - 1])
                keys.append(key)
                rank = np.arange(m, dtype=np.int64)
                continue
        perm = np.empty(m, np.int32)
        sparent = np.empty(m, np.int64)
        slast = np.empty(m, np.int32)
        count.sort_rows(parents[k - 1], last, rank, v, perm, sparent, slast)
        key = sparent * v + slast
        if m > 1 and not (key[1:] > key[:-1]).all():
            return None  # an n-gram listed twice (the kernel finds those of lower orders itself)
        ngrams.append(np.take(rows, perm, axis=0))
        logp10.append(np.take(probs[k - 1], perm))
        backoff10.append(np.take(backs[k - 1], perm))
        keys.append(key)
        del rows
        probs[k - 1] = backs[k - 1] = ids[k - 1] = parents[k - 1] = None  # the file-order copies
        rank = np.empty(m, np.int64)
        rank[perm] = np.arange(m)
    try:
        return BackoffModel.from_tables(vocab, ngrams, logp10, backoff10, keys=keys)
    except NgramkitError:
        return None


def _read_arpa_python(path: Path, text: str):
    """The Python parser (``NGRAMKIT_IMPL=numpy``, and whatever the C reader steps aside from)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    cur = _Cursor(text)
    cur.skip_blank()
    ln = cur.peek()
    if ln is None or ln.strip() != "\\data\\":
        _fail(path, cur.line, "the '\\data\\' header of an ARPA file", "end of file" if ln is None else ln)
    cur.advance()
    sizes: dict[int, int] = {}
    while (ln := cur.peek()) is not None and ln.strip():
        mt = _NGRAM_LINE.match(ln.strip())
        if not mt:
            _fail(path, cur.line, "'ngram K=COUNT'", ln)
        k, m = int(mt.group(1)), int(mt.group(2))
        if k != len(sizes) + 1:
            _fail(path, cur.line, f"'ngram {len(sizes) + 1}=COUNT' (orders in sequence from 1)", ln)
        sizes[k] = m
        cur.advance()
    if not sizes:
        _fail(path, cur.line, "'ngram 1=COUNT' after '\\data\\'", ln if ln is not None else "end of file")
    order = len(sizes)
    sections = []
    for k in range(1, order + 1):
        cur.skip_blank()
        ln = cur.peek()
        mt = _SECTION.match(ln.strip()) if ln is not None else None
        if not mt or int(mt.group(1)) != k:
            _fail(path, cur.line, f"'\\{k}-grams:'", ln if ln is not None else "end of file")
        cur.advance()
        # The body runs to the next line starting with a backslash (next section or \end\).
        nxt = text.find("\n\\", cur.pos - 1)
        end = len(text) if nxt < 0 else nxt + 1
        body = text[cur.pos : end].rstrip()
        count = body.count("\n") + 1 if body else 0
        m = sizes[k]
        if count < m:
            got = text[cur.pos + len(body) : end].strip() or (text[end:].split("\n", 1)[0] if end < len(text) else "")
            _fail(path, cur.line + count, f"{m} {k}-gram lines (the \\data\\ header says so), found {count}",
                  got or "end of file")
        if count > m:
            extra = cur.line + m
            _fail(path, extra, f"'\\end\\' or the next section after {m} {k}-gram lines (more n-gram lines than "
                  "the \\data\\ header announces?)", body.split("\n")[m])
        if k == 1:
            # Vocabulary: specials first, then the unigrams in file order.
            probs, backs, words = _parse_body(path, body, cur.line, 1, m, k == order)
            uni_words = words[0]
            if len(set(uni_words)) != len(uni_words):
                dup = next(w for w in uni_words if uni_words.count(w) > 1)
                raise InputError(f"{path}: unigram {dup!r} is listed twice")
            vocab = _vocabulary(uni_words)
            sections.append((probs, backs, _words_to_ids(path, words, vocab.index, cur.line, 1)))
        else:
            sections.append(_parse_section(path, body, cur.line, k, m, k == order, vocab.index))
        del body
        cur.pos, cur.line = end, cur.line + text.count("\n", cur.pos, end)
    cur.skip_blank()
    ln = cur.peek()
    if ln is None or ln.strip() != "\\end\\":
        _fail(path, cur.line, "'\\end\\'", "end of file" if ln is None else ln)

    del text, cur
    ngrams, logp10, backoff10 = [], [], []
    for k, (probs, backs, ids) in enumerate(sections, 1):
        order_ = np.lexsort(ids.T[::-1]) if k > 1 else np.argsort(ids[:, 0], kind="stable")
        ids, probs, backs = ids[order_], probs[order_], backs[order_]
        if len(ids) > 1:
            same = (np.diff(ids, axis=0) == 0).all(axis=1)
            if same.any():
                dup = " ".join(vocab.decode(ids[np.flatnonzero(same)[0]]))
                raise InputError(f"{path}: {k}-gram {dup!r} is listed twice")
        if k == 1:
            probs = probs.copy()
            probs[ids[:, 0] == BOS_ID] = np.nan  # context only, never predicted
            if UNK not in uni_words:
                ids = np.concatenate([[[0]], ids]).astype(np.int32)
                probs = np.concatenate([[UNK_MISSING], probs])
                backs = np.concatenate([[0.0], backs])
        ngrams.append(ids)
        logp10.append(probs)
        backoff10.append(backs)
    try:
        return BackoffModel.from_tables(vocab, ngrams, logp10, backoff10)
    except NgramkitError as exc:
        raise InputError(f"{path}: {exc}") from None
