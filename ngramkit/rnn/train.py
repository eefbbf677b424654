"""Training an :class:`~ngramkit.rnn.model.RNNLM`: stateful truncated BPTT.

Input: a model, the training :class:`~ngramkit.stream.Stream`, a validation
stream and a :class:`~ngramkit.rnn.config.TrainConfig`. Output: a
:class:`TrainResult` (the best model by validation perplexity, the per-epoch
log) and, optionally, checkpoints and a JSON training log on disk.

Data (D2L "sequential partitioning"): the training stream is read as one
sequence ``</s> w_0 w_1 ... w_{N-1}`` (the same convention as
``RNNLM.log_probs``), cut into B contiguous sub-streams of equal length
L = (N - offset) // B laid side by side as a (L, B) matrix; segments of T
steps are taken one after the other, and the hidden state left by a segment
is the initial state of the next one (detached: gradients stop there). The
state is reset to zero at the start of every epoch. With ``random_bptt`` the
sub-streams start at a random offset in [0, T) and each segment length is
drawn as in Merity et al. (2017): T (p=0.95) or T/2, then N(., 5), at least 5.

Loss of a segment: ``-(1/B) * sum of log p`` over its T*B tokens (summed
over time, averaged over streams). Update: global-norm clipping
``g <- min(1, clip/||g||) g``, then SGD or Adam. The embedding gradient is
row-sparse (only the rows of the words a segment reads); only those rows are
updated, which is exact for SGD and is "lazy" Adam (PyTorch's SparseAdam:
the moments of unread rows are not decayed) for Adam. Schedules: ``mikolov``
(rnnlm-0.4b: once the validation cross-entropy improves by less than a
factor ``min_improvement``, halve the learning rate every epoch; stop at the
next such stall; when validation gets worse the previous best weights are
restored), ``step`` (lr * lr_decay^(epoch - decay_after) after
``decay_after`` epochs, Zaremba et al.'s recipe) or ``none``. Early stopping
after ``patience`` epochs without a new best.

Trainer state: :class:`TrainerState` (epoch, learning rate, best validation
perplexity, schedule flags, why it stopped), advanced after every epoch by
the pure :func:`end_of_epoch`, whose learning rate comes from the pure
:func:`next_lr` (nanoGPT's ``get_lr``).

Checkpoints (``checkpoint_dir``): ``last.ngk`` (a :class:`TrainingCheckpoint`:
weights, optimiser state, random-generator state, trainer state and the log
after the last finished epoch) and ``best.ngk`` (the best model so far), both
model files of ngramkit's container (:mod:`ngramkit.npzfile`: written
atomically, checksummed; :func:`ngramkit.modelio.load_model` reads either as
an RNN model). ``resume=True`` continues from the model in ``last.ngk`` and
reproduces the uninterrupted run exactly (same seeds, same order of
operations; the hidden state is reset at every epoch start, so nothing else
is needed). The checkpoint also stores a fingerprint of the training and
validation streams (:func:`fingerprint`: SHA-256 of the id array and the
vocabulary), and resuming with a different model configuration, training
settings or text is refused, naming what differs.

Write failures: a checkpoint or log that cannot be written (full disk,
unwritable folder) stops training at the end of that epoch with
:class:`WriteFailed`, which carries the :class:`TrainResult` so far: a failing
auxiliary write never costs the model. :func:`diagnose` names a trained
model that is worse than a uniform guess and the likely cause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import npzfile
from ..errors import InputError, NgramkitError
from ..evaluate import perplexity_of
from ..fileio import atomic_open, check_dir_creatable
from ..vocab import EOS_ID
from .config import TrainConfig
from .model import RNNLM, SparseRows, compiled_optim as _fused

LAST, BEST = "last.ngk", "best.ngk"
OPT_PREFIX = "adam."  # names of the optimiser's arrays in a checkpoint
CHECKPOINT_VERSION = 3  # 2: TrainerState.lr is the rate of the next epoch for every schedule; 3: data fingerprints


@dataclass
class TrainResult:
    model: object  # the best model by validation perplexity (the last one without validation)
    history: list = field(default_factory=list)  # one dict per epoch (see train())
    best_valid_ppl: float | None = None
    stop_reason: str = ""


class WriteFailed(NgramkitError):
    """A checkpoint or log could not be written; training stopped. ``result`` holds the model so far."""

    def __init__(self, message: str, result: TrainResult):
        super().__init__(message)
        self.result = result


def partition(ids: np.ndarray, eos: int, batch: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequential partitioning of ``</s> ids`` into (L, B) inputs and targets (time-major, contiguous).

    >>> x, y = partition(np.arange(10, 20, dtype=np.int32), 2, 2)
    >>> x.T.tolist(), y.T.tolist()
    ([[2, 10, 11, 12, 13], [14, 15, 16, 17, 18]], [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19]])
    """
    seq = np.concatenate(([eos], ids)).astype(np.int32)
    length = (seq.size - 1 - offset) // batch
    if length < 1:
        raise NgramkitError(f"the training stream has {ids.size} tokens, too few for --batch {batch}; "
                            "lower --batch or give more text")
    inputs = seq[offset: offset + batch * length].reshape(batch, length)
    targets = seq[offset + 1: offset + 1 + batch * length].reshape(batch, length)
    return np.ascontiguousarray(inputs.T), np.ascontiguousarray(targets.T)


