"""RNN kernels: the C extension ``ngramkit._rnn``, or its numpy reference.

Input/output contract: exactly that of :mod:`ngramkit.rnn.reference` (read
its module docstring for shapes, gate order, cache layout and errors); the
functions here have the same names, signatures, results (to float32
rounding, tolerances below) and exceptions.

Which implementation runs: :func:`ngramkit.native.extension` decides, by the
one ``NGRAMKIT_IMPL`` rule of every kernel (read at every call, so tests can
switch it): the C extension; ``NGRAMKIT_IMPL=numpy`` forces the reference; a
missing extension is a loud ``RuntimeWarning`` (once) and the reference runs,
or an error under ``NGRAMKIT_IMPL=c``.

The C code is compiled three times (baseline x86-64, AVX2+FMA, AVX-512F) and
picks the widest copy the CPU supports at run time (``ngramkit._rnn.simd()``
says which); ``NGRAMKIT_SIMD=generic|avx2`` caps it (the tests run every copy).

Where the work happens on the C path: the sequential recurrence (T steps of
``(B, H) @ (H, G*H)`` plus the gates) and its backward pass, the row-wise
log-softmax with its gradient, and the whole class-based softmax run in C
with the GIL released (including ``dWh = h_prev.T @ dpre`` over the whole
segment: a single-threaded product is as fast as numpy's at that size and
does not suffer when other processes load the cores); the full softmax's
three large products ``h @ W``, ``h.T @ d`` and ``d @ W.T`` stay in numpy's
BLAS, which is faster for them on a quiet machine (see
``benchmarks/bench_kernels.py``). The C code is single-threaded except the
class softmax, whose two factors (class and word) run on two threads
(``NGRAMKIT_THREADS=1`` keeps it on one; the results are bitwise identical).

Accuracy: storage and products are float32 (the C dot products accumulate in
float32 with 8-lane partial sums; normalisers are summed in float32 and their
log taken in float64). The C and numpy paths agree to about 1e-5 relative on
forward values and losses and about 1e-4 relative (on the gradient's scale)
on gradients for segments of a few dozen steps; ``logp`` is returned in
float64.
"""

from __future__ import annotations

import numpy as np

from .. import native
from . import reference as _ref
from .reference import GATES, peephole_grad

__all__ = ["GATES", "implementation", "recurrent_forward", "recurrent_backward", "peephole_grad", "softmax_xent",
           "class_softmax_xent", "softmax_logprobs_all", "class_softmax_logprobs_all"]

def implementation() -> str:
    """``"c"`` or ``"numpy"``: which implementation the next call will use (:mod:`ngramkit.native`)."""
    return native.implementation("_rnn")


def _f32(buf, shape):
    return np.frombuffer(buf, np.float32).reshape(shape)


def _cache_arrays(cell, cache):
    _ref._cell(cell)
    _ref.check_cache(cell, cache)  # the C binding checks the arrays themselves
    extra = cache["hn"] if cell == "gru" else cache["cs"] if cell == "lstm" else None
    return cache["hs"], cache["gates"], extra


def recurrent_forward(cell, xw, h0, c0, Wh, bh, peep=None):
    """Run one recurrent layer over a (T, B) segment.

    Input: cell ``"rnn" | "gru" | "lstm"``; xw (T, B, G*H) = x @ Wx + bx;
    h0 (B, H); c0 (B, H) for lstm, else None; Wh (H, G*H); bh (G*H,); peep
    (3, H) peephole weights (lstm only) or None.
    Output: ``(hs, cT, cache)``: hs (T, B, H) the hidden states, cT (B, H) the
    last cell state (lstm) or None, cache a dict for :func:`recurrent_backward`
    (the final hidden state is ``hs[-1]``).
    """
    c = native.extension("_rnn")
    if c is None:
        return _ref.recurrent_forward(cell, xw, h0, c0, Wh, bh, peep)
    hs, ct, gates, extra = c.recurrent_forward(cell, xw, h0, c0, Wh, bh, peep)
    t, b, gh = xw.shape
    h = h0.shape[1]
    cache = {"hs": _f32(hs, (t, b, h)), "gates": _f32(gates, (t, b, gh))}
    if cell == "lstm":
        cache["cs"] = _f32(extra, (t, b, h))
    elif cell == "gru":
        cache["hn"] = _f32(extra, (t, b, h))
    return cache["hs"], (_f32(ct, (b, h)) if ct is not None else None), cache


