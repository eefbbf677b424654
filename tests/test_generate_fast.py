"""The exact sampler (ngramkit.models.sampling, ngramkit._sample) and ``ngramkit generate``'s fast path.

Oracles: the model's exact conditional distributions (``next_log_probs``,
renormalised without ``<s>``/``<pad>`` as the general path samples them),
within binomial 5-sigma bounds over many sentences; a hand-built model whose
backoff mass lands mostly on the children of the longer context (so the
rejection step decides the result); the Python reference against the C
kernel draw for draw; the text against ``render`` of the library's tokens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import modelio, native
from ngramkit.arpa import read_arpa
from ngramkit.cli.generate import render
from ngramkit.cli.main import cli
from ngramkit.models import BackoffModel, ModifiedKneserNey
from ngramkit.models.sampling import (Renderer, SamplerTables, batch_sample, reference_sample, stream_key,
                                      uniform)
from ngramkit.models import KneserNey
from ngramkit.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary

from process import NGRAMKIT

HAS_C = native.implementation("_sample") == "c" if os.environ.get("NGRAMKIT_IMPL", "") != "numpy" else False
needs_c = pytest.mark.skipif(not HAS_C, reason="the compiled ngramkit._sample is not built")


def sentences_of(ids: np.ndarray) -> list[np.ndarray]:
    ends = np.flatnonzero(ids == EOS_ID)
    return np.split(ids, ends + 1)[: ends.size]


def exact(model, context_ids) -> np.ndarray:
    """(V,) the distribution the generator must follow after ``context_ids``: P without <s>, <pad>, renormalised."""
    p = np.exp(model.next_log_probs(context_ids))
    p[[BOS_ID, PAD_ID]] = 0
    return p / p.sum()


def assert_binomial(counts: np.ndarray, p: np.ndarray, what: str) -> None:
    """Every word's count within 5 sigma of n p, plus 5 counts: with thousands of words expected ~0.03 times,
    some are drawn twice by chance (a Poisson tail the normal bound misses); 6 draws have odds ~1e-12."""
    n = counts.sum()
    sd = np.sqrt(n * p * (1 - p))
    bad = np.flatnonzero(np.abs(counts - n * p) > 5 * sd + 5)
    assert bad.size == 0, f"{what}: ids {bad[:5]} counts {counts[bad[:5]]} expected {n * p[bad[:5]]}"
    assert (counts[p == 0] == 0).all(), f"{what}: impossible words drawn"


@pytest.fixture(scope="module")
def tm3(tm_counts):
    return ModifiedKneserNey(3).fit(tm_counts)


def _sample(model, n, seed, **kw):
    return np.concatenate([np.empty(0, np.int32), *model.sample_ids(n, seed, **kw)])


@pytest.fixture(scope="module")
def tm3_sentences(tm3):
    ids = _sample(tm3, 4_000_000, 11)
    return sentences_of(ids)


def test_first_two_positions_follow_the_model(tm3, tm3_sentences):
    """Every P(w1|<s>) and P(w2|<s> w1) (for the 3 commonest w1) within 5 sigma over ~10^5 sentences."""
    v = len(tm3.vocab)
    sents = [s for s in tm3_sentences if s.size >= 1]
    assert len(sents) > 100_000
    first = np.array([s[0] for s in sents])
    assert_binomial(np.bincount(first, minlength=v), exact(tm3, [BOS_ID]), "P(w1|<s>)")
    for w1 in np.argsort(np.bincount(first, minlength=v))[::-1][:3]:
        if w1 == EOS_ID:
            continue
        second = np.array([s[1] for s in sents if s[0] == w1 and s.size >= 2])
        assert second.size > 3000
        assert_binomial(np.bincount(second, minlength=v), exact(tm3, [BOS_ID, int(w1)]), f"P(w2|<s> {w1})")


def _rejection_model() -> BackoffModel:
    """Tiny 3-gram where backing off from "<s> a" lands on b (its child) most of the time: rejection matters.

    Normalised: each backoff weight is (1 - S_c) / (1 - P(children of c | c')).
    """
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "<pad>", "a", "b", "c"])
    uni = {0: 0.1, 1: np.nan, 2: 0.2, 4: 0.3, 5: 0.25, 6: 0.15}
    bi = {(1, 4): 0.6, (1, 5): 0.1, (4, 2): 0.2, (4, 5): 0.5}
    tri = {(1, 4, 5): 0.8}
    b_s = (1 - 0.7) / (1 - 0.3 - 0.25)
    b_a = (1 - 0.7) / (1 - 0.2 - 0.25)
    p_b_given_a = 0.5
    b_sa = (1 - 0.8) / (1 - p_b_given_a)
    backoff = {(1,): b_s, (4,): b_a, (1, 4): b_sa}

    def table(d, k):
        rows = sorted(d)
        grams = np.array([list(r) if k > 1 else [r] for r in rows], np.int32).reshape(len(rows), k)
        logp = np.log10(np.array([d[r] for r in rows], float))
        bo = np.log10(np.array([backoff.get(r if k > 1 else (r,), 1.0) for r in rows]))
        return grams, logp, bo

    t1, t2, t3 = table(uni, 1), table(bi, 2), table(tri, 3)
    return BackoffModel.from_tables(vocab, [t1[0], t2[0], t3[0]], [t1[1], t2[1], t3[1]], [t1[2], t2[2], t3[2]])


def test_rejection_step_gives_the_backoff_rule():
    model = _rejection_model()
    for ctx in ([BOS_ID], [BOS_ID, 4], [4]):  # the tables are normalised (the maths needs it)
        assert abs(np.exp(model.next_log_probs(ctx)).sum() - 1) < 1e-12
    sents = sentences_of(_sample(model, 1_500_000, 3))
    v = len(model.vocab)
    first = np.array([s[0] for s in sents])
    assert_binomial(np.bincount(first, minlength=v), exact(model, [BOS_ID]), "P(.|<s>)")
    second = np.array([s[1] for s in sents if s[0] == 4])
    p = exact(model, [BOS_ID, 4])
    assert p[5] == pytest.approx(0.8) and p[4] > 0.05  # a after "<s> a": only through two rejections
    assert_binomial(np.bincount(second, minlength=v), p, "P(.|<s> a)")
    third = np.array([s[2] for s in sents if s.size > 2 and s[0] == 4 and s[1] == 4])
    assert_binomial(np.bincount(third, minlength=v), exact(model, [4, 4]), "P(.|a a)")


def test_text_depends_only_on_the_seed_not_on_threads_or_chunks(tm3):
    want = _sample(tm3, 50_000, 5, threads=1)
    assert want.size == 50_000 and BOS_ID not in want and PAD_ID not in want
    for threads, chunk in ((2, None), (3, 1000), (1, 7), (2, 33)):
        kw = {} if chunk is None else {"chunk_tokens": chunk}
        assert np.array_equal(_sample(tm3, 50_000, 5, threads=threads, **kw), want)
    assert np.array_equal(_sample(tm3, 20_000, 5), want[:20_000])  # fewer tokens: a prefix
    assert not np.array_equal(_sample(tm3, 20_000, 6), want[:20_000])
    assert _sample(tm3, 0, 5).size == 0


def test_numpy_reference_is_the_c_kernel_draw_for_draw(tm3, monkeypatch):
    if HAS_C:
        c_ids = _sample(tm3, 3000, 9)
        words = tm3.vocab.words
        c_text = Renderer(words)(c_ids)
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    ref = _sample(tm3, 3000, 9)
    ref_text = Renderer(tm3.vocab.words)(ref)
    assert ref_text.decode() + "\n" == render([tm3.vocab.words[i] for i in ref], False) + "\n"
    if not HAS_C:
        pytest.skip("the compiled ngramkit._sample is not built: nothing to compare with")
    assert np.array_equal(ref, c_ids)
    assert ref_text == c_text


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_numpy_reference_is_the_plain_loop(tm_sentences, order):
    """batch_sample (all sentences at once) == reference_sample (one draw at a time), also when room runs out."""
    model = KneserNey(order).fit_sentences(tm_sentences[:600])
    tables = SamplerTables(model)
    for cap in (60, 100_000):
        got = [np.empty(cap, np.int32), np.empty(200, np.int64)]
        want = [np.empty(cap, np.int32), np.empty(200, np.int64)]
        done = batch_sample(tables, 7, 3, 200, *got, 10**6)
        assert done == reference_sample(tables, 7, 3, 200, *want, 10**6)
        assert 0 < done <= 200 and (done == 200) == (cap == 100_000)
        size = int(want[1][:done].sum())
        assert np.array_equal(got[1][:done], want[1][:done]) and np.array_equal(got[0][:size], want[0][:size])


def test_numpy_reference_on_the_rejection_model():
    tables = SamplerTables(_rejection_model())
    got = [np.empty(10_000, np.int32), np.empty(500, np.int64)]
    want = [np.empty(10_000, np.int32), np.empty(500, np.int64)]
    assert batch_sample(tables, 2, 0, 500, *got, 10**6) == reference_sample(tables, 2, 0, 500, *want, 10**6) == 500
    assert np.array_equal(got[0][: want[1].sum()], want[0][: want[1].sum()])


@needs_c
def test_uniform_stream_is_the_same_in_c_and_python():
    kernel = native.extension("_sample")
    for seed, sentence, t in ((0, 0, 0), (1, 2, 3), (2**64 - 1, 10**12, 99), (12345, 7, 0)):
        assert kernel.uniform(seed, sentence, t) == uniform(stream_key(seed, sentence), t)
    u = np.array([uniform(stream_key(3, 0), t) for t in range(20000)])
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_render_matches_render_of_the_tokens(monkeypatch):
    words = ["<unk>", "<s>", "</s>", "<pad>", "a", "bé", "c"]
    ids = np.array([4, 5, 2, 2, 6, 2, 4, 0], np.int32)
    want = render([words[i] for i in ids], False)
    impls = ["numpy"] + (["c"] if HAS_C else [])
    for impl in impls:
        monkeypatch.setenv("NGRAMKIT_IMPL", impl)
        got = Renderer(words)(ids).decode()
        assert got == "a bé\n\nc\na <unk>"
        assert got.replace("\n\n", "\n") == want.replace("\n\n", "\n")
        assert Renderer(words)(ids[:0]) == b""


def test_generate_uses_the_sampler_at_temperature_one(tm3):
    tokens = tm3.generate(300, random_seed=4)
    assert tokens == [tm3.vocab.words[i] for i in _sample(tm3, 300, 4)]
    one = tm3.generate(500, random_seed=4, stop_at_eos=True)
    assert one[-1] == "</s>" and one.count("</s>") == 1 and one == tokens[: len(one)]
    # other settings keep the general path (their own random stream)
    assert tm3.generate(5, random_seed=4, top_k=3) == tm3.generate(5, random_seed=4, top_k=3)


# ---- the command line ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_file(tm3, tmp_path_factory):
    return modelio.save_model(tm3, tmp_path_factory.mktemp("genfast") / "tm3.ngk")


def test_cli_output_file_is_the_library_text(model_file, tm3, tmp_path):
    out = tmp_path / "a.txt"
    result = CliRunner().invoke(cli, ["generate", "-m", str(model_file), "-n", "5000", "--seed", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text == render(tm3.generate(5000, random_seed=8), False).rstrip("\n") + "\n"
    again = CliRunner().invoke(cli, ["generate", "-m", str(model_file), "-n", "5000", "--seed", "8",
                                     "--threads", "1"])
    assert again.stdout == text
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_cli_errors_and_interrupt_leave_no_file(model_file, tmp_path):
    missing = tmp_path / "no" / "x.txt"
    result = CliRunner().invoke(cli, ["generate", "-m", str(model_file), "-o", str(missing)])
    assert result.exit_code == 1 and "does not exist" in result.output and not missing.parent.exists()
    result = CliRunner().invoke(cli, ["generate", "-m", str(model_file), "--json", "-o", str(tmp_path / "j")])
    assert result.exit_code == 2 and "--output" in result.output
    out = tmp_path / "big.txt"
    proc = subprocess.Popen([*NGRAMKIT, "generate", "-m", str(model_file), "-n", "100000000000", "--seed", "1",
                             "-o", str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the temporary file is there and growing
            tmps = [p for p in tmp_path.iterdir() if p.name.startswith(".big.txt.")]
            if tmps and tmps[0].stat().st_size > 100_000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("generate -o wrote nothing in 60 s")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert b"Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".big")]


# ---- benchmarks/make_corpus.py -----------------------------------------------------------------------------------

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def make_corpus():
    sys.path.insert(0, str(BENCH))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(BENCH))
    return make_corpus


def test_make_corpus_pieces(make_corpus):
    assert make_corpus.parse_tokens("10M") == 10_000_000 and make_corpus.parse_tokens("1.5k") == 1500
    assert make_corpus.parse_tokens("2B") == 2 * 10**9 and make_corpus.parse_tokens("123") == 123
    for bad in ("10X", "0", "1.5", ""):
        with pytest.raises(ValueError):
            make_corpus.parse_tokens(bad)
    names = [make_corpus.spell(r) for r in range(1, 30_000)]
    assert len(set(names)) == len(names) and min(map(len, names)) == 6  # distinct, at least 3 syllables
    known = {b"bababa"}
    one = make_corpus.OpenVocabulary(3, known)
    many = [w for n in (1, 70_000, 5, 1000) for w in one.take(n)]
    assert many == make_corpus.OpenVocabulary(3, known).take(len(many))  # the i-th word does not depend on batches
    assert b"bababa" not in many and b"bababax" in many


def test_make_corpus_end_to_end(make_corpus, tmp_path):
    small = make_corpus.corpus(3000, out_dir=tmp_path)
    large = make_corpus.corpus("8k", out_dir=tmp_path)
    a, b = small.read_text().splitlines(), large.read_text().splitlines()
    assert a[:-1] == b[: len(a) - 1]  # same seed: a prefix, up to the cut last sentence
    words = large.read_text().split()
    assert len(words) + len(b) in (8000, 8001) and "<unk>" not in words
    meta = large.with_suffix(".json").read_text()
    assert '"unk_replaced"' in meta
    assert make_corpus.corpus(8000, out_dir=tmp_path) == large  # cached
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ptb5-mkn.ngk", small.name, large.name, small.with_suffix(".json").name, large.with_suffix(".json").name])


@needs_c
def test_missing_sample_extension_generates_the_same(tm3, monkeypatch):
    """auto with ngramkit._sample missing: one warning naming it, then the same tokens from the reference."""
    want = tm3.generate(400, random_seed=12)
    monkeypatch.setitem(sys.modules, "ngramkit._sample", None)  # None in sys.modules: the import raises
    monkeypatch.setattr(native, "_missing", {})
    monkeypatch.setattr(native, "_warned", set())
    monkeypatch.delenv("NGRAMKIT_IMPL", raising=False)
    with pytest.warns(RuntimeWarning, match="ngramkit._sample"):
        got = tm3.generate(400, random_seed=12)
    assert got == want


def test_long_runs_report_progress_on_stderr(model_file, tmp_path):
    out = tmp_path / "m.txt"
    args = ["generate", "-m", str(model_file), "-n", "1000000", "--seed", "2", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr.startswith("generating 1,000,000 tokens in ")
    words = out.read_text(encoding="utf-8").split()
    assert len(words) + out.read_text(encoding="utf-8").count("\n") in (1_000_000, 1_000_001)
    quiet = CliRunner().invoke(cli, [*args, "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.parametrize("name", ["ptb.UNK.o3.prune011.arpa.gz", "timemachine.d2l.o5.arpa.gz"])
def test_kenlm_models_sample_their_own_distribution(reference_dir, name):
    """KenLM's ARPA files (rounded to its printed digits; one pruned): P(w1|<s>), P(w2|<s> w1) within 5 sigma."""
    model = read_arpa(reference_dir / name)
    v = len(model.vocab)
    sents = sentences_of(_sample(model, 2_500_000, 21))
    first = np.array([s[0] for s in sents])
    assert_binomial(np.bincount(first, minlength=v), exact(model, [BOS_ID]), f"{name} P(w1|<s>)")
    w1 = int(np.argmax(np.bincount(first, minlength=v)[4:])) + 4
    second = np.array([s[1] for s in sents if s[0] == w1])  # s[0] is not </s>: s has a second token
    assert second.size > 2000
    assert_binomial(np.bincount(second, minlength=v), exact(model, [BOS_ID, w1]), f"{name} P(w2|<s> {w1})")


@needs_c
def test_kernel_bindings_check_their_arguments(tm3):
    kernel = native.extension("_sample")
    tm3.sample_ids(1, 0)
    args = tm3._sampler.kernel_args()
    tokens, lengths = np.empty(100, np.int32), np.empty(4, np.int64)
    assert kernel.sample(args, 1, 0, 4, tokens, lengths, 1000) >= 0
    with pytest.raises(TypeError, match="tokens"):
        kernel.sample(args, 1, 0, 4, np.empty(100, np.int64), lengths, 1000)
    with pytest.raises(TypeError, match="tokens"):
        kernel.sample(args, 1, 0, 4, np.empty(200, np.int32)[::2], lengths, 1000)
    with pytest.raises(ValueError, match="lengths"):
        kernel.sample(args, 1, 0, 5, tokens, lengths, 1000)
    with pytest.raises(ValueError, match="sizes"):
        kernel.sample((*args[:7], (args[7][0][:-1], *args[7][1:]), *args[8:]), 1, 0, 4, tokens, lengths, 1000)
    with pytest.raises(ValueError, match="inconsistent"):
        kernel.sample((args[0] + 1, *args[1:]), 1, 0, 4, tokens, lengths, 1000)
    words, offsets = b"abc", np.array([0, 1, 2, 3], np.int64)
    out = bytearray(10)
    assert kernel.render(np.array([0, 1, 2], np.int32), words, offsets, 2, out) == 4 and out[:4] == b"a b\n"
    with pytest.raises(ValueError, match="outside"):
        kernel.render(np.array([3], np.int32), words, offsets, 2, out)
    with pytest.raises(ValueError, match="too small"):
        kernel.render(np.array([0, 1, 0, 1, 0, 1], np.int32), words, offsets, 2, bytearray(3))
