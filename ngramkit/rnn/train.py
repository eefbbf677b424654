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

Checkpoints (``checkpoint_dir``): ``last.ngk`` (weights, optimiser state,
random-generator state and the log after the last finished epoch, a
:class:`~ngramkit.rnn.storage.TrainingCheckpoint`) and ``best.ngk`` (the
best model so far), both native model files written atomically with
checksums (:mod:`ngramkit.modelio`). ``resume=True`` continues from
``last.ngk`` and reproduces the uninterrupted run exactly (same seeds, same
order of operations; the hidden state is reset at every epoch start, so
nothing else is needed).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import NgramkitError
from ..fileio import atomic_open
from ..vocab import EOS_ID
from .config import TrainConfig
from .model import SparseRows, compiled_optim as _fused
from .storage import TrainingCheckpoint, load_rnn, save_rnn

LAST, BEST = "last.ngk", "best.ngk"


@dataclass
class TrainResult:
    model: object  # the best model by validation perplexity (the last one without validation)
    history: list = field(default_factory=list)  # one dict per epoch (see train())
    best_valid_ppl: float | None = None
    stop_reason: str = ""


class StderrProgress:
    """A one-line progress printer on stderr (ngramkit does not import click).

    Called with the trainer's event dicts; redraws at most every
    ``interval`` seconds and ends each epoch with a newline.
    """

    def __init__(self, stream=None, interval: float = 0.5, width: int = 24):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.width = width
        self._last = 0.0

    def __call__(self, event: dict) -> None:
        now = time.monotonic()
        end = event.get("valid_ppl") is not None
        if not end and now - self._last < self.interval:
            return
        self._last = now
        frac = event["done"] / max(event["total"], 1)
        bar = "#" * int(frac * self.width)
        valid = event.get("valid_ppl")
        text = (f"\repoch {event['epoch']}/{event['epochs']} [{bar:<{self.width}}] {100 * frac:3.0f}% "
                f"{event['words_per_second']:,.0f} words/s  train ppl {event['train_ppl']:.1f}"
                + (f"  valid ppl {valid:.1f}" if valid is not None else "") + f"  lr {event['lr']:.3g}")
        self.stream.write(text + ("\n" if valid is not None else ""))
        self.stream.flush()


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


class _Optimizer:
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


def _clip(grads: dict, clip: float) -> tuple[float, float]:
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


def load_checkpoint(directory) -> TrainingCheckpoint:
    """The checkpoint ``directory/last.ngk`` (model, trainer state, optimiser arrays)."""
    last = Path(directory) / LAST
    if not last.is_file():
        raise NgramkitError(f"--resume: no checkpoint {last}; start without --resume")
    return TrainingCheckpoint.load(last)


def _perplexity(model, stream) -> float:
    return math.exp(-float(np.mean(model.log_probs(stream))))


