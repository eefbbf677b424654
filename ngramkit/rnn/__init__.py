"""The RNN language model baseline (tanh RNN, GRU, LSTM) and its C kernels.

See :mod:`ngramkit.rnn.kernels` for the kernel contract and
:mod:`ngramkit.rnn.reference` for its numpy reference.

Input: :class:`~ngramkit.stream.Stream` objects over a shared vocabulary.
Output: :class:`RNNLM` with the one scoring contract ``log_probs(stream)``
(natural log of every predicted token), trained by :func:`train` with
stateful truncated BPTT, saved/loaded with :func:`save_rnn` /
:func:`load_rnn` (ngramkit's native model format, ``kind: "rnn"``).
Modules: ``config`` (:class:`RNNConfig`, :class:`TrainConfig`), ``model``
(:class:`RNNLM`), ``train`` (the trainer), ``storage`` (files).
"""

from .config import RNNConfig, TrainConfig
from .model import RNNLM, class_layout
from .storage import TrainingCheckpoint, load_rnn, save_rnn
from .train import StderrProgress, TrainResult, train

__all__ = ["RNNConfig", "RNNLM", "StderrProgress", "TrainConfig", "TrainResult", "TrainingCheckpoint",
           "class_layout", "load_rnn", "save_rnn", "train"]
