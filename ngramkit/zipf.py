"""Zipf's and Heaps' laws: fitting corpus statistics.

Input: :class:`~ngramkit.counts.NGramCounts` (or a 1-D array of positive
frequencies, one per distinct item) for :func:`fit_zipf` (one order, one
method) and :func:`fit_zipf_orders` (several orders and methods; an order
whose data cannot be fitted is skipped with its reason, not an error); a
:class:`~ngramkit.stream.Stream` (or a 1-D array of token ids / strings) for
:func:`fit_heaps`. Output: frozen dataclasses :class:`ZipfFit`,
:class:`ZipfSkip`, :class:`ZipfResults` and :class:`HeapsFit`. All
logarithms are natural.

Two views of the same law
-------------------------
Sort the distinct n-grams by frequency, most frequent first: the one at rank
``r`` has frequency ``n_r``. Zipf's law (the *rank* law, the form in *Dive
into Deep Learning* sec. 9.2) says

    n_r ∝ r^(-alpha)        i.e.   log n_r = -alpha * log r + c.

Equivalently, the *frequency distribution* (how many distinct n-grams occur
exactly ``x`` times) follows a power law ``p(x) ∝ x^(-alpha_freq)``. The
number of n-grams with frequency >= x is the rank at which the frequency
drops to x, so ``r(x) ∝ x^(-1/alpha)``; that is the complementary CDF, hence

    alpha_freq = 1 + 1/alpha        and        alpha = 1 / (alpha_freq - 1).

Every :class:`ZipfFit` reports both (``alpha`` is always the rank exponent,
whatever the method, so OLS and MLE results are comparable).

Methods
-------
``ols``
    Least squares of ``log n_r`` on ``log r`` over a rank window
    ``rank_min..rank_max`` (inclusive). Default window: ranks 10..1000,
    clipped to the n-grams seen at least twice (the head is skipped because
    the law "holds after the first few words"; the plateau of singletons is
    skipped because tied ranks carry no information). Reports alpha, c and
    R^2.
``mle``
    The discrete power-law maximum-likelihood estimator of Clauset, Shalizi
    & Newman (2009), "Power-law distributions in empirical data", SIAM
    Review 51(4), fitted to the frequency distribution of the tail
    ``x >= xmin``: ``p(x) = x^(-a) / zeta(a, xmin)`` with ``zeta`` the Hurwitz
    zeta function (eq. 2.5 / 3.5 of the paper). ``xmin`` is the candidate
    minimising the Kolmogorov-Smirnov distance between the tail's empirical
    CDF and the fitted model (sec. 3.3), among candidates leaving at least
    ``min_tail`` n-grams in the tail. The standard error of ``alpha_freq`` is
    the discrete one, ``1 / sqrt(n * Var_model(log x))`` (eq. 3.6); that of
    the rank exponent follows by the delta method,
    ``se(alpha) = se(alpha_freq) / (alpha_freq - 1)^2``. The tail is the
    ``n_tail`` most frequent n-grams, i.e. ranks ``1..n_tail``. The
    intercept ``c`` is that of the fitted law's large-x asymptote
    ``rank(x) ~ n_tail * x^(1 - a) / ((a - 1) * zeta(a, xmin))``.

Boundary tokens
---------------
By default n-grams containing ``<s>`` or ``</s>`` are left out
(``exclude_boundaries=True``): word-frequency statistics count words, as the
D2L book does, and ``</s>`` would otherwise be the most frequent "word" of
every corpus. ``<unk>`` is kept: it is an ordinary word of the vocabulary
(PTB spells rare words that way in its text).

Heaps' law
----------
The vocabulary size after ``N`` tokens grows as ``V(N) = K * N^beta``
(``beta < 1``). :func:`fit_heaps` computes the exact growth curve (vectorised:
one ``np.unique`` for first occurrences and a cumulative sum), samples it on a
geometric grid and fits ``log V`` on ``log N`` by least squares for
``N >= n_min``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .counts import NGramCounts, check_order
from .errors import NgramkitError
from .stream import Stream
from .vocab import BOS_ID, EOS_ID

__all__ = [
    "HeapsFit",
    "NotFittable",
    "ZipfFit",
    "ZipfResults",
    "ZipfSkip",
    "check_zipf_options",
    "discrete_powerlaw_mle",
    "fit_heaps",
    "fit_zipf",
    "fit_zipf_orders",
    "frequencies",
    "hurwitz_zeta",
    "rank_frequency",
]

METHODS = ("ols", "mle")
BOTH = "both"  # fit_zipf_orders: ols and mle
DEFAULT_RANK_MIN = 10  # OLS window start: skip the head (function words)
DEFAULT_RANK_MAX = 1000  # OLS window end, clipped to the n-grams seen at least twice
DEFAULT_MIN_TAIL = 50  # MLE: fewest n-grams an xmin candidate must leave in the tail
MIN_POINTS = 5  # fewest points any fit accepts
_ALPHA_MAX = 50.0  # upper bracket for the frequency exponent
_ALPHA_MIN = 1.0 + 1e-9  # the discrete power law needs alpha_freq > 1
_KS_BLOCK = 1 << 19  # max (candidate, value) pairs evaluated at once in the KS scan (~60 MB of temporaries)


class NotFittable(NgramkitError):
    """The n-grams of one order cannot be fitted: too few of them, a window or tail outside the data.

    A property of the data, not of the call: :func:`fit_zipf_orders` skips
    such an order (a :class:`ZipfSkip` with ``reason``) and fits the others.
    """

    def __init__(self, order: int, reason: str):
        self.order, self.reason = int(order), reason
        super().__init__(f"order {order}: {reason}")


# ---- Hurwitz zeta -------------------------------------------------------------------

# Euler-Maclaurin coefficients B_{2j} / (2j)!, j = 1..8 (B_2 = 1/6, B_4 = -1/30, ...).
_EM_COEF = np.array([
    1 / 6 / 2,
    -1 / 30 / 24,
    1 / 42 / 720,
    -1 / 30 / 40320,
    5 / 66 / 3628800,
    -691 / 2730 / 479001600,
    7 / 6 / 87178291200,
    -3617 / 510 / 20922789888000,
])
_EM_SHIFT = 16.0  # sum directly until q + k >= max(16, s); beyond, the EM series is exact to ~1e-16


def hurwitz_zeta(s, q, *, derivative: int = 0) -> np.ndarray:
    """Hurwitz zeta ``zeta(s, q) = sum_{k>=0} (q + k)^(-s)`` or its s-derivatives.

    ``derivative`` m in {0, 1, 2} gives ``d^m/ds^m zeta(s, q) =
    sum_k (-log(q + k))^m (q + k)^(-s)``. Vectorised over broadcast ``s``
    (> 1) and ``q`` (> 0), float64. Method: the first terms summed directly
    until ``a = q + N >= max(16, s)``, the rest by Euler-Maclaurin summation
    with 8 Bernoulli terms (relative error ~1e-15):

        sum_{k>=N} (q+k)^(-s) = a^(1-s)/(s-1) + a^(-s)/2
                                 + sum_j B_2j/(2j)! * s(s+1)..(s+2j-2) * a^(-s-2j+1)

    >>> float(hurwitz_zeta(2.0, 1.0)) * 6 / np.pi ** 2
    1.0
    """
    if derivative not in (0, 1, 2):
        raise ValueError(f"derivative must be 0, 1 or 2, got {derivative!r}")
    s, q = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(q, np.float64))
    if not (np.all(s > 1) and np.all(np.isfinite(s))):
        raise ValueError("hurwitz_zeta: s must be finite and > 1 (the series diverges otherwise)")
    if not (np.all(q > 0) and np.all(np.isfinite(q))):
        raise ValueError("hurwitz_zeta: q must be finite and > 0")
    return _hurwitz(s.ravel(), q.ravel(), derivative)[derivative].reshape(s.shape)


def _hurwitz(s: np.ndarray, q: np.ndarray, upto: int) -> list[np.ndarray]:
    """[zeta, zeta', ...] up to the ``upto``-th s-derivative for 1-D float64 s > 1, q > 0 (unchecked)."""
    n_direct = np.ceil(np.maximum(np.maximum(_EM_SHIFT, s) - q, 0.0))  # (M,) terms summed directly
    out = [np.zeros(s.shape) for _ in range(upto + 1)]
    need = np.flatnonzero(n_direct > 0)
    if need.size:
        sn, qn, nn = s[need], q[need], n_direct[need]
        acc = [np.zeros(need.size) for _ in range(upto + 1)]
        for k in range(int(nn.max())):
            live = nn > k
            lx = np.log(qn[live] + k)
            term = np.exp(-sn[live] * lx)  # (q+k)^-s
            for m in range(upto + 1):
                acc[m][live] += term
                term = term * -lx  # next derivative: times -log(q+k)
        for m in range(upto + 1):
            out[m][need] = acc[m]
    a = q + n_direct  # (M,)
    la = np.log(a)
    # Tail T(s) = a^-s * G(s); derivatives by the product rule on e^{-s log a} and G.
    inv_s1 = 1.0 / (s - 1)
    g = [a * inv_s1 + 0.5, -a * inv_s1**2, 2 * a * inv_s1**3][: upto + 1]
    p = [s.copy(), np.ones_like(s), np.zeros_like(s)][: upto + 1]  # rising factorial (s)_{2j-1} and derivatives
    inv_a2 = 1.0 / (a * a)
    apow = 1.0 / a  # a^(1-2j)
    for j, coef in enumerate(_EM_COEF, start=1):
        for m in range(upto + 1):
            g[m] += (coef * apow) * p[m]
        if j == _EM_COEF.size:
            break
        # (s)_{2j+1} = (s)_{2j-1} * f with f = (s + 2j - 1)(s + 2j), f' = 2s + 4j - 1, f'' = 2
        f = (s + 2 * j - 1) * (s + 2 * j)
        if upto == 2:
            f1 = 2 * s + 4 * j - 1
            p = [p[0] * f, p[1] * f + p[0] * f1, p[2] * f + 2 * p[1] * f1 + 2 * p[0]]
        elif upto == 1:
            p = [p[0] * f, p[1] * f + p[0] * (2 * s + 4 * j - 1)]
        else:
            p = [p[0] * f]
        apow = apow * inv_a2
    scale = np.exp(-s * la)
    out[0] += scale * g[0]
    if upto >= 1:
        out[1] += scale * (g[1] - la * g[0])
    if upto >= 2:
        out[2] += scale * (g[2] - 2 * la * g[1] + la * la * g[0])
    return out


# ---- data -----------------------------------------------------------------------------


def frequencies(counts, order: int = 1, *, exclude_boundaries: bool = True) -> np.ndarray:
    """(M,) frequencies of the distinct ``order``-grams (unsorted), float64 or int64.

    ``counts`` is an :class:`~ngramkit.counts.NGramCounts` (n-grams with
    ``<s>``/``</s>`` dropped when ``exclude_boundaries``) or a 1-D array of
    positive frequencies, used as given (zeros are dropped: unseen items have
    no rank).
    """

    order = check_order(order)
    if isinstance(counts, NGramCounts):
        freq = counts.counts(order)  # raises "order k not counted" for orders it lacks
        if exclude_boundaries:
            grams = counts.ngrams(order)  # (M, k)
            drop = np.zeros(freq.size, bool)
            for j in range(order):  # column by column: no (M, k) temporaries
                col = grams[:, j]
                drop |= (col == BOS_ID) | (col == EOS_ID)
            freq = freq[~drop]
        return freq
    try:
        freq = np.asarray(counts)
    except (TypeError, ValueError):
        raise NgramkitError(
            f"counts must be NGramCounts or a 1-D array of frequencies, got {type(counts).__name__}"
        ) from None
    if freq.ndim != 1 or not (np.issubdtype(freq.dtype, np.integer) or np.issubdtype(freq.dtype, np.floating)):
        raise NgramkitError(
            f"counts must be NGramCounts or a 1-D numeric array of frequencies, got shape {freq.shape} {freq.dtype}"
        )
    if freq.size and not np.all(np.isfinite(freq)):
        raise NgramkitError("frequencies must be finite")
    if freq.size and freq.min() < 0:
        raise NgramkitError(f"frequencies must be >= 0, got {freq.min()}")
    return freq[freq > 0]


def rank_frequency(counts, order: int = 1, *, exclude_boundaries: bool = True) -> np.ndarray:
    """(M,) frequencies sorted in decreasing order: element r-1 is the frequency at rank r."""
    return np.sort(frequencies(counts, order, exclude_boundaries=exclude_boundaries))[::-1]


# ---- Zipf ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipfFit:
    """A fitted Zipf law ``log n_r = -alpha * log r + c`` (natural log) for one order."""

    order: int  # n-gram order the fit is for
    method: str  # "ols" | "mle"
    alpha: float  # rank exponent: n_r ∝ r^-alpha
    c: float  # intercept of log n_r = -alpha log r + c (natural log)
    alpha_freq: float  # frequency-distribution exponent: p(x) ∝ x^-alpha_freq = 1 + 1/alpha
    rank_min: int  # first rank of the window fitted (1-based, inclusive)
    rank_max: int  # last rank of the window fitted (inclusive)
    n_points: int  # points (ranks / tail n-grams) the fit used
    distinct: int  # distinct n-grams of this order considered (after exclusions)
    total: int  # their summed frequency
    r2: float | None = None  # ols: coefficient of determination on the window
    ks: float | None = None  # mle: Kolmogorov-Smirnov distance of the tail fit
    xmin: int | None = None  # mle: smallest frequency in the tail
    alpha_se: float | None = None  # mle: standard error of alpha (delta method)
    alpha_freq_se: float | None = None  # mle: standard error of alpha_freq (Clauset et al. eq. 3.6)
    exclude_boundaries: bool = True  # n-grams with <s>/</s> were left out
    ranked: np.ndarray = field(default=None, repr=False, compare=False)  # (M,) frequencies, decreasing

    def predict(self, ranks) -> np.ndarray:
        """Fitted frequency ``exp(c) * r^-alpha`` at the given ranks."""
        return np.exp(self.c - self.alpha * np.log(np.asarray(ranks, np.float64)))

    def to_dict(self) -> dict:
        """JSON-ready summary (no arrays)."""
        return {
            "order": self.order,
            "method": self.method,
            "alpha": self.alpha,
            "c": self.c,
            "r2": self.r2,
            "ks": self.ks,
            "rank_min": self.rank_min,
            "rank_max": self.rank_max,
            "n_points": self.n_points,
            "distinct": self.distinct,
            "total": self.total,
            "alpha_freq": self.alpha_freq,
            "alpha_se": self.alpha_se,
            "alpha_freq_se": self.alpha_freq_se,
            "xmin": self.xmin,
            "exclude_boundaries": self.exclude_boundaries,
            "reason": None,  # why an order was not fitted (ZipfSkip); None: fitted
        }


_FIT_KEYS = ("order", "method", "alpha", "c", "r2", "ks", "rank_min", "rank_max", "n_points", "distinct", "total",
             "alpha_freq", "alpha_se", "alpha_freq_se", "xmin", "exclude_boundaries", "reason")  # ZipfFit.to_dict


def fit_zipf(
    counts,
    order: int = 1,
    method: str = "ols",
    *,
    rank_min: int | None = None,
    rank_max: int | None = None,
    xmin: int | None = None,
    min_tail: int = DEFAULT_MIN_TAIL,
    exclude_boundaries: bool = True,
) -> ZipfFit:
    """Fit Zipf's law to the ``order``-grams of ``counts``.

    ``method="ols"``: least squares on the log-log rank-frequency curve over
    ranks ``rank_min..rank_max`` (default 10..1000, clipped to the n-grams
    seen at least twice; giving either bound makes the window explicit and a
    bound outside ``1..distinct`` is an error). Data that cannot be fitted
    (too few distinct n-grams, a window or tail beyond the data) raises
    :class:`NotFittable`, an :class:`NgramkitError`. ``method="mle"``: Clauset et
    al.'s discrete power-law MLE on the frequency distribution, ``xmin``
    chosen by minimum KS distance (or fixed by ``xmin=``). See the module
    docstring for the relation ``alpha = 1 / (alpha_freq - 1)``.

    >>> ranks = np.arange(1, 2001)
    >>> fit = fit_zipf(1e6 * ranks ** -1.0, method="ols")
    >>> round(fit.alpha, 6), (fit.rank_min, fit.rank_max)
    (1.0, (10, 1000))
    """
    if method not in METHODS:
        raise NgramkitError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "ols" and xmin is not None:
        raise NgramkitError("xmin applies to method 'mle' only; use rank_min/rank_max for 'ols'")
    if method == "mle" and (rank_min is not None or rank_max is not None):
        raise NgramkitError("a rank window applies to method 'ols' only; 'mle' chooses its tail by xmin")
    ranked = rank_frequency(counts, order, exclude_boundaries=exclude_boundaries)
    distinct = int(ranked.size)
    if distinct < MIN_POINTS:
        raise NotFittable(order, f"only {distinct} distinct n-grams, need at least {MIN_POINTS} to fit Zipf's law "
                                 "(use a bigger corpus or a lower order)")
    common = dict(order=int(order), distinct=distinct, total=_as_int(ranked.sum()),
                  exclude_boundaries=bool(exclude_boundaries), ranked=ranked)
    if method == "ols":
        return _fit_ols(ranked, order, rank_min, rank_max, common)
    return _fit_mle(ranked, order, xmin, min_tail, common)


@dataclass(frozen=True)
class ZipfSkip:
    """An order (and method) :func:`fit_zipf_orders` could not fit, and why."""

    order: int  # n-gram order
    method: str  # "ols" | "mle"
    reason: str  # one line: what the data lacks and the fix, e.g. "only 3 distinct n-grams, need at least 5 ..."
    distinct: int  # distinct n-grams of this order considered (after exclusions)
    total: int  # their summed frequency
    exclude_boundaries: bool = True

    def to_dict(self) -> dict:
        """The keys of :meth:`ZipfFit.to_dict`, the fitted values ``None``, plus ``reason``."""
        out = dict.fromkeys(_FIT_KEYS)
        out.update(order=self.order, method=self.method, distinct=self.distinct, total=self.total,
                   exclude_boundaries=self.exclude_boundaries, reason=self.reason)
        return out


@dataclass(frozen=True)
class ZipfResults:
    """What :func:`fit_zipf_orders` returns: one entry per (order, method), a fit or a skip."""

    entries: tuple  # ZipfFit | ZipfSkip, orders ascending, "ols" before "mle" within an order

    @property
    def fits(self) -> list[ZipfFit]:
        return [e for e in self.entries if isinstance(e, ZipfFit)]

    @property
    def skipped(self) -> list[ZipfSkip]:
        return [e for e in self.entries if isinstance(e, ZipfSkip)]

    def to_list(self) -> list[dict]:
        """JSON-ready, one dict per entry with the same keys: ``reason`` is None for a fit, the fit's
        values are None for a skip."""
        return [e.to_dict() for e in self.entries]


def _check_int(name: str, value, low: int) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low):
        raise NgramkitError(f"{name} must be an integer >= {low}, got {value!r}")


