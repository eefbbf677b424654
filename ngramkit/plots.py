"""Report-quality figures: Zipf rank-frequency plots, Heaps growth curves.

Input: counts / fits from :mod:`ngramkit.zipf` (and, later, comparison
results). Output: a :class:`matplotlib.figure.Figure`, saved to ``path`` when
one is given (``.png``, ``.svg`` or ``.pdf``, chosen by the extension, written
atomically through :mod:`ngramkit.fileio`).

Headless by construction: this is the only module that imports matplotlib,
always lazily inside functions, and it never imports ``pyplot``. Figures are
built with the object-oriented API (``matplotlib.figure.Figure``) and
rendered by the non-interactive Agg/SVG/PDF canvases, so no display, no GUI
backend and no global ``pyplot`` state (an interactive session keeps its own
backend; figures are not leaked in pyplot's figure manager).

Structure: ``check_figure_path`` (validate a destination before any work),
``save_figure`` (atomic write by extension), ``new_figure`` / ``style_axes``
(shared look), then one ``plot_*`` function per figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import NgramkitError
from .fileio import PLOT_SUFFIXES, atomic_path, check_output_path
from .zipf import HeapsFit, ZipfFit, fit_heaps, fit_zipf

__all__ = ["FORMATS", "check_figure_path", "new_figure", "plot_compare", "plot_heaps", "plot_zipf", "row_kind",
           "fit_line_ranks",
           "save_figure", "style_axes"]

FORMATS = {suffix: suffix[1:] for suffix in PLOT_SUFFIXES}  # extension -> matplotlib format: png, svg, pdf
DPI = 150  # raster resolution for .png
FIGSIZE = (7.5, 5.2)  # inches: readable at report column width
_ORDER_NAMES = {1: "unigrams", 2: "bigrams", 3: "trigrams"}
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 13, 12, 10, 9.5  # points
# Save-time settings, applied through rc_context around savefig, never globally.
_SAVE_RC = {
    "svg.fonttype": "none",  # keep text as text in SVG (small, searchable)
    "pdf.fonttype": 42,  # embed TrueType in PDF
}


# ---- shared helpers -------------------------------------------------------------------------


def check_figure_path(path: str | os.PathLike, what: str = "") -> tuple[Path, str]:
    """Validate a figure destination: known extension and writable directory. Returns (path, format).

    Call it before computing or drawing anything, so a bad ``--plot`` fails
    fast and leaves nothing behind. ``what`` (an option name) starts the
    error message.
    """
    path = check_output_path(path, what, tuple(FORMATS), kind="figure")
    return path, FORMATS[path.suffix.lower()]


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` in the format its extension names, atomically. Returns the path."""
    path, fmt = check_figure_path(path)
    import matplotlib

    with atomic_path(path) as tmp, matplotlib.rc_context(_SAVE_RC):
        try:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=_metadata(fmt))
        except OSError as exc:
            raise NgramkitError(f"{path}: cannot write figure ({exc.strerror or exc})") from None
    return path


def _metadata(fmt: str) -> dict:
    # Deterministic files: no creation date (PDF/SVG embed one by default).
    if fmt == "pdf":
        return {"Creator": "ngramkit", "CreationDate": None}
    if fmt == "svg":
        return {"Creator": "ngramkit", "Date": None}
    return {"Software": "ngramkit"}


