"""ngramkit.kenlm against KenLM: its ``query`` output (file oracle, always) and its Python module (when installed).

Oracles: ``ptb.UNK.o3.query.test200.txt`` (KenLM ``query``'s per-word
``word=id ngram_length log10`` and sentence totals, shared/reference/README.md);
the ``kenlm`` module itself (``pip install kenlm``, the ``kenlm-oracle``
extra) on the reference ARPA files and on models ngramkit trains; pyctcdecode
decoding with either module.
"""

from __future__ import annotations

import copy
import json
import math
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

from ngramkit import Stream, Vocabulary, corpora, save_model
from ngramkit import kenlm as nk
from ngramkit.counts import NGramCounts
from ngramkit.models import ModifiedKneserNey

pytestmark = pytest.mark.skipif(nk._score is None, reason="ngramkit._score (C extension) not built")


def ptb_test(data_dir, n=None):
    """PTB test sentences as the reference models saw them (``<unk>`` -> ``UNK``)."""
    with open(data_dir / "ptb" / "ptb.test.txt", encoding="utf8") as f:
        lines = [line.replace("<unk>", "UNK").strip() for line in f]
    return lines[:n] if n else lines


@pytest.fixture(scope="module")
def ptb3(reference_dir):
    return nk.Model(reference_dir / "ptb.UNK.o3.arpa.gz")


# ---- the file oracle: KenLM query's per-word output ---------------------------------------------


def parse_query(path):
    """[(words [(word, ngram_length, log10)], total, oov)] and the summary dict."""
    sentences, summary = [], {}
    for line in path.read_text(encoding="utf8").splitlines():
        if "\t" in line and line.split("\t")[-1].startswith("Total:"):
            *tokens, tail = line.split("\t")
            words = []
            for tok in tokens:
                wordid, length, logp = tok.rsplit(" ", 2)
                words.append((wordid.rsplit("=", 1)[0], int(length), float(logp)))
            _, total, _, oov = tail.split()
            sentences.append((words, float(total), int(oov)))
        elif ":\t" in line:
            key, value = line.split(":\t")
            summary[key] = float(value)
    return sentences, summary


def test_full_scores_match_kenlm_query_output(ptb3, reference_dir, data_dir):
    sentences, summary = parse_query(reference_dir / "ptb.UNK.o3.query.test200.txt")
    text = ptb_test(data_dir, 200)
    assert len(sentences) == 200
    tokens, total_all = 0, 0.0
    for line, (words, total, oov) in zip(text, sentences):
        got = list(ptb3.full_scores(line))
        assert [w for w, _, _ in words] == line.split() + ["</s>"]
        assert [g[1] for g in got] == [length for _, length, _ in words]
        for (_, _, want), (logp, _, _) in zip(words, got):
            assert logp == pytest.approx(want, abs=1e-5)
        assert sum(g[2] for g in got) == oov
        assert ptb3.score(line) == pytest.approx(total, abs=1e-5)
        tokens += len(got)
        total_all += ptb3.score(line)
    assert tokens == summary["Tokens"]
    assert 10 ** (-total_all / tokens) == pytest.approx(summary["Perplexity including OOVs"], rel=1e-6)


def test_documented_score_and_conventions(ptb3, reference_dir):
    # shared/reference/README.md: the kenlm module's score of this sentence
    assert ptb3.score("the company said it expects a loss") == pytest.approx(-9.826276779174805, abs=1e-6)
    assert ptb3.order == 3
    assert ptb3.path == os.path.abspath(os.fsencode(reference_dir / "ptb.UNK.o3.arpa.gz"))
    assert repr(ptb3) == "<Model from b'ptb.UNK.o3.arpa.gz'>"
    # KenLM: <unk> is its OOV entry (not "in" the model), <s> and </s> are words, so is UNK here
    assert "the" in ptb3 and "UNK" in ptb3 and "<s>" in ptb3 and "</s>" in ptb3
    assert "<unk>" not in ptb3 and "xyzzy" not in ptb3 and "<pad>" not in ptb3 and b"the" in ptb3
    # an OOV scores as <unk> (a unigram) and is flagged; a literal <unk> is flagged too, as in KenLM
    (p_oov, n_oov, oov), (p_unk, n_unk, unk_flag), _ = ptb3.full_scores("xyzzy <unk>")
    assert (n_oov, oov, n_unk, unk_flag) == (1, True, 1, True)
    # the whole sentence: bos/eos switch <s> context and </s>; empty sentences
    assert ptb3.score("", bos=False, eos=False) == 0.0 and list(ptb3.full_scores("", bos=False, eos=False)) == []
    (p_end, n_end, _), = ptb3.full_scores("")
    assert ptb3.score("") == pytest.approx(p_end) and n_end == 1  # no "<s> </s>" bigram in PTB
    s = "the company said"
    assert ptb3.score(s, bos=False, eos=False) == pytest.approx(sum(p for p, _, _ in ptb3.full_scores(s, False, False)))
    assert ptb3.perplexity(s) == pytest.approx(10 ** (-ptb3.score(s) / 4))
    assert ptb3.score(" the\tcompany \n said ") == ptb3.score(s)  # split at whitespace


