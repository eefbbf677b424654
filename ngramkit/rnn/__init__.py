"""The RNN language model baseline (tanh RNN, GRU, LSTM) and its C kernels.

See :mod:`ngramkit.rnn.kernels` for the kernel contract and
:mod:`ngramkit.rnn.reference` for its numpy reference.

Input: :class:`~ngramkit.stream.Stream` objects over a shared vocabulary.
Output: :class:`RNNLM` with the one scoring contract ``log_probs(stream)``
(natural log of every predicted token), trained by :func:`train` with
stateful truncated BPTT, saved/loaded with :func:`ngramkit.modelio.save_model`
/ :func:`ngramkit.modelio.load_model` (ngramkit's native model format,
``kind: "rnn"``). Modules: ``config`` (:class:`RNNConfig`,
:class:`TrainConfig`), ``model`` (:class:`RNNLM`), ``train`` (the trainer,
its :class:`TrainerState` and :class:`TrainingCheckpoint`).
"""

from .config import RNNConfig, TrainConfig
from .model import RNNLM, class_layout
from .train import TrainerState, TrainingCheckpoint, TrainResult, WriteFailed, train

__all__ = ["RNNConfig", "RNNLM", "TrainConfig", "TrainResult", "TrainerState", "TrainingCheckpoint",
           "WriteFailed", "class_layout", "train"]