def new_figure(figsize=FIGSIZE):
    """A fresh headless Figure with one Axes and ngramkit's style: returns (fig, ax)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    return fig, ax


def style_axes(ax, *, title: str, xlabel: str, ylabel: str, loglog: bool = True) -> None:
    """Common look: labels, title, log axes, a light grid (sizes set explicitly, not via global rcParams)."""
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_title(title, fontsize=TITLE_SIZE)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(which="both", labelsize=TICK_SIZE)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, which="major", color="0.85", linewidth=0.8)
    ax.grid(True, which="minor", color="0.93", linewidth=0.5)
    ax.set_axisbelow(True)


def _finish(fig, path) -> object:
    if path is not None:
        save_figure(fig, path)
    return fig


def order_name(order: int) -> str:
    return _ORDER_NAMES.get(order, f"{order}-grams")


def _fmt_int(n: int) -> str:
    return f"{n:,}"


# ---- Zipf -------------------------------------------------------------------------------------


def _step_points(ranked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rank-frequency step curve with only its corners: first and last rank of each frequency.

    Exact on the plot, but 2 * (distinct frequencies) points instead of one
    per n-gram (PTB trigrams: ~500 points instead of 586k).
    """
    m = ranked.size
    change = np.flatnonzero(np.diff(ranked)) + 1  # first index of each new frequency
    first = np.concatenate([[0], change])
    last = np.concatenate([change - 1, [m - 1]])
    idx = np.stack([first, last], axis=1).ravel()  # (2U,)
    return idx + 1.0, ranked[idx].astype(np.float64)


def _fit_label(fit, *, compact: bool = False) -> str:
    if fit.method == "ols":
        label = f"OLS: α = {fit.alpha:.3f}, R² = {fit.r2:.3f}"
        return label if compact else f"{label} (ranks {fit.rank_min}–{_fmt_int(fit.rank_max)})"
    label = f"MLE: α = {fit.alpha:.3f} ± {fit.alpha_se:.3f}, KS = {fit.ks:.3f}"
    return label if compact else f"{label} (n ≥ {fit.xmin}, ranks ≤ {_fmt_int(fit.rank_max)})"


def _legend_overlaps(fig, legend, lines) -> bool:
    """True if any of ``lines`` passes under the legend box (layout computed without rendering)."""
    fig.draw_without_rendering()
    box = legend.get_window_extent()
    for line in lines:
        path = line.get_transform().transform_path(line.get_path())  # display coordinates
        if path.intersects_bbox(box, filled=False) or box.count_contains(path.vertices):
            return True
    return False


def place_legend(fig, ax, handles, labels, compact_labels, *, title=None, ncols: int = 1, loc="upper right"):
    """Legend inside the axes at ``loc`` if it hides no line; otherwise below the axes, in ``ncols`` columns."""
    legend = ax.legend(handles, labels, loc=loc, frameon=True, framealpha=0.92, edgecolor="0.8",
                       fontsize=LEGEND_SIZE, title=title, title_fontsize=LEGEND_SIZE)
    if not _legend_overlaps(fig, legend, ax.get_lines()):
        return legend
    legend.remove()
    rows = -(-len(handles) // ncols)
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + 0.22 * rows + 0.3)
    legend = fig.legend(handles, compact_labels, loc="outside lower center", ncols=ncols, frameon=False,
                        fontsize=LEGEND_SIZE, title=title, title_fontsize=LEGEND_SIZE, columnspacing=1.5)
    fig.draw_without_rendering()
    needed = legend.get_window_extent().width / fig.dpi + 0.6  # inches, with a margin
    if needed > width:
        fig.set_size_inches(needed, fig.get_size_inches()[1])
    return legend


def fit_line_ranks(fit) -> tuple[float, float]:
    """The rank span over which a fit's line is drawn: (first rank, last rank).

    OLS: its rank window ``rank_min..rank_max``. MLE: the frequencies it
    describes, from ``xmin`` (the tail's lower end) up to the largest
    observed frequency, mapped to ranks through the fitted law
    ``n = exp(c) r^-alpha`` and kept within ranks ``1..rank_max``. So the
    line starts at frequency ``xmin`` and never rises above the data's
    largest frequency: the tail fit is not extrapolated to a rank-1
    frequency the corpus does not have.
    """
    if fit.method != "mle" or fit.xmin is None:
        return float(fit.rank_min), float(fit.rank_max)

    def rank_of(freq: float) -> float:
        return float(np.exp((fit.c - np.log(freq)) / fit.alpha))

    top = float(fit.ranked[0]) if fit.ranked is not None and fit.ranked.size else float(fit.predict(1.0)[()])
    last = min(rank_of(fit.xmin), float(fit.rank_max))
    first = min(max(rank_of(top), 1.0), last)
    return first, last