def _segment_lengths(length: int, cfg: TrainConfig, rng: np.random.Generator) -> list[int]:
    if not cfg.random_bptt:
        return [min(cfg.bptt, length - i) for i in range(0, length, cfg.bptt)]
    out, pos = [], 0
    while pos < length:
        base = cfg.bptt if rng.random() < 0.95 else cfg.bptt / 2
        step = max(5, int(rng.normal(base, 5)))
        step = min(step, length - pos)
        out.append(step)
        pos += step
    return out


class Optimizer:
    """SGD or Adam over a dict of float32 arrays, updated in place.

    ``update(params, grads, lr, gscale)`` applies the gradients multiplied
    by ``gscale`` (the clipping factor), in one fused C pass per array when
    ``ngramkit._optim`` is available (numpy otherwise: the same maths).
    """

    def __init__(self, cfg: TrainConfig, params: dict):
        self.cfg = cfg
        self.step = 0
        self.m = self.v = None
        if cfg.optimizer == "adam":
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def update(self, params: dict, grads: dict, lr: float, gscale: float = 1.0) -> None:
        self.step += 1
        fused = _fused()
        if self.m is None:
            for k, g in grads.items():
                if isinstance(g, SparseRows) and fused is not None:
                    fused.sgd_rows(params[k], g.rows, g.ids, lr * gscale)
                elif isinstance(g, SparseRows):
                    params[k][g.ids] -= np.float32(lr * gscale) * g.rows
                elif fused is not None:
                    fused.sgd(params[k], np.ascontiguousarray(g, np.float32), lr * gscale)
                else:
                    params[k] -= np.float32(lr * gscale) * g
            return
        b1, b2 = self.cfg.adam_betas
        # bias corrections folded into the step size (Kingma & Ba 2015, end of sec. 2)
        step = lr * math.sqrt(1 - b2 ** self.step) / (1 - b1 ** self.step)
        eps = self.cfg.adam_eps * math.sqrt(1 - b2 ** self.step)
        for k, g in grads.items():
            if isinstance(g, SparseRows):
                # lazy Adam on the rows read by this segment (PyTorch's SparseAdam): the moments of
                # the other rows are not decayed, their weights do not move
                if fused is not None:
                    fused.adam_rows(params[k], g.rows, self.m[k], self.v[k], g.ids, gscale, b1, b2, step, eps)
                    continue
                ids, rows = g.ids, g.rows * np.float32(gscale)
                m = self.m[k][ids] * np.float32(b1) + np.float32(1 - b1) * rows
                v = self.v[k][ids] * np.float32(b2) + np.float32(1 - b2) * rows * rows
                self.m[k][ids], self.v[k][ids] = m, v
                params[k][ids] -= np.float32(step) * m / (np.sqrt(v) + np.float32(eps))
            elif fused is not None:
                fused.adam(params[k], np.ascontiguousarray(g, np.float32), self.m[k], self.v[k], gscale, b1, b2,
                           step, eps)
            else:
                g = g * np.float32(gscale)
                m, v = self.m[k], self.v[k]
                m *= np.float32(b1)
                m += np.float32(1 - b1) * g
                v *= np.float32(b2)
                g *= g
                g *= np.float32(1 - b2)
                v += g
                denom = np.sqrt(v)
                denom += np.float32(eps)
                np.divide(m, denom, out=denom)
                denom *= np.float32(-step)
                params[k] += denom

    def arrays(self) -> dict:
        if self.m is None:
            return {}
        out = {f"adam.m.{k}": a for k, a in self.m.items()}
        out.update({f"adam.v.{k}": a for k, a in self.v.items()})
        return out

    def load(self, arrays: dict, step: int) -> None:
        self.step = step
        if self.m is not None:
            self.m = {k: np.array(arrays[f"adam.m.{k}"]) for k in self.m}
            self.v = {k: np.array(arrays[f"adam.v.{k}"]) for k in self.v}


