"""Compare n-gram models and RNN language models on the same token streams.

Input: a training, a validation and a test split (a registry corpus such as
``timemachine`` or ``ptb``, or three lists of files), text options, and a
model spec such as ``"laplace:1-3,mkn:3,mkn:5,rnn"``.

Output: a :class:`Report`: one :class:`Row` per model with its size,
parameters, training time, scoring speed and validation/test perplexity, plus
the facts needed to repeat the run (corpus, split sizes, vocabulary size,
seed, versions). ``Report.to_json`` / ``to_markdown`` / ``to_csv`` / ``plot``
/ ``save`` write it out.

Honesty rules:

- One :class:`~ngramkit.vocab.Vocabulary`, built on the training split only,
  is shared by every model; the valid and test streams are built once and
  every model scores exactly their N predicted tokens (every word and every
  ``</s>``, never ``<s>``; out-of-vocabulary words are ``<unk>``, an ordinary
  word, and are also counted as OOVs). ``valid_tokens`` / ``test_tokens``
  show that count per row.
- Every number comes from one array: ``model.log_probs(stream)``, (N,)
  natural-log probabilities, summarised by :func:`ngramkit.evaluate.summarize`:
  exactly what ``ngramkit ppl`` prints for the same model and text.
  Perplexity is ``exp(-mean(log_probs))``, bits/token is
  ``-mean(log_probs) / ln 2`` (on the test stream).
- The interpolation row mixes the best RNN and the best n-gram model (lowest
  validation perplexity) per token, ``p = w * p_rnn + (1 - w) * p_ngram``
  (Mikolov et al. 2011); ``w`` is tuned on the validation stream only (grid,
  then golden-section search: the validation cross-entropy is convex in
  ``w``) and reported.

Modules: ``specs`` (the model spec), ``data`` (the three splits),
``candidates`` (one adapter per model family), ``mixing`` (interpolation),
``report`` (the Report and its outputs), ``run`` (:func:`compare`).
"""

from .candidates import Fitted, NgramCandidate, RNNCandidate, fit_ngram
from .data import SplitStreams, load_splits
from .mixing import mix_log_probs, tune_weight
from .report import COLUMNS, MODEL_SUFFIX, TIMING_FIELDS, Report, Row
from .run import compare
from .specs import (DEFAULT_CHAR_MODELS, DEFAULT_MODELS, LEVELS, RNN_CELLS, ModelSpec, ngram_model_names,
                    parse_models)

__all__ = ["COLUMNS", "DEFAULT_CHAR_MODELS", "DEFAULT_MODELS", "Fitted", "LEVELS", "MODEL_SUFFIX", "ModelSpec",
           "NgramCandidate", "RNNCandidate", "RNN_CELLS", "Report", "Row", "SplitStreams", "TIMING_FIELDS",
           "compare", "fit_ngram", "load_splits", "mix_log_probs", "ngram_model_names", "parse_models",
           "tune_weight"]