def check_zipf_options(orders, methods="ols", *, rank_min: int | None = None, rank_max: int | None = None,
                       xmin: int | None = None, min_tail: int = DEFAULT_MIN_TAIL) -> tuple[list[int], list[str]]:
    """Validate the arguments of :func:`fit_zipf_orders` without any data: (orders, methods).

    ``orders``: an order or an iterable of orders (returned sorted, unique);
    ``methods``: ``"ols"``, ``"mle"``, ``"both"`` or a sequence of the first
    two (returned in the order ols, mle). Option cross-checks: a rank window
    needs ``ols``, ``xmin`` needs ``mle``. Raises :class:`NgramkitError`.
    """

    if isinstance(orders, (int, np.integer)):
        orders = [orders]
    orders = sorted({check_order(k) for k in orders})
    if not orders:
        raise NgramkitError("orders: give at least one order")
    given = [methods] if isinstance(methods, str) else list(methods)
    if BOTH in given:
        given = [m for m in given if m != BOTH] + list(METHODS)
    for m in given:
        if m not in METHODS:
            raise NgramkitError(f"method must be one of {', '.join(METHODS)} or {BOTH}, got {m!r}")
    methods = [m for m in METHODS if m in given]
    if not methods:
        raise NgramkitError("methods: give at least one of ols, mle")
    _check_int("rank_min", rank_min, 1)
    _check_int("rank_max", rank_max, 1)
    if rank_min is not None and rank_max is not None and rank_max < rank_min:
        raise NgramkitError(f"rank window {rank_min}:{rank_max}: need rank_min <= rank_max")
    _check_int("xmin", xmin, 1)
    _check_int("min_tail", min_tail, 2)
    if (rank_min is not None or rank_max is not None) and "ols" not in methods:
        raise NgramkitError("a rank window (CLI: --ranks) sets the OLS window; it does not apply to method mle "
                            "alone, which chooses its tail by xmin (CLI: --xmin)")
    if xmin is not None and "mle" not in methods:
        raise NgramkitError("xmin (CLI: --xmin) applies to method mle or both, not ols alone")
    return orders, methods


