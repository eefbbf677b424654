"""ngramkit.compare: spec parsing, interpolation, scoring arithmetic, report outputs, end-to-end runs.

Oracles: hand-expanded specs, a dense brute-force grid for the interpolation
weight, per-token arithmetic written out with math.log/exp, an independent
re-scoring of every model with ngramkit.evaluate, csv/json parsers and the
PNG/SVG/PDF magic bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np
import pytest

from ngramkit.compare import (
    ModelSpec,
    Report,
    Row,
    compare,
    mix_log_probs,
    parse_models,
    tune_weight,
)
from ngramkit.errors import NgramkitError

NAMES = ["laplace", "mkn", "kn", "witten-bell"]


# ---- --models parsing ---------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ("laplace:1-3", [("laplace", 1), ("laplace", 2), ("laplace", 3)]),
    ("mkn:3,mkn:5", [("mkn", 3), ("mkn", 5)]),
    ("mkn:3,5", [("mkn", 3), ("mkn", 5)]),  # a bare order continues the previous n-gram item
    ("mkn", [("mkn", 3)]),  # default order 3
    ("laplace:2, mkn:2 ,laplace:2", [("laplace", 2), ("mkn", 2)]),  # spaces, duplicates dropped
    ("KN:4", [("kn", 4)]),
])
def test_parse_ngram_specs(spec, expected):
    assert [(s.name, s.order) for s in parse_models(spec, NAMES)] == expected


def test_parse_rnn_specs_and_labels():
    specs = parse_models("laplace:1-2,rnn,gru,lstm:200,rnn", NAMES)
    assert [s.label for s in specs] == ["laplace:1", "laplace:2", "rnn", "gru", "lstm:200"]
    assert [s.is_rnn for s in specs] == [False, False, True, True, True]
    assert specs[-1] == ModelSpec("lstm", None, 200)


@pytest.mark.parametrize("spec, fragment", [
    ("laplace:1-3,foo", "'foo'"),
    ("lapalce:3", "'lapalce:3'"),
    ("mkn:x", "bad order in 'mkn:x'"),
    ("mkn:3-1", "1 <= first <= last"),
    ("mkn:0", "1 <= first <= last"),
    ("rnn:abc", "bad hidden size in 'rnn:abc'"),
    ("3,mkn", "needs a model name"),
    ("rnn,5", "needs a model name"),
    ("mkn:3,,rnn", "empty item"),
    ("", "empty model list"),
    ("stupid-backoff:3", "scores, not probabilities"),
])
def test_parse_errors_are_one_line_and_name_the_item(spec, fragment):
    with pytest.raises(NgramkitError) as err:
        parse_models(spec, NAMES)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg
    if "unknown" in msg:
        for name in NAMES + ["rnn", "gru", "lstm"]:
            assert name in msg  # lists the valid names


# ---- interpolation and scoring arithmetic ------------------------------------------------


def test_mix_log_probs_matches_per_token_formula():
    rng = np.random.default_rng(0)
    a, b = np.log(rng.uniform(1e-6, 1, 50)), np.log(rng.uniform(1e-6, 1, 50))
    for w in (0.0, 0.2, 0.5, 0.93, 1.0):
        expected = [math.log(w * math.exp(x) + (1 - w) * math.exp(y)) for x, y in zip(a, b)]
        np.testing.assert_allclose(mix_log_probs(a, b, w), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_tune_weight_finds_the_grid_minimum(seed):
    rng = np.random.default_rng(seed)
    n = 400
    # Two imperfect "models" of the same tokens: each is good on a different subset.
    good_a = rng.random(n) < rng.uniform(0.2, 0.8)
    a = np.where(good_a, np.log(rng.uniform(0.3, 0.9, n)), np.log(rng.uniform(1e-4, 0.05, n)))
    b = np.where(~good_a, np.log(rng.uniform(0.3, 0.9, n)), np.log(rng.uniform(1e-4, 0.05, n)))
    grid = np.linspace(0, 1, 20001)[:, None]  # (G, 1) against (N,) tokens
    nll = -np.mean(np.log(grid * np.exp(a) + (1 - grid) * np.exp(b)), axis=1)
    grid = grid[:, 0]
    w_best = grid[int(np.argmin(nll))]
    w = tune_weight(a, b)
    assert abs(w - w_best) < 2e-4
    assert -np.mean(mix_log_probs(a, b, w)) <= min(nll) + 1e-9


def test_tune_weight_boundaries():
    rng = np.random.default_rng(5)
    good, bad = np.log(rng.uniform(0.5, 0.9, 100)), np.log(rng.uniform(0.01, 0.02, 100))
    assert tune_weight(good, bad) == 1.0  # a dominates everywhere: all weight on a
    assert tune_weight(bad, good) == 0.0


def test_rows_use_evaluates_arithmetic():
    """compare's numbers come from evaluate.summarize: hand-derived values on one 4-token sentence."""
    from ngramkit.evaluate import summarize
    from ngramkit.stream import Stream
    from ngramkit.vocab import Vocabulary

    stream = Stream.from_sentences([["a", "x", "b"]], Vocabulary.build([["a", "b"]]))  # a x(OOV) b </s>
    assert stream.oov.tolist() == [False, True, False, False]
    lp = np.log(np.array([0.5, 0.25, 0.125, 0.5]))
    s = summarize(lp, stream)
    assert s.tokens == 4 and s.oovs == 1 and s.sentences == 1
    assert s.perplexity == pytest.approx(math.exp(-np.mean(lp)), rel=1e-12)
    assert s.perplexity == pytest.approx(2 ** 1.75, rel=1e-12)  # mean bits = (1 + 2 + 3 + 1) / 4
    assert s.cross_entropy == pytest.approx(1.75, rel=1e-12)
    assert s.perplexity_no_oov == pytest.approx(2 ** (5 / 3), rel=1e-12)
    zero = summarize(np.array([0.0, -np.inf, 0.0, 0.0]), stream)
    assert zero.perplexity == math.inf and not math.isnan(zero.perplexity) and zero.zeroprobs == 1
    with pytest.raises(NgramkitError, match=r"shape \(3,\), expected \(4,\)"):
        summarize(lp[:3], stream)


# ---- report outputs (a hand-built report) ------------------------------------------------


def _row(label, order, valid, test, **kw):
    name = label.split(":")[0]
    return Row(model=name, label=label, order=order, size=f"order {order}" if order else "H=8, full softmax",
               params=1234, train_seconds=0.5, tokens_per_second=1e6, valid_ppl=valid, test_ppl=test,
               bits_per_token=math.log2(test) if math.isfinite(test) else math.inf, oov_rate=0.0125,
               valid_tokens=800, test_tokens=900, **kw)


def _report():
    rows = [_row("laplace:1", 1, 500.0, 510.0), _row("mkn:3", 3, 150.0, 155.5), _row("rnn", None, 170.0, 171.0,
            hidden=8, epochs=3), _row("rnn+mkn:3", None, 140.0, 141.0, weight=0.4), _row("mle:2", 2, math.inf, math.inf)]
    return Report(corpus="unit", level="word", vocab_size=321, tokens={"train": 9000, "valid": 800, "test": 900},
                  sentences={"train": 300, "valid": 30, "test": 31}, oovs={"valid": 10, "test": 12}, seed=7,
                  rows=rows, text_options={"normalize": "d2l", "tokenizer": "whitespace"}, models="laplace:1,mkn:3,rnn",
                  curves={"rnn": [300.0, 200.0, 170.0]},
                  interpolation={"rnn": "rnn", "ngram": "mkn:3", "weight": 0.4, "valid_ppl": 140.0, "test_ppl": 141.0},
                  versions={"ngramkit": "x", "python": "3"})


def test_json_schema_and_strictness():
    report = _report()
    data = json.loads(report.to_json())  # strict JSON: no Infinity/NaN literals
    assert data["schema"] == "ngramkit/1" and data["command"] == "compare"
    assert data["source"] == "unit" and data["corpus"] is None and data["vocab_size"] == 321
    assert [data[f"{s}_tokens"] for s in ("train", "valid", "test")] == [9000, 800, 900]
    assert [data[f"{s}_oovs"] for s in ("valid", "test")] == [10, 12]
    first = data["rows"][0]
    for key in ("model", "order", "valid_ppl", "test_ppl", "params", "train_seconds", "tokens_per_second"):
        assert key in first
    assert first["model"] == "laplace" and first["order"] == 1 and first["valid_ppl"] == 500.0
    assert data["rows"][-1]["test_ppl"] is None  # infinite perplexity -> null, and a companion says why
    assert data["rows"][-1]["test_ppl_nonfinite"] == "inf"
    assert data["interpolation"]["weight"] == 0.4
    assert "Infinity" not in report.to_json() and "NaN" not in report.to_json()
    no_time = report.to_dict(timings=False)
    assert "train_seconds" not in no_time["rows"][0] and "wall_seconds" not in no_time


