"""Smoothed n-gram language models behind one scoring contract.

Every model: ``Model(order, **hyper_parameters).fit(counts)`` (or
``.fit_sentences(sentences)``), then ``log_probs(stream)`` -> (N,) natural-log
probabilities of every word and ``</s>`` (the contract: :mod:`ngramkit.lm`).

- :class:`MLE`, :class:`Laplace`, :class:`Lidstone`, :class:`StupidBackoff`:
  scored from the count tables (:mod:`ngramkit.models.counted`).
- :class:`Additive`, :class:`WittenBell`, :class:`AbsoluteDiscounting`,
  :class:`KneserNey`, :class:`ModifiedKneserNey`: interpolated, stored in
  backoff (ARPA) form (:mod:`ngramkit.models.interpolated`).
- :class:`BackoffModel`: any ARPA model (what :func:`ngramkit.arpa.read_arpa` returns).

``MODELS`` maps the CLI's ``--smoothing`` names to the classes.
"""

from .backoff import BackoffModel
from ..lm import LanguageModel
from .counted import MLE, CountModel, Laplace, Lidstone, StupidBackoff
from .interpolated import (AbsoluteDiscounting, Additive, InterpolatedModel, KneserNey, ModifiedKneserNey,
                           WittenBell)

MODELS: dict[str, type[LanguageModel]] = {
    "mle": MLE,
    "laplace": Laplace,
    "lidstone": Lidstone,
    "additive": Additive,
    "witten-bell": WittenBell,
    "absolute": AbsoluteDiscounting,
    "kn": KneserNey,
    "mkn": ModifiedKneserNey,
    "stupid-backoff": StupidBackoff,
}

# Classes by name, for loading saved models (meta["class"]).
CLASSES: dict[str, type[LanguageModel]] = {cls.__name__: cls for cls in (*MODELS.values(), BackoffModel)}

__all__ = ["MODELS", "CLASSES", "LanguageModel", "BackoffModel", "CountModel", "InterpolatedModel", "MLE",
           "Laplace", "Lidstone", "Additive", "WittenBell", "AbsoluteDiscounting", "KneserNey",
           "ModifiedKneserNey", "StupidBackoff"]
