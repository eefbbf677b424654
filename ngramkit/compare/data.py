"""The three splits of a comparison as id streams over one vocabulary.

Input: a registry corpus name, or train/valid/test files; text options and
the level (``word`` | ``char``); vocabulary limits. Output:
:class:`SplitStreams`: the TextOptions used, the Vocabulary built on the
training split only, and one :class:`~ngramkit.stream.Stream` per split.

The rest of :mod:`ngramkit.compare` sees only :func:`load_splits` and
:class:`SplitStreams`. Finding and reading the text is
:mod:`ngramkit.sources`' job, the same code every command reads its input
with (text-option merging, the level's tokenizer, the one-line errors).
"""

from __future__ import annotations

from ..sources import SplitStreams, read_splits, resolve_splits

__all__ = ["SplitStreams", "load_splits"]


def load_splits(corpus: str | None = None, *, train=None, valid=None, test=None, text_options=None,
                level: str = "word", min_count: int = 1, max_vocab: int | None = None) -> SplitStreams:
    """Read the three splits, build the vocabulary on train, and the three id streams.

    ``corpus``: a registry name (None: the default corpus), or give
    ``train``/``valid``/``test`` (a path or a list of paths each) instead.
    ``text_options``: a TextOptions used as is, or a dict of overrides of
    the corpus's defaults. Bad input raises a one-line NgramkitError.
    """
    splits = resolve_splits(corpus, train=train, valid=valid, test=test, overrides=text_options, level=level)
    return read_splits(splits, min_count=min_count, max_size=max_vocab)