def test_markdown_table_is_well_formed():
    md = _report().to_markdown()
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 5  # header, separator, one line per row
    widths = {line.count("|") for line in table}
    assert widths == {11}  # 10 columns
    assert table[0].startswith("| model | order/size | params | train s | tokens/s | valid ppl | test ppl")
    assert set(table[1]) <= set("|-:")
    assert "| mkn:3 | order 3 |" in md and "155.50" in md and "800 / 900" in md
    assert "| inf |" in md
    footer = "\n".join(line for line in lines if line.startswith("- "))
    for fact in ("corpus: unit", "train 9,000", "valid 800", "test 900", "vocabulary: 321", "seed: 7",
                 "versions:", "0.400 * p(rnn)"):
        assert fact in footer


def test_csv_round_trips():
    report = _report()
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["label"] for r in rows] == [r.label for r in report.rows]
    assert float(rows[1]["test_ppl"]) == 155.5 and rows[2]["order"] == "" and rows[3]["weight"] == "0.4"
    assert int(rows[0]["valid_tokens"]) == 800


def test_text_table_has_every_row():
    text = _report().to_text()
    for r in _report().rows:
        assert r.label in text


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_files(tmp_path, suffix, magic):
    report = _report()
    path = tmp_path / f"fig{suffix}"
    fig = report.plot(path)
    assert path.read_bytes().startswith(magic) and path.stat().st_size > 1000
    gids = {a.get_gid() for ax in fig.axes for a in list(ax.patches) + list(ax.lines)}
    for r in report.rows:
        assert f"compare-point-{r.label}" in gids  # every row, the interpolated one included
    assert "compare-valid-rnn" in gids
    assert {"compare-ref-laplace:1", "compare-ref-mkn:3", "compare-ref-rnn+mkn:3"} <= gids  # reference lines
    points = {a.get_gid(): a.get_xdata()[0] for a in fig.axes[0].lines}
    assert points["compare-point-mkn:3"] == pytest.approx(155.5)
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary files left


def test_writes_are_atomic(tmp_path, monkeypatch):
    report = _report()
    target = tmp_path / "r.md"
    target.write_text("old\n")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    for write in (report.write_markdown, report.write_csv, report.write_json):
        with pytest.raises(OSError):
            write(target)
        assert target.read_text() == "old\n"
        assert sorted(os.listdir(tmp_path)) == ["r.md"]  # the temporary file was removed
    monkeypatch.undo()
    report.write_markdown(target)
    assert target.read_text() == report.to_markdown()


def test_unwritable_paths_fail_with_one_line(tmp_path):
    report = _report()
    missing = tmp_path / "no" / "such" / "dir" / "r.md"
    for write in (report.write_markdown, report.write_csv, report.write_json):
        with pytest.raises(NgramkitError) as err:
            write(missing)
        assert "does not exist" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(NgramkitError, match="unknown figure format"):
        report.plot(tmp_path / "fig.bmp")
    assert not missing.parent.exists()


# ---- end to end on a small slice of timemachine ---------------------------------------------

SMALL_RNN = {"hidden": 12, "softmax": "full", "batch": 16, "bptt": 35}


