"""Scoring in chunks of sentences (flat memory): the same numbers as scoring the whole text at once.

Oracles: :func:`ngramkit.evaluate.evaluate` on the whole text as one stream
(the non-streamed evaluation), ``read_sentences`` for the sentences, and the
peak RSS (``ru_maxrss`` from ``os.wait4``) of whole ``ngramkit ppl``
processes on a text and on one ten times longer; a control process that
holds the whole text shows the RSS check can fail.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ngramkit import Stream, TextOptions, modelio, read_sentences
from ngramkit.errors import InputError, NgramkitError
from ngramkit.evaluate import evaluate, evaluate_chunks, evaluate_files, evaluate_sentences, sentence_chunks
from ngramkit.scan import file_blocks as scan_file_blocks
from ngramkit.sources import resolve
from process import NGRAMKIT

COUNTS = ("tokens", "sentences", "oovs", "zeroprobs")
SUMS = ("logprob10", "logprob", "cross_entropy", "perplexity", "perplexity_no_oov", "logprob10_no_oov")


@pytest.fixture(scope="module")
def ptb_model(reference_dir):
    return modelio.load_model(reference_dir / "ptb.UNK.o3.arpa.gz")


@pytest.fixture(scope="module")
def ptb_unk(ptb_dir, tmp_path_factory):
    """PTB test as KenLM scored it (reference/README.md: ``<unk>`` -> ``UNK``): 82,430 tokens, no OOVs."""
    path = tmp_path_factory.mktemp("ptb") / "ptb.UNK.test.txt"
    path.write_bytes((ptb_dir / "ptb.test.txt").read_bytes().replace(b"<unk>", b"UNK"))
    return path


@pytest.fixture(scope="module")
def ptb_test(ptb_unk):
    """That text with OOV words in three sentences, in its middle."""
    lines = ptb_unk.read_bytes().splitlines(keepends=True)
    for i, extra in ((5, b"zqxv the blorft\n"), (1800, b"the cat qqzzy sat\n"), (3000, b"xyzzy\n")):
        lines.insert(i, extra)
    path = ptb_unk.with_name("ptb.oov.test.txt")
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="module")
def whole(ptb_model, ptb_test):
    """The non-streamed evaluation: the whole PTB test text as one stream."""
    return evaluate(ptb_model, Stream.from_files(ptb_test, vocab=ptb_model.vocab), per_sentence=True)


def assert_same(got, want, *, exact_sums: bool):
    for key in COUNTS:
        assert getattr(got, key) == getattr(want, key), key
    for key in SUMS:
        if exact_sums:
            assert getattr(got, key) == getattr(want, key), key
        else:  # chunk sums added in another order: the last bits may differ
            assert getattr(got, key) == pytest.approx(getattr(want, key), rel=1e-12), key
    assert got.model == want.model
    if want.sentence_logprob10 is not None:
        np.testing.assert_array_equal(got.sentence_logprob10, want.sentence_logprob10)
        np.testing.assert_array_equal(got.sentence_tokens, want.sentence_tokens)
        np.testing.assert_array_equal(got.sentence_oovs, want.sentence_oovs)


def test_one_chunk_is_bit_for_bit_the_whole_evaluation(ptb_model, ptb_test, whole):
    assert whole.oovs == 4 and whole.tokens == 82_430 + 11  # zqxv blorft qqzzy xyzzy; 8 words, 3 </s>
    got = evaluate_files(ptb_model, ptb_test, per_sentence=True)  # 450 kB: one 1 MiB chunk
    assert_same(got, whole, exact_sums=True)
    assert got.to_dict() == whole.to_dict()


@pytest.mark.parametrize("chunk_bytes", [1, 4096, 60_000])
def test_many_chunks_give_the_same_numbers(ptb_model, ptb_test, whole, chunk_bytes):
    source = resolve([ptb_test])
    chunks = list(source.chunks(ptb_model.vocab, chunk_bytes))
    assert len(chunks) > 5 and all(c.ids[-1] == whole_eos(ptb_model) for c in chunks)  # whole sentences
    assert sum(c.n_sentences for c in chunks) == whole.sentences
    got = evaluate_chunks(ptb_model, iter(chunks), per_sentence=True)
    assert_same(got, whole, exact_sums=False)


def test_kenlm_perplexity_in_many_chunks(ptb_model, ptb_unk):
    got = evaluate_files(ptb_model, ptb_unk, chunk_bytes=10_000)
    assert got.tokens == 82_430 and got.oovs == 0
    assert got.perplexity == pytest.approx(148.2815, abs=5e-5)  # KenLM query's, reference/README.md


def whole_eos(model):
    return model.vocab.index["</s>"]


def test_sentences_from_a_generator(ptb_model, ptb_test, whole):
    seen = []

    def sentences():  # lazily read; evaluate_sentences must not need a list
        with open(ptb_test, encoding="utf-8") as fh:
            for line in fh:
                if line.split():
                    seen.append(1)
                    yield line.split()

    got = evaluate_sentences(ptb_model, sentences(), per_sentence=True, chunk_tokens=5000)
    assert len(seen) == whole.sentences
    assert_same(got, whole, exact_sums=False)
    one = evaluate_sentences(ptb_model, sentences(), per_sentence=True, chunk_tokens=10 ** 9)
    assert_same(one, whole, exact_sums=True)


def test_sentence_chunks_are_read_lazily(ptb_model):
    def sentences():
        yield ["the", "cat"]
        yield ["a", "dog"]
        raise RuntimeError("read past the first chunk")

    chunks = sentence_chunks(ptb_model, sentences(), 3)
    first, second = next(chunks), next(chunks)
    assert (first.n_sentences, first.n_tokens, second.n_tokens) == (1, 3, 3)
    with pytest.raises(RuntimeError):
        next(chunks)


def _text_file(path, lines, *, bom=False, crlf=False):
    data = ("\r\n" if crlf else "\n").join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


@pytest.mark.parametrize("options", [TextOptions(), TextOptions(normalize="lower"), TextOptions(normalize="d2l"),
                                     TextOptions(tokenizer="regex", pattern=r"\w+")])
@pytest.mark.parametrize("chunk_bytes", [1, 7, 100_000])
def test_blocks_read_the_sentences_of_the_whole_file(tmp_path, options, chunk_bytes):
    lines = ["\u00c9t\u00e9  Caf\u00e9 x", "", "  ", "a b-c, d", "\u00fcber ALLES", "x\x0by z", "last"] * 30
    path = _text_file(tmp_path / "t.txt", lines, bom=True, crlf=True)
    want = read_sentences(path, options)
    source = resolve([path], overrides=options)
    assert list(source.iter_sentences(chunk_bytes)) == want
    vocab = Stream.from_files(path, options).vocab
    chunks = list(source.chunks(vocab, chunk_bytes))
    if chunk_bytes < 100:
        assert len(chunks) > 10
    assert_same_stream(chunks, Stream.from_sentences(want, vocab))


def assert_same_stream(chunks, whole):
    np.testing.assert_array_equal(np.concatenate([c.ids for c in chunks]), whole.ids)
    np.testing.assert_array_equal(np.concatenate([c.oov for c in chunks]), whole.oov)
    lengths = np.concatenate([np.diff(c.offsets) for c in chunks])
    np.testing.assert_array_equal(lengths, np.diff(whole.offsets))


@pytest.mark.parametrize("normalize", ["none", "lower"])
@pytest.mark.parametrize("chunk_bytes", [1, 50, 1 << 20])
def test_blocks_map_words_as_the_whole_text_does(tmp_path, normalize, chunk_bytes):
    """OOVs, a literal <unk> (in the vocabulary: not an OOV), and two spellings lower-casing merges."""
    from ngramkit import Vocabulary

    vocab = Vocabulary.build([["the", "cat", "sat", "<UNK>"]])
    lines = ["the Cat sat", "<unk> the dog", "THE <UNK> <unk> mat", "Dog dog", "sat"] * 7
    path = _text_file(tmp_path / "t.txt", lines)
    options = TextOptions(normalize=normalize)
    whole = Stream.from_files(path, options, vocab=vocab)
    assert whole.oov.any() and not whole.oov.all()
    assert_same_stream(list(resolve([path], overrides=options).chunks(vocab, chunk_bytes)), whole)


def test_errors_name_the_file_and_its_offsets(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a b\n" * 5000 + b"c \xff d\n")
    for options in (TextOptions(), TextOptions(normalize="d2l")):
        with pytest.raises(InputError) as want:
            read_sentences(bad, options)
        source = resolve([bad], overrides=options)
        with pytest.raises(InputError) as got:
            list(source.iter_sentences(100))
        assert str(got.value) == str(want.value) and "offset 20002" in str(got.value)
        with pytest.raises(InputError) as got:
            list(source.chunks(Stream.from_files(_ok(tmp_path)).vocab, 100))
        assert str(got.value) == str(want.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(InputError, match="empty.txt: no tokens"):
        list(resolve([empty], overrides=TextOptions(normalize="d2l")).iter_sentences(2))
    punct = tmp_path / "punct.txt"
    punct.write_text("!!\n..\n")
    with pytest.raises(InputError, match="punct.txt: no tokens after --normalize d2l"):
        list(resolve([punct], overrides=TextOptions(normalize="d2l")).iter_sentences(2))


def _ok(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text("a b\nc d\n")
    return path


class _Pipe(io.RawIOBase):
    """A pipe's read end: hands out at most ``step`` bytes per read and counts what it gave."""

    def __init__(self, data: bytes, step: int = 4096):
        self.data, self.pos, self.step = data, 0, step

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("block_bytes", [1, 7, 1000, 1 << 20])
def test_stdin_is_read_block_by_block(monkeypatch, block_bytes):
    data = "".join(f"line {i} of the text\r\n" if i % 3 else f"\u00e9t\u00e9 {i}\n" for i in range(3000)).encode()
    pipe = _Pipe(data)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(pipe)))
    blocks = scan_file_blocks("-", block_bytes)
    first = next(blocks)
    if block_bytes < 1 << 20:
        assert pipe.pos < len(data) // 2  # the rest is read later, as the blocks are used
    rest = list(blocks)
    assert b"".join([first, *rest]) == data
    assert all(b.endswith(b"\n") and b for b in [first, *rest])