def chain_scores(model, words, bos, eos):
    """[(log10, ngram_length, oov)] of a BaseFullScore chain (one query at a time) and their float32 sum."""
    import numpy as np

    state = nk.State()
    (model.BeginSentenceWrite if bos else model.NullContextWrite)(state)
    out, total = [], np.float32(0)
    for w in words + (["</s>"] if eos else []):
        nxt = nk.State()
        r = model.BaseFullScore(state, w, nxt)
        out.append((r.log_prob, r.ngram_length, r.oov))
        total += np.float32(r.log_prob)
        state = nxt
    return out, float(total)


_KENLM_MODELS = {}


def kenlm_ptb3(kenlm, model):
    """The kenlm module's model of the same file (loaded once)."""
    if model.path not in _KENLM_MODELS:
        _KENLM_MODELS[model.path] = kenlm.Model(os.fsdecode(model.path))
    return _KENLM_MODELS[model.path]


@pytest.mark.parametrize("n_words", [255, 256, 257, 700])
def test_sentence_scores_equal_a_base_score_chain(ptb3, data_dir, n_words):
    """score()/full_scores() look words up and score them in chunks of 256 with prefetching: bit for bit
    the one-at-a-time chain (KenLM's score is the float32 sum of its BaseScore values), across chunk edges."""
    try:
        import kenlm
    except ImportError:
        kenlm = None
    words = " ".join(ptb_test(data_dir, 60) + ["xyzzy <unk> </s> <s>"]).split()
    words = (words[-4:] + words)[:n_words]
    line = "  ".join(words)
    for bos in (True, False):
        for eos in (True, False):
            expect, total = chain_scores(ptb3, words, bos, eos)
            got = list(ptb3.full_scores(line, bos, eos))
            assert got == expect
            assert ptb3.score(line, bos, eos) == total
            assert ptb3.score(line.encode(), bos, eos) == total
            if kenlm is not None:
                k = kenlm_ptb3(kenlm, ptb3)
                assert [x[1:] for x in k.full_scores(line, bos, eos)] == [x[1:] for x in got]
                assert max(abs(x[0] - y[0]) for x, y in zip(k.full_scores(line, bos, eos), got)) <= 1e-5
                assert abs(k.score(line, bos, eos) - total) <= 1e-5


def test_base_score_chain_and_states(ptb3):
    words = "the company said it expects a loss".split()
    a, b = nk.State(), nk.State()
    assert a == b and hash(a) == 0 and a.length == 0
    ptb3.BeginSentenceWrite(a)
    assert a != b and a > b  # longer context sorts after, as KenLM's Compare
    total = 0.0
    for w in words + ["</s>"]:
        r = ptb3.BaseFullScore(a, w, b)
        assert r.log_prob == ptb3.BaseScore(a, w, nk.State())
        total += r.log_prob
        a, b = b, a
    assert total == pytest.approx(ptb3.score(" ".join(words)), abs=1e-5)
    # the right state keeps only the context that can still matter: two histories ending alike merge
    s1, s2, tmp = nk.State(), nk.State(), nk.State()
    for first, st in (("company", s1), ("loss", s2)):
        ptb3.NullContextWrite(tmp)
        for w in (first, "of", "the"):
            ptb3.BaseScore(tmp, w, st)
            tmp = copy.copy(st)
    assert s1 == s2 and hash(s1) == hash(s2) and s1.length == 2
    assert len({s1, s2, copy.deepcopy(s1)}) == 1
    # in_state and out_state may be the same object
    same = nk.State()
    ptb3.BeginSentenceWrite(same)
    ptb3.BaseScore(same, "the", same)
    ref_in, ref_out = nk.State(), nk.State()
    ptb3.BeginSentenceWrite(ref_in)
    ptb3.BaseScore(ref_in, "the", ref_out)
    assert same == ref_out
    with pytest.raises(TypeError, match="word"):
        ptb3.BaseScore(a, b"the", b)
    with pytest.raises(TypeError, match="in_state"):
        ptb3.BaseScore(None, "the", b)


