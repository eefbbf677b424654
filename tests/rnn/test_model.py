"""RNNLM: class layout, scoring contract, normalisation, whole-model gradients, files, generation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ngramkit import Stream, Vocabulary, modelio
from ngramkit.errors import NgramkitError
from ngramkit.rnn import RNNLM, RNNConfig, class_layout
from ngramkit.rnn.model import NEVER, SparseRows

SENTS = [["the", "cat", "sat"], ["a", "dog", "sat", "on", "the", "mat"], ["the", "dog"], ["cat", "on", "a", "mat"]]


def make(cell="rnn", softmax="full", layers=1, tie=False, hidden=6, embed=None, dropout=0.0, seed=1, classes=3,
         init_scale=0.5, binning="freq", peephole=False):
    vocab = Vocabulary.build(SENTS)
    stream = Stream.from_sentences(SENTS, vocab)
    cfg = RNNConfig(vocab_size=len(vocab), cell=cell, hidden=hidden, embed=embed, layers=layers, tie_weights=tie,
                    softmax=softmax, classes=classes, dropout=dropout, seed=seed, init_scale=init_scale,
                    class_binning=binning, peephole=peephole)
    model = RNNLM.create(cfg, vocab, train_ids=stream.ids)
    # non-zero biases so that their gradients and the bias paths are exercised
    rng = np.random.default_rng(seed + 100)
    for key, p in model.params.items():
        if key.endswith("b") and key != "out.b":
            p += rng.uniform(-0.3, 0.3, p.shape).astype(np.float32)
    return model, stream


# ---- class layout ------------------------------------------------------------------------------
def naive_rnnlm_classes(counts, c):
    """Straight transcription of rnnlm-0.4b's loop over words sorted by count (independent oracle)."""
    words = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    total = float(sum(counts))
    a, df, out = 0, 0.0, {}
    for w in words:
        df += counts[w] / total
        if df > 1:
            df = 1
        if df > (a + 1) / c:
            out[w] = a
            if a < c - 1:
                a += 1
        else:
            out[w] = a
    return out


@pytest.mark.parametrize("c", [1, 2, 5, 30, 200])
def test_class_layout_matches_rnnlm_loop(c):
    rng = np.random.default_rng(c)
    counts = np.concatenate(([7, 0, 0, 0], rng.zipf(1.5, 60).clip(max=10_000)))
    order, bounds = class_layout(counts, c)
    assert sorted(order.tolist()) == list(range(counts.size))
    assert order[-2:].tolist() == [1, 3]  # <s>, <pad> last, in the last class
    assert bounds[0] == 0 and bounds[-1] == counts.size and np.all(np.diff(bounds) > 0)
    assert bounds.size - 1 <= c
    kernel_class = np.searchsorted(bounds, np.arange(counts.size), side="right") - 1
    predictable = [i for i in range(counts.size) if i not in NEVER]
    oracle = naive_rnnlm_classes(counts[predictable].tolist(), c)
    # the same partition (class numbers may differ only by the renumbering of empty classes)
    mine = {predictable.index(int(order[k])): int(kernel_class[k]) for k in range(counts.size - 2)}
    pairs = sorted(set(zip(oracle.values(), (mine[w] for w in oracle))))
    assert len({a for a, _ in pairs}) == len(pairs) == len({b for _, b in pairs})
    # frequent words first: counts never increase along kernel ids
    assert np.all(np.diff(counts[order[:-2]]) <= 0)


def test_class_layout_sqrt_gives_fewer_singleton_classes():
    counts = np.concatenate(([0, 0, 0, 0], (1000 / np.arange(1, 500)).astype(int) + 1))
    _, freq = class_layout(counts, 20, "freq")
    _, sqrt = class_layout(counts, 20, "sqrt")
    assert (np.diff(freq) == 1).sum() >= (np.diff(sqrt) == 1).sum()


