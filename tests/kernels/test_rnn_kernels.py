"""RNN kernels: the C extension against its numpy reference, finite differences
and normalisation (RapidFuzz style: every implementation on every input, equal
results and equal exceptions).

Oracles: the numpy reference (ngramkit.rnn.reference) for the C path; central
finite differences in float64 for the reference's own formulas (its dtype is
switched to float64 for those tests); directional finite differences in
float32 for the C path; sum over the vocabulary of exp(logp) = 1.
"""

import sys

import numpy as np
import pytest

from ngramkit.rnn import kernels as K
from ngramkit.rnn import reference as R

CELLS = ["rnn", "gru", "lstm"]


@pytest.fixture(autouse=True)
def _c_impl(monkeypatch):
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)


def arr(rng, *shape, scale=1.0, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def recurrent_inputs(rng, cell, t, b, h, dtype=np.float32):
    g = K.GATES[cell]
    return dict(xw=arr(rng, t, b, g * h, dtype=dtype), h0=arr(rng, b, h, scale=0.5, dtype=dtype),
                c0=arr(rng, b, h, scale=0.5, dtype=dtype) if cell == "lstm" else None,
                Wh=arr(rng, h, g * h, scale=1.0 / np.sqrt(h), dtype=dtype), bh=arr(rng, g * h, scale=0.3, dtype=dtype))


def class_layout(rng, v, c):
    cuts = np.sort(rng.choice(np.arange(1, v), c - 1, replace=False))
    return np.concatenate([[0], cuts, [v]]).astype(np.int32)


def close(a, b, rel):
    """max |a - b| <= rel * (1 + max |b|), printing the gap on failure."""
    if a is None or b is None:
        assert a is None and b is None
        return
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    gap = np.abs(a - b).max() if a.size else 0.0
    assert gap <= rel * (1 + (np.abs(b).max() if b.size else 0.0)), gap


# ----------------------------------------------------------------------------- dispatch
def test_compiled_extension_is_built_and_chosen():
    from ngramkit import _rnn

    assert K.implementation() == "c"
    assert _rnn.simd() in ("avx512f", "avx2+fma", "generic")


def test_ngramkit_impl_numpy_forces_the_reference(monkeypatch):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"C kernel {name} called although NGRAMKIT_IMPL=numpy")

    monkeypatch.setitem(sys.modules, "ngramkit._rnn", Untouchable())
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    assert K.implementation() == "numpy"
    rng = np.random.default_rng(0)
    x = recurrent_inputs(rng, "gru", 3, 2, 4)
    hs, _, cache = K.recurrent_forward("gru", **x)
    ref = R.recurrent_forward("gru", **x)[0]
    np.testing.assert_array_equal(hs, ref)
    K.recurrent_backward("gru", hs, None, None, cache, x["h0"], None, x["Wh"], x["bh"])
    h, W, b = arr(rng, 5, 4), arr(rng, 4, 9), arr(rng, 9)
    t = np.arange(5, dtype=np.int32)
    K.softmax_xent(h, W, b, t)
    K.class_softmax_xent(h, arr(rng, 4, 2), arr(rng, 2), W, b, np.array([0, 4, 9], np.int32), t)


# The rest of the NGRAMKIT_IMPL rule (bogus value, missing extension) is pinned for every kernel in test_native.py.


# ----------------------------------------------------------------------------- C == reference
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("seed", range(4))
def test_recurrent_c_matches_reference(cell, seed):
    rng = np.random.default_rng(100 + seed)
    t, b, h = int(rng.integers(1, 13)), int(rng.integers(1, 10)), int(rng.integers(1, 41))
    x = recurrent_inputs(rng, cell, t, b, h)
    hs, ct, cache = K.recurrent_forward(cell, **x)
    hs_r, ct_r, cache_r = R.recurrent_forward(cell, **x)
    close(hs, hs_r, 2e-5)
    close(ct, ct_r, 2e-5)
    assert set(cache) == set(cache_r)
    for key in cache:
        close(cache[key], cache_r[key], 2e-5)
    dhs = arr(rng, t, b, h)
    dht = arr(rng, b, h) if seed % 2 else None
    dct = arr(rng, b, h) if cell == "lstm" and seed % 2 else None
    got = K.recurrent_backward(cell, dhs, dht, dct, cache, x["h0"], x["c0"], x["Wh"], x["bh"])
    want = R.recurrent_backward(cell, dhs, dht, dct, cache_r, x["h0"], x["c0"], x["Wh"], x["bh"])
    for g, w in zip(got, want):
        close(g, w, 1e-4)
        assert g is None or g.dtype == np.float32


