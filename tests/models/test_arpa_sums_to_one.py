"""A model read back from ARPA still sums to 1 over the vocabulary for any context.

ARPA holds 8 decimals per value, so the sums agree to ~1e-7. The fitted
models' own distributions (every smoothing, orders 1..5, the same contexts)
are checked by tests/test_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream
from ngramkit.arpa import read_arpa, write_arpa
from ngramkit.models import MODELS
from oracles import check_next_token_distribution, probe_contexts

HPARAMS = {"additive": {"epsilons": 0.5}, "absolute": {"discount": 0.6}, "mkn": {"discounts": (0.6, 1.1, 1.4)}}


@pytest.fixture(scope="module")
def small(tm_sentences, tm_vocab):
    stream = Stream.from_sentences(tm_sentences[:600], tm_vocab)
    return stream, NGramCounts.from_stream(stream, 5)


@pytest.mark.parametrize("name", ["mkn", "kn", "witten-bell", "absolute", "additive"])
def test_arpa_loaded_model_sums_to_one(name, small, tm_vocab, tmp_path):
    stream, counts = small
    model = MODELS[name](3, **HPARAMS.get(name, {})).fit(counts)
    loaded = read_arpa(write_arpa(model, tmp_path / "m.arpa"))
    for ctx in probe_contexts(stream, tm_vocab, 3, np.random.default_rng(0)):
        words = [tm_vocab.words[i] for i in ctx]
        check_next_token_distribution(loaded.next_log_probs([loaded.vocab.index[w] for w in words]),
                                      len(loaded.vocab))
