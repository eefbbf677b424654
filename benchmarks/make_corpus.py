"""Benchmark corpora of any size: text sampled from a PTB 5-gram model, with an open vocabulary.

Usage::

    python benchmarks/make_corpus.py --tokens 10M [--out DIR] [--seed 1]

or, from another benchmark::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_corpus import corpus
    path = corpus(10_000_000)          # -> DIR/corpus-10000000-s1.txt, made once, then cached

What it makes, step by step:

1. The model: modified Kneser-Ney, order 5, trained on ``$NGRAMKIT_DATA/ptb/ptb.train.txt``
   with ``ngramkit train ngram -n 5 -s mkn`` (once; cached in DIR as ``ptb5-mkn.ngk``).
2. The text: ``ngramkit generate -m ptb5-mkn.ngk --words TOKENS --seed SEED -o RAW``: exact
   samples of the model, one sentence per line. TOKENS counts what ``generate`` counts:
   words plus one per sentence end (``</s>``), as KenLM's token counts do (a reader of the
   file counts TOKENS + 1 when the last sentence was cut: its line end is a sentence end
   too; the JSON's ``tokens`` is the reader's count). Sentence i depends
   only on (SEED, i), so a smaller corpus is a prefix of a larger one with the same seed (up
   to its last, cut, sentence).
3. The open vocabulary: PTB's text has 10,000 types, so sampled text never has more; real
   text keeps finding new words (Heaps' law, types ~ K n^beta with beta ~ 0.5-0.7). PTB maps
   its rare words to ``<unk>`` (~4.8% of the sampled words): every ``<unk>`` is replaced, in
   order, by a word of rank r drawn from an unbounded Zipf law, P(r) ~ r^-a with a = 1.2
   (``numpy.random.Generator(PCG64(SEED)).zipf``, drawn in blocks of 65,536 so that the i-th
   ``<unk>`` gets the i-th draw whatever the corpus size). The number of distinct ranks among
   m draws grows like m^(1/a) = m^0.83; with PTB's fixed types added, the corpus's types grow
   with an effective Heaps exponent of ~0.7 between 1M and 100M tokens. Rank r is spelled as
   consonant-vowel syllables (bijective base 105 of r + 11,130, so at least 3 syllables:
   ``bababa``, ``bababe``, ...); a spelling that is a PTB word gets an ``x`` appended.

Types are measured while the text is written: distinct words (``</s>`` excluded) in the
prefix that ends at the first sentence end at or after 1M, 10M, 100M, 1B tokens (the
checkpoints within the corpus); they are printed and stored in ``corpus-TOKENS-sSEED.json``
beside the text. Measured (seed 1, ``--tokens 100M``, benchmarks/results/make_corpus_100M.json):
20,356 types at 1M tokens, 81,346 at 10M, 492,637 at 100M (Heaps exponent 0.60 from 1M to
10M, 0.78 from 10M to 100M, 0.69 overall; PTB itself stops at 10,000); 4.7M ``<unk>``
replaced; 557 MB; 193 s to generate and 137 s for this step on the shared machine (load
~10 on 2 cores).

Cache: DIR (``--out``; default ``$NGRAMKIT_BENCH_DATA``, else ``/tmp/ngramkit-bench``) holds
``corpus-TOKENS-sSEED.txt`` and its ``.json``; both are written atomically
(``ngramkit.fileio.atomic_path``), the text first, so a corpus whose JSON exists is
complete, and an interrupted run leaves nothing but the cached model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ngramkit.fileio import atomic_path

DEFAULT_SEED = 1
ZIPF_A = 1.2
ZIPF_BLOCK = 1 << 16
CHUNK_BYTES = 8 << 20
CHECKPOINTS = (1_000_000, 10_000_000, 100_000_000, 1_000_000_000)
CONSONANTS = "bcdfghjklmnpqrstvwxyz"
VOWELS = "aeiou"
SYLLABLES = [c + v for c in CONSONANTS for v in VOWELS]  # 105
MIN_OFFSET = len(SYLLABLES) + len(SYLLABLES) ** 2  # bijective numbers below this have 1-2 digits


def default_dir() -> Path:
    return Path(os.environ.get("NGRAMKIT_BENCH_DATA") or "/tmp/ngramkit-bench")


def ptb_train() -> Path:
    data = os.environ.get("NGRAMKIT_DATA")
    candidates = [Path(data)] if data else []
    candidates.append(Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora")
    for base in candidates:
        path = base / "ptb" / "ptb.train.txt"
        if path.is_file():
            return path
    raise SystemExit("make_corpus: ptb/ptb.train.txt not found; set NGRAMKIT_DATA to the folder holding ptb/")


def parse_tokens(text: str) -> int:
    """``10M`` -> 10_000_000; also ``k``, ``B``/``G``, decimals (``1.5M``) and plain integers."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMbBgG]?)\s*", str(text))
    if not m:
        raise ValueError(f"--tokens: expected a count such as 10M, 300M, 1B or 2500000, got {text!r}")
    scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}[m.group(2).lower()]
    value = float(m.group(1)) * scale
    if value < 1 or value != int(value):
        raise ValueError(f"--tokens: expected a whole number of tokens >= 1, got {text!r}")
    return int(value)


