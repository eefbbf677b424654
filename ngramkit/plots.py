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

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import NgramkitError
from .fileio import PLOT_SUFFIXES, atomic_path, check_output_path

__all__ = ["FORMATS", "check_figure_path", "new_figure", "plot_heaps", "plot_zipf", "save_figure", "style_axes"]

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


def plot_zipf(
    counts_or_fits,
    orders: Sequence[int] = (1, 2, 3),
    *,
    method: str = "ols",
    path: str | os.PathLike | None = None,
    corpus: str | None = None,
    exclude_boundaries: bool = True,
    **fit_options,
):
    """Rank-frequency curves of several n-gram orders on log-log axes, each with its fitted Zipf line.

    ``counts_or_fits``: an :class:`~ngramkit.counts.NGramCounts` (fitted here
    with ``method`` and ``fit_options`` for each of ``orders``), a mapping
    ``order -> 1-D frequency array``, or a sequence of
    :class:`~ngramkit.zipf.ZipfFit` (which carry their data; ``orders`` is
    then ignored, and several fits of one order share one data curve).
    Returns the Figure; saves it when ``path`` is given (checked first).

    Lines carry ``gid`` ``"zipf-data-<order>"`` and
    ``"zipf-fit-<order>-<method>"`` so callers and tests can find them.
    """
    from .zipf import ZipfFit, fit_zipf

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
        r = np.geomspace(fit.rank_min, fit.rank_max, 50)
        # Black fit line over its window; colour-coded end markers tie it to its data curve.
        (line,) = ax.plot(r, fit.predict(r), color="black", linestyle=fit_styles[fit.method], linewidth=1.6,
                          marker="o", markevery=[0, r.size - 1], markersize=5, markerfacecolor=color,
                          markeredgecolor="black", markeredgewidth=0.8, gid=f"zipf-fit-{fit.order}-{fit.method}")
        groups[fit.order].append((line, _fit_label(fit), _fit_label(fit, compact=True)))
    excluded = any(f.exclude_boundaries for f in fits)
    style_axes(ax, title=f"Zipf's law: rank–frequency of n-grams in {corpus or 'corpus'}",
               xlabel="rank r (most frequent = 1)", ylabel="frequency n(r)")
    ax.set_xlim(left=0.8)
    entries = [e for group in groups.values() for e in group]
    handles, labels, compact = (list(t) for t in zip(*entries))
    for line, label in zip(handles, labels):
        line.set_label(label)
    title = r"fits of $\log n(r) = -\alpha \log r + c$" + ("   (<s>, </s> excluded)" if excluded else "")
    place_legend(fig, ax, handles, labels, compact, title=title, ncols=min(len(groups), 3))
    return _finish(fig, path)


# ---- Heaps ------------------------------------------------------------------------------------


def plot_heaps(
    data_or_fit,
    *,
    path: str | os.PathLike | None = None,
    corpus: str | None = None,
    **fit_options,
):
    """Vocabulary growth V(N) on log-log axes with the fitted Heaps law ``V = K N^beta``.

    ``data_or_fit``: a :class:`~ngramkit.zipf.HeapsFit` or anything
    :func:`~ngramkit.zipf.fit_heaps` accepts (a Stream, a token array).
    Returns the Figure; saves it when ``path`` is given (checked first).
    Lines carry ``gid`` ``"heaps-data"`` and ``"heaps-fit"``.
    """
    from .zipf import HeapsFit, fit_heaps

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
    style_axes(ax, title=f"Heaps' law: vocabulary growth in {corpus or 'corpus'}",
               xlabel="tokens read N", ylabel="distinct tokens V(N)")
    handles = ax.get_lines()
    labels = [h.get_label() for h in handles]
    place_legend(fig, ax, handles, labels, labels, loc="upper left")
    return _finish(fig, path)


# ---- comparison report ----------------------------------------------------------------------


