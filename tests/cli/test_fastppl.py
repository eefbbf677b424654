"""``ngramkit ppl --model M FILE``'s fast path (ngramkit.fastppl, ngramkit._fastppl) against the normal path.

The oracle is the normal path itself (click + numpy, ``python -m
ngramkit.cli.main``, which never takes the fast path): the console script
(``ngramkit.cli.entry``) must print the same bytes on stdout and stderr and
exit with the same code, on clean text and on every kind of awkward input,
and in-process the fast path must really have been taken (or declined)
where expected. Model files are fuzzed as in tests/robustness/test_fuzz.py:
whatever the fast path accepts, the normal path loads and scores to the same
summary. Its pieces are checked against numpy (the pairwise sum) and Python
(the UTF-8 decoder), and its copies of library constants against the library.
"""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngramkit
from ngramkit import evaluate, fastppl, modelio, npzfile, vocab
from ngramkit.errors import NgramkitError
from ngramkit.evaluate import evaluate_files
from ngramkit.models import CLASSES
from ngramkit.models import lookup
from ngramkit.text import TextOptions

from ..process import NGRAMKIT

kernel = pytest.importorskip("ngramkit._fastppl")

NORMAL = [sys.executable, "-m", "ngramkit.cli.main"]
ENV = {k: v for k, v in os.environ.items() if k not in ("NGRAMKIT_THREADS", "NGRAMKIT_IMPL")}


def run(cmd, args, cwd, stdin=None):
    proc = subprocess.run([*cmd, "ppl", *map(str, args)], cwd=cwd, env=ENV, capture_output=True,
                          input=stdin)
    return proc.returncode, proc.stdout, proc.stderr


def same_both_ways(args, cwd, stdin=None):
    """Run the console script and the normal path; assert equal output; return it."""
    fast = run(NGRAMKIT, args, cwd, stdin)
    normal = run(NORMAL, args, cwd, stdin)
    assert fast == normal, f"fast path:\n{fast}\nnormal path:\n{normal}"
    return fast


def taken(model, files) -> bool:
    """In-process: does the fast path accept ``model`` and score ``files`` (no stdin here)?"""
    opened = fastppl.open_model(kernel, str(model))
    return opened is not None and opened[0].score([str(f) for f in files], fastppl.LN10, 0)[0] == "ok"


@pytest.fixture(scope="module")
def ptb3(tmp_path_factory, reference_dir, ptb_dir):
    """The reference PTB 3-gram as a native file (BackoffModel), and PTB test with <unk> -> UNK as KenLM scored it."""
    folder = tmp_path_factory.mktemp("fastppl")
    model = folder / "ptb3.ngk"
    ngramkit.save_model(ngramkit.load_model(reference_dir / "ptb.UNK.o3.arpa.gz"), model)
    test = folder / "ptb.test.txt"
    test.write_text((ptb_dir / "ptb.test.txt").read_text(encoding="utf-8").replace("<unk>", "UNK"), encoding="utf-8")
    return folder, model, test


def test_ptb_test_identical_and_fast(ptb3):
    folder, model, test = ptb3
    code, out, err = same_both_ways(["--model", model.name, test.name], folder)
    assert code == 0 and b"perplexity (incl. OOVs)  148.2815" in out  # KenLM query: 148.2815
    assert err.splitlines() == [f"loading {model.name} ...".encode(), b"reading text ...",
                                f"scoring {test.name} as it is read ...".encode()]
    assert taken(model, [test])
    for args in (["-m", model.name, "-q", test.name], ["-q", f"--model={model.name}", test.name]):
        assert same_both_ways(args, folder)[2] == b""


def test_many_blocks_and_files_identical(ptb3):
    """Over 1 MiB: several blocks, their sums added with fsum; several files, each its own blocks."""
    folder, model, test = ptb3
    big = folder / "big.txt"
    big.write_bytes(test.read_bytes() * 3)
    assert big.stat().st_size > 1 << 20
    same_both_ways(["-m", model.name, big.name, test.name], folder)
    assert taken(model, [big, test])


