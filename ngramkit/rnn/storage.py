"""RNN model and checkpoint files, in ngramkit's native model format.

Input/output: an :class:`~ngramkit.rnn.model.RNNLM` <-> one file written by
:func:`ngramkit.modelio.save_model` (an uncompressed zip of ``.npy`` arrays
plus ``meta.json`` with ``"kind": "rnn"``, ``"class": "RNNLM"``; every array
SHA-256-checked on load, written atomically, no pickle). The RNN's
``state`` holds its :class:`~ngramkit.rnn.config.RNNConfig`; the arrays are
the weights (``embed``, ``layer<l>.Wx/bx/Wh/bh``, ``class.W/b``, ``out.W/b``,
word-indexed ones in kernel order), ``to_kernel`` (V,) int32 and, for the
class softmax, ``class_bounds`` (C+1,) int32.

A training checkpoint is the same kind of file whose class is
:class:`TrainingCheckpoint`: the model's arrays plus the optimiser's
(``adam.m.<name>``, ``adam.v.<name>``) and, in its state, the trainer's
bookkeeping (epoch, learning rate, random-generator state, log). Loading a
checkpoint with :func:`ngramkit.modelio.load_model` gives its model, so
``ngramkit ppl --model CKPT/last.ngk`` works on an unfinished run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, NgramkitError

OPT_PREFIX = "adam."


def save_rnn(model, path: str | os.PathLike, *, info: dict | None = None) -> Path:
    """Write ``model`` to ``path`` in the native format (atomically). Returns the path."""
    from ..modelio import save_model

    return save_model(model, path, info=info)


def load_rnn(path: str | os.PathLike, *, mmap: bool = False):
    """Load an RNN model (or a training checkpoint's model) written by :func:`save_rnn`."""
    from ..modelio import load_model

    model = load_model(path, mmap=mmap)
    from .model import RNNLM

    if not isinstance(model, RNNLM):
        raise InputError(f"{path}: a {type(model).__name__} model, not an RNN model")
    return model


class TrainingCheckpoint:
    """What :func:`ngramkit.rnn.train.train` saves after each epoch (see the module docstring)."""

    def __init__(self, model, trainer: dict, optimizer_arrays: dict):
        self.model = model
        self.vocab = model.vocab
        self.trainer = trainer
        self.optimizer_arrays = optimizer_arrays

    def get_state(self) -> tuple[dict, dict]:
        meta, arrays = self.model.get_state()
        arrays = dict(arrays)
        arrays.update(self.optimizer_arrays)
        return dict(meta, trainer=self.trainer), arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict, vocab):
        """The checkpoint's *model* (so ``load_model`` on a checkpoint gives an RNNLM)."""
        from .model import RNNLM

        arrays = {k: v for k, v in arrays.items() if not k.startswith(OPT_PREFIX)}
        return RNNLM.from_state(meta, arrays, vocab)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingCheckpoint:
        """Read a checkpoint file with private (writable) copies of every array."""
        from ..modelio import _vocab_from, load_state
        from .model import RNNLM

        path = Path(path)
        meta, arrays = load_state(path, mmap=False)
        if meta.get("class") != cls.__name__ or "trainer" not in meta.get("state", {}):
            raise NgramkitError(f"{path}: not a training checkpoint (class {meta.get('class')!r})")
        vocab = _vocab_from(meta, arrays, path)
        opt = {k: v for k, v in arrays.items() if k.startswith(OPT_PREFIX)}
        model_arrays = {k: np.array(v) for k, v in arrays.items() if not k.startswith(OPT_PREFIX)}
        try:
            model = RNNLM.from_state(meta["state"], model_arrays, vocab)
        except NgramkitError as exc:
            raise InputError(f"{path}: {exc}") from None
        return cls(model, meta["state"]["trainer"], opt)
