"""The RNN language model baseline (tanh RNN, GRU, LSTM) and its C kernels.

See :mod:`ngramkit.rnn.kernels` for the kernel contract and
:mod:`ngramkit.rnn.reference` for its numpy reference.
"""
