"""The quantised compact n-gram format (``.ngq``): :func:`quantise` and :class:`CompactModel`.

Input of :func:`quantise`: an n-gram model in backoff form (any smoothed
model of :mod:`ngramkit.models`, an ARPA file read by
:func:`ngramkit.arpa.read_arpa`) and a bit count (8: KenLM's ``build_binary
-q 8 -b 8``). Output: a :class:`CompactModel`, saved by
:func:`ngramkit.modelio.save_model` as a native model record (the same
checksummed, memory-mapped container as ``.ngk``, class ``CompactModel``)
and loaded by :func:`ngramkit.modelio.load_model`, which maps it and scores
it as it is: nothing is unpacked to score a stream.

The values, as KenLM quantises them (``lm/quantize.cc``; Federico and
Bertoldi 2006), per order k = 2..N separately, on float32 log10 values:

- probabilities: sorted, cut into 2^bits bins of equal count (bin i ends at
  ``size * (i+1) // bins``), each bin's centre the mean of its values (summed
  in double, rounded to float32; an empty bin repeats the previous centre,
  -inf for the first), every value coded as its nearest centre (a tie goes
  up);
- backoffs (orders below N): codes 0 and 1 are -0.0 and 0.0 (a zero backoff
  of an n-gram without / with longer n-grams: KenLM's "extension" flag), the
  non-zero backoffs are binned as above into the other 2^bits - 2 bins;
- unigrams are kept unquantised (float32), as KenLM does;
- ngramkit's own non-finite values, which ARPA cannot hold, get codes of
  their own after the bins (only in an order that has them, which then has
  that many bins fewer): NaN, a context-only entry (``<s>``, or the prefix
  of a kept n-gram after pruning), and -inf, probability 0.

The n-grams (:file:`ngramkit/_kernels/compact.h` has the exact layout): a
forward trie. Order 1 is dense over the word ids (float32 probability and
backoff, a bit-packed pointer to the first child); order k >= 2 is one
fixed-width bit-packed record per n-gram, in ngramkit's row order (sorted by
prefix, then word): word id (ceil(log2 V) bits), probability code, backoff
code and pointer to the first child in order k+1 (ceil(log2(M_{k+1}+1))
bits), the last two absent at order N. The children of an entry run to the
next entry's pointer. A query walks the stream once, carrying the entries of
the context's suffixes from token to token, one binary search per order in
the children of the context (the C kernel ``ngramkit._compact``; in a
suffix-closed model, which the file records, the search stops at the first
order without the token's n-gram, and the record the next token's search
reads first is prefetched); the ARPA
rule gives the same numbers as :class:`~ngramkit.models.BackoffModel` on the
dequantised values (:meth:`CompactModel.to_backoff`), bit for bit.

Everything else that takes a model (``ngramkit.kenlm.Model``, ``generate``,
``convert`` back to ARPA, :func:`~ngramkit.lm.LanguageModel.next_log_probs`)
works on :meth:`CompactModel.to_backoff`: the dequantised tables, built once
per model (under a second for PTB order 5). Entropy pruning refuses a
quantised model (:func:`ngramkit.prune.prune_model`): its values do not
normalise, so the pruning criterion would be meaningless.

Without the C kernel (``NGRAMKIT_IMPL=numpy``) the bits are packed and
unpacked by numpy and a stream is scored by the dequantised model's numpy
reference: the same numbers.
"""

from __future__ import annotations

import numpy as np

from . import native
from .errors import InputError, NgramkitError
from .evaluate import LN10
from .lm import LanguageModel
from .models.backoff import BackoffModel
from .models.lookup import find_rows
from .stream import Stream
from .vocab import BOS_ID, Vocabulary

LAYOUT = 1  # the state's "layout": the record layout of compact.h
MIN_BITS, MAX_BITS = 2, 16  # --quantize: backoffs need 2 codes for zero; centre tables stay small
PAD_BYTES = 8  # after every packed array: the last field's 64-bit load stays inside


# ---- quantisation (KenLM's lm/quantize.cc) --------------------------------------------------


