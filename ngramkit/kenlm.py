"""KenLM's Python API (``import kenlm``) on ngramkit's models: a drop-in for scoring code.

Input: a model file, ARPA (``.arpa``, ``.arpa.gz``, as written by KenLM's
``lmplz``, SRILM or ``ngramkit train ngram -o x.arpa``) or ngramkit's native
format (``.ngk``, any n-gram model; a quantised ``.ngq`` is queried through
its dequantised tables, :mod:`ngramkit.compact`, whose probing index is
built when it is opened). Output: the objects of KenLM's module,
same names, same arguments, same numbers (log10, KenLM's conventions):

>>> import ngramkit.kenlm as kenlm                        # doctest: +SKIP
>>> m = kenlm.Model("ptb.UNK.o3.arpa.gz")                 # doctest: +SKIP
>>> m.score("the company said it expects a loss")         # doctest: +SKIP
-9.826276...

- ``score(sentence, bos=True, eos=True)``: log10 p(words [</s>] | [<s>]);
  words are split at ASCII whitespace, never pass ``<s>``.
- ``full_scores(...)`` yields ``(log10 prob, ngram_length, oov)`` per word
  (and ``</s>``): ``ngram_length`` is the order of the longest n-gram that
  matched (1 for a unigram, also for an out-of-vocabulary word, scored as
  ``<unk>``), ``oov`` whether the word maps to ``<unk>`` (a literal
  ``<unk>`` counts, as in KenLM). ``perplexity(sentence)``.
- ``State``, ``BeginSentenceWrite``, ``NullContextWrite``, ``BaseScore``,
  ``BaseFullScore`` (a :class:`FullScoreReturn` with ``log_prob``,
  ``ngram_length``, ``oov``): incremental scoring, as beam-search decoders use
  it. A state is KenLM's "right state": the most recent words that can still
  be extended (a context without any longer n-gram and with a zero backoff is
  dropped), so two hypotheses that the model can no longer tell apart have
  equal states. States compare, order and hash by their length and context
  words, as KenLM's do (the order among states of one length follows word ids,
  which are ngramkit's own, so it differs from KenLM's; it is arbitrary there
  too).
- ``'word' in model``: the word has a unigram (``<unk>`` itself is not in the
  model, ``<s>`` and ``</s>`` are). ``order``, ``path`` (absolute, bytes).
- Models pickle by path (reopened when unpickled), so ``multiprocessing``
  pools can take them.

Where KenLM's numbers are float32, these are float64 (equal within 1e-6
per word). A context-only ``<s>`` unigram scores the value in the ARPA file
(KenLM's ``lmplz`` writes 0, SRILM and ngramkit -99; -99 for native files).
``Config`` is accepted and ignored (there is one loading method). A native
n-gram file that stores its probing index opens by mapping, nothing built:
one written by this version ends with a query header
(:data:`ngramkit.npzfile.QUERY_MEMBER`: where the index and the vocabulary's
hash lie), so the open reads the file's last few KiB, maps it and reads
nothing else, whatever the model's size, and pages come in as lookups touch
them (processes share them through the page cache). Like KenLM with its
binary files, that open trusts the arrays: every lookup stays inside them
and ends whatever they hold, so a damaged file can give wrong numbers, never
a fault or a hang; ``ngramkit ppl --verify`` (``load_model(path,
verify=True)``) checks a file whole. An older native file (no header) is
opened after the checks of :func:`ngramkit.fastppl.open_model` (its
metadata, the vocabulary's hash verified word by word); files without the
index are read and the index built. An ARPA file's probing index is built
straight from the C reader's parse, rows in file order, with no model made
(:func:`ngramkit.arpa.read_arpa_probe`). :attr:`Model.backoff_model` loads
the model itself when asked for.

Clients that ``import kenlm`` themselves (pyctcdecode, ...) get this module
from :func:`install`, called before they are imported. The queries run in
the compiled ``ngramkit._score`` extension (one C call per ``BaseScore``);
this module needs it whatever ``NGRAMKIT_IMPL`` says.
"""

from __future__ import annotations

import importlib
import os
import sys

from . import fastppl
from .errors import NgramkitError
from .specials import BOS, BOS_ID, EOS_ID, UNK_ID  # not ngramkit.vocab: numpy is imported only where needed

try:
    _score = importlib.import_module("ngramkit._score")
except ImportError as exc:  # pragma: no cover - builds without a C compiler
    _score = None
    _WHY = str(exc)
try:  # maps native files as ngramkit writes them (Model._open_mapped); imported here, not at the first open
    _fastppl = importlib.import_module("ngramkit._fastppl")
except ImportError:  # pragma: no cover
    _fastppl = None