@pytest.fixture(scope="module")
def slice_files(tmp_path_factory, timemachine_path):
    lines = [line for line in timemachine_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    d = tmp_path_factory.mktemp("tm_lib")
    parts = {"train": lines[1000:1400], "valid": lines[1400:1460], "test": lines[1460:1520]}
    for name, part in parts.items():
        (d / f"{name}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    return {name: d / f"{name}.txt" for name in parts}


def _run(files, **kw):
    args = dict(models="laplace:1-2,mkn:3,mkn:5,rnn", text_options={"normalize": "d2l"}, rnn=SMALL_RNN, epochs=2,
                seed=11)
    args.update(kw)
    return compare(train=files["train"], valid=files["valid"], test=files["test"], **args)


@pytest.fixture(scope="module")
def slice_report(slice_files):
    return _run(slice_files)


def test_rows_scored_on_the_same_tokens_as_an_independent_evaluation(slice_report, slice_files):
    from ngramkit.evaluate import evaluate
    from ngramkit.stream import Stream
    from ngramkit.text import TextOptions, read_sentences
    from ngramkit.vocab import Vocabulary

    report = slice_report
    best = min((r for r in report.rows if r.order is not None), key=lambda r: r.valid_ppl).label
    assert [r.label for r in report.rows] == ["laplace:1", "laplace:2", "mkn:3", "mkn:5", "rnn", f"rnn+{best}"]
    # Rebuild the vocabulary and streams independently of ngramkit.compare.
    opts = TextOptions(normalize="d2l")
    sents = {k: read_sentences(p, opts) for k, p in slice_files.items()}
    vocab = Vocabulary.build(sents["train"])
    assert report.vocab_size == len(vocab)
    streams = {k: Stream.from_sentences(s, vocab) for k, s in sents.items()}
    n_valid = sum(len(s) + 1 for s in sents["valid"])  # words + one </s> per sentence
    assert report.tokens == {k: st.n_tokens for k, st in streams.items()} and report.tokens["valid"] == n_valid
    for row in report.rows:
        assert (row.valid_tokens, row.test_tokens) == (report.tokens["valid"], report.tokens["test"])
        if row.model == "interpolated":
            continue
        model = report.trained[row.label]
        for split, ppl in (("valid", row.valid_ppl), ("test", row.test_ppl)):
            ev = evaluate(model, streams[split])
            assert ev.tokens == getattr(row, f"{split}_tokens")
            assert ev.perplexity == pytest.approx(ppl, rel=1e-12)
        assert row.bits_per_token == pytest.approx(math.log2(row.test_ppl), rel=1e-12)
        assert row.oov_rate == streams["test"].n_oov / streams["test"].n_tokens
    assert report.rows[0].params == len(vocab) - 2  # unigram entries: every word but <s> and <pad>... or counted
    assert report.row("rnn").params == report.trained["rnn"].n_params


def test_interpolation_row_recomputed(slice_report):
    from ngramkit.evaluate import evaluate  # noqa: F401  (same arithmetic, checked above)

    report = slice_report
    mix = report.rows[-1]
    info = report.interpolation
    assert mix.label == f"{info['rnn']}+{info['ngram']}" and mix.weight == info["weight"]
    rnn, ngram = report.trained[info["rnn"]], report.trained[info["ngram"]]
    w = info["weight"]
    for split in ("valid", "test"):
        stream = _streams_of(report, split)
        p = w * np.exp(rnn.log_probs(stream)) + (1 - w) * np.exp(ngram.log_probs(stream))
        assert math.exp(-np.mean(np.log(p))) == pytest.approx(getattr(mix, f"{split}_ppl"), rel=1e-9)
    # Tuned on valid: no other weight on a fine grid does better there, and it beats both components.
    stream = _streams_of(report, "valid")
    a, b = rnn.log_probs(stream), ngram.log_probs(stream)
    best_grid = min(-np.mean(mix_log_probs(a, b, x)) for x in np.linspace(0, 1, 501))
    assert -np.mean(mix_log_probs(a, b, w)) <= best_grid + 1e-9
    assert mix.valid_ppl <= min(report.row(info["rnn"]).valid_ppl, report.row(info["ngram"]).valid_ppl)


def _streams_of(report, split):
    from ngramkit.stream import Stream
    from ngramkit.text import TextOptions, read_sentences

    opts = TextOptions(**report.text_options)
    model = next(iter(report.trained.values()))
    return Stream.from_sentences(read_sentences(report.source["files"][split], opts), model.vocab)


def test_same_seed_same_report(slice_report, slice_files):
    again = _run(slice_files)
    assert again.to_dict(timings=False) == slice_report.to_dict(timings=False)
    other = _run(slice_files, seed=12)
    assert other.row("rnn").valid_ppl != slice_report.row("rnn").valid_ppl  # the seed reaches the RNN


def test_mkn_discount_fallback_is_reported(slice_report):
    from ngramkit.models import ModifiedKneserNey

    note = slice_report.notes.get("mkn:5", "")
    model = slice_report.trained["mkn:5"]
    used = [tuple(d) for d in model.fitted_["discounts"]]
    if not note:  # this slice estimated every order: nothing to check
        pytest.skip("no degenerate count-of-counts on this slice")
    assert "0.5, 1, 1.5" in note and "mkn:5" in "\n".join(slice_report.footer())
    assert used[-1] == (0.5, 1.0, 1.5)
    with pytest.raises(NgramkitError, match="discount"):
        ModifiedKneserNey(5).fit(_counts_of(slice_report, 5))
    # The estimable lower orders keep exactly the estimates of a plain fit of the same counts.
    lower = ModifiedKneserNey(5, discounts=[*used[:-1], (0.5, 1.0, 1.5)]).fit(_counts_of(slice_report, 5))
    assert lower.fitted_["discounts"] == model.fitted_["discounts"]


def _counts_of(report, order):
    from ngramkit.counts import NGramCounts
    from ngramkit.stream import Stream
    from ngramkit.text import TextOptions, read_sentences

    model = report.trained["laplace:1"]
    sents = read_sentences(report.source["files"]["train"], TextOptions(**report.text_options))
    return NGramCounts.from_stream(Stream.from_sentences(sents, model.vocab), order)


def test_default_corpus_uses_the_registry_split():
    from ngramkit import corpora
    from ngramkit.stream import Stream
    from ngramkit.vocab import Vocabulary

    report = compare(models="laplace:1", interpolate=False)
    assert report.corpus == "timemachine" and report.text_options["normalize"] == "d2l"
    splits = {k: corpora.load_split("timemachine", k) for k in ("train", "valid", "test")}
    vocab = Vocabulary.build(splits["train"])
    assert report.vocab_size == len(vocab)
    assert report.tokens == {k: Stream.from_sentences(s, vocab).n_tokens for k, s in splits.items()}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"epochs": 0}, "--epochs must be >= 1, got 0"),
    ({"epochs": -3}, "--epochs must be >= 1"),
    ({"seed": -1}, "--seed"),
    ({"min_count": 0}, "--min-count"),
    ({"models": "mkn:3,foo"}, "unknown model 'foo'"),
    ({"rnn": {"hiddne": 3}}, "unknown RNN option 'hiddne'"),
    ({"rnn": {"hidden": 0}}, "hidden must be an integer >= 1"),
    ({"level": "byte"}, "--level must be word or char"),
    ({"level": "char", "text_options": {"tokenizer": "whitespace"}}, "--level char needs --tokenizer char"),
])
def test_bad_arguments_fail_before_reading(slice_files, kwargs, fragment):
    messages = []
    args = dict(train=slice_files["train"], valid=slice_files["valid"], test=slice_files["test"],
                models="mkn:3,rnn", progress=messages.append)
    args.update(kwargs)
    with pytest.raises(NgramkitError) as err:
        compare(**args)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    if kwargs.get("level") != "char":
        assert messages == []  # nothing was read or trained


