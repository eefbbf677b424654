"""Benchmark: the main job, ``ngramkit compare``, on timemachine (default) and PTB.

Runs the real command in a subprocess (exactly what a user types), records
wall time, peak memory and the report, and sets the results beside the
reference figures of established tools measured on this kind of machine:
KenLM ``lmplz``/``query`` (modified Kneser-Ney, shared/reference/README.md)
and Mikolov's RNNLM toolkit 0.4b (tanh RNN H=100, 100 classes: valid 157.3,
test 149.4 after 13 epochs, about 3.5 minutes; issue 5).

Usage::

    NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_compare.py            # both runs
    python benchmarks/bench_compare.py --only timemachine
    python benchmarks/bench_compare.py --only ptb --timeout 3600
    python benchmarks/bench_compare.py --only timemachine_char   # character level (not in the default set)

Writes ``benchmarks/results/compare_<name>.{md,json}`` (the reports),
``benchmarks/results/bench_compare.json`` (this summary) and prints the
summary JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ngramkit.fileio import atomic_open

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_DEFAULT_SECONDS = 180  # issue 6: the default run finishes in under 3 minutes on 2 cores

# Reference figures (test perplexity unless noted) of established tools on the same splits.
REFERENCES = {
    "ptb": {
        "kenlm mkn:3 (test)": 148.2815,
        "kenlm mkn:5 (test)": 141.1862,
        "kenlm mkn:3 (valid)": 157.77,
        "kenlm mkn:5 (valid)": 148.01,
        "rnnlm-0.4b H=100 class 100 (test)": 149.4,
        "rnnlm-0.4b H=100 class 100 (valid)": 157.3,
    },
}

RUNS = {
    "timemachine": [],
    "ptb": ["--corpus", "ptb"],
    "timemachine_char": ["--level", "char"],  # optional (--only timemachine_char): the D2L character setting
}
DEFAULT_RUNS = ("timemachine", "ptb")


def run_one(name: str, extra: list[str], timeout: float) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = RESULTS / f"compare_{name}.md"
    js = RESULTS / f"compare_{name}.json"
    cmd = [sys.executable, "-m", "ngramkit.cli.main", "compare", *extra, "--json", "--markdown", str(md),
           "--plot", str(RESULTS / f"compare_{name}.png")]
    print(f"[bench_compare] {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {"name": name, "error": f"exit code {proc.returncode}", "wall_seconds": wall}
    report = json.loads(proc.stdout)
    with atomic_open(js, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(report, indent=2) + "\n")
    rows = {r["label"]: r for r in report["rows"]}
    out = {
        "name": name,
        "command": "ngramkit compare " + " ".join(extra),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),  # largest child so far (Linux: KiB)
        "tokens": {s: report[f"{s}_tokens"] for s in ("train", "valid", "test")},
        "vocab_size": report["vocab_size"],
        "rows": [{k: r[k] for k in ("label", "size", "params", "train_seconds", "tokens_per_second", "valid_ppl",
                                    "test_ppl", "bits_per_token", "epochs") if k in r} for r in report["rows"]],
        "interpolation": report.get("interpolation"),
        "markdown": str(md.relative_to(HERE.parent)),
    }
    if name == "timemachine":
        out["target_seconds"] = TARGET_DEFAULT_SECONDS
        out["within_target"] = wall < TARGET_DEFAULT_SECONDS
    refs = REFERENCES.get(name)
    if refs:
        ratios = {}
        pairs = [("mkn:3", "test_ppl", "kenlm mkn:3 (test)"), ("mkn:5", "test_ppl", "kenlm mkn:5 (test)"),
                 ("mkn:3", "valid_ppl", "kenlm mkn:3 (valid)"), ("mkn:5", "valid_ppl", "kenlm mkn:5 (valid)"),
                 ("rnn", "test_ppl", "rnnlm-0.4b H=100 class 100 (test)"),
                 ("rnn", "valid_ppl", "rnnlm-0.4b H=100 class 100 (valid)")]
        for label, key, ref in pairs:
            if label in rows and rows[label].get(key) and refs.get(ref):
                ratios[f"{label} {key} / {ref}"] = round(rows[label][key] / refs[ref], 4)
        out["references"] = refs
        out["ratios"] = ratios
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RUNS), action="append", help="Run only this corpus (repeatable).")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per run.")
    args = parser.parse_args()
    os.environ.setdefault("NGRAMKIT_DATA", str(HERE.parent.parent / "shared" / "corpora"))
    summary = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "runs": {}}
    out_path = RESULTS / "bench_compare.json"
    if out_path.is_file():  # keep earlier results of the corpora not re-run now
        try:
            summary["runs"].update(json.loads(out_path.read_text()).get("runs", {}))
        except (json.JSONDecodeError, OSError):
            pass
    for name in args.only or DEFAULT_RUNS:
        summary["runs"][name] = run_one(name, RUNS[name], args.timeout)
        with atomic_open(out_path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