def make_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """(bins,) float32 centres of ``values`` (float32): KenLM's ``MakeBins`` (module docstring)."""
    v = np.sort(np.asarray(values, np.float32))
    n = v.size
    centres = np.empty(bins, np.float32)
    start = 0
    for i in range(bins):
        finish = (n * (i + 1)) // bins
        if finish == start:
            centres[i] = centres[i - 1] if i else -np.inf
        else:  # std::accumulate(start, finish, 0.0) / float(count): a sequential double sum
            total = np.cumsum(v[start:finish], dtype=np.float64)[-1]
            centres[i] = np.float32(total / np.float64(np.float32(finish - start)))
        start = finish
    return centres


def encode(values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n,) int64 code of each finite float32 value: its nearest centre, a tie going up (KenLM's ``Bins::Encode``)."""
    values = np.asarray(values, np.float32)
    centres = np.asarray(centres, np.float32)
    above = np.searchsorted(centres, values, side="left")  # std::lower_bound
    codes = np.minimum(above, centres.size - 1).astype(np.int64)
    inner = (above > 0) & (above < centres.size)
    i = above[inner]
    v = values[inner]
    closer_below = (v - centres[i - 1]) < (centres[i] - v)  # float32 arithmetic, as KenLM's floats
    codes[inner] = i - closer_below
    return codes


def quantise_probs(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, centres) of one order's log10 probabilities; NaN and -inf get codes of their own (module docstring)."""
    v = np.asarray(values, np.float32)
    specials = [x for x, present in ((np.nan, np.isnan(v).any()), (-np.inf, np.isneginf(v).any())) if present]
    n_bins = (1 << bits) - len(specials)
    finite = np.isfinite(v)
    centres = np.empty(1 << bits, np.float32)
    centres[:n_bins] = make_bins(v[finite], n_bins)
    centres[n_bins:] = specials
    codes = np.empty(v.size, np.int64)
    codes[finite] = encode(v[finite], centres[:n_bins])
    for j, x in enumerate(specials):
        codes[np.isnan(v) if np.isnan(x) else np.isneginf(v)] = n_bins + j
    return codes, centres


def quantise_backoffs(values: np.ndarray, extended: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, centres) of one order's log10 backoffs: zero is -0.0 (code 0) or, for an n-gram some longer
    n-gram extends, 0.0 (code 1); the others binned into the remaining codes."""
    v = np.asarray(values, np.float32)
    if not np.isfinite(v).all():
        raise NgramkitError("cannot quantise a model with non-finite backoff weights")
    zero = v == 0
    centres = np.empty(1 << bits, np.float32)
    centres[0], centres[1] = -0.0, 0.0
    centres[2:] = make_bins(v[~zero], (1 << bits) - 2)
    codes = np.where(extended, 1, 0).astype(np.int64)
    codes[~zero] = encode(v[~zero], centres[2:]) + 2
    return codes, centres


# ---- bit packing ------------------------------------------------------------------------------


def bits_for(n: int) -> int:
    """Bits of a field holding 0..n."""
    return max(1, int(n).bit_length())


def packed_size(n_records: int, record_bits: int) -> int:
    """Bytes of ``n_records`` records of ``record_bits``, plus the padding every read may touch."""
    return (n_records * record_bits + 7) // 8 + PAD_BYTES


def pack(values: np.ndarray, width: int, start: int, stride: int, out: np.ndarray) -> None:
    """OR the low ``width`` bits of ``values`` into ``out`` (uint8, zeroed), value i at bit ``start + i*stride``."""
    values = np.ascontiguousarray(values, np.uint64)
    kernel = native.extension("_compact")
    if kernel is not None:
        kernel.pack(values, int(width), int(start), int(stride), out)
        return
    n = values.size
    if n == 0:
        return
    pos = np.uint64(start) + np.arange(n, dtype=np.uint64) * np.uint64(stride)
    shift = pos & np.uint64(7)
    byte = (pos >> np.uint64(3)).astype(np.int64)
    x = (values & np.uint64((1 << width) - 1)) << shift  # width <= 57: fits in 64 bits
    for j in range((width + 7 + 7) // 8):
        part = ((x >> np.uint64(8 * j)) & np.uint64(0xFF)).astype(np.uint8)
        np.bitwise_or.at(out, byte + j, part)  # neighbouring fields may share a byte


def unpack(bits: np.ndarray, n: int, width: int, start: int, stride: int) -> np.ndarray:
    """(n,) uint64: the ``width``-bit fields that :func:`pack` wrote."""
    out = np.empty(n, np.uint64)
    kernel = native.extension("_compact")
    if kernel is not None:
        kernel.unpack(bits, int(width), int(start), int(stride), out)
        return out
    if n == 0:
        return out
    pos = np.uint64(start) + np.arange(n, dtype=np.uint64) * np.uint64(stride)
    byte = (pos >> np.uint64(3)).astype(np.int64)
    x = np.zeros(n, np.uint64)
    for j in range(8):
        x |= bits[byte + j].astype(np.uint64) << np.uint64(8 * j)
    return (x >> (pos & np.uint64(7))) & np.uint64((1 << width) - 1)


# ---- the model ----------------------------------------------------------------------------------


def check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise NgramkitError(f"quantisation bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return int(bits)


def quantise(model, bits: int = 8) -> CompactModel:
    """``model`` (anything with ``to_backoff()``) with 8-bit (or ``bits``-bit) values in the compact layout."""
    bits = check_bits(bits)
    if isinstance(model, CompactModel):
        raise NgramkitError(f"the model is already quantised ({model.bits} bits); quantise the unquantised model "
                            "instead")
    bm = model if isinstance(model, BackoffModel) else model.to_backoff()
    bm._check_fitted()
    n, vocab = bm.order, bm.vocab
    v = len(vocab)
    if v >= 1 << 31:
        raise NgramkitError(f"a vocabulary of {v} words is too large for the compact format")
    keys = [bm.keys(k) for k in range(1, n + 1)]
    sizes = [int(key.size) for key in keys]
    parents = [None] + [key // v for key in keys[1:]]  # parents[k-1]: row of each order-k n-gram's prefix
    uni_ids = keys[0]
    state = {"layout": LAYOUT, "order": n, "prob_bits": bits, "backoff_bits": bits, "sizes": sizes,
             "word_bits": bits_for(v - 1), "source": {"class": type(model).__name__, "name": model.name,
                                                      "hparams": model.hparams() if hasattr(model, "hparams") else {}}}
    arrays: dict[str, np.ndarray] = {}

    uni_p = np.full(v, np.nan, np.float32)  # absent words: no probability, no backoff, no children
    uni_b = np.zeros(v, np.float32)
    uni_p[uni_ids] = bm.logp10(1)
    uni_b[uni_ids] = bm.backoff10(1)
    present = np.zeros(v, bool)
    present[uni_ids] = True
    arrays["uni_logp10"], arrays["uni_backoff10"] = uni_p, uni_b
    arrays["uni_present"] = np.packbits(present, bitorder="little")
    child_words = uni_ids[parents[1]] if n > 1 else np.zeros(0, np.int64)  # order-2 n-grams' first words (sorted)
    ptr = np.searchsorted(child_words, np.arange(v + 1), side="left")
    state["uni_ptr_bits"] = pb = bits_for(sizes[1] if n > 1 else 0)
    out = np.zeros(packed_size(v + 1, pb), np.uint8)
    pack(ptr, pb, 0, pb, out)
    arrays["uni_ptr"] = out

    ptr_bits, wb = [], state["word_bits"]
    for k in range(2, n + 1):
        m = sizes[k - 1]
        top = k == n
        p_codes, p_centres = quantise_probs(bm.logp10(k), bits)
        fields = [(keys[k - 1] % v, wb), (p_codes, bits)]
        if not top:
            extended = np.zeros(m, bool)
            extended[parents[k]] = True
            b_codes, b_centres = quantise_backoffs(bm.backoff10(k), extended, bits)
            pbits = bits_for(sizes[k])
            fields += [(b_codes, bits), (np.searchsorted(parents[k], np.arange(m + 1), side="left"), pbits)]
            arrays[f"backoff_centres{k}"] = b_centres
        else:
            pbits = 0
        ptr_bits.append(pbits)
        rec = sum(width for _, width in fields)
        out = np.zeros(packed_size(m + 1, rec), np.uint8)
        offset = 0
        for values, width in fields:
            pack(values, width, offset, rec, out)  # the pointer field has m+1 values: the sentinel record
            offset += width
        arrays[f"records{k}"] = out
        arrays[f"prob_centres{k}"] = p_centres
    state["ptr_bits"] = ptr_bits
    closed = bm._suffix_closed  # known when the model was fitted, loaded from .ngk or scored
    state["suffix_closed"] = closed if closed is not None else suffix_closed([bm.ngrams(k) for k in range(1, n + 1)],
                                                                             keys, v)
    return CompactModel._from_parts(state, arrays, vocab)


def suffix_closed(ngrams: list[np.ndarray], keys: list[np.ndarray], v: int) -> bool:
    """True when the suffix of every n-gram of these tables is an n-gram (or context-only entry) of them: the
    scorer may then stop at the first order where a token's n-gram is absent (every smoothed model of
    ngramkit and every lmplz model is; a pruned or hand-made one may not be)."""
    return all(bool((find_rows(keys[:k - 1], v, ngrams[k - 1][:, 1:]) >= 0).all()) for k in range(2, len(keys) + 1))


class CompactModel(LanguageModel):
    """A quantised n-gram model in the compact layout, scored as it is stored (module docstring).

    Build one with :func:`quantise`; :func:`ngramkit.modelio.load_model` maps a saved one.
    """

    name = "compact"

    def __init__(self, order: int):
        super().__init__(order)
        self._state: dict = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._backoff: BackoffModel | None = None

    @classmethod
    def _from_parts(cls, state: dict, arrays: dict, vocab: Vocabulary) -> CompactModel:
        model = cls(int(state["order"]))
        model._state, model._arrays, model.vocab = state, arrays, vocab
        return model

    # ---- what it holds ----------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Bits per quantised probability (and backoff)."""
        return int(self._state["prob_bits"])

    @property
    def sizes(self) -> list[int]:
        """n-grams per order, 1..N (unigrams: the words with a unigram entry)."""
        return list(self._state["sizes"])

    @property
    def source(self) -> dict:
        """The quantised model's class, name and hyper-parameters."""
        return dict(self._state.get("source") or {})

    def hparams(self) -> dict:
        return {"bits": self.bits}

    def _levels(self) -> tuple:
        """The kernel's per-order tuples (records, n, word, prob, backoff and pointer bits, centres)."""
        st, a, n = self._state, self._arrays, self.order
        out = []
        for k in range(2, n + 1):
            top = k == n
            out.append((a[f"records{k}"], st["sizes"][k - 1], st["word_bits"], st["prob_bits"],
                        0 if top else st["backoff_bits"], st["ptr_bits"][k - 2], a[f"prob_centres{k}"],
                        None if top else a[f"backoff_centres{k}"]))
        return tuple(out)

    # ---- scoring ----------------------------------------------------------------------------
    def log_probs(self, stream: Stream) -> np.ndarray:
        stream = self.remap(stream)
        padded, offsets = stream.padded(BOS_ID)
        kernel = native.extension("_compact")
        if kernel is None:
            return self.to_backoff()._log_probs_numpy(padded, offsets)
        out = np.empty(stream.n_tokens, np.float64)
        a = self._arrays
        kernel.score(np.ascontiguousarray(padded, np.int32), np.ascontiguousarray(offsets, np.int64),
                     a["uni_logp10"], a["uni_backoff10"], a["uni_ptr"], self._state["uni_ptr_bits"], self._levels(),
                     out, self._state.get("suffix_closed") is True)
        out *= LN10
        return out

    def next_log_probs(self, context_ids) -> np.ndarray:
        return self.to_backoff().next_log_probs(context_ids)

    def sample_ids(self, n_tokens, seed, **kw):
        """:meth:`BackoffModel.sample_ids` of the dequantised model."""
        return self.to_backoff().sample_ids(n_tokens, seed, **kw)

    def iter_generate(self, *args, **kw):
        """:meth:`BackoffModel.iter_generate` of the dequantised model."""
        return self.to_backoff().iter_generate(*args, **kw)

    # ---- the dequantised model ----------------------------------------------------------------
    def to_backoff(self) -> BackoffModel:
        """The :class:`BackoffModel` of the dequantised values (built once; validates the structure)."""
        self._check_fitted()
        if self._backoff is None:
            ngrams, logp10, backoff10, keys = unpack_tables(self._state, self._arrays, len(self.vocab))
            self._backoff = BackoffModel.from_tables(self.vocab, ngrams, logp10, backoff10, keys=keys)
        return self._backoff

    # ---- state --------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"class": type(self).__name__, "name": self.name, "order": self.order, "hparams": self.hparams(),
                "tables": "compact", **self._state}
        return meta, dict(self._arrays)

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], vocab: Vocabulary) -> CompactModel:
        check_geometry(meta, arrays, len(vocab))
        state = {key: meta[key] for key in ("layout", "order", "prob_bits", "backoff_bits", "sizes", "word_bits",
                                            "uni_ptr_bits", "ptr_bits", "suffix_closed", "source") if key in meta}
        names = ["uni_logp10", "uni_backoff10", "uni_present", "uni_ptr"]
        for k in range(2, int(meta["order"]) + 1):
            names += [f"records{k}", f"prob_centres{k}"] + ([f"backoff_centres{k}"] if k < meta["order"] else [])
        return cls._from_parts(state, {name: arrays[name] for name in names}, vocab)


