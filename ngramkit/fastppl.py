"""The fast path of ``ngramkit ppl --model M FILE...``: the whole job in C, without click or numpy.

Input: the command line after ``ppl``. Output: an exit code, or None when
the fast path does not apply ("declines"): then the normal command
(:mod:`ngramkit.cli.ppl`) runs and decides everything, errors included.

It applies to the plain form only: ``--model/-m M`` (once), ``-q/--quiet``
and one or more FILES (``-`` is standard input, up to
:data:`STDIN_LIMIT` bytes), with a native n-gram file that stores its
probing index (every ``.ngk`` backoff model ``ngramkit`` writes; the
hyper-parameters of the default smoothings, :data:`HPARAMS`), trained with
the default text options (whitespace tokens, no normalisation, UTF-8).
Everything else declines: other options (``--json``, ``--per-word``,
``--per-sentence``, text options, ``--corpus``, ``--verify``, ``--threads``),
ARPA and RNN models, ``NGRAMKIT_THREADS`` or ``NGRAMKIT_IMPL`` set, and any
file the normal path would read differently or refuse: compressed or
binary text, text that is not UTF-8, a file without tokens, a model file
whose zip or ``.npy`` headers are not exactly as ngramkit writes them, whose
metadata or array shapes the normal path would refuse. Declining costs the
time spent so far; standard input read so far is handed back to the normal
path (:class:`_Replay`).

Imports: none beyond what Python itself loads (no json, re or enum: each
costs milliseconds of a run that takes tens), so meta.json is parsed by the
kernel (``parse_json``, tested against :func:`json.loads`).

What it computes is what the normal path computes, bit for bit: the same C
scanner (``str.splitlines``/``str.split`` semantics), the same blocks
(1 MiB, cut at line ends), the same probing scorer, the same sums (per
block the kernel's pairwise sum (numpy >= 2's order, :func:`ngramkit.evaluate.sum10`) of ``(log10 * ln 10) / ln 10``, blocks added with
``math.fsum``), and the same summary text (:func:`summary_lines`, which
:mod:`ngramkit.cli.ppl` prints too). The tests compare both paths' output
byte for byte, on clean and on fuzzed inputs.
"""

from __future__ import annotations

import io
import math
import os
import sys

from . import specials as _specials

LN10 = math.log(10.0)  # as ngramkit.evaluate
LN2 = math.log(2.0)
STDIN_LIMIT = 16 << 20  # bytes of standard input the fast path holds for a replay; more goes the normal path

SPECIALS = list(_specials.SPECIALS)  # a list: compared with meta.json's parsed word list
_SPECIALS_UTF8 = [w.encode() for w in SPECIALS]
PROBE_LAYOUT = 1  # ngramkit.models.lookup.PROBE_LAYOUT
PROBE_LOAD = 0.5  # ngramkit.models.lookup.PROBE_LOAD
MODEL_FORMAT = "ngramkit-model"  # ngramkit.npzfile.MODEL, MODEL_VERSION
MODEL_VERSION = 2
VOCAB_ARRAYS = ("vocab.words", "vocab.offsets", "vocab.index")  # ngramkit.npzfile.VOCAB_ARRAYS (version 2)


def _hparams_default(order: int) -> dict:
    """Class -> the hyper-parameter dicts accepted here: those ``ngramkit train ngram`` writes by default (other
    values go through the normal path, which checks them by building the model)."""
    return {
        "BackoffModel": [{}],
        "WittenBell": [{}],
        "ModifiedKneserNey": [{"discounts": None, "discount_fallback": False},
                              {"discounts": None, "discount_fallback": [0.5, 1.0, 1.5]}],
        "KneserNey": [{"discount": None}],
        "AbsoluteDiscounting": [{"discount": [0.75] * order}],
        "Additive": [{"epsilons": [1.0] * order}],
    }


