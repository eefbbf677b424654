"""The one kernel loader (ngramkit.native) and its NGRAMKIT_IMPL rule, for all the extensions.

Oracles: the rule as STYLE.md and native's docstring state it (bogus value
and missing-under-``c`` are one-line errors, a missing extension under
``auto`` is one loud warning, ``numpy`` is the reference), and, for "the
reference runs and gives the same numbers", the results the compiled build
gives through the public API on the same inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ngramkit import NGramCounts, Stream, Vocabulary, native
from ngramkit.errors import NgramkitError
from ngramkit.models import Laplace, ModifiedKneserNey
from ngramkit.rnn import RNNLM, RNNConfig, TrainConfig, train

EXTENSIONS = ("_count", "_score", "_rnn", "_optim", "_arpa", "_merge", "_sample", "_compact", "_fastppl")


def make_missing(monkeypatch, name):
    """Make ``ngramkit.<name>`` unimportable for this test; native forgets what it found and warned."""
    monkeypatch.setitem(sys.modules, f"ngramkit.{name}", None)  # None in sys.modules: the import raises
    monkeypatch.setattr(native, "_missing", {})
    monkeypatch.setattr(native, "_warned", set())


def test_the_extensions_are_the_ones_built():
    assert tuple(native.EXTENSIONS) == EXTENSIONS


@pytest.mark.parametrize("name", EXTENSIONS)
@pytest.mark.parametrize("value", ["bogus", "cc", "Fortran"])
def test_bogus_value_is_one_line_error(monkeypatch, name, value):
    monkeypatch.setenv("NGRAMKIT_IMPL", value)
    with pytest.raises(NgramkitError) as err:
        native.extension(name)
    want = value.strip().lower()
    assert str(err.value) == f"NGRAMKIT_IMPL must be one of auto, c, numpy, got {want!r}"


@pytest.mark.parametrize("name", EXTENSIONS)
@pytest.mark.parametrize("value", [None, "", "auto", " AUTO ", "c"])
def test_compiled_module_when_built(monkeypatch, name, value):
    if value is None:
        monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    else:
        monkeypatch.setenv("NGRAMKIT_IMPL", value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = native.extension(name)
    assert module is sys.modules[f"ngramkit.{name}"]
    assert native.implementation(name) == "c"


@pytest.mark.parametrize("name", EXTENSIONS)
def test_numpy_value_is_the_reference_even_when_built(monkeypatch, name):
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    assert native.extension(name) is None
    assert native.implementation(name) == "numpy"


@pytest.mark.parametrize("name", EXTENSIONS)
def test_c_value_with_extension_missing_is_one_line_error(monkeypatch, name):
    make_missing(monkeypatch, name)
    monkeypatch.setenv("NGRAMKIT_IMPL", "c")
    with pytest.raises(NgramkitError) as err:
        native.extension(name)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"NGRAMKIT_IMPL=c but the compiled extension ngramkit.{name} is missing" in msg
    assert "pip install --force-reinstall --no-binary ngramkit ngramkit" in msg and "pip install ." in msg


@pytest.mark.parametrize("name", EXTENSIONS)
def test_auto_with_extension_missing_warns_once_and_gives_the_reference(monkeypatch, name):
    make_missing(monkeypatch, name)
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    with pytest.warns(RuntimeWarning) as record:
        assert native.extension(name) is None
    assert len(record) == 1
    msg = str(record[0].message)
    assert f"ngramkit.{name}" in msg and "slower" in msg and "pip install ." in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per extension
        assert native.extension(name) is None
        assert native.implementation(name) == "numpy"
    other = next(n for n in EXTENSIONS if n != name)  # the others are unaffected
    assert native.extension(other) is sys.modules[f"ngramkit.{other}"]


def test_unknown_extension_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown ngramkit extension '_fortran'"):
        native.extension("_fortran")


# ---- auto with an extension missing: the public API gives the compiled build's numbers --------------


@pytest.fixture(scope="module")
def tm(timemachine_path):
    lines = [line.split() for line in timemachine_path.read_text(encoding="utf-8").lower().splitlines()]
    sents = [s for s in lines if s][:400]
    vocab = Vocabulary.build(sents[:300], min_count=2)
    return vocab, Stream.from_sentences(sents[:300], vocab), Stream.from_sentences(sents[300:], vocab)


def run_without(monkeypatch, name, fn):
    """fn() with ``ngramkit.<name>`` missing under NGRAMKIT_IMPL unset (one warning expected)."""
    make_missing(monkeypatch, name)
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    with pytest.warns(RuntimeWarning, match=f"ngramkit.{name}"):
        return fn()


def test_missing_count_extension_counts_the_same(monkeypatch, tm, timemachine_path):
    vocab, train_stream, _ = tm

    def run():
        counts = NGramCounts.from_stream(train_stream, 3)
        stream = Stream.from_files([timemachine_path])
        padded = train_stream.padded(3)
        return counts, stream, padded

    want_counts, want_stream, want_padded = run()
    got_counts, got_stream, got_padded = run_without(monkeypatch, "_count", run)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(got_counts.ngrams(k), want_counts.ngrams(k))
        np.testing.assert_array_equal(got_counts.counts(k), want_counts.counts(k))
    np.testing.assert_array_equal(got_stream.ids, want_stream.ids)
    np.testing.assert_array_equal(got_stream.offsets, want_stream.offsets)
    assert got_stream.vocab.words == want_stream.vocab.words
    for got, want in zip(got_padded, want_padded):
        np.testing.assert_array_equal(got, want)


def test_missing_score_extension_scores_the_same(monkeypatch, tm):
    vocab, train_stream, test_stream = tm
    counts = NGramCounts.from_stream(train_stream, 3)

    def run():  # fit inside: the interpolated models' fit uses _score's hash tables too
        return [model.fit(counts).log_probs(test_stream) for model in (ModifiedKneserNey(3), Laplace(3))]

    want = run()
    got = run_without(monkeypatch, "_score", run)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)  # the C scorer and its reference agree bit for bit


def test_missing_rnn_extension_scores_and_trains_the_same(monkeypatch, tm):
    vocab, train_stream, test_stream = tm
    cfg = RNNConfig(vocab_size=len(vocab), cell="gru", hidden=8, softmax="class", classes=4, seed=2)
    counts = np.bincount(train_stream.ids, minlength=len(vocab))
    tcfg = TrainConfig(batch=4, bptt=6, epochs=1, optimizer="adam", lr=0.01, schedule="none", patience=0)

    def run():
        model = RNNLM.create(cfg, vocab, counts)
        before = model.log_probs(test_stream)
        return before, train(model, train_stream, test_stream, tcfg).model.log_probs(test_stream)

    want = run()
    got = run_without(monkeypatch, "_rnn", run)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)  # float32 sums in another order


def test_missing_optim_extension_trains_the_same(monkeypatch, tm):
    vocab, train_stream, test_stream = tm
    cfg = RNNConfig(vocab_size=len(vocab), cell="rnn", hidden=8, seed=5)
    counts = np.bincount(train_stream.ids, minlength=len(vocab))
    short = Stream(test_stream.ids[:600], np.array([0, 600]), test_stream.oov[:600], vocab)  # 25 steps of 4 x 6

    def run():
        out = []
        for opt, lr in (("adam", 0.01), ("sgd", 0.5)):
            tcfg = TrainConfig(batch=4, bptt=6, epochs=1, optimizer=opt, lr=lr, schedule="none", patience=0)
            out.append(train(RNNLM.create(cfg, vocab, counts), short, short, tcfg).model.params)
        return out

    want = run()
    got = run_without(monkeypatch, "_optim", run)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for key in w:
            np.testing.assert_allclose(g[key], w[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("impl, warned", [("", True), ("auto", True), ("numpy", False), ("c", False)])
def test_a_kernel_that_was_not_built_is_a_warning_at_import(tmp_path, impl, warned):
    """A copy of the installed package without its compiled _rnn: `import ngramkit` warns (auto only)."""
    import ngramkit

    installed = Path(ngramkit.__file__).parent
    if not list(installed.glob("_rnn*.so")) + list(installed.glob("_rnn*.pyd")):
        pytest.skip("the compiled kernels are not built here")
    shutil.copytree(installed, tmp_path / "ngramkit",
                    ignore=lambda folder, names: [n for n in names if n.startswith("_rnn.") or n == "__pycache__"])
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NGRAMKIT_IMPL": impl}
    code = "import ngramkit, sys; sys.stdout.write(ngramkit.__file__)"
    # -S: no site-packages, so no editable-install finder can supply the original _rnn (`import ngramkit`
    # needs only the standard library: numpy and the kernels load on first use).
    run = subprocess.run([sys.executable, "-S", "-W", "default", "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == str(tmp_path / "ngramkit" / "__init__.py")  # the copy, not the installed package
    lines = [ln for ln in run.stderr.splitlines() if "RuntimeWarning" in ln]
    if warned:
        assert len(lines) == 1 and "ngramkit._rnn (compiled kernel) is missing" in lines[0], run.stderr
        assert native.EXTENSIONS["_rnn"] in lines[0] and "pip install" in lines[0]
    else:
        assert lines == [], run.stderr