def test_compressed_stdin_is_decompressed(monkeypatch):
    data = b"a b c\n" * 1000
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(gzip.compress(data)))))
    assert b"".join(scan_file_blocks("-", 100)) == data
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(gzip.compress(data)[:-20]))))
    with pytest.raises(InputError, match="<stdin>: corrupt or truncated gzip data"):
        list(scan_file_blocks("-", 100))


class _Recorder:
    """A model whose scores depend on the sentences before (scores_sentences_alone False), recording its input."""

    name = "recorder"
    scores_sentences_alone = False

    def __init__(self, inner):
        self.inner, self.vocab, self.seen = inner, inner.vocab, []

    def log_probs(self, stream):
        self.seen.append(stream)
        return self.inner.log_probs(stream)


def test_a_model_with_state_gets_the_whole_text_at_once(ptb_model, ptb_test, whole):
    model = _Recorder(ptb_model)
    got = evaluate_files(model, ptb_test, chunk_bytes=4096)
    assert len(model.seen) == 1 and model.seen[0].n_tokens == whole.tokens
    assert got.logprob10 == whole.logprob10 and got.tokens == whole.tokens


def test_bad_arguments(ptb_model):
    with pytest.raises(NgramkitError, match="got a string"):
        evaluate_sentences(ptb_model, "the cat")
    with pytest.raises(NgramkitError, match="no sentences"):
        evaluate_sentences(ptb_model, iter([]))
    with pytest.raises(NgramkitError, match="expects streams"):
        evaluate_chunks(ptb_model, [["the"]])
    with pytest.raises(NgramkitError, match="no input files"):
        evaluate_files(ptb_model, [])