TEXTS = {
    "oov_heavy": "xyzzy plugh the quux company\nfoo bar baz qux\nUNK <unk> the\n",
    "empty_lines": "\n\nthe company said\n\n   \n\t\nit expects\n\n",
    "no_final_newline": "the company said\nit expects a loss",
    "specials_in_text": "<s> the </s> company <pad> <unk>\n",
    "unicode_spaces": "the\u00a0company\u2028said it\x1cexpects\u3000a loss\r\nof money\x85now\n",
    "bom": "\ufeffthe company said\n",
    "non_ascii_words": "caf\u00e9 na\u00efve \u65e5\u672c the\n",
    "one_word": "the",
    "long_line": " ".join(["the company said"] * 50000) + "\n",
}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_awkward_texts_identical(ptb3, name):
    folder, model, _ = ptb3
    path = folder / f"{name}.txt"
    path.write_bytes(TEXTS[name].encode("utf-8"))
    code, _, _ = same_both_ways(["-m", model.name, path.name], folder)
    assert code == 0 and taken(model, [path])


def test_stdin_identical(ptb3):
    folder, model, test = ptb3
    data = test.read_bytes()
    assert same_both_ways(["-m", model.name, "-"], folder, stdin=data)[0] == 0
    assert same_both_ways(["-m", model.name, test.name, "-"], folder, stdin=TEXTS["oov_heavy"].encode())[0] == 0


def test_stdin_declined_after_reading_is_replayed(ptb3):
    """Bad UTF-8 at the end of standard input: the fast path has read it all, declines, and the normal path
    reads it again (the same error); '-' twice: the second is empty (the normal path's error)."""
    folder, model, test = ptb3
    bad = test.read_bytes() + b"caf\xe9\n"
    code, _, err = same_both_ways(["-m", model.name, "-"], folder, stdin=bad)
    assert code == 1 and b"cannot decode byte 0xe9" in err
    assert same_both_ways(["-m", model.name, "-", "-"], folder, stdin=b"the company\n")[0] == 1


