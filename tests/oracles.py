"""Independent oracles and text fixtures shared by the tests and the benchmarks.

Input: sentences (lists of token strings), text files, streams. Output: the
slow obvious answer the library's fast paths are checked against (n-gram
counts with a ``Counter``, a Zipf xmin scan with explicit CDFs), token lines
read the plain way, slices of a raw text written to files, and contexts to
probe a model's next-token distribution with, and an ARPA parser with a
comparison of a model's tables against a parsed file (KenLM's outputs).

Nothing here uses ngramkit beyond the data types it checks and
``discrete_powerlaw_mle`` (tested on its own against finite sums).

Importing: the tests' ``conftest.py`` puts this folder on ``sys.path``; the
benchmarks insert ``<repo>/tests`` themselves (``sys.path.insert``) and
``import oracles``.
"""

from __future__ import annotations

import gzip
import http.server
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np


# ---- n-gram counts -------------------------------------------------------------------------------
def naive_counts(sentences, order: int) -> Counter:
    """Every k-gram (k <= order, tuples of words) of every sentence padded ``<s> ... </s>``.

    The slow obvious way, a ``Counter.update`` per sentence and order (C-level
    ``zip``: naive, but not slow on purpose, so benchmarks time it fairly).
    """
    counts = Counter()
    for s in sentences:
        padded = ["<s>", *s, "</s>"]
        for k in range(1, order + 1):
            counts.update(zip(*[padded[i:] for i in range(k)]))
    return counts


def naive_top_order(sentences, order: int) -> Counter:
    """Only the ``order``-grams of :func:`naive_counts`."""
    counts = Counter()
    for s in sentences:
        padded = ["<s>", *s, "</s>"]
        counts.update(zip(*[padded[i:] for i in range(order)]))
    return counts


def distinct_per_order(counts: Counter, order: int) -> dict[str, int]:
    """{"1": distinct 1-grams, ..., str(order): ...} of a :func:`naive_counts` Counter."""
    sizes = Counter(len(g) for g in counts)
    return {str(k): sizes[k] for k in range(1, order + 1)}


def as_counter(counts) -> Counter:
    """An :class:`~ngramkit.NGramCounts` as the Counter :func:`naive_counts` builds (word tuples -> count)."""
    words = np.array(counts.vocab.words, object)
    out = Counter()
    for k in range(1, counts.order + 1):
        out.update(dict(zip(map(tuple, words[counts.ngrams(k)].tolist()), counts.counts(k).tolist())))
    return out


# ---- Zipf --------------------------------------------------------------------------------------
def naive_ks_scan(x: np.ndarray, min_tail: int):
    """(xmin, KS distance, alpha): loop over candidate xmin, one scalar MLE and explicit CDFs each.

    Every candidate is a distinct value of ``x`` (the largest excluded) with at
    least ``min_tail`` values >= it; the KS distance is taken over every
    integer xmin..max(x) (direct sum plus a midpoint-rule tail for the
    normaliser); the smallest distance wins (ties: the smaller xmin).
    """
    from ngramkit.zipf import discrete_powerlaw_mle

    best = None
    for v in np.unique(x)[:-1]:
        tail = np.sort(x[x >= v])
        if tail.size < min_tail:
            continue
        a = discrete_powerlaw_mle(x, int(v))
        support = np.arange(v, tail[-1] + 1, dtype=np.float64)
        pmf = support**-a
        z = pmf.sum() + (tail[-1] + 0.5) ** (1 - a) / (a - 1)  # direct sum + midpoint-rule tail
        model_cdf = np.cumsum(pmf) / z
        emp_cdf = np.searchsorted(tail, support, side="right") / tail.size
        d = float(np.abs(emp_cdf - model_cdf).max())
        if best is None or d < best[1] - 1e-12:
            best = (int(v), d, a)
    return best


# ---- text fixtures -----------------------------------------------------------------------------
def token_lines(path, *, unk_to: str | None = None, limit: int | None = None) -> list[list[str]]:
    """Whitespace-split non-empty lines of ``path`` (of its first ``limit`` lines).

    ``unk_to``: rename the literal ``<unk>`` (the KenLM references were built
    from PTB with ``<unk>`` renamed ``UNK``).
    """
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                break
            if unk_to is not None:
                line = line.replace("<unk>", unk_to)
            words = line.split()
            if words:
                out.append(words)
    return out


def write_slices(text_path, folder, **slices: tuple[int, int]) -> dict[str, Path]:
    """Write ranges of the non-empty lines of ``text_path`` to ``folder/<name>.txt``.

    ``write_slices(tm, d, train=(100, 400), test=(400, 550))`` -> {"train": d/"train.txt", ...}.
    """
    lines = [line for line in Path(text_path).read_text(encoding="utf-8").splitlines() if line.strip()]
    out = {}
    for name, (start, stop) in slices.items():
        out[name] = Path(folder) / f"{name}.txt"
        out[name].write_text("\n".join(lines[start:stop]) + "\n", encoding="utf-8")
    return out


