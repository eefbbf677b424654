"""Figures (ngramkit.plots): file formats, contents of the figure objects, failure modes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import ngramkit.plots as plots
from ngramkit import Stream, Vocabulary
from ngramkit.errors import NgramkitError
from ngramkit.plots import check_figure_path, plot_heaps, plot_zipf, save_figure
from ngramkit.zipf import fit_heaps, fit_zipf, rank_frequency

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


def _lines(fig, prefix):
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines()
            if (line.get_gid() or "").startswith(prefix)}


def _is_valid(path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".svg":
        return data.lstrip().startswith(b"<?xml") and b"<svg" in data[:2000] and data.rstrip().endswith(b"</svg>")
    return data.startswith(MAGIC[path.suffix]) and (path.suffix != ".pdf" or data.rstrip().endswith(b"%%EOF"))


def test_zipf_figure_has_one_data_line_and_one_fit_per_order(tm_raw_counts3):
    fig = plot_zipf(tm_raw_counts3, orders=(1, 2, 3), corpus="timemachine")
    (ax,) = fig.axes
    data, fit_lines = _lines(fig, "zipf-data-"), _lines(fig, "zipf-fit-")
    assert sorted(data) == ["zipf-data-1", "zipf-data-2", "zipf-data-3"]
    assert sorted(fit_lines) == ["zipf-fit-1-ols", "zipf-fit-2-ols", "zipf-fit-3-ols"]
    assert len(ax.get_lines()) == 6
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "timemachine" in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    legend = ax.get_legend() or fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    for k in (1, 2, 3):
        fit = fit_zipf(tm_raw_counts3, k)
        # The data line is exactly the rank-frequency step curve (its corners).
        x, y = data[f"zipf-data-{k}"].get_data()
        ranked = rank_frequency(tm_raw_counts3, k)
        assert np.array_equal(ranked[np.asarray(x, int) - 1], y)
        assert x[0] == 1 and x[-1] == ranked.size
        # The fit line is exp(c) r^-alpha over the fitted window, and its alpha is in the legend.
        fx, fy = fit_lines[f"zipf-fit-{k}-ols"].get_data()
        assert fx[0] == pytest.approx(fit.rank_min) and fx[-1] == pytest.approx(fit.rank_max)
        np.testing.assert_allclose(fy, np.exp(fit.c) * np.asarray(fx) ** -fit.alpha, rtol=1e-12)
        assert any(f"α = {fit.alpha:.3f}" in t for t in texts)


def test_zipf_figure_from_fits_of_both_methods(tm_raw_counts3):
    fits = [fit_zipf(tm_raw_counts3, k, m) for k in (1, 2) for m in ("ols", "mle")]
    fig = plot_zipf(fits, corpus="tm")
    assert sorted(_lines(fig, "zipf-data-")) == ["zipf-data-1", "zipf-data-2"]
    assert sorted(_lines(fig, "zipf-fit-")) == ["zipf-fit-1-mle", "zipf-fit-1-ols", "zipf-fit-2-mle", "zipf-fit-2-ols"]
    mle = _lines(fig, "zipf-fit-1-mle")["zipf-fit-1-mle"].get_data()
    assert 1 < mle[0][0] < mle[0][-1] <= fits[1].rank_max


@pytest.mark.parametrize("order", [1, 2, 3])
def test_zipf_mle_line_spans_its_tail_from_xmin(tm_raw_counts3, order):
    # The MLE fits the n-grams seen >= xmin times: its line runs from frequency xmin up to the data's largest
    # frequency (not from rank 1, where the tail law overshoots the head), along exp(c) r^-alpha.
    fit = fit_zipf(tm_raw_counts3, order, "mle")
    ranked = rank_frequency(tm_raw_counts3, order)
    fig = plot_zipf([fit])
    x, y = (np.asarray(v) for v in _lines(fig, "zipf-fit-")[f"zipf-fit-{order}-mle"].get_data())
    np.testing.assert_allclose(y, np.exp(fit.c) * x ** -fit.alpha, rtol=1e-12)
    if np.exp((fit.c - np.log(fit.xmin)) / fit.alpha) <= fit.rank_max:
        assert y.min() == pytest.approx(fit.xmin, rel=1e-9)  # the line starts (low end) at frequency xmin
    else:
        assert x.max() == pytest.approx(fit.rank_max)  # or at the tail's last rank, whichever comes first
    assert y.max() == pytest.approx(min(ranked[0], np.exp(fit.c)), rel=1e-9)  # never above the data's top
    assert x.min() >= 1 and x.max() <= fit.rank_max
    assert y.max() <= ranked[0] * (1 + 1e-9)
    if np.exp(fit.c) > ranked[0]:  # the law overshoots the head: the line does not start at rank 1
        assert x[0] > 1


def test_zipf_mle_line_on_a_known_head(tm_raw_counts3):
    # timemachine unigrams: xmin = 3, and the law puts 2,260 (the top frequency) near rank 2.2, not 1.
    fit = fit_zipf(tm_raw_counts3, 1, "mle")
    ranked = rank_frequency(tm_raw_counts3, 1)
    x, y = _lines(plot_zipf([fit]), "zipf-fit-")["zipf-fit-1-mle"].get_data()
    assert fit.xmin == 3 and y[-1] == pytest.approx(3.0) and y[0] == pytest.approx(ranked[0])
    assert x[0] == pytest.approx(np.exp((fit.c - np.log(ranked[0])) / fit.alpha)) and x[0] > 2
    # OLS lines keep their rank window.
    ols = fit_zipf(tm_raw_counts3, 1, "ols")
    ox, _ = _lines(plot_zipf([ols]), "zipf-fit-")["zipf-fit-1-ols"].get_data()
    assert (ox[0], ox[-1]) == pytest.approx((ols.rank_min, ols.rank_max))


def test_zipf_figure_from_frequency_mapping():
    rng = np.random.default_rng(0)
    freqs = {1: rng.zipf(2.0, 3000), 2: rng.zipf(2.5, 3000)}
    fig = plot_zipf(freqs, orders=(1, 2), method="mle")
    assert sorted(_lines(fig, "zipf-fit-")) == ["zipf-fit-1-mle", "zipf-fit-2-mle"]
    with pytest.raises(NgramkitError, match="order"):
        plot_zipf(freqs, orders=(1, 3))


def test_legend_never_hides_a_line(tm_raw_counts3):
    # Six fits do not fit in a free corner: the legend moves below the axes (outside them).
    fits = [fit_zipf(tm_raw_counts3, k, m) for k in (1, 2, 3) for m in ("ols", "mle")]
    fig = plot_zipf(fits)
    (ax,) = fig.axes
    fig.draw_without_rendering()
    boxes = [legend.get_window_extent() for legend in [ax.get_legend(), *fig.legends] if legend is not None]
    assert len(boxes) == 1
    for line in ax.get_lines():
        path = line.get_transform().transform_path(line.get_path())
        assert not path.intersects_bbox(boxes[0], filled=False)
    assert boxes[0].x0 >= 0 and boxes[0].x1 <= fig.bbox.x1  # not clipped by the figure edge


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_zipf_files_are_valid(tm_raw_counts3, tmp_path, ext):
    path = tmp_path / f"zipf{ext}"
    fig = plot_zipf(tm_raw_counts3, orders=(1, 2), path=path, corpus="timemachine")
    assert path.is_file() and path.stat().st_size > 10_000
    assert _is_valid(path)
    assert fig.axes and sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left
    if ext == ".svg":
        assert "timemachine" in path.read_text()  # text kept as text


def test_heaps_figure(tm_raw_sentences, tmp_path):
    stream = Stream.from_sentences(tm_raw_sentences, Vocabulary.build(tm_raw_sentences))
    fit = fit_heaps(stream)
    path = tmp_path / "heaps.PDF"  # extension matched case-insensitively
    fig = plot_heaps(fit, path=path, corpus="timemachine")
    lines = _lines(fig, "heaps-")
    assert sorted(lines) == ["heaps-data", "heaps-fit"]
    x, y = lines["heaps-data"].get_data()
    assert np.array_equal(x, fit.n) and np.array_equal(y, fit.v)
    fx, fy = lines["heaps-fit"].get_data()
    np.testing.assert_allclose(fy, fit.k * np.asarray(fx) ** fit.beta)
    assert "timemachine" in fig.axes[0].get_title()
    assert path.read_bytes().startswith(MAGIC[".pdf"]) and path.stat().st_size > 5_000
    # From a stream directly.
    assert sorted(_lines(plot_heaps(stream), "heaps-")) == ["heaps-data", "heaps-fit"]


# ---- failure modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zipf.jpg", "zipf", "zipf.png.txt"])
def test_unknown_extension_fails_before_drawing(tm_raw_counts3, tmp_path, monkeypatch, name):
    monkeypatch.setattr(plots, "new_figure", lambda *a, **k: pytest.fail("drew a figure before checking the path"))
    with pytest.raises(NgramkitError, match="unknown figure format") as err:
        plot_zipf(tm_raw_counts3, path=tmp_path / name)
    assert "\n" not in str(err.value) and ".png, .svg, .pdf" in str(err.value)
    assert os.listdir(tmp_path) == []


def test_unwritable_paths_fail_before_drawing(tm_raw_counts3, tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "new_figure", lambda *a, **k: pytest.fail("drew a figure before checking the path"))
    with pytest.raises(NgramkitError, match="does not exist"):
        plot_zipf(tm_raw_counts3, path=tmp_path / "missing" / "zipf.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(NgramkitError, match="is a directory"):
        plot_heaps(np.arange(1000), path=tmp_path / "dir.png")
    assert os.listdir(tmp_path) == ["dir.png"]
    with pytest.raises(NgramkitError, match="unknown figure format"):
        check_figure_path(tmp_path / "x.eps")


def test_failed_save_leaves_no_file(tmp_path):
    fig = plot_heaps(np.arange(1000))

    def broken_savefig(target, **kwargs):
        with open(target, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    fig.savefig = broken_savefig
    with pytest.raises(NgramkitError, match="cannot write figure.*No space left"):
        save_figure(fig, tmp_path / "h.png")
    assert os.listdir(tmp_path) == []


def test_headless_without_pyplot(tmp_path):
    # An unusable interactive backend and no display: plotting must not care (pyplot is never imported).
    code = (
        "import sys, numpy as np\n"
        "import ngramkit.zipf\n"
        "assert 'matplotlib' not in sys.modules, 'ngramkit.zipf imported matplotlib'\n"
        "from ngramkit.plots import plot_zipf\n"
        "assert 'matplotlib' not in sys.modules, 'importing ngramkit.plots imported matplotlib'\n"
        f"plot_zipf({{1: np.random.default_rng(0).zipf(2.0, 2000)}}, orders=(1,), path={str(tmp_path / 'z.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "QtAgg"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)  # import the installed package, not the source tree
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "z.png").read_bytes().startswith(MAGIC[".png"])


# ---- the compare figure ----------------------------------------------------------------------

ROWS = [("laplace:1", 510.0, 500.0), ("laplace:3", 3100.0, 3000.0), ("mkn:3", 155.5, 150.0), ("mkn:5", 150.25, 150.1),
        ("rnn", 171.0, 170.0), ("rnn+mkn:5", 141.0, 140.0)]  # label, test ppl, valid ppl
CURVE = {"rnn": [300.0, 200.0, 170.0]}
TRAIN = {"rnn": [320.0, 180.0, 120.0]}


def _compare_fig(rows=ROWS, curves=CURVE, train=TRAIN, **kw):
    refs = {label: valid for label, _, valid in rows if label not in (curves or {})}
    return plots.plot_compare([r[0] for r in rows], [r[1] for r in rows], curves=curves, train_curves=train,
                              references=refs, **kw)


def _points(ax):
    return {line.get_gid()[len("compare-point-"):]: line for line in ax.get_lines()
            if (line.get_gid() or "").startswith("compare-point-")}


def test_compare_dot_plot_one_marker_per_row_at_its_perplexity():
    fig = _compare_fig()
    ax = fig.axes[0]
    assert not ax.patches  # markers, no bars: no length that a log axis would distort
    points = _points(ax)
    assert sorted(points) == sorted(r[0] for r in ROWS)  # every row, the interpolated one included
    for label, test_ppl, _ in ROWS:
        (x,), (y,) = points[label].get_data()
        assert x == test_ppl and points[label].get_marker() not in ("None", "", None)
    assert points["rnn+mkn:5"].get_marker() == "D" and points["rnn"].get_marker() == "s"
    # Sorted best first: the lower the perplexity, the higher the row; the tick labels name the rows.
    heights = {label: line.get_ydata()[0] for label, line in points.items()}
    assert sorted(heights, key=heights.get, reverse=True) == [r[0] for r in sorted(ROWS, key=lambda r: r[1])]
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert ticks == heights
    # 141 .. 3,100 spans > 10x: log axis (positions only); every value is printed next to its marker.
    assert ax.get_xscale() == "log" and "log scale" in ax.get_xlabel()
    texts = {t.get_text() for t in ax.texts}
    assert {"510.0", "3,100.0", "155.5", "150.2", "171.0", "141.0"} <= texts
    lo, hi = ax.get_xlim()
    assert lo == 100.0 and 3100.0 < hi  # from the 1-2-5 tick below the best value: it has a tick to its left


def test_compare_dot_plot_linear_axis_and_infinite_row():
    rows = [("mkn:3", 155.5, 150.0), ("rnn", 171.0, 170.0), ("mle:2", float("inf"), float("inf"))]
    fig = _compare_fig(rows, curves=None, train=None)
    (ax,) = fig.axes  # no curves: no curve panel
    assert ax.get_xscale() == "linear" and "log" not in ax.get_xlabel()
    points = _points(ax)
    assert points["mkn:3"].get_xdata()[0] == 155.5 and points["rnn"].get_xdata()[0] == 171.0
    lo, hi = ax.get_xlim()
    assert lo <= 155.5 and 171.0 < hi
    inf = points["mle:2"]  # drawn at the right edge (axes coordinates), labelled inf, at the bottom
    assert inf.get_marker() == ">" and inf.get_xdata()[0] == 1.0 and inf.get_ydata()[0] == 0
    assert "inf" in {t.get_text() for t in ax.texts}


def test_compare_reference_lines_are_distinct_and_labelled():
    fig = _compare_fig()
    ax = fig.axes[1]
    refs = {line.get_gid()[len("compare-ref-"):]: line for line in ax.get_lines()
            if (line.get_gid() or "").startswith("compare-ref-")}
    # Every row but the RNN whose curve is drawn: n-grams and the interpolated model.
    assert sorted(refs) == sorted(label for label, _, _ in ROWS if label != "rnn")
    drawn = {label: line for label, line in refs.items() if len(line.get_ydata())}
    assert sorted(drawn) == ["mkn:3", "mkn:5", "rnn+mkn:5"]  # 500 and 3,000 are far above the curves
    assert len({line.get_color() for line in drawn.values()}) == len(drawn)  # distinct colours
    assert len({line.get_linestyle() for line in drawn.values()}) == len(drawn)  # and distinct line styles
    valid = {label: v for label, _, v in ROWS}
    for label, line in drawn.items():
        assert set(line.get_ydata()) == {valid[label]}
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    for label in refs:
        assert any(t.startswith(f"{label} (valid {valid[label]:,.1f}") for t in texts), texts  # all >= 10
    assert sum("above the axis" in t for t in texts) == 2
    # The legend is outside the axes: it covers no curve or line.
    fig.draw_without_rendering()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1


def test_compare_training_curve_panel():
    fig = _compare_fig()
    assert len(fig.axes) == 2
    ax = fig.axes[1]
    lines = {line.get_gid(): line for line in ax.get_lines()}
    x, y = lines["compare-valid-rnn"].get_data()
    assert list(x) == [1, 2, 3] and list(y) == CURVE["rnn"]
    tx, ty = lines["compare-train-rnn"].get_data()
    assert list(tx) == [1, 2, 3] and list(ty) == TRAIN["rnn"]
    assert lines["compare-train-rnn"].get_linestyle() != lines["compare-valid-rnn"].get_linestyle()
    # Equal train and valid values (PTB, epoch 2: 206.1 vs 205.7): the hollow training marker, drawn
    # below, does not hide the validation one.
    assert lines["compare-train-rnn"].get_markerfacecolor() == "none"
    assert lines["compare-valid-rnn"].get_zorder() > lines["compare-train-rnn"].get_zorder()
    lo, hi = ax.get_ylim()
    assert lo < 120.0 and 300.0 < hi  # every curve point is on the axes
    assert ax.get_xlabel() == "epoch"
    # A validation curve without a training curve still gets its panel; no curve at all: one panel.
    fig = _compare_fig(train=None)
    assert "compare-valid-rnn" in {line.get_gid() for line in fig.axes[1].get_lines()}
    assert not any((line.get_gid() or "").startswith("compare-train-") for line in fig.axes[1].get_lines())
    rows = [r for r in ROWS if not r[0].startswith("rnn")]
    fig = _compare_fig(rows, curves=None, train=None)
    assert len(fig.axes) == 1
    assert not any((line.get_gid() or "").startswith(("compare-valid-", "compare-ref-")) for line in fig.axes[0].get_lines())


def test_compare_title_and_kind_legend():
    fig = _compare_fig(title="My corpus: n-grams vs RNN")
    assert fig._suptitle.get_text() == "My corpus: n-grams vs RNN"
    assert _compare_fig()._suptitle.get_text() == "n-gram models vs RNN"
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["n-gram", "RNN", "interpolated"]
    # The kind legend hides no marker and no printed value.
    fig.draw_without_rendering()
    box = legend.get_window_extent()
    for line in _points(fig.axes[0]).values():
        px, py = line.get_transform().transform(np.column_stack(line.get_data()))[0]
        assert not box.contains(px, py)
    for text in fig.axes[0].texts:
        assert not box.overlaps(text.get_window_extent())


def test_compare_figure_errors_and_files(tmp_path, monkeypatch):
    with pytest.raises(NgramkitError, match="3 labels but 2 perplexities"):
        plots.plot_compare(["a", "b", "c"], [1.0, 2.0])
    import matplotlib.figure

    monkeypatch.setattr(matplotlib.figure, "Figure", lambda *a, **k: pytest.fail("drew before checking the path"))
    with pytest.raises(NgramkitError, match="unknown figure format"):
        _compare_fig(path=tmp_path / "c.jpg")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []
    for ext in (".png", ".svg", ".pdf"):
        _compare_fig(path=tmp_path / f"c{ext}", title="Title kept as text")
        assert _is_valid(tmp_path / f"c{ext}")
    assert "Title kept as text" in (tmp_path / "c.svg").read_text()
    assert sorted(os.listdir(tmp_path)) == ["c.pdf", "c.png", "c.svg"]  # no temporary file left


def test_zipf_and_heaps_titles(tm_raw_counts3):
    fig = plot_zipf(tm_raw_counts3, orders=(1,), title="Words of a novel")
    assert fig.axes[0].get_title() == "Words of a novel"
    assert plot_heaps(np.arange(1000), title="Growth").axes[0].get_title() == "Growth"
    assert plot_heaps(np.arange(1000), corpus="x").axes[0].get_title() == "Heaps' law: vocabulary growth in x"


def test_zipf_cli_title(timemachine_path, tmp_path):
    from click.testing import CliRunner

    from ngramkit.cli.zipf import zipf

    plot, heaps = tmp_path / "z.svg", tmp_path / "h.svg"
    result = CliRunner().invoke(zipf, [str(timemachine_path), "--orders", "1", "--plot", str(plot), "--heaps",
                                       str(heaps), "--title", "Zipf and Heaps of TM"])
    assert result.exit_code == 0, result.output
    assert "Zipf and Heaps of TM" in plot.read_text() and "Zipf and Heaps of TM" in heaps.read_text()


# ---- the compare run carries the training curve into its figure -------------------------------


@pytest.fixture(scope="module")
def small_report(tmp_path_factory, timemachine_path):
    from ngramkit.compare import compare

    lines = [line for line in timemachine_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    d = tmp_path_factory.mktemp("plots_cmp")
    for name, part in {"train": lines[2000:2400], "valid": lines[2400:2460], "test": lines[2460:2520]}.items():
        (d / f"{name}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    return compare(train=d / "train.txt", valid=d / "valid.txt", test=d / "test.txt", models="laplace:1,mkn:3,rnn",
                   text_options={"normalize": "d2l"}, epochs=3, seed=5,
                   rnn={"hidden": 12, "softmax": "full", "batch": 16, "bptt": 20})


def test_report_carries_the_training_curve_into_the_figure(small_report, tmp_path):
    report = small_report
    history = report.rnn["rnn"]["history"]
    assert report.train_curves["rnn"] == [e["train_ppl"] for e in history]
    assert report.curves["rnn"] == [e["valid_ppl"] for e in history]
    # The kept model is the best validation epoch: its scored valid perplexity is the curve's minimum.
    assert min(report.curves["rnn"]) == pytest.approx(report.row("rnn").valid_ppl, rel=1e-9)
    labels = [r.label for r in report.rows]
    assert labels[-1].startswith("rnn+") and report.row(labels[-1]).model == "interpolated"
    fig = report.plot(tmp_path / "r.png", title="Small run")
    assert fig._suptitle.get_text() == "Small run"
    assert sorted(_points(fig.axes[0])) == sorted(labels)
    for r in report.rows:
        assert _points(fig.axes[0])[r.label].get_xdata()[0] == r.test_ppl
    lines = {line.get_gid(): line for line in fig.axes[1].get_lines()}
    assert list(lines["compare-train-rnn"].get_ydata()) == report.train_curves["rnn"]
    assert list(lines["compare-valid-rnn"].get_ydata()) == report.curves["rnn"]
    assert f"compare-ref-{labels[-1]}" in lines and "compare-ref-mkn:3" in lines
    assert report.plot()._suptitle.get_text().startswith(report.corpus)
    written = report.save(tmp_path / "out", title="Saved run")
    assert written["compare.png"].read_bytes().startswith(MAGIC[".png"])
    assert sorted(os.listdir(tmp_path)) == ["out", "r.png"]
