"""Benchmark: linear mixtures on PTB (issue 17, section 4) -- EM, and the static model against the exact mixture.

Two pairs of trigram models, each tuned by EM on PTB valid and measured on
PTB test (82,430 tokens with ``</s>``):

- ``ptb-mkn3+ptb-wb3``: modified Kneser-Ney and Witten-Bell, both on PTB
  train (one vocabulary);
- ``ptb-mkn3+tm-mkn3``: the PTB model and a modified Kneser-Ney trigram of
  The Time Machine (d2l text, another vocabulary: the union is used, a
  model gives 0 to a word it lacks, ngramkit.mix).

For each: the EM iterations and weights (stop when no weight changes
by more than 1e-4), the EM time (CPU of this process, best of ``--repeat``, the
components' held-out scores computed once before, timed separately), the
static model's build time and size, and the test perplexity of each
component, of the exact token-level mixture ``sum_i l_i p_i(w|h)`` and of
the static backoff model (what ``ngramkit mix`` writes). Both are
normalised models; they differ only where the static model backs off with
one weight for an n-gram outside the union.

Usage::

    python benchmarks/bench_mix.py [--repeat 3]

Writes ``benchmarks/results/bench_mix.json`` and prints it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ngramkit import Stream, mix, sources
from ngramkit.fileio import atomic_open
from ngramkit.models import ModifiedKneserNey, WittenBell

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
DATA = Path(os.environ.get("NGRAMKIT_DATA", SHARED / "corpora"))


def _cpu(fn, repeat: int):
    """(best CPU seconds of ``repeat`` calls, the last result), the GC off while timing."""
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.disable()
        t = time.process_time()
        try:
            out = fn()
        finally:
            best = min(best, time.process_time() - t)
            gc.enable()
    return best, out


def _ppl(log_probs: np.ndarray) -> float:
    return float(np.exp(-log_probs.mean()))


def _finite(x: float):
    return x if np.isfinite(x) else None  # JSON has no infinity: a model that gives some token 0


def run_pair(name: str, models: dict, valid, test, repeat: int, max_iter: int) -> dict:
    comps = list(models.values())
    vocab = mix.union_vocab(comps)
    valid_stream = Stream.from_sentences(valid, vocab)
    test_stream = Stream.from_sentences(test, vocab)
    score_s, logp = _cpu(lambda: mix.component_log_probs(comps, valid_stream), repeat)
    em_s, em = _cpu(lambda: mix.tune_weights(logp, max_iter=max_iter), repeat)
    build_s, static = _cpu(lambda: mix.static_mixture(comps, em.weights), repeat)
    test_logp = mix.component_log_probs(comps, test_stream)
    exact = mix.mixture_log_probs(comps, em.weights, test_stream)
    static_lp = static.log_probs(test_stream)
    diff = np.abs(exact - static_lp)
    return {
        "pair": name, "models": list(models), "union_vocab": len(vocab),
        "valid_tokens": valid_stream.n_tokens, "test_tokens": test_stream.n_tokens,
        "weights": em.weights.tolist(), "em_iterations": len(em.iterations) - 1, "em_converged": em.converged,
        "em_trace": em.iterations, "em_cpu_s": em_s, "valid_scoring_cpu_s": score_s,
        "static_build_cpu_s": build_s,
        "static_ngrams": [int(static.ngrams(k).shape[0]) for k in range(1, static.order + 1)],
        "component_ngrams": {n: [int(m.ngrams(k).shape[0]) for k in range(1, m.order + 1)]
                             for n, m in models.items()},
        "test_ppl_components": {n: _finite(_ppl(test_logp[i])) for i, n in enumerate(models)},
        "test_zeroprob_tokens_components": {n: int(np.isneginf(test_logp[i]).sum()) for i, n in enumerate(models)},
        "test_ppl_exact_mixture": _ppl(exact), "test_ppl_static": _ppl(static_lp),
        "static_over_exact_ppl": _ppl(static_lp) / _ppl(exact),
        "tokens_differing_1e-9": int((diff > 1e-9).sum()), "max_abs_logprob_diff": float(diff.max()),
    }


def _process(models: dict, repeat: int) -> dict:
    """``ngramkit mix`` as a whole process: best wall and child CPU of ``repeat`` runs, and what it reported."""
    import resource
    import shutil
    import subprocess
    import tempfile

    from ngramkit import modelio

    exe = shutil.which("ngramkit")
    with tempfile.TemporaryDirectory() as d:
        paths = [modelio.save_model(m, Path(d) / f"{n}.ngk") for n, m in models.items()]
        argv = [exe, "mix", *map(str, paths), "--tune", str(DATA / "ptb" / "ptb.valid.txt"),
                "-o", str(Path(d) / "mixed.ngk"), "--json", "-q"]
        best_wall, best_cpu, out = float("inf"), float("inf"), None
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            best_wall = min(best_wall, wall)
            best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            out = json.loads(proc.stdout)
    return {"argv": ["ngramkit", *argv[1:]], "wall_s": best_wall, "cpu_s": best_cpu,
            "weights": out["weights"], "em_iterations": out["em"]["n_iterations"],
            "em_converged": out["em"]["converged"], "tune_perplexity": out["tune_perplexity"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-iter", type=int, default=1000, help="EM iterations at most (ngramkit mix: 100)")
    ap.add_argument("--process", action="store_true",
                    help="Also time `ngramkit mix` as a whole process on the PTB pair (native files, -q --json).")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_mix.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("NGRAMKIT_DATA", str(DATA))
    ptb = {s: sources.resolve((), "ptb", s).sentences() for s in ("train", "valid", "test")}
    tm = sources.resolve((), "timemachine", "all").sentences()
    t = time.process_time()
    mkn = ModifiedKneserNey(3).fit_sentences(ptb["train"]).to_backoff()
    wb = WittenBell(3).fit_sentences(ptb["train"]).to_backoff()
    tmm = ModifiedKneserNey(3).fit_sentences(tm).to_backoff()
    train_s = time.process_time() - t
    pairs = [run_pair("ptb-mkn3+ptb-wb3", {"ptb-mkn3": mkn, "ptb-wb3": wb}, ptb["valid"], ptb["test"], args.repeat,
                      args.max_iter),
             run_pair("ptb-mkn3+tm-mkn3", {"ptb-mkn3": mkn, "tm-mkn3": tmm}, ptb["valid"], ptb["test"], args.repeat,
                      args.max_iter)]
    result = {"benchmark": "bench_mix", "repeat": args.repeat, "max_iter": args.max_iter, "train_cpu_s": train_s,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg": os.getloadavg()},
              "pairs": pairs}
    if args.process:
        result["process"] = _process({"ptb-mkn3": mkn, "ptb-wb3": wb}, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out) as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "pairs"}, indent=1))
    for p in pairs:
        print(json.dumps({k: v for k, v in p.items() if k != "em_trace"}, indent=1))
    return result


if __name__ == "__main__":
    main()
