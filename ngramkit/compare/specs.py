"""What a comparison runs: the model spec ``"laplace:1-3,mkn:3,mkn:5,rnn"`` and the rows it names.

Input: a spec string. Output: a list of :class:`ModelSpec`, one per row, in
the order given, duplicates dropped.

>>> parse_models("laplace:1-3,mkn:5,rnn")  # doctest: +NORMALIZE_WHITESPACE
[ModelSpec(name='laplace', order=1, hidden=None), ModelSpec(name='laplace', order=2, hidden=None),
 ModelSpec(name='laplace', order=3, hidden=None), ModelSpec(name='mkn', order=5, hidden=None),
 ModelSpec(name='rnn', order=None, hidden=None)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..counts import MAX_ORDER
from ..errors import NgramkitError
from ..models import MODELS
from ..rnn.config import CELLS

DEFAULT_MODELS = "laplace:1-3,mkn:3,mkn:5,rnn"
DEFAULT_CHAR_MODELS = "laplace:1-3,mkn:3,mkn:5,mkn:7,rnn"  # characters: longer contexts pay off
RNN_CELLS = CELLS
LEVELS = ("word", "char")
DEFAULT_NGRAM_ORDER = 3


@dataclass(frozen=True)
class ModelSpec:
    """One requested row: an n-gram model of some order, or an RNN cell."""

    name: str  # n-gram estimator name (a key of ngramkit.models.MODELS) or an RNN cell
    order: int | None = None  # n-gram order; None for RNNs
    hidden: int | None = None  # RNN hidden size override (``lstm:200``); None: the preset's

    @property
    def is_rnn(self) -> bool:
        return self.name in RNN_CELLS

    @property
    def label(self) -> str:
        if self.is_rnn:
            return self.name if self.hidden is None else f"{self.name}:{self.hidden}"
        return f"{self.name}:{self.order}"


def ngram_model_names() -> list[str]:
    """Estimators usable in a comparison: every model of ``ngramkit.models`` that gives probabilities."""
    return [name for name, cls in MODELS.items() if _gives_probabilities(cls)]


def _gives_probabilities(cls) -> bool:
    # StupidBackoff gives scores, not probabilities: it has no perplexity.
    return bool(getattr(cls, "is_probabilistic", True))


_ORDER_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_models(spec: str, ngram_names=None) -> list[ModelSpec]:
    """Parse ``"laplace:1-3,mkn:3,mkn:5,rnn,gru,lstm:200"`` into model specs.

    ``NAME:ORDER`` or ``NAME:FIRST-LAST`` for n-gram estimators (order 3 when
    omitted; a bare order after an n-gram item continues it, so
    ``mkn:3,5`` is ``mkn:3,mkn:5``); ``rnn``, ``gru``, ``lstm`` optionally
    with ``:HIDDEN``. Duplicates are dropped, order is kept. Unknown names
    and malformed items raise :class:`NgramkitError` naming the item and
    listing the valid names.
    """
    if ngram_names is None:
        ngram_names = ngram_model_names()
    ngram_names = list(ngram_names)
    valid = ", ".join(list(ngram_names) + list(RNN_CELLS))
    example = "e.g. laplace:1-3,mkn:3,mkn:5,rnn"
    if not isinstance(spec, str) or not spec.strip():
        raise NgramkitError(f"--models: empty model list; valid models: {valid} ({example})")
    out: list[ModelSpec] = []
    previous: str | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise NgramkitError(f"--models: empty item in {spec!r} (stray comma?); {example}")
        name, sep, arg = item.partition(":")
        name = name.strip().lower()
        if _ORDER_RE.match(name) and not sep:
            # A bare order continues the previous n-gram item: "mkn:3,5".
            if previous is None or previous in RNN_CELLS:
                raise NgramkitError(f"--models: {item!r} needs a model name, e.g. mkn:{item}; valid models: {valid}")
            name, arg, sep = previous, item, ":"
        if name in RNN_CELLS:
            hidden = None
            if sep:
                if not arg.strip().isdigit() or int(arg) < 1:
                    raise NgramkitError(f"--models: bad hidden size in {item!r}; use {name} or {name}:HIDDEN, e.g. {name}:200")
                hidden = int(arg)
            out.append(ModelSpec(name, None, hidden))
        elif name in ngram_names:
            first, last = DEFAULT_NGRAM_ORDER, DEFAULT_NGRAM_ORDER
            if sep:
                m = _ORDER_RE.match(arg.strip())
                if not m:
                    raise NgramkitError(f"--models: bad order in {item!r}; use {name}:ORDER or {name}:FIRST-LAST, e.g. {name}:1-3")
                first = int(m.group(1))
                last = int(m.group(2)) if m.group(2) else first
            if not 1 <= first <= last <= MAX_ORDER:
                raise NgramkitError(f"--models: orders in {item!r} must satisfy 1 <= first <= last <= {MAX_ORDER}")
            out.extend(ModelSpec(name, k) for k in range(first, last + 1))
        else:
            hint = ""
            if "stupid" in name:
                hint = " (stupid backoff gives scores, not probabilities: it has no perplexity)"
            raise NgramkitError(f"--models: unknown model {item!r}{hint}; valid models: {valid} ({example})")
        previous = name
    seen, unique = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique
