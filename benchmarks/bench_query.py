"""Benchmark: ngramkit.kenlm beside KenLM's Python module, in-process, in the same run (issue 16, section 1).

Both load the same ARPA file (default: shared/reference/ptb.UNK.o3.arpa.gz,
the PTB 3-gram) and score PTB test (``<unk>`` -> ``UNK``, 3,761 sentences,
82,430 tokens with ``</s>``) three ways, each timed best of ``--repeat``
(CPU time of this process, the GC off):

- ``base_score``: a Python loop of ``BaseScore(in_state, word, out_state)``
  over every word and ``</s>`` (what beam-search decoders do), states
  swapped, as KenLM's documentation shows;
- ``score``: ``model.score(sentence)`` per sentence;
- ``full_scores``: ``list(model.full_scores(sentence))`` per sentence.

Also the load time of each. The totals of both are checked to agree (1e-3 on
the whole test set) before anything is reported. Ratios are ngramkit's
speed over KenLM's (above 1: ngramkit faster). Without the ``kenlm`` module
(``pip install -e '.[kenlm-oracle]'``) only ngramkit's figures are written.

Usage::

    python benchmarks/bench_query.py [--model ARPA] [--repeat 5] [--sentences N]

Writes ``benchmarks/results/bench_query.json`` and prints it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from pathlib import Path

from ngramkit.fileio import atomic_open

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
DATA = Path(os.environ.get("NGRAMKIT_DATA", SHARED / "corpora"))


def base_score_loop(module, model, sentences):
    state, out = module.State(), module.State()
    base = model.BaseScore
    total = 0.0
    for words in sentences:
        model.BeginSentenceWrite(state)
        for w in words:
            total += base(state, w, out)
            state, out = out, state
    return total


def score_loop(model, lines):
    score = model.score
    return sum(score(line) for line in lines)


def full_scores_loop(model, lines):
    return sum(p for line in lines for p, _, _ in model.full_scores(line))


def best_cpu(fn, repeat):
    gc.disable()
    try:
        best, value = float("inf"), None
        for _ in range(repeat):
            t = time.process_time()
            value = fn()
            best = min(best, time.process_time() - t)
        return best, value
    finally:
        gc.enable()


def measure(module, path, lines, repeat):
    t = time.process_time()
    model = module.Model(str(path))
    load = time.process_time() - t
    sentences = [line.split() + ["</s>"] for line in lines]
    tokens = sum(map(len, sentences))
    out = {"load_s": round(load, 4), "tokens": tokens}
    totals = {}
    for name, fn in (("base_score", lambda: base_score_loop(module, model, sentences)),
                     ("score", lambda: score_loop(model, lines)),
                     ("full_scores", lambda: full_scores_loop(model, lines))):
        seconds, totals[name] = best_cpu(fn, repeat)
        out[name] = {"cpu_s": round(seconds, 4), "tokens_per_s": round(tokens / seconds),
                     "ns_per_token": round(1e9 * seconds / tokens, 1)}
    return out, totals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=SHARED / "reference" / "ptb.UNK.o3.arpa.gz")
    ap.add_argument("--text", type=Path, default=DATA / "ptb" / "ptb.test.txt")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=None, help="only the first N sentences (smoke runs)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_query.json")
    args = ap.parse_args(argv)

    import ngramkit.kenlm as nk

    with open(args.text, encoding="utf8") as f:
        lines = [line.replace("<unk>", "UNK").strip() for line in f][: args.sentences]
    result = {"benchmark": "bench_query", "model": args.model.name, "text": args.text.name,
              "sentences": len(lines), "repeat": args.repeat, "machine": platform.machine(),
              "python": platform.python_version()}
    result["ngramkit"], nk_totals = measure(nk, args.model, lines, args.repeat)
    try:
        import kenlm
    except ImportError:
        kenlm = None
        result["kenlm"] = "not installed (pip install -e '.[kenlm-oracle]')"
    if kenlm is not None:
        result["kenlm"], k_totals = measure(kenlm, args.model, lines, args.repeat)
        for name in nk_totals:
            if abs(nk_totals[name] - k_totals[name]) > 1e-3:
                raise SystemExit(f"bench_query: {name} totals differ: ngramkit {nk_totals[name]} "
                                 f"vs kenlm {k_totals[name]}")
        result["speed_ratio_ngramkit_over_kenlm"] = {
            name: round(result["kenlm"][name]["cpu_s"] / result["ngramkit"][name]["cpu_s"], 3)
            for name in ("base_score", "score", "full_scores")}
        result["load_ratio_kenlm_over_ngramkit"] = round(result["kenlm"]["load_s"] / result["ngramkit"]["load_s"], 3)
    result["log10_total"] = round(nk_totals["score"], 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