def clip_factor(grads: dict, clip: float) -> tuple[float, float]:
    """(global L2 norm of the gradients, clipping factor min(1, clip/norm)); clip 0 means factor 1."""
    fused = _fused()
    total = 0.0
    for g in grads.values():
        flat = (g.rows if isinstance(g, SparseRows) else g).reshape(-1)
        total += fused.sumsq(np.ascontiguousarray(flat, np.float32)) if fused is not None else \
            float(np.dot(flat.astype(np.float64), flat.astype(np.float64)))
    norm = math.sqrt(total)
    factor = clip / norm if clip > 0 and norm > clip else 1.0
    return norm, factor


def _copy_params(params: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in params.items()}


def _write_log(path, history: list, meta: dict) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(dict(meta, epochs=history), fh, indent=1)
        fh.write("\n")


# ---- trainer state and schedule ----------------------------------------------------------


@dataclass
class TrainerState:
    """The trainer's bookkeeping between epochs; checkpointed with the weights."""

    lr: float  # learning rate of the next epoch
    epoch: int = 0  # epochs finished
    halving: bool = False  # mikolov: validation has stalled once; the rate is halved every epoch from now on
    prev_xent: float | None = None  # mikolov: the last epoch's validation cross-entropy (nats per token)
    best_valid_ppl: float | None = None  # best validation perplexity so far
    best_epoch: int = 0  # the epoch of the best model (the last epoch without validation)
    bad_epochs: int = 0  # epochs since the last new best (early stopping)
    stopped: str = ""  # why training stopped; "" while it goes on

    @classmethod
    def start(cls, cfg: TrainConfig) -> TrainerState:
        """The state before the first epoch."""
        return cls(lr=next_lr(cls(lr=cfg.lr), cfg))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainerState:
        names = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(data, dict) or sorted(data) != sorted(names):
            raise NgramkitError(f"trainer state must have the fields {', '.join(names)}, got {data!r}")
        return cls(**data)


def next_lr(state: TrainerState, cfg: TrainConfig, valid_xent: float | None = None) -> float:
    """The learning rate of epoch ``state.epoch + 1``: a pure function (nanoGPT's ``get_lr``).

    ``state`` is the bookkeeping when epoch ``state.epoch`` has finished
    (``state.lr`` its rate; ``halving`` and ``prev_xent`` as they were before
    its validation), ``valid_xent`` that epoch's validation cross-entropy in
    nats (only the mikolov schedule reads it).

    - ``none``: ``cfg.lr``;
    - ``step``: ``cfg.lr * lr_decay ** max(0, epoch - decay_after)`` (Zaremba et al.);
    - ``mikolov``: ``state.lr``, halved from the first epoch whose validation
      cross-entropy improved by less than a factor ``min_improvement`` on
      (rnnlm-0.4b).

    >>> cfg = TrainConfig(schedule="step", lr=1.0, lr_decay=0.5, decay_after=2)
    >>> [next_lr(TrainerState(lr=1.0, epoch=e), cfg) for e in range(4)]
    [1.0, 1.0, 0.5, 0.25]
    """
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_decay ** max(0, state.epoch + 1 - cfg.decay_after)
    if cfg.schedule == "mikolov":
        return state.lr / 2 if state.halving or _stalled(state, cfg, valid_xent) else state.lr
    return cfg.lr


