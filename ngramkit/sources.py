"""Where text comes from: FILES, ``-`` (stdin) or a registry corpus split, read one way.

Input: what a user names (``FILES``; ``-`` for stdin; ``--corpus NAME`` with
``--split``; or nothing, meaning the default corpus) and text-option
overrides. Output: a :class:`Source`, a label plus the
:class:`~ngramkit.text.TextOptions` to read it with, which reads itself as
sentences (``list[list[str]]``) or as a :class:`~ngramkit.stream.Stream`
(``ids`` (N,) int32 ...) over a given vocabulary or one built from it.

Text options are merged in one place, :func:`merge_options`: a base (a
model's stored options, else the corpus's defaults, else ``TextOptions()``),
then the explicit overrides, where ``--pattern`` without ``--tokenizer``
means ``--tokenizer regex``.

Whole files (user files, any split of a file-split corpus such as ptb, all
of a one-file corpus) go through :meth:`Stream.from_files` (the C scanner
for the default text options); a ratio split of a one-file corpus (the
timemachine train split) is read as sentences by
:func:`ngramkit.corpora.load_split`. Both give the stream of
``read_sentences`` + ``Vocabulary.build`` + ``Stream.from_sentences``.

:func:`resolve_splits` and :func:`read_splits` give the train/valid/test
streams over one vocabulary built on train (``ngramkit compare``): the three
splits of a registry corpus, or three user file lists.

>>> src = resolve(corpus="ptb", split="test", overrides={"pattern": r"\\w+"})
>>> src.label, src.title, src.options.tokenizer
('ptb', 'ptb (test)', 'regex')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from . import native
from .errors import InputError, NgramkitError
from .scan import fast_options, file_blocks, scan_blocks, source_size
from .stream import Stream
from .text import _BINARY_SNIFF, TextOptions, check_bytes, decode, read_sentences, read_text, source_name, tokenize
from .vocab import EOS_ID, UNK_ID, Vocabulary

TEXT_OPTIONS = ("normalize", "tokenizer", "pattern", "sentences", "encoding", "errors")
LEVELS = ("word", "char")
SPLIT_NAMES = ("train", "valid", "test")  # what read_splits reads
SPLITS = (*SPLIT_NAMES, "all")  # the registry's splits (ngramkit.corpora.SPLITS; tests/test_startup.py pins them)
CHUNK_BYTES = 1 << 20  # bytes of text per chunk of Source.chunks: ~200k PTB tokens, ~9 MB of arrays while scored


def _registry():
    """:mod:`ngramkit.corpora`, imported on first use: reading FILES (``ngramkit ppl text.txt``) needs no
    registry, and it brings the download machinery (http.client, ssl, urllib)."""
    from . import corpora  # local: heavy, and optional on the FILES path

    return corpora


def merge_options(base: TextOptions | None = None, overrides=None, *, level: str | None = None) -> TextOptions:
    """``base`` (default ``TextOptions()``) with the explicit ``overrides`` applied.

    ``overrides``: a mapping of :data:`TEXT_OPTIONS` names to values (None =
    not given), or a :class:`TextOptions` used as is instead of ``base``. A
    ``pattern`` given without a ``tokenizer`` selects ``tokenizer="regex"``.

    ``level`` (``compare``'s model level, None for no rule): ``"char"``
    switches the tokenizer to ``char`` unless another tokenizer was given
    explicitly (then it is an error); ``"word"`` refuses an explicit
    ``tokenizer="char"`` given as an override.
    """
    if level is not None and level not in LEVELS:
        raise NgramkitError(f"--level must be word or char, got {level!r}")
    given: dict = {}
    if isinstance(overrides, TextOptions):
        options = overrides
    else:
        given = {k: v for k, v in dict(overrides or {}).items() if v is not None}
        unknown = sorted(set(given) - set(TEXT_OPTIONS))
        if unknown:
            raise NgramkitError(f"text options: unknown option {', '.join(map(repr, unknown))}; "
                                f"choose from {', '.join(TEXT_OPTIONS)}")
        if given.get("pattern") and "tokenizer" not in given:
            given["tokenizer"] = "regex"
        options = (base or TextOptions()).with_(**given)
    explicit = "tokenizer" in given or isinstance(overrides, TextOptions)
    if level == "char" and options.tokenizer != "char":
        if explicit:
            raise NgramkitError(f"--level char needs --tokenizer char, got --tokenizer {options.tokenizer}")
        options = options.with_(tokenizer="char", pattern=None)
    elif level == "word" and options.tokenizer == "char" and "tokenizer" in given:
        raise NgramkitError("--tokenizer char needs --level char (character-level models)")
    return options


@dataclass(frozen=True)
class Source:
    """Text to read: user files, or one split of a registry corpus, with its text options."""

    label: str  # the files as given, comma-separated, or the corpus name
    options: TextOptions
    corpus: str | None = None  # registry name; None for files
    split: str | None = None  # train / valid / test / all of the corpus; None for files
    files: tuple[str, ...] = ()  # paths as given ("-" = stdin); empty for a corpus

    @property
    def title(self) -> str:
        """The label with the corpus split, e.g. ``ptb (test)``; files are named as given."""
        return self.label if self.corpus is None else f"{self.corpus} ({self.split})"

    def with_split(self, split: str) -> Source:
        """The same corpus and text options, another split (files have no splits: an error)."""
        if self.corpus is None:
            raise NgramkitError(f"{self.label}: files have no {split} split; name its files instead")
        return Source(self.label, self.options, self.corpus, _check_split(split))

    def paths(self) -> list | None:
        """The files holding exactly this text, or None for a ratio split of a one-file corpus.

        Corpus files are checked against the registry (missing or altered
        files are a one-line error saying how to get them).
        """
        if self.corpus is None:
            return list(self.files)
        spec = _registry().get(self.corpus)
        if self.split == "all":
            rels = list(spec.files)
        elif spec.split_files is not None:
            rels = list(spec.split_files[self.split])
        else:
            return None
        return [_registry().path(self.corpus, rel) for rel in rels]

    def nbytes(self) -> int:
        """Bytes on disk of :meth:`paths` (0 for stdin, a ratio split, or when unknown)."""
        return sum(source_size(p) for p in self.paths() or ())

    def sentences(self) -> list[list[str]]:
        """The text as sentences of tokens (one list when ``options.sentences`` is False)."""
        if self.corpus is None:
            return read_sentences(list(self.files), self.options)
        return _registry().load_split(self.corpus, self.split, self.options)

    def stream(self, vocab: Vocabulary | None = None, *, min_count: int = 1, max_size: int | None = None,
               progress=None) -> Stream:
        """The id stream over ``vocab`` (None: built from this text with ``min_count``/``max_size``).

        ``progress(nbytes)``, if given, is called as whole files are read.
        """
        paths = self.paths()
        if paths is not None:
            return Stream.from_files(paths, self.options, vocab=vocab, min_count=min_count, max_size=max_size,
                                     progress=progress)
        sentences = self.sentences()
        if vocab is None:
            vocab = Vocabulary.build(sentences, min_count=min_count, max_size=max_size)
        return Stream.from_sentences(sentences, vocab)


    def chunks(self, vocab: Vocabulary, chunk_bytes: int = CHUNK_BYTES):
        """The text as streams over ``vocab``, each of whole sentences from about ``chunk_bytes`` of text.

        Concatenated, the chunks are :meth:`stream` over ``vocab``, with the
        same errors; a chunk is read when the previous one has been used, so
        scoring them one by one holds one chunk in memory whatever the text
        size. Files the C scanner reads (:func:`~ngramkit.scan.fast_options`,
        one sentence per line) are read block by block (compressed files and
        compressed stdin are decompressed whole first: :func:`~ngramkit.scan.file_blocks`);
        other text options, a ratio split of a one-file corpus and one-stream
        text (``sentences=False``) come whole, as one chunk.
        """
        if chunk_bytes < 1:
            raise NgramkitError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        paths = self.paths()
        k = native.extension("_count")
        if paths is not None and k is not None and fast_options(self.options) and self.options.sentences:
            if not paths:
                raise InputError("no input files given")
            for path in paths:
                for scan in scan_blocks(k, path, self.options, chunk_bytes):
                    if scan.ids.size:
                        yield _block_stream(k, scan, self.options, vocab)
        elif paths is not None and _blockwise(self.options):
            for sentences in self._sentence_blocks(paths, chunk_bytes):
                yield Stream.from_sentences(sentences, vocab)
        else:
            yield self.stream(vocab)

    def iter_sentences(self, chunk_bytes: int = CHUNK_BYTES):
        """:meth:`sentences` one at a time, read ``chunk_bytes`` of text at a time where :meth:`chunks` is
        (files in UTF-8, one sentence per line; otherwise the whole text is read first)."""
        if chunk_bytes < 1:
            raise NgramkitError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        paths = self.paths()
        if paths is None or not _blockwise(self.options):
            yield from self.sentences()
            return
        for sentences in self._sentence_blocks(paths, chunk_bytes):
            yield from sentences

    def _sentence_blocks(self, paths, chunk_bytes: int):
        """Sentences of each block of each file: :func:`~ngramkit.text.read_sentences`'s, with its errors."""
        if not paths:
            raise InputError("no input files given")
        options = self.options
        for source in paths:
            name = source_name(source)
            got = has_text = False
            offset = 0
            for block in file_blocks(source, chunk_bytes):
                if offset == 0:
                    text = decode(block, name, encoding=options.encoding, errors=options.errors)
                else:
                    if offset < _BINARY_SNIFF:  # decode() sniffs the whole file's first 8 kB
                        check_bytes(b"x" + bytes(memoryview(block)[:_BINARY_SNIFF - offset]), name,
                                    encoding=options.encoding)
                    try:
                        text = bytes(block).decode("utf-8", errors=options.errors)
                    except UnicodeDecodeError:  # the whole file's decoder names the offset in the file
                        read_text(source, encoding=options.encoding, errors=options.errors)
                        raise
                offset += len(block)
                has_text = has_text or bool(text.strip())
                sentences = tokenize(text, options)
                if sentences:
                    got = True
                    yield sentences
            if not got:
                if not has_text:
                    raise InputError(f"{name}: no tokens (empty file?)")
                raise InputError(f"{name}: no tokens after --normalize {options.normalize} "
                                 f"--tokenizer {options.tokenizer} (try other text options)")


def _block_stream(k, scan, options: TextOptions, vocab: Vocabulary) -> Stream:
    """One scanned block as a stream over ``vocab``: :func:`~ngramkit.scan.assemble` of that one scan.

    The same arrays, but one C-level dictionary lookup per distinct word
    (assemble also keeps a global word table and counts, which a fixed
    vocabulary does not need: they cost 25% of ``ppl``'s time on 4.6M tokens).
    """
    words = scan.words
    if options.normalize == "lower":
        words = list(map(str.lower, words))
    n = len(words)
    local = np.empty(n + 1, np.int32)  # block id -> vocabulary id; 0 = end of sentence
    local[0] = EOS_ID
    local[1:] = np.fromiter(map(vocab.index.get, words, repeat(UNK_ID)), np.int32, count=n)
    ids = np.empty(scan.ids.size, np.int32)
    k.take(scan.ids, local, ids)
    is_oov = local == UNK_ID  # outside the vocabulary; the vocabulary's own <unk> word, if in the text, is not
    is_oov[0] = False
    unk_word = vocab.words[UNK_ID]
    if unk_word in vocab.index:
        at = 0
        for _ in range(words.count(unk_word)):  # a literal <unk> (twice if lower-casing merged two spellings)
            at = words.index(unk_word, at) + 1  # block id = position in words + 1
            is_oov[at] = False
    if is_oov.any():
        oov = np.empty(scan.ids.size, bool)
        k.take(scan.ids, is_oov.view(np.uint8), oov.view(np.uint8))
    else:
        oov = np.zeros(scan.ids.size, bool)
    offsets = np.zeros(scan.ends.size + 1, np.int64)
    offsets[1:] = scan.ends
    return Stream(ids, offsets, oov, vocab)


def _blockwise(options: TextOptions) -> bool:
    """True when text read with ``options`` can be tokenised block by block (lines are UTF-8 sentences)."""
    return options.sentences and options.encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise NgramkitError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def _file_list(files) -> list[str]:
    if files is None:
        return []
    if isinstance(files, (str, os.PathLike)):
        return [str(files)]
    return [str(f) for f in files]


def resolve(files=(), corpus: str | None = None, split: str = "train", overrides=None,
            base: TextOptions | None = None, *, level: str | None = None) -> Source:
    """FILES | ``-`` | ``corpus`` (its ``split``) | the default corpus, as a :class:`Source`.

    Text options: ``base`` if given (e.g. a model's stored options), else
    the corpus's defaults (for a corpus), else ``TextOptions()``; then the
    explicit ``overrides`` (:func:`merge_options`). ``split`` is ignored
    for files. Nothing is read yet; an unknown corpus or split, files and a
    corpus together, or bad text options are one-line errors.
    """
    paths = _file_list(files)
    if paths and corpus:
        raise NgramkitError("give FILES or --corpus, not both")
    if paths:
        return Source(", ".join(paths), merge_options(base, overrides, level=level), files=tuple(paths))
    name = corpus or _registry().DEFAULT_CORPUS
    spec = _registry().get(name)
    _check_split(split)
    options = merge_options(spec.text_options if base is None else base, overrides, level=level)
    return Source(name, options, corpus=name, split=split)


# ---- train / valid / test ---------------------------------------------------------------


@dataclass(frozen=True)
class SplitStreams:
    """The three splits as id streams over one vocabulary built on train."""

    label: str  # corpus name or the training file names
    options: TextOptions  # used for every split
    vocab: Vocabulary  # built on train only
    train: Stream
    valid: Stream
    test: Stream
    source: dict = field(default_factory=dict)  # {"corpus": name or None, "files": {split: [paths]}}


def resolve_splits(corpus: str | None = None, *, train=None, valid=None, test=None, overrides=None,
                   base: TextOptions | None = None, level: str | None = None) -> dict[str, Source]:
    """``{"train", "valid", "test"}`` -> :class:`Source`: a registry corpus's splits, or three file lists.

    ``train``/``valid``/``test`` are a path or a list of paths each, given
    all three or none; with none, ``corpus`` (default: the default corpus)
    is split by its registry rule. Text options as in :func:`resolve`.
    """
    given = {"train": train, "valid": valid, "test": test}
    if any(given.values()):
        if corpus:
            raise NgramkitError("give --corpus or --train/--valid/--test files, not both")
        missing = [f"--{name}" for name, value in given.items() if not value]
        if missing:
            raise NgramkitError(f"--train, --valid and --test go together; missing {', '.join(missing)}")
        options = merge_options(base, overrides, level=level)
        lists = {name: _file_list(value) for name, value in given.items()}
        return {name: Source(", ".join(paths), options, files=tuple(paths)) for name, paths in lists.items()}
    first = resolve((), corpus, "train", overrides, base, level=level)
    return {name: first if name == "train" else first.with_split(name) for name in SPLIT_NAMES}


def read_splits(splits: dict[str, Source], *, min_count: int = 1, max_size: int | None = None) -> SplitStreams:
    """Read the three sources of :func:`resolve_splits`; the vocabulary is built on train.

    Errors reading a user file name its option (``--valid ...``). A split
    without tokens, and a valid or test text none of whose words is in the
    training vocabulary (a sign of mismatched splits or text options), are
    one-line errors.
    """
    train = splits["train"]
    files = train.corpus is None
    streams: dict[str, Stream] = {}
    vocab = None
    for name in SPLIT_NAMES:
        try:
            streams[name] = splits[name].stream(vocab, min_count=min_count, max_size=max_size)
        except NgramkitError as exc:
            if not files:
                raise
            raise type(exc)(f"--{name} {exc}") from None
        if streams[name].n_sentences == 0:
            raise InputError(f"{name} split of {train.label} has no tokens")
        vocab = streams["train"].vocab
    for name in ("valid", "test"):
        st = streams[name]
        words = st.n_tokens - st.n_sentences  # the </s> tokens are always known
        if words and st.n_oov == words:
            where = f"--{name} file" if files else f"{name} split"
            raise InputError(
                f"{where}: none of its {words:,} words is in the training vocabulary "
                f"({len(vocab):,} types); are the splits from the same text and text options?"
            )
    source = {"corpus": None if files else train.corpus,
              "files": {name: list(s.files) for name, s in splits.items()} if files else {}}
    return SplitStreams(train.label, train.options, vocab, streams["train"], streams["valid"], streams["test"],
                        source)
