"""Entropy pruning (ngramkit.prune) against a per-n-gram implementation written from Stolcke (1998) / SRILM.

The oracle below works on plain dicts (n-gram tuple -> log10 value) and
follows SRILM's ``Ngram::pruneProbs`` step by step: orders from the highest
down, per context ``computeBOW`` once, then each n-gram's entropy change,
removing the pruned probabilities from the working model AS IT GOES (SRILM
mutates its model; the library instead computes every order from the
original tables: the two agree only if, as claimed, pruning an order never
changes what a lower order's decisions read). Then the backoff of every
changed context is recomputed from the pruned model, lowest order first.
Nothing of ngramkit is used but the tables it is checking.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream
from ngramkit.arpa import read_arpa, write_arpa
from ngramkit.errors import NgramkitError, ParameterError
from ngramkit.models import BackoffModel, ModifiedKneserNey
from ngramkit.modelio import load_model, save_model
from ngramkit.prune import prune, prune_entropy
from ngramkit.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from oracles import check_next_token_distribution, probe_contexts

EPS = 3e-6  # SRILM's Prob_Epsilon


# ---- the oracle ------------------------------------------------------------------------------------
def as_dicts(model):
    """(probs, bows, rows): the model's explicit log10 probabilities, backoffs, and every row, by word-id tuple."""
    probs, bows, rows = {}, {}, set()
    for k in range(1, model.order + 1):
        for g, p, b in zip(model.ngrams(k).tolist(), model.logp10(k).tolist(), model.backoff10(k).tolist()):
            g = tuple(g)
            rows.add(g)
            bows[g] = b
            if not math.isnan(p):
                probs[g] = p
    return probs, bows, rows


class SlowModel:
    def __init__(self, probs, bows, order):
        self.probs, self.bows, self.order = dict(probs), dict(bows), order
        self.kids = defaultdict(set)  # context -> the words with an explicit probability after it
        for g in self.probs:
            self.kids[g[:-1]].add(g[-1])

    def remove(self, g):
        del self.probs[g]
        self.kids[g[:-1]].discard(g[-1])

    def word_prob(self, w, ctx):
        """log10 p_BO(w | ctx), the ARPA rule, recursively."""
        ctx = tuple(ctx)[len(ctx) - min(len(ctx), self.order - 1):]
        if ctx + (w,) in self.probs:
            return self.probs[ctx + (w,)]
        if not ctx:
            return -math.inf
        return self.bows.get(ctx, 0.0) + self.word_prob(w, ctx[1:])

    def context_prob(self, h):
        """SRILM's contextProb: P(h1) P(h2|h1) ..., <s> first counts as </s>, zero non-event terms skipped."""
        total = 0.0
        for i, w in enumerate(h):
            if i == 0 and w == BOS_ID:
                w = EOS_ID
            term = self.word_prob(w, h[:i])
            if term == -math.inf and w in (BOS_ID, PAD_ID):
                continue
            total += term
        return total

    def children(self, h):
        return sorted(self.kids.get(h, ()))

    def compute_bow(self, h, children):
        """SRILM's computeBOW: (numerator, denominator, ok)."""
        num = den = 1.0
        for w in children:
            num -= 10.0 ** self.probs[h + (w,)]
            den -= 10.0 ** self.word_prob(w, h[1:])
        if -EPS < num < 0:
            num = 0.0
        if -EPS < den < 0:
            den = 0.0
        if num < 0 or (den <= 0 and num > EPS):
            return num, den, False
        if den <= 0:
            return 0.0, 0.0, True
        return num, den, True


def slow_prune(model, threshold, min_order=2, recompute_all=False):
    """(probs, bows, rows, changes): the pruned model as dicts and each candidate's 10**dH - 1."""
    probs, bows, rows = as_dicts(model)
    n = model.order
    work = SlowModel(probs, bows, n)
    changes = {}
    lost = set()  # contexts that lost an n-gram
    contexts = sorted({g[:-1] for g in probs}, key=lambda h: (len(h), h))
    for k in range(n, min_order - 1, -1):
        for h in (c for c in contexts if len(c) == k - 1):
            children = work.children(h)
            num, den, ok = work.compute_bow(h, children)
            if not ok:
                continue
            bow = work.bows.get(h, 0.0)
            cprob = work.context_prob(h)
            for w in children:
                p = work.probs[h + (w,)]
                bp = work.word_prob(w, h[1:])
                new_bow = (math.log10(num + 10 ** p) if num + 10 ** p > 0 else -math.inf) - \
                    (math.log10(den + 10 ** bp) if den + 10 ** bp > 0 else -math.inf)
                delta_h = -(10 ** cprob) * (10 ** p * (bp + new_bow - p) + num * (new_bow - bow))
                change = 10 ** delta_h - 1
                changes[h + (w,)] = change
                pruned = threshold > 0 and change < threshold
                if pruned and k < n and work.kids.get(h + (w,)):
                    pruned = False  # the context of a kept (k+1)-gram
                if pruned:
                    work.remove(h + (w,))
                    lost.add(h)
    # rows: every kept n-gram, its prefixes, and the unigrams
    kept_rows = {g for g in rows if len(g) == 1}
    for g in work.probs:
        for i in range(1, len(g) + 1):
            kept_rows.add(g[:i])
    # backoffs of the changed contexts (or of all, as SRILM's recomputeBOWs), lowest order first
    dirty = {h for h in rows if any(h[s:] in lost for s in range(len(h)))}
    for j in range(1, n):
        for h in sorted(r for r in kept_rows if len(r) == j):
            if not (recompute_all or h in dirty):
                continue
            num, den, ok = work.compute_bow(h, work.children(h))
            if not ok:
                work.bows[h] = -99.0
            elif num == 0 and den == 0:
                work.bows[h] = 0.0
            elif num == 0:
                work.bows[h] = -99.0  # the n-grams hold all the mass: backoff probability 0 (ARPA's -99)
            else:
                work.bows[h] = math.log10(num) - math.log10(den)
    return work.probs, {r: work.bows[r] for r in kept_rows}, kept_rows, changes


def assert_same_model(result_model, slow, order, tol=1e-12):
    probs, bows, rows = slow[:3]
    got_probs, got_bows, got_rows = as_dicts(result_model)
    for k in range(1, order + 1):
        assert {r for r in got_rows if len(r) == k} == {r for r in rows if len(r) == k}, f"order {k} rows differ"
    assert got_probs.keys() == probs.keys()
    for g, p in probs.items():
        assert got_probs[g] == p, g  # probabilities are copied, never recomputed
    worst = max(abs(got_bows[r] - bows[r]) for r in rows)
    assert worst <= tol, worst


def check_decisions(model, result, slow_changes):
    """Every candidate's perplexity change (the decisions themselves: the pruned sets are compared exactly).

    dH is a difference of two terms ~100x larger than it (p log-ratio and the backoff mass's change), and
    num/den sum up to thousands of probabilities (SRILM subtracts them one by one, numpy adds them up
    first): the summation order alone moves 10**dH - 1 by ~1e-8 relative, hence rel=1e-6.
    """
    got = {}
    for k, d in enumerate(result.deltas, 1):
        for g, x in zip(map(tuple, model.ngrams(k).tolist()), d.tolist()):
            if not math.isnan(x):
                got[g] = x
    assert got.keys() == slow_changes.keys()
    for g, x in slow_changes.items():
        assert got[g] == pytest.approx(x, rel=1e-6, abs=1e-15), g


# ---- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tm3(tm_counts):
    return ModifiedKneserNey(3).fit(tm_counts).to_backoff()


@pytest.fixture(scope="module")
def kenlm_tm3(reference_dir):
    return read_arpa(reference_dir / "timemachine.d2l.o3.arpa.gz")


HAND_ARPA = """\\data\\
ngram 1=7
ngram 2=9
ngram 3=5

\\1-grams:
-0.8\t</s>
-99\t<s>\t-0.30
-1.0\t<unk>\t-0.2
-0.6\ta\t-0.25
-0.7\tb\t-0.35
-0.9\tc\t-0.15
-0.75\td\t-0.1

\\2-grams:
-0.3\t<s> a\t-0.1
-0.9\t<s> b
-0.4\ta b\t-0.2
-1.5\ta c
-1.2\ta d\t0.05
-0.5\tb c\t-0.3
-1.1\tb </s>
-0.45\tc </s>
-1.3\td a

\\3-grams:
-0.2\t<s> a b
-0.7\t<s> a d
-0.35\ta b c
-0.3\tb c </s>
-2.0\ta d a

\\end\\
"""


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    """A small hand-made ARPA model (not normalised: the pruning rules do not need it)."""
    path = tmp_path_factory.mktemp("hand") / "hand.arpa"
    path.write_text(HAND_ARPA)
    return read_arpa(path)


# ---- pruning decisions and results equal the oracle -------------------------------------------------
def _check_against_oracle(model, threshold, min_order=2):
    result = prune(model, threshold, min_order=min_order)
    slow = slow_prune(model, threshold, min_order)
    assert_same_model(result.model, slow, model.order)
    check_decisions(model, result, slow[3])
    pruned = {tuple(g) for k in range(min_order, model.order + 1) for g, p in
              zip(model.ngrams(k).tolist(), model.logp10(k).tolist()) if not math.isnan(p)} - slow[0].keys()
    assert sum(result.pruned) == len(pruned)
    return result


