"""Linear interpolation of two models' per-token probabilities, and its weight tuned on held-out tokens.

Input: two (N,) natural-log probability arrays over the same tokens.
Output: the mixture's (N,) log-probabilities, or the weight that minimises
its mean negative log-likelihood (Mikolov et al. 2011 mix an RNN with a
Kneser-Ney model this way).
"""

from __future__ import annotations

import math

import numpy as np


def mix_log_probs(lp_a: np.ndarray, lp_b: np.ndarray, weight: float) -> np.ndarray:
    """Per-token ``log(w * exp(a) + (1 - w) * exp(b))`` (linear interpolation of two models)."""
    if weight <= 0.0:
        return np.asarray(lp_b, np.float64)
    if weight >= 1.0:
        return np.asarray(lp_a, np.float64)
    return np.logaddexp(math.log(weight) + np.asarray(lp_a, np.float64),
                        math.log1p(-weight) + np.asarray(lp_b, np.float64))


def tune_weight(lp_a: np.ndarray, lp_b: np.ndarray, *, grid: int = 21, tol: float = 1e-4) -> float:
    """The weight w in [0, 1] of model a minimising the mean NLL of the mixture on these tokens.

    The objective ``-mean(log(w p_a + (1 - w) p_b))`` is convex in w, so a
    coarse grid followed by a golden-section search on the bracketing
    interval finds the global minimum to ``tol``.
    """
    def nll(w: float) -> float:
        return -float(np.mean(mix_log_probs(lp_a, lp_b, w)))

    ws = np.linspace(0.0, 1.0, grid)
    values = [nll(float(w)) for w in ws]
    best = int(np.nanargmin(values))
    lo, hi = float(ws[max(best - 1, 0)]), float(ws[min(best + 1, grid - 1)])
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    fc, fd = nll(c), nll(d)
    while hi - lo > tol:
        if fc <= fd:
            hi, d, fd = d, c, fc
            c = hi - inv_phi * (hi - lo)
            fc = nll(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + inv_phi * (hi - lo)
            fd = nll(d)
    w = (lo + hi) / 2.0
    # The ends are candidates too (the minimum may sit on the boundary).
    candidates = [(nll(w), w), (values[0], 0.0), (values[-1], 1.0)]
    return min(candidates)[1]