def test_no_overlap_and_empty_splits(slice_files, tmp_path):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("qwxz zzyzx\n")
    with pytest.raises(NgramkitError, match="--test file: none of its 2 words is in the training vocabulary"):
        compare(train=slice_files["train"], valid=slice_files["valid"], test=foreign, models="mkn:3",
                text_options={"normalize": "d2l"})
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(NgramkitError, match="--valid .*empty.txt"):
        compare(train=slice_files["train"], valid=empty, test=slice_files["test"], models="mkn:3")


def test_counts_once_at_the_highest_order_and_rows_equal_fits_on_their_own_order(slice_files, monkeypatch):
    from ngramkit.counts import NGramCounts
    from ngramkit.evaluate import evaluate
    from ngramkit.models import MODELS
    from ngramkit.stream import Stream
    from ngramkit.text import TextOptions, read_sentences
    from ngramkit.vocab import Vocabulary

    orders = []
    original = NGramCounts.from_stream.__func__

    def counting(cls, stream, order, *args, **kwargs):
        orders.append(order)
        return original(cls, stream, order, *args, **kwargs)

    monkeypatch.setattr(NGramCounts, "from_stream", classmethod(counting))
    report = _run(slice_files, models="laplace:1-2,witten-bell:3,mkn:2,kn:4", interpolate=False)
    assert orders == [4]
    monkeypatch.undo()
    # Oracle: each model fitted on counts of exactly its own order, evaluated by ngramkit.evaluate.
    opts = TextOptions(normalize="d2l")
    sents = {k: read_sentences(p, opts) for k, p in slice_files.items()}
    vocab = Vocabulary.build(sents["train"])
    train = Stream.from_sentences(sents["train"], vocab)
    for row in report.rows:
        counts = NGramCounts.from_stream(train, row.order)
        model = MODELS[row.model](row.order).fit(counts)
        for split in ("valid", "test"):
            ev = evaluate(model, Stream.from_sentences(sents[split], vocab))
            assert ev.perplexity == getattr(row, f"{split}_ppl")
        assert row.params == sum(counts.distinct(k) for k in range(1, row.order + 1))


