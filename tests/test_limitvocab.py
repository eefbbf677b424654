"""Limiting a fitted model to a vocabulary (``ngramkit.limitvocab.limit_vocab``; ``ppl``/``convert --limit-vocab``).

Oracle: the original model's full next-word distribution (``next_log_probs``,
every word of its vocabulary), restricted to the kept words and divided by
its sum, for many contexts (stored contexts, histories the model never saw,
histories that back off); the limited model must give exactly that
distribution, so it also sums to 1. Models: ngramkit's own (mkn, Witten-Bell)
and KenLM's ARPA file of The Time Machine.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ngramkit import NGramCounts, arpa
from ngramkit.errors import InputError, ParameterError
from ngramkit.limitvocab import allowed_mask, limit_vocab, read_vocab_file, shrink_vocab
from ngramkit.models import ModifiedKneserNey, WittenBell
from ngramkit.vocab import BOS_ID, PAD_ID, Vocabulary

TOP200 = Path(__file__).resolve().parent / "data" / "timemachine.top200.vocab"


def _contexts(model, kept_ids, rng, n=40):
    """Histories over the kept words: stored n-gram contexts, random (mostly unseen) ones, and <s>-led ones."""
    out = [[], [BOS_ID]]
    for k in range(1, model.order):
        g = model.ngrams(k)
        ok = np.flatnonzero(np.isin(g, kept_ids).all(axis=1))
        out += [g[i].tolist() for i in rng.choice(ok, min(n, ok.size), replace=False)]
    for length in range(1, model.order):
        out += [rng.choice(kept_ids, length).tolist() for _ in range(n)]
        out += [[BOS_ID] + rng.choice(kept_ids, length - 1).tolist() for _ in range(n // 4)]
    return out


def check_limited(model, limited, words):
    allowed = allowed_mask(model.vocab, words)
    kept = np.flatnonzero(allowed)
    new_ids = limited.vocab.lookup(model.vocab.decode(kept))
    assert limited.vocab.decode(new_ids) == model.vocab.decode(kept)  # kept words, old order
    assert len(limited.vocab) == kept.size + 1  # + <pad>
    predictable = kept[kept != BOS_ID]
    rng = np.random.default_rng(1)
    for ctx in _contexts(model, kept[kept != BOS_ID], rng):
        full = model.next_log_probs(ctx)[predictable]
        expect = full - np.log(np.exp(full).sum())  # the conditional on the next word being kept
        got = limited.next_log_probs(limited.vocab.lookup(model.vocab.decode(ctx)))
        got_kept = got[limited.vocab.lookup(model.vocab.decode(predictable))]
        np.testing.assert_allclose(got_kept, expect, rtol=0, atol=1e-9, err_msg=f"context {ctx}")
        assert np.exp(got[np.isfinite(got)]).sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("cls", [ModifiedKneserNey, WittenBell])
def test_limit_is_the_renormalised_conditional(cls, tm_counts):
    model = cls(3).fit(tm_counts)
    words = read_vocab_file(TOP200)
    limited = limit_vocab(model, words)
    check_limited(model, limited, words)
    assert limited.order == 3 and limited.ngrams(3).shape[0] < model.ngrams(3).shape[0]


def test_limit_a_kenlm_arpa_file(reference_dir):
    model = arpa.read_arpa(reference_dir / "timemachine.d2l.o5.arpa.gz")
    limited = limit_vocab(model, TOP200)  # a path works too
    check_limited(model, limited, read_vocab_file(TOP200))


def test_every_word_listed_gives_the_model_back(tm_counts):
    model = ModifiedKneserNey(3).fit(tm_counts)
    limited = limit_vocab(model, model.vocab.words)
    assert limited.vocab == model.vocab
    for k in (1, 2, 3):
        np.testing.assert_array_equal(limited.ngrams(k), model.ngrams(k))
        np.testing.assert_allclose(limited.logp10(k), model.logp10(k), rtol=0, atol=1e-12)
        np.testing.assert_allclose(limited.backoff10(k), model.backoff10(k), rtol=0, atol=1e-12)


def test_tiny_vocabulary_and_unlisted_words_become_unk():
    counts = NGramCounts.from_sentences([["a", "b", "c"], ["a", "c", "d", "c", "e", "f"], ["b", "a"]], 3)
    model = WittenBell(3).fit(counts)
    limited = limit_vocab(model, ["a", "c", "zzz-not-in-the-model"])
    assert limited.vocab.words == ["<unk>", "<s>", "</s>", "<pad>", "a", "c"]
    check_limited(model, limited, ["a", "c"])
    # a sentence with unlisted words is scored with them as <unk>
    stream = limited.as_stream([["a", "b", "c"]])
    assert stream.ids.tolist()[:3] == [4, 0, 5]


def test_vocab_file_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n")
    with pytest.raises(InputError, match="empty.txt: holds no words"):
        read_vocab_file(empty)
    with pytest.raises(InputError, match="no such file"):
        read_vocab_file(tmp_path / "missing.txt")
    gz = tmp_path / "v.txt.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("a b\tc\nd\n")
    assert read_vocab_file(gz) == ["a", "b", "c", "d"]
    with pytest.raises(ParameterError, match="strings"):
        allowed_mask(Vocabulary.build([["a"]]), [1, 2])


def test_shrink_vocab_moves_dropped_counts_to_unk():
    vocab = Vocabulary.build([["a", "a", "b", "c", "c", "c"]])
    keep = np.zeros(len(vocab), bool)
    keep[vocab.id("a")] = True
    new, old_to_new = shrink_vocab(vocab, keep)
    assert new.words == ["<unk>", "<s>", "</s>", "<pad>", "a"]
    assert new.counts.tolist() == [4, 0, 0, 0, 2]
    assert old_to_new[vocab.id("c")] == -1 and old_to_new[PAD_ID] == PAD_ID