def fit_zipf_orders(counts, orders=(1, 2, 3), methods="ols", *, rank_min: int | None = None,
                    rank_max: int | None = None, xmin: int | None = None, min_tail: int = DEFAULT_MIN_TAIL,
                    exclude_boundaries: bool = True) -> ZipfResults:
    """Fit Zipf's law to several orders of ``counts`` with one or both methods; skip what cannot be fitted.

    Arguments as :func:`fit_zipf` (checked first by
    :func:`check_zipf_options`: bad arguments raise). The rank window
    applies to ``ols`` and ``xmin``/``min_tail`` to ``mle``, for every
    order; an explicit window with no ``rank_max`` runs to each order's last
    rank. An order whose data cannot be fitted (:class:`NotFittable`: too
    few distinct n-grams, a window beyond its last rank, a tail too short)
    becomes a :class:`ZipfSkip` with the reason, and the other orders are
    still fitted; small texts typically lose their top orders.

    >>> from ngramkit import NGramCounts
    >>> pairs = [[f"w{i}", f"w{i + 1}"] for i in range(20) for _ in range(20 - i)]  # two-word sentences
    >>> res = fit_zipf_orders(NGramCounts.from_sentences(pairs, 3), [1, 2, 3])  # no trigram without <s>/</s>
    >>> [(f.order, f.method) for f in res.fits], [(s.order, s.reason[:24]) for s in res.skipped]
    ([(1, 'ols'), (2, 'ols')], [(3, 'only 0 distinct n-grams,')])
    """
    orders, methods = check_zipf_options(orders, methods, rank_min=rank_min, rank_max=rank_max, xmin=xmin,
                                         min_tail=min_tail)
    entries = []
    for k in orders:
        for m in methods:
            window = dict(rank_min=rank_min, rank_max=rank_max) if m == "ols" else dict(xmin=xmin, min_tail=min_tail)
            try:
                entries.append(fit_zipf(counts, k, m, exclude_boundaries=exclude_boundaries, **window))
            except NotFittable as exc:
                ranked = rank_frequency(counts, k, exclude_boundaries=exclude_boundaries)
                entries.append(ZipfSkip(order=k, method=m, reason=exc.reason, distinct=int(ranked.size),
                                        total=_as_int(ranked.sum()), exclude_boundaries=bool(exclude_boundaries)))
    return ZipfResults(tuple(entries))


def _as_int(x) -> int:
    return int(round(float(x)))


def default_rank_window(ranked: np.ndarray) -> tuple[int, int]:
    """The default OLS window: ranks 10..1000, clipped to the n-grams seen at least twice."""
    seen_twice = int(np.count_nonzero(ranked >= 2)) if np.issubdtype(ranked.dtype, np.integer) else ranked.size
    return DEFAULT_RANK_MIN, min(DEFAULT_RANK_MAX, seen_twice)


def _fit_ols(ranked, order, rank_min, rank_max, common) -> ZipfFit:
    distinct = ranked.size
    explicit = rank_min is not None or rank_max is not None
    lo_default, hi_default = default_rank_window(ranked)
    lo = lo_default if rank_min is None else rank_min
    hi = (distinct if explicit else hi_default) if rank_max is None else rank_max
    for name, value in (("rank_min", lo), ("rank_max", hi)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise NgramkitError(f"{name} must be an integer, got {value!r}")
    lo, hi = int(lo), int(hi)
    if explicit and not 1 <= lo <= hi <= distinct:
        why = (f"rank window {lo}:{hi} is outside the data (ranks 1..{distinct}); "
               f"choose 1 <= rank_min <= rank_max <= {distinct}")
        if 1 <= lo <= hi:  # a valid window this order's data does not reach
            raise NotFittable(order, why)
        raise NgramkitError(f"order {order}: {why}")
    if hi - lo + 1 < MIN_POINTS:
        raise NotFittable(order, f"rank window {lo}:{hi} holds {max(hi - lo + 1, 0)} n-grams "
                                 f"({distinct} distinct, {int(np.count_nonzero(ranked >= 2))} seen twice); need at "
                                 f"least {MIN_POINTS} to fit (use a bigger corpus, a lower order or a wider window)")
    if ranked[lo - 1] == ranked[hi - 1]:  # sorted: the whole window is one frequency
        raise NotFittable(order, f"every n-gram in ranks {lo}:{hi} has the same frequency {ranked[lo - 1]}; "
                                 "nothing to fit (widen the window)")
    x = np.log(np.arange(lo, hi + 1, dtype=np.float64))  # (P,) log rank
    y = np.log(ranked[lo - 1 : hi].astype(np.float64))  # (P,) log frequency
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    sxy = float(((x - xm) * (y - ym)).sum())
    syy = float(((y - ym) ** 2).sum())
    slope = sxy / sxx
    intercept = ym - slope * xm
    r2 = 1.0 - float(((y - (intercept + slope * x)) ** 2).sum()) / syy
    alpha = -slope
    alpha_freq = 1.0 + 1.0 / alpha if alpha > 0 else math.inf
    return ZipfFit(method="ols", alpha=alpha, c=float(intercept), alpha_freq=alpha_freq,
                   rank_min=lo, rank_max=hi, n_points=hi - lo + 1, r2=r2, **common)


def _mle_alpha(xmin_vals, n, sum_log, *, iters: int = 100) -> np.ndarray:
    """Vectorised discrete MLE: solve -zeta'(a, xmin)/zeta(a, xmin) = mean(log x) for each candidate.

    The left side is E_model[log x], strictly decreasing in a (its derivative
    is -Var_model(log x)), from +inf at a -> 1 to log(xmin) at a -> inf, so the
    root is unique; safeguarded Newton inside a shrinking bracket.
    """
    target = sum_log / n  # (K,) mean log x of each tail
    lo = np.full(xmin_vals.shape, _ALPHA_MIN)
    hi = np.full(xmin_vals.shape, _ALPHA_MAX)
    # Clauset et al. eq. 3.7 (continuous approximation) as the starting point.
    denom = np.maximum(sum_log - n * np.log(xmin_vals - 0.5), 1e-300)
    a = np.clip(1.0 + n / denom, 1.0 + 1e-6, _ALPHA_MAX - 1e-6)
    active = np.ones(a.shape, bool)
    for _ in range(iters):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        ai, qi = a[idx], xmin_vals[idx]
        z0, z1, z2 = _hurwitz(ai, qi, 2)
        mean = -z1 / z0
        var = z2 / z0 - mean * mean
        h = mean - target[idx]  # decreasing in a
        lo[idx] = np.where(h > 0, ai, lo[idx])
        hi[idx] = np.where(h <= 0, ai, hi[idx])
        step = h / np.maximum(var, 1e-300)
        new = ai + step
        bad = ~((new >= lo[idx]) & (new <= hi[idx]))  # Newton left the bracket: bisect
        new = np.where(bad, 0.5 * (lo[idx] + hi[idx]), new)
        a[idx] = new
        active[idx] = (np.abs(new - ai) > 1e-12 * new) & (hi[idx] - lo[idx] > 1e-13)
    return a


def discrete_powerlaw_mle(x, xmin: int) -> float:
    """MLE of ``a`` in ``p(x) = x^-a / zeta(a, xmin)`` for the values ``x >= xmin`` of ``x``."""
    x = np.asarray(x, np.float64)
    tail = x[x >= xmin]
    if tail.size < 2 or tail.max() == tail.min():
        raise NgramkitError(f"xmin={xmin}: the tail needs at least two different values to fit a power law")
    return float(_mle_alpha(np.array([float(xmin)]), np.array([float(tail.size)]),
                            np.array([float(np.log(tail).sum())]))[0])


def _ks_distances(values, mult, cand, alpha) -> np.ndarray:
    """KS distance of each candidate tail fit (vectorised over (candidate, value) pairs, in blocks).

    ``values`` (U,) sorted unique frequencies, ``mult`` (U,) their
    multiplicities; candidate i has xmin = values[cand[i]] and exponent
    alpha[i]. Between consecutive data values u_j < u_{j+1} the empirical CDF
    is flat and the model CDF P(x) = 1 - zeta(a, x+1)/zeta(a, xmin) rises, so
    the supremum over all integers x >= xmin is attained at x = u_j or
    x = u_{j+1} - 1: both are checked.
    """
    u = values.size
    cum = np.concatenate([[0.0], np.cumsum(mult, dtype=np.float64)])  # (U+1,) cum[j] = sum(mult[:j])
    out = np.empty(cand.size)
    rows_per_block = max(1, _KS_BLOCK // max(u, 1))
    for b0 in range(0, cand.size, rows_per_block):
        c_idx = cand[b0 : b0 + rows_per_block]  # (B,)
        length = u - c_idx  # tail values per candidate
        row = np.repeat(np.arange(c_idx.size), length)  # (P,) candidate row of each pair
        start = np.repeat(np.cumsum(length) - length, length)
        j = np.arange(row.size) - start + np.repeat(c_idx, length)  # (P,) value index of each pair
        a = alpha[b0 : b0 + rows_per_block][row]
        i0 = c_idx[row]
        z = _hurwitz(a, values[j], 0)[0]  # (P,) zeta(a, u_j)
        z_min = z[start]  # zeta(a, xmin) for each pair's candidate
        n_tail = cum[u] - cum[i0]
        emp = (cum[j + 1] - cum[i0]) / n_tail  # empirical CDF at u_j
        model_at = 1.0 - (z - np.exp(-a * np.log(values[j]))) / z_min  # P(X <= u_j)
        d = np.abs(emp - model_at)
        # Right end of the flat stretch: x = u_{j+1} - 1, model CDF 1 - zeta(a, u_{j+1}) / zeta(a, xmin).
        last = j == u - 1
        z_next = np.where(last, 0.0, np.roll(z, -1))
        d = np.maximum(d, np.where(last, 0.0, np.abs(emp - (1.0 - z_next / z_min))))
        out[b0 : b0 + c_idx.size] = np.maximum.reduceat(d, np.cumsum(length) - length)
    return out


def _fit_mle(ranked, order, xmin, min_tail, common) -> ZipfFit:
    if not isinstance(min_tail, (int, np.integer)) or isinstance(min_tail, bool) or min_tail < 2:
        raise NgramkitError(f"min_tail must be an integer >= 2, got {min_tail!r}")
    if not np.issubdtype(ranked.dtype, np.integer) and not np.all(ranked == np.round(ranked)):
        raise NgramkitError("method 'mle' fits a discrete power law: frequencies must be whole numbers")
    values, mult = np.unique(ranked.astype(np.float64), return_counts=True)  # (U,) ascending
    mult = mult.astype(np.float64)
    n_ge = np.cumsum(mult[::-1])[::-1]  # (U,) tail size for xmin = values[i]
    slog_ge = np.cumsum((mult * np.log(values))[::-1])[::-1]  # (U,) sum of log x over the tail
    if xmin is not None:
        if not isinstance(xmin, (int, np.integer)) or isinstance(xmin, bool) or xmin < 1:
            raise NgramkitError(f"xmin must be an integer >= 1, got {xmin!r}")
        i = int(np.searchsorted(values, xmin))
        if i >= values.size - 1:
            raise NotFittable(order, f"xmin={xmin} leaves fewer than two different frequencies in the tail "
                                     f"(largest frequency {_as_int(values[-1])}); choose a smaller xmin")
        cand = np.array([i])
    else:
        # Candidates: every observed value leaving >= min_tail n-grams and >= 2 distinct values above it.
        cand = np.flatnonzero((n_ge >= min_tail) & (np.arange(values.size) < values.size - 1))
        if not cand.size:
            raise NotFittable(order, f"{ranked.size} distinct n-grams with {values.size} different frequencies; "
                                     f"need at least {min_tail} n-grams and two different frequencies for the "
                                     "power-law tail (use a bigger corpus, a lower order or a smaller min_tail)")
    # Candidate tails start at the candidate value itself (xmin = values[i]).
    xmins = values[cand]
    alphas = _mle_alpha(xmins, n_ge[cand], slog_ge[cand])
    ks = _ks_distances(values, mult, cand, alphas)
    best = int(np.argmin(ks))  # ties: the smallest xmin (most data)
    a, q, n = float(alphas[best]), float(xmins[best]), float(n_ge[cand[best]])
    z0, z1, z2 = (float(z[0]) for z in _hurwitz(np.array([a]), np.array([q]), 2))
    var_log = z2 / z0 - (z1 / z0) ** 2  # Fisher information per observation
    se_freq = 1.0 / math.sqrt(n * var_log)  # Clauset et al. eq. 3.6
    alpha = 1.0 / (a - 1.0)
    c = alpha * math.log(n / ((a - 1.0) * z0))
    n_tail = int(n)
    if n_tail < MIN_POINTS:
        raise NotFittable(order, f"the tail above xmin={_as_int(q)} holds {n_tail} n-grams, need at least "
                                 f"{MIN_POINTS}")
    return ZipfFit(method="mle", alpha=alpha, c=c, alpha_freq=a, rank_min=1, rank_max=n_tail,
                   n_points=n_tail, ks=float(ks[best]), xmin=_as_int(q), alpha_se=se_freq / (a - 1.0) ** 2,
                   alpha_freq_se=se_freq, **common)


# ---- Heaps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeapsFit:
    """A fitted Heaps law ``V(N) = k * N^beta`` with the growth curve it was fitted on."""

    k: float  # multiplier K
    beta: float  # exponent beta
    r2: float  # coefficient of determination of log V on log N over the window
    n_min: int  # first N of the fitted window
    n_max: int  # last N (= tokens)
    n_points: int  # grid points fitted
    tokens: int  # tokens read (after exclusions)
    types: int  # distinct tokens at the end, V(tokens)
    n: np.ndarray = field(repr=False, compare=False)  # (P,) int64 sampled token counts N (geometric grid)
    v: np.ndarray = field(repr=False, compare=False)  # (P,) int64 vocabulary size V(N) at those N

    def predict(self, n) -> np.ndarray:
        return self.k * np.asarray(n, np.float64) ** self.beta

    def to_dict(self) -> dict:
        return {"k": self.k, "beta": self.beta, "r2": self.r2, "n_min": self.n_min, "n_max": self.n_max,
                "n_points": self.n_points, "tokens": self.tokens, "types": self.types}


def vocabulary_growth(tokens) -> np.ndarray:
    """(N,) int64: V after each of the first 1..N tokens (exact, vectorised)."""
    tokens = np.asarray(tokens)
    if tokens.size == 0:
        return np.zeros(0, np.int64)
    _, first = np.unique(tokens, return_index=True)
    new = np.zeros(tokens.size, np.int64)
    new[first] = 1
    return np.cumsum(new)


def fit_heaps(data, *, n_min: int = 100, points: int = 200, exclude_boundaries: bool = True) -> HeapsFit:
    """Fit Heaps' law ``V(N) = K N^beta`` to the vocabulary growth of a token sequence.

    ``data``: a :class:`~ngramkit.stream.Stream` (its ``</s>`` tokens are
    dropped when ``exclude_boundaries``) or a 1-D array of token ids or
    strings in reading order. The growth curve is sampled at ``points``
    geometrically spaced N (plus the last N) and fitted by least squares of
    ``log V`` on ``log N`` for ``N >= n_min``.

    >>> fit = fit_heaps(np.arange(1000))          # every token new: V = N
    >>> round(fit.k, 6), round(fit.beta, 6)
    (1.0, 1.0)
    """

    if isinstance(data, Stream):
        tokens = data.ids
        if exclude_boundaries:
            tokens = tokens[(tokens != EOS_ID) & (tokens != BOS_ID)]
    else:
        tokens = np.asarray(data)
        if tokens.ndim != 1:
            raise NgramkitError(f"fit_heaps needs a Stream or a 1-D token array, got shape {tokens.shape}")
    for name, value, low in (("n_min", n_min, 1), ("points", points, MIN_POINTS)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise NgramkitError(f"{name} must be an integer >= {low}, got {value!r}")
    total = int(tokens.size)
    growth = vocabulary_growth(tokens)  # (N,)
    if total == 0:
        raise NgramkitError("no tokens: nothing to fit Heaps' law to")
    grid = np.unique(np.concatenate([np.round(np.geomspace(1, total, points)), [total]]).astype(np.int64))
    v = growth[grid - 1]
    win = grid >= n_min
    if win.sum() < MIN_POINTS:
        raise NgramkitError(
            f"only {total} tokens: Heaps' law needs at least {MIN_POINTS} grid points with N >= n_min={n_min} "
            "(use a bigger corpus or a smaller n_min)"
        )
    x, y = np.log(grid[win].astype(np.float64)), np.log(v[win].astype(np.float64))
    xm, ym = x.mean(), y.mean()
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    intercept = ym - slope * xm
    syy = float(((y - ym) ** 2).sum())
    r2 = 1.0 - float(((y - intercept - slope * x) ** 2).sum()) / syy if syy > 0 else 1.0
    return HeapsFit(k=float(math.exp(intercept)), beta=slope, r2=r2, n_min=int(grid[win][0]), n_max=total,
                    n_points=int(win.sum()), tokens=total, types=int(growth[-1]), n=grid, v=v)
