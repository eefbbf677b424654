"""The lookup layer every n-gram model scores with: sorted keys, hash tables, the probing index.

Input: per order k = 1..N the sorted int64 row keys of a model's n-grams,
``keys[0]`` the word ids of the unigrams and ``keys[k-1] = parent * V +
last`` for k >= 2, ``parent`` being the row of the (k-1)-word prefix (keys
are sorted because rows are sorted lexicographically); for the probing index
also the log10 probabilities and backoffs of a backoff model. Output: the row
of an n-gram (-1 when absent), found three ways that agree:

- :func:`lookup` / :func:`find_rows` / :func:`stream_rows`: ``np.searchsorted``
  over the sorted keys, one vectorised pass per order (the numpy reference);
- :func:`key_index` + :func:`fast_stream_rows`: per order an open-addressing
  hash table (``ngramkit._score.hash_build``) walked by the C kernel (the
  count models' C path);
- :func:`probe_index`: KenLM's "probing" layout for the C backoff scorer,
  per order an open-addressing table whose slot holds the key, the log10
  probability and the log10 backoff, so a probe is one cache miss and
  nothing else; an n-gram's id in it is its slot, and the key of an order-k
  n-gram is ``id(prefix) * V + last``. Native model files store it
  (:data:`PROBE_LAYOUT`, :func:`probe_sizes`), so a mapped file scores
  without building it.

The kernel functions take the compiled module ``ngramkit._score``
(``native.extension("_score")``, None under ``NGRAMKIT_IMPL=numpy``). The
per-order tables of a model are saved as ``{prefix}{k}`` arrays
(:func:`tables_state`, :func:`state_tables`).
"""

from __future__ import annotations

import numpy as np


def lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Rows of ``query`` values in sorted ``keys``; -1 where absent. Both int64."""
    if keys.size == 0:
        return np.full(query.shape, -1, np.int64)
    pos = np.searchsorted(keys, query)
    np.minimum(pos, keys.size - 1, out=pos)
    return np.where(keys[pos] == query, pos, -1)


def find_rows(keys: list[np.ndarray], v: int, ids: np.ndarray) -> np.ndarray:
    """Rows of the (Q, k) n-grams ``ids`` in order k; -1 where an n-gram (or one of its prefixes) is absent.

    An id outside 0..v-1 is never present (its key would alias another n-gram's).
    """
    ids = np.asarray(ids, np.int64)
    row = lookup(keys[0], ids[:, 0])
    for j in range(1, ids.shape[1]):
        ok = row >= 0
        q = np.where(ok, row, 0) * v + ids[:, j]
        row = np.where(ok, lookup(keys[j], q), -1)
    return np.where(((ids >= 0) & (ids < v)).all(axis=1), row, -1)


def sentence_positions(offsets: np.ndarray, n: int) -> np.ndarray:
    """(n,) int64 position of each padded token in its sentence (``<s>`` = 0)."""
    return np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], np.diff(offsets))


def stream_rows(keys: list[np.ndarray], v: int, padded: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
    """Per order k: (P,) int64 row of the k-gram ending at each padded position, -1 if absent.

    ``padded``: (P,) ids ``<s> w1 .. </s>`` per sentence; ``pos``: (P,)
    position in the sentence. An n-gram never reaches before ``<s>``.
    """
    x = padded.astype(np.int64)
    rows = [lookup(keys[0], x)]
    for k in range(2, len(keys) + 1):
        prev = rows[-1]
        cand = np.flatnonzero(pos >= k - 1)  # the k-gram ending here stays inside the sentence
        parent = prev[cand - 1]
        keep = parent >= 0
        cand, parent = cand[keep], parent[keep]
        r = lookup(keys[k - 1], parent * v + x[cand])
        row = np.full(x.size, -1, np.int64)
        row[cand] = r
        rows.append(row)
    return rows


def key_index(keys: list[np.ndarray], v: int, kernel) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Key -> row lookup for the count models' C path: (uni_row (V,) int32, hash table per order 2..N)."""
    uni_row = np.full(v, -1, np.int32)
    uni_row[keys[0]] = np.arange(keys[0].size, dtype=np.int32)
    return uni_row, tuple(hash_table(k, kernel) for k in keys[1:])


def hash_table(keys: np.ndarray, kernel) -> np.ndarray:
    """(2 * slots,) int64 open-addressing hash of distinct int64 ``keys`` -> row (load factor <= 0.7)."""
    slots = 1 << max(4, int(np.ceil(np.log2(keys.size / 0.7 + 1))))
    table = np.empty(2 * slots, np.int64)
    kernel.hash_build(np.ascontiguousarray(keys, np.int64), table)
    return table


PROBE_LOAD = 0.5  # filled fraction of each probing table: probes of absent keys stay short
# The version of the probing index as files store it: the slot layout (score.h), the hash (probe_home in
# score.c) and PROBE_LOAD. Change it with any of them: stored tables of another version are rebuilt, never misread.
PROBE_LAYOUT = 1


def probe_sizes(n_rows: list[int], v: int) -> list[int]:
    """The int64 words of each order's probing table for ``n_rows[k-1]`` n-grams of order k (what
    :func:`probe_index` allocates: order 1 ``3 V``; order k: stride x (M_k / PROBE_LOAD + 1) slots)."""
    n = len(n_rows)
    return [3 * int(v)] + [(3 if k < n else 2) * (int(int(n_rows[k - 1]) / PROBE_LOAD) + 1) for k in range(2, n + 1)]


def probe_index(keys: list[np.ndarray], logp10: list[np.ndarray], backoff10: list[np.ndarray], v: int, kernel, *,
                check_suffixes: bool = True) -> tuple[tuple[np.ndarray, ...], bool | None]:
    """The C scorer's probing index of a backoff model: (tables, suffix_closed).

    ``tables``: one int64 array per order (order 1: (3 V,), a slot per word id;
    order k: stride * n_slots, stride 3 or 2 at the top order, see
    ``score.h``): at load 0.5, 48 bytes per n-gram (32 at the top order),
    about 100 MB for a PTB 5-gram model. ``suffix_closed``: the suffix of
    every n-gram is an n-gram of the model (None unless ``check_suffixes``).
    """
    tables = [np.empty(size, np.int64) for size in probe_sizes([k_.size for k_ in keys], v)]
    c = np.ascontiguousarray
    closed = kernel.probe_build(tuple(c(k_, np.int64) for k_ in keys), tuple(c(p, np.float64) for p in logp10),
                                tuple(c(b, np.float64) for b in backoff10), v, tuple(tables), check_suffixes)
    return tuple(tables), closed


def fast_stream_rows(index, v: int, padded: np.ndarray, offsets: np.ndarray, kernel) -> list[np.ndarray]:
    """:func:`stream_rows` computed by the C kernel from a :func:`key_index`."""
    uni_row, tables = index
    order = len(tables) + 1
    rows = np.empty((order, padded.size), np.int64)
    kernel.stream_rows(np.ascontiguousarray(padded, np.int32), np.ascontiguousarray(offsets, np.int64), uni_row,
                       tables, v, rows.reshape(-1))
    return list(rows)


def tables_state(tables: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """The per-order tables of a model as the arrays of its saved state: ``f"{prefix}{k}"`` -> ``tables[prefix][k-1]``.

    ``tables`` maps each prefix to one array per order 1..N (all lists of
    the same length); arrays are listed order by order.
    """
    order = len(next(iter(tables.values())))
    return {f"{prefix}{k}": per_order[k - 1] for k in range(1, order + 1) for prefix, per_order in tables.items()}


def state_tables(arrays: dict[str, np.ndarray], order: int, prefixes) -> list[list[np.ndarray]]:
    """The inverse of :func:`tables_state`: for each prefix, its arrays of orders 1..order (KeyError if one is missing)."""
    return [[arrays[f"{prefix}{k}"] for k in range(1, order + 1)] for prefix in prefixes]