# ---- the command: numbers and flat memory -------------------------------------------------


def test_ppl_json_equals_the_whole_evaluation(ptb_model, ptb_test, whole, reference_dir):
    out = subprocess.run([*NGRAMKIT, "ppl", "-q", "--json", "-m", reference_dir / "ptb.UNK.o3.arpa.gz", ptb_test],
                         capture_output=True, text=True, check=True).stdout
    got = json.loads(out)
    for key, value in whole.to_dict().items():
        if key != "per_sentence":
            assert got[key] == value, key


@pytest.fixture(scope="module")
def big_texts(ptb_test, tmp_path_factory):
    """PTB test repeated: ~0.5M tokens, and ten times that (~4.9M tokens, 27 MB)."""
    folder = tmp_path_factory.mktemp("big")
    data = ptb_test.read_bytes()
    small, large = folder / "small.txt", folder / "large.txt"
    small.write_bytes(data * 6)
    large.write_bytes(data * 60)
    return small, large


@pytest.fixture(scope="module")
def small_model(ptb_test, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "test.o3.ngk"
    subprocess.run([*NGRAMKIT, "train", "ngram", "-q", "-o", path, ptb_test], check=True, capture_output=True)
    return path


# The child's ru_maxrss starts from the RSS of the process it was forked from (the kernel records the old
# address space's high-water mark at exec): measured straight from pytest, every child would report pytest's
# own RSS. A small launcher process starts the measured one and reports its rusage from os.wait4.
_LAUNCH = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(p.pid, 0); "
           "print(usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))")