# ---- the scoring contract -------------------------------------------------------------------------
CONFIGS = [
    dict(cell="rnn"), dict(cell="gru"), dict(cell="lstm"),
    dict(cell="rnn", softmax="class"), dict(cell="gru", softmax="class", layers=2),
    dict(cell="lstm", softmax="class", layers=2, tie=True),
    dict(cell="lstm", tie=True, embed=6), dict(cell="gru", softmax="class", binning="exchange"),
    dict(cell="lstm", peephole=True, layers=2),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_next_log_probs_sums_to_one_and_matches_log_probs(kw):
    model, stream = make(**kw)
    lp = model.log_probs(stream)
    assert lp.shape == (stream.n_tokens,) and lp.dtype == np.float64
    assert np.all(lp < 0) and np.all(np.isfinite(lp))
    for i in (0, 1, 4, 9, stream.n_tokens - 1):
        dist = model.next_log_probs(stream.ids[:i])
        assert dist.shape == (len(model.vocab),)
        assert np.all(np.isneginf(dist[list(NEVER)]))
        assert math.isclose(np.exp(dist).sum(), 1.0, rel_tol=1e-9)
        # the kernel's target log-prob (float32 maths) vs the full numpy distribution (float64)
        assert dist[stream.ids[i]] == pytest.approx(lp[i], abs=2e-5)


def test_log_probs_is_one_continuous_stream():
    """Sentence i's first word depends on sentence i-1 (state carried); token 0 sees only </s>."""
    model, stream = make(cell="gru")
    lp = model.log_probs(stream)
    second = Stream.from_sentences(SENTS[1:], model.vocab)
    lp2 = model.log_probs(second)
    assert lp2[0] != pytest.approx(lp[stream.offsets[1]], abs=1e-7)  # history differs
    eos = model.vocab.index["</s>"]
    assert model.next_log_probs([])[stream.ids[0]] == pytest.approx(lp[0], abs=2e-5)
    # an explicit leading </s> is a different context than the implicit one (two </s> inputs)
    assert model.next_log_probs([eos])[stream.ids[0]] != pytest.approx(lp[0], abs=1e-7)


def test_log_probs_equals_training_loss():
    """The loss the trainer minimises over one (N, 1) segment is -sum(log_probs) of the stream."""
    model, stream = make(cell="lstm", softmax="class", layers=2)
    eos = model.to_kernel[model.vocab.index["</s>"]]
    ids = model.to_kernel[stream.ids]
    x = np.concatenate(([eos], ids[:-1])).astype(np.int32)[:, None]
    logp, grads, _ = model.forward_backward(x, ids[:, None].astype(np.int32), model.initial_state(1), scale=0.5)
    np.testing.assert_allclose(logp, model.log_probs(stream), rtol=0, atol=1e-9)
    assert set(grads) == set(model.params)


# ---- whole-model gradient check ---------------------------------------------------------------------
GRAD_CONFIGS = [
    dict(cell="rnn"), dict(cell="gru"), dict(cell="lstm"),
    dict(cell="rnn", softmax="class"), dict(cell="gru", softmax="class"), dict(cell="lstm", softmax="class"),
    dict(cell="lstm", layers=2), dict(cell="gru", layers=2, softmax="class", dropout=0.3),
    dict(cell="rnn", tie=True, layers=2), dict(cell="lstm", tie=True, softmax="class", dropout=0.2),
    dict(cell="lstm", layers=2, peephole=True), dict(cell="lstm", peephole=True, softmax="class", dropout=0.2),
]


@pytest.mark.parametrize("kw", GRAD_CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_gradients_match_finite_differences(kw):
    model, stream = make(hidden=5, embed=4 if not kw.get("tie") else None, **kw)
    t, b = 5, 2
    rng = np.random.default_rng(0)
    ids = model.to_kernel[stream.ids].astype(np.int32)
    x = np.ascontiguousarray(ids[: t * b].reshape(b, t).T)
    y = np.ascontiguousarray(ids[1: t * b + 1].reshape(b, t).T)
    state = [(rng.uniform(-0.5, 0.5, h.shape).astype(np.float32),
              None if c is None else rng.uniform(-0.5, 0.5, c.shape).astype(np.float32))
             for h, c in model.initial_state(b)]
    scale = 0.7

    def loss(need_grad=False):
        drop_rng = np.random.default_rng(5) if kw.get("dropout") else None
        logp, grads, _ = model.forward_backward(x, y, state, scale=scale, need_grad=need_grad, rng=drop_rng)
        return -scale * float(np.sum(logp)), grads

    _, grads = loss(True)
    eps = 1e-2
    checked = 0
    for key, p in model.params.items():
        g = grads[key]
        if isinstance(g, SparseRows):
            assert np.array_equal(g.ids, np.unique(x)) and key == "embed"
            g = g.to_dense()
        assert g.shape == p.shape
        flat = p.reshape(-1)
        # the largest-gradient entries and a few random ones
        picks = set(np.argsort(-np.abs(g.reshape(-1)))[:3].tolist()) | set(rng.integers(0, flat.size, 3).tolist())
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            up, _ = loss()
            flat[i] = old - eps
            down, _ = loss()
            flat[i] = old
            fd = (up - down) / (2 * eps)
            an = float(g.reshape(-1)[i])
            assert abs(fd - an) <= 2e-3 + 3e-2 * abs(an), f"{key}[{i}]: finite difference {fd}, backprop {an}"
            checked += 1
    assert checked > 20


# ---- files, generation, errors --------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(cell="rnn", softmax="class"), dict(cell="lstm", layers=2, tie=True),
                                dict(cell="rnn", softmax="class", binning="exchange"),
                                dict(cell="lstm", peephole=True)])