def plot_compare(
    labels: Sequence[str],
    test_ppls: Sequence[float],
    *,
    curves: Mapping[str, Sequence[float]] | None = None,
    references: Mapping[str, float] | None = None,
    kinds: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    title: str = "n-gram models vs RNN",
):
    """The figure of ``ngramkit compare``: test perplexity bars and RNN learning curves.

    Left: one bar per report row (``labels``, ``test_ppls``; log scale when
    they span more than a factor of 10), coloured by ``kinds`` ("ngram",
    "rnn" or "mix" per label, guessed from the labels when omitted). Right,
    when ``curves`` {RNN label: per-epoch validation perplexities} is not
    empty: the learning curves, with ``references`` {n-gram label:
    validation perplexity} as dashed horizontal lines. Returns the Figure;
    saves it when ``path`` is given (checked first).

    Artists carry ``gid`` ``"compare-bar-<label>"``, ``"compare-curve-<label>"``
    and ``"compare-ref-<label>"`` so callers and tests can find them.
    """
    import math

    import matplotlib

    if path is not None:
        check_figure_path(path)
    labels = [str(lab) for lab in labels]
    values = [math.nan if v is None else float(v) for v in test_ppls]
    if len(values) != len(labels):
        raise NgramkitError(f"plot_compare: {len(labels)} labels but {len(values)} perplexities")
    if kinds is None:
        kinds = ["mix" if "+" in lab else "rnn" if lab.split(":")[0] in ("rnn", "gru", "lstm") else "ngram"
                 for lab in labels]
    curves = {str(k): [float(y) for y in v] for k, v in (curves or {}).items() if len(v)}
    refs = sorted((float(v), str(k)) for k, v in (references or {}).items()
                  if v is not None and math.isfinite(float(v)))
    colours = {"ngram": "#4C72B0", "rnn": "#DD8452", "mix": "#55A868"}
    names = {"ngram": "n-gram", "rnn": "RNN", "mix": "interpolated"}

    from matplotlib.figure import Figure

    ncols = 2 if curves else 1
    fig = Figure(figsize=(6.2 * ncols + 0.8, 5.2), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]

    ax = axes[0]
    finite = [v for v in values if math.isfinite(v) and v > 0]
    log = bool(finite) and max(finite) / min(finite) > 10
    for i, (label, v, kind) in enumerate(zip(labels, values, kinds)):
        height = v if math.isfinite(v) else 0.0
        ax.bar(i, height, color=colours.get(kind, "0.5"), edgecolor="black", linewidth=0.6, gid=f"compare-bar-{label}",
               label=names.get(kind, kind))
        ax.annotate(f"{v:,.1f}" if math.isfinite(v) else "inf", (i, height if height > 0 else 1.0),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=8)
    if log:
        ax.set_yscale("log")
    if finite:
        ax.set_ylim(bottom=min(finite) / 1.5 if log else 0, top=max(finite) * (1.8 if log else 1.12))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=TICK_SIZE)
    handles, seen = [], set()
    for h, kind in zip(ax.patches, kinds):
        if kind not in seen:
            seen.add(kind)
            handles.append(h)
    ax.legend(handles, [names.get(k, k) for k in dict.fromkeys(kinds)], fontsize=LEGEND_SIZE, loc="upper right")
    ax.set_title("test perplexity per model (lower is better)", fontsize=TITLE_SIZE)
    ax.set_ylabel("test perplexity", fontsize=LABEL_SIZE)
    ax.tick_params(axis="y", which="both", labelsize=TICK_SIZE)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, axis="y", which="major", color="0.85", linewidth=0.8)
    ax.set_axisbelow(True)

    if curves:
        ax = axes[1]
        longest = max(len(ys) for ys in curves.values())
        for j, (label, ys) in enumerate(curves.items()):
            ax.plot(range(1, len(ys) + 1), ys, marker="o", linewidth=2.0, color=f"C{1 + j}",
                    label=f"{label}: validation", gid=f"compare-curve-{label}")
        # Zoom on the curves: references far above them stay in the legend, marked "off scale".
        ys_all = [y for ys in curves.values() for y in ys if math.isfinite(y) and y > 0]
        top = 1.15 * max(ys_all) if ys_all else None
        low = min(ys_all + [v for v, _ in refs]) if ys_all else None
        cmap = matplotlib.colormaps["Blues"]
        for i, (v, label) in enumerate(refs):
            shade = 0.95 - 0.55 * i / max(len(refs) - 1, 1)
            off = top is not None and v > top
            ax.axhline(v, linestyle="--", linewidth=1.2, color=cmap(shade), gid=f"compare-ref-{label}",
                       label=f"{label}: {v:,.1f}" + (" (off scale)" if off else ""))
        if top is not None:
            ax.set_ylim(low / 1.08, top)
        ax.set_xlim(0.5, longest + 0.5)
        step = max(1, math.ceil(longest / 15))
        ax.set_xticks(range(1, longest + 1, step))
        ax.set_title("RNN learning curve vs n-gram models", fontsize=TITLE_SIZE)
        ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel("validation perplexity", fontsize=LABEL_SIZE)
        ax.tick_params(which="both", labelsize=TICK_SIZE)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, which="major", color="0.85", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.legend(fontsize=LEGEND_SIZE - 1, loc="best", frameon=True, framealpha=0.92, edgecolor="0.8")
    fig.suptitle(title, fontsize=TITLE_SIZE + 1)
    return _finish(fig, path)