def _stalled(state: TrainerState, cfg: TrainConfig, valid_xent: float | None) -> bool:
    # rnnlm-0.4b: llogp * min_improvement < llogp_prev  <=>  xent * min_improvement > prev_xent
    return valid_xent is not None and state.prev_xent is not None and valid_xent * cfg.min_improvement > state.prev_xent


def end_of_epoch(state: TrainerState, cfg: TrainConfig, valid_ppl: float | None) -> TrainerState:
    """The state after epoch ``state.epoch + 1``, whose validation perplexity is ``valid_ppl``: a pure function.

    ``valid_ppl`` None (no validation text) makes every epoch the best. A new
    best resets ``bad_epochs``; the mikolov schedule starts halving at the
    first stall and stops at the second; ``patience`` epochs without a new
    best stop training (early stopping), and so does reaching ``cfg.epochs``.
    The caller keeps the weights of ``best_epoch`` (and the mikolov schedule
    goes back to them after an epoch that is not a new best, as rnnlm does).
    """
    done = dataclasses.replace(state, epoch=state.epoch + 1)
    xent = None
    if valid_ppl is None:
        done.best_epoch = done.epoch
    else:
        if not math.isfinite(valid_ppl):
            raise NgramkitError(f"training diverged: validation perplexity is {valid_ppl} after epoch {done.epoch}; "
                                "lower --lr or set --clip")
        xent = math.log(valid_ppl)
        if done.best_valid_ppl is None or valid_ppl < done.best_valid_ppl:
            done.best_valid_ppl, done.best_epoch, done.bad_epochs = valid_ppl, done.epoch, 0
        else:
            done.bad_epochs += 1
    lr = next_lr(done, cfg, xent)
    if cfg.schedule == "mikolov" and xent is not None:
        stall = _stalled(done, cfg, xent)
        if stall and done.halving:
            done.stopped = "validation perplexity stalled twice (mikolov schedule)"
        done.halving, done.prev_xent = done.halving or stall, xent
    if cfg.patience and done.bad_epochs >= cfg.patience and not done.stopped:
        done.stopped = f"no better validation perplexity for {cfg.patience} epochs (early stopping)"
    if done.epoch >= cfg.epochs and not done.stopped:
        done.stopped = "max epochs"
    done.lr = lr
    return done


# ---- checkpoints ------------------------------------------------------------------------------