@pytest.mark.parametrize("threshold", [1e-7, 1e-5])
def test_mkn_timemachine_order3_equals_oracle(tm3, threshold):
    result = _check_against_oracle(tm3, threshold)
    assert 0 < sum(result.pruned) < sum(result.sizes_before[1:])  # the thresholds really prune, not everything


def test_kenlm_arpa_equals_oracle(kenlm_tm3):
    result = _check_against_oracle(kenlm_tm3, 3e-6)
    assert result.pruned[2] > 1000 and result.pruned[1] > 10


def test_min_order_3_keeps_bigrams(tm3):
    result = _check_against_oracle(tm3, 1e-5, min_order=3)
    assert result.sizes_after[:2] == result.sizes_before[:2] and result.pruned[1] == 0 and result.pruned[2] > 0


@pytest.mark.parametrize("threshold", [0.002, 0.01, 0.03])
def test_hand_model_equals_oracle(hand, threshold):
    """A model that does not normalise (some changes are negative): the rules are applied all the same."""
    result = _check_against_oracle(hand, threshold)
    assert 0 < sum(result.pruned) < 14


def test_prefixes_of_kept_ngrams_are_protected(tm3):
    """Bigrams below the threshold stay only as the prefix of a kept trigram, and some do."""
    result = prune(tm3, 1e-5)
    kept2 = {tuple(g) for g in result.model.ngrams(2).tolist()}
    prefixes = {tuple(g[:2]) for g in result.model.ngrams(3).tolist()}
    below = [tuple(g) for g, d in zip(tm3.ngrams(2).tolist(), result.deltas[1].tolist()) if d < 1e-5]
    protected = [g for g in below if g in kept2]
    assert len(protected) > 10 and set(protected) <= prefixes
    assert len(below) - len(protected) == result.pruned[1]


TINY = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the cat saw the dog sat",
        "a dog sat", "on the mat the cat sat", "the log", "a cat on a mat"]


@pytest.fixture(scope="module")
def tiny():
    """An order-3 Kneser-Ney model of eight hand-written sentences (fixed discounts: too little data to fit)."""
    sentences = [s.split() for s in TINY]
    vocab = Vocabulary.build(sentences)
    counts = NGramCounts.from_stream(Stream.from_sentences(sentences, vocab), 3)
    return ModifiedKneserNey(3, discounts=(0.6, 1.1, 1.4)).fit(counts).to_backoff()


@pytest.mark.parametrize("threshold", [1e-3, 1e-2, 3e-2, 0.1, 0.3])
def test_tiny_model_equals_oracle(tiny, threshold):
    result = _check_against_oracle(tiny, threshold)
    for ctx in ([], [BOS_ID], [tiny.vocab.index["the"]], [tiny.vocab.index["the"], tiny.vocab.index["cat"]],
                [tiny.vocab.index["sat"], tiny.vocab.index["on"]], [tiny.vocab.index["a"], EOS_ID]):
        check_next_token_distribution(result.model.next_log_probs(ctx), len(tiny.vocab), tol=1e-12)


def test_recomputing_every_backoff_agrees(tm3):
    """SRILM recomputes every backoff; the library only the changed ones: the same up to rounding."""
    result = prune(tm3, 1e-6)
    slow = slow_prune(tm3, 1e-6, recompute_all=True)
    assert_same_model(result.model, slow, 3, tol=1e-9)


# ---- normalisation, threshold limits ---------------------------------------------------------------
def _emptied_contexts(model, pruned_model):
    """Contexts of the original model whose n-grams were all pruned (the context row kept or not)."""
    out = []
    for k in range(2, model.order + 1):
        before = {tuple(g[:-1]) for g in model.ngrams(k).tolist()}
        after = {tuple(g[:-1]) for g in pruned_model.ngrams(k).tolist()}
        out += [list(h) for h in sorted(before - after)[:20]]
    return out


@pytest.mark.parametrize("threshold", [1e-6, 1e-4])
def test_pruned_model_sums_to_one(tm3, tm_sentences, tm_vocab, threshold):
    pruned = prune_entropy(tm3, threshold)
    emptied = _emptied_contexts(tm3, pruned)
    assert len(emptied) >= 20
    probe_stream = Stream.from_sentences(tm_sentences[:600], tm_vocab)  # leaves words unseen, for probe_contexts
    contexts = probe_contexts(probe_stream, tm_vocab, 3, np.random.default_rng(1), n_seen=40) + emptied
    for ctx in contexts:
        check_next_token_distribution(pruned.next_log_probs(ctx), len(pruned.vocab), tol=1e-12)