def peak_mib(cmd, stdin=None):
    """(peak RSS in MiB, stdout) of one process, from the kernel's accounting of that process only."""
    with open(os.devnull, "rb") as null:
        done = subprocess.run([sys.executable, "-c", _LAUNCH, *map(str, cmd)], stdin=stdin or null,
                              capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split()[-1]) / 1024, done.stdout


def test_ppl_memory_stays_flat_in_the_text_size(big_texts, small_model):
    small, large = big_texts
    rss_small, out_small = peak_mib([*NGRAMKIT, "ppl", "-q", "--json", "-m", small_model, small])
    rss_large, out_large = peak_mib([*NGRAMKIT, "ppl", "-q", "--json", "-m", small_model, large])
    a, b = json.loads(out_small), json.loads(out_large)
    assert b["tokens"] == 10 * a["tokens"] and b["tokens"] > 4_800_000
    assert b["ppl"] == pytest.approx(a["ppl"], rel=1e-9)  # the same text, ten times
    # Control: the whole text as one stream (as ppl read it before) grows with the text; the check below fails it.
    hold = ("import sys, json; from ngramkit import Stream, modelio; from ngramkit.evaluate import evaluate; "
            "m = modelio.load_model(sys.argv[1]); "
            "print(json.dumps(evaluate(m, Stream.from_files(sys.argv[2], vocab=m.vocab)).to_dict()))")
    ctl_small, _ = peak_mib([sys.executable, "-c", hold, small_model, small])
    ctl_large, whole = peak_mib([sys.executable, "-c", hold, small_model, large])
    whole = json.loads(whole)  # the numbers of the whole text at once; ppl read it in 27 chunks of 1 MiB
    for key in ("tokens", "sentences", "oovs", "zeroprobs"):
        assert b[key] == whole[key], key
    for key in ("logprob10", "ppl", "ppl_no_oov", "bits_per_token"):
        assert b[key] == pytest.approx(whole[key], rel=1e-12), key
    grew, ctl_grew = rss_large - rss_small, ctl_large - ctl_small
    # stdin is read block by block too: the same blocks, the same numbers; memory flat for 3x the large text
    # through a pipe (read whole, as before, it held 81 MB)
    cat = subprocess.Popen(["cat", large, large, large], stdout=subprocess.PIPE)
    rss_stdin, out_stdin = peak_mib([*NGRAMKIT, "ppl", "-q", "--json", "-m", small_model, "-"], stdin=cat.stdout)
    cat.stdout.close()
    assert cat.wait() == 0
    c = json.loads(out_stdin)
    for key in ("tokens", "sentences", "oovs"):
        assert c[key] == 3 * b[key], key
    assert c["ppl"] == pytest.approx(b["ppl"], rel=1e-12)
    assert rss_stdin - rss_small < 30, f"ppl - < 3x large: peak RSS {rss_stdin:.0f} MiB, {rss_small:.0f} on the small text"
    assert ctl_grew > 100, f"control: holding 4.4M more tokens grew RSS by only {ctl_grew:.0f} MiB"
    assert grew < 30, f"ppl's peak RSS grew {grew:.0f} MiB ({rss_small:.0f} -> {rss_large:.0f}) for 10x the text"