def test_save_load_round_trip(tmp_path, kw):
    model, stream = make(**kw)
    path = modelio.save_model(model, tmp_path / "m.ngk", info={"corpus": "x"})
    for loaded in (modelio.load_model(path), modelio.load_model(path, mmap=False)):
        assert isinstance(loaded, RNNLM)
        assert loaded.config == model.config and loaded.vocab == model.vocab
        np.testing.assert_array_equal(loaded.log_probs(stream), model.log_probs(stream))
    meta = modelio.read_metadata(path)
    assert meta["kind"] == "rnn" and meta["class"] == "RNNLM" and meta["info"] == {"corpus": "x"}
    raw = bytearray(path.read_bytes())
    k = raw.index(b"NUMPY", raw.index(b"layer0.Wh.npy")) + 200
    raw[k] ^= 0xFF
    (tmp_path / "bad.ngk").write_bytes(bytes(raw))
    with pytest.raises(NgramkitError, match="checksum"):
        modelio.load_model(tmp_path / "bad.ngk")


def test_generate_is_seeded_and_respects_top_k():
    model, _ = make(cell="gru", softmax="class")
    a = model.generate(30, ["the"], 7)
    assert a == model.generate(30, ["the"], 7) and len(a) == 30
    assert not {"<s>", "<pad>"} & set(a)
    greedy = model.generate(5, ["the"], 1, top_k=1)
    ctx = [model.vocab.index["the"]]
    for word in greedy:  # top-1 sampling is the argmax of next_log_probs along the generated path
        lp = model.next_log_probs(ctx)
        assert model.vocab.words[int(np.argmax(lp))] == word
        ctx.append(model.vocab.index[word])
    with pytest.raises(NgramkitError, match="temperature"):
        model.generate(3, temperature=0)


def test_config_errors_are_one_line():
    with pytest.raises(NgramkitError, match="tie_weights needs the embedding size equal to the hidden size"):
        RNNConfig(vocab_size=10, hidden=8, embed=4, tie_weights=True)
    with pytest.raises(NgramkitError, match="cell must be one of"):
        RNNConfig(vocab_size=10, cell="transformer")
    with pytest.raises(NgramkitError, match="dropout must be in"):
        RNNConfig(vocab_size=10, dropout=1.0)
    with pytest.raises(NgramkitError, match="peephole needs the lstm cell, got cell 'gru'"):
        RNNConfig(vocab_size=10, cell="gru", peephole=True)
    model, stream = make()
    with pytest.raises(NgramkitError, match="expected float32"):
        RNNLM(model.config, model.vocab, {**model.params, "embed": model.params["embed"][:3]}, model.to_kernel, None)