def plot_zipf(
    counts_or_fits,
    orders: Sequence[int] = (1, 2, 3),
    *,
    method: str = "ols",
    path: str | os.PathLike | None = None,
    corpus: str | None = None,
    exclude_boundaries: bool = True,
    title: str | None = None,
    **fit_options,
):
    """Rank-frequency curves of several n-gram orders on log-log axes, each with its fitted Zipf line.

    ``counts_or_fits``: an :class:`~ngramkit.counts.NGramCounts` (fitted here
    with ``method`` and ``fit_options`` for each of ``orders``), a mapping
    ``order -> 1-D frequency array``, or a sequence of
    :class:`~ngramkit.zipf.ZipfFit` (which carry their data; ``orders`` is
    then ignored, and several fits of one order share one data curve).
    ``title`` replaces the default title. Returns the Figure; saves it when
    ``path`` is given (checked first). Each fit's line spans
    :func:`fit_line_ranks` (an MLE line starts at frequency ``xmin``).

    Lines carry ``gid`` ``"zipf-data-<order>"`` and
    ``"zipf-fit-<order>-<method>"`` so callers and tests can find them.
    """

    if path is not None:
        check_figure_path(path)
    if isinstance(counts_or_fits, ZipfFit):
        counts_or_fits = [counts_or_fits]
    if isinstance(counts_or_fits, Sequence) and counts_or_fits and all(
        isinstance(f, ZipfFit) for f in counts_or_fits
    ):
        fits = list(counts_or_fits)
    else:
        orders = list(orders)
        if not orders:
            raise NgramkitError("orders: give at least one n-gram order to plot")
        if isinstance(counts_or_fits, Mapping):
            missing = [k for k in orders if k not in counts_or_fits]
            if missing:
                raise NgramkitError(f"no frequencies given for order(s) {', '.join(map(str, missing))}")
            fits = [fit_zipf(counts_or_fits[k], k, method, **fit_options) for k in orders]
        else:
            fits = [fit_zipf(counts_or_fits, k, method, exclude_boundaries=exclude_boundaries, **fit_options)
                    for k in orders]

    fig, ax = new_figure()
    colors = [f"C{i}" for i in range(10)]
    fit_styles = {"ols": "--", "mle": ":"}
    seen: dict[int, str] = {}
    groups: dict[int, list] = {}  # order -> [(line, label, compact label), ...] for the legend
    for fit in fits:
        if fit.order not in seen:
            color = colors[len(seen) % len(colors)]
            seen[fit.order] = color
            x, y = _step_points(fit.ranked)
            label = f"{order_name(fit.order)} ({_fmt_int(fit.distinct)} distinct)"
            (line,) = ax.plot(x, y, color=color, linewidth=1.8, alpha=0.9, gid=f"zipf-data-{fit.order}")
            groups[fit.order] = [(line, label, label)]
        color = seen[fit.order]
        r = np.geomspace(*fit_line_ranks(fit), 50)
        # Black fit line over its window; colour-coded end markers tie it to its data curve.
        (line,) = ax.plot(r, fit.predict(r), color="black", linestyle=fit_styles[fit.method], linewidth=1.6,
                          marker="o", markevery=[0, r.size - 1], markersize=5, markerfacecolor=color,
                          markeredgecolor="black", markeredgewidth=0.8, gid=f"zipf-fit-{fit.order}-{fit.method}")
        groups[fit.order].append((line, _fit_label(fit), _fit_label(fit, compact=True)))
    excluded = any(f.exclude_boundaries for f in fits)
    style_axes(ax, title=title or f"Zipf's law: rank–frequency of n-grams in {corpus or 'corpus'}",
               xlabel="rank r (most frequent = 1)", ylabel="frequency n(r)")
    ax.set_xlim(left=0.8)
    entries = [e for group in groups.values() for e in group]
    handles, labels, compact = (list(t) for t in zip(*entries))
    for line, label in zip(handles, labels):
        line.set_label(label)
    legend_title = r"fits of $\log n(r) = -\alpha \log r + c$" + ("   (<s>, </s> excluded)" if excluded else "")
    place_legend(fig, ax, handles, labels, compact, title=legend_title, ncols=min(len(groups), 3))
    return _finish(fig, path)


