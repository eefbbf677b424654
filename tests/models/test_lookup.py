"""The lookup layer (ngramkit.models.lookup): n-gram rows from sorted keys, and the per-order state tables.

Oracles: a dict from each counted n-gram (a tuple of ids) to its row, built
by enumerating the rows of NGramCounts; NGramCounts.find, which does the same
job for counts (find_rows must agree with it on every query).
"""

from __future__ import annotations

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream, Vocabulary
from ngramkit.models.lookup import find_rows, state_tables, tables_state


@pytest.fixture(scope="module")
def counts(timemachine_path):
    lines = [line.split() for line in timemachine_path.read_text(encoding="utf-8").lower().splitlines()]
    sents = [s for s in lines if s][:500]
    vocab = Vocabulary.build(sents, min_count=2)
    return NGramCounts.from_stream(Stream.from_sentences(sents, vocab), 3)


def test_find_rows_agrees_with_a_dict_and_with_counts_find(counts):
    v = len(counts.vocab)
    keys = [counts.keys(k) for k in (1, 2, 3)]
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        grams = counts.ngrams(k).astype(np.int64)
        row_of = {tuple(g): r for r, g in enumerate(grams.tolist())}
        present = grams[rng.integers(0, grams.shape[0], 300)]
        random = rng.integers(0, v, (300, k))
        # ids outside 0..v-1: with parent * v + last keys they would alias another n-gram's key
        aliased = present.copy()
        aliased[:, -1] += v
        outside = np.concatenate([aliased, -present - 1, present + 10 * v])
        queries = np.concatenate([present, random, outside])
        want = np.array([row_of.get(tuple(q), -1) for q in queries.tolist()])
        got = find_rows(keys, v, queries)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, counts.find(queries))
        assert (got[:300] >= 0).all() and (got[600:] == -1).all()


def test_tables_state_round_trip_is_order_major():
    tables = {"ngrams": [np.arange(3)[:, None], np.arange(4).reshape(2, 2)],
              "logp10_": [np.zeros(3), np.ones(2)]}
    arrays = tables_state(tables)
    assert list(arrays) == ["ngrams1", "logp10_1", "ngrams2", "logp10_2"]
    assert arrays["ngrams2"] is tables["ngrams"][1]
    ngrams, logp = state_tables(arrays, 2, ("ngrams", "logp10_"))
    assert ngrams == tables["ngrams"] and logp == tables["logp10_"]
    with pytest.raises(KeyError, match="ngrams3"):
        state_tables(arrays, 3, ("ngrams", "logp10_"))