HPARAMS = _hparams_default  # (order) -> {class name: [accepted hparams]}
MODEL_NAMES = {"BackoffModel": "backoff", "WittenBell": "witten-bell", "ModifiedKneserNey": "mkn",
               "KneserNey": "kn", "AbsoluteDiscounting": "absolute", "Additive": "additive"}  # each class's .name
TEXT_DEFAULTS = {"normalize": "none", "tokenizer": "whitespace", "pattern": None, "sentences": True,
                 "encoding": "utf-8", "errors": "strict"}  # ngramkit.text.TextOptions


def summary_lines(model_path, model_name: str, order, label: str, ev) -> list[str]:
    """The lines ``ngramkit ppl`` prints (KenLM query's summary); ``ev`` has the attributes of
    :class:`ngramkit.evaluate.Evaluation` used here. Both paths print these."""
    lines = [f"model                    {model_path} ({model_name}{f', order {order}' if order else ''})",
             f"text                     {label}",
             f"sentences                {ev.sentences:,}",
             f"tokens                   {ev.tokens:,}  (words + </s>)",
             f"OOVs                     {ev.oovs:,}"]
    if ev.zeroprobs:
        lines.append(f"zero-probability tokens  {ev.zeroprobs:,}")
    lines += [f"log10 prob (total)       {ev.logprob10:.4f}",
              f"cross-entropy            {ev.cross_entropy:.4f} bits/token",
              f"perplexity (incl. OOVs)  {ev.perplexity:.4f}",
              f"perplexity (excl. OOVs)  {ev.perplexity_no_oov:.4f}"]
    return lines


# ---- the command line ---------------------------------------------------------------------------------


def parse(args: list[str]):
    """(model path, files, quiet) of the plain form ``--model M [-q] FILE...`` (any order), or None."""
    model, files, quiet = None, [], False
    it = iter(args)
    for arg in it:
        if arg in ("--model", "-m"):
            value = next(it, None)
            if value is None or model is not None:
                return None
            model = value
        elif arg.startswith("--model="):
            if model is not None:
                return None
            model = arg[len("--model="):]
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "-" or not arg.startswith("-"):
            files.append(arg)
        else:
            return None
    if not model or model.startswith("-") or not files:
        return None
    for text in (model, *files):  # printed as given: only what click.echo prints unchanged
        if not text.isascii() or not text.isprintable():
            return None
    if files.count("-") > 1 or any(f.lower().endswith((".gz", ".bz2", ".xz")) for f in files):
        return None
    return model, files, quiet


def _environment_ok() -> bool:
    if "NGRAMKIT_THREADS" in os.environ:
        return False
    if os.environ.get("NGRAMKIT_IMPL", "").strip().lower() not in ("", "auto"):
        return False
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8", "ascii", "us-ascii")


# ---- the model file -------------------------------------------------------------------------------------


def _array(members: dict, entries: dict, name: str, descr: str, shape: tuple):
    """(start, number of items) of array ``name`` if it is stored with ``descr`` and ``shape``, else None."""
    entry = entries.get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    found = members.get(entry["file"])
    if found is None or found[0] != descr or found[1] != shape:
        return None
    size = 8 if descr in ("<i8", "<f8") else 4
    count = math.prod(shape)
    return (found[2], count) if found[3] == count * size else None


def _text_options_ok(info) -> bool:
    stored = info.get("text_options") if isinstance(info, dict) else None
    if not isinstance(stored, dict):
        return True  # TextOptions()
    if not set(stored) <= set(TEXT_DEFAULTS):
        return False
    got = {**TEXT_DEFAULTS, **stored}
    encoding = got["encoding"]
    return (got["normalize"] == "none" and got["tokenizer"] == "whitespace" and got["sentences"] is True
            and got["errors"] in ("strict", "replace") and isinstance(got["pattern"], (str, type(None)))
            and isinstance(encoding, str) and encoding.lower().replace("_", "-") in ("utf-8", "utf8"))


