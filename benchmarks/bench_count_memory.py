"""Counting in a memory budget: peak RSS, wall and CPU of `ngramkit count --order 5 --memory B`, beside lmplz.

Input: a synthetic corpus with a growing vocabulary (made here with numpy
unless ``--corpus FILE`` is given): sentence lengths geometric with mean 20,
words drawn from a Zipf(1.1) law over a 2M-type space (``w<id>``), about
``--tokens`` tokens (default 10M). The vocabulary keeps growing with the text
as real text's does.

For each budget (``--budgets 256M,1G,none``; ``none`` = no ``--memory``, the
default 40% of RAM), in one run on the same file, as whole processes:

- ``ngramkit count FILE --order 5 --top 0 --json --memory B --temp T``;
- ``lmplz -o 5 -S B -T T --arpa /dev/null < FILE`` (KenLM: it does not count
  without estimating, so its whole run is context, not a peer; ``none`` runs
  it with ``-S 40%``). Built by ``../shared/tools/build-kenlm.sh``; skipped
  with a note when it cannot be built.

Measured per job (through GNU ``/usr/bin/time``): wall time, CPU time (user +
system), peak RSS (``%M``, the job's own ru_maxrss), peak bytes of its temp folder (polled every
0.1 s), and for ngramkit what its ``--json`` says (spilled, runs, temp peak).
Each job runs ``--repeat`` times (min of N reported). Output:
``benchmarks/results/bench_count_memory.json``.

    python benchmarks/bench_count_memory.py                      # 10M tokens, 256M / 1G / none
    python benchmarks/bench_count_memory.py --tokens 1M --budgets 64M,none --repeat 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KENLM_BUILD = HERE.parent.parent / "shared" / "tools" / "build-kenlm.sh"
TIME = "/usr/bin/time"  # GNU time: peak RSS (%M, KiB) and CPU of the job alone


def log(msg: str) -> None:
    print(f"[bench_count_memory {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_count(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}.get(text[-1])
    return int(float(text[:-1]) * scale) if scale else int(text)


def make_corpus(path: Path, tokens: int, seed: int = 0, types: int = 2_000_000) -> dict:
    """Sentences of geometric length (mean 20) of Zipf(1.1) words over ``types`` types, as ``w<id>`` lines."""
    rng = np.random.default_rng(seed)
    written = sentences = 0
    seen = np.zeros(types + 1, bool)
    with open(path, "w") as fh:
        while written < tokens:
            n = min(1_000_000, tokens - written)
            ids = rng.zipf(1.1, size=2 * n)
            ids = ids[ids <= types][:n]
            seen[ids] = True
            lengths = rng.geometric(1 / 20, size=n // 10 + 10)
            ends = np.cumsum(lengths)
            ends = ends[ends < ids.size]
            words = np.char.add("w", ids.astype(str))
            lines = [" ".join(chunk) for chunk in np.split(words, ends)]
            fh.write("\n".join(lines) + "\n")
            written += ids.size
            sentences += len(lines)
    return {"tokens": int(written), "sentences": int(sentences), "types_seen": int(seen.sum()),
            "bytes": path.stat().st_size, "seed": seed, "type_space": types, "zipf": 1.1, "mean_length": 20}


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def run_job(cmd, *, temp: Path, stdin: Path | None = None) -> dict:
    """One whole process: wall, CPU (user+sys), peak RSS (wait4), peak temp folder bytes, stdout."""
    temp.mkdir(parents=True, exist_ok=True)
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(temp))
            time.sleep(0.1)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    # Through /usr/bin/time: the job is forked from `time` (a small process), not from this one, whose pages a
    # child shares until it execs and would count in the child's ru_maxrss (numpy and ngramkit are loaded here).
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin, tempfile.TemporaryFile() as fout, \
            tempfile.TemporaryFile() as ferr, tempfile.NamedTemporaryFile("r") as ftime:
        proc = subprocess.Popen([TIME, "-f", "%M %U %S", "-o", ftime.name, *map(str, cmd)], stdin=fin, stdout=fout,
                                stderr=ferr)
        rc = proc.wait()
        wall = time.perf_counter() - t0
        done.set()
        watcher.join()
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read().decode("utf-8", "replace"), ferr.read().decode("utf-8", "replace")
        maxrss_kib, user, system = ftime.read().split()[-3:]
    if rc != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({rc}): {err[-2000:]}")
    shutil.rmtree(temp, ignore_errors=True)
    return {"wall_s": round(wall, 3), "cpu_s": round(float(user) + float(system), 3),
            "peak_rss_mib": round(int(maxrss_kib) / 1024, 1), "temp_peak_mib": round(peak[0] / 2**20, 1),
            "stdout": out}


def lmplz_bin() -> Path | None:
    try:
        done = subprocess.run(["bash", str(KENLM_BUILD)], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    folder = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    exe = Path(folder) / "lmplz"
    return exe if exe.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", default="10M")
    ap.add_argument("--corpus", type=Path, default=None, help="count this file instead of a synthetic one")
    ap.add_argument("--budgets", default="256M,1G,none")
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-lmplz", action="store_true")
    ap.add_argument("--work", type=Path, default=None, help="folder for the corpus and temp files")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_count_memory.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_count_memory-", dir=args.work))
    try:
        if args.corpus is None:
            corpus = work / "corpus.txt"
            log(f"making a {args.tokens}-token corpus in {corpus}")
            corpus_info = make_corpus(corpus, parse_count(args.tokens))
        else:
            corpus = args.corpus
            corpus_info = {"file": str(corpus), "bytes": corpus.stat().st_size}
        log(f"corpus: {corpus_info}")
        ngramkit = shutil.which("ngramkit") or "ngramkit"
        lmplz = None if args.no_lmplz else lmplz_bin()
        rows = []
        for budget in args.budgets.split(","):
            mem = [] if budget == "none" else ["--memory", budget]
            jobs = {"ngramkit count": [ngramkit, "count", str(corpus), "--order", str(args.order), "--top", "0",
                                       "--json", "--quiet", *mem]}
            if lmplz is not None:
                jobs["lmplz (whole run)"] = [str(lmplz), "-o", str(args.order), "-S",
                                             "40%" if budget == "none" else budget, "--arpa", "/dev/null",
                                             "--discount_fallback"]
            for name, cmd in jobs.items():
                best = None
                for i in range(args.repeat):
                    temp = work / f"temp-{len(rows)}-{i}"
                    full = cmd + (["--temp", str(temp)] if name.startswith("ngramkit") else ["-T", str(temp)])
                    log(f"{name} budget {budget} run {i + 1}/{args.repeat}")
                    res = run_job(full, temp=temp, stdin=corpus if name.startswith("lmplz") else None)
                    out = res.pop("stdout")
                    if name.startswith("ngramkit"):
                        info = json.loads(out)
                        res["ngramkit_memory"] = info["memory"]
                        res["distinct"] = {k: o["distinct"] for k, o in info["orders"].items()}
                    runs = (best or {}).get("runs", [])
                    runs.append({k: res[k] for k in ("wall_s", "cpu_s", "peak_rss_mib", "temp_peak_mib")})
                    if best is None or res["wall_s"] < best["wall_s"]:
                        best = res
                    best["runs"] = runs
                row = {"job": name, "budget": budget, **best}
                if budget != "none":
                    from ngramkit.outofcore.budget import parse_memory

                    row["peak_rss_over_budget"] = round(best["peak_rss_mib"] * 2**20 / parse_memory(budget), 3)
                rows.append(row)
                log(f"  -> {json.dumps({k: v for k, v in row.items() if k != 'runs'})}")
        for budget in args.budgets.split(","):  # ratios within the run
            ours = [r for r in rows if r["budget"] == budget and r["job"] == "ngramkit count"]
            theirs = [r for r in rows if r["budget"] == budget and r["job"].startswith("lmplz")]
            if ours and theirs:
                ours[0]["wall_ratio_to_lmplz_whole_run"] = round(ours[0]["wall_s"] / theirs[0]["wall_s"], 3)
        load = os.getloadavg()
        result = {"benchmark": "bench_count_memory", "corpus": corpus_info, "order": args.order,
                  "repeat": args.repeat, "note": "min-of-N wall per job; lmplz estimates too (no count-only mode): "
                  "its whole run is context", "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                           "loadavg_at_end": [round(x, 2) for x in load]},
                  "lmplz": str(lmplz) if lmplz else "not built (skipped)", "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        log(f"wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
