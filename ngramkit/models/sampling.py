"""Exact, fast sampling of sentences from a backoff n-gram model (``ngramkit generate`` at temperature 1).

Input: a :class:`~ngramkit.models.BackoffModel` (every smoothed model is
one), a number of tokens and a seed. Output: int32 word ids, whole sentences
each ending with ``</s>`` (the last one cut at the requested count), drawn
exactly from the model's conditional distributions -- without ever building
a distribution over the vocabulary.

The maths. For a context c (the longest suffix of the sentence so far, at
most N-1 words, that is a row of the tables), the backoff rule gives
``P(w|c) = p(w|c)`` when ``c w`` is an n-gram of the model (w is a *child*
of c) and ``b(c) P(w|c')`` otherwise, c' being c without its first word.
The children of c are contiguous rows of order |c|+1 (rows are sorted, and
a row's key is ``parent * V + last``), and carry the mass
``S_c = sum_{w child} p(w|c)``. Sampling:

1. draw u uniform in [0, 1); if ``u < S_c``, the word is the child whose
   cumulative probability interval (per-context cumulative array, computed
   once per model) holds u: ``P = p(w|c)``;
2. otherwise (probability ``1 - S_c``) draw w from ``P(.|c')`` (the same
   procedure, recursively, down to the unigram distribution) and *reject* it
   -- draw again from ``P(.|c')`` -- while w is a child of c. A non-child w
   comes out with probability ``(1 - S_c) P(w|c') / (1 - P(ch(c)|c'))``,
   and since the model is normalised, ``1 - S_c = b(c) (1 - P(ch(c)|c'))``,
   so this is ``b(c) P(w|c')``: exactly the backoff rule.

A context row that is absent (possible in an arbitrary ARPA file) is skipped
with weight 1, as in scoring; context-only rows (NaN probability) carry no
mass and are not children. ``<s>`` and ``<pad>`` are never generated: a draw
that gives one is thrown away whole and the token drawn again, which is the
model's distribution conditioned on the other words (what the slow path's
renormalisation gives). For a model that is not exactly normalised (rounded
ARPA files), the sampler gives ``p(w|c)`` to children and shares ``1 - S_c``
among the others in proportion to the lower order -- the normalised form.

Implementation: the state of a sentence is the row of each suffix of its
context (KenLM's state), updated per token by a binary search among the
children of the previous row (the rejection checks of step 2 are the same
searches, so the kernel reuses them). The levels still to check are the
present contexts above the level that produced w, so one integer (the
current level) is the whole state of a draw. Per context row the children's
mass sits in its own array, so deciding "child or back off" costs one cache
miss, started for every level as soon as the context is known (prefetch).

Randomness: a counter-based stream per sentence, splitmix64 keyed by (seed,
sentence index), one 53-bit uniform per draw, so sentence i's text depends
only on (seed, i): not on chunk sizes, threads, or the implementation. The
C kernel (``ngramkit._sample``), the numpy reference here that runs when it
is missing or ``NGRAMKIT_IMPL=numpy`` (:func:`batch_sample`, every sentence
of a call advanced one draw per step, ~10-15x slower) and the plain loop
the tests use as its oracle (:func:`reference_sample`) give the same ids,
draw for draw.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import native
from ..errors import NgramkitError, ParameterError
from ..vocab import BOS_ID, EOS_ID, PAD_ID

__all__ = ["SamplerTables", "sample_ids", "batch_sample", "reference_sample", "render_ids", "uniform"]

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MAX_DRAWS = 1 << 24  # uniform draws allowed for one token before the model is declared degenerate
MAX_CHUNK_TOKENS = 1 << 18  # tokens per kernel call and thread (about 1 MB of ids)


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def stream_key(seed: int, sentence: int) -> int:
    """The 64-bit key of sentence ``sentence``'s random stream under ``seed`` (as ``ngk_stream_key``)."""
    return _mix64(_mix64((seed + GOLDEN) & MASK) ^ ((sentence * GOLDEN + 0x243F6A8885A308D3) & MASK))