__all__ = ["Model", "LanguageModel", "State", "FullScoreReturn", "Config", "LoadMethod", "ARPALoadComplain",
           "install"]


def _need_kernel():
    if _score is None:  # pragma: no cover
        from .native import REBUILD

        raise NgramkitError(f"ngramkit.kenlm needs the compiled extension ngramkit._score ({_WHY}); {REBUILD}")
    return _score


if _score is not None:
    State = _score.State
    FullScoreReturn = _score.FullScoreReturn
    _QueryModel = _score.QueryModel
else:  # pragma: no cover
    class State:  # noqa: D101 - placeholder type so the module imports; Model() raises
        pass

    FullScoreReturn = State
    _QueryModel = object


def _as_bytes(data) -> bytes:
    """KenLM's as_str: str -> UTF-8 bytes; bytes as they are."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf8")
    raise TypeError(f"Cannot convert {type(data)} to string")


class LoadMethod:
    """KenLM's load methods; accepted for compatibility, ngramkit has one way to load."""

    LAZY, POPULATE_OR_LAZY, POPULATE_OR_READ, READ, PARALLEL_READ = range(5)


class ARPALoadComplain:
    """KenLM's ARPA complaint levels; accepted for compatibility (ngramkit refuses malformed files)."""

    ALL, EXPENSIVE, NONE = range(3)


class Config:
    """KenLM's ``Config``: accepted by :class:`Model` and ignored."""

    def __init__(self):
        self.load_method = LoadMethod.LAZY
        self.show_progress = True
        self.arpa_complain = ARPALoadComplain.ALL


NATIVE_BOS_LOG10 = -99.0  # what ngramkit writes for <s> in ARPA (arpa.NEVER)
ABSENT_LOG10 = -100.0  # a word without a unigram (arpa.UNK_MISSING, KenLM's default <unk>)


def _arpa_bos_log10(path: str) -> float:
    """The log10 probability the ARPA file gives the ``<s>`` unigram (KenLM scores ``<s>`` as a word with it)."""
    import gzip

    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf8", errors="replace") as f:
        section = False
        for line in f:
            if not section:
                section = line.strip() == "\\1-grams:"
                continue
            parts = line.split()
            if not parts or parts[0].startswith("\\"):
                break
            if len(parts) >= 2 and parts[1] == BOS:
                return float(parts[0])
    return NATIVE_BOS_LOG10


