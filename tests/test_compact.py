"""The quantised compact format (ngramkit.compact, the C kernel ngramkit._compact).

Oracles:
- KenLM's binning re-done here in plain Python (loops, bisect, float32 scalars) from the ARPA text itself, on
  lmplz's timemachine order-5 model: every dequantised probability and backoff equal;
- the unquantised scorer (BackoffModel) on the same n-grams with those oracle values: every token's score equal,
  bit for bit, from the C kernel and from the numpy reference;
- KenLM itself: build_binary -q 8 -b 8 trie on the same ARPA, queried by the kenlm module, against
  ngramkit.kenlm on the .ngq file (when both are installed);
- a Python big integer as the bit string for pack/unpack.
"""

from __future__ import annotations

import bisect
import gzip
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ngramkit import NGramCounts, Stream, Vocabulary, compact, corpora, modelio, native, npzfile
from ngramkit import kenlm as nk
from ngramkit.arpa import read_arpa
from ngramkit.cli.main import cli
from ngramkit.errors import InputError, NgramkitError
from ngramkit.models import BackoffModel, ModifiedKneserNey
from ngramkit.vocab import BOS

KENLM_BIN = Path(os.environ.get("NGRAMKIT_KENLM_BIN", "/root/.cache/ngramkit-kenlm/bin"))
HAS_C = native.implementation("_compact") == "c" if os.environ.get("NGRAMKIT_IMPL", "") != "numpy" else False
IMPLS = ["c", "numpy"] if HAS_C else ["numpy"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# ---- the oracle: KenLM's quantize.cc in plain Python ---------------------------------------------


def f32(x) -> float:
    return float(np.float32(x))


def oracle_bins(values: list[float], bins: int) -> list[float]:
    """MakeBins: equal-count bins of the sorted values, centre = double mean rounded to float32."""
    v = sorted(values)
    centres, start = [], 0
    for i in range(bins):
        finish = len(v) * (i + 1) // bins
        if finish == start:
            centres.append(centres[-1] if i else float("-inf"))
        else:
            total = 0.0
            for x in v[start:finish]:  # std::accumulate from 0.0: sequential double additions
                total += x
            centres.append(f32(total / (finish - start)))
        start = finish
    return centres


def oracle_encode(value: float, centres: list[float], reserved: int) -> int:
    """Bins::Encode: lower_bound from `reserved`, then the nearer neighbour (float32 differences; a tie goes up)."""
    i = bisect.bisect_left(centres, value, lo=reserved)
    if i == reserved:
        return reserved
    if i == len(centres):
        return len(centres) - 1
    below = np.float32(value) - np.float32(centres[i - 1])
    above = np.float32(centres[i]) - np.float32(value)
    return i - 1 if below < above else i


def parse_arpa(path) -> dict[int, dict[tuple, tuple[float, float]]]:
    """{order: {words: (float32 log10 prob, float32 backoff)}} read from the text, nothing of ngramkit."""
    out, k = {}, 0
    with gzip.open(path, "rt", encoding="utf8") as fh:
        for line in fh:
            line = line.strip()
            if line.endswith("-grams:"):
                k = int(line[1:line.index("-")])
                out[k] = {}
            elif k and line and not line.startswith("\\"):
                parts = line.split("\t")
                out[k][tuple(parts[1].split(" "))] = (f32(float(parts[0])), f32(float(parts[2])) if len(parts) > 2 else 0.0)
    return out


def oracle_dequantised(entries, bits: int):
    """{order: {words: (prob, backoff)}} as KenLM's -q bits -b bits trie stores them (unigrams unquantised)."""
    n = max(entries)
    out = {1: dict(entries[1])}
    for k in range(2, n + 1):
        grams = entries[k]
        pc = oracle_bins([p for p, _ in grams.values()], 1 << bits)
        if k < n:
            extended = {g[:-1] for g in entries[k + 1]}
            bc = [-0.0, 0.0] + oracle_bins([b for _, b in grams.values() if b != 0], (1 << bits) - 2)
        out[k] = {}
        for g, (p, b) in grams.items():
            q = pc[oracle_encode(p, pc, 0)]
            if k == n:
                bq = 0.0
            elif b == 0:
                bq = bc[1] if g in extended else bc[0]
            else:
                bq = bc[oracle_encode(b, bc, 2)]
            out[k][g] = (q, bq)
    return out


def tables_by_words(model: BackoffModel) -> dict[int, dict[tuple, tuple[float, float]]]:
    """{order: {words: (log10 prob, backoff)}} of a model's tables (NaN as the string "nan", so dicts compare)."""
    words = model.vocab.words
    return {k: {tuple(words[i] for i in row): ("nan" if p != p else p, b) for row, p, b in
                zip(model.ngrams(k).tolist(), model.logp10(k).tolist(), model.backoff10(k).tolist())}
            for k in range(1, model.order + 1)}


@pytest.fixture(scope="module")
def tm5(reference_dir):
    """lmplz's timemachine order-5 ARPA: its entries, ngramkit's model of it, and the 8-bit compact model."""
    path = reference_dir / "timemachine.d2l.o5.arpa.gz"
    model = read_arpa(path)
    return path, parse_arpa(path), model, compact.quantise(model, 8)


@pytest.fixture(scope="module")
def tm_lines(reference_dir):
    return (reference_dir / "timemachine.d2l.txt").read_text(encoding="utf8").splitlines()


def test_dequantised_values_are_kenlms_binning(tm5):
    _, entries, _, model = tm5
    want = oracle_dequantised(entries, 8)
    got = tables_by_words(model.to_backoff())
    for k in want:
        assert set(got[k]) == set(want[k]), k
        for g, (p, b) in want[k].items():
            gp, gb = got[k][g]
            if k == 1 and g == (BOS,):
                assert gp == "nan"  # ngramkit: <s> is context only, never predicted
            else:
                assert gp == p, (k, g)
            assert gb == b and np.signbit(gb) == np.signbit(b), (k, g)  # -0.0: no longer n-gram extends it


def test_fewer_bits_too(tm5):
    """4 bits: 16 centres per order (empty bins repeat their neighbour), still KenLM's binning."""
    _, entries, arpa_model, _ = tm5
    want = oracle_dequantised(entries, 4)
    got = tables_by_words(compact.quantise(arpa_model, 4).to_backoff())
    for k in range(2, 6):
        assert {g: got[k][g] for g in want[k]} == want[k]
        assert len({p for p, _ in got[k].values()}) <= 16


@pytest.mark.parametrize("impl", IMPLS)
def test_every_score_is_the_unquantised_scorer_on_the_dequantised_values(tm5, tm_lines, impl, monkeypatch):
    """Oracle values in the unquantised model's tables, scored by BackoffModel: equal to the compact scorer."""
    _, entries, arpa_model, model = tm5
    want = oracle_dequantised(entries, 8)
    words = arpa_model.vocab.words
    logp = []
    backoff = []
    for k in range(1, 6):
        rows = [tuple(words[i] for i in row) for row in arpa_model.ngrams(k).tolist()]
        p = np.array([want[k][g][0] for g in rows])
        if k == 1:
            p[arpa_model.ngrams(1)[:, 0] == arpa_model.vocab.id(BOS)] = np.nan
        logp.append(p)
        backoff.append(np.array([want[k][g][1] for g in rows]))
    oracle = BackoffModel.from_tables(arpa_model.vocab, [arpa_model.ngrams(k) for k in range(1, 6)], logp, backoff)
    lines = [line.split() for line in tm_lines[:1500]] + [["the", "<s>", "time", "xyzzy", "</s>", "<unk>"], [],
                                                          ["</s>"], ["<s>"], ["qqq", "zzz", "the", "time"]]
    stream = Stream.from_sentences(lines, arpa_model.vocab)
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    got = model.log_probs(stream)
    expected = oracle.log_probs(stream)
    assert np.array_equal(got, expected)
    assert np.isfinite(got[:stream.n_tokens - 20]).all()
    # and the perplexity moves as little as KenLM's quantisation moves it
    unq = arpa_model.log_probs(stream)[:-20]
    assert abs(np.exp(-got[:-20].mean()) / np.exp(-unq.mean()) - 1) < 2e-3


def special_values_model(tm5):
    """A model with NaN (context-only) and -inf (probability 0) probabilities in orders 2 and 3."""
    _, _, m, _ = tm5
    logp = [m.logp10(k).copy() for k in range(1, 6)]
    prefixes = np.unique(m.keys(3) // len(m.vocab))  # order-2 rows that some 3-gram extends
    logp[1][prefixes[::7]] = np.nan
    logp[1][prefixes[3::11]] = -np.inf
    logp[2][::13] = -np.inf
    return BackoffModel.from_tables(m.vocab, [m.ngrams(k) for k in range(1, 6)], logp,
                                    [m.backoff10(k) for k in range(1, 6)], keys=[m.keys(k) for k in range(1, 6)])


@pytest.mark.parametrize("impl", IMPLS)
def test_context_only_and_zero_probabilities_keep_codes_of_their_own(tm5, tm_lines, impl, monkeypatch):
    model = special_values_model(tm5)
    q = compact.quantise(model, 8)
    deq = q.to_backoff()
    for k in (2, 3):
        assert np.array_equal(np.isnan(deq.logp10(k)), np.isnan(model.logp10(k)))
        assert np.array_equal(np.isneginf(deq.logp10(k)), np.isneginf(model.logp10(k)))
        finite = np.isfinite(model.logp10(k))
        # the other values: KenLM's binning of the finite ones into the codes left (255 or 254)
        specials = int(np.isnan(model.logp10(k)).any()) + int(np.isneginf(model.logp10(k)).any())
        centres = oracle_bins([f32(x) for x in model.logp10(k)[finite]], 256 - specials)
        want = [centres[oracle_encode(f32(x), centres, 0)] for x in model.logp10(k)[finite][:3000]]
        assert deq.logp10(k)[finite][:3000].tolist() == want
    stream = Stream.from_sentences([line.split() for line in tm_lines[:800]], model.vocab)
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    assert np.array_equal(q.log_probs(stream), deq.log_probs(stream))


# ---- bit packing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_pack_and_unpack_against_a_big_integer(impl, monkeypatch):
    monkeypatch.setenv("NGRAMKIT_IMPL", impl)
    rng = np.random.default_rng(5)
    for width, extra, n in [(1, 0, 70), (3, 2, 33), (14, 36, 500), (20, 0, 257), (57, 0, 40), (57, 7, 41), (8, 0, 9)]:
        stride = width + extra
        start = int(rng.integers(0, 13))
        values = rng.integers(0, 1 << width, n, dtype=np.uint64)
        out = np.zeros(compact.packed_size(n, stride) + 2, np.uint8)
        compact.pack(values, width, start, stride, out)
        big = sum(int(x) << (start + i * stride) for i, x in enumerate(values.tolist()))
        assert out.tobytes() == big.to_bytes(out.size, "little")
        assert np.array_equal(compact.unpack(out, n, width, start, stride), values)


def test_numpy_reference_writes_the_same_bytes(tm5, tmp_path, monkeypatch):
    if not HAS_C:
        pytest.skip("the compiled ngramkit._compact is not built: nothing to compare with")
    _, _, m, _ = tm5
    a = modelio.save_model(compact.quantise(m, 8), tmp_path / "c.ngq")
    monkeypatch.setenv("NGRAMKIT_IMPL", "numpy")
    b = modelio.save_model(compact.quantise(m, 8), tmp_path / "n.ngq")
    assert a.read_bytes() == b.read_bytes()
    assert tables_by_words(modelio.load_model(b).to_backoff()) == tables_by_words(compact.quantise(m, 8).to_backoff())


# ---- files -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A modified Kneser-Ney 4-gram ngramkit trains on timemachine: ARPA, native and 8-bit compact."""
    train = corpora.load_split("timemachine", "train")
    vocab = Vocabulary.build(train)
    model = ModifiedKneserNey(4).fit(NGramCounts.from_stream(Stream.from_sentences(train, vocab), order=4))
    d = tmp_path_factory.mktemp("compact")
    modelio.save_model(model, d / "tm.arpa")
    modelio.save_model(model, d / "tm.ngk", info={"corpus": "timemachine"})
    # quantised from the ARPA text, as KenLM's build_binary reads it
    modelio.save_model(compact.quantise(read_arpa(d / "tm.arpa"), 8), d / "tm.ngq", info={"corpus": "timemachine"})
    lines = [" ".join(s) for s in corpora.load_split("timemachine", "test")]
    return d, lines


def test_round_trip_maps_and_scores_identically(trained):
    d, lines = trained
    q = modelio.load_model(d / "tm.ngq", verify=modelio.AUTO)
    built = compact.quantise(read_arpa(d / "tm.arpa"), 8)
    assert isinstance(q, compact.CompactModel) and q.order == 4 and q.bits == 8
    assert all(isinstance(a, np.memmap) or a.base is not None for a in q._arrays.values())  # mapped, not read
    stream = Stream.from_sentences([s.split() for s in lines], q.vocab)
    assert np.array_equal(q.log_probs(stream), built.log_probs(stream))
    assert modelio.read_metadata(d / "tm.ngq")["info"] == {"corpus": "timemachine"}
    assert modelio.query_safe(modelio.read_metadata(d / "tm.ngq"))


def test_smaller_than_the_native_file(trained):
    d, _ = trained
    size, native_size = (d / "tm.ngq").stat().st_size, (d / "tm.ngk").stat().st_size
    q = modelio.load_model(d / "tm.ngq")
    n = sum(q.sizes[1:])
    # the records: (14-bit words + 8 + 8 + pointer) bits per n-gram; the rest is the dense unigrams and headers
    assert size < native_size / 8
    assert size < n * 7 + len(q.vocab) * 12 + 40_000


def test_atomic_write_leaves_nothing_on_interrupt(trained, tmp_path, monkeypatch):
    d, _ = trained
    q = modelio.load_model(d / "tm.ngq")
    calls = []
    real = npzfile._write_npy

    def interrupted(writer, arr):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(writer, arr)

    monkeypatch.setattr(npzfile, "_write_npy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        modelio.save_model(q, tmp_path / "x.ngq")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_and_truncated_files_are_one_line_errors(trained, tmp_path):
    d, lines = trained
    data = (d / "tm.ngq").read_bytes()
    cut = tmp_path / "cut.ngq"
    cut.write_bytes(data[: len(data) // 2])
    for verify in (True, False, modelio.AUTO):
        with pytest.raises(InputError, match="cut.ngq") as err:
            modelio.load_model(cut, verify=verify)
        assert "\n" not in str(err.value)
    result = run("ppl", "--model", cut, "-q", d / "tm.arpa")
    assert result.exit_code == 1 and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1

    # a crafted file, checksums recomputed: pointers that do not rise, word ids past the vocabulary
    meta, arrays, vocab = npzfile.read_model(d / "tm.ngq", mmap=False)
    rng = np.random.default_rng(1)
    for name in ("records2", "records3", "uni_ptr"):
        bad = {k: np.array(v) for k, v in arrays.items()}
        bad[name][: bad[name].size - 8] = rng.integers(0, 256, bad[name].size - 8, dtype=np.uint8)
        path = npzfile.write_model(tmp_path / f"{name}.ngq", kind="ngram", cls="CompactModel", name="compact",
                                   state=meta["state"], arrays=bad, vocab=vocab, info={})
        with pytest.raises(InputError, match="corrupt model state for CompactModel"):
            modelio.load_model(path, verify=True)
        model = modelio.load_model(path, verify=modelio.AUTO)  # the query path maps it: scoring never faults
        stream = Stream.from_sentences([s.split() for s in lines[:200]], model.vocab)
        assert model.log_probs(stream).shape == (stream.n_tokens,)
        with pytest.raises(OSError, match="corrupt|pointers|sorted|outside|unigram"):
            nk.Model(path)
        result = run("ppl", "--model", path, "--verify", "-q", d / "tm.arpa")
        assert result.exit_code == 1 and "Traceback" not in result.output
    # a header that disagrees with the arrays: refused whatever the verification
    state = dict(meta["state"], sizes=[s + 1 for s in meta["state"]["sizes"]])
    path = npzfile.write_model(tmp_path / "sizes.ngq", kind="ngram", cls="CompactModel", name="compact", state=state,
                               arrays=arrays, vocab=vocab, info={})
    for verify in (True, False, modelio.AUTO):
        with pytest.raises(InputError, match="corrupt model state for CompactModel"):
            modelio.load_model(path, verify=verify)


# ---- the KenLM API, against KenLM's own quantised trie -----------------------------------------------


def test_kenlm_api_matches_kenlms_quantised_trie(trained, tmp_path):
    kenlm = pytest.importorskip("kenlm")
    build_binary = KENLM_BIN / "build_binary"
    if not build_binary.exists():
        pytest.skip(f"KenLM's build_binary is not built ({build_binary}; /work/shared/tools/build-kenlm.sh)")
    d, lines = trained
    trie = tmp_path / "tm.q8.trie"
    subprocess.run([str(build_binary), "-q", "8", "-b", "8", "trie", str(d / "tm.arpa"), str(trie)], check=True,
                   capture_output=True)
    a, b = kenlm.Model(str(trie)), nk.Model(d / "tm.ngq")
    assert a.order == b.order == 4
    lines = lines[:400] + ["", "the <s> time xyzzy </s> <unk> UNK", "<pad> </s>", "<s>"]
    for line in lines:
        for bos in (True, False):
            for eos in (True, False):
                fa, fb = list(a.full_scores(line, bos, eos)), list(b.full_scores(line, bos, eos))
                assert [x[1:] for x in fa] == [x[1:] for x in fb], line
                assert max((abs(x[0] - y[0]) for x, y in zip(fa, fb)), default=0) <= 2e-5, line  # float32 sums
        sa, sb = kenlm.State(), nk.State()
        a.BeginSentenceWrite(sa)
        b.BeginSentenceWrite(sb)
        for w in line.split() + ["</s>"]:
            oa, ob = kenlm.State(), nk.State()
            ra, rb = a.BaseFullScore(sa, w, oa), b.BaseFullScore(sb, w, ob)
            assert (ra.ngram_length, ra.oov) == (rb.ngram_length, rb.oov)
            assert abs(ra.log_prob - rb.log_prob) <= 2e-5
            sa, sb = oa, ob
    # ngramkit.kenlm on the .ngq gives what ngramkit's own scorer gives on it, token by token
    q = modelio.load_model(d / "tm.ngq")
    plain = [line for line in lines if line and "<" not in line and "UNK" not in line]
    stream = Stream.from_sentences([line.split() for line in plain], q.vocab)
    want = [x[0] for line in plain for x in b.full_scores(line)]
    assert np.abs(q.log_probs(stream) / np.log(10) - want).max() <= 1e-6


# ---- the command line ---------------------------------------------------------------------------------


def test_convert_quantize_and_back(trained, tmp_path):
    d, _ = trained
    result = run("convert", d / "tm.ngk", tmp_path / "m.ngq", "--quantize", 8, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert (got["format"], got["input_format"], got["quantize_bits"], got["order"]) == ("compact", "native", 8, 4)
    assert got["bytes"] == (tmp_path / "m.ngq").stat().st_size
    q = modelio.load_model(tmp_path / "m.ngq")
    assert modelio.read_metadata(tmp_path / "m.ngq")["info"] == {"corpus": "timemachine"}
    # back to ARPA and to native: the dequantised values
    assert run("convert", tmp_path / "m.ngq", tmp_path / "back.arpa", "-q").exit_code == 0
    assert run("convert", tmp_path / "m.ngq", tmp_path / "back.ngk", "--json").exit_code == 0
    deq, arpa, nat = q.to_backoff(), read_arpa(tmp_path / "back.arpa"), modelio.load_model(tmp_path / "back.ngk")
    assert type(nat) is BackoffModel
    for k in range(1, 5):
        assert np.array_equal(deq.keys(k), nat.keys(k)) and np.array_equal(deq.keys(k), arpa.keys(k))
        assert np.array_equal(deq.logp10(k), nat.logp10(k), equal_nan=True)
        real = np.isfinite(deq.logp10(k))
        assert np.abs(deq.logp10(k)[real] - arpa.logp10(k)[real]).max() <= 5e-9  # ARPA prints 8 decimals
        assert np.abs(deq.backoff10(k) - arpa.backoff10(k)).max() <= 5e-9
    # usage errors: exit 2, one line, nothing written
    for args in (["convert", d / "tm.ngk", tmp_path / "x.ngq"],
                 ["convert", d / "tm.ngk", tmp_path / "x.arpa", "--quantize", 8],
                 ["convert", d / "tm.ngk", tmp_path / "y.ngq", "--quantize", 1],
                 ["convert", tmp_path / "m.ngq", tmp_path / "z.ngq", "--quantize", 8]):
        result = run(*args)
        assert result.exit_code == 2 and "Traceback" not in result.output, args
    assert not any(p.name.startswith(("x.", "y.", "z.")) for p in tmp_path.iterdir())


def test_train_quantize(tmp_path, timemachine_path):
    out = tmp_path / "t.ngq"
    result = run("train", "ngram", timemachine_path, "--order", 3, "-o", out, "--quantize", 8, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "compact"
    assert run("train", "ngram", timemachine_path, "--order", 3, "-o", tmp_path / "t.ngk", "-q").exit_code == 0
    want = compact.quantise(modelio.load_model(tmp_path / "t.ngk"), 8)
    got = modelio.load_model(out)
    assert tables_by_words(got.to_backoff()) == tables_by_words(want.to_backoff())
    assert run("train", "ngram", timemachine_path, "-o", tmp_path / "u.ngq", "-q").exit_code == 2
    assert run("train", "ngram", timemachine_path, "-o", tmp_path / "u.arpa", "--quantize", 8, "-q").exit_code == 2


def test_ppl_per_word_generate_and_prune_on_a_quantised_model(trained, tmp_path):
    d, lines = trained
    text = tmp_path / "test.txt"
    text.write_text("\n".join(lines[:300]) + "\n", encoding="utf8")
    assert run("convert", d / "tm.ngq", tmp_path / "deq.ngk", "-q").exit_code == 0
    for args in (["--json"], ["--per-word"], ["--per-sentence"]):
        a = run("ppl", "--model", d / "tm.ngq", text, "-q", *args)
        b = run("ppl", "--model", tmp_path / "deq.ngk", text, "-q", *args)
        assert a.exit_code == b.exit_code == 0, a.output
        if args == ["--json"]:
            ja, jb = json.loads(a.stdout), json.loads(b.stdout)
            assert (ja["ppl"], ja["tokens"], ja["logprob10"]) == (jb["ppl"], jb["tokens"], jb["logprob10"])
        else:
            assert a.stdout.splitlines()[1:] == b.stdout.splitlines()[1:]  # all but the model's name
    a = run("generate", "--model", d / "tm.ngq", "--words", 200, "--seed", 4)
    b = run("generate", "--model", tmp_path / "deq.ngk", "--words", 200, "--seed", 4)
    assert a.exit_code == 0 and a.stdout == b.stdout and len(a.stdout.split()) >= 150
    result = run("prune", d / "tm.ngq", "--threshold", "1e-7", "-o", tmp_path / "p.ngk")
    assert result.exit_code == 1 and "quantised" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.ngk").exists()
    with pytest.raises(NgramkitError, match="quantised"):
        from ngramkit.prune import prune
        prune(modelio.load_model(d / "tm.ngq"), 1e-7)


def test_quantise_refuses_what_it_cannot_hold(trained):
    d, _ = trained
    q = modelio.load_model(d / "tm.ngq")
    with pytest.raises(NgramkitError, match="already quantised"):
        compact.quantise(q, 8)
    for bits in (1, 17, True, 8.0):
        with pytest.raises(NgramkitError, match="bits"):
            compact.quantise(modelio.load_model(d / "tm.ngk"), bits)



def test_kernel_refuses_bad_buffers(tm5):
    if not HAS_C:
        pytest.skip("the compiled ngramkit._compact is not built")
    kernel = native.extension("_compact")
    out = np.zeros(64, np.uint8)
    with pytest.raises(TypeError, match="values"):
        kernel.pack(np.zeros(4, np.float64), 3, 0, 3, out)
    with pytest.raises(TypeError, match="values"):
        kernel.pack(np.zeros(8, np.uint64)[::2], 3, 0, 3, out)  # not contiguous
    with pytest.raises(ValueError, match="too short"):
        kernel.pack(np.zeros(100, np.uint64), 5, 0, 5, out)
    with pytest.raises(ValueError, match="width"):
        kernel.unpack(out, 58, 0, 58, np.zeros(1, np.uint64))
    with pytest.raises(TypeError, match="out"):
        kernel.pack(np.zeros(4, np.uint64), 3, 0, 3, np.zeros(64, np.uint8).tobytes())  # read-only
    _, _, _, model = tm5
    a, levels = model._arrays, model._levels()
    stream = Stream.from_sentences([["the", "time"]], model.vocab)
    padded, offsets = stream.padded(model.vocab.id(BOS))
    args = [np.ascontiguousarray(padded, np.int32), np.ascontiguousarray(offsets, np.int64), a["uni_logp10"],
            a["uni_backoff10"], a["uni_ptr"], model._state["uni_ptr_bits"]]
    res = np.empty(stream.n_tokens)
    assert kernel.score(*args, levels, res) == stream.n_tokens
    bad_levels = (levels[0][:6] + (levels[0][6][:-1], levels[0][7]),) + levels[1:]  # a centre table too short
    with pytest.raises(ValueError, match="order-2 level"):
        kernel.score(*args, bad_levels, res)
    short = (levels[0][:1] + (levels[0][1] + 10,) + levels[0][2:],) + levels[1:]  # more records than bytes
    with pytest.raises(ValueError, match="order-2 level"):
        kernel.score(*args, short, res)
    with pytest.raises(ValueError, match="out"):
        kernel.score(*args, levels, np.empty(stream.n_tokens + 1))
    wrong = args[0].copy()
    wrong[1] = len(model.vocab)
    with pytest.raises(IndexError, match="word id"):
        kernel.score(wrong, *args[1:], levels, res)
