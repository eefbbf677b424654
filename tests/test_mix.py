"""ngramkit.mix and ``ngramkit mix``: EM weights, the static mixture as one backoff model, the CLI's errors.

Oracles: a brute-force grid over the weight (held-out log-likelihood from each
model's own scores), each component's ``next_log_probs`` (the full backoff
distribution, another code path than the vectorised per-order tables of
ngramkit.mix), sums over the whole vocabulary, and the component itself
(mixing a model with itself).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from clierrors import error_line
from ngramkit import Stream, mix, modelio, read_sentences
from ngramkit.cli.main import cli
from ngramkit.models import ModifiedKneserNey, WittenBell
from ngramkit.vocab import BOS_ID, PAD_ID


@pytest.fixture(scope="module")
def sentences(reference_dir):
    return read_sentences([reference_dir / "timemachine.d2l.txt"])


@pytest.fixture(scope="module")
def models(sentences):
    """Two models with different orders, smoothing and vocabularies (overlapping training slices)."""
    a = ModifiedKneserNey(3).fit_sentences(sentences[:1500]).to_backoff()
    b = WittenBell(2).fit_sentences(sentences[800:2300]).to_backoff()
    assert set(a.vocab.words) != set(b.vocab.words)
    return a, b


@pytest.fixture(scope="module")
def held(sentences):
    return sentences[2300:]


def _component_probs(model, vocab, context, words):
    """P_model(w | context) for union ids ``words`` by the model's full distribution (0 for words it lacks);
    a context word the model lacks is <pad>, which no n-gram holds (the model backs off past it)."""
    index = model.vocab.index
    ctx = [index.get(vocab.words[i], PAD_ID) for i in context]
    dist = np.exp(model.next_log_probs(ctx))
    return np.array([dist[index[vocab.words[w]]] if vocab.words[w] in index else 0.0 for w in words])


def test_em_weights_match_a_brute_force_grid(models, held):
    a, b = models
    stream = Stream.from_sentences(held, mix.union_vocab([a, b]))
    logp = mix.component_log_probs([a, b], stream)
    result = mix.tune_weights(logp, tol=1e-9, max_iter=2000)
    assert result.converged
    grid = np.linspace(0, 1, 20001)
    pa, pb = np.exp(logp)
    with np.errstate(divide="ignore"):  # the ends of the grid: tokens one model lacks have probability 0
        ll = np.array([np.log(l * pa + (1 - l) * pb).sum() for l in grid])
    best = grid[ll.argmax()]
    assert abs(result.weights[0] - best) < 1e-4
    em_ll = np.log(result.weights[0] * pa + result.weights[1] * pb).sum()
    assert em_ll >= ll.max() - 1e-6
    # each iteration's reported perplexity is the mixture's at its weights, and EM never lowers the likelihood
    ppl = [it["perplexity"] for it in result.iterations]
    assert all(x >= y - 1e-9 for x, y in zip(ppl, ppl[1:]))
    w0 = result.iterations[3]["weights"][0]
    assert ppl[3] == pytest.approx(np.exp(-np.log(w0 * pa + (1 - w0) * pb).mean()), rel=1e-12)


def test_em_stops_at_max_iter_and_starts_from_init(models, held):
    a, b = models
    logp = mix.component_log_probs([a, b], Stream.from_sentences(held, mix.union_vocab([a, b])))
    result = mix.tune_weights(logp, init=[0.9, 0.1], max_iter=2)
    assert not result.converged and len(result.iterations) == 3
    assert result.iterations[0]["weights"] == [0.9, 0.1]


def test_component_scores_use_the_union_convention(models, held):
    a, b = models
    vocab = mix.union_vocab([a, b])
    stream = Stream.from_sentences(held[:40], vocab)
    logp = mix.component_log_probs([a, b], stream)
    # token by token from each model's full distribution
    for s in range(40):
        lo, hi = stream.offsets[s], stream.offsets[s + 1]
        ids = stream.ids[lo:hi]
        for t in range(ids.size):
            ctx = [BOS_ID] + ids[:t].tolist()
            for i, m in enumerate((a, b)):
                p = _component_probs(m, vocab, ctx[-(m.order - 1):] if m.order > 1 else [], [ids[t]])[0]
                assert np.exp(logp[i, lo + t]) == pytest.approx(p, rel=1e-9, abs=1e-300)
    lacks_b = np.array([w not in b.vocab.index for w in vocab.words])
    assert lacks_b[stream.ids].any() and np.isneginf(logp[1, lacks_b[stream.ids]]).all()


def test_static_model_sums_to_one(models):
    a, b = models
    mixed = mix.static_mixture([a, b], [0.6, 0.4])
    v = len(mixed.vocab)
    rng = np.random.default_rng(5)
    contexts = [[], [BOS_ID], [BOS_ID, 4]]
    contexts += [list(g) for g in mixed.ngrams(2)[rng.choice(mixed.ngrams(2).shape[0], 40, replace=False)]]
    contexts += [[g[0]] for g in mixed.ngrams(1)[rng.choice(mixed.ngrams(1).shape[0], 20, replace=False)]]
    contexts += [list(rng.integers(4, v, 2)) for _ in range(40)]  # mostly unseen pairs
    b_only = [i for i, w in enumerate(mixed.vocab.words) if w not in a.vocab.index]
    contexts += [[b_only[0], 4], [4, b_only[1]]]
    for ctx in contexts:
        assert mix.normaliser(mixed, ctx) == pytest.approx(1.0, abs=1e-9), ctx


def test_static_model_equals_the_mixture_on_the_union(models):
    a, b = models
    w = [0.7, 0.3]
    mixed = mix.static_mixture([a, b], w)
    vocab = mixed.vocab
    rng = np.random.default_rng(1)
    for k in (1, 2, 3):
        grams = mixed.ngrams(k)
        real = ~np.isnan(mixed.logp10(k))
        pick = rng.choice(np.flatnonzero(real), min(60, int(real.sum())), replace=False)
        for g in grams[pick]:
            ctx, word = list(g[:-1]), int(g[-1])
            want = sum(l * _component_probs(m, vocab, ctx[-(m.order - 1):] if m.order > 1 else [], [word])[0]
                       for l, m in zip(w, (a, b)))
            got = np.exp(mixed.next_log_probs(ctx))[word]
            assert got == pytest.approx(want, rel=1e-10), g
    # outside the union the static model backs off with one weight: not the exact mixture (module docstring)
    diffs = []
    for g in mixed.ngrams(2)[rng.choice(mixed.ngrams(2).shape[0], 30, replace=False)]:
        ctx = list(g)
        exact = sum(l * _component_probs(m, vocab, ctx[-(m.order - 1):], np.arange(4, len(vocab)))
                    for l, m in zip(w, (a, b)))
        static = np.exp(mixed.next_log_probs(ctx))[4:]
        diffs.append(np.abs(exact - static).max())
    assert max(diffs) > 1e-6


def test_exact_mixture_log_probs(models, held):
    a, b = models
    w = [0.25, 0.75]
    stream = Stream.from_sentences(held[:20], mix.union_vocab([a, b]))
    got = mix.mixture_log_probs([a, b], w, stream)
    logp = mix.component_log_probs([a, b], stream)
    assert np.allclose(np.exp(got), w[0] * np.exp(logp[0]) + w[1] * np.exp(logp[1]), rtol=1e-12, atol=0)


@pytest.mark.parametrize("weights", [[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
def test_mixing_a_model_with_itself_gives_it_back(models, weights):
    a = models[0]
    mixed = mix.static_mixture([a, a], weights)
    assert mixed.vocab.words == a.vocab.words
    for k in range(1, a.order + 1):
        assert np.array_equal(mixed.ngrams(k), a.ngrams(k))
        assert np.array_equal(np.isnan(mixed.logp10(k)), np.isnan(a.logp10(k)))
        assert np.nanmax(np.abs(mixed.logp10(k) - a.logp10(k))) < 1e-12
        assert np.max(np.abs(mixed.backoff10(k) - a.backoff10(k))) < 1e-12


def test_bad_weights():
    with pytest.raises(mix.NgramkitError, match="sum to 1"):
        mix.check_weights([0.5, 0.6], 2)
    with pytest.raises(mix.NgramkitError, match=">= 0"):
        mix.check_weights([1.5, -0.5], 2)


# ---- the command -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory, models, held):
    d = tmp_path_factory.mktemp("mix")
    modelio.save_model(models[0], d / "a.ngk")
    modelio.save_model(models[1], d / "b.arpa")
    (d / "held.txt").write_text("\n".join(" ".join(s) for s in held) + "\n")
    return d


def _run(*args):
    return CliRunner().invoke(cli, ["mix", *map(str, args)], catch_exceptions=False)


def test_cli_tunes_writes_and_reports(files, held):
    out = files / "m.arpa.gz"
    result = _run(files / "a.ngk", files / "b.arpa", "--tune", files / "held.txt", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert "EM iteration" in result.stderr  # progress on stderr, per iteration
    a, b = modelio.load_model(files / "a.ngk"), modelio.load_model(files / "b.arpa")  # b: ARPA-rounded values
    logp = mix.component_log_probs([a, b], Stream.from_sentences(held, mix.union_vocab([a, b])))
    want = mix.tune_weights(logp)
    assert np.allclose(got["weights"], want.weights, atol=1e-6)
    assert got["em"]["n_iterations"] == len(want.iterations) - 1
    assert got["tune_perplexity"] == pytest.approx(want.perplexity, rel=1e-6)
    # the ARPA file is the static mixture (within ARPA's printed precision)
    back = modelio.load_model(out)
    static = mix.static_mixture([a, b], got["weights"])
    for k in (1, 2, 3):
        assert np.array_equal(back.ngrams(k), static.ngrams(k))
        assert np.allclose(back.logp10(k), static.logp10(k), atol=1e-5, equal_nan=True)
    # native output scores the tune text at the static model's perplexity, tokenised as the first model
    native = files / "m.ngk"
    assert _run(files / "a.ngk", files / "b.arpa", "--weights", "0.25,0.75", "-o", native, "-q").exit_code == 0
    loaded = modelio.load_model(native)
    static = mix.static_mixture([a, b], [0.25, 0.75])
    assert np.array_equal(loaded.logp10(2), static.logp10(2), equal_nan=True)
    assert modelio.read_metadata(native)["info"]["mix"]["weights"] == [0.25, 0.75]


def test_cli_errors(files, tmp_path):
    from ngramkit import Vocabulary
    from ngramkit.rnn import RNNLM, RNNConfig

    a, b, held = files / "a.ngk", files / "b.arpa", files / "held.txt"
    out = tmp_path / "o.ngk"
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("not a model\n")
    vocab = Vocabulary.build([["a", "b", "c"], ["b", "c"]])
    rnn = modelio.save_model(RNNLM.create(RNNConfig(vocab_size=len(vocab), hidden=8, seed=2), vocab),
                             tmp_path / "rnn.ngk")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    cases = [
        ([a, tmp_path / "missing.ngk", "--tune", held], 1, "missing.ngk"),
        ([a, garbage, "--tune", held], 1, "garbage.arpa"),
        ([a, rnn, "--tune", held], 1, "rnn.ngk"),
        ([a, b, "--tune", empty], 1, "empty.txt"),
        ([a, b, "--tune", blank], 1, "blank.txt"),
        ([a, b, "--weights", "0.5,0.6"], 2, "sum to 1"),
        ([a, b, "--weights", "0.5"], 2, "--weights"),
        ([a, b, "--weights", "x,y"], 2, "--weights"),
        ([a, b], 2, "--tune"),
        ([a, "--tune", held], 2, "two models"),
    ]
    for args, code, needle in cases:
        line = error_line(_run(*args, "-o", out, "-q"), code)
        assert needle in line, (args, line)
        assert not out.exists()