def test_pruned_kenlm_5gram_sums_to_one(reference_dir):
    model = read_arpa(reference_dir / "timemachine.d2l.o5.arpa.gz")
    pruned = prune_entropy(model, 1e-6)
    assert pruned.ngrams(5).shape[0] < model.ngrams(5).shape[0] // 2
    rng = np.random.default_rng(2)
    contexts = _emptied_contexts(model, pruned)
    for k in range(2, 6):  # seen contexts of every length
        g = model.ngrams(k)
        contexts += g[rng.choice(g.shape[0], 10, replace=False)].tolist()
    for ctx in contexts:
        check_next_token_distribution(pruned.next_log_probs(ctx), len(pruned.vocab), tol=1e-6)  # ARPA's 7 digits


def test_threshold_zero_returns_the_model_unchanged(tm3, kenlm_tm3):
    for model in (tm3, kenlm_tm3):
        result = prune(model, 0.0)
        assert result.pruned == [0] * model.order and result.entropy_increase == 0.0
        for k in range(1, model.order + 1):
            assert np.array_equal(result.model.ngrams(k), model.ngrams(k))
            assert np.array_equal(result.model.logp10(k), model.logp10(k), equal_nan=True)
            assert np.array_equal(result.model.backoff10(k), model.backoff10(k))
            assert np.array_equal(result.model.keys(k), model.keys(k))


def test_huge_threshold_leaves_the_unigram_model(tm3):
    result = prune(tm3, 1e30)
    pruned = result.model
    assert result.sizes_after == [tm3.ngrams(1).shape[0], 0, 0]
    assert np.array_equal(pruned.logp10(1), tm3.logp10(1), equal_nan=True)
    assert not pruned.backoff10(1).any()  # no context has an n-gram left: every backoff is 1
    unigram = tm3.next_log_probs([])
    for ctx in ([5, 6], [BOS_ID], [7]):
        assert np.array_equal(pruned.next_log_probs(ctx), unigram)


def test_pruned_model_scores_as_its_tables_say(tm3, tm_stream):
    """The C scorer and the numpy reference agree on the pruned model (which is no longer suffix-closed)."""
    pruned = prune_entropy(tm3, 1e-5)
    padded, offsets = tm_stream.padded(BOS_ID)
    c_scores = pruned.log_probs(tm_stream)
    np_scores = pruned._log_probs_numpy(padded, offsets)
    assert np.allclose(c_scores, np_scores, rtol=0, atol=1e-12)
    assert np.isfinite(c_scores).all()


def test_pruned_model_saves_and_loads(tm3, tmp_path):
    pruned = prune_entropy(tm3, 1e-5)
    for name in ("p.ngk", "p.arpa"):
        back = load_model(save_model(pruned, tmp_path / name))
        for k in (1, 2, 3):
            assert np.array_equal(back.ngrams(k), pruned.ngrams(k))
            assert np.allclose(back.logp10(k), pruned.logp10(k), atol=1e-7, equal_nan=True)
            assert np.allclose(back.backoff10(k), pruned.backoff10(k), atol=1e-7)


# ---- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [-1e-7, math.nan, math.inf, "x"])
def test_bad_threshold(tm3, threshold):
    with pytest.raises(ParameterError, match="threshold"):
        prune(tm3, threshold)


@pytest.mark.parametrize("min_order", [1, 0, 2.5, True])
def test_bad_min_order(tm3, min_order):
    with pytest.raises(ParameterError, match="min_order"):
        prune(tm3, 1e-6, min_order=min_order)


def test_not_an_ngram_model():
    with pytest.raises(NgramkitError, match="cannot be pruned"):
        prune(object(), 1e-6)


def test_unigram_model_is_returned_as_is(tm_counts):
    model = ModifiedKneserNey(1).fit(tm_counts)
    result = prune(model, 1.0)
    assert result.sizes_after == result.sizes_before and result.pruned == [0]


# ---- the command ---------------------------------------------------------------------------------
def run_cli(*args):
    from click.testing import CliRunner

    from ngramkit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(timemachine_path, tmp_path_factory):
    from oracles import write_slices

    folder = tmp_path_factory.mktemp("prune_cli")
    files = write_slices(timemachine_path, folder, train=(100, 600), test=(600, 650))
    result = run_cli("train", "ngram", files["train"], "-s", "mkn", "--order", 3, "-o", folder / "m.ngk", "-q")
    assert result.exit_code == 0, result.stderr
    return folder, files