# ---- checks and unpacking -------------------------------------------------------------------------

def check_geometry(meta: dict, arrays: dict, v: int) -> None:
    """Refuse a compact state whose fields, dtypes or sizes disagree (NgramkitError naming the problem).

    What the C scorer trusts: with these right, any bytes score without reading outside the arrays.
    """
    def need(cond, why):
        if not cond:
            raise NgramkitError(why)

    def integer(x):
        return isinstance(x, int) and not isinstance(x, bool)

    need(meta.get("layout") == LAYOUT and integer(meta.get("layout")),
         f"compact layout {meta.get('layout')!r}, this ngramkit reads layout {LAYOUT} (written by a newer ngramkit?)")
    n = meta.get("order")
    need(integer(n) and 1 <= n <= 16, f"order {n!r} (1..16)")
    q, b = meta.get("prob_bits"), meta.get("backoff_bits")
    need(integer(q) and integer(b) and MIN_BITS <= q <= MAX_BITS and MIN_BITS <= b <= MAX_BITS,
         f"quantisation bits {q!r}/{b!r}")
    sizes, ptr_bits = meta.get("sizes"), meta.get("ptr_bits")
    need(isinstance(sizes, list) and len(sizes) == n and all(integer(s) and 0 <= s < 1 << 56 for s in sizes),
         f"'sizes' {sizes!r}")
    need(isinstance(ptr_bits, list) and len(ptr_bits) == n - 1 and all(integer(p) for p in ptr_bits),
         f"'ptr_bits' {ptr_bits!r}")
    wb, ub = meta.get("word_bits"), meta.get("uni_ptr_bits")
    need(integer(wb) and wb == bits_for(v - 1), f"'word_bits' {wb!r} for {v} words")
    need(integer(ub) and ub == bits_for(sizes[1] if n > 1 else 0), f"'uni_ptr_bits' {ub!r}")
    need(sizes[0] <= v, f"{sizes[0]} unigrams for {v} words")

    def array(name, dtype, size):
        arr = arrays.get(name)
        need(arr is not None, f"array {name!r} missing")
        need(arr.dtype.str == dtype and arr.ndim == 1 and arr.size == size,
             f"array {name!r} is {arr.dtype.str} {arr.shape}, expected {dtype} ({size},)")

    array("uni_logp10", "<f4", v)
    array("uni_backoff10", "<f4", v)
    array("uni_present", "|u1", (v + 7) // 8)
    array("uni_ptr", "|u1", packed_size(v + 1, ub))
    for k in range(2, n + 1):
        top = k == n
        pbits = ptr_bits[k - 2]
        need(pbits == (0 if top else bits_for(sizes[k])), f"'ptr_bits' of order {k}: {pbits!r}")
        rec = wb + q + (0 if top else b + pbits)
        array(f"records{k}", "|u1", packed_size(sizes[k - 1] + 1, rec))
        array(f"prob_centres{k}", "<f4", 1 << q)
        if not top:
            array(f"backoff_centres{k}", "<f4", 1 << b)


def check_state(state: dict, arrays: dict, v: int, path, *, values: bool = True) -> None:
    """:func:`ngramkit.modelio.check_state` for a compact record: the geometry always, the trie with ``values``.

    Raises :class:`~ngramkit.errors.InputError` naming ``path``.
    """
    try:
        check_geometry(state, arrays, v)
        if values:
            tables = unpack_tables(state, arrays, v)
            if state.get("suffix_closed") is True and not suffix_closed(tables[0], tables[3], v):
                raise NgramkitError("'suffix_closed' is true but some n-gram's suffix is not in the model")
    except NgramkitError as exc:
        raise InputError(f"{path}: corrupt model state for CompactModel ({exc})") from None


def unpack_tables(state: dict, arrays: dict, v: int):
    """(ngrams, logp10, backoff10, keys) per order: the dequantised tables of :class:`BackoffModel`.

    Raises NgramkitError when the structure is not a valid trie (pointers
    not rising from 0 to the next order's size, word ids outside the
    vocabulary, n-grams not sorted, a child of a word without a unigram).
    """
    n, wb, sizes = int(state["order"]), int(state["word_bits"]), state["sizes"]
    present = np.unpackbits(arrays["uni_present"], count=v, bitorder="little").astype(bool)
    uni_ids = np.flatnonzero(present)
    if uni_ids.size != sizes[0]:
        raise NgramkitError(f"{uni_ids.size} unigrams marked present, the header says {sizes[0]}")
    ngrams = [uni_ids.astype(np.int32)[:, None]]
    logp10 = [arrays["uni_logp10"][uni_ids].astype(np.float64)]
    backoff10 = [arrays["uni_backoff10"][uni_ids].astype(np.float64)]
    keys = [uni_ids.astype(np.int64)]
    if n == 1:
        return ngrams, logp10, backoff10, keys
    ub = int(state["uni_ptr_bits"])
    ptr = unpack(arrays["uni_ptr"], v + 1, ub, 0, ub).astype(np.int64)
    row_of = np.full(v, -1, np.int64)
    row_of[uni_ids] = np.arange(uni_ids.size)
    parent = _parents(ptr, sizes[1], 2)
    parent_rows = row_of[parent]
    if (parent_rows < 0).any():
        raise NgramkitError("a 2-gram's first word has no unigram")
    for k in range(2, n + 1):
        top = k == n
        q, b = int(state["prob_bits"]), 0 if top else int(state["backoff_bits"])
        pb = int(state["ptr_bits"][k - 2])
        rec, m = wb + q + b + pb, sizes[k - 1]
        recs = arrays[f"records{k}"]
        words = unpack(recs, m, wb, 0, rec).astype(np.int64)
        if m and int(words.max()) >= v:
            raise NgramkitError(f"an order-{k} word id is outside the vocabulary of {v} words")
        key = parent_rows * v + words
        if m > 1 and not (np.diff(key) > 0).all():
            raise NgramkitError(f"the order-{k} n-grams are not sorted and unique")
        keys.append(key)
        ngrams.append(np.column_stack([ngrams[-1][parent_rows], words.astype(np.int32)]))
        logp10.append(arrays[f"prob_centres{k}"][unpack(recs, m, q, wb, rec).astype(np.int64)].astype(np.float64))
        if top:
            backoff10.append(np.zeros(m, np.float64))
        else:
            codes = unpack(recs, m, b, wb + q, rec).astype(np.int64)
            backoff10.append(arrays[f"backoff_centres{k}"][codes].astype(np.float64))
            ptr = unpack(recs, m + 1, pb, wb + q + b, rec).astype(np.int64)
            parent_rows = _parents(ptr, sizes[k], k + 1)
    bad = [k for k, bo in enumerate(backoff10, 1) if not np.isfinite(bo).all()]
    if bad:
        raise NgramkitError(f"order-{bad[0]} backoff centres are not finite")
    return ngrams, logp10, backoff10, keys


def _parents(ptr: np.ndarray, size: int, k: int) -> np.ndarray:
    """(size,) the parent entry of each order-k record, from its parents' pointers (which must rise to size)."""
    if ptr[0] != 0 or ptr[-1] != size or (np.diff(ptr) < 0).any():
        raise NgramkitError(f"the pointers to the order-{k} n-grams do not rise from 0 to {size}")
    return np.repeat(np.arange(ptr.size - 1, dtype=np.int64), np.diff(ptr))
