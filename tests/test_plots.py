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