@pytest.mark.parametrize("cell", CELLS)
def test_empty_segment(cell):
    rng = np.random.default_rng(1)
    x = recurrent_inputs(rng, cell, 0, 3, 5)
    for impl in (K, R):
        hs, ct, cache = impl.recurrent_forward(cell, **x)
        assert hs.shape == (0, 3, 5)
        close(ct, x["c0"], 0)
        dxw, dh0, dc0, dwh, dbh = impl.recurrent_backward(cell, np.zeros((0, 3, 5), np.float32), x["h0"], x["c0"],
                                                           cache, x["h0"], x["c0"], x["Wh"], x["bh"])
        close(dh0, x["h0"], 0)  # nothing to backpropagate through: dhT passes straight to dh0
        close(dc0, x["c0"], 0)
        assert dxw.shape == (0, 3, K.GATES[cell] * 5) and not dwh.any() and not dbh.any()


@pytest.mark.parametrize("seed", range(3))
def test_softmax_c_matches_reference(seed):
    rng = np.random.default_rng(200 + seed)
    n, h, v = int(rng.integers(1, 60)), int(rng.integers(1, 40)), int(rng.integers(1, 300))
    hh, W, b = arr(rng, n, h), arr(rng, h, v), arr(rng, v, scale=3)
    t = rng.integers(0, v, n).astype(np.int32)
    scale = float(rng.uniform(0.1, 2))
    for need_grad in (True, False):
        got = K.softmax_xent(hh, W, b, t, scale=scale, need_grad=need_grad)
        want = R.softmax_xent(hh, W, b, t, scale=scale, need_grad=need_grad)
        assert got[0].dtype == np.float64
        for g, w in zip(got, want):
            close(g, w, 2e-5)


@pytest.mark.parametrize("seed", range(3))
def test_class_softmax_c_matches_reference(seed):
    rng = np.random.default_rng(300 + seed)
    n, h, v = int(rng.integers(1, 80)), int(rng.integers(1, 40)), int(rng.integers(2, 300))
    c = int(rng.integers(1, min(v, 30) + 1))
    cb = class_layout(rng, v, c)
    hh, Wc, bc, Ww, bw = arr(rng, n, h), arr(rng, h, c), arr(rng, c), arr(rng, h, v), arr(rng, v, scale=2)
    t = rng.integers(0, v, n).astype(np.int32)
    for need_grad in (True, False):
        got = K.class_softmax_xent(hh, Wc, bc, Ww, bw, cb, t, scale=0.7, need_grad=need_grad)
        want = R.class_softmax_xent(hh, Wc, bc, Ww, bw, cb, t, scale=0.7, need_grad=need_grad)
        for g, w in zip(got, want):
            close(g, w, 2e-5)
    # dWw / dbw are zero outside the classes of the targets (only those columns are touched)
    dww, dbw = K.class_softmax_xent(hh, Wc, bc, Ww, bw, cb, t)[4:]
    used = np.zeros(v, bool)
    for k in np.unique(np.searchsorted(cb, t, side="right") - 1):
        used[cb[k]:cb[k + 1]] = True
    assert not dww[:, ~used].any() and not dbw[~used].any()