def uniform(key: int, t: int) -> float:
    """Draw ``t`` (0, 1, ...) of the stream ``key``: a float in [0, 1) with 53 random bits."""
    return (_mix64((key + (t + 1) * GOLDEN) & MASK) >> 11) * 2.0 ** -53


class SamplerTables:
    """What the sampler needs from a backoff model, computed once (about 21 bytes per n-gram).

    Per order k: ``last[k-1]`` (M_k,) int32 last word of each row;
    ``cum[k-1]`` (M_k,) float64 cumulative probability of the rows of the same
    context up to and including this row (NaN rows add 0); ``real[k-1]``
    (M_k,) uint8, 0 for context-only rows; for k < N ``child[k-1]`` (M_k+1,)
    int64: the rows of order k+1 extending row r are ``child[k-1][r] ..
    child[k-1][r+1]-1``. ``uni_row`` (V,) int32: the order-1 row of each
    word, -1 if absent.
    """

    def __init__(self, model):
        v = len(model.vocab)
        n = model.order
        self.order, self.vocab_size = n, v
        ngrams = [model.ngrams(k) for k in range(1, n + 1)]
        keys = [model.keys(k) for k in range(1, n + 1)]
        self.uni_row = np.full(v, -1, np.int32)
        self.uni_row[ngrams[0][:, 0]] = np.arange(ngrams[0].shape[0], dtype=np.int32)
        self.last = [np.ascontiguousarray(g[:, -1], np.int32) for g in ngrams]
        self.keys = keys  # the model's sorted row keys (the vectorised reference looks n-grams up in them)
        parents = [None] + [keys[k] // v for k in range(1, n)]  # row of order k of each row of order k+1
        self.child = []
        for k in range(1, n):  # keys are sorted, so the rows of one parent are contiguous, in parent order
            child = np.zeros(keys[k - 1].size + 1, np.int64)
            np.cumsum(np.bincount(parents[k], minlength=keys[k - 1].size), out=child[1:])
            self.child.append(child)
        self.real, self.cum = [], []
        for k in range(1, n + 1):
            lp = np.asarray(model.logp10(k), np.float64)
            real = ~np.isnan(lp)
            p = np.where(real, 10.0 ** np.where(real, lp, 0.0), 0.0)
            total = np.cumsum(p)
            if k == 1:
                cum = total
            else:  # restart the sum at each context: subtract the total before the context's first row
                before = np.concatenate([[0.0], total])
                cum = total - before[self.child[k - 2][parents[k - 1]]]
            self.real.append(real.astype(np.uint8))
            self.cum.append(np.ascontiguousarray(cum, np.float64))
        self.mass = []  # per order k < N: probability of the children of each row (cum of its last child)
        for k in range(1, n):
            lo, hi = self.child[k - 1][:-1], self.child[k - 1][1:]
            mass = np.zeros(lo.size, np.float64)
            has = hi > lo
            mass[has] = self.cum[k][hi[has] - 1]
            self.mass.append(mass)
        if self.cum[0].size == 0 or not self.cum[0][-1] > 0:
            raise NgramkitError("cannot generate: the model's unigram probabilities are all 0")

    def kernel_args(self) -> tuple:
        return (self.order, self.vocab_size, BOS_ID, PAD_ID, EOS_ID, self.uni_row, tuple(self.last),
                tuple(self.cum), tuple(self.real), tuple(self.child), tuple(self.mass))


# ---- the Python reference of ngk_sample (same draws, same ids) ---------------------------------------------------

def _find_child(t: SamplerTables, k: int, r: int, w: int) -> int:
    lo, hi = int(t.child[k - 1][r]), int(t.child[k - 1][r + 1])
    i = lo + int(np.searchsorted(t.last[k][lo:hi], w))
    return i if i < hi and int(t.last[k][i]) == w else -1


def _search_cum(cum: np.ndarray, lo: int, hi: int, u: float) -> int:
    return min(lo + int(np.searchsorted(cum[lo:hi], u, side="right")), hi - 1)


def _draw(t: SamplerTables, ctx: list[int], key: int, counter: list[int], max_draws: int) -> int:
    n = t.order
    top = next((j for j in range(n - 1, 0, -1) if ctx[j] >= 0), 0)
    cum1 = t.cum[0]
    s0 = float(cum1[-1])
    level = top
    for _ in range(max_draws):
        u = uniform(key, counter[0])
        counter[0] += 1
        if level >= 1:
            r = ctx[level]
            if u < t.mass[level - 1][r]:
                lo, hi = int(t.child[level - 1][r]), int(t.child[level - 1][r + 1])
                w = int(t.last[level][_search_cum(t.cum[level], lo, hi, u)])
            else:
                level -= 1
                while level >= 1 and ctx[level] < 0:
                    level -= 1
                continue
        else:
            w = int(t.last[0][_search_cum(cum1, 0, cum1.size, u * s0)])
        rejected = False
        for p in range(level + 1, top + 1):
            if ctx[p] < 0:
                continue
            c = _find_child(t, p, ctx[p], w)
            if c >= 0 and t.real[p][c]:
                level = p - 1
                while level >= 1 and ctx[level] < 0:
                    level -= 1
                rejected = True
                break
        if rejected:
            continue
        if w in (BOS_ID, PAD_ID):
            level = top
            continue
        return w
    return -1


def reference_sample(t: SamplerTables, seed: int, first: int, count: int, tokens: np.ndarray, lengths: np.ndarray,
                     max_draws: int) -> int:
    """The Python reference of the C kernel's ``sample`` (same arguments, same result)."""
    n, used, cap = t.order, 0, tokens.size
    for s in range(count):
        key, counter = stream_key(seed, first + s), [0]
        ctx = [-1] * n
        if n > 1:
            ctx[1] = int(t.uni_row[BOS_ID])
        length = 0
        while True:
            if used + length >= cap:
                return s
            w = _draw(t, ctx, key, counter, max_draws)
            if w < 0:
                return w
            tokens[used + length] = w
            length += 1
            if w == EOS_ID:
                break
            for j in range(n - 1, 1, -1):
                ctx[j] = _find_child(t, j - 1, ctx[j - 1], w) if ctx[j - 1] >= 0 else -1
            if n > 1:
                ctx[1] = int(t.uni_row[w])
        lengths[s] = length
        used += length
    return count


# ---- the vectorised reference: the same state machine on every sentence of a call at once -------------------------

def _mix64_np(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform_np(key: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(B,) :func:`uniform` of each stream (uint64 arithmetic wraps as C's does)."""
    z = _mix64_np(key + (t + np.uint64(1)) * np.uint64(GOLDEN))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _lookup_child(t: SamplerTables, p: int, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B,) row of order p+1 extending row ``rows`` of order p with word ``w`` (-1: absent); rows >= 0."""
    keys = t.keys[p]
    if keys.size == 0:
        return np.full(rows.size, -1, np.int64)
    q = rows.astype(np.int64) * t.vocab_size + w
    i = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    return np.where(keys[i] == q, i, -1)


def _search_cum_np(cum: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(B,) first index i in [lo, hi) with cum[i] > u (hi - 1 when none), as ``search_cum`` in C."""
    a, b = lo.copy(), hi - 1
    while True:
        todo = a < b
        if not todo.any():
            return a
        mid = a + ((b - a) >> 1)
        right = todo & (cum[np.where(todo, mid, 0)] > u)
        left = todo & ~right
        b = np.where(right, mid, b)
        a = np.where(left, mid + 1, a)


def batch_sample(t: SamplerTables, seed: int, first: int, count: int, tokens: np.ndarray, lengths: np.ndarray,
                 max_draws: int) -> int:
    """:func:`reference_sample` vectorised over the ``count`` sentences (same arguments, same result).

    Every sentence advances one draw per step; sentences are sampled whole and then copied in order while they
    fit, so the ids are those of the scalar loop and of the C kernel.
    """
    n, cap = t.order, tokens.size
    if count == 0:
        return 0
    key = np.array([stream_key(seed, first + s) for s in range(count)], np.uint64)
    draws = np.zeros(count, np.uint64)  # each stream's counter
    ctx = np.full((count, max(n, 2)), -1, np.int64)  # ctx[:, j]: row in order j of the last j words
    if n > 1:
        ctx[:, 1] = t.uni_row[BOS_ID]
    present = ctx >= 0
    top = np.where(present[:, 1:n].any(axis=1), n - 1 - np.argmax(present[:, n - 1:0:-1], axis=1), 0) if n > 1 \
        else np.zeros(count, np.int64)
    level = top.copy()
    tries = np.zeros(count, np.int64)
    found = np.full((count, max(n, 2)), -1, np.int64)
    out: list[list[int]] = [[] for _ in range(count)]
    active = np.arange(count)
    cum1, s0 = t.cum[0], float(t.cum[0][-1])

    def skip_absent(idx, lev):  # down to the next present context (or 0)
        lev = lev.copy()
        while True:
            bad = (lev >= 1) & (ctx[idx, np.maximum(lev, 0)] < 0)
            if not bad.any():
                return lev
            lev[bad] -= 1

    while active.size:
        if (tries[active] >= max_draws).any():
            return -1
        u = _uniform_np(key[active], draws[active])
        draws[active] += np.uint64(1)
        tries[active] += 1
        lev = level[active]
        w = np.full(active.size, -1, np.int64)
        got = np.zeros(active.size, bool)
        for L in range(1, n):
            at = np.flatnonzero(lev == L)
            if not at.size:
                continue
            r = ctx[active[at], L]
            child = u[at] < t.mass[L - 1][r]
            back = at[~child]
            level[active[back]] = skip_absent(active[back], lev[back] - 1)
            at, r = at[child], r[child]
            i = _search_cum_np(t.cum[L], t.child[L - 1][r], t.child[L - 1][r + 1], u[at])
            w[at] = t.last[L][i]
            found[active[at], L] = i
            got[at] = True
        at = np.flatnonzero(lev == 0)
        if at.size:
            i = np.minimum(np.searchsorted(cum1, u[at] * s0, side="right"), cum1.size - 1)
            w[at] = t.last[0][i]
            got[at] = True
        cand = np.flatnonzero(got)  # positions in active holding a word to check
        rejected = np.zeros(active.size, bool)
        for p in range(1, n):
            chk = cand[(lev[cand] < p) & (top[active[cand]] >= p) & ~rejected[cand]]
            if not chk.size:
                continue
            rows = ctx[active[chk], p]
            has = rows >= 0
            c = np.full(chk.size, -1, np.int64)
            c[has] = _lookup_child(t, p, rows[has], w[chk[has]])
            found[active[chk], p] = c
            rej = (c >= 0) & (t.real[p][np.maximum(c, 0)] == 1)
            rejected[chk[rej]] = True
            level[active[chk[rej]]] = skip_absent(active[chk[rej]], np.full(int(rej.sum()), p - 1, np.int64))
        ok = cand[~rejected[cand]]
        special = ok[(w[ok] == BOS_ID) | (w[ok] == PAD_ID)]
        level[active[special]] = top[active[special]]
        ok = ok[(w[ok] != BOS_ID) & (w[ok] != PAD_ID)]
        if not ok.size:
            continue
        idx, word, lv = active[ok], w[ok], lev[ok]
        for s, x in zip(idx.tolist(), word.tolist()):
            out[s].append(x)
        tries[idx] = 0
        go = word != EOS_ID
        idx, word, lv = idx[go], word[go], lv[go]
        new = ctx[idx].copy()
        tp = top[idx]
        for j in range(n - 1, 1, -1):
            p = j - 1
            from_found = (p >= lv) & (p <= tp)
            col = np.where(from_found, found[idx, p], -1)
            look = (p < lv) & (ctx[idx, p] >= 0)
            if look.any():
                col[look] = _lookup_child(t, p, ctx[idx[look], p], word[look])
            new[:, j] = col
        if n > 1:
            new[:, 1] = t.uni_row[word]
        ctx[idx] = new
        pres = ctx[idx, 1:n] >= 0
        top[idx] = np.where(pres.any(axis=1), n - 1 - np.argmax(pres[:, ::-1], axis=1), 0) if n > 1 else 0
        level[idx] = top[idx]
        found[idx] = -1
        done = np.zeros(count, bool)
        done[active[ok][~go]] = True
        active = active[~done[active]]
    used = 0
    for s in range(count):
        size = len(out[s])
        if used + size > cap:
            return s
        tokens[used: used + size] = out[s]
        lengths[s] = size
        used += size
    return count


# ---- the driver: chunks of whole sentences, optionally on threads -------------------------------------------------

def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MASK:
        raise ParameterError("seed", f"must be an integer in 0..2**64-1, got {seed!r}")
    return int(seed)


def sample_ids(tables: SamplerTables, n_tokens: int | None, seed: int, *, threads: int | None = None,
               chunk_tokens: int = MAX_CHUNK_TOKENS, first_sentence: int = 0):
    """Yield int32 arrays of ids: sentences ``first_sentence, first_sentence+1, ...`` of stream ``seed``.

    Their concatenation is the first ``n_tokens`` tokens (None: no end) of
    those sentences, each ending with ``</s>``; it does not depend on
    ``threads`` (default :func:`default_threads`; 1 on the Python
    reference) or ``chunk_tokens`` (tokens per kernel call and thread). With
    the C kernel the next chunk is sampled while the caller uses this one.
    """
    seed = check_seed(seed)
    if n_tokens is not None and (isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer))
                                 or n_tokens < 0):
        raise ParameterError("n_tokens", f"must be an integer >= 0 or None, got {n_tokens!r}")
    kernel = native.extension("_sample")  # checked now too (NGRAMKIT_IMPL), not at the first chunk
    return _sample_ids(tables, n_tokens, seed, threads, chunk_tokens, first_sentence, kernel)


def _sample_ids(tables, n_tokens, seed, threads, chunk_tokens, first_sentence, kernel):
    args = tables.kernel_args()
    if kernel is not None:
        def run(first, count, tokens, lengths):
            return kernel.sample(args, seed, first, count, tokens, lengths, MAX_DRAWS)
    else:
        def run(first, count, tokens, lengths):
            return batch_sample(tables, seed, first, count, tokens, lengths, MAX_DRAWS)
    if threads is None:
        threads = default_threads() if kernel is not None else 1
    threads = max(1, int(threads))
    chunk_tokens = max(1, int(chunk_tokens))
    state = {"avg": 24.0, "tokens": 0, "sentences": 0}  # tokens per sentence, re-estimated as sentences come
    # C kernel: a pool even for one thread, so the next chunk is sampled while the caller renders this one.
    pool = ThreadPoolExecutor(threads) if kernel is not None else None

    def submit(sentence, made):
        want = chunk_tokens * threads if n_tokens is None else min(chunk_tokens * threads, n_tokens - made)
        count = max(1, math.ceil(want / state["avg"]))
        parts = [(sentence + i * count // threads, sentence + (i + 1) * count // threads) for i in range(threads)]
        cap = max(int(chunk_tokens * 1.5), 1024)
        jobs = [(a, b - a, np.empty(cap, np.int32), np.empty(b - a, np.int64)) for a, b in parts if b > a]
        if pool is None:
            return jobs, [run(*j) for j in jobs]
        return jobs, [pool.submit(run, *j) for j in jobs]

    made, sentence = 0, first_sentence
    try:
        pending = submit(sentence, made) if n_tokens is None or n_tokens > 0 else None
        while pending is not None:
            jobs, futures = pending
            results = [f if pool is None else f.result() for f in futures]
            pieces = []
            for (first, count_i, tokens, lengths), done in zip(jobs, results):
                if done == -1:
                    raise NgramkitError(f"cannot generate: a token needed more than {MAX_DRAWS:,} draws (the model "
                                        "gives almost no probability to backing off where it is needed)")
                if done < 0:
                    raise NgramkitError("cannot generate: the model's unigram probabilities are all 0")
                size = int(lengths[:done].sum())
                pieces.append(tokens[:size])
                state["tokens"] += size
                state["sentences"] += done
                sentence = first + done
                if done < count_i:
                    break  # the next sentence did not fit: later parts are dropped and redone in order
            if state["sentences"]:
                state["avg"] = max(1.0, state["tokens"] / state["sentences"])
            out = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
            if out.size == 0:  # one sentence longer than a whole chunk
                chunk_tokens *= 2
                pending = submit(sentence, made)
                continue
            if n_tokens is not None and made + out.size > n_tokens:
                out = out[: n_tokens - made]
            made += out.size
            pending = submit(sentence, made) if n_tokens is None or made < n_tokens else None
            yield out
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def default_threads() -> int:
    """Sampler threads by default: ``NGRAMKIT_THREADS`` if set (ngramkit.threads), else 2 where there are 2 cores."""
    try:
        return max(1, int(os.environ.get("NGRAMKIT_THREADS", "")))
    except ValueError:
        return min(2, os.cpu_count() or 1)


class Renderer:
    """Text of id arrays: words joined by spaces, one sentence per line (``</s>`` -> newline)."""

    def __init__(self, words: list[str]):
        encoded = [w.encode("utf-8") for w in words]
        self.lengths = np.fromiter(map(len, encoded), np.int64, count=len(encoded))
        self.offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.blob = b"".join(encoded)
        self._blob = np.frombuffer(self.blob, np.uint8)

    def __call__(self, ids: np.ndarray) -> bytes:
        """The text of ``ids`` (a chunk starting a line), as bytes; no newline is added after a cut sentence."""
        ids = np.ascontiguousarray(ids, np.int32)
        kernel = native.extension("_sample")
        if kernel is not None:
            out = bytearray(int(self.lengths[ids].sum()) + ids.size)
            written = kernel.render(ids, self.blob, self.offsets, EOS_ID, out)
            del out[written:]
            return bytes(out)
        return self._render_numpy(ids)

    def _render_numpy(self, ids: np.ndarray) -> bytes:
        if ids.size == 0:
            return b""
        eos = ids == EOS_ID
        line_start = np.concatenate([[True], eos[:-1]])
        space = ~eos & ~line_start
        lengths = np.where(eos, 1, self.lengths[ids] + space)
        ends = np.cumsum(lengths)
        out = np.full(int(ends[-1]), ord(" "), np.uint8)
        starts = ends - lengths
        out[starts[eos]] = ord("\n")
        word = ~eos
        wstart = starts[word] + space[word]
        wlen = self.lengths[ids[word]]
        total = int(wlen.sum())
        if total:
            src = np.repeat(self.offsets[ids[word]] - np.cumsum(wlen) + wlen, wlen) + np.arange(total)
            dst = np.repeat(wstart - np.cumsum(wlen) + wlen, wlen) + np.arange(total)
            out[dst] = self._blob[src]
        return out.tobytes()


def render_ids(words: list[str], ids: np.ndarray) -> str:
    """The text of ``ids`` (one sentence per line) as a string (tests; the CLI streams bytes)."""
    return Renderer(words)(ids).decode("utf-8")
