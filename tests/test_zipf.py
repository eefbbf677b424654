"""Zipf and Heaps fits (ngramkit.zipf) against independent oracles.

Oracles: closed-form zeta values and direct partial sums (Hurwitz zeta),
known exponents of synthetic samples, numpy.polyfit (OLS), a brute-force grid
maximisation of the discrete power-law likelihood and a naive per-candidate
KS scan (MLE), naive Python loops (Heaps growth curve, boundary exclusion).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import ngramkit.zipf as zipf_module
from ngramkit import NGramCounts, Stream, Vocabulary
from ngramkit.errors import NgramkitError
from oracles import naive_ks_scan
from ngramkit.zipf import (
    NotFittable,
    ZipfFit,
    ZipfSkip,
    check_zipf_options,
    discrete_powerlaw_mle,
    fit_heaps,
    fit_zipf,
    fit_zipf_orders,
    frequencies,
    hurwitz_zeta,
    rank_frequency,
    vocabulary_growth,
)

APERY = 1.2020569031595942854  # zeta(3)
CATALAN = 0.9159655941772190151  # G; zeta(2, 1/4) = pi^2 + 8 G
ZETA1_2 = -0.93754825431584375  # zeta'(2) = pi^2/6 (gamma + log 2 pi - 12 log A)
ZETA2_2 = 1.98928023429890  # zeta''(2)


# ---- Hurwitz zeta ---------------------------------------------------------------------------


def test_zeta_closed_forms():
    pi = math.pi
    assert hurwitz_zeta(2.0, 1.0) == pytest.approx(pi**2 / 6, rel=1e-15)
    assert hurwitz_zeta(4.0, 1.0) == pytest.approx(pi**4 / 90, rel=1e-15)
    assert hurwitz_zeta(6.0, 1.0) == pytest.approx(pi**6 / 945, rel=1e-15)
    assert hurwitz_zeta(3.0, 1.0) == pytest.approx(APERY, rel=1e-15)
    assert hurwitz_zeta(2.0, 0.25) == pytest.approx(pi**2 + 8 * CATALAN, rel=1e-14)
    for s in (1.5, 2.5, 7.0):  # zeta(s, 1/2) = (2^s - 1) zeta(s)
        assert hurwitz_zeta(s, 0.5) == pytest.approx((2**s - 1) * hurwitz_zeta(s, 1.0), rel=1e-14)
    assert hurwitz_zeta(2.0, 1.0, derivative=1) == pytest.approx(ZETA1_2, rel=1e-14)
    assert hurwitz_zeta(2.0, 1.0, derivative=2) == pytest.approx(ZETA2_2, rel=1e-13)


def _direct_zeta(s: float, q: float, m: int = 0, terms: int = 200_000) -> float:
    """Partial sum of (-log(q+k))^m (q+k)^-s plus the integral and half-term of the rest at a = q + terms.

    For m = 0 the B_2 term s a^(-s-1) / 12 is added too; the neglected remainder
    is below 1e-15 relative for the cases tested.
    """
    k = q + np.arange(terms, dtype=np.float64)
    a, la = q + terms, math.log(q + terms)
    u = s - 1
    if m == 0:
        tail = a ** (1 - s) / u + a**-s / 2 + s * a ** (-s - 1) / 12
    elif m == 1:  # integral of -log(x) x^-s from a to infinity, plus f(a) / 2
        tail = -(a ** (1 - s)) * (la / u + 1 / u**2) - la * a**-s / 2
    else:
        tail = a ** (1 - s) * (la**2 / u + 2 * la / u**2 + 2 / u**3) + la**2 * a**-s / 2
    return float(np.sum(((-np.log(k)) ** m * k**-s)[::-1])) + tail


@pytest.mark.parametrize("s", [1.01, 1.3, 2.0, 2.7, 4.5, 11.0, 30.0])
@pytest.mark.parametrize("q", [1.0, 2.0, 3.5, 15.0, 16.0, 17.0, 250.0, 5e4])
def test_zeta_matches_direct_sum(s, q):
    assert hurwitz_zeta(s, q) == pytest.approx(_direct_zeta(s, q), rel=1e-12)


@pytest.mark.parametrize("s", [1.01, 2.0, 4.5, 12.0])
@pytest.mark.parametrize("q", [1.0, 3.5, 40.0])
@pytest.mark.parametrize("m", [1, 2])
def test_zeta_derivatives_match_direct_sum(s, q, m):
    assert hurwitz_zeta(s, q, derivative=m) == pytest.approx(_direct_zeta(s, q, m), rel=1e-11)


@pytest.mark.parametrize("s", [1.05, 2.0, 3.3, 12.0])
@pytest.mark.parametrize("q", [1.0, 7.0, 40.0])
def test_zeta_derivatives_match_finite_differences(s, q):
    h = 1e-6
    for m in (1, 2):
        z = lambda x: float(hurwitz_zeta(x, q, derivative=m - 1))  # noqa: E731
        central = (z(s + h) - z(s - h)) / (2 * h)
        assert hurwitz_zeta(s, q, derivative=m) == pytest.approx(central, rel=1e-6)


def test_zeta_shift_identity_and_broadcasting():
    s = np.array([[1.2], [2.0], [3.7], [25.0]])  # (4, 1)
    q = np.array([0.3, 1.0, 14.5, 15.5, 16.5, 99.0])  # (6,)
    z = hurwitz_zeta(s, q)
    assert z.shape == (4, 6)
    # zeta(s, q) = q^-s + zeta(s, q + 1): crosses the switch between direct summation and Euler-Maclaurin.
    np.testing.assert_allclose(z, q**-s + hurwitz_zeta(s, q + 1), rtol=1e-13)
    for m in (1, 2):
        np.testing.assert_allclose(hurwitz_zeta(s, q, derivative=m),
                                   (-np.log(q)) ** m * q**-s + hurwitz_zeta(s, q + 1, derivative=m), rtol=1e-13)


@pytest.mark.parametrize("s,q", [(1.0, 1.0), (0.5, 2.0), (2.0, 0.0), (2.0, -1.0), (np.nan, 1.0)])
def test_zeta_rejects_bad_arguments(s, q):
    with pytest.raises(ValueError):
        hurwitz_zeta(s, q)
    with pytest.raises(ValueError):
        hurwitz_zeta(2.0, 1.0, derivative=3)


# ---- OLS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 0.8, 1.0, 1.2, 1.6])
def test_ols_recovers_alpha_of_ideal_curve(alpha):
    ranks = np.arange(1, 5001)
    counts = np.round(1e9 * ranks**-alpha).astype(np.int64)  # the ideal rank-frequency curve, in whole counts
    rng = np.random.default_rng(7)
    fit = fit_zipf(rng.permutation(counts), method="ols")  # order of the input must not matter
    assert abs(fit.alpha - alpha) <= 0.02
    assert (fit.rank_min, fit.rank_max, fit.n_points) == (10, 1000, 991)
    assert fit.c == pytest.approx(math.log(1e9), abs=0.05)
    assert fit.r2 > 0.999
    assert fit.alpha_freq == pytest.approx(1 + 1 / fit.alpha)
    np.testing.assert_allclose(fit.predict([10, 100]), np.exp(fit.c) * np.array([10.0, 100.0]) ** -fit.alpha)


@pytest.mark.parametrize("order,window", [(1, None), (2, None), (3, None), (1, (1, 4579)), (2, (50, 5000))])
def test_ols_matches_numpy_polyfit(tm_raw_counts3, order, window):
    kw = {} if window is None else {"rank_min": window[0], "rank_max": window[1]}
    fit = fit_zipf(tm_raw_counts3, order, "ols", **kw)
    ranked = np.sort(frequencies(tm_raw_counts3, order))[::-1]
    lo, hi = window or (10, min(1000, int((ranked >= 2).sum())))
    assert (fit.rank_min, fit.rank_max) == (lo, hi)
    x, y = np.log(np.arange(lo, hi + 1)), np.log(ranked[lo - 1 : hi])
    slope, intercept = np.polyfit(x, y, 1)
    assert fit.alpha == pytest.approx(-slope, rel=1e-10)
    assert fit.c == pytest.approx(intercept, rel=1e-10)
    assert fit.r2 == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)
    assert fit.n_points == hi - lo + 1 and fit.distinct == ranked.size and fit.total == ranked.sum()


def test_ols_open_window_runs_to_last_rank(tm_raw_counts3):
    fit = fit_zipf(tm_raw_counts3, 1, rank_min=20)
    assert (fit.rank_min, fit.rank_max) == (20, fit.distinct)
    fit = fit_zipf(tm_raw_counts3, 1, rank_max=300)
    assert (fit.rank_min, fit.rank_max) == (10, 300)


def test_default_window_clipped_to_ngrams_seen_twice():
    # 8 n-grams seen twice or more, then 500 singletons: the default window 10..8 is empty.
    counts = np.concatenate([np.arange(40, 8, -4), np.ones(500, np.int64)])
    assert zipf_module.default_rank_window(np.sort(counts)[::-1]) == (10, 8)
    with pytest.raises(NgramkitError, match="holds 0 n-grams"):
        fit_zipf(counts)
    counts = np.concatenate([np.round(1e4 * np.arange(1, 101) ** -1.0), np.ones(500)]).astype(np.int64)
    fit = fit_zipf(counts)
    assert fit.rank_max == int((counts >= 2).sum())


# ---- MLE ------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,seed", [(1.8, 1), (2.0, 2), (2.5, 3), (3.0, 4)])
def test_mle_recovers_exponent_of_discrete_power_law(a, seed):
    x = np.random.default_rng(seed).zipf(a, 20_000)  # p(x) = x^-a / zeta(a), x >= 1
    fit = fit_zipf(x, method="mle")
    assert abs(fit.alpha_freq - a) <= 0.05
    assert fit.alpha == pytest.approx(1 / (fit.alpha_freq - 1), rel=1e-12)
    assert abs(fit.alpha - 1 / (a - 1)) <= 0.05 / (a - 1) ** 2 * 1.2  # delta method on the same bound
    assert fit.alpha_se == pytest.approx(fit.alpha_freq_se / (fit.alpha_freq - 1) ** 2)
    # Discrete standard error (eq. 3.6) is close to the simple (a - 1) / sqrt(n).
    assert fit.alpha_freq_se == pytest.approx((fit.alpha_freq - 1) / math.sqrt(fit.n_points), rel=0.5)
    assert (fit.rank_min, fit.rank_max) == (1, fit.n_points) and fit.n_points == int((x >= fit.xmin).sum())
    assert 0 < fit.ks < 0.05 and fit.r2 is None


def _brute_force_alpha(x: np.ndarray, xmin: int) -> float:
    """argmax of the discrete power-law log-likelihood on a grid (coarse 1e-2, then fine 1e-5 around the best).

    The normaliser zeta(a, xmin) is a direct sum of 3000 terms plus a midpoint-rule integral for the rest.
    """
    tail = x[x >= xmin].astype(np.float64)
    n, slog = tail.size, np.log(tail).sum()
    k = np.arange(xmin, xmin + 3000, dtype=np.float64)  # (K,)
    end = xmin + 3000 - 0.5

    def loglik(grid):  # (G,)
        z = (k[None, :] ** -grid[:, None]).sum(axis=1) + end ** (1 - grid) / (grid - 1)
        return -n * np.log(z) - grid * slog

    coarse = np.arange(1.05, 4.0, 1e-2)
    centre = coarse[np.argmax(loglik(coarse))]
    fine = np.arange(centre - 0.015, centre + 0.015, 1e-5)
    return float(fine[np.argmax(loglik(fine))])


@pytest.mark.parametrize("source", ["timemachine", "synthetic"])
def test_mle_matches_brute_force_grid(tm_raw_counts3, source):
    if source == "timemachine":
        x = frequencies(tm_raw_counts3, 1)
    else:
        x = np.random.default_rng(11).zipf(2.3, 5000)
    for xmin in (1, 3, 8):
        expected = _brute_force_alpha(x, xmin)
        got = fit_zipf(x, method="mle", xmin=xmin)
        assert got.xmin == xmin and got.n_points == int((x >= xmin).sum())
        assert abs(got.alpha_freq - expected) <= 2e-5
        assert discrete_powerlaw_mle(x, xmin) == pytest.approx(got.alpha_freq, rel=1e-12)


@pytest.mark.parametrize("source", ["timemachine-1", "timemachine-2", "synthetic"])
def test_xmin_scan_matches_naive_ks_scan(tm_raw_counts3, source):
    if source == "synthetic":
        x = np.random.default_rng(5).zipf(2.2, 3000)
        x = x[x < 5000]  # keep the naive integer grid small
    else:
        x = frequencies(tm_raw_counts3, int(source[-1]))
    xmin, ks, a = naive_ks_scan(x, 50)
    fit = fit_zipf(x, method="mle", min_tail=50)
    assert fit.xmin == xmin
    assert fit.ks == pytest.approx(ks, abs=1e-6)
    assert fit.alpha_freq == pytest.approx(a, rel=1e-10)


def test_mle_c_is_the_large_frequency_asymptote():
    # For the fitted law, rank(x) ~ n_tail x^(1-a) / ((a-1) zeta(a, xmin)) at large x; c inverts it.
    x = np.random.default_rng(3).zipf(2.0, 50_000)
    fit = fit_zipf(x, method="mle")
    big = 1e6
    rank = fit.n_points * big ** (1 - fit.alpha_freq) / ((fit.alpha_freq - 1) * hurwitz_zeta(fit.alpha_freq, fit.xmin))
    assert fit.predict(rank) == pytest.approx(big, rel=1e-9)


# ---- NGramCounts input, boundaries ------------------------------------------------------------


def test_frequencies_exclude_boundary_ngrams_like_a_naive_counter():
    sentences = [["a", "b", "a"], ["b"], ["a", "b", "c", "a", "b"], []]
    counts = NGramCounts.from_sentences(sentences, 3)
    for k in (1, 2, 3):
        words_only, padded = Counter(), Counter()
        for s in sentences:
            for i in range(len(s) - k + 1):
                words_only[tuple(s[i : i + k])] += 1
            p = ["<s>", *s, "</s>"]
            for i in range(len(p) - k + 1):
                padded[tuple(p[i : i + k])] += 1
        assert sorted(frequencies(counts, k).tolist()) == sorted(words_only.values())
        assert sorted(frequencies(counts, k, exclude_boundaries=False).tolist()) == sorted(padded.values())
        assert rank_frequency(counts, k).tolist() == sorted(words_only.values(), reverse=True)


def test_timemachine_unigrams_are_d2l_words(tm_raw_counts3):
    fit = fit_zipf(tm_raw_counts3, 1)
    assert fit.distinct == 4579  # D2L's 4,579 distinct words: <s>/</s> are not words
    assert fit.total == 32775
    assert fit_zipf(tm_raw_counts3, 1, exclude_boundaries=False).distinct == 4581


def test_every_counted_order_fits(tm_raw_counts3):
    for k in (1, 2, 3):
        for method in ("ols", "mle"):
            fit = fit_zipf(tm_raw_counts3, k, method)
            assert isinstance(fit, ZipfFit) and fit.order == k and fit.method == method
            assert 0.2 < fit.alpha < 1.5 and np.isfinite(fit.c)
            d = fit.to_dict()
            assert {"order", "method", "alpha", "c", "r2", "rank_min", "rank_max"} <= d.keys()
            assert d["alpha"] == fit.alpha and "ranked" not in d


# ---- bad input ------------------------------------------------------------------------------


def test_order_not_counted(tm_raw_counts3):
    with pytest.raises(NgramkitError, match=r"order 4 not counted.*1\.\.3"):
        fit_zipf(tm_raw_counts3, 4)
    with pytest.raises(NgramkitError, match="order must be >= 1"):
        fit_zipf(tm_raw_counts3, 0)


@pytest.mark.parametrize("lo,hi", [(0, 100), (10, 5000), (5000, 6000), (100, 50), (4579, 4580)])
def test_rank_window_outside_data(tm_raw_counts3, lo, hi):
    with pytest.raises(NgramkitError, match="outside the data") as err:
        fit_zipf(tm_raw_counts3, 1, rank_min=lo, rank_max=hi)
    assert "\n" not in str(err.value) and "4579" in str(err.value)


def test_too_few_distinct_ngrams():
    counts = NGramCounts.from_sentences([["a", "b", "c"]], 2)
    with pytest.raises(NgramkitError, match="only 2 distinct n-grams"):
        fit_zipf(counts, 2)
    with pytest.raises(NgramkitError, match="only 2 distinct n-grams"):
        fit_zipf(counts, 2, "mle")
    with pytest.raises(NgramkitError, match="need at least 50 n-grams"):
        fit_zipf(np.arange(1, 30), method="mle")
    with pytest.raises(NgramkitError, match="same frequency"):
        fit_zipf(np.full(2000, 3))
    with pytest.raises(NgramkitError, match="smaller xmin"):
        fit_zipf(np.arange(1, 300), method="mle", xmin=299)


@pytest.mark.parametrize("bad,match", [
    (np.array([[1, 2], [3, 4]]), "1-D"),
    (np.array([3, -1, 2]), ">= 0"),
    (np.array([3.0, np.inf]), "finite"),
    (np.array(["a", "b"]), "numeric"),
])
def test_bad_frequency_arrays(bad, match):
    with pytest.raises(NgramkitError, match=match):
        fit_zipf(bad)


def test_bad_options(tm_raw_counts3):
    with pytest.raises(NgramkitError, match="method must be one of ols, mle"):
        fit_zipf(tm_raw_counts3, 1, "lsq")
    with pytest.raises(NgramkitError, match="xmin applies to method 'mle'"):
        fit_zipf(tm_raw_counts3, 1, "ols", xmin=3)
    with pytest.raises(NgramkitError, match="rank window applies to method 'ols'"):
        fit_zipf(tm_raw_counts3, 1, "mle", rank_min=10)
    with pytest.raises(NgramkitError, match="whole numbers"):
        fit_zipf(np.linspace(1.5, 900.5, 500), method="mle")
    with pytest.raises(NgramkitError, match="min_tail"):
        fit_zipf(tm_raw_counts3, 1, "mle", min_tail=1)
    with pytest.raises(NgramkitError, match="rank_min must be an integer"):
        fit_zipf(tm_raw_counts3, 1, rank_min=2.5, rank_max=100)


# ---- several orders: small texts ------------------------------------------------------------

SMALL_LINES = 20  # the first 20 sentences of timemachine.d2l.txt (205 words)


def naive_ranked(sentences, k):
    """Frequencies of the k-grams inside sentences (no <s>/</s>), decreasing: a plain Counter."""
    grams = Counter(tuple(s[i:i + k]) for s in sentences for i in range(len(s) - k + 1))
    return np.array(sorted(grams.values(), reverse=True), np.int64)


def test_small_text_fits_what_it_can_and_skips_the_rest(tm_sentences):
    sentences = tm_sentences[:SMALL_LINES]
    counts = NGramCounts.from_sentences(sentences, 3)
    res = fit_zipf_orders(counts, [3, 1, 2], "both")
    assert [(e.order, e.method) for e in res.entries] == [(k, m) for k in (1, 2, 3) for m in ("ols", "mle")]
    # Hand-checked from the naive Counter below: 2-grams have 5 seen twice (window 10:5 is empty),
    # 3-grams none (window 10:0; one distinct frequency, no power-law tail).
    assert [(f.order, f.method) for f in res.fits] == [(1, "ols"), (1, "mle"), (2, "mle")]
    assert [(s.order, s.method) for s in res.skipped] == [(2, "ols"), (3, "ols"), (3, "mle")]
    for fit in res.fits:  # the same numbers as one fit at a time
        one = fit_zipf(counts, fit.order, fit.method)
        assert (fit.alpha, fit.c, fit.rank_min, fit.rank_max) == (one.alpha, one.c, one.rank_min, one.rank_max)
    ols1 = res.fits[0]
    ranked = naive_ranked(sentences, 1)
    x, y = np.log(np.arange(10, ols1.rank_max + 1)), np.log(ranked[9:ols1.rank_max])
    assert ols1.rank_max == int((ranked >= 2).sum()) and ols1.alpha == pytest.approx(-np.polyfit(x, y, 1)[0])
    for skip in res.skipped:
        ranked = naive_ranked(sentences, skip.order)
        assert isinstance(skip, ZipfSkip) and (skip.distinct, skip.total) == (ranked.size, ranked.sum())
        with pytest.raises(NotFittable) as err:  # the reason is fit_zipf's, without the "order k: " prefix
            fit_zipf(counts, skip.order, skip.method)
        assert err.value.order == skip.order and str(err.value) == f"order {skip.order}: {skip.reason}"
    two_ols = res.skipped[0].reason
    assert two_ols.startswith("rank window 10:5 holds 0 n-grams") and "\n" not in two_ols
    assert res.skipped[2].reason.startswith("166 distinct n-grams with 1 different frequencies")


def test_skips_serialise_with_the_keys_of_a_fit(tm_sentences):
    counts = NGramCounts.from_sentences(tm_sentences[:SMALL_LINES], 3)
    rows = fit_zipf_orders(counts, [1, 3]).to_list()
    assert rows[0].keys() == rows[1].keys() and rows[0]["reason"] is None and rows[0]["alpha"] > 0
    skip = rows[1]
    assert skip["order"] == 3 and skip["method"] == "ols" and skip["distinct"] == 166
    assert skip["reason"].startswith("rank window 10:0 holds 0 n-grams")
    fitted = {"alpha", "c", "r2", "ks", "rank_min", "rank_max", "n_points", "alpha_freq", "alpha_se",
              "alpha_freq_se", "xmin"}
    assert all(skip[k] is None for k in fitted)


def test_an_explicit_window_beyond_one_order_skips_that_order_only(tm_raw_counts3):
    # 4579 distinct words; 2- and 3-grams have many more: the window 10:5000 only fits orders 2 and 3.
    res = fit_zipf_orders(tm_raw_counts3, [1, 2, 3], "ols", rank_min=10, rank_max=5000)
    assert [f.order for f in res.fits] == [2, 3] and [s.order for s in res.skipped] == [1]
    assert "outside the data (ranks 1..4579)" in res.skipped[0].reason
    fit = fit_zipf(tm_raw_counts3, 3, rank_min=10, rank_max=5000)
    assert res.fits[1].alpha == fit.alpha


def test_bad_arguments_raise_before_any_fit(tm_raw_counts3):
    cases = [
        (dict(methods="lsq"), "method must be one of ols, mle or both"),
        (dict(methods=[]), "give at least one of ols, mle"),
        (dict(orders=[]), "give at least one order"),
        (dict(orders=[0]), "order must be >= 1"),
        (dict(rank_min=100, rank_max=10), "need rank_min <= rank_max"),
        (dict(rank_min=0), "rank_min must be an integer >= 1"),
        (dict(xmin=2.5, methods="mle"), "xmin must be an integer >= 1"),
        (dict(min_tail=1, methods="mle"), "min_tail must be an integer >= 2"),
        (dict(methods="mle", rank_min=10), "it does not apply to method mle"),
        (dict(methods="ols", xmin=3), "applies to method mle or both"),
    ]
    for kwargs, message in cases:
        kwargs = {"orders": [1, 2], **kwargs}
        with pytest.raises(NgramkitError, match=message) as err:
            check_zipf_options(**kwargs)
        assert not isinstance(err.value, NotFittable)
        with pytest.raises(NgramkitError, match=message):
            fit_zipf_orders(tm_raw_counts3, **kwargs)
    assert check_zipf_options(3, "both") == ([3], ["ols", "mle"])
    assert check_zipf_options([2, 1, 2], ["mle", "ols"]) == ([1, 2], ["ols", "mle"])
    with pytest.raises(NgramkitError, match="order 4 not counted"):
        fit_zipf_orders(tm_raw_counts3, [1, 4])


def test_argument_errors_are_not_data_errors(tm_raw_counts3):
    # NotFittable marks the data; a window that is invalid whatever the data stays a plain error.
    with pytest.raises(NgramkitError) as err:
        fit_zipf(tm_raw_counts3, 1, rank_min=100, rank_max=50)
    assert not isinstance(err.value, NotFittable)
    with pytest.raises(NotFittable):
        fit_zipf(tm_raw_counts3, 1, rank_min=10, rank_max=5000)
    with pytest.raises(NotFittable, match="only 2 distinct"):
        fit_zipf(NGramCounts.from_sentences([["a", "b", "c"]], 2), 2)


# ---- Heaps ----------------------------------------------------------------------------------


def test_vocabulary_growth_matches_naive_loop(tm_raw_sentences):
    tokens = [w for s in tm_raw_sentences for w in s][:5000]
    seen, naive = set(), []
    for w in tokens:
        seen.add(w)
        naive.append(len(seen))
    assert vocabulary_growth(np.array(tokens)).tolist() == naive


def test_heaps_fit_matches_polyfit_on_its_growth_curve(tm_raw_sentences):
    vocab = Vocabulary.build(tm_raw_sentences)
    stream = Stream.from_sentences(tm_raw_sentences, vocab)
    fit = fit_heaps(stream)
    words = np.array([w for s in tm_raw_sentences for w in s])
    assert fit.tokens == words.size == 32775 and fit.types == 4579
    assert fit.v.tolist() == vocabulary_growth(words)[fit.n - 1].tolist()  # </s> dropped: same as plain words
    win = fit.n >= 100
    slope, intercept = np.polyfit(np.log(fit.n[win]), np.log(fit.v[win]), 1)
    assert fit.beta == pytest.approx(slope, rel=1e-10) and fit.k == pytest.approx(math.exp(intercept), rel=1e-10)
    assert 0.5 < fit.beta < 0.9 and fit.r2 > 0.99 and fit.n_min == int(fit.n[win][0])
    with_eos = fit_heaps(stream, exclude_boundaries=False)
    assert with_eos.tokens == stream.n_tokens and with_eos.types == 4580


def test_heaps_recovers_exact_power_growth():
    # A sequence whose vocabulary after N tokens is exactly ceil(N^0.5): new word at N = k^2 + 1.
    n = 40_000
    growth = np.ceil(np.sqrt(np.arange(1, n + 1))).astype(np.int64)
    tokens = growth.copy()  # token id = current vocabulary size: a new id appears exactly when growth steps
    fit = fit_heaps(tokens, n_min=1000)
    assert fit.beta == pytest.approx(0.5, abs=0.01) and fit.k == pytest.approx(1.0, rel=0.05)


def test_heaps_bad_input():
    with pytest.raises(NgramkitError, match="no tokens"):
        fit_heaps(np.array([], np.int64))
    with pytest.raises(NgramkitError, match="n_min"):
        fit_heaps(np.arange(50))
    with pytest.raises(NgramkitError, match="1-D"):
        fit_heaps(np.zeros((3, 3)))


def test_ks_scan_is_independent_of_block_size(tm_raw_counts3, monkeypatch):
    x = frequencies(tm_raw_counts3, 2)
    whole = fit_zipf(x, method="mle", min_tail=20)
    monkeypatch.setattr(zipf_module, "_KS_BLOCK", 37)  # many blocks, rows split unevenly
    blocked = fit_zipf(x, method="mle", min_tail=20)
    assert (blocked.xmin, blocked.ks, blocked.alpha_freq) == (whole.xmin, whole.ks, whole.alpha_freq)
