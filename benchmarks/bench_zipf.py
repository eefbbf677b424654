"""Benchmark: Zipf fits on PTB train counts (orders 1..3, OLS and MLE), beside peers.

Measures, per order, the best of ``--repeat`` timings of

- ``fit_zipf(counts, k, "ols")`` and the same fit done by ``numpy.polyfit``
  (sort + log + polyfit on the same window);
- ``fit_zipf(counts, k, "mle")`` (vectorised xmin scan) and a naive
  reference scan: a Python loop over candidate xmin, one scalar MLE each and
  the KS distance by explicit CDFs over every integer (same answer, checked);
- optionally the ``powerlaw`` package (Alstott et al. 2014, the usual Python
  implementation of Clauset et al.) with ``discrete=True``: pass
  ``--peer-python PATH`` to an interpreter that has it (it needs scipy, which
  ngramkit does not depend on), run in a subprocess on the same frequencies.

Usage::

    NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_zipf.py
    python benchmarks/bench_zipf.py --peer-python /path/to/venv-with-powerlaw/bin/python

Prints JSON on stdout; ``--output`` also writes it (e.g. benchmarks/results/bench_zipf.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ngramkit import NGramCounts, read_sentences
from ngramkit.zipf import fit_zipf, frequencies

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the naive scan is the tests' oracle
from oracles import naive_ks_scan  # noqa: E402

_POWERLAW_CODE = """
import json, sys, time, warnings
import numpy as np
import powerlaw
warnings.filterwarnings("ignore")
x = np.load(sys.argv[1])
t = time.perf_counter()
fit = powerlaw.Fit(x, discrete=True, verbose=False)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "alpha_freq": float(fit.power_law.alpha), "xmin": float(fit.power_law.xmin),
                  "ks": float(fit.power_law.D), "version": getattr(powerlaw, "__version__", "?")}))
"""


def best_of(repeat: int, func):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t)
    return min(times), result


def polyfit_ols(freq: np.ndarray, lo: int, hi: int):
    ranked = np.sort(freq)[::-1]
    x, y = np.log(np.arange(lo, hi + 1)), np.log(ranked[lo - 1 : hi].astype(np.float64))
    slope, intercept = np.polyfit(x, y, 1)
    return -slope, intercept


def powerlaw_peer(python: str, freq: np.ndarray, timeout: float):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "freq.npy"
        np.save(path, freq)
        try:
            proc = subprocess.run([python, "-c", _POWERLAW_CODE, str(path)], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1,2,3")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peer-python", default=None, help="interpreter with the powerlaw package")
    parser.add_argument("--peer-timeout", type=float, default=600)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    orders = [int(k) for k in args.orders.split(",")]

    data = Path(os.environ.get("NGRAMKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    t = time.perf_counter()
    sentences = read_sentences([data / "ptb" / "ptb.train.txt"])
    read_s = time.perf_counter() - t
    count_s, counts = best_of(1, lambda: NGramCounts.from_sentences(sentences, max(orders)))

    out = {"corpus": "ptb.train.txt", "read_seconds": read_s, "count_seconds": count_s,
           "repeat": args.repeat,
           "notes": ["ngramkit times start from NGramCounts (dropping <s>/</s> n-grams, sorting); "
                     "numpy_polyfit and the MLE peers start from the extracted frequency array",
                     "timings are the best of `repeat` runs (naive scan and powerlaw: one run)"],
           "orders": {}}
    for k in orders:
        freq = frequencies(counts, k)
        ols_s, ols = best_of(args.repeat, lambda: fit_zipf(counts, k, "ols"))
        np_s, (np_alpha, np_c) = best_of(args.repeat, lambda: polyfit_ols(freq, ols.rank_min, ols.rank_max))
        mle_s, mle = best_of(args.repeat, lambda: fit_zipf(counts, k, "mle"))
        naive_s, (naive_xmin, naive_ks, naive_a) = best_of(1, lambda: naive_ks_scan(freq, 50))
        row = {
            "distinct": int(freq.size),
            "distinct_frequencies": int(np.unique(freq).size),
            "ols": {"seconds": ols_s, "alpha": ols.alpha, "c": ols.c, "r2": ols.r2,
                    "window": [ols.rank_min, ols.rank_max]},
            "numpy_polyfit": {"seconds": np_s, "alpha": float(np_alpha), "c": float(np_c),
                              "ratio_vs_ngramkit": np_s / ols_s},
            "mle": {"seconds": mle_s, "alpha": mle.alpha, "alpha_se": mle.alpha_se, "alpha_freq": mle.alpha_freq,
                    "xmin": mle.xmin, "ks": mle.ks, "n_tail": mle.n_points},
            "naive_mle_scan": {"seconds": naive_s, "xmin": naive_xmin, "ks": naive_ks, "alpha_freq": naive_a,
                               "same_xmin": naive_xmin == mle.xmin, "ratio_vs_ngramkit": naive_s / mle_s},
        }
        if args.peer_python:
            peer = powerlaw_peer(args.peer_python, freq, args.peer_timeout)
            if "seconds" in peer:
                peer["ratio_vs_ngramkit"] = peer["seconds"] / mle_s
            row["powerlaw_package"] = peer
        out["orders"][str(k)] = row
        print(f"order {k}: ols {ols_s * 1e3:.1f} ms, mle {mle_s * 1e3:.1f} ms", file=sys.stderr)
    text = json.dumps(out, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