def test_load_errors(tmp_path):
    with pytest.raises(OSError, match="Cannot read model"):
        nk.Model(tmp_path / "missing.arpa")
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=x\n")
    with pytest.raises(OSError, match="bad.arpa"):
        nk.Model(bad)



SMALL_ARPA = ("\\data\\\nngram 1=5\nngram 2=3\nngram 3=2\n\n"
              "\\1-grams:\n-1.5\t<unk>\t0\n-98.5\t<s>\t-0.5\n-0.6\ta\t-0.2\n-0.7\tb\t0\n-0.8\t</s>\n\n"
              "\\2-grams:\n-0.1\t<s> a\t-0.15\n-0.3\ta b\t-0.05\n-0.4\tb </s>\n\n"
              "\\3-grams:\n-0.2\t<s> a b\n-0.25\ta b </s>\n\\end\\\n")
SMALL_VARIANTS = {
    "plain": SMALL_ARPA,
    "no <unk>": SMALL_ARPA.replace("ngram 1=5", "ngram 1=4").replace("-1.5\t<unk>\t0\n", ""),
    "no <s>": SMALL_ARPA.replace("ngram 1=5", "ngram 1=4").replace("-98.5\t<s>\t-0.5\n", "")
              .replace("ngram 2=3", "ngram 2=2").replace("-0.1\t<s> a\t-0.15\n", "")
              .replace("ngram 3=2", "ngram 3=1").replace("-0.2\t<s> a b\n", ""),
    "sections out of order": SMALL_ARPA.replace("-0.6\ta\t-0.2\n-0.7\tb\t0\n", "-0.7\tb\t0\n-0.6\ta\t-0.2\n")
              .replace("-0.1\t<s> a\t-0.15\n-0.3\ta b\t-0.05\n", "-0.3\ta b\t-0.05\n-0.1\t<s> a\t-0.15\n"),
}
SMALL_SENTENCES = ["a b", "b a", "a b a b b", "zz a b", "<s> a", "a </s> b", "", "<unk> b"]


def scores_of(model, sentences):
    out = []
    for s in sentences:
        for bos in (True, False):
            for eos in (True, False):
                out.append((model.score(s, bos=bos, eos=eos), list(model.full_scores(s, bos=bos, eos=eos))))
        state, nxt = nk.State(), nk.State()
        model.BeginSentenceWrite(state)
        chain = []
        for w in s.split() + ["</s>"]:
            full = model.BaseFullScore(state, w, nxt)
            chain.append((full.log_prob, full.ngram_length, full.oov))
            state, nxt = nxt, state
        out.append(chain)
    return out


@pytest.mark.parametrize("variant", SMALL_VARIANTS)
def test_arpa_probing_index_from_the_parse_scores_as_the_model(variant, tmp_path, monkeypatch):
    """An ARPA file's index is built from the C parse in file order (no model made, read_arpa not called);
    every score, full_scores triple and BaseScore chain equals the model path's, whose index comes from the
    sorted model that read_arpa builds (the Python parser's, checked against KenLM elsewhere)."""
    from ngramkit import arpa

    path = tmp_path / "m.arpa"
    path.write_text(SMALL_VARIANTS[variant])
    with monkeypatch.context() as m:
        m.setattr(arpa, "read_arpa", lambda *a: pytest.fail("read_arpa called"))
        direct = nk.Model(path)
    assert direct._backoff is None
    with monkeypatch.context() as m:
        m.setattr(arpa, "read_arpa_probe", lambda *a: None)
        m.setenv("NGRAMKIT_IMPL", "numpy")  # the Python parser reads the file
        through_model = nk.Model(path)
    assert through_model._backoff is not None
    assert scores_of(direct, SMALL_SENTENCES) == scores_of(through_model, SMALL_SENTENCES)
    # the unigram table is indexed by word id, so it is the same table bit for bit (<s> context only, a missing
    # <unk> present with KenLM's -100); the other orders' slots depend on the order of insertion
    assert bytes(direct._tables[0]) == bytes(through_model._tables[0])
    assert direct.backoff_model.order == 3  # loaded when asked for


