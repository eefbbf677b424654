"""The three splits of a comparison as id streams over one vocabulary.

Input: a registry corpus name, or train/valid/test files; text options and
the level (``word`` | ``char``); vocabulary limits. Output:
:class:`SplitStreams`: the TextOptions used, the Vocabulary built on the
training split only, and one :class:`~ngramkit.stream.Stream` per split.

The rest of :mod:`ngramkit.compare` sees only :func:`load_splits` and
:class:`SplitStreams`, so the way text is found and read can change here alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import corpora
from ..errors import InputError, NgramkitError
from ..stream import Stream
from ..text import TextOptions, read_sentences
from ..vocab import Vocabulary


@dataclass
class SplitStreams:
    """The three splits as id streams over one vocabulary built on train."""

    label: str  # corpus name or training file names
    options: TextOptions  # used for every split
    vocab: Vocabulary  # built on train only
    train: Stream
    valid: Stream
    test: Stream
    source: dict = field(default_factory=dict)  # {"corpus": name or None, "files": {split: [paths]}}


def _resolve_text_options(corpus: str | None, files: bool, text_options, level: str):
    """The TextOptions of a run: the corpus's defaults, then explicit overrides, then the level's tokenizer.

    ``level`` is ``word`` or ``char`` (checked by the caller).
    """
    overrides = {}
    if isinstance(text_options, TextOptions):
        options = text_options
    else:
        overrides = {k: v for k, v in dict(text_options or {}).items() if v is not None}
        if files:
            base = TextOptions()
        else:
            base = corpora.get(corpus or corpora.DEFAULT_CORPUS).text_options
        if overrides.get("pattern") and "tokenizer" not in overrides:
            overrides["tokenizer"] = "regex"
        try:
            options = base.with_(**overrides)
        except TypeError as exc:
            raise NgramkitError(f"text options: {exc}") from None
    if level == "char":
        if options.tokenizer != "char":
            if "tokenizer" in overrides or isinstance(text_options, TextOptions):
                raise NgramkitError(f"--level char needs --tokenizer char, got --tokenizer {options.tokenizer}")
            options = options.with_(tokenizer="char", pattern=None)
    elif options.tokenizer == "char" and not isinstance(text_options, TextOptions) and "tokenizer" in overrides:
        raise NgramkitError("--tokenizer char needs --level char (character-level models)")
    return options


def load_splits(corpus: str | None = None, *, train=None, valid=None, test=None, text_options=None,
                level: str = "word", min_count: int = 1, max_vocab: int | None = None) -> SplitStreams:
    """Read the three splits, build the vocabulary on train, and the three id streams.

    ``corpus``: a registry name (None: the default corpus), or give
    ``train``/``valid``/``test`` (a path or a list of paths each) instead.
    ``text_options``: a TextOptions used as is, or a dict of overrides of
    the corpus's defaults. Bad input raises a one-line NgramkitError.
    """
    given = {"--train": train, "--valid": valid, "--test": test}
    files = any(v for v in given.values())
    if files and corpus:
        raise NgramkitError("give --corpus or --train/--valid/--test files, not both")
    if files:
        missing = [k for k, v in given.items() if not v]
        if missing:
            raise NgramkitError(f"--train, --valid and --test go together; missing {', '.join(missing)}")
    options = _resolve_text_options(corpus, files, text_options, level)
    splits = {}
    if files:
        for name, value in (("train", train), ("valid", valid), ("test", test)):
            paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            try:
                splits[name] = read_sentences(paths, options)
            except NgramkitError as exc:
                raise type(exc)(f"--{name} {exc}") from None
        label = ", ".join(str(p) for p in ([train] if isinstance(train, (str, os.PathLike)) else train))
    else:
        label = corpus or corpora.DEFAULT_CORPUS
        for name in ("train", "valid", "test"):
            splits[name] = corpora.load_split(label, name, options)
    for name, sentences in splits.items():
        if not any(sentences):
            raise InputError(f"{name} split of {label} has no tokens")
    vocab = Vocabulary.build(splits["train"], min_count=min_count, max_size=max_vocab)
    streams = {name: Stream.from_sentences(s, vocab) for name, s in splits.items()}
    for name in ("valid", "test"):
        st = streams[name]
        words = st.n_tokens - st.n_sentences  # the </s> tokens are always known
        if words and st.n_oov == words:
            where = f"--{name} file" if files else f"{name} split"
            raise InputError(
                f"{where}: none of its {words:,} words is in the training vocabulary "
                f"({len(vocab):,} types); are the splits from the same text and text options?"
            )
    if files:
        source = {"corpus": None, "files": {k: [str(p) for p in ([v] if isinstance(v, (str, os.PathLike)) else v)]
                                            for k, v in (("train", train), ("valid", valid), ("test", test))}}
    else:
        source = {"corpus": label, "files": {}}
    return SplitStreams(label, options, vocab, streams["train"], streams["valid"], streams["test"], source)