# ---- Heaps ------------------------------------------------------------------------------------


def plot_heaps(
    data_or_fit,
    *,
    path: str | os.PathLike | None = None,
    corpus: str | None = None,
    title: str | None = None,
    **fit_options,
):
    """Vocabulary growth V(N) on log-log axes with the fitted Heaps law ``V = K N^beta``.

    ``data_or_fit``: a :class:`~ngramkit.zipf.HeapsFit` or anything
    :func:`~ngramkit.zipf.fit_heaps` accepts (a Stream, a token array).
    ``title`` replaces the default title. Returns the Figure; saves it when ``path`` is given (checked first).
    Lines carry ``gid`` ``"heaps-data"`` and ``"heaps-fit"``.
    """

    if path is not None:
        check_figure_path(path)
    fit = data_or_fit if isinstance(data_or_fit, HeapsFit) else fit_heaps(data_or_fit, **fit_options)

    fig, ax = new_figure()
    ax.plot(fit.n, fit.v, color="C0", linewidth=2.0,
            label=f"vocabulary size ({_fmt_int(fit.types)} types in {_fmt_int(fit.tokens)} tokens)",
            gid="heaps-data")
    n = np.geomspace(fit.n_min, fit.n_max, 50)
    ax.plot(n, fit.predict(n), color="black", linestyle="--", linewidth=1.6,
            label=f"Heaps fit: V = {fit.k:.2f} · N$^{{{fit.beta:.3f}}}$, R² = {fit.r2:.3f} (N ≥ {_fmt_int(fit.n_min)})",
            gid="heaps-fit")
    style_axes(ax, title=title or f"Heaps' law: vocabulary growth in {corpus or 'corpus'}",
               xlabel="tokens read N", ylabel="distinct tokens V(N)")
    handles = ax.get_lines()
    labels = [h.get_label() for h in handles]
    place_legend(fig, ax, handles, labels, labels, loc="upper left")
    return _finish(fig, path)


# ---- comparison report ----------------------------------------------------------------------

KIND_NAMES = {"ngram": "n-gram", "rnn": "RNN", "mix": "interpolated"}
KIND_COLOURS = {"ngram": "#4C72B0", "rnn": "#DD8452", "mix": "#55A868"}
KIND_MARKERS = {"ngram": "o", "rnn": "s", "mix": "D"}
# Reference lines on the training-curve panel: one (colour, dash) pair each, never repeated
# before len(_REF_STYLES) lines; the interpolated model keeps its kind's green.
_REF_COLOURS = ("#4C72B0", "#8172B3", "#937860", "#8C8C8C", "#DA8BC3", "#64B5CD", "#CCB974")
_REF_DASHES = ("--", "-.", ":", (0, (6, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2, 2, 2)))
_RNN_COLOURS = ("#DD8452", "#C44E52", "#8C613C", "#B07AA1")
_RNN_NAMES = ("rnn", "gru", "lstm")


def row_kind(label: str) -> str:
    """"mix" for an interpolation row (``rnn+mkn:3``), "rnn" for rnn/gru/lstm rows, else "ngram"."""
    return "mix" if "+" in label else "rnn" if label.split(":")[0] in _RNN_NAMES else "ngram"