class TrainingCheckpoint:
    """What :func:`train` saves after each epoch: the model, the trainer's bookkeeping, the optimiser's arrays.

    On disk it is a model file (:func:`ngramkit.npzfile.write_model`) of
    class ``TrainingCheckpoint``: the model's arrays plus the optimiser's
    (``adam.m.<name>``, ``adam.v.<name>``) and, in its state, the model's
    state plus ``trainer``: ``{"config", "opt_step", "rng", "history",
    "state" (TrainerState.to_dict()), "version"}``. Loading it with
    :func:`ngramkit.modelio.load_model` gives its model.
    """

    def __init__(self, model: RNNLM, trainer: dict, optimizer_arrays: dict):
        self.model = model
        self.vocab = model.vocab
        self.trainer = trainer
        self.optimizer_arrays = optimizer_arrays

    @property
    def state(self) -> TrainerState:
        return TrainerState.from_dict(self.trainer["state"])

    def get_state(self) -> tuple[dict, dict]:
        meta, arrays = self.model.get_state()
        arrays = dict(arrays)
        arrays.update(self.optimizer_arrays)
        return dict(meta, trainer=self.trainer), arrays

    @classmethod
    def model_from_state(cls, meta: dict, arrays: dict, vocab) -> RNNLM:
        """The checkpoint's *model* from a file's state (what ``load_model`` on a checkpoint returns)."""
        arrays = {k: v for k, v in arrays.items() if not k.startswith(OPT_PREFIX)}
        return RNNLM.from_state(meta, arrays, vocab)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint to ``path`` atomically. Returns the path."""
        return _write_rnn(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingCheckpoint:
        """Read a checkpoint file with private (writable) copies of every array."""
        path = Path(path)
        meta, arrays, vocab = npzfile.read_model(path, mmap=False)
        if meta["class"] != cls.__name__ or "trainer" not in meta["state"]:
            raise InputError(f"{path}: not a training checkpoint (class {meta['class']!r})")
        opt = {k: v for k, v in arrays.items() if k.startswith(OPT_PREFIX)}
        try:
            model = cls.model_from_state(meta["state"], arrays, vocab)
        except NgramkitError as exc:
            raise InputError(f"{path}: {exc}") from None
        return cls(model, meta["state"]["trainer"], opt)


def _write_rnn(path, obj, info: dict | None = None) -> Path:
    """An RNNLM or TrainingCheckpoint as a model file (what ngramkit.modelio.save_model writes for it)."""
    state, arrays = obj.get_state()
    return npzfile.write_model(path, kind="rnn", cls=type(obj).__name__, name="rnn", state=state, arrays=arrays,
                               vocab=obj.vocab, info=info)


def _read_rnn(path: Path) -> RNNLM:
    meta, arrays, vocab = npzfile.read_model(path, mmap=False)
    if meta["class"] != "RNNLM":
        raise InputError(f"{path}: a {meta['class']} file, not an RNN model")
    try:
        return RNNLM.from_state(meta["state"], arrays, vocab)
    except NgramkitError as exc:
        raise InputError(f"{path}: {exc}") from None


def load_checkpoint(directory) -> TrainingCheckpoint:
    """The checkpoint ``directory/last.ngk`` (model, trainer state, optimiser arrays)."""
    last = Path(directory) / LAST
    if not last.is_file():
        raise NgramkitError(f"--resume: no checkpoint {last}; start without --resume")
    return TrainingCheckpoint.load(last)


def fingerprint(stream) -> str:
    """SHA-256 (hex) of a stream's token ids (int32 little-endian) and its vocabulary's words, in order.

    Two streams have the same fingerprint when they hold the same tokens under
    the same vocabulary: what ``--resume`` needs to continue the same run.
    """
    digest = hashlib.sha256(np.ascontiguousarray(stream.ids, dtype="<i4").tobytes())
    digest.update(b"\0" + "\n".join(stream.vocab.words).encode("utf-8"))
    return digest.hexdigest()


def _fingerprints(train_stream, valid_stream) -> dict:
    return {"train": fingerprint(train_stream), "valid": None if valid_stream is None else fingerprint(valid_stream)}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_resume_config(ckpt, saved, wanted) -> None:
    """Refuse to resume the checkpoint in ``ckpt`` (model config ``saved``) with a different one, naming the fields."""
    if saved == wanted:
        return
    a, b = saved.to_dict(), wanted.to_dict()
    diff = [f"{_option(k)} {a[k]} in the checkpoint, {b[k]} now" for k in a if a[k] != b.get(k)]
    raise NgramkitError(f"--resume: the checkpoint in {ckpt} holds a different model ({'; '.join(diff)}); "
                        "resume with the same options, or start a new run without --resume")


def _resume(ckpt: Path, model: RNNLM, cfg: TrainConfig, data: dict):
    """(model, trainer dict, optimiser arrays, state) of the checkpoint in ``ckpt``, checked against this run."""
    checkpoint = load_checkpoint(ckpt)
    saved = checkpoint.trainer
    saved_cfg = TrainConfig.from_dict(saved["config"])
    if saved_cfg.to_dict() | {"epochs": cfg.epochs} != cfg.to_dict():
        a, b = saved_cfg.to_dict(), cfg.to_dict()
        diff = [f"{_option(k)} {a[k]} in the checkpoint, {b[k]} now" for k in a if k != "epochs" and a[k] != b[k]]
        raise NgramkitError(f"--resume: the checkpoint in {ckpt} was trained with different settings "
                            f"({'; '.join(diff)}); resume with the same options (only --epochs may change)")
    check_resume_config(ckpt, checkpoint.model.config, model.config)
    for split, what in (("train", "training"), ("valid", "validation")):
        before = saved.get("data", {}).get(split, data[split])  # checkpoints before version 3 have no fingerprint
        if before != data[split]:
            now = "none" if data[split] is None else "different text"
            raise NgramkitError(f"--resume: the {what} text differs from the one the checkpoint in {ckpt} was trained "
                                f"on ({now}; checked by a SHA-256 of its tokens and vocabulary); resume with the "
                                "same text and text options, or start a new run without --resume")
    state = checkpoint.state
    if saved.get("version", 1) < 2 and cfg.schedule == "step":
        state.lr = next_lr(state, cfg)  # version 1 kept the rate of the finished epoch for this schedule
    if state.stopped == "max epochs":  # --epochs raised: go on
        state.stopped = ""
    return checkpoint.model, saved, checkpoint.optimizer_arrays, state


def check_checkpoint_dir(directory) -> Path | None:
    """Fail now, with one line, if ``directory`` cannot hold checkpoints (it is created after the first epoch).

    Returns the outermost folder that does not exist yet (what
    :func:`remove_checkpoints` may remove after the run), None when it exists.
    """
    return check_dir_creatable(directory, "--checkpoint")


def remove_checkpoints(directory, created: Path | None = None) -> None:
    """Delete ``last.ngk`` and ``best.ngk`` in ``directory``; then the folders from it up to ``created``, if empty.

    ``created``: the outermost folder the run created (from
    :func:`check_checkpoint_dir`; :func:`train` creates missing parents too),
    or ``directory`` itself when it held only this run's checkpoints; None
    keeps every folder. Nothing else is touched.
    """
    directory = Path(directory).absolute()
    for name in (LAST, BEST):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    if created is None:
        return
    created = Path(created).absolute()
    for folder in (directory, *directory.parents):
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else's files) or gone: stop there
            return
        if folder == created:
            return


def diagnose(result: TrainResult, vocab_size: int, cfg: TrainConfig) -> str | None:
    """A one-line warning when the model is worse than a uniform guess over the vocabulary, with the likely cause.

    A uniform model has perplexity ``vocab_size``; a trained one above that
    learnt nothing useful. The cause is read from the log: a training
    perplexity that grew, or went far above uniform (10x), means the
    optimisation diverged (learning rate too high); a validation perplexity still falling
    at the last epoch means too few epochs; otherwise it overfitted.
    Returns None for a sensible model or one without validation.
    """
    ppl = result.best_valid_ppl
    if ppl is None or ppl <= vocab_size:
        return None
    history = result.history
    train_ppls = [e["train_ppl"] for e in history]
    valid_ppls = [e["valid_ppl"] for e in history]
    if train_ppls[-1] > train_ppls[0] or max(train_ppls) > 10 * vocab_size:
        cause = (f"training diverged: the learning rate ({cfg.optimizer} lr {cfg.lr:g}) is too high for this "
                 f"recipe; try --lr {cfg.lr / 10:g}" + (" or --optimizer adam" if cfg.optimizer == "sgd" else "")
                 + (f", or a lower --clip (now {cfg.clip:g})" if cfg.clip > 1 else ""))
    elif len(valid_ppls) < 2 or valid_ppls[-1] < valid_ppls[-2]:
        cause = f"too few epochs: validation perplexity was still falling after {len(history)}; raise --epochs"
    else:
        cause = ("overfitting: validation perplexity rose while training perplexity fell; "
                 "raise --dropout or lower --hidden")
    shown = f"{ppl:,.1f}" if ppl < 1e6 else f"{ppl:.3e}"
    return (f"the best model has validation perplexity {shown}, worse than a uniform guess over the "
            f"{vocab_size:,}-word vocabulary ({vocab_size:,}); likely cause: {cause}")


# ---- the training loop ------------------------------------------------------------------------


def train(model, train_stream, valid_stream=None, config: TrainConfig | None = None, *,
          checkpoint_dir=None, resume: bool = False, log_path=None, progress=None) -> TrainResult:
    """Train ``model`` in place and return the best model by validation perplexity.

    ``progress`` is called with event dicts (``epoch``, ``epochs``, ``done``,
    ``total``, ``words_per_second``, ``train_ppl``, ``valid_ppl`` (None
    during an epoch, NaN at its end without validation), ``lr``); pass
    :class:`ngramkit.progress.EpochProgress` for a report on stderr. ``resume=True`` needs ``checkpoint_dir``; training then goes on
    with the checkpoint's model (``model`` must have its configuration and
    is left untouched) and training configuration (only ``epochs`` may be
    raised).

    Each history entry: ``epoch, lr, train_ppl, valid_ppl, tokens, seconds,
    words_per_second, grad_norm (mean), best``.
    """
    cfg = config or TrainConfig()
    if cfg.schedule == "mikolov" and valid_stream is None:
        raise NgramkitError("the mikolov learning-rate schedule needs validation text (--valid FILE or --corpus); "
                            "or use --schedule step/none")
    if valid_stream is not None and valid_stream.n_tokens == 0:
        raise NgramkitError("the validation stream is empty; give a non-empty --valid file")
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and ckpt is None:
        raise NgramkitError("--resume needs a checkpoint directory")

    rng = np.random.default_rng(cfg.seed)
    opt = Optimizer(cfg, model.params)
    history: list = []
    state = TrainerState.start(cfg)
    data = _fingerprints(train_stream, valid_stream) if ckpt is not None else None
    if resume:
        model, saved, opt_arrays, state = _resume(ckpt, model, cfg, data)
        opt = Optimizer(cfg, model.params)
        opt.load(opt_arrays, saved["opt_step"])
        rng.bit_generator.state = saved["rng"]
        history = saved["history"]
    best_params = _copy_params(model.params)
    if resume and (ckpt / BEST).is_file():
        best_params = _copy_params(_read_rnn(ckpt / BEST).params)

    train_ids = model.kernel_ids(train_stream.ids)
    eos = int(model.to_kernel[EOS_ID])
    scale = 1.0 / cfg.batch
    while state.epoch < cfg.epochs and not state.stopped:
        epoch, lr = state.epoch + 1, state.lr
        offset = int(rng.integers(0, cfg.bptt)) if cfg.random_bptt else 0
        inputs, targets = partition(train_ids, eos, cfg.batch, offset)
        lengths = _segment_lengths(inputs.shape[0], cfg, rng)
        total = inputs.shape[0] * cfg.batch
        hidden = model.initial_state(cfg.batch)
        nll, done, norms, pos = 0.0, 0, 0.0, 0
        t0 = time.perf_counter()
        for step, seg in enumerate(lengths, 1):
            x, y = inputs[pos: pos + seg], targets[pos: pos + seg]
            pos += seg
            logp, grads, hidden = model.forward_backward(x, y, hidden, scale=scale, rng=rng)
            seg_nll = -float(logp.sum())
            norm, factor = clip_factor(grads, cfg.clip)
            if not (math.isfinite(seg_nll) and math.isfinite(norm)):
                what = "loss" if not math.isfinite(seg_nll) else "gradient norm"
                kept = (f"the last good checkpoint (epoch {state.epoch}) is kept in {ckpt}"
                        if ckpt is not None and state.epoch > 0 else "no checkpoint was written")
                raise NgramkitError(
                    f"training diverged: the {what} became {seg_nll if what == 'loss' else norm} at epoch {epoch}, "
                    f"step {step} of {len(lengths)} (lr {lr:g}); lower --lr or set --clip (now {cfg.clip:g}); {kept}")
            opt.update(model.params, grads, lr, factor)
            nll += seg_nll
            done += x.size
            norms += norm
            if progress is not None:
                elapsed = time.perf_counter() - t0
                progress({"epoch": epoch, "epochs": cfg.epochs, "done": done, "total": total, "lr": lr,
                          "words_per_second": done / max(elapsed, 1e-9), "train_ppl": perplexity_of(-nll / done),
                          "valid_ppl": None})
        seconds = time.perf_counter() - t0
        train_ppl = perplexity_of(-nll / done)
        entry = {"epoch": epoch, "lr": lr, "train_ppl": train_ppl, "valid_ppl": None, "tokens": done,
                 "seconds": seconds, "words_per_second": done / max(seconds, 1e-9),
                 "grad_norm": norms / len(lengths), "best": False}
        if valid_stream is not None:
            t1 = time.perf_counter()
            entry["valid_ppl"] = perplexity_of(float(np.mean(model.log_probs(valid_stream))))
            entry["valid_seconds"] = time.perf_counter() - t1
        state = end_of_epoch(state, cfg, entry["valid_ppl"])
        entry["best"] = state.best_epoch == epoch
        if valid_stream is None:
            best_params = model.params
        elif entry["best"]:
            best_params = _copy_params(model.params)
        elif cfg.schedule == "mikolov":  # rnnlm restores the previous weights when validation gets worse
            for k, v in best_params.items():
                model.params[k][...] = v
        history.append(entry)
        if progress is not None:
            progress({"epoch": epoch, "epochs": cfg.epochs, "done": done, "total": total, "lr": lr,
                      "words_per_second": entry["words_per_second"], "train_ppl": train_ppl,
                      "valid_ppl": entry["valid_ppl"] if entry["valid_ppl"] is not None else float("nan")})
        target = None
        try:  # a failed auxiliary write stops training but never loses the model (WriteFailed carries it)
            if ckpt is not None:
                target = ("checkpoint folder", ckpt)
                ckpt.mkdir(parents=True, exist_ok=True)
                if entry["best"]:
                    target = ("checkpoint", ckpt / BEST)
                    _write_rnn(ckpt / BEST, model, info={"epoch": epoch, "valid_ppl": entry["valid_ppl"]})
                trainer = {"config": cfg.to_dict(), "opt_step": opt.step, "rng": rng.bit_generator.state,
                           "history": history, "state": state.to_dict(), "version": CHECKPOINT_VERSION,
                           "data": data}
                target = ("checkpoint", ckpt / LAST)
                TrainingCheckpoint(model, trainer, opt.arrays()).save(ckpt / LAST)
            if log_path is not None:
                target = ("training log", Path(log_path))
                _write_log(log_path, history, {"model": model.config.to_dict(), "train": cfg.to_dict(),
                                               "stop_reason": state.stopped})
        except (OSError, NgramkitError) as exc:
            stopped = f"cannot write the {target[0]} {target[1]} ({write_error_reason(exc, target[1])})"
            more = "" if state.stopped else f" of {cfg.epochs}"
            raise WriteFailed(f"{stopped}; training stopped after epoch {epoch}{more}",
                              _result(model, best_params, history, state, stopped)) from None

    return _result(model, best_params, history, state, state.stopped or "max epochs")


def write_error_reason(exc: Exception, path) -> str:
    """The cause of a failed write, without the path the caller names: ``No space left on device``."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc).removeprefix(f"{path}: ")
    inner = re.search(r"\(([^()]*)\)$", text)  # npzfile's "cannot write the model file (<strerror>)"
    return inner.group(1) if inner else text


def _result(model, best_params: dict, history: list, state: TrainerState, stop_reason: str) -> TrainResult:
    best = model.__class__(model.config, model.vocab, best_params, model.to_kernel, model.class_bounds)
    return TrainResult(best, history, state.best_valid_ppl, stop_reason)