def test_arpa_listed_twice_is_the_readers_error(tmp_path):
    path = tmp_path / "twice.arpa"
    path.write_text(SMALL_ARPA.replace("-0.25\ta b </s>", "-0.25\t<s> a b"))  # a top-order n-gram twice
    with pytest.raises(OSError, match="twice.arpa.*listed twice"):
        nk.Model(path)


def test_models_pickle_and_work_in_a_pool(ptb3, reference_dir):
    clone = pickle.loads(pickle.dumps(ptb3))
    assert clone.path == ptb3.path and type(clone) is nk.Model
    assert clone.score("the company said") == ptb3.score("the company said")
    ptb3 = nk.Model(reference_dir / "timemachine.d2l.o3.arpa.gz")  # small: every task unpickles (reloads) it
    lines = (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf8").splitlines()[:40]
    # spawn: the workers get the model only by pickling it (the tasks name functions of ngramkit.kenlm)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        scores = pool.starmap(nk.Model.score, [(ptb3, line) for line in lines], chunksize=20)
        ppl = pool.starmap(nk.Model.perplexity, [(ptb3, line) for line in lines], chunksize=20)
    assert scores == [ptb3.score(line) for line in lines]
    assert ppl == [ptb3.perplexity(line) for line in lines]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A modified Kneser-Ney 4-gram ngramkit trains on timemachine, as ARPA and native."""
    train = corpora.load_split("timemachine", "train")
    vocab = Vocabulary.build(train)
    counts = NGramCounts.from_stream(Stream.from_sentences(train, vocab), order=4)
    model = ModifiedKneserNey(4).fit(counts)
    d = tmp_path_factory.mktemp("trained")
    save_model(model, d / "tm.arpa")
    save_model(model, d / "tm.ngk")
    return d / "tm.arpa", d / "tm.ngk", [" ".join(s) for s in corpora.load_split("timemachine", "test")]


def test_native_file_scores_as_its_arpa(trained):
    arpa, native, lines = trained
    a, b = nk.Model(arpa), nk.Model(native)
    assert b.order == 4
    for line in lines[:300] + ["", "the <s> time xyzzy"]:
        fa, fb = list(a.full_scores(line)), list(b.full_scores(line))
        assert [x[1:] for x in fa] == [x[1:] for x in fb]
        for x, y in zip(fa, fb):
            assert x[0] == pytest.approx(y[0], abs=1e-5)  # ARPA: 8 decimals


# ---- the kenlm module itself as the oracle --------------------------------------------------------


def compare_with_kenlm(kenlm, path, lines):
    """Every score, full_scores triple, BaseFullScore chain and state equality, ngramkit vs KenLM."""
    a, b = kenlm.Model(str(path)), nk.Model(path)
    assert a.order == b.order and a.path == b.path
    lines = list(lines) + ["", "the <s> time xyzzy </s> <unk> UNK", "<pad> </s>"]
    for line in lines:
        for bos in (True, False):
            for eos in (True, False):
                fa, fb = list(a.full_scores(line, bos, eos)), list(b.full_scores(line, bos, eos))
                assert [x[1:] for x in fa] == [x[1:] for x in fb], line
                assert max((abs(x[0] - y[0]) for x, y in zip(fa, fb)), default=0) <= 1e-5, line
                assert abs(a.score(line, bos, eos) - b.score(line, bos, eos)) <= 1e-5, line
        for w in line.split()[:3]:
            assert (w in a) == (w in b)
        sa, sb = [kenlm.State()], [nk.State()]
        a.BeginSentenceWrite(sa[0])
        b.BeginSentenceWrite(sb[0])
        for w in line.split() + ["</s>"]:
            oa, ob = kenlm.State(), nk.State()
            ra, rb = a.BaseFullScore(sa[-1], w, oa), b.BaseFullScore(sb[-1], w, ob)
            assert (ra.ngram_length, ra.oov) == (rb.ngram_length, rb.oov)
            assert abs(ra.log_prob - rb.log_prob) <= 1e-5
            assert abs(a.BaseScore(sa[-1], w, kenlm.State()) - b.BaseScore(sb[-1], w, nk.State())) <= 1e-5
            sa.append(oa)
            sb.append(ob)
        # states: equal exactly where KenLM's are (the right state's length and words)
        for i in range(len(sa)):
            for j in range(i + 1, len(sa)):
                assert (sa[i] == sa[j]) == (sb[i] == sb[j])


@pytest.mark.parametrize("name", ["ptb.UNK.o3.arpa.gz", "ptb.UNK.o3.prune011.arpa.gz"])
def test_matches_kenlm_module_on_ptb(name, reference_dir, data_dir):
    kenlm = pytest.importorskip("kenlm")
    compare_with_kenlm(kenlm, reference_dir / name, ptb_test(data_dir))


@pytest.mark.parametrize("name", ["timemachine.d2l.o3.arpa.gz", "timemachine.d2l.o5.arpa.gz"])
def test_matches_kenlm_module_on_timemachine(name, reference_dir):
    kenlm = pytest.importorskip("kenlm")
    lines = (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf8").splitlines()[:600]
    compare_with_kenlm(kenlm, reference_dir / name, lines)


def test_matches_kenlm_module_on_a_model_ngramkit_trained(trained):
    kenlm = pytest.importorskip("kenlm")
    arpa, _, lines = trained
    compare_with_kenlm(kenlm, arpa, lines)


# ---- a real client: pyctcdecode --------------------------------------------------------------------

DECODE = textwrap.dedent("""
    import json, sys
    import numpy as np
    if sys.argv[1] == "ngramkit":
        import ngramkit.kenlm
        ngramkit.kenlm.install()            # before pyctcdecode imports kenlm
    from pyctcdecode import build_ctcdecoder
    import kenlm
    labels = [""] + list(" abcdefghijklmnopqrstuvwxyz'")
    rng = np.random.default_rng(0)
    text = "the time traveller was one of the men"
    frames = []
    for ch in text:                          # a noisy CTC emission: each char, then a blank
        for target in (labels.index(ch), 0):
            logits = rng.normal(0, 1.5, len(labels))
            logits[target] += 3.0
            logits[labels.index("e")] += 1.0 # a confusable competitor
            frames.append(logits - np.log(np.exp(logits).sum()))
    logits = np.array(frames, np.float32)
    decoder = build_ctcdecoder(labels, kenlm_model_path=sys.argv[2], alpha=0.6, beta=1.0)
    beams = decoder.decode_beams(logits, beam_width=16)
    print(json.dumps({"module": kenlm.__name__,
                      "beams": [[b[0], float(b[3]), float(b[4])] for b in beams]}))
""")


def test_pyctcdecode_decodes_with_ngramkit_as_with_kenlm(trained, tmp_path):
    pytest.importorskip("pyctcdecode")
    pytest.importorskip("kenlm")
    arpa, _, _ = trained
    script = tmp_path / "decode.py"
    script.write_text(DECODE)
    out = {}
    for which in ("kenlm", "ngramkit"):
        run = subprocess.run([sys.executable, str(script), which, str(arpa)], capture_output=True, text=True,
                             check=True)
        out[which] = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["kenlm"]["module"] == "kenlm" and out["ngramkit"]["module"] == "ngramkit.kenlm"
    want, got = out["kenlm"]["beams"], out["ngramkit"]["beams"]
    assert len(want) > 1 and [b[0] for b in got] == [b[0] for b in want]
    for (_, logit_w, lm_w), (_, logit_g, lm_g) in zip(want, got):
        assert logit_g == pytest.approx(logit_w, abs=1e-6)
        assert math.isclose(lm_g, lm_w, abs_tol=1e-5)