def test_class_softmax_is_normalised():
    rng = np.random.default_rng(4)
    n, h, v, c = 6, 16, 120, 9
    cb = class_layout(rng, v, c)
    hh, Wc, bc, Ww, bw = arr(rng, n, h), arr(rng, h, c), arr(rng, c), arr(rng, h, v, scale=2), arr(rng, v)
    # every word as the target of every context, through the training kernel itself
    rows = np.repeat(hh, v, axis=0)
    t = np.tile(np.arange(v, dtype=np.int32), n)
    for impl in (K, R):
        logp = impl.class_softmax_xent(rows, Wc, bc, Ww, bw, cb, t, need_grad=False)[0].reshape(n, v)
        np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(impl.class_softmax_logprobs_all(hh, Wc, bc, Ww, bw, cb), logp, atol=2e-5)
    logp = K.softmax_xent(rows, Ww, bw, t, need_grad=False)[0].reshape(n, v)
    np.testing.assert_allclose(np.exp(logp).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(K.softmax_logprobs_all(hh, Ww, bw), logp, atol=2e-5)


def test_extreme_logits_stay_finite():
    rng = np.random.default_rng(5)
    h, W, b = arr(rng, 4, 3, scale=100), arr(rng, 3, 50, scale=100), arr(rng, 50)
    t = rng.integers(0, 50, 4).astype(np.int32)
    for impl in (K, R):
        logp, dh, dw, db = impl.softmax_xent(h, W, b, t)
        assert np.isfinite(logp).all() and np.isfinite(dh).all() and np.isfinite(dw).all() and (logp <= 0).all()
    x = recurrent_inputs(rng, "lstm", 3, 2, 4)
    x["xw"] *= 200  # saturated gates
    hs, ct, _ = K.recurrent_forward("lstm", **x)
    assert np.isfinite(hs).all() and np.abs(hs).max() <= 1


# ----------------------------------------------------------------------------- finite differences
@pytest.fixture
def float64_reference(monkeypatch):
    monkeypatch.setattr(R, "FLOAT", np.float64)


def numeric_grad(f, p, eps=1e-6):
    g = np.zeros_like(p)
    flat, gf = p.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gf[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("cell", CELLS)
def test_reference_recurrent_gradients_match_finite_differences(cell, float64_reference):
    rng = np.random.default_rng(7)
    t, b, h = 3, 2, 3
    x = recurrent_inputs(rng, cell, t, b, h, dtype=np.float64)
    wh, wt = rng.standard_normal((t, b, h)), rng.standard_normal((b, h))  # loss weights
    wc = rng.standard_normal((b, h))

    def loss():
        hs, ct, _ = R.recurrent_forward(cell, **x)
        return (wh * hs).sum() + (wt * hs[-1]).sum() + ((wc * ct).sum() if cell == "lstm" else 0.0)

    _, _, cache = R.recurrent_forward(cell, **x)
    dxw, dh0, dc0, dwh, dbh = R.recurrent_backward(cell, wh, wt, wc if cell == "lstm" else None, cache,
                                                   x["h0"], x["c0"], x["Wh"], x["bh"])
    for name, grad in [("xw", dxw), ("h0", dh0), ("c0", dc0), ("Wh", dwh), ("bh", dbh)]:
        if x[name] is None:
            assert grad is None
            continue
        np.testing.assert_allclose(grad, numeric_grad(loss, x[name]), rtol=1e-6, atol=1e-8, err_msg=name)


def test_reference_softmax_gradients_match_finite_differences(float64_reference):
    rng = np.random.default_rng(8)
    n, h, v, c = 7, 4, 11, 3
    p = dict(h=rng.standard_normal((n, h)), W=rng.standard_normal((h, v)), b=rng.standard_normal(v))
    t = rng.integers(0, v, n).astype(np.int32)
    _, dh, dw, db = R.softmax_xent(p["h"], p["W"], p["b"], t, scale=0.5)
    loss = lambda: -0.5 * R.softmax_xent(p["h"], p["W"], p["b"], t, need_grad=False)[0].sum()  # noqa: E731
    for name, grad in [("h", dh), ("W", dw), ("b", db)]:
        np.testing.assert_allclose(grad, numeric_grad(loss, p[name]), rtol=1e-6, atol=1e-8, err_msg=name)

    cb = np.array([0, 2, 7, 11], np.int32)
    q = dict(h=p["h"], Wc=rng.standard_normal((h, c)), bc=rng.standard_normal(c), Ww=p["W"], bw=p["b"])
    grads = R.class_softmax_xent(q["h"], q["Wc"], q["bc"], q["Ww"], q["bw"], cb, t, scale=2.0)[1:]
    loss = lambda: -2.0 * R.class_softmax_xent(  # noqa: E731
        q["h"], q["Wc"], q["bc"], q["Ww"], q["bw"], cb, t, need_grad=False)[0].sum()
    for name, grad in zip(["h", "Wc", "bc", "Ww", "bw"], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, q[name]), rtol=1e-6, atol=1e-8, err_msg=name)


def directional_check(loss, params, grads, rng, eps=1e-2, rtol=1e-2):
    """float32 check: (L(p + eps u) - L(p - eps u)) / 2 eps == <grad, u> for a random direction u."""
    dirs = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    want = sum(float((g.astype(np.float64) * u).sum()) for g, u in zip(grads, dirs))
    saved = [p.copy() for p in params]
    for p, u, s in zip(params, dirs, saved):
        p[...] = s + eps * u
    up = loss()
    for p, u, s in zip(params, dirs, saved):
        p[...] = s - eps * u
    down = loss()
    for p, s in zip(params, saved):
        p[...] = s
    assert abs((up - down) / (2 * eps) - want) <= rtol * (1 + abs(want)), ((up - down) / (2 * eps), want)


@pytest.mark.parametrize("cell", CELLS)
def test_c_recurrent_gradients_match_finite_differences(cell):
    rng = np.random.default_rng(9)
    t, b, h = 5, 3, 8
    x = recurrent_inputs(rng, cell, t, b, h)
    wh, wt = arr(rng, t, b, h), arr(rng, b, h)
    wc = arr(rng, b, h) if cell == "lstm" else None

    def loss():
        hs, ct, _ = K.recurrent_forward(cell, **x)
        out = (wh.astype(np.float64) * hs).sum() + (wt * hs[-1].astype(np.float64)).sum()
        return out + ((wc * ct.astype(np.float64)).sum() if cell == "lstm" else 0.0)

    _, _, cache = K.recurrent_forward(cell, **x)
    grads = K.recurrent_backward(cell, wh, wt, wc, cache, x["h0"], x["c0"], x["Wh"], x["bh"])
    names = ["xw", "h0", "c0", "Wh", "bh"]
    pairs = [(x[n], g) for n, g in zip(names, grads) if x[n] is not None]
    directional_check(loss, [p for p, _ in pairs], [g for _, g in pairs], rng, eps=1e-2, rtol=2e-3)


def test_c_softmax_gradients_match_finite_differences():
    rng = np.random.default_rng(10)
    n, h, v, c = 40, 12, 90, 6
    hh, W, b, Wc, bc = arr(rng, n, h), arr(rng, h, v), arr(rng, v), arr(rng, h, c), arr(rng, c)
    cb = class_layout(rng, v, c)
    t = rng.integers(0, v, n).astype(np.int32)
    grads = K.softmax_xent(hh, W, b, t, scale=0.5)[1:]
    directional_check(lambda: -0.5 * K.softmax_xent(hh, W, b, t, need_grad=False)[0].sum(), [hh, W, b], grads,
                      rng, eps=1e-2, rtol=2e-3)
    grads = K.class_softmax_xent(hh, Wc, bc, W, b, cb, t, scale=0.5)[1:]
    directional_check(lambda: -0.5 * K.class_softmax_xent(hh, Wc, bc, W, b, cb, t, need_grad=False)[0].sum(),
                      [hh, Wc, bc, W, b], grads, rng, eps=1e-2, rtol=2e-3)


# ----------------------------------------------------------------------------- bad inputs
def _noncontig(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


MUTATIONS = {
    "float64": (lambda a: a.astype(np.float64), TypeError),
    "int64": (lambda a: a.astype(np.int64), TypeError),
    "list": (lambda a: a.tolist(), TypeError),
    "extra-dim": (lambda a: a[None], ValueError),
    "short": (lambda a: a[..., :-1].copy(), ValueError),
    "non-contiguous": (_noncontig, ValueError),
}


def _recurrent_case(cell):
    rng = np.random.default_rng(11)
    x = recurrent_inputs(rng, cell, 3, 2, 4)
    return x


def _expect_same_error(calls, exc):
    """Run every implementation; all must raise `exc` (the same type)."""
    kinds = []
    for impl, call in calls:
        with pytest.raises(exc) as info:
            call()
        kinds.append(type(info.value))
        assert "\n" not in str(info.value)
    assert len(set(kinds)) == 1, kinds


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("name", ["xw", "h0", "c0", "Wh", "bh"])
@pytest.mark.parametrize("mutation", sorted(set(MUTATIONS) - {"int64"}))
def test_recurrent_forward_bad_inputs(cell, name, mutation):
    x = _recurrent_case(cell)
    if x[name] is None:
        pytest.skip("no cell state for this cell")
    fn, exc = MUTATIONS[mutation]
    x[name] = fn(x[name])
    _expect_same_error([(m, lambda m=m: m.recurrent_forward(cell, **x)) for m in (K, R)], exc)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("name", ["dhs", "dhT", "hs", "gates", "extra", "Wh"])
@pytest.mark.parametrize("mutation", ["float64", "list", "short", "non-contiguous"])
def test_recurrent_backward_bad_inputs(cell, name, mutation):
    x = _recurrent_case(cell)
    rng = np.random.default_rng(12)
    dhs, dht = arr(rng, 3, 2, 4), arr(rng, 2, 4)
    calls = []
    fn, exc = MUTATIONS[mutation]
    for impl in (K, R):
        _, _, cache = impl.recurrent_forward(cell, **x)
        cache = dict(cache)
        args = dict(dhs=dhs, dhT=dht, Wh=x["Wh"])
        extra_key = {"rnn": None, "gru": "hn", "lstm": "cs"}[cell]
        if name in ("hs", "gates"):
            cache[name] = fn(cache[name])
        elif name == "extra":
            if extra_key is None:
                pytest.skip("no extra cache for rnn")
            cache[extra_key] = fn(cache[extra_key])
        else:
            args[name] = fn(args[name])
        calls.append((impl, lambda impl=impl, args=args, cache=cache: impl.recurrent_backward(
            cell, args["dhs"], args["dhT"], None, cache, x["h0"], x["c0"], args["Wh"], x["bh"])))
    _expect_same_error(calls, exc)


@pytest.mark.parametrize("cell", CELLS)
def test_recurrent_structural_errors(cell):
    x = _recurrent_case(cell)
    bad_cells = dict(x, c0=None) if cell == "lstm" else dict(x, c0=x["h0"].copy())
    _expect_same_error([(m, lambda m=m: m.recurrent_forward(cell, **bad_cells)) for m in (K, R)], ValueError)
    _expect_same_error([(m, lambda m=m: m.recurrent_forward("elman", **x)) for m in (K, R)], ValueError)
    _, _, cache = K.recurrent_forward(cell, **x)
    dhs = np.zeros((3, 2, 4), np.float32)
    _expect_same_error([(m, lambda m=m: m.recurrent_backward(cell, dhs, None, None, [cache], x["h0"], x["c0"],
                                                             x["Wh"], x["bh"])) for m in (K, R)], TypeError)
    partial = {k: v for k, v in cache.items() if k != "gates"}
    _expect_same_error([(m, lambda m=m: m.recurrent_backward(cell, dhs, None, None, partial, x["h0"], x["c0"],
                                                             x["Wh"], x["bh"])) for m in (K, R)], ValueError)
    if cell != "lstm":
        _expect_same_error([(m, lambda m=m: m.recurrent_backward(cell, dhs, None, x["h0"], cache, x["h0"], None,
                                                                 x["Wh"], x["bh"])) for m in (K, R)], ValueError)


def _softmax_case():
    rng = np.random.default_rng(13)
    n, h, v, c = 6, 5, 20, 4
    return dict(h=arr(rng, n, h), Wc=arr(rng, h, c), bc=arr(rng, c), Ww=arr(rng, h, v), bw=arr(rng, v),
                class_bounds=np.array([0, 3, 9, 10, 20], np.int32), targets=rng.integers(0, v, n).astype(np.int32))


@pytest.mark.parametrize("name", ["h", "Ww", "bw", "targets"])
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_softmax_bad_inputs(name, mutation):
    p = _softmax_case()
    fn, exc = MUTATIONS[mutation]
    p[name] = fn(p[name])
    _expect_same_error([(m, lambda m=m: m.softmax_xent(p["h"], p["Ww"], p["bw"], p["targets"])) for m in (K, R)], exc)


@pytest.mark.parametrize("name", ["h", "Wc", "bc", "Ww", "bw", "class_bounds", "targets"])
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_class_softmax_bad_inputs(name, mutation):
    p = _softmax_case()
    fn, exc = MUTATIONS[mutation]
    p[name] = fn(p[name])
    _expect_same_error([(m, lambda m=m: m.class_softmax_xent(**p)) for m in (K, R)], exc)


@pytest.mark.parametrize("bad", ["negative-target", "large-target", "bounds-not-increasing", "bounds-wrong-end"])
def test_softmax_value_errors(bad):
    p = _softmax_case()
    if bad == "negative-target":
        p["targets"][2] = -1
    elif bad == "large-target":
        p["targets"][0] = 20
    elif bad == "bounds-not-increasing":
        p["class_bounds"][2] = 3
    else:
        p["class_bounds"][-1] = 19
    _expect_same_error([(m, lambda m=m: m.class_softmax_xent(**p)) for m in (K, R)], ValueError)
    if bad.endswith("target"):
        _expect_same_error([(m, lambda m=m: m.softmax_xent(p["h"], p["Ww"], p["bw"], p["targets"]))
                            for m in (K, R)], ValueError)


# ----------------------------------------------------------------------------- other SIMD copies
GENERIC_SCRIPT = r"""
import numpy as np
from ngramkit import _rnn
from ngramkit.rnn import kernels as K, reference as R
import os, sys
assert _rnn.simd() == sys.argv[1], (_rnn.simd(), sys.argv[1])
rng = np.random.default_rng(0)
f = lambda *s: rng.standard_normal(s).astype(np.float32)
gap = lambda a, b: 0.0 if a is None else float(np.abs(a - b).max() / (1 + np.abs(b).max()))
for cell, g, peep in [(c, g, None) for c, g in K.GATES.items()] + [("lstm", 4, f(3, 19) * 0.5)]:
    t, b, h = 6, 7, 19
    x = dict(xw=f(t, b, g * h), h0=f(b, h), c0=f(b, h) if cell == "lstm" else None, Wh=f(h, g * h) * 0.2, bh=f(g * h),
             peep=peep)
    got, want = K.recurrent_forward(cell, **x), R.recurrent_forward(cell, **x)
    assert gap(got[0], want[0]) < 2e-5 and gap(got[1], want[1]) < 2e-5
    dhs = f(t, b, h)
    for a, w in zip(K.recurrent_backward(cell, dhs, None, None, got[2], x["h0"], x["c0"], x["Wh"], x["bh"], peep),
                    R.recurrent_backward(cell, dhs, None, None, want[2], x["h0"], x["c0"], x["Wh"], x["bh"], peep)):
        assert gap(a, w) < 1e-4, cell
hh, W, bb = f(33, 21), f(21, 130), f(130)
tg = rng.integers(0, 130, 33).astype(np.int32)
for a, w in zip(K.softmax_xent(hh, W, bb, tg), R.softmax_xent(hh, W, bb, tg)):
    assert gap(a, w) < 2e-5
cb = np.array([0, 1, 5, 40, 130], np.int32)
args = (hh, f(21, 4), f(4), W, bb, cb, tg)
for a, w in zip(K.class_softmax_xent(*args), R.class_softmax_xent(*args)):
    assert gap(a, w) < 2e-5
print("ok")
"""


@pytest.mark.parametrize("simd", ["generic", "avx2+fma"])
def test_other_code_paths_match_reference(simd, tmp_path):
    """The baseline and AVX2 copies of the kernels (the default run uses the widest the CPU has),
    forced by NGRAMKIT_SIMD in a fresh process."""
    import os
    import subprocess

    from ngramkit import _rnn

    order = ["generic", "avx2+fma", "avx512f"]
    if order.index(simd) > order.index(_rnn.simd()):
        pytest.skip(f"this CPU has no {simd}")
    env = dict(os.environ, NGRAMKIT_SIMD=simd.split("+")[0])
    env.pop("NGRAMKIT_IMPL", None)
    # cwd away from the source tree: the subprocess must import the installed (compiled) package.
    out = subprocess.run([sys.executable, "-c", GENERIC_SCRIPT, simd], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_class_softmax_threads_give_identical_results(monkeypatch):
    """The two factors run on two threads unless NGRAMKIT_THREADS=1; same arithmetic either way."""
    rng = np.random.default_rng(14)
    n, h, v, c = 300, 40, 500, 12  # N*H above the threading threshold
    cb = class_layout(rng, v, c)
    args = (arr(rng, n, h), arr(rng, h, c), arr(rng, c), arr(rng, h, v), arr(rng, v), cb,
            rng.integers(0, v, n).astype(np.int32))
    monkeypatch.setenv("NGRAMKIT_THREADS", "2")
    two = K.class_softmax_xent(*args, scale=0.3)
    monkeypatch.setenv("NGRAMKIT_THREADS", "1")
    one = K.class_softmax_xent(*args, scale=0.3)
    for a, b in zip(two, one):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(one, R.class_softmax_xent(*args, scale=0.3)):
        close(a, b, 2e-5)


def test_class_softmax_many_tokens_in_one_small_class(monkeypatch):
    """More tokens in a class than hidden units or class words (workspace sizes; was a heap overflow)."""
    rng = np.random.default_rng(15)
    n, h, v = 2000, 4, 20
    cb = np.array([0, 3, 20], np.int32)
    t = rng.integers(0, 3, n).astype(np.int32)  # every token in class 0
    args = (arr(rng, n, h), arr(rng, h, 2), arr(rng, 2), arr(rng, h, v), arr(rng, v), cb, t)
    for threads in ("1", "2"):
        monkeypatch.setenv("NGRAMKIT_THREADS", threads)
        got = K.class_softmax_xent(*args)
        for a, b in zip(got, R.class_softmax_xent(*args)):
            close(a, b, 2e-5)


# ----------------------------------------------------------------------------- peephole lstm
def peephole_inputs(rng, t, b, h, dtype=np.float32):
    x = recurrent_inputs(rng, "lstm", t, b, h, dtype=dtype)
    x["peep"] = arr(rng, 3, h, scale=0.5, dtype=dtype)
    return x


def peephole_backward(impl, dhs, dht, dct, cache, x):
    """(dxw, dh0, dc0, dWh, dbh, dpeep) of one implementation."""
    grads = impl.recurrent_backward("lstm", dhs, dht, dct, cache, x["h0"], x["c0"], x["Wh"], x["bh"], x["peep"])
    return (*grads, impl.peephole_grad(grads[0], cache, x["c0"]))


@pytest.mark.parametrize("seed", range(4))
def test_peephole_c_matches_reference(seed):
    rng = np.random.default_rng(500 + seed)
    t, b, h = int(rng.integers(1, 13)), int(rng.integers(1, 10)), int(rng.integers(1, 41))
    x = peephole_inputs(rng, t, b, h)
    hs, ct, cache = K.recurrent_forward("lstm", **x)
    hs_r, ct_r, cache_r = R.recurrent_forward("lstm", **x)
    close(hs, hs_r, 2e-5)
    close(ct, ct_r, 2e-5)
    for key in cache_r:
        close(cache[key], cache_r[key], 2e-5)
    dhs, dht, dct = arr(rng, t, b, h), arr(rng, b, h), arr(rng, b, h)
    for g, w in zip(peephole_backward(K, dhs, dht, dct, cache, x), peephole_backward(R, dhs, dht, dct, cache_r, x)):
        close(g, w, 1e-4)
        assert g.dtype == np.float32


def test_zero_peepholes_are_the_plain_lstm():
    rng = np.random.default_rng(14)
    x = peephole_inputs(rng, 4, 3, 6)
    x["peep"][...] = 0
    plain = {k: v for k, v in x.items() if k != "peep"}
    for impl in (K, R):
        hs, ct, cache = impl.recurrent_forward("lstm", **x)
        hs0, ct0, cache0 = impl.recurrent_forward("lstm", **plain)
        np.testing.assert_array_equal(hs, hs0)
        np.testing.assert_array_equal(ct, ct0)
        dhs = arr(rng, 4, 3, 6)
        got = impl.recurrent_backward("lstm", dhs, None, None, cache, x["h0"], x["c0"], x["Wh"], x["bh"], x["peep"])
        want = impl.recurrent_backward("lstm", dhs, None, None, cache0, x["h0"], x["c0"], x["Wh"], x["bh"])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    # and non-zero peepholes do change the output
    x["peep"][...] = 0.5
    assert not np.array_equal(K.recurrent_forward("lstm", **x)[0], K.recurrent_forward("lstm", **plain)[0])


def test_reference_peephole_gradients_match_finite_differences(float64_reference):
    rng = np.random.default_rng(15)
    t, b, h = 3, 2, 3
    x = peephole_inputs(rng, t, b, h, dtype=np.float64)
    wh, wt, wc = rng.standard_normal((t, b, h)), rng.standard_normal((b, h)), rng.standard_normal((b, h))

    def loss():
        hs, ct, _ = R.recurrent_forward("lstm", **x)
        return (wh * hs).sum() + (wt * hs[-1]).sum() + (wc * ct).sum()

    _, _, cache = R.recurrent_forward("lstm", **x)
    grads = peephole_backward(R, wh, wt, wc, cache, x)
    for name, grad in zip(["xw", "h0", "c0", "Wh", "bh", "peep"], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, x[name]), rtol=1e-6, atol=1e-8, err_msg=name)


def test_c_peephole_gradients_match_finite_differences():
    rng = np.random.default_rng(16)
    t, b, h = 5, 3, 8
    x = peephole_inputs(rng, t, b, h)
    wh, wt, wc = arr(rng, t, b, h), arr(rng, b, h), arr(rng, b, h)

    def loss():
        hs, ct, _ = K.recurrent_forward("lstm", **x)
        return ((wh.astype(np.float64) * hs).sum() + (wt * hs[-1].astype(np.float64)).sum()
                + (wc * ct.astype(np.float64)).sum())

    _, _, cache = K.recurrent_forward("lstm", **x)
    names = ["xw", "h0", "c0", "Wh", "bh", "peep"]
    grads = peephole_backward(K, wh, wt, wc, cache, x)
    directional_check(loss, [x[n] for n in names], list(grads), rng, eps=1e-2, rtol=2e-3)


@pytest.mark.parametrize("mutation", sorted(set(MUTATIONS) - {"int64"}))
def test_peephole_bad_inputs(mutation):
    rng = np.random.default_rng(17)
    x = peephole_inputs(rng, 3, 2, 4)
    _, _, cache = K.recurrent_forward("lstm", **x)
    fn, exc = MUTATIONS[mutation]
    bad = dict(x, peep=fn(x["peep"]))
    _expect_same_error([(m, lambda m=m: m.recurrent_forward("lstm", **bad)) for m in (K, R)], exc)
    dhs = arr(rng, 3, 2, 4)
    _expect_same_error([(m, lambda m=m: m.recurrent_backward("lstm", dhs, None, None, cache, x["h0"], x["c0"],
                                                             x["Wh"], x["bh"], bad["peep"])) for m in (K, R)], exc)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_peepholes_only_for_the_lstm(cell):
    rng = np.random.default_rng(18)
    x = dict(recurrent_inputs(rng, cell, 3, 2, 4), peep=arr(rng, 3, 4))
    with pytest.raises(ValueError, match="only the lstm cell has peephole weights"):
        R.recurrent_forward(cell, **x)
    _expect_same_error([(m, lambda m=m: m.recurrent_forward(cell, **x)) for m in (K, R)], ValueError)


# ----------------------------------------------------------------------------- denormals
def _denormals(a):
    a = np.asarray(a, np.float32)
    return int(((a != 0) & (np.abs(a) < np.finfo(np.float32).tiny)).sum())


def test_kernels_flush_denormals_and_restore_the_callers_mode():
    """A cell state of 5e-39 (f = 0, i = 0.5, g = 1e-38) is a denormal: the numpy reference keeps it, the
    C kernels flush it to zero (denormals slow x86 arithmetic ~100x); afterwards numpy still sees denormals."""
    t, b, h = 3, 2, 4
    xw = np.zeros((t, b, 4 * h), np.float32)
    xw[..., h:2 * h] = -100.0  # f = 0
    xw[..., 2 * h:3 * h] = 1e-38  # g = 1e-38, i = o = 0.5
    args = dict(xw=xw, h0=np.zeros((b, h), np.float32), c0=np.zeros((b, h), np.float32),
                Wh=np.zeros((h, 4 * h), np.float32), bh=np.zeros(4 * h, np.float32))
    _, _, cache_r = R.recurrent_forward("lstm", **args)
    assert _denormals(cache_r["cs"]) == t * b * h  # the inputs really do make denormals
    hs, ct, cache = K.recurrent_forward("lstm", **args)
    assert not np.any(cache["cs"]) and not np.any(ct) and _denormals(hs) == 0
    close(hs, R.recurrent_forward("lstm", **args)[0], 1e-6)
    dxw = K.recurrent_backward("lstm", np.full((t, b, h), 1e-38, np.float32), None, None, cache, args["h0"],
                               args["c0"], args["Wh"], args["bh"])[0]
    assert _denormals(dxw) == 0
    assert np.float32(1e-30) * np.float32(1e-9) != 0  # the caller's (numpy's) mode is back