def test_cli_prunes_as_the_library_does(trained, tmp_path):
    import json

    folder, files = trained
    result = run_cli("prune", folder / "m.ngk", "--threshold", 1e-6, "-o", tmp_path / "p.ngk", "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    expected = prune(load_model(folder / "m.ngk"), 1e-6)
    assert got["command"] == "prune" and got["order"] == 3 and got["threshold"] == 1e-6
    assert got["ngrams_before"] == {str(k): m for k, m in enumerate(expected.sizes_before, 1)}
    assert got["ngrams_after"] == {str(k): m for k, m in enumerate(expected.sizes_after, 1)}
    assert got["ngrams_after"]["3"] < got["ngrams_before"]["3"]
    assert got["entropy_increase_bits"] == pytest.approx(expected.entropy_increase_bits, rel=1e-12) and \
        got["entropy_increase_bits"] > 0
    written = load_model(tmp_path / "p.ngk")
    for k in (1, 2, 3):
        assert np.array_equal(written.ngrams(k), expected.model.ngrams(k))
        assert np.array_equal(written.backoff10(k), expected.model.backoff10(k))
    assert "order 3:" in result.stderr and "wrote" in result.stderr  # progress on stderr
    # the stored text options carry over: `ppl` reads the test text as the library does with them
    ppl = run_cli("ppl", "--model", tmp_path / "p.ngk", files["test"], "--json", "-q")
    assert ppl.exit_code == 0, ppl.stderr
    ppl_full = run_cli("ppl", "--model", folder / "m.ngk", files["test"], "--json", "-q")
    assert json.loads(ppl.stdout)["tokens"] == json.loads(ppl_full.stdout)["tokens"]
    assert json.loads(ppl.stdout)["ppl"] != json.loads(ppl_full.stdout)["ppl"]
    from ngramkit import TextOptions, read_sentences
    from ngramkit.modelio import read_metadata

    options = TextOptions(**read_metadata(tmp_path / "p.ngk")["info"]["text_options"])
    stream = Stream.from_sentences(read_sentences([files["test"]], options), written.vocab)
    assert json.loads(ppl.stdout)["ppl"] == pytest.approx(np.exp(-written.log_probs(stream).mean()), rel=1e-9)


def test_cli_arpa_in_and_out(reference_dir, tmp_path):
    out = tmp_path / "small.arpa.gz"
    result = run_cli("prune", reference_dir / "timemachine.d2l.o3.arpa.gz", "-t", 1e-6, "-o", out, "-q")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""
    expected = prune_entropy(read_arpa(reference_dir / "timemachine.d2l.o3.arpa.gz"), 1e-6)
    back = read_arpa(out)
    for k in (1, 2, 3):
        assert np.array_equal(back.ngrams(k), expected.ngrams(k))
        assert np.allclose(back.logp10(k), expected.logp10(k), atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("args, code, message", [
    (["-t", "-1e-7"], 2, "--threshold"),
    (["-t", "nan"], 2, "--threshold"),
    (["-t", "1e-7", "--min-order", "1"], 2, "--min-order"),
])
def test_cli_bad_options(trained, tmp_path, args, code, message):
    from clierrors import error_line

    folder, _ = trained
    result = run_cli("prune", folder / "m.ngk", *args, "-o", tmp_path / "p.ngk")
    assert message in error_line(result, code)
    assert not (tmp_path / "p.ngk").exists()


def test_cli_bad_models(trained, tmp_path):
    from clierrors import error_line

    folder, files = trained
    missing = error_line(run_cli("prune", tmp_path / "none.ngk", "-t", 1e-7, "-o", tmp_path / "p.ngk", "-q"), 1)
    assert "none.ngk" in missing
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("not a model\n")
    assert "garbage.arpa" in error_line(run_cli("prune", garbage, "-t", 1e-7, "-o", tmp_path / "p.ngk", "-q"), 1)
    rnn = run_cli("train", "rnn", files["train"], "--hidden", 8, "--epochs", 1, "--batch", 4, "--bptt", 8,
                  "--softmax", "class", "--classes", 5, "-o", tmp_path / "r.ngk", "-q")
    assert rnn.exit_code == 0, rnn.stderr
    assert "cannot be pruned" in error_line(run_cli("prune", tmp_path / "r.ngk", "-t", 1e-7, "-o", tmp_path / "p.ngk", "-q"), 1)
    same = run_cli("prune", folder / "m.ngk", "-t", 1e-7, "-o", folder / "m.ngk")
    assert "same file" in error_line(same, 2)
    assert not (tmp_path / "p.ngk").exists()
