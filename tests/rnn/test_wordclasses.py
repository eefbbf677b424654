"""Exchange word classes: objective against a Counter oracle, local optimality by brute force, layout."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from ngramkit.errors import NgramkitError
from ngramkit.rnn import class_layout
from ngramkit.rnn.model import EXCHANGE_ITERATIONS, NEVER
from ngramkit.rnn.wordclasses import exchange_classes, objective, predecessor_counts


def naive_objective(ids, cls):
    """F = sum N(v,c) log N(v,c) - sum N(c) log N(c) from Counters over the bigrams (independent oracle)."""
    pairs = Counter((int(v), int(cls[w])) for v, w in zip(ids[:-1], ids[1:]))
    succ = Counter(int(cls[w]) for w in ids[1:])
    return sum(n * math.log(n) for n in pairs.values()) - sum(n * math.log(n) for n in succ.values())


def zipf_stream(rng, v, n):
    p = 1.0 / np.arange(1, v + 1)
    return rng.choice(v, size=n, p=p / p.sum())


def markov_stream(rng, v, n):
    """A stream with real bigram structure: each word has a few preferred successors."""
    nxt = rng.integers(0, v, size=(v, 3))
    out = [int(rng.integers(v))]
    for _ in range(n - 1):
        out.append(int(nxt[out[-1], rng.integers(3)]) if rng.random() < 0.8 else int(rng.integers(v)))
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
def test_objective_matches_counter_oracle(seed):
    rng = np.random.default_rng(seed)
    ids = zipf_stream(rng, 25, 400)
    cls = rng.integers(0, 4, size=25)
    assert objective(ids, cls) == pytest.approx(naive_objective(ids, cls), rel=1e-12)


def test_predecessor_counts_match_counter():
    rng = np.random.default_rng(5)
    ids = zipf_stream(rng, 12, 300)
    starts, prev, count = predecessor_counts(ids, 12)
    got = Counter({(int(p), w): c for w in range(12)
                   for p, c in zip(prev[starts[w]:starts[w + 1]], count[starts[w]:starts[w + 1]])})
    assert got == Counter(zip(ids[:-1].tolist(), ids[1:].tolist()))


@pytest.mark.parametrize("make_stream", [zipf_stream, markov_stream])
@pytest.mark.parametrize("seed", range(3))
def test_exchange_converges_to_a_local_optimum(make_stream, seed):
    """After convergence no single word move raises F (brute force over every word and class)."""
    rng = np.random.default_rng(seed)
    v, c = 20, 4
    ids = make_stream(rng, v, 600)
    start = rng.integers(0, c, size=v)
    cls = exchange_classes(ids, v, start, iterations=100)
    best = naive_objective(ids, cls)
    assert best >= naive_objective(ids, start) - 1e-9
    seen = set(ids[1:].tolist())
    for w in seen:
        for b in range(c):
            moved = cls.copy()
            moved[w] = b
            assert naive_objective(ids, moved) <= best + 1e-9 * abs(best), (w, b)


def test_exchange_never_lowers_the_objective_pass_by_pass():
    rng = np.random.default_rng(11)
    v = 30
    ids = markov_stream(rng, v, 2000)
    cls = np.arange(v) % 5
    values = [naive_objective(ids, cls)]
    for _ in range(4):
        cls = exchange_classes(ids, v, cls, iterations=1)
        values.append(naive_objective(ids, cls))
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:]))
    assert values[-1] > values[0]


def test_exchange_keeps_frozen_and_unseen_words():
    rng = np.random.default_rng(3)
    ids = markov_stream(rng, 15, 500)
    ids = ids[ids != 7]  # word 7 never occurs
    start = np.arange(15) % 3
    cls = exchange_classes(ids, 15, start, iterations=10, frozen=(0, 1))
    assert cls[0] == start[0] and cls[1] == start[1] and cls[7] == start[7]
    assert np.array_equal(cls, exchange_classes(ids, 15, start, iterations=10, frozen=(0, 1)))  # deterministic


def test_exchange_zero_iterations_and_errors():
    ids = np.array([0, 1, 2, 1, 0])
    start = np.array([0, 1, 0])
    assert np.array_equal(exchange_classes(ids, 3, start, iterations=0), start)
    with pytest.raises(NgramkitError, match="iterations must be >= 0"):
        exchange_classes(ids, 3, start, iterations=-1)
    with pytest.raises(NgramkitError, match=r"start classes must be a \(3,\) array"):
        exchange_classes(ids, 3, np.array([0, 1]))
    with pytest.raises(NgramkitError, match=r"word ids must lie in \[0, 3\)"):
        exchange_classes(np.array([0, 3]), 3, start)


def test_exchange_layout_groups_the_exchange_classes():
    rng = np.random.default_rng(2)
    v = 40
    ids = markov_stream(rng, v, 3000)
    ids = ids[~np.isin(ids, NEVER)]
    counts = np.bincount(ids, minlength=v)
    order, bounds = class_layout(counts, 6, "exchange", train_ids=ids)
    assert sorted(order.tolist()) == list(range(v))
    assert order[-len(NEVER):].tolist() == list(NEVER)
    assert bounds[0] == 0 and bounds[-1] == v and np.all(np.diff(bounds) > 0)
    # the layout's classes are exactly exchange_classes run from the freq bins
    freq_order, freq_bounds = class_layout(counts, 6, "freq")
    start = np.zeros(v, np.int64)
    for c in range(freq_bounds.size - 1):
        start[freq_order[freq_bounds[c]:freq_bounds[c + 1]]] = c
    want = exchange_classes(ids, v, start, iterations=EXCHANGE_ITERATIONS, frozen=NEVER)
    got_groups = {frozenset(set(order[a:b].tolist()) - set(NEVER)) for a, b in zip(bounds[:-1], bounds[1:])}
    want_groups = {frozenset(np.flatnonzero(want == c).tolist()) - set(NEVER) for c in set(want.tolist())}
    assert got_groups - {frozenset()} == want_groups - {frozenset()}
    assert naive_objective(ids, want) > naive_objective(ids, start)
    with pytest.raises(NgramkitError, match="needs the training stream's ids"):
        class_layout(counts, 6, "exchange")