def train(model, train_stream, valid_stream=None, config: TrainConfig | None = None, *,
          checkpoint_dir=None, resume: bool = False, log_path=None, progress=None) -> TrainResult:
    """Train ``model`` in place and return the best model by validation perplexity.

    ``progress`` is called with event dicts (``epoch``, ``epochs``, ``done``,
    ``total``, ``words_per_second``, ``train_ppl``, ``valid_ppl`` (None
    during an epoch), ``lr``); pass :class:`StderrProgress` for a bar on
    stderr. ``resume=True`` needs ``checkpoint_dir``; the model and the
    training configuration then come from the checkpoint (only ``epochs``
    may be raised).

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
    opt = _Optimizer(cfg, model.params)
    history: list = []
    st = {"epoch": 0, "lr": cfg.lr, "halving": False, "prev_xent": None, "best_valid_ppl": None,
          "best_epoch": 0, "bad_epochs": 0, "stopped": ""}
    if resume:
        checkpoint = load_checkpoint(ckpt)
        loaded, saved, opt_arrays = checkpoint.model, checkpoint.trainer, checkpoint.optimizer_arrays
        saved_cfg = TrainConfig.from_dict(saved["config"])
        if saved_cfg.to_dict() | {"epochs": cfg.epochs} != cfg.to_dict():
            diff = sorted(k for k, v in saved_cfg.to_dict().items() if k != "epochs" and cfg.to_dict()[k] != v)
            raise NgramkitError(f"--resume: the checkpoint in {ckpt} was trained with different settings "
                                f"({', '.join(diff)}); resume with the same options (only --epochs may change)")
        if loaded.config != model.config:
            raise NgramkitError(f"--resume: the checkpoint in {ckpt} holds a different model configuration")
        model.params = loaded.params
        model.to_kernel, model.to_vocab, model.class_bounds = loaded.to_kernel, loaded.to_vocab, loaded.class_bounds
        model.identity_ids = loaded.identity_ids
        opt = _Optimizer(cfg, model.params)
        opt.load(opt_arrays, saved["opt_step"])
        rng.bit_generator.state = saved["rng"]
        history = saved["history"]
        st = saved["state"]
        if st["stopped"]:
            st["stopped"] = "" if st["stopped"] == "max epochs" else st["stopped"]
    best_params = _copy_params(model.params)
    if resume and (ckpt / BEST).is_file():
        best_params = _copy_params(load_rnn(ckpt / BEST).params)

    train_ids = model._kernel_ids(train_stream.ids)
    eos = int(model.to_kernel[EOS_ID])
    scale = 1.0 / cfg.batch
    while st["epoch"] < cfg.epochs and not st["stopped"]:
        epoch = st["epoch"] + 1
        if cfg.schedule == "step":
            st["lr"] = cfg.lr * cfg.lr_decay ** max(0, epoch - cfg.decay_after)
        lr = st["lr"]
        offset = int(rng.integers(0, cfg.bptt)) if cfg.random_bptt else 0
        inputs, targets = partition(train_ids, eos, cfg.batch, offset)
        lengths = _segment_lengths(inputs.shape[0], cfg, rng)
        total = inputs.shape[0] * cfg.batch
        state = model.initial_state(cfg.batch)
        nll, done, norms, pos = 0.0, 0, 0.0, 0
        t0 = time.perf_counter()
        for step, seg in enumerate(lengths, 1):
            x, y = inputs[pos: pos + seg], targets[pos: pos + seg]
            pos += seg
            logp, grads, state = model.forward_backward(x, y, state, scale=scale, rng=rng)
            seg_nll = -float(logp.sum())
            norm, factor = _clip(grads, cfg.clip)
            if not (math.isfinite(seg_nll) and math.isfinite(norm)):
                what = "loss" if not math.isfinite(seg_nll) else "gradient norm"
                kept = (f"the last good checkpoint (epoch {st['epoch']}) is kept in {ckpt}"
                        if ckpt is not None and st["epoch"] > 0 else "no checkpoint was written")
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
                          "words_per_second": done / max(elapsed, 1e-9), "train_ppl": math.exp(nll / done),
                          "valid_ppl": None})
        seconds = time.perf_counter() - t0
        train_ppl = math.exp(nll / done)
        entry = {"epoch": epoch, "lr": lr, "train_ppl": train_ppl, "valid_ppl": None, "tokens": done,
                 "seconds": seconds, "words_per_second": done / max(seconds, 1e-9),
                 "grad_norm": norms / len(lengths), "best": False}
        if valid_stream is not None:
            t1 = time.perf_counter()
            valid_ppl = _perplexity(model, valid_stream)
            entry["valid_ppl"] = valid_ppl
            entry["valid_seconds"] = time.perf_counter() - t1
            _end_of_epoch(st, cfg, entry, model, best_params)
            if entry["best"]:
                best_params = _copy_params(model.params)
        else:
            entry["best"] = True
            best_params = model.params
        st["epoch"] = epoch
        if st["epoch"] >= cfg.epochs and not st["stopped"]:
            st["stopped"] = "max epochs"
        history.append(entry)
        if progress is not None:
            progress({"epoch": epoch, "epochs": cfg.epochs, "done": done, "total": total, "lr": lr,
                      "words_per_second": entry["words_per_second"], "train_ppl": train_ppl,
                      "valid_ppl": entry["valid_ppl"] if entry["valid_ppl"] is not None else float("nan")})
        if ckpt is not None:
            ckpt.mkdir(parents=True, exist_ok=True)
            if entry["best"]:
                save_rnn(model, ckpt / BEST, info={"epoch": epoch, "valid_ppl": entry["valid_ppl"]})
            trainer = {"config": cfg.to_dict(), "opt_step": opt.step, "rng": rng.bit_generator.state,
                       "history": history, "state": st}
            save_rnn(TrainingCheckpoint(model, trainer, opt.arrays()), ckpt / LAST)
        if log_path is not None:
            _write_log(log_path, history, {"model": model.config.to_dict(), "train": cfg.to_dict(),
                                           "stop_reason": st["stopped"]})

    best = model.__class__(model.config, model.vocab, best_params, model.to_kernel, model.class_bounds)
    return TrainResult(best, history, st["best_valid_ppl"], st["stopped"] or "max epochs")


def _end_of_epoch(st: dict, cfg: TrainConfig, entry: dict, model, best_params: dict) -> None:
    """Best-model bookkeeping, learning-rate schedule and stopping rules after one epoch."""
    valid_ppl = entry["valid_ppl"]
    if not math.isfinite(valid_ppl):
        raise NgramkitError(f"training diverged: validation perplexity is {valid_ppl} after epoch {entry['epoch']}; "
                            "lower --lr or set --clip")
    xent = math.log(valid_ppl)
    if st["best_valid_ppl"] is None or valid_ppl < st["best_valid_ppl"]:
        st["best_valid_ppl"], st["best_epoch"], st["bad_epochs"] = valid_ppl, entry["epoch"], 0
        entry["best"] = True
    else:
        st["bad_epochs"] += 1
        if cfg.schedule == "mikolov":  # rnnlm restores the previous weights when validation gets worse
            for k, v in best_params.items():
                model.params[k][...] = v
    if cfg.schedule == "mikolov":
        # rnnlm-0.4b: llogp * min_improvement < llogp_prev  <=>  xent * min_improvement > prev_xent
        if st["prev_xent"] is not None and xent * cfg.min_improvement > st["prev_xent"]:
            if st["halving"]:
                st["stopped"] = "validation perplexity stalled twice (mikolov schedule)"
            st["halving"] = True
        if st["halving"]:
            st["lr"] = st["lr"] / 2
        st["prev_xent"] = xent
    if cfg.patience and st["bad_epochs"] >= cfg.patience and not st["stopped"]:
        st["stopped"] = f"no better validation perplexity for {cfg.patience} epochs (early stopping)"