def _ppl_text(value: float) -> str:
    """A perplexity for a label: 2 decimals below 10 (character level), else 1."""
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _tick_below(x: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is <= x (x > 0)."""

    power = 10.0 ** math.floor(math.log10(x))
    return max(m * power for m in (1.0, 2.0, 5.0) if m * power <= x * (1 + 1e-12))


def _plain_number(value, _pos=None) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.3g}"


def _curve_values(values) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def plot_compare(
    labels: Sequence[str],
    test_ppls: Sequence[float],
    *,
    curves: Mapping[str, Sequence[float]] | None = None,
    train_curves: Mapping[str, Sequence[float]] | None = None,
    references: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    title: str | None = None,
):
    """The figure of ``ngramkit compare``: a dot plot of test perplexity and the RNN training curves.

    Left: a Cleveland dot plot, one marker per report row (``labels``,
    ``test_ppls``, every row including the interpolated one), sorted with the
    best (lowest) at the top, the value printed beside each marker. Markers
    encode position only (no bars: a bar's length is not proportional to
    perplexity on a log axis); the axis is logarithmic when the values span
    more than a factor of 10, else linear. Colour and marker shape by
    ``kinds`` ("ngram", "rnn" or "mix" per label, guessed from the labels
    when omitted, see :func:`row_kind`). A non-finite perplexity is a ``>``
    marker at the right edge labelled "inf".

    Right, when ``curves`` {RNN label: per-epoch validation perplexities} is
    not empty: the training curves, validation (solid, filled markers) and,
    from ``train_curves`` {RNN label: per-epoch training perplexities},
    training (dashed, hollow markers), with ``references`` {label:
    validation perplexity} (n-gram and interpolated rows) as horizontal lines,
    each with its own colour and dash pattern and a legend entry;
    references far above the curves are listed in the legend as off scale.
    Without curves the figure has the left panel only.

    ``title``: the figure's title (default "n-gram models vs RNN").
    Returns the Figure; saves it when ``path`` is given (checked first).
    Artists carry ``gid`` ``"compare-point-<label>"``, ``"compare-valid-<label>"``,
    ``"compare-train-<label>"`` and ``"compare-ref-<label>"`` so callers and
    tests can find them.
    """

    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if path is not None:
        check_figure_path(path)
    labels = [str(lab) for lab in labels]
    values = [math.nan if v is None else float(v) for v in test_ppls]
    if len(values) != len(labels):
        raise NgramkitError(f"plot_compare: {len(labels)} labels but {len(values)} perplexities")
    kinds = [row_kind(lab) for lab in labels] if kinds is None else list(kinds)
    if len(kinds) != len(labels):
        raise NgramkitError(f"plot_compare: {len(labels)} labels but {len(kinds)} kinds")
    curves = {str(k): _curve_values(v) for k, v in (curves or {}).items() if len(v)}
    train_curves = {str(k): _curve_values(v) for k, v in (train_curves or {}).items() if len(v)}
    refs = sorted((float(v), str(k)) for k, v in (references or {}).items()
                  if v is not None and math.isfinite(float(v)))

    panels = 2 if curves else 1
    fig = Figure(figsize=(6.0 + 7.4 * (panels - 1), 0.9 + max(4.3, 0.42 * len(labels) + 1.6)),
                 layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False, width_ratios=[6.0, 7.4][:panels])[0]

    # ---- left: dot plot of test perplexity, best at the top
    ax = axes[0]
    finite = [v for v in values if math.isfinite(v) and v > 0]
    log = bool(finite) and max(finite) / min(finite) > 10
    order = sorted(range(len(labels)), key=lambda i: (not math.isfinite(values[i]), values[i]))
    n = len(order)
    if finite:
        lo, hi = min(finite), max(finite)
        if log:
            ax.set_xscale("log")
            # From the 1-2-5 tick below the best value (so it has a labelled tick to its left) to room for
            # the value printed right of the last marker.
            ax.set_xlim(_tick_below(lo / 1.12), hi * 1.9)
        else:
            pad = (hi - lo) or hi
            ax.set_xlim(max(lo - 0.12 * pad, 0.0), hi + 0.25 * pad)
    edge = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for pos, i in enumerate(order):
        y = n - 1 - pos  # the best row at the top
        label, v, kind = labels[i], values[i], kinds[i]
        style = dict(color=KIND_COLOURS.get(kind, "0.4"), markeredgecolor="black", markeredgewidth=0.7,
                     markersize=8, linestyle="none", gid=f"compare-point-{label}", clip_on=False, zorder=3)
        if math.isfinite(v) and v > 0:
            ax.plot([v], [y], marker=KIND_MARKERS.get(kind, "o"), **style)
            ax.annotate(_ppl_text(v), (v, y), xytext=(7, 0), textcoords="offset points", ha="left", va="center",
                        fontsize=TICK_SIZE - 0.5)
        else:
            ax.plot([1.0], [y], marker=">", transform=edge, **style)
            ax.annotate("inf", (1.0, y), xycoords=edge, xytext=(-10, 0), textcoords="offset points", ha="right",
                        va="center", fontsize=TICK_SIZE - 0.5)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks(range(n))
    ax.set_yticklabels([labels[i] for i in reversed(order)], fontsize=TICK_SIZE)
    if log:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(_plain_number))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("test perplexity" + (" (log scale)" if log else ""), fontsize=LABEL_SIZE)
    ax.set_title("test perplexity per model (lower is better)", fontsize=TITLE_SIZE - 1)
    ax.tick_params(which="both", labelsize=TICK_SIZE)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, axis="y", color="0.75", linestyle=":", linewidth=0.9)  # dotted guides to each label
    ax.grid(True, axis="x", which="major", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    present = list(dict.fromkeys(kinds))
    ax.legend([Line2D([], [], marker=KIND_MARKERS.get(k, "o"), color=KIND_COLOURS.get(k, "0.4"), linestyle="none",
                      markeredgecolor="black", markeredgewidth=0.7, markersize=7) for k in present],
              [KIND_NAMES.get(k, k) for k in present], loc="upper right", fontsize=LEGEND_SIZE, frameon=True,
              framealpha=0.92, edgecolor="0.8", handletextpad=0.3)  # sorted: the top rows sit at the left

    # ---- right: the RNN training curves against the other models' validation perplexity
    if curves:
        ax = axes[1]
        longest = max(len(ys) for ys in (*curves.values(), *train_curves.values()))
        drawn: list[float] = []
        for j, (label, ys) in enumerate(curves.items()):
            colour = _RNN_COLOURS[j % len(_RNN_COLOURS)]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", linewidth=2.0, color=colour, markersize=5,
                    label=f"{label}: validation", gid=f"compare-valid-{label}", zorder=2.6)
            drawn += ys
            if label in train_curves:
                ts = train_curves[label]
                # Hollow, see-through markers under the validation curve: equal values stay visible.
                ax.plot(range(1, len(ts) + 1), ts, marker="o", linewidth=1.6, linestyle="--", color=colour,
                        markersize=5.5, markerfacecolor="none", label=f"{label}: training",
                        gid=f"compare-train-{label}")
                drawn += ts
        drawn = [y for y in drawn if math.isfinite(y) and y > 0]
        top = 1.25 * max(drawn) if drawn else math.inf
        shown = [v for v, _ in refs if v <= top]
        low = min(drawn + shown) if drawn or shown else None
        for i, (v, label) in enumerate(refs):
            if v > top:  # far above the curves: listed, not drawn (it would squash them)
                ax.plot([], [], linestyle="none", label=f"{label} (valid {_ppl_text(v)}, above the axis)",
                        gid=f"compare-ref-{label}")
                continue
            mix = row_kind(label) == "mix"
            colour = KIND_COLOURS["mix"] if mix else _REF_COLOURS[i % len(_REF_COLOURS)]
            dash = "-" if mix else _REF_DASHES[i % len(_REF_DASHES)]
            ax.axhline(v, linestyle=dash, linewidth=1.5, color=colour, gid=f"compare-ref-{label}",
                       label=f"{label} (valid {_ppl_text(v)})", zorder=1.5)
        if low is not None:
            high = max(drawn + shown)
            margin = 0.06 * (high - low) or 0.05 * high
            ax.set_ylim(max(low - margin, 0.0), high + margin)
        ax.set_xlim(0.6, longest + 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(longest, 12)))
        ax.set_title("RNN training curve vs the other models", fontsize=TITLE_SIZE - 1)
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel("perplexity", fontsize=LABEL_SIZE)
        ax.tick_params(which="both", labelsize=TICK_SIZE)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, which="major", color="0.88", linewidth=0.8)
        ax.set_axisbelow(True)
        # Outside the axes, so it never covers a curve.
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=LEGEND_SIZE,
                  frameon=False)
    fig.suptitle(title or "n-gram models vs RNN", fontsize=TITLE_SIZE + 1)
    return _finish(fig, path)
