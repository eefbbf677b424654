"""The comparison: every requested model trained on one training split and scored on the same tokens.

Input: a corpus (or train/valid/test files), text options, a model spec.
Output: a :class:`~ngramkit.compare.report.Report`.

The loop: validate every argument (before reading anything) -> read the
splits once (:func:`~ngramkit.compare.data.load_splits`) -> for each row's
adapter (:mod:`~ngramkit.compare.candidates`): ``fit``, then score valid
and test through ``log_probs`` and :func:`ngramkit.evaluate.summarize` ->
mix the best RNN with the best n-gram model -> Report.

``--out DIR``: :func:`check_out_dir` before the run (nothing is created),
:func:`save_report` after it; a failed save removes what it wrote and the
folders it created, so a failure leaves no empty or partial ``DIR``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__, corpora
from ..errors import NgramkitError
from ..fileio import check_dir_creatable
from ..evaluate import summarize
from ..progress import EpochProgress, Progress, token_unit
from ..rnn import kernels
from ..threads import KERNEL_THREADS_VAR, limit_threads
from .candidates import Candidate, Fitted, build_candidates
from .data import SplitStreams, load_splits
from .mixing import mix_log_probs, tune_weight
from .report import Report, Row, format_ppl
from .specs import DEFAULT_CHAR_MODELS, DEFAULT_MODELS, LEVELS, ModelSpec, parse_models


def compare(
    corpus: str | None = None,
    *,
    train=None,
    valid=None,
    test=None,
    models: str | list | None = None,
    level: str = "word",
    text_options=None,
    min_count: int = 1,
    max_vocab: int | None = None,
    rnn: dict | None = None,
    epochs: int | None = None,
    interpolate: bool = True,
    seed: int = 1,
    progress: Progress | Callable[[str], None] | bool | None = None,
    rnn_progress: Callable[[dict], None] | bool | None = None,
    keep_models: bool = True,
    threads: int | None = None,
) -> Report:
    """Train every requested model on the training split and score all of them on the same valid/test tokens.

    ``corpus``: a registry name (default ``timemachine``), or give
    ``train``/``valid``/``test`` (a path or a list of paths each) instead.
    ``models``: a spec string (see :func:`parse_models`) or a list of
    :class:`ModelSpec`; default ``laplace:1-3,mkn:3,mkn:5,rnn`` (word level) or
    ``laplace:1-3,mkn:3,mkn:5,mkn:7,rnn`` (char level).
    ``text_options``: a :class:`~ngramkit.text.TextOptions` used as is, or a
    dict of overrides of the corpus's defaults. ``level="char"``: the char
    tokenizer (character-level models). ``rnn``: overrides of the RNN preset
    (fields of RNNConfig and TrainConfig, see :mod:`ngramkit.rnn.presets`),
    ``epochs`` the maximum RNN epochs.
    ``progress``: a callable receiving one-line messages (``True``: a
    :class:`~ngramkit.progress.Progress` on stderr). ``rnn_progress``: the
    RNN trainer's callback (see :func:`ngramkit.rnn.train`), or True for an
    :class:`~ngramkit.progress.EpochProgress` (on ``progress`` when that is a
    Progress, else on stderr; chars/s at char level); default: on when
    ``progress`` is given.
    ``keep_models``: keep the fitted models in ``Report.trained`` (for
    :meth:`Report.save`). ``threads``: BLAS and kernel threads for the whole
    run (:func:`ngramkit.limit_threads`); None: ``NGRAMKIT_THREADS`` if set,
    else 1, as the command line does.

    Raises :class:`~ngramkit.errors.NgramkitError` (one line) on bad input,
    before any training where possible.
    """
    t_start = time.perf_counter()
    say, epochs_bar, lines = _progress(progress, rnn_progress, level)
    specs, spec_text = _check_arguments(models, level, seed, min_count, epochs)
    files = any((train, valid, test))
    candidates = build_candidates(specs, corpus=None if files else (corpus or corpora.DEFAULT_CORPUS), level=level,
                                  rnn=rnn, epochs=epochs, seed=int(seed),
                                  progress=epochs_bar)
    with limit_threads(_thread_count(threads)), lines:
        say("reading the train/valid/test splits ...")
        splits = load_splits(corpus, train=train, valid=valid, test=test, text_options=text_options, level=level,
                             min_count=min_count, max_vocab=max_vocab)
        say(f"{splits.label}: train {splits.train.n_tokens:,}, valid {splits.valid.n_tokens:,}, "
            f"test {splits.test.n_tokens:,} predicted tokens; vocabulary {len(splits.vocab):,}")
        rows, scored, trained, curves, details, notes = [], {}, {}, {}, {}, {}
        train_curves = {}
        for candidate in candidates:
            label = candidate.spec.label
            fitted = candidate.fit(splits, say)
            if fitted.note:
                say(f"[{label}] {fitted.note}")
                notes[label] = fitted.note
            row, scored[label] = _scored_row(candidate, fitted, splits)
            say(f"[{label}] valid ppl {format_ppl(row.valid_ppl)}, test ppl {format_ppl(row.test_ppl)}{fitted.done}")
            rows.append(row)
            if fitted.curve is not None:
                curves[label] = fitted.curve
            if fitted.train_curve is not None:
                train_curves[label] = fitted.train_curve
            if fitted.details is not None:
                details[label] = fitted.details
            if keep_models:
                trained[label] = fitted.model
        families = {c.spec.label: c.family for c in candidates}
        interpolation = _interpolate(rows, families, scored, splits, say) if interpolate else None
    return Report(
        corpus=splits.label, level=level, vocab_size=len(splits.vocab),
        tokens={"train": splits.train.n_tokens, "valid": splits.valid.n_tokens, "test": splits.test.n_tokens},
        sentences={"train": splits.train.n_sentences, "valid": splits.valid.n_sentences,
                   "test": splits.test.n_sentences},
        oovs={"valid": splits.valid.n_oov, "test": splits.test.n_oov},
        seed=int(seed), rows=rows, text_options=splits.options.to_dict(), min_count=int(min_count),
        models=spec_text, curves=curves, train_curves=train_curves, rnn=details, interpolation=interpolation, notes=notes,
        source=splits.source, versions=_versions(), wall_seconds=time.perf_counter() - t_start, trained=trained,
    )


def _check_arguments(models, level, seed, min_count, epochs) -> tuple[list[ModelSpec], str]:
    """Validate compare()'s own arguments: (specs, the spec as text)."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer))):
        raise NgramkitError(f"--epochs must be an integer >= 1, got {epochs!r}")
    if epochs is not None and epochs < 1:
        raise NgramkitError(f"--epochs must be >= 1, got {epochs}")
    if level not in LEVELS:
        raise NgramkitError(f"--level must be word or char, got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NgramkitError(f"--seed must be an integer >= 0, got {seed!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise NgramkitError(f"--min-count must be an integer >= 1, got {min_count!r}")
    if models is None:
        models = DEFAULT_CHAR_MODELS if level == "char" else DEFAULT_MODELS
    if isinstance(models, str):
        return parse_models(models), models
    specs = list(models)
    return specs, ",".join(s.label for s in specs)


def _thread_count(threads: int | None) -> int:
    """``threads``, else NGRAMKIT_THREADS, else 1 (the command line's ``--threads`` default)."""
    if threads is not None:
        return threads
    value = os.environ.get(KERNEL_THREADS_VAR)
    if value is None or not value.strip():
        return 1
    try:
        return int(value)
    except ValueError:
        raise NgramkitError(f"{KERNEL_THREADS_VAR} must be an integer >= 1, got {value!r}") from None


def _scored_row(candidate: Candidate, fitted: Fitted, splits: SplitStreams) -> tuple[Row, tuple]:
    """The row of a fitted model, and its (valid, test) log-probabilities."""
    t0 = time.perf_counter()
    lp_valid = np.asarray(fitted.model.log_probs(splits.valid), np.float64)  # (N_valid,) natural log
    lp_test = np.asarray(fitted.model.log_probs(splits.test), np.float64)
    seconds = time.perf_counter() - t0
    spec = candidate.spec
    row = _row(spec.name, spec.label, spec.order, fitted.size, fitted.params, fitted.seconds, lp_valid, lp_test,
               seconds, splits, **fitted.row)
    return row, (lp_valid, lp_test)


def _row(model_name, label, order, size, params, train_seconds, lp_valid, lp_test, score_seconds,
         splits: SplitStreams, **extra) -> Row:
    # summarize() checks that every model scored exactly the N predicted tokens of each split.
    sv = summarize(lp_valid, splits.valid, model=label)
    st = summarize(lp_test, splits.test, model=label)
    n = sv.tokens + st.tokens
    return Row(
        model=model_name, label=label, order=order, size=size, params=int(params),
        train_seconds=float(train_seconds),
        tokens_per_second=n / score_seconds if score_seconds > 0 else float("inf"),
        valid_ppl=sv.perplexity, test_ppl=st.perplexity, bits_per_token=st.cross_entropy,
        oov_rate=st.oovs / st.tokens if st.tokens else 0.0,
        valid_tokens=sv.tokens, test_tokens=st.tokens,
        valid_ppl_no_oov=sv.perplexity_no_oov, test_ppl_no_oov=st.perplexity_no_oov,
        score_seconds=float(score_seconds), **extra,
    )


def _interpolate(rows: list[Row], families: dict, scored: dict, splits: SplitStreams, say) -> dict | None:
    """Append the row mixing the best RNN and the best n-gram model (weight tuned on valid); its record."""
    best = {}
    for family in ("rnn", "ngram"):
        of_family = [r for r in rows if families[r.label] == family]
        if not of_family:
            return None
        best[family] = min(of_family, key=lambda r: r.valid_ppl)
    a, b = best["rnn"], best["ngram"]
    (a_valid, a_test), (b_valid, b_test) = scored[a.label], scored[b.label]
    t0 = time.perf_counter()
    weight = tune_weight(a_valid, b_valid)
    mix_valid, mix_test = mix_log_probs(a_valid, b_valid, weight), mix_log_probs(a_test, b_test, weight)
    mix_seconds = time.perf_counter() - t0
    label = f"{a.label}+{b.label}"
    row = _row("interpolated", label, None, f"w={weight:.3f}", a.params + b.params,
               a.train_seconds + b.train_seconds, mix_valid, mix_test,
               a.score_seconds + b.score_seconds + mix_seconds, splits, weight=weight)
    say(f"[{label}] weight {weight:.3f} on the RNN: valid ppl {format_ppl(row.valid_ppl)}, "
        f"test ppl {format_ppl(row.test_ppl)}")
    rows.append(row)
    return {"rnn": a.label, "ngram": b.label, "weight": weight, "valid_ppl": row.valid_ppl, "test_ppl": row.test_ppl}


def check_out_dir(directory, what: str = "--out") -> Path:
    """Fail now, with one line, if ``directory`` could not be created or written; create nothing."""
    check_dir_creatable(directory, what)
    return Path(directory)


def save_report(report: Report, directory, **kwargs) -> dict:
    """:meth:`Report.save` into ``directory`` (``kwargs`` go to it), all or nothing. Returns {what: path}.

    On any failure (a full disk, an interrupt) the files it added and the
    folders it created are removed before the exception goes on.

    (A file that was already there and got replaced before the failure keeps its new content.)
    """
    directory = Path(directory).absolute()
    created = [d for d in (directory, *directory.parents) if not d.exists()]  # innermost first
    before = set(os.listdir(directory)) if not created else set()
    try:
        return report.save(directory, **kwargs)
    except BaseException:
        if directory.is_dir():
            for name in set(os.listdir(directory)) - before:
                with contextlib.suppress(OSError):
                    (directory / name).unlink()
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _versions() -> dict:
    out = {"ngramkit": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        out["rnn kernel"] = kernels.implementation()
    except (ImportError, ValueError):
        pass
    out["platform"] = f"{platform.system()} {platform.machine()}"
    return out


def _progress(progress, rnn_progress, level):
    """(say, the RNN trainer's callback or None, a context that ends open progress lines on the way out)."""
    out = Progress() if progress is True else progress
    say = (lambda msg: None) if out is None else out
    if rnn_progress is None:
        rnn_progress = progress is not None
    if rnn_progress is True:
        rnn_progress = EpochProgress(out if isinstance(out, Progress) else Progress(), unit=token_unit(level))
    lines = contextlib.ExitStack()
    for owner in (out, getattr(rnn_progress, "out", None)):
        if isinstance(owner, Progress):
            lines.callback(owner.close)
    return say, rnn_progress or None, lines