class Model(_QueryModel):
    """A language model with KenLM's query API (see the module docstring).

    ``path``: an ARPA file (plain or gzip) or an ngramkit native n-gram model
    file. Raises ``OSError`` (KenLM's ``IOError``) when it cannot be read.
    """

    def __init__(self, path, config: Config | None = None):
        kernel = _need_kernel()
        self.path = os.path.abspath(os.fsencode(path) if isinstance(path, os.PathLike) else _as_bytes(path))
        name = os.fsdecode(self.path)
        self._backoff = None
        if self._open_mapped(name):
            return
        from .modelio import AUTO, file_format, load_model  # the model classes: not needed by a mapped file

        try:
            is_arpa = file_format(name) == "arpa"
            if is_arpa:
                from .arpa import read_arpa_probe

                query = read_arpa_probe(name, kernel)  # the probing index from the parse, no model built
                if query is not None:
                    vocab, tables, bos = query
                    self._attach_tables(tables, vocab.words, NATIVE_BOS_LOG10 if bos is None else bos)
                    return
            model = load_model(name, verify=AUTO)
            if not hasattr(model, "to_backoff"):
                raise NgramkitError(f"{name}: a {type(model).__name__} model has no n-gram tables to query")
            backoff = model.to_backoff()
        except (NgramkitError, OSError) as exc:
            raise OSError(f"Cannot read model '{os.fsdecode(path)}' "
                          f"({str(exc).replace(chr(10), ' ')})") from exc
        bos = _arpa_bos_log10(name) if is_arpa else NATIVE_BOS_LOG10
        self._attach_tables(backoff._probe_tables(kernel), backoff.vocab.words, bos)
        self._backoff = backoff

    def _attach_tables(self, tables, vocab_words, bos_log10: float) -> None:
        """Attach the C scorer to a probing index built in memory (:func:`~ngramkit.models.lookup.probe_index`)
        over the vocabulary ``vocab_words``."""
        import numpy as np  # loaded already by whatever built the tables

        ids = [i for i in np.flatnonzero(tables[0][0::3] == 1).tolist() if i != UNK_ID]  # the words with a unigram
        words = [vocab_words[i].encode("utf8") for i in ids]
        self._attach(tables, len(vocab_words), words, ids, UNK_ID, BOS_ID, EOS_ID, bos_log10, ABSENT_LOG10)
        self._tables = tables  # the C object borrows them; keep them alive with it

    def _open_mapped(self, name: str) -> bool:
        """Attach a native file straight from its mapping: the stored probing index and vocabulary, no model
        built (the :attr:`backoff_model` is loaded when asked for). A file with a query header (written since
        it exists: :data:`ngramkit.npzfile.QUERY_MEMBER`) is opened from that header alone, trusted as KenLM
        trusts its binary files (every lookup stays in bounds whatever the arrays hold); an older one after
        the checks of :func:`ngramkit.fastppl.open_model` (its metadata, the vocabulary's hash verified).
        False for any other file."""
        if _fastppl is None:  # pragma: no cover - a build without the kernel
            return False
        opened = _fastppl.open_query(name)
        if opened is not None:
            handle, vocab, _, probes, (w_start, w_n), (o_start, o_n), (i_start, i_n) = opened
            view = handle.view()
            tables = tuple(view[start: start + 8 * n].cast("q") for start, n in probes)
            try:
                self._attach_stored(tables, vocab, view[w_start: w_start + w_n],
                                    view[o_start: o_start + 8 * o_n].cast("q"),
                                    view[i_start: i_start + 4 * i_n].cast("i"), UNK_ID, BOS_ID, EOS_ID,
                                    NATIVE_BOS_LOG10, ABSENT_LOG10)
            except ValueError:  # offsets that do not start at 0 or end at the words' size: the checked open
                pass
            else:
                self._tables = (tables, handle)  # the C object borrows the tables; the handle holds the mapping
                return True
        opened = fastppl.open_model(_fastppl, name)
        if opened is None:
            return False
        handle, _, _, (words, stored), probes = opened
        view = handle.view()
        tables = tuple(view[start: start + 8 * n].cast("q") for start, n in probes)
        if stored is not None:  # a version-2 file: its vocabulary's hash is searched in place, nothing is built
            (w_start, w_n), (o_start, o_n), (i_start, i_n) = stored
            self._attach_stored(tables, o_n - 1, view[w_start: w_start + w_n], view[o_start: o_start + 8 * o_n].cast("q"),
                                view[i_start: i_start + 4 * i_n].cast("i"), UNK_ID, BOS_ID, EOS_ID,
                                NATIVE_BOS_LOG10, ABSENT_LOG10)
            self._tables = (tables, handle)
            return True
        import numpy as np  # a version-1 file (words in meta.json): not the header-only open's cost

        present = np.frombuffer(tables[0], np.int64)[0::3] == 1  # the words with a unigram
        present[UNK_ID] = False
        ids = np.flatnonzero(present).tolist()
        encoded = "\n".join(words).encode("utf8").split(b"\n")  # one encode: words hold no whitespace
        self._attach(tables, len(words), [encoded[i] for i in ids], ids, UNK_ID, BOS_ID, EOS_ID,
                     NATIVE_BOS_LOG10, ABSENT_LOG10)
        self._tables = (tables, handle)  # the C object borrows the tables; the handle holds the mapping
        return True

    @property
    def backoff_model(self):
        """The :class:`~ngramkit.models.BackoffModel` this engine queries (vocabulary, n-gram tables)."""
        if self._backoff is None:
            from .modelio import AUTO, load_model

            self._backoff = load_model(os.fsdecode(self.path), verify=AUTO).to_backoff()
        return self._backoff

    def perplexity(self, sentence) -> float:
        """10 ** (-score(sentence) / (words + 1)): the sentence's perplexity, ``</s>`` included."""
        words = len(_as_bytes(sentence).split()) + 1
        return 10.0 ** (-self.score(sentence) / words)

    def full_scores(self, sentence, bos: bool = True, eos: bool = True):
        """Yield ``(log10 prob, ngram_length, oov)`` for every word of ``sentence`` (and ``</s>`` when ``eos``)."""
        yield from self._full_scores_list(sentence, bos, eos)

    def __repr__(self) -> str:
        return f"<Model from {os.path.basename(self.path)}>"

    def __reduce__(self):
        return (type(self), (self.path,))


class LanguageModel(Model):
    """Backwards compatibility alias (KenLM's). Use :class:`Model`."""


def install():
    """Make ``import kenlm`` give this module, for clients written against KenLM (call before importing them).

    >>> import ngramkit.kenlm; ngramkit.kenlm.install()      # doctest: +SKIP
    >>> from pyctcdecode import build_ctcdecoder             # doctest: +SKIP

    Returns this module. A client module that already imported another
    ``kenlm`` keeps that one.
    """
    module = sys.modules[__name__]
    sys.modules["kenlm"] = module
    return module