BAD_TEXTS = {
    "empty": b"",
    "blank": b"\n \n\t\n",
    "nul": b"the\x00company\n",
    "not_utf8": b"the caf\xe9 said\n",
    "surrogate": b"the \xed\xa0\x80 said\n",
    "zip_magic": b"PK\x03\x04 the company\n",
    "gzip": gzip.compress(b"the company said\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_TEXTS))
def test_bad_texts_same_errors(ptb3, name):
    folder, model, _ = ptb3
    path = folder / f"bad_{name}.txt"
    path.write_bytes(BAD_TEXTS[name])
    same_both_ways(["-m", model.name, path.name], folder)
    same_both_ways(["-m", model.name, "-"], folder, stdin=BAD_TEXTS[name])
    if name != "gzip":
        assert not taken(model, [path])


def test_bad_files_and_models_same_errors(ptb3, tmp_path):
    folder, model, test = ptb3
    data = model.read_bytes()
    (tmp_path / "truncated.ngk").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[data.rfind(b'"vocab"') + 3] ^= 1  # inside meta.json: the CRC-32 fails
    (tmp_path / "flipped.ngk").write_bytes(bytes(flipped))
    (tmp_path / "text.txt").write_bytes(test.read_bytes()[:2000])
    (tmp_path / "dir").mkdir()
    cases = [["-m", "missing.ngk", "text.txt"], ["-m", "truncated.ngk", "text.txt"],
             ["-m", "flipped.ngk", "text.txt"], ["-m", str(model), "missing.txt"], ["-m", str(model), "dir"],
             ["-m", "dir", "text.txt"], ["-m", str(model)], ["-m", str(model), "--no-such-option", "text.txt"]]
    for args in cases:
        code, _, err = same_both_ways(args, tmp_path)
        assert code in (1, 2) and err.strip(), args
    for bad in ("truncated.ngk", "flipped.ngk"):
        assert fastppl.open_model(kernel, str(tmp_path / bad)) is None


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, reference_dir):
    """One small model per smoothing, written by the CLI with its defaults, and a text to score."""
    folder = tmp_path_factory.mktemp("tiny")
    train = folder / "train.txt"
    train.write_text("".join((reference_dir / "timemachine.d2l.txt").read_text(encoding="utf-8").splitlines(True)[:800]),
                     encoding="utf-8")
    paths = {}
    for smoothing in ("mkn", "kn", "absolute", "witten-bell", "additive", "lidstone", "stupid-backoff"):
        paths[smoothing] = folder / f"{smoothing}.ngk"
        subprocess.run([*NGRAMKIT, "train", "ngram", str(train), "--order", "3", "--smoothing", smoothing, "-q",
                        "-o", str(paths[smoothing])], check=True, env=ENV, capture_output=True)
    paths["arpa"] = folder / "mkn.arpa"
    subprocess.run([*NGRAMKIT, "convert", str(paths["mkn"]), str(paths["arpa"]), "-q"], check=True, env=ENV,
                   capture_output=True)
    text = folder / "text.txt"
    text.write_text("the time traveller said\nxyzzy of the machine\n\nit was a b c\n", encoding="utf-8")
    return folder, paths, text


def test_every_default_smoothing_identical(tiny_models):
    folder, paths, text = tiny_models
    for name, path in paths.items():
        args = ["-m", path.name, text.name] + (["--allow-scores"] if name == "stupid-backoff" else [])
        same_both_ways(args, folder)
        assert taken(path, [text]) == (name not in ("lidstone", "stupid-backoff", "arpa")), name


def test_other_options_take_the_normal_path(tiny_models):
    folder, paths, text = tiny_models
    model = paths["mkn"].name
    for extra in (["--json"], ["--per-word"], ["--per-sentence"], ["--normalize", "lower"], ["--verify"],
                  ["--threads", "1"]):
        assert fastppl.parse(["-m", model, text.name, *extra]) is None
        same_both_ways(["-m", model, text.name, *extra], folder)


def test_constants_match_the_library():
    assert fastppl.SPECIALS == list(vocab.SPECIALS)
    assert (fastppl.PROBE_LAYOUT, fastppl.PROBE_LOAD) == (lookup.PROBE_LAYOUT, lookup.PROBE_LOAD)
    assert (fastppl.MODEL_FORMAT, fastppl.MODEL_VERSION) == (npzfile.MODEL, npzfile.MODEL_VERSION)
    assert fastppl.VOCAB_ARRAYS == npzfile.VOCAB_ARRAYS
    assert all(fastppl._vocab_slots(v) == npzfile.vocab_slots(v) for v in [0, 1, 7, 8, 9, 10002, 2**20])
    assert fastppl.TEXT_DEFAULTS == TextOptions().to_dict()
    for cls, name in fastppl.MODEL_NAMES.items():
        assert CLASSES[cls].name == name
        assert modelio.MODEL_CLASSES[cls].kind == "ngram"
    for cls, accepted in fastppl.HPARAMS(3).items():  # every accepted hparams builds the model
        for hp in accepted:
            CLASSES[cls](3, **hp)


def _pairwise(a: list) -> float:
    """numpy's pairwise_sum (numpy/_core/src/umath/loops_utils.h.src), transcribed: the oracle."""
    n = len(a)
    if n < 8:
        res = 0.0
        for x in a:
            res += x
        return res
    if n <= 128:
        r = list(a[:8])
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for x in a[i:]:
            res += x
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a[:n2]) + _pairwise(a[n2:])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 20000, 82430])
def test_pairwise_sum_is_numpys(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)
    for _ in range(2):
        assert kernel.pairwise_sum(a) == 0.0 + _pairwise(a.tolist())
        if int(np.__version__.split(".")[0]) >= 2:  # numpy 1.x sums in buffers of 8192 elements
            assert kernel.pairwise_sum(a) == float(a.sum())
        a[: n // 3] = -np.inf
    assert kernel.pairwise_sum(np.array([-0.0])) == 0.0 and math.copysign(1, kernel.pairwise_sum(np.array([-0.0]))) == 1


def test_both_paths_sum_with_the_kernel():
    """The normal path's chunk sums are the kernel's (so the two paths agree under numpy 1.x and 2.x)."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal(30000) * 10.0 ** rng.integers(-3, 4, 30000)
    assert evaluate.sum10(a) == kernel.pairwise_sum(a) == 0.0 + _pairwise(a.tolist())


@given(st.binary(max_size=40))
def test_utf8_valid_is_pythons_decoder(data):
    try:
        data.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    assert kernel.utf8_valid(data) == ok


def test_utf8_edges():
    for s in ("\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\ud7ff", "\ue000"):
        assert kernel.utf8_valid(s.encode())
    for b in (b"\xc0\x80", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80",
              b"\xe2\x82"):
        assert not kernel.utf8_valid(b)


# ---- fuzzed model files: whatever the fast path accepts, the normal path loads and scores the same -------

from ..robustness.test_fuzz import edits_st, mutate  # noqa: E402


def _fast_lines(path, text):
    opened = fastppl.open_model(kernel, str(path))
    if opened is None:
        return None
    handle, cls, order = opened[:3]
    result = handle.score([str(text)], fastppl.LN10, 0)
    if result[0] != "ok":
        return None
    return fastppl.summary_lines(path, fastppl.MODEL_NAMES[cls], order, str(text), fastppl._Numbers(*result[1:]))


def _normal_lines(path, text):
    try:
        model = modelio.load_model(path, verify=modelio.AUTO)
        ev = evaluate_files(model, [str(text)])
    except NgramkitError:
        return None
    return fastppl.summary_lines(path, ev.model, model.order, str(text), ev)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=edits_st)
def test_mutated_models_accepted_only_if_the_normal_path_agrees(tiny_models, edits, tmp_path):
    folder, paths, text = tiny_models
    path = tmp_path / "fuzz.ngk"
    path.unlink(missing_ok=True)
    path.write_bytes(mutate(paths["mkn"].read_bytes(), edits))
    fast = _fast_lines(path, text)
    if fast is not None:
        assert fast == _normal_lines(path, text)


def test_unmutated_models_agree(tiny_models):
    folder, paths, text = tiny_models
    for name in ("mkn", "kn", "absolute", "witten-bell", "additive"):
        lines = _fast_lines(paths[name], text)
        assert lines is not None and lines == _normal_lines(paths[name], text)
        assert math.isfinite(float(lines[-1].split()[-1]))


# ---- parse_json: meta.json without the json module -----------------------------------------------------

import json  # noqa: E402

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25)


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False) and type(a) is type(b)


@given(_json_values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_parse_json_is_json_loads(value, ascii_only, indent):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    got = kernel.parse_json(text.encode("utf-8", "surrogatepass"))
    try:
        want = json.loads(text.encode("utf-8", "surrogatepass").decode("utf-8"))
    except UnicodeDecodeError:  # a lone surrogate written raw: not UTF-8, json.loads never sees it
        assert got is None
        return
    assert got is None and "\\ud" in text.lower() or _same(got, want)


@given(st.binary(max_size=30) | st.text(alphabet='{}[]",:0123456789.eE+-tfrulnsaINy \\\t\n', max_size=30)
       .map(str.encode))
def test_parse_json_refuses_what_json_refuses(data):
    got = kernel.parse_json(data)
    try:
        want = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        assert got is None
        return
    assert got is None or _same(got, want)


def test_parse_json_on_model_metadata(ptb3, tiny_models):
    import zipfile

    _, paths, _ = tiny_models
    for path in [ptb3[1], *paths.values()]:
        if path.suffix != ".ngk":
            continue
        raw = zipfile.ZipFile(path).read("meta.json")
        assert kernel.parse_json(raw) == json.loads(raw.decode("utf-8"))
    assert kernel.parse_json(b'{"a": 1, "a": 2}') == {"a": 2}
    assert kernel.parse_json(b"[" * 300 + b"]" * 300) is None  # deeper than the parser goes: json decides
    assert kernel.parse_json(b'"\\ud800"') is None


def test_kenlm_model_opens_native_files_mapped(ptb3, monkeypatch):
    """ngramkit.kenlm.Model attaches a native file straight from the fast path's mapping: the same scores,
    states and vocabulary as the model built by modelio (the path it takes for any other file)."""
    import pickle

    import ngramkit.kenlm as nk

    _, model_path, test = ptb3
    mapped = nk.Model(model_path)
    assert isinstance(mapped._tables[1], kernel.FastModel) and mapped._backoff is None
    with monkeypatch.context() as m:
        m.setattr(nk.Model, "_open_mapped", lambda self, name: False)
        built = nk.Model(model_path)
    assert built._backoff is not None
    lines = test.read_text(encoding="utf-8").splitlines()[:300] + ["", "xyzzy UNK the <s> </s>"]
    for line in lines:
        assert list(mapped.full_scores(line)) == list(built.full_scores(line))
        assert mapped.score(line, bos=False, eos=False) == built.score(line, bos=False, eos=False)
    s1, s2, t1, t2 = nk.State(), nk.State(), nk.State(), nk.State()
    mapped.BeginSentenceWrite(s1)
    built.BeginSentenceWrite(t1)
    for word in "the company said xyzzy it".split():
        a, b = mapped.BaseFullScore(s1, word, s2), built.BaseFullScore(t1, word, t2)
        assert (a.log_prob, a.ngram_length, a.oov) == (b.log_prob, b.ngram_length, b.oov) and s2 == t2
        s1, s2, t1, t2 = s2, s1, t2, t1
    assert all((w in mapped) == (w in built) for w in ["the", "UNK", "<unk>", "<s>", "</s>", "xyzzy"])
    assert mapped.order == built.order == 3
    again = pickle.loads(pickle.dumps(mapped))
    assert again.score(lines[0]) == mapped.score(lines[0])
    assert mapped.backoff_model.vocab.words == built.backoff_model.vocab.words  # loaded on first use