@contextmanager
def http_server(handler):
    """A threaded HTTP server on 127.0.0.1 (a free port) running ``handler``; yields (server, base URL)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---- model probes ------------------------------------------------------------------------------
def probe_contexts(stream, vocab, order: int, rng: np.random.Generator, n_seen: int = 12) -> list[list[int]]:
    """Contexts (id lists, oldest first) to test a next-token distribution with.

    The empty context, ``<s>``, ``<unk>``, ``</s>`` and ``<s> <unk>``;
    ``n_seen`` contexts seen in ``stream`` (up to ``order - 1`` words, from
    ``<s>`` at sentence starts); unigram and longer contexts of vocabulary
    words the stream never holds; five random contexts longer than the model's.
    """
    from ngramkit.vocab import BOS_ID, EOS_ID, UNK_ID

    padded, offsets = stream.padded()
    pos = np.arange(padded.size) - np.repeat(offsets[:-1], np.diff(offsets))
    out = [[], [BOS_ID], [UNK_ID], [EOS_ID], [BOS_ID, UNK_ID]]
    for t in rng.choice(np.flatnonzero(pos > 0), n_seen, replace=False):
        start = max(t - pos[t], t - (order - 1))
        out.append(padded[start:t].tolist())  # a seen context, from <s> at sentence starts
    seen = set(stream.ids.tolist())
    unseen = [i for i in range(4, len(vocab)) if i not in seen][:3]
    assert unseen, "the vocabulary should hold words the stream never saw"
    out += [[u] for u in unseen] + [[BOS_ID, unseen[0]], unseen[:2] + [5]]
    out += [rng.integers(4, len(vocab), size=order + 1).tolist() for _ in range(5)]  # random, mostly unseen
    return out


def check_next_token_distribution(lp, vocab_size: int, *, probabilistic: bool = True, tol: float = 1e-6) -> None:
    """``lp`` is a (V,) natural-log next-token distribution: ``<s>``/``<pad>`` -inf, no NaN, the rest sums to 1.

    ``probabilistic=False`` (scores, e.g. stupid backoff): everything but the sum.
    """
    from ngramkit.vocab import BOS_ID, PAD_ID

    lp = np.asarray(lp)
    assert lp.shape == (vocab_size,) and lp.dtype == np.float64, (lp.shape, lp.dtype)
    assert lp[BOS_ID] == -np.inf and lp[PAD_ID] == -np.inf
    assert not np.isnan(lp).any()
    if probabilistic:
        keep = np.ones(lp.size, bool)
        keep[[BOS_ID, PAD_ID]] = False
        total = np.exp(lp[keep]).sum()
        assert abs(total - 1.0) < tol, total


def parse_arpa(path, vocab):
    """Independent minimal ARPA parser: per order, (ids (M, k) sorted, log10 p (M,), log10 backoff (M,)).

    Words are mapped with ``vocab`` (every word of the file must be in it).
    """
    sections, order = {}, None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1 : line.index("-")])
                sections[order] = []
            elif order and line and not line.startswith("\\"):
                sections[order].append(line.split("\t"))
    out = {}
    for k, rows in sections.items():
        ids = np.array([[vocab.index[w] for w in r[1].split(" ")] for r in rows], np.int32).reshape(-1, k)
        p = np.array([float(r[0]) for r in rows])
        b = np.array([float(r[2]) if len(r) > 2 else 0.0 for r in rows])
        perm = np.lexsort(ids.T[::-1])
        out[k] = (ids[perm], p[perm], b[perm])
    return out


def compare_arpa_tables(model, ref, tol=(1e-4, 1e-4, 1e-4, 1e-4, 1e-4), tight=2e-6):
    """``model``'s tables equal :func:`parse_arpa`'s ``ref``: the same n-grams, values within ``tol`` per order."""
    from ngramkit.vocab import BOS_ID
    assert sorted(ref) == list(range(1, model.order + 1))
    for k, (ids, p_ref, b_ref) in ref.items():
        # KenLM's unigrams: the words, <s>, </s> and its <unk>; ngramkit's vocabulary adds only <pad>.
        np.testing.assert_array_equal(model.ngrams(k), ids, err_msg=f"order {k}: n-grams differ")
        p_me, b_me = model.logp10(k), model.backoff10(k)
        bos = (ids[:, 0] == BOS_ID) & (k == 1)
        assert np.isnan(p_me[bos]).all() and bos.sum() == (k == 1)
        np.testing.assert_allclose(p_me[~bos], p_ref[~bos], rtol=0, atol=tol[k - 1])
        np.testing.assert_allclose(b_me, b_ref, rtol=0, atol=1e-4)
        if tight:  # much tighter in practice: KenLM rounds to float32
            assert np.abs(p_me[~bos] - p_ref[~bos]).max() < tight
            assert np.abs(b_me - b_ref).max() < tight
