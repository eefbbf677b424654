"""Benchmark: the C RNN kernels against their numpy reference, per function.

Run: python benchmarks/bench_kernels.py [--quick] [--out benchmarks/results/bench_kernels.json]

Shapes are those of the issue's PTB configurations (batch B=20, bptt T=35,
H=100/200, V=10,000, C=100 frequency classes built from PTB train counts when
NGRAMKIT_DATA has PTB, else from a Zipf law). Each row times one call of the
C path (ngramkit.rnn.kernels) and of the numpy reference (ngramkit.rnn.reference,
a per-time-step numpy loop) on the same inputs, best of several repeats, and
reports milliseconds, ratio, tokens per second (T*B or N tokens per call) and
the largest difference between the two results. JSON to stdout.

Read the numbers with the load average recorded in the JSON: on a loaded
machine numpy's multi-threaded BLAS slows down far more than the
single-threaded C code (try OPENBLAS_NUM_THREADS=1 for a fairer reference).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ngramkit.rnn import kernels as K
from ngramkit.rnn import reference as R


def best_time(fn, repeats, min_time=0.2):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0, n = time.perf_counter(), 0
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 >= min_time / repeats or n >= 50:
                break
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def max_diff(a, b):
    if isinstance(a, dict):
        return max(max_diff(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return max([max_diff(x, y) for x, y in zip(a, b) if x is not None] or [0.0])
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def ptb_classes(v, c):
    """Class bounds and a target sampler from PTB train frequencies (or Zipf if PTB is absent)."""
    path = Path(os.environ.get("NGRAMKIT_DATA", "")) / "ptb" / "ptb.train.txt"
    if path.is_file():
        counts = Counter()
        for line in path.read_text().splitlines():
            counts.update(line.split())
            counts["</s>"] += 1
        freq = np.array(sorted(counts.values(), reverse=True)[:v], np.float64)
        source = "ptb.train"
    else:
        freq = 1.0 / np.arange(1, v + 1)
        source = "zipf"
    freq = np.pad(freq, (0, v - len(freq)), constant_values=1)
    p = freq / freq.sum()
    # rnnlm-0.4b: walk words by descending frequency, start a new class each 1/C of unigram mass
    cls = np.minimum((np.cumsum(p) - p / 2) * c, c - 1).astype(np.int64)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(cls)) + 1, [v]]).astype(np.int32)
    return bounds, p, source


def run(args):
    rng = np.random.default_rng(0)
    f32 = lambda *s, sc=1.0: (rng.standard_normal(s) * sc).astype(np.float32)  # noqa: E731
    rows = []
    t, b = 35, 20
    rec_cases = [("rnn", 100), ("rnn", 200), ("gru", 200), ("lstm", 200)]
    if args.quick:
        rec_cases = rec_cases[1:2]
    for cell, h in rec_cases:
        g = K.GATES[cell]
        xw, h0, wh, bh = f32(t, b, g * h), f32(b, h, sc=0.5), f32(h, g * h, sc=h ** -0.5), f32(g * h, sc=0.1)
        c0 = f32(b, h, sc=0.5) if cell == "lstm" else None
        dhs = f32(t, b, h)
        for kind in ("forward", "backward"):
            res = {}
            for name, mod in (("c", K), ("numpy", R)):
                hs, ct, cache = mod.recurrent_forward(cell, xw, h0, c0, wh, bh)
                if kind == "forward":
                    fn = lambda mod=mod: mod.recurrent_forward(cell, xw, h0, c0, wh, bh)  # noqa: E731
                else:
                    fn = lambda mod=mod, cache=cache: mod.recurrent_backward(  # noqa: E731
                        cell, dhs, None, None, cache, h0, c0, wh, bh)
                res[name] = (best_time(fn, args.repeats), fn())
            flops = 2 * t * b * h * g * h * (1 if kind == "forward" else 2)
            rows.append(dict(function=f"recurrent_{kind}", cell=cell, T=t, B=b, H=h,
                             c_ms=res["c"][0] * 1e3, numpy_ms=res["numpy"][0] * 1e3,
                             speedup=res["numpy"][0] / res["c"][0], c_tokens_per_s=t * b / res["c"][0],
                             c_recurrent_gflops=flops / res["c"][0] / 1e9,
                             max_abs_diff=max_diff(res["c"][1], res["numpy"][1])))
    n, v, c = t * b, 10000, 100
    bounds, p, source = ptb_classes(v, c)
    targets = rng.choice(v, n, p=p).astype(np.int32)
    for h in ([200] if args.quick else [100, 200]):
        hh, w, bias = f32(n, h), f32(h, v, sc=0.1), f32(v, sc=0.1)
        wc, bc = f32(h, len(bounds) - 1, sc=0.1), f32(len(bounds) - 1, sc=0.1)
        cases = [("softmax_xent", lambda m: m.softmax_xent(hh, w, bias, targets)),
                 ("class_softmax_xent", lambda m: m.class_softmax_xent(hh, wc, bc, w, bias, bounds, targets))]
        for name, call in cases:
            res = {mod_name: (best_time(lambda m=m: call(m), args.repeats), call(m))
                   for mod_name, m in (("c", K), ("numpy", R))}
            rows.append(dict(function=name, N=n, H=h, V=v, C=len(bounds) - 1 if "class" in name else None,
                             c_ms=res["c"][0] * 1e3, numpy_ms=res["numpy"][0] * 1e3,
                             speedup=res["numpy"][0] / res["c"][0], c_tokens_per_s=n / res["c"][0],
                             max_abs_diff=max_diff(res["c"][1], res["numpy"][1])))
    # the kernels' own matrix product against numpy's BLAS at the per-step shape
    from ngramkit import _rnn
    for m_, k_, n_ in [(20, 200, 800), (20, 800, 200), (700, 200, 10000)]:
        a, bb = f32(m_, k_), f32(k_, n_)
        tc = best_time(lambda: _rnn.matmul(a, bb), args.repeats)
        tn = best_time(lambda: a @ bb, args.repeats)
        rows.append(dict(function="matmul", M=m_, K=k_, N=n_, c_gflops=2 * m_ * k_ * n_ / tc / 1e9,
                         numpy_gflops=2 * m_ * k_ * n_ / tn / 1e9))
    return dict(benchmark="bench_kernels", simd=_rnn.simd(), classes_from=source, class_sizes=dict(
        min=int(np.diff(bounds).min()), max=int(np.diff(bounds).max())), numpy=np.__version__,
        machine=platform.machine(), cpus=os.cpu_count(), load_average=[round(x, 2) for x in os.getloadavg()],
        openblas_num_threads=os.environ.get("OPENBLAS_NUM_THREADS"), kernel_threads=os.environ.get("NGRAMKIT_THREADS"),
        rows=rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one configuration per function")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args()
    os.environ.pop("NGRAMKIT_IMPL", None)
    if K.implementation() != "c":
        raise SystemExit("bench_kernels: the C extension ngramkit._rnn is not built; run pip install -e .")
    report = run(args)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        from ngramkit.fileio import atomic_open

        with atomic_open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