def open_model(kernel, path: str):
    """(mapped model, class name, order, vocabulary, probing tables as (start, int64 count) in the file) ready
    to score, or None (see the module docstring). The vocabulary: (words, None) from a version-1 file's
    meta.json, or (None, spans) where a version-2 file stores it: the (start, n) of its words' bytes,
    their offsets and their hash (:data:`VOCAB_ARRAYS`)."""
    opened = kernel.open_model(path)
    if opened is None:
        return None
    handle, raw, members = opened
    meta = kernel.parse_json(raw)  # json.loads(raw.decode("utf-8")) without importing json (and re)
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        return None
    version, entries, state = meta.get("version"), meta.get("arrays"), meta.get("state")
    if type(version) is not int or not 1 <= version <= MODEL_VERSION or not isinstance(entries, dict):
        return None
    cls = meta.get("class")
    if meta.get("kind") != "ngram" or cls not in MODEL_NAMES or not isinstance(state, dict):
        return None
    if not _text_options_ok(meta.get("info") or {}):
        return None
    if version == 1:  # the words in meta.json
        words = meta.get("vocab")
        if not isinstance(words, list) or words[:4] != SPECIALS:
            return None
        v, stored = len(words), None
    else:  # the words in arrays, searched in place
        v, words = meta.get("vocab_size"), None
        if type(v) is not int or v < 4 or "vocab" in meta:
            return None
        stored = (_bytes_array(members, entries, VOCAB_ARRAYS[0]),
                  _array(members, entries, VOCAB_ARRAYS[1], "<i8", (v + 1,)),
                  _array(members, entries, VOCAB_ARRAYS[2], "<i4", (_vocab_slots(v),)))
        if None in stored:
            return None
    probe, order = state.get("probe"), state.get("order")
    if not isinstance(probe, dict) or type(probe.get("layout")) is not int or probe["layout"] != PROBE_LAYOUT:
        return None
    if type(order) is not int or not 1 <= order <= 16:
        return None
    hparams = state.get("hparams", {})
    if not any(hparams == ok and type(hparams) is dict for ok in HPARAMS(order).get(cls, ())):
        return None
    wanted = {"vocab.counts", *(VOCAB_ARRAYS if stored else ())}
    counts = _array(members, entries, "vocab.counts", "<i8", (v,))
    probes = []
    for k in range(1, order + 1):
        names = (f"ngrams{k}", f"keys{k}", f"logp10_{k}", f"backoff10_{k}", f"probe{k}")
        wanted.update(names)
        keys = _array_shape(members, entries, f"keys{k}")
        if keys is None or counts is None:
            return None
        m = keys[0]
        slots = 3 * v if k == 1 else (3 if k < order else 2) * (int(m / PROBE_LOAD) + 1)  # lookup.probe_sizes
        found = [_array(members, entries, f"ngrams{k}", "<i4", (m, k)), _array(members, entries, f"keys{k}", "<i8", (m,)),
                 _array(members, entries, f"logp10_{k}", "<f8", (m,)),
                 _array(members, entries, f"backoff10_{k}", "<f8", (m,)),
                 _array(members, entries, f"probe{k}", "<i8", (slots,))]
        if None in found:
            return None
        probes.append(found[4])
    if set(entries) != wanted:
        return None
    closed = state.get("suffix_closed") is True
    if stored:
        if not handle.attach_stored(tuple(probes), closed, counts, *stored):
            return None
        view = handle.view()
        offsets = view[stored[1][0]: stored[1][0] + 40].cast("q")
        start = stored[0][0]
        if [bytes(view[start + offsets[i]: start + offsets[i + 1]]) for i in range(4)] != _SPECIALS_UTF8:
            return None  # the specials where ngramkit puts them (<unk> 0, <s> 1, </s> 2, <pad> 3)
    elif not handle.attach(words, tuple(probes), closed, counts):
        return None
    return handle, cls, order, (words, stored), tuple(probes)