def recurrent_backward(cell, dhs, dhT, dcT, cache, h0, c0, Wh, bh, peep=None):
    """Backpropagate through the segment run by :func:`recurrent_forward`.

    Input: dhs (T, B, H) = dL/dhs; dhT (B, H) and dcT (B, H, lstm only) the
    gradient flowing into the final state from the next segment, or None for
    zero; cache, h0, c0, Wh, bh, peep as given to / returned by the forward
    pass. Output: ``(dxw (T, B, G*H), dh0 (B, H), dc0 (B, H) or None, dWh
    (H, G*H), dbh (G*H,))``; the peephole gradient is
    ``peephole_grad(dxw, cache, c0)``.
    """
    c = native.extension("_rnn")
    if c is None:
        return _ref.recurrent_backward(cell, dhs, dhT, dcT, cache, h0, c0, Wh, bh, peep)
    hs, gates, extra = _cache_arrays(cell, cache)
    dxw, dh0, dc0, dwh, dbh = c.recurrent_backward(cell, dhs, dhT, dcT, hs, gates, extra, h0, c0, Wh, bh, peep)
    t, b, h = dhs.shape
    gh = Wh.shape[1]
    return (_f32(dxw, (t, b, gh)), _f32(dh0, (b, h)), (_f32(dc0, (b, h)) if dc0 is not None else None),
            _f32(dwh, (h, gh)), _f32(dbh, (gh,)))


def softmax_xent(h, W, b, targets, *, scale=1.0, need_grad=True):
    """Full softmax cross-entropy: ``P(w|h) = softmax(h @ W + b)``.

    Input: h (N, H), W (H, V), b (V,), targets (N,) int32 word ids.
    Output: ``(logp, dh, dW, db)``: logp (N,) float64 natural-log probability
    of each target; gradients of ``-scale * sum(logp)`` (None if
    ``need_grad=False``).
    """
    c = native.extension("_rnn")
    if c is None:
        return _ref.softmax_xent(h, W, b, targets, scale=scale, need_grad=need_grad)
    c.softmax_check(h, W, b, targets)
    z = h @ W  # (N, V) numpy BLAS; the C pass adds b, normalises and writes the gradient in place
    logp, db = c.log_softmax_xent(z, b, targets, float(scale), bool(need_grad))
    logp = np.frombuffer(logp, np.float64)
    if not need_grad:
        return logp, None, None, None
    return logp, z @ W.T, h.T @ z, np.frombuffer(db, np.float32)


def class_softmax_xent(h, Wc, bc, Ww, bw, class_bounds, targets, *, scale=1.0, need_grad=True):
    """Mikolov's class softmax cross-entropy, ``P(w|h) = P(c(w)|h) P(w|c(w), h)``.

    Input: h (N, H), Wc (H, C), bc (C,), Ww (H, V), bw (V,), class_bounds
    (C+1,) int32 (class c owns word ids class_bounds[c]:class_bounds[c+1]),
    targets (N,) int32. Output: ``(logp, dh, dWc, dbc, dWw, dbw)``; logp (N,)
    float64; gradients of ``-scale * sum(logp)`` (None if
    ``need_grad=False``); dWw, dbw are dense but zero outside the classes of
    the targets.
    """
    k = native.extension("_rnn")
    if k is None:
        return _ref.class_softmax_xent(h, Wc, bc, Ww, bw, class_bounds, targets, scale=scale, need_grad=need_grad)
    out = k.class_softmax_xent(h, Wc, bc, Ww, bw, class_bounds, targets, float(scale), bool(need_grad))
    logp = np.frombuffer(out[0], np.float64)
    if not need_grad:
        return logp, None, None, None, None, None
    n, hid = h.shape
    c, v = Wc.shape[1], Ww.shape[1]
    return (logp, _f32(out[1], (n, hid)), _f32(out[2], (hid, c)), _f32(out[3], (c,)),
            _f32(out[4], (hid, v)), _f32(out[5], (v,)))


def softmax_logprobs_all(h, W, b):
    """Inference helper: (N, V) float32 log-probabilities of every word (full softmax)."""
    return _ref.softmax_logprobs_all(h, W, b)


def class_softmax_logprobs_all(h, Wc, bc, Ww, bw, class_bounds):
    """Inference helper: (N, V) float32 log-probabilities of every word (class softmax).

    Each row's exp sums to 1. Only the tests use it (tests/kernels/test_rnn_kernels.py checks the class
    softmax against it); RNNLM.next_log_probs and generation compute the distribution themselves.
    """
    return _ref.class_softmax_logprobs_all(h, Wc, bc, Ww, bw, class_bounds)