def ngramkit_exe() -> str:
    here = Path(sys.executable).parent / "ngramkit"
    if here.exists():
        return str(here)
    found = shutil.which("ngramkit")
    if not found:
        raise SystemExit("make_corpus: the ngramkit command is not installed (pip install -e . in the repository)")
    return found


def spell(rank: int) -> str:
    """Rank r >= 1 as consonant-vowel syllables (bijective base 105 of r + MIN_OFFSET: 3 syllables or more)."""
    m = rank + MIN_OFFSET
    out = []
    while m > 0:
        m -= 1
        m, d = divmod(m, len(SYLLABLES))
        out.append(SYLLABLES[d])
    return "".join(reversed(out))


class OpenVocabulary:
    """The i-th call's i-th word: Zipf(a) ranks drawn in fixed blocks, spelled, never a PTB word."""

    def __init__(self, seed: int, known: set[bytes], a: float = ZIPF_A):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.a = a
        self.known = known
        self.pending = np.empty(0, np.int64)
        self.names: dict[int, bytes] = {}
        self.ranks_seen = 0

    def take(self, n: int) -> list[bytes]:
        while self.pending.size < n:
            self.pending = np.concatenate([self.pending, self.rng.zipf(self.a, ZIPF_BLOCK)])
        ranks, self.pending = self.pending[:n], self.pending[n:]
        out = []
        names = self.names
        for r in ranks.tolist():
            name = names.get(r)
            if name is None:
                name = spell(r).encode()
                if name in self.known:
                    name += b"x"
                names[r] = name
            out.append(name)
        return out


def train_model(out_dir: Path, exe: str, quiet: bool) -> Path:
    model = out_dir / "ptb5-mkn.ngk"
    if not model.exists():
        if not quiet:
            print(f"make_corpus: training the PTB 5-gram (mkn) -> {model}", file=sys.stderr)
        subprocess.run([exe, "train", "ngram", str(ptb_train()), "-n", "5", "-s", "mkn", "-o", str(model), "-q"],
                       check=True, stdout=subprocess.DEVNULL if quiet else sys.stderr)
    return model


def _read_chunks(fh):
    while True:
        block = fh.read(CHUNK_BYTES)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += fh.readline()
        yield block