def _bytes_array(members: dict, entries: dict, name: str):
    """(start, number of bytes) of the 1-D uint8 array ``name``, or None."""
    entry = entries.get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    found = members.get(entry["file"])
    if found is None or found[0] != "|u1" or len(found[1]) != 1 or found[3] != found[1][0]:
        return None
    return found[2], found[1][0]


def _vocab_slots(v: int) -> int:
    """ngramkit.npzfile.vocab_slots: the hash size the writer gives ``v`` words (the normal path refuses others)."""
    slots = 16
    while slots <= 2 * v:
        slots *= 2
    return slots


def _array_shape(members: dict, entries: dict, name: str):
    entry = entries.get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    found = members.get(entry["file"])
    return found[1] if found is not None and len(found[1]) == 1 else None


# ---- the run ----------------------------------------------------------------------------------------------


class _Numbers:
    """The summary's numbers, computed as :class:`ngramkit.evaluate.Totals` computes them."""

    def __init__(self, tokens, sentences, oovs, zeroprobs, sums, sums_iv):
        self.tokens, self.sentences, self.oovs, self.zeroprobs = tokens, sentences, oovs, zeroprobs
        total = sums[0] if len(sums) == 1 else math.fsum(sums)
        total_iv = sums_iv[0] if len(sums_iv) == 1 else math.fsum(sums_iv)
        self.logprob10 = total
        self.cross_entropy = -total * LN10 / LN2 / tokens if tokens else float("nan")
        self.perplexity = _ppl(total, tokens)
        self.perplexity_no_oov = _ppl(total_iv, tokens - oovs)


def _ppl(logprob10: float, n: int) -> float:
    if n == 0:
        return float("nan")
    try:
        return 10.0 ** (-logprob10 / n)
    except OverflowError:
        return float("inf")


class _Replay(io.RawIOBase):
    """Standard input for the normal path after a decline: the bytes the fast path read, then the rest."""

    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self._pos = 0

    def readable(self):
        return True

    def readinto(self, b):
        if self._pos < len(self._data):
            n = min(len(b), len(self._data) - self._pos)
            b[:n] = self._data[self._pos: self._pos + n]
            self._pos += n
            return n
        data = os.read(0, len(b))
        b[: len(data)] = data
        return len(data)


def _give_back_stdin(data: bytes) -> None:
    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BufferedReader(_Replay(data)), encoding=getattr(old, "encoding", None) or "utf-8",
                                 errors=getattr(old, "errors", None) or "strict")


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run(args: list[str]) -> int | None:
    """Run ``ngramkit ppl ARGS`` on the fast path: its exit code, or None (declined; nothing was written)."""
    parsed = parse(args)
    if parsed is None or not _environment_ok():
        return None
    try:
        from ngramkit import _fastppl as kernel
    except ImportError:
        return None
    model_path, files, quiet = parsed
    opened = open_model(kernel, model_path)
    if opened is None:
        return None
    handle, cls, order = opened[:3]
    result = handle.score(files, LN10, STDIN_LIMIT)
    if result[0] == "decline":
        if result[1] is not None:
            _give_back_stdin(result[1])
        return None
    label = ", ".join(files)
    lines = summary_lines(model_path, MODEL_NAMES[cls], order, label, _Numbers(*result[1:]))
    if not quiet:
        sys.stderr.write(f"loading {model_path} ...\nreading text ...\nscoring {label} as it is read ...\n")
        sys.stderr.flush()
    try:
        _write(1, ("\n".join(lines) + "\n").encode())
    except BrokenPipeError:  # as ngramkit.cli.main.Group: nothing more to say, exit 1
        sys.stderr.close()
        return 1
    except OSError as exc:
        sys.stderr.write(f"Error: cannot write standard output: {exc.strerror or exc}\n")
        return 1
    return 0