@pytest.fixture
def two_blas_threads(monkeypatch):
    """Start from two BLAS threads and no NGRAMKIT_THREADS, whatever the environment said."""
    from threadpoolctl import threadpool_limits

    from ngramkit.threads import KERNEL_THREADS_VAR

    monkeypatch.delenv(KERNEL_THREADS_VAR, raising=False)
    if not _blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        if set(_blas_threads()) != {2}:
            pytest.skip("numpy's BLAS cannot run 2 threads here (one processor?)")
        yield


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_library_runs_under_the_command_lines_thread_limit(slice_files, two_blas_threads, monkeypatch):
    """threads=None means NGRAMKIT_THREADS, else 1 (not the BLAS default); measured inside log_probs."""
    from ngramkit.rnn import RNNLM
    from ngramkit.threads import KERNEL_THREADS_VAR

    seen = []
    original = RNNLM.log_probs

    def recording(self, *args, **kwargs):
        seen.append((set(_blas_threads()), os.environ.get(KERNEL_THREADS_VAR)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RNNLM, "log_probs", recording)
    run = dict(models="rnn", interpolate=False, epochs=1, rnn={**SMALL_RNN, "schedule": "none"})
    ppls = {}
    for threads, env, expected in ((None, None, 1), (None, "2", 2), (2, None, 2), (1, "2", 1)):
        if env is None:
            monkeypatch.delenv(KERNEL_THREADS_VAR, raising=False)
        else:
            monkeypatch.setenv(KERNEL_THREADS_VAR, env)
        seen.clear()
        report = _run(slice_files, threads=threads, **run)
        assert seen and all(s == ({expected}, str(expected)) for s in seen), (threads, env, seen)
        assert os.environ.get(KERNEL_THREADS_VAR) == env and set(_blas_threads()) == {2}  # restored
        ppls[(threads, env)] = report.row("rnn").test_ppl
    assert max(ppls.values()) == pytest.approx(min(ppls.values()), rel=1e-5)  # threads change speed only
    monkeypatch.setenv(KERNEL_THREADS_VAR, "many")
    with pytest.raises(NgramkitError, match="NGRAMKIT_THREADS must be an integer >= 1, got 'many'"):
        _run(slice_files, **run)
    with pytest.raises(NgramkitError, match="threads must be an integer >= 1, got 0"):
        _run(slice_files, threads=0, **run)


def test_the_rnn_recipe_and_its_rule_are_in_the_footer_and_markdown(slice_report):
    tokens = slice_report.tokens["train"]
    line = f"rnn: recipe tm-word-class128 (word level, {tokens:,} training tokens < 300,000)"
    assert line in slice_report.footer()
    assert f"- {line}" in slice_report.to_markdown() and line in slice_report.to_text()
    assert slice_report.rnn["rnn"]["preset"] == "tm-word-class128"


def test_a_failed_out_dir_save_leaves_nothing(slice_report, tmp_path):
    from tmpfs import small_tmpfs

    from ngramkit.compare.run import save_report

    with small_tmpfs(tmp_path / "disk", 64 * 1024) as disk:  # too small for the models
        with pytest.raises(NgramkitError, match="No space left on device"):
            save_report(slice_report, disk / "a" / "run", plot=False)
        assert list(disk.iterdir()) == []  # neither run/ nor a/, no partial file
        (disk / "mine").mkdir()
        (disk / "mine" / "keep.txt").write_text("x")
        with pytest.raises(NgramkitError, match="No space left on device"):
            save_report(slice_report, disk / "mine", plot=False)
        assert [p.name for p in (disk / "mine").iterdir()] == ["keep.txt"]  # only what the save added is gone


def test_a_failed_compare_creates_no_out_dir(slice_files, tmp_path):
    from click.testing import CliRunner

    from ngramkit.cli.main import cli

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    out = tmp_path / "runs" / "x"
    result = CliRunner().invoke(cli, ["compare", "--train", str(slice_files["train"]), "--valid", str(empty),
                                      "--test", str(slice_files["test"]), "--models", "mkn:2", "-q", "--out", str(out)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "--valid" in result.stderr and "no tokens" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt"]
