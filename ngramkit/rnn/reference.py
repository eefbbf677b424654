"""numpy reference of the RNN kernels: exactly the maths of the C extension.

Input/output contract (shared with :mod:`ngramkit.rnn.kernels`, which runs
the same functions in C; every array float32 and C-contiguous unless stated):

Shapes: T time steps, B parallel streams, H hidden units, G gates per cell
(``GATES``: rnn 1, gru 3, lstm 4), N rows scored by a softmax, V words,
C classes. Logs are natural logs.

Recurrent cells (``xw`` is the input part ``x_t @ Wx + bx`` computed outside,
one large matrix product per segment; ``a_t = xw_t + h_{t-1} @ Wh + bh``
is split into G blocks of H columns, in the order given here):

- ``rnn`` (Elman): ``h_t = tanh(a_t)``.
- ``lstm`` gates ``i, f, g, o``: ``i, f, o = sigmoid(a_i, a_f, a_o)``,
  ``g = tanh(a_g)``, ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.
  With peephole weights ``peep`` (3, H) = ``(p_i, p_f, p_o)`` (Gers,
  Schraudolph & Schmidhuber 2002; Graves 2013, eqs. 7-11) the gates also see
  the cell state: ``a_i += p_i * c_{t-1}``, ``a_f += p_f * c_{t-1}``,
  ``a_o += p_o * c_t``; ``peep=None`` (the default) is the plain LSTM.
- ``gru`` gates ``r, z, n`` (the PyTorch / cuDNN form, the reset gate acts on
  the recurrent product): ``r = sigmoid(xw_r + h Wh_r + bh_r)``,
  ``z = sigmoid(xw_z + h Wh_z + bh_z)``, ``n = tanh(xw_n + r * (h Wh_n +
  bh_n))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

``recurrent_forward`` returns ``hs`` (T, B, H), the final cell state ``cT``
(B, H) for lstm (``None`` otherwise) and a ``cache`` dict of float32 arrays
that ``recurrent_backward`` needs: ``hs``, ``gates`` (T, B, G*H) gate
activations (for rnn the gate is h itself), ``cs`` (T, B, H) cell states
(lstm), ``hn`` (T, B, H) the recurrent candidate term ``h Wh_n + bh_n``
(gru). ``recurrent_backward`` takes ``dL/dhs`` and the gradient flowing into
the final state (``dhT``, ``dcT``; ``None`` means zero) and returns
``(dxw, dh0, dc0, dWh, dbh)``; ``dxw`` is the gradient with respect to
``xw`` (so ``dx = dxw @ Wx.T``, ``dWx = x.T @ dxw`` are done outside, and
so is the peephole gradient, :func:`peephole_grad`, a sum over dxw).

Softmaxes return ``logp`` (N,) float64, the log-probability of each target,
and gradients of ``loss = -scale * sum(logp)``:

- ``softmax_xent``: ``P(w|h) = softmax(h @ W + b)``.
- ``class_softmax_xent``: Mikolov's class softmax, ``P(w|h) = P(c(w)|h)
  P(w|c(w), h)`` with ``P(c|h) = softmax(h @ Wc + bc)`` over the C classes and
  ``P(w|c, h) = softmax(h @ Ww[:, lo:hi] + bw[lo:hi])`` over the words of
  class c, which own the contiguous word ids ``lo = class_bounds[c]`` to
  ``hi = class_bounds[c + 1]`` (``class_bounds`` (C+1,) int32, increasing,
  ``class_bounds[0] = 0``, ``class_bounds[C] = V``). Exact and normalised.

Errors (identical types from both implementations): a non-array argument or
a wrong dtype raises ``TypeError``; a wrong shape, a non-C-contiguous array,
an unknown cell or a target out of range raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "gru": 3, "lstm": 4}

# The dtype every float array must have. The tests set it to float64 to check
# these formulas against finite differences; the kernels' contract is float32.
FLOAT = np.float32


# ----------------------------------------------------------------------------- checks
def _arr(name, a, dtype, ndim):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy {np.dtype(dtype).name} array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype).name}, got {a.dtype}; convert with .astype(np.{np.dtype(dtype).name})")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: array must be C-contiguous; pass np.ascontiguousarray({name})")
    return a


def _shape(name, a, shape):
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")


def _cell(cell):
    if cell not in GATES:
        raise ValueError(f"cell must be one of {', '.join(GATES)}, got {cell!r}")
    return GATES[cell]


def check_recurrent(cell, xw, h0, c0, Wh, bh, peep=None):
    """Validate recurrent_forward arguments; return (G, T, B, H)."""
    g = _cell(cell)
    _arr("xw", xw, FLOAT, 3)
    _arr("h0", h0, FLOAT, 2)
    t, b, gh = xw.shape
    h = h0.shape[1]
    if gh != g * h:
        raise ValueError(f"xw: expected last dimension G*H = {g}*{h} = {g * h} for cell {cell!r}, got {gh}")
    _shape("h0", h0, (b, h))
    if cell == "lstm":
        if c0 is None:
            raise ValueError("c0: the lstm cell needs an initial cell state (B, H), got None")
        _shape("c0", _arr("c0", c0, FLOAT, 2), (b, h))
    elif c0 is not None:
        raise ValueError(f"c0: only the lstm cell has a cell state; pass None for cell {cell!r}")
    _shape("Wh", _arr("Wh", Wh, FLOAT, 2), (h, g * h))
    _shape("bh", _arr("bh", bh, FLOAT, 1), (g * h,))
    if peep is not None:
        if cell != "lstm":
            raise ValueError(f"peep: only the lstm cell has peephole weights; pass None for cell {cell!r}")
        _shape("peep", _arr("peep", peep, FLOAT, 2), (3, h))
    return g, t, b, h


def check_cache(cell, cache):
    """Check that ``cache`` is a forward-pass cache dict with the keys ``cell`` needs (not their arrays)."""
    if not isinstance(cache, dict):
        raise TypeError(f"cache: expected the dict returned by recurrent_forward, got {type(cache).__name__}")
    need = {"rnn": ("hs", "gates"), "gru": ("hs", "gates", "hn"), "lstm": ("hs", "gates", "cs")}[cell]
    for key in need:
        if key not in cache:
            raise ValueError(f"cache: missing {key!r}; pass the cache returned by recurrent_forward for cell {cell!r}")


def check_recurrent_backward(cell, dhs, dhT, dcT, cache, h0, c0, Wh, bh, peep=None):
    """Validate recurrent_backward arguments; return (G, T, B, H)."""
    g = _cell(cell)
    _arr("dhs", dhs, FLOAT, 3)
    t, b, h = dhs.shape
    check_cache(cell, cache)
    check_recurrent(cell, _arr("cache['gates']", cache["gates"], FLOAT, 3), h0, c0, Wh, bh, peep)
    _shape("cache['gates']", cache["gates"], (t, b, g * h))
    _shape("cache['hs']", _arr("cache['hs']", cache["hs"], FLOAT, 3), (t, b, h))
    if cell == "lstm":
        _shape("cache['cs']", _arr("cache['cs']", cache["cs"], FLOAT, 3), (t, b, h))
    if cell == "gru":
        _shape("cache['hn']", _arr("cache['hn']", cache["hn"], FLOAT, 3), (t, b, h))
    if dhT is not None:
        _shape("dhT", _arr("dhT", dhT, FLOAT, 2), (b, h))
    if dcT is not None:
        if cell != "lstm":
            raise ValueError(f"dcT: only the lstm cell has a cell state; pass None for cell {cell!r}")
        _shape("dcT", _arr("dcT", dcT, FLOAT, 2), (b, h))
    return g, t, b, h


def _targets(targets, n, v):
    _arr("targets", targets, np.int32, 1)
    _shape("targets", targets, (n,))
    if n and (targets.min() < 0 or targets.max() >= v):
        bad = int(targets[(targets < 0) | (targets >= v)][0])
        raise ValueError(f"targets: word id {bad} out of range [0, {v})")


def check_softmax(h, W, b, targets):
    """Validate softmax_xent arguments; return (N, H, V)."""
    _arr("h", h, FLOAT, 2)
    n, hid = h.shape
    _arr("W", W, FLOAT, 2)
    if W.shape[0] != hid:
        raise ValueError(f"W: expected {hid} rows (the hidden size of h), got shape {W.shape}")
    v = W.shape[1]
    _shape("b", _arr("b", b, FLOAT, 1), (v,))
    _targets(targets, n, v)
    return n, hid, v


def check_class_softmax(h, Wc, bc, Ww, bw, class_bounds, targets):
    """Validate class_softmax_xent arguments; return (N, H, C, V)."""
    _arr("h", h, FLOAT, 2)
    n, hid = h.shape
    _arr("Wc", Wc, FLOAT, 2)
    if Wc.shape[0] != hid:
        raise ValueError(f"Wc: expected {hid} rows (the hidden size of h), got shape {Wc.shape}")
    c = Wc.shape[1]
    _shape("bc", _arr("bc", bc, FLOAT, 1), (c,))
    _arr("Ww", Ww, FLOAT, 2)
    if Ww.shape[0] != hid:
        raise ValueError(f"Ww: expected {hid} rows (the hidden size of h), got shape {Ww.shape}")
    v = Ww.shape[1]
    _shape("bw", _arr("bw", bw, FLOAT, 1), (v,))
    _shape("class_bounds", _arr("class_bounds", class_bounds, np.int32, 1), (c + 1,))
    if c < 1 or class_bounds[0] != 0 or class_bounds[c] != v or np.any(class_bounds[1:] <= class_bounds[:-1]):
        raise ValueError(f"class_bounds: must increase strictly from 0 to V={v} (every class non-empty), "
                         f"got {class_bounds[:5].tolist()}...{class_bounds[-2:].tolist()}")
    _targets(targets, n, v)
    return n, hid, c, v


# ----------------------------------------------------------------------------- cells
def _sigmoid(x):
    # 1/(1+exp(-x)) written with tanh: no overflow for large |x|, same formula as the C kernel
    return FLOAT(0.5) + FLOAT(0.5) * np.tanh(FLOAT(0.5) * x)


def recurrent_forward(cell, xw, h0, c0, Wh, bh, peep=None):
    """Run one cell over a (T, B) segment; return (hs, cT, cache) (module docstring)."""
    g, t, b, h = check_recurrent(cell, xw, h0, c0, Wh, bh, peep)
    hs = np.empty((t, b, h), FLOAT)
    gates = np.empty((t, b, g * h), FLOAT)
    cache = {"hs": hs, "gates": gates}
    if cell == "lstm":
        cs = cache["cs"] = np.empty((t, b, h), FLOAT)
    if cell == "gru":
        hn = cache["hn"] = np.empty((t, b, h), FLOAT)
    hp, cp = h0, c0
    for s in range(t):
        rec = hp @ Wh + bh  # (B, G*H)
        if cell == "rnn":
            hp = gates[s] = np.tanh(xw[s] + rec)
        elif cell == "lstm":
            a = xw[s] + rec
            if peep is not None:
                a[:, :h] += peep[0] * cp
                a[:, h:2 * h] += peep[1] * cp
            gates[s, :, :h] = _sigmoid(a[:, :h])
            gates[s, :, h:2 * h] = _sigmoid(a[:, h:2 * h])
            gates[s, :, 2 * h:3 * h] = np.tanh(a[:, 2 * h:3 * h])
            i, f, gg = (gates[s, :, k * h:(k + 1) * h] for k in range(3))
            cp = cs[s] = f * cp + i * gg
            if peep is not None:
                a[:, 3 * h:] += peep[2] * cp
            o = gates[s, :, 3 * h:] = _sigmoid(a[:, 3 * h:])
            hp = o * np.tanh(cp)
        else:  # gru
            r = gates[s, :, :h] = _sigmoid(xw[s, :, :h] + rec[:, :h])
            z = gates[s, :, h:2 * h] = _sigmoid(xw[s, :, h:2 * h] + rec[:, h:2 * h])
            hn[s] = rec[:, 2 * h:]
            nn = gates[s, :, 2 * h:] = np.tanh(xw[s, :, 2 * h:] + r * hn[s])
            hp = (1 - z) * nn + z * hp
        hs[s] = hp
    c_t = (cs[t - 1].copy() if t else c0.copy()) if cell == "lstm" else None
    return hs, c_t, cache


def recurrent_backward(cell, dhs, dhT, dcT, cache, h0, c0, Wh, bh, peep=None):
    """Backpropagate through a segment; return (dxw, dh0, dc0, dWh, dbh) (module docstring)."""
    g, t, b, h = check_recurrent_backward(cell, dhs, dhT, dcT, cache, h0, c0, Wh, bh, peep)
    hs, gates = cache["hs"], cache["gates"]
    dxw = np.empty((t, b, g * h), FLOAT)
    dpre = dxw if cell != "gru" else np.empty_like(dxw)  # gradient of the recurrent pre-activation h Wh + bh
    dh = np.zeros((b, h), FLOAT) if dhT is None else dhT.copy()
    dc = None
    if cell == "lstm":
        dc = np.zeros((b, h), FLOAT) if dcT is None else dcT.copy()
    for s in range(t - 1, -1, -1):
        dh = dh + dhs[s]
        hp = hs[s - 1] if s else h0
        if cell == "rnn":
            dxw[s] = dh * (1 - gates[s] * gates[s])
        elif cell == "lstm":
            i, f, gg, o = (gates[s, :, k * h:(k + 1) * h] for k in range(4))
            cp = cache["cs"][s - 1] if s else c0
            tc = np.tanh(cache["cs"][s])
            dao = dxw[s, :, 3 * h:] = dh * tc * o * (1 - o)
            dc = dc + dh * o * (1 - tc * tc)
            if peep is not None:
                dc = dc + dao * peep[2]  # c_t feeds a_o
            dai = dxw[s, :, :h] = dc * gg * i * (1 - i)
            daf = dxw[s, :, h:2 * h] = dc * cp * f * (1 - f)
            dxw[s, :, 2 * h:3 * h] = dc * i * (1 - gg * gg)
            dc = dc * f
            if peep is not None:
                dc = dc + dai * peep[0] + daf * peep[1]  # c_{t-1} feeds a_i and a_f
        else:  # gru
            r, z, nn = (gates[s, :, k * h:(k + 1) * h] for k in range(3))
            dan = dh * (1 - z) * (1 - nn * nn)
            dxw[s, :, :h] = dpre[s, :, :h] = dan * cache["hn"][s] * r * (1 - r)
            dxw[s, :, h:2 * h] = dpre[s, :, h:2 * h] = dh * (hp - nn) * z * (1 - z)
            dxw[s, :, 2 * h:] = dan
            dpre[s, :, 2 * h:] = dan * r
        dh_direct = dh * gates[s, :, h:2 * h] if cell == "gru" else 0
        dh = dpre[s] @ Wh.T + dh_direct
    hprev = np.concatenate([h0[None], hs])[:t].reshape(t * b, h)
    dWh = (hprev.T @ dpre.reshape(t * b, g * h)).astype(FLOAT)
    dbh = dpre.reshape(t * b, g * h).sum(0).astype(FLOAT)
    return dxw, dh.astype(FLOAT), (dc.astype(FLOAT) if cell == "lstm" else None), dWh, dbh


def peephole_grad(dxw, cache, c0):
    """Gradient of the peephole weights (3, H) from an lstm segment's ``dxw`` (T, B, 4H).

    ``dp_i = sum_{t,b} da_i * c_{t-1}``, ``dp_f = sum da_f * c_{t-1}``,
    ``dp_o = sum da_o * c_t`` (the pre-activation gradients are ``dxw``'s
    blocks). Both implementations use this function.
    """
    cs = cache["cs"]  # (T, B, H)
    h = cs.shape[2]
    cprev = np.concatenate([c0[None], cs[:-1]]) if cs.shape[0] else cs
    return np.stack([np.einsum("tbh,tbh->h", dxw[..., :h], cprev), np.einsum("tbh,tbh->h", dxw[..., h:2 * h], cprev),
                     np.einsum("tbh,tbh->h", dxw[..., 3 * h:], cs)]).astype(FLOAT)


# ----------------------------------------------------------------------------- softmaxes
def _log_softmax_rows(z):
    """Numerically stable log-softmax of each row of z (float32 in, float32 out)."""
    m = z.max(axis=1, keepdims=True)
    e = z - m
    return e - np.log(np.exp(e).sum(axis=1, keepdims=True, dtype=FLOAT)).astype(FLOAT)


def softmax_xent(h, W, b, targets, *, scale=1.0, need_grad=True):
    """Full softmax; return (logp (N,) float64, dh (N,H), dW (H,V), db (V,)) (module docstring).

    With ``need_grad=False`` the three gradients are ``None``.
    """
    n, _, _ = check_softmax(h, W, b, targets)
    lp = _log_softmax_rows(h @ W + b)  # (N, V)
    rows = np.arange(n)
    logp = lp[rows, targets].astype(np.float64)
    if not need_grad:
        return logp, None, None, None
    d = np.exp(lp)  # dL/dz = scale * (p - onehot)
    d[rows, targets] -= 1
    d *= FLOAT(scale)
    return logp, (d @ W.T).astype(FLOAT), (h.T @ d).astype(FLOAT), d.sum(0, dtype=FLOAT)


def _classes_of(class_bounds, targets):
    return (np.searchsorted(class_bounds, targets, side="right") - 1).astype(np.int32)


def class_softmax_xent(h, Wc, bc, Ww, bw, class_bounds, targets, *, scale=1.0, need_grad=True):
    """Class softmax; return (logp, dh, dWc, dbc, dWw, dbw) (module docstring).

    With ``need_grad=False`` the five gradients are ``None``. Only the word
    columns of each target's class are touched, so ``dWw``/``dbw`` are zero
    outside the classes present in ``targets``.
    """
    n, hid, c, v = check_class_softmax(h, Wc, bc, Ww, bw, class_bounds, targets)
    cls = _classes_of(class_bounds, targets)
    lpc = _log_softmax_rows(h @ Wc + bc)  # (N, C)
    rows = np.arange(n)
    logp = lpc[rows, cls].astype(np.float64)
    if need_grad:
        dzc = np.exp(lpc)
        dzc[rows, cls] -= 1
        dzc *= FLOAT(scale)
        dh = dzc @ Wc.T
        dWc = (h.T @ dzc).astype(FLOAT)
        dbc = dzc.sum(0, dtype=FLOAT)
        dWw = np.zeros_like(Ww)
        dbw = np.zeros_like(bw)
    for k in np.unique(cls):
        sel = np.flatnonzero(cls == k)
        lo, hi = int(class_bounds[k]), int(class_bounds[k + 1])
        hk = h[sel]  # (n_k, H)
        lpw = _log_softmax_rows(hk @ Ww[:, lo:hi] + bw[lo:hi])  # (n_k, |k|)
        tk = targets[sel] - lo
        logp[sel] += lpw[np.arange(len(sel)), tk]
        if need_grad:
            dz = np.exp(lpw)
            dz[np.arange(len(sel)), tk] -= 1
            dz *= FLOAT(scale)
            dh[sel] += dz @ Ww[:, lo:hi].T
            dWw[:, lo:hi] += hk.T @ dz
            dbw[lo:hi] += dz.sum(0, dtype=FLOAT)
    if not need_grad:
        return logp, None, None, None, None, None
    return logp, dh.astype(FLOAT), dWc, dbc, dWw, dbw


def softmax_logprobs_all(h, W, b):
    """Inference helper: (N, V) float32 log-probabilities of every word (full softmax)."""
    check_softmax(h, W, b, np.zeros(h.shape[0] if isinstance(h, np.ndarray) and h.ndim == 2 else 0, np.int32))
    return _log_softmax_rows(h @ W + b)


def class_softmax_logprobs_all(h, Wc, bc, Ww, bw, class_bounds):
    """Inference helper: (N, V) float32 log-probabilities of every word (class softmax).

    Column w holds ``log P(c(w)|h) + log P(w|c(w), h)``; each row's exp sums to 1.
    """
    n = h.shape[0] if isinstance(h, np.ndarray) and h.ndim == 2 else 0
    check_class_softmax(h, Wc, bc, Ww, bw, class_bounds, np.zeros(n, np.int32))
    lpc = _log_softmax_rows(h @ Wc + bc)  # (N, C)
    out = np.empty((n, Ww.shape[1]), FLOAT)
    for k in range(Wc.shape[1]):
        lo, hi = int(class_bounds[k]), int(class_bounds[k + 1])
        out[:, lo:hi] = _log_softmax_rows(h @ Ww[:, lo:hi] + bw[lo:hi]) + lpc[:, k:k + 1]
    return out
