"""Benchmark: out-of-core estimation (ngramkit.outofcore.estimate) against the in-memory fit (issue 15, part 1).

Two measurements, each fit a whole child process (wall time, CPU = user +
sys, peak RSS from the child's own ``VmHWM``; min of ``--repeat`` runs,
alternating so that load drifts hit every variant alike):

1. ``estimate``: modified Kneser-Ney order 5 (lmplz's discount fallback, which the
   synthetic copies need at order 5) on a synthetic corpus, in
   memory and with ``memory=`` each of ``--budgets``. The corpus is
   ``--copies`` copies of PTB train in which every token is replaced, with
   probability 0.1, by one of 200,000 made-up words (a fixed seed), so the
   copies differ and the vocabulary keeps growing. It is counted once (in
   memory, by a separate process) and saved as ``.npy`` files that every
   child maps, as out-of-core counting will hand them over. The children's
   models are checked to be identical (a SHA-256 of every table).
2. ``refactor``: the in-memory PTB mkn-5 fit before (``--before-python``,
   default /work/main/.venv/bin/python, the code before the method
   refactor) and after (this interpreter), timed in-process, min of 5 fits
   per child.

Usage::

    python benchmarks/bench_estimate_memory.py [--copies 10] [--budgets 256M,1G] [--repeat 3]

Writes ``benchmarks/results/bench_estimate_memory.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ngramkit.fileio import atomic_open

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
DATA = Path(os.environ.get("NGRAMKIT_DATA", SHARED / "corpora"))

PREP = r'''
import json, sys
from pathlib import Path
import numpy as np
from ngramkit import NGramCounts, Stream, Vocabulary
src, folder, copies = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(15)
base = [line.split() for line in src.read_text().splitlines()]
sents = []
for _ in range(copies):
    for s in base:
        swap = rng.random(len(s)) < 0.1
        fake = rng.integers(0, 200_000, len(s))
        sents.append([f"x{f}" if w else t for t, w, f in zip(s, swap, fake)])
counts = NGramCounts.from_sentences(sents, 5)
for k in range(1, 6):
    for name in ("ngrams", "counts", "parent"):
        np.save(folder / f"{name}{k}.npy", getattr(counts, name)(k))
counts.vocab.save(folder / "vocab.txt")
(folder / "meta.json").write_text(json.dumps({"n_sentences": counts.n_sentences, "n_tokens": counts.n_tokens,
                                              "distinct": [counts.distinct(k) for k in range(1, 6)],
                                              "vocab": len(counts.vocab)}))
print("{}")
'''

FIT = r'''
import hashlib, json, sys, tempfile, time
from pathlib import Path
import numpy as np
from ngramkit import NGramCounts, Vocabulary
from ngramkit.models import ModifiedKneserNey
folder, memory = Path(sys.argv[1]), int(sys.argv[2])
meta = json.loads((folder / "meta.json").read_text())
arr = {(n, k): np.load(folder / f"{n}{k}.npy", mmap_mode="r") for k in range(1, 6) for n in ("ngrams", "counts", "parent")}
counts = NGramCounts(Vocabulary.load(folder / "vocab.txt"),
                     *([arr[n, k] for k in range(1, 6)] for n in ("ngrams", "counts", "parent")),
                     n_sentences=meta["n_sentences"], n_tokens=meta["n_tokens"])
def hwm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
before = hwm()
with tempfile.TemporaryDirectory(dir=folder) as work:
    t = time.perf_counter()
    model = ModifiedKneserNey(5, discount_fallback=True).fit(counts, memory=memory or None, workdir=work)
    fit_s = time.perf_counter() - t
    peak = hwm()
    h = hashlib.sha256()
    for k in range(1, 6):
        for f in ("logp10", "backoff10", "keys"):
            for lo in range(0, len(getattr(model, f)(k)), 1 << 20):
                h.update(np.ascontiguousarray(getattr(model, f)(k)[lo:lo + (1 << 20)]).tobytes())
    disk = sum(p.stat().st_size for p in Path(work).iterdir())
print(json.dumps({"fit_s": fit_s, "peak_rss_mib": peak, "rss_before_fit_mib": before, "sha256": h.hexdigest(),
                  "workdir_bytes": disk}))
'''

REFACTOR = r'''
import json, sys, time
from ngramkit import NGramCounts
from ngramkit.models import ModifiedKneserNey
c = NGramCounts.from_file([sys.argv[1]], 5)
ModifiedKneserNey(5).fit(c)
ts = []
for _ in range(5):
    t = time.perf_counter(); ModifiedKneserNey(5).fit(c); ts.append(time.perf_counter() - t)
print(json.dumps({"min_s": min(ts), "all_s": ts}))
'''


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def run_child(python: str, code: str, *args) -> dict:
    t = time.perf_counter()
    r0 = os.times()
    out = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, check=False)
    r1 = os.times()
    if out.returncode != 0:
        raise SystemExit(f"child failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t
    res["cpu_s"] = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--budgets", default="256M,1G")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before-python", default="/work/main/.venv/bin/python")
    ap.add_argument("--skip-refactor", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_estimate_memory.json")
    args = ap.parse_args()
    ptb = DATA / "ptb" / "ptb.train.txt"
    budgets = [("in-memory", 0)] + [(b, parse_size(b)) for b in args.budgets.split(",")]
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_at_start": os.getloadavg()}, "args": vars(args) | {"out": str(args.out)}}
    with tempfile.TemporaryDirectory(prefix="bench-estimate-") as tmp:
        t = time.perf_counter()
        run_child(sys.executable, PREP, ptb, tmp, args.copies)
        corpus = json.loads((Path(tmp) / "meta.json").read_text())
        corpus["prep_s"] = time.perf_counter() - t
        corpus["how"] = (f"{args.copies} copies of PTB train, each token replaced with probability 0.1 by one of "
                         "200,000 made-up words (seed 15); counted in memory, saved as .npy, mapped by each child")
        result["corpus"] = corpus
        runs = {name: [] for name, _ in budgets}
        for _ in range(args.repeat):
            for name, memory in budgets:
                runs[name].append(run_child(sys.executable, FIT, tmp, memory))
                print(name, runs[name][-1], file=sys.stderr)
        hashes = {r["sha256"] for rs in runs.values() for r in rs}
        result["identical_models"] = len(hashes) == 1
        best = {}
        for name, memory in budgets:
            rs = runs[name]
            best[name] = {"budget_bytes": memory or None,
                          "wall_s_min": min(r["wall_s"] for r in rs), "cpu_s_min": min(r["cpu_s"] for r in rs),
                          "fit_s_min": min(r["fit_s"] for r in rs),
                          "peak_rss_mib_max": max(r["peak_rss_mib"] for r in rs),
                          "rss_before_fit_mib": rs[0]["rss_before_fit_mib"],
                          "workdir_bytes": rs[0]["workdir_bytes"], "runs": rs}
        for name in best:
            best[name]["fit_s_ratio_to_in_memory"] = best[name]["fit_s_min"] / best["in-memory"]["fit_s_min"]
        result["estimate"] = best
    if not args.skip_refactor:
        before, after = [], []
        for _ in range(max(2, args.repeat)):
            before.append(run_child(args.before_python, REFACTOR, ptb)["min_s"])
            after.append(run_child(sys.executable, REFACTOR, ptb)["min_s"])
        result["refactor"] = {"what": "in-memory PTB train mkn-5 fit, min of 5 fits per child, children alternating",
                              "before_python": args.before_python, "before_min_s": min(before),
                              "after_min_s": min(after), "after_over_before": min(after) / min(before),
                              "before_s": before, "after_s": after}
    result["machine"]["load_at_end"] = os.getloadavg()
    text = json.dumps(result, indent=1)
    with atomic_open(args.out, "w") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