def open_vocabulary(raw: Path, dest: Path, seed: int, known: set[bytes], total_tokens: int) -> dict:
    """Copy ``raw`` to ``dest`` with every ``<unk>`` replaced by an open-vocabulary word; the statistics.

    Blocks of whole lines are rewritten with bytes operations (split at ``<unk>``, join with the new words);
    only a block holding a checkpoint is walked line by line, to count the types of the exact prefix.
    """
    vocab = OpenVocabulary(seed, known)
    types: set[bytes] = set()
    checkpoints = [c for c in CHECKPOINTS if c <= total_tokens]
    types_at: dict[str, int] = {}
    tokens = sentences = replaced = 0
    with open(raw, "rb") as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
        for block in _read_chunks(src):
            n_unk = block.count(b"<unk>")
            if n_unk:
                pieces = block.split(b"<unk>")
                joined = [b""] * (2 * len(pieces) - 1)
                joined[0::2] = pieces
                joined[1::2] = vocab.take(n_unk)
                block = b"".join(joined)
                replaced += n_unk
            newline = np.frombuffer(block, np.uint8) == ord("\n")
            lines = int(newline.sum())
            empty = int(newline[0]) + int((newline[1:] & newline[:-1]).sum())  # a sentence that is only </s>
            block_tokens = block.count(b" ") + (lines - empty) + lines  # words (single spaces) + one </s> a line
            if checkpoints and tokens + block_tokens >= checkpoints[0]:
                seen = tokens
                for line in block.split(b"\n")[:-1]:
                    words = line.split()
                    types.update(words)
                    seen += len(words) + 1
                    while checkpoints and seen >= checkpoints[0]:
                        types_at[f"{checkpoints.pop(0):,}"] = len(types)
            else:
                types.update(block.split())
            tokens += block_tokens
            sentences += lines
            out.write(block)
    return {"tokens": tokens, "words": tokens - sentences, "sentences": sentences, "unk_replaced": replaced,
            "types": len(types), "types_at": types_at}


def corpus(tokens: int | str, seed: int = DEFAULT_SEED, out_dir: str | os.PathLike | None = None, *,
           quiet: bool = True) -> Path:
    """The path of the corpus of ``tokens`` tokens (words + sentence ends) and ``seed``; made on first use."""
    n = parse_tokens(tokens) if isinstance(tokens, str) else int(tokens)
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / f"corpus-{n}-s{seed}.txt"
    meta = out_dir / f"corpus-{n}-s{seed}.json"
    if text.is_file() and meta.is_file():
        return text
    exe = ngramkit_exe()
    model = train_model(out_dir, exe, quiet)
    t0 = time.perf_counter()
    raw = out_dir / f".raw-{n}-s{seed}-{os.getpid()}.txt"
    try:
        cmd = [exe, "generate", "-m", str(model), "--words", str(n), "--seed", str(seed), "-o", str(raw)]
        subprocess.run(cmd + (["-q"] if quiet else []), check=True)
        t1 = time.perf_counter()
        known = {line.split()[0].encode() for line in _vocab_words(ptb_train())}
        stats = open_vocabulary(raw, text, seed, known, n)
    finally:
        raw.unlink(missing_ok=True)
    t2 = time.perf_counter()
    if stats["tokens"] not in (n, n + 1):  # n + 1: the last sentence was cut, and its line end counts as </s>
        text.unlink(missing_ok=True)
        raise SystemExit(f"make_corpus: {text} has {stats['tokens']:,} tokens, expected {n:,}")
    info = {"file": text.name, "seed": seed, "tokens_requested": n, "model": "PTB train, mkn order 5 (ngramkit train ngram -n 5 -s mkn)",
            "generate": f"ngramkit generate -m {model.name} --words {n} --seed {seed} -o RAW",
            "open_vocabulary": {"replaces": "<unk>", "law": "zipf", "a": ZIPF_A, "block": ZIPF_BLOCK},
            **stats, "generate_seconds": round(t1 - t0, 2), "open_vocabulary_seconds": round(t2 - t1, 2),
            "bytes": text.stat().st_size, "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with atomic_path(meta) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    if not quiet:
        print(json.dumps(info, indent=1), file=sys.stderr)
    return text


def _vocab_words(path: Path):
    seen = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            for w in line.split():
                if w not in seen:
                    seen.add(w)
                    yield w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", required=True, help="corpus size in tokens (words + sentence ends): 10M, 300M, 1B")
    ap.add_argument("--out", default=None, help="cache folder (default $NGRAMKIT_BENCH_DATA or /tmp/ngramkit-bench)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        n = parse_tokens(args.tokens)
    except ValueError as exc:
        print(f"make_corpus: {exc}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print("make_corpus: --seed must be >= 0", file=sys.stderr)
        return 2
    path = corpus(n, args.seed, args.out, quiet=args.quiet)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    print(path)
    if not args.quiet:
        shown = ", ".join(f"{k} tokens: {v:,}" for k, v in meta["types_at"].items()) or "-"
        print(f"types {meta['types']:,} ({shown}); <unk> replaced {meta['unk_replaced']:,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
