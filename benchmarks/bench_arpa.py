"""Benchmark: ARPA reading and writing beside KenLM, in one run on the same files (issue 16, section 2).

Reading (each a whole child process, min of ``--repeat`` runs after one
untimed warm-up; each child reports its own load time, CPU time of the load
and peak RSS):

- ``ngramkit_c``: ``ngramkit.arpa.read_arpa`` with the C kernel;
- ``ngramkit_python``: the same with ``NGRAMKIT_IMPL=numpy`` (the Python parser);
- ``kenlm_module``: ``kenlm.Model(path)`` (skipped with a note when the module is not installed);
- ``query``: KenLM's ``query`` binary reading the ARPA and scoring a 1-line text (wall and CPU of the whole
  process, from ``wait4``).

The ARPA read is lmplz's own order-5 model of PTB train (``<unk>`` -> ``UNK``), 95 MB, made in the run.

Writing (whole processes, min of ``--repeat``): ``ngramkit train ngram TEXT -n 5 -o x.arpa`` against
``lmplz -o 5 -S 4G < TEXT > x.arpa``, on PTB train and on a 10M-token text, plus, in-process, the time of
``write_arpa`` alone with the C formatter and with the numpy one (the files compared byte for byte). The
10M-token text: ``benchmarks/make_corpus.py``'s ``corpus(tokens)`` when it exists; until then a stand-in made
here (sentences of 20 words on average, Zipf(1.1) over 500k types, seed 0), which the JSON says.

Usage::

    python benchmarks/bench_arpa.py [--repeat 3] [--tokens 10000000] [--skip-10m] [--read-only]

Also the same file gzipped (``gzip -1``), read by ngramkit (Python's gzip, i.e. zlib, then the C parser) and by
the kenlm module. ``--read-only`` re-measures reading and keeps the write section of an existing JSON.

Writes ``benchmarks/results/bench_arpa.json`` and prints it. Ratios are ngramkit's time over KenLM's
(below 1: ngramkit faster).
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
# ../shared beside the repository (a clone at /work/main), or beside the folder of worktrees (/work/wt/NAME).
SHARED = next((p / "shared" for p in HERE.parents if (p / "shared" / "reference").is_dir()),
              HERE.parent.parent / "shared")
DATA = Path(os.environ.get("NGRAMKIT_DATA", SHARED / "corpora"))
KENLM_TOOLS = SHARED / "tools" / "build-kenlm.sh"

READ_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
if sys.argv[1] == "kenlm":
    import kenlm
    t1 = time.perf_counter(); c1 = time.process_time()
    kenlm.Model(sys.argv[2])
else:
    from ngramkit.arpa import read_arpa
    t1 = time.perf_counter(); c1 = time.process_time()
    read_arpa(sys.argv[2])
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"load_wall": t2 - t1, "load_cpu": c2 - c1, "import_wall": t1 - t0,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd, *, stdin=None, stdout=None, env=None):
    """(wall s, CPU s = user + sys of the child, max RSS MiB, stdout text) of one run of ``cmd``."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"bench_arpa: {' '.join(map(str, cmd))} failed: {err.decode(errors='replace')[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.decode()


def best(cmd, repeat, *, stdin_path=None, stdout_path=None, env=None, warm=True):
    """Min over ``repeat`` runs (after a warm-up) of wall and CPU, max RSS, and the child's JSON line if any."""
    rows = []
    for i in range(repeat + (1 if warm else 0)):
        with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as fin, \
                open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb") as fout:
            wall, cpu, rss, out = run(cmd, stdin=fin, stdout=fout if stdout_path else None, env=env)
        if warm and i == 0:
            continue
        child = json.loads(out.strip().splitlines()[-1]) if out.strip().startswith("{") else {}
        rows.append({"wall": wall, "cpu": cpu, "rss_mib": rss, **child})
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    return {f"{k}_min": min(r[k] for r in rows) for k in keys} | {"runs": rows}


def kenlm_bin() -> Path | None:
    if not KENLM_TOOLS.exists():
        return None
    out = subprocess.run(["bash", str(KENLM_TOOLS)], capture_output=True, text=True)
    folder = Path(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else None
    return folder if folder and (folder / "lmplz").exists() else None


def stand_in_corpus(tokens: int, path: Path) -> Path:
    """Sentences of ~20 words (Poisson), Zipf(1.1) over 500k types, seed 0 (until make_corpus.py is on main)."""
    import numpy as np

    rng = np.random.default_rng(0)
    types = 500_000
    p = 1.0 / np.arange(1, types + 1) ** 1.1
    cdf = np.cumsum(p / p.sum())
    ids = np.minimum(np.searchsorted(cdf, rng.random(tokens)), types - 1)
    lens = np.maximum(1, rng.poisson(20, tokens // 10))
    ends = np.cumsum(lens)
    ends = ends[ends < tokens]
    words = np.array([f"w{i}" for i in range(types)], dtype=object)[ids]
    lines = np.split(words, ends)
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            if len(line):
                fh.write(" ".join(line) + "\n")
    return path


def corpus_10m(tokens: int, work: Path) -> tuple[Path, str]:
    try:
        sys.path.insert(0, str(HERE))
        from make_corpus import corpus  # noqa: PLC0415 (optional: another engineer's module)

        return Path(corpus(tokens)), "benchmarks/make_corpus.py corpus(tokens)"
    except ImportError:
        return stand_in_corpus(tokens, work / f"zipf{tokens}.txt"), (
            "stand-in made by bench_arpa.py (make_corpus.py not on main yet): sentences Poisson(20) words, "
            "Zipf(1.1) over 500k types, seed 0")


def write_breakdown(text: Path, out: Path, repeat: int) -> dict:
    """In-process: fit once, then write_arpa with the C formatter and with numpy; files compared byte for byte."""
    env = dict(os.environ)
    model = out.with_suffix(".ngk")
    subprocess.run(["ngramkit", "train", "ngram", str(text), "-n", "5", "-o", str(model)], check=True,
                   capture_output=True)
    child = f"""
import json, os, time
from ngramkit.modelio import load_model
from ngramkit.arpa import write_arpa
m = load_model({str(model)!r}).to_backoff()
res = {{}}
for impl in ("c", "numpy"):
    os.environ["NGRAMKIT_IMPL"] = impl
    best = None
    for _ in range({repeat}):
        t = time.process_time()
        write_arpa(m, {str(out)!r} + "." + impl)
        d = time.process_time() - t
        best = d if best is None else min(best, d)
    res[impl] = best
a = open({str(out)!r} + ".c", "rb").read(); b = open({str(out)!r} + ".numpy", "rb").read()
res["identical"] = a == b
res["bytes"] = len(a)
print(json.dumps(res))
"""
    got = subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True, env=env)
    res = json.loads(got.stdout.strip().splitlines()[-1])
    for impl in ("c", "numpy"):
        Path(f"{out}.{impl}").unlink(missing_ok=True)
    model.unlink(missing_ok=True)
    return {"write_arpa_cpu_c": res["c"], "write_arpa_cpu_numpy": res["numpy"], "c_equals_numpy": res["identical"],
            "arpa_bytes": res["bytes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=10_000_000)
    ap.add_argument("--skip-10m", action="store_true")
    ap.add_argument("--read-only", action="store_true",
                    help="measure reading only; keep the write section of an existing --out (its time stays in it)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_arpa.json")
    args = ap.parse_args()
    bins = kenlm_bin()
    if bins is None:
        raise SystemExit("bench_arpa: KenLM binaries not found (bash ../shared/tools/build-kenlm.sh)")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
              "repeat": args.repeat, "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench_arpa_") as tmp:
        work = Path(tmp)
        ptb = work / "ptb.train.UNK.txt"
        ptb.write_text((DATA / "ptb" / "ptb.train.txt").read_text().replace("<unk>", "UNK"))
        arpa = work / "ptb.o5.arpa"
        run([str(bins / "lmplz"), "-o", "5", "-S", "4G"], stdin=open(ptb, "rb"), stdout=open(arpa, "wb"))
        one = work / "one.txt"
        one.write_text("the N\n")
        log(f"reading {arpa} ({arpa.stat().st_size / 1e6:.1f} MB) ...")
        reads = {}
        py = sys.executable
        env_c = {**os.environ, "NGRAMKIT_IMPL": "c"}
        env_py = {**os.environ, "NGRAMKIT_IMPL": "numpy"}
        reads["ngramkit_c"] = best([py, "-c", READ_CHILD, "ngramkit", str(arpa)], args.repeat, env=env_c)
        reads["ngramkit_python"] = best([py, "-c", READ_CHILD, "ngramkit", str(arpa)], args.repeat, env=env_py)
        try:
            import kenlm  # noqa: F401, PLC0415 (optional)

            reads["kenlm_module"] = best([py, "-c", READ_CHILD, "kenlm", str(arpa)], args.repeat)
        except ImportError:
            reads["kenlm_module"] = "skipped: the kenlm module is not installed (pip install kenlm)"
        reads["query"] = best([str(bins / "query"), str(arpa)], args.repeat, stdin_path=one)
        gz = work / "ptb.o5.arpa.gz"
        with open(arpa, "rb") as fin, open(gz, "wb") as fout:
            subprocess.run(["gzip", "-1", "-c"], stdin=fin, stdout=fout, check=True)
        gz_reads = {"ngramkit_c": best([py, "-c", READ_CHILD, "ngramkit", str(gz)], args.repeat, env=env_c)}
        if isinstance(reads["kenlm_module"], dict):
            gz_reads["kenlm_module"] = best([py, "-c", READ_CHILD, "kenlm", str(gz)], args.repeat)
            gz_reads["c_over_kenlm_module_load_cpu"] = (gz_reads["ngramkit_c"]["load_cpu_min"]
                                                        / gz_reads["kenlm_module"]["load_cpu_min"])
        result["read"] = {"measured": stamp, "arpa": "lmplz -o 5 of PTB train (<unk> -> UNK)",
                          "arpa_bytes": arpa.stat().st_size, **reads, "gzip_1": gz_reads}
        c_load = reads["ngramkit_c"]["load_cpu_min"]
        ratios = {"c_over_python_load_cpu": c_load / reads["ngramkit_python"]["load_cpu_min"],
                  "c_over_query_process_cpu": reads["ngramkit_c"]["cpu_min"] / reads["query"]["cpu_min"],
                  "c_over_query_process_wall": reads["ngramkit_c"]["wall_min"] / reads["query"]["wall_min"]}
        if isinstance(reads["kenlm_module"], dict):
            ratios["c_over_kenlm_module_load_cpu"] = c_load / reads["kenlm_module"]["load_cpu_min"]
            ratios["c_over_kenlm_module_load_wall"] = (reads["ngramkit_c"]["load_wall_min"]
                                                       / reads["kenlm_module"]["load_wall_min"])
        result["read"]["ratios"] = ratios
        log(json.dumps(ratios))

        if args.read_only:
            old = json.loads(args.out.read_text()) if args.out.exists() else {}
            result["write"] = old.get("write", {})
            result["write_loadavg"] = [old.get("loadavg_start"), old.get("loadavg_end")]
            texts = []
        else:
            result["write"] = {}
        texts = [] if args.read_only else [("ptb_train", ptb, "PTB train, <unk> -> UNK (lmplz refuses a literal <unk>)")]
        if not args.skip_10m and not args.read_only:
            path, how = corpus_10m(args.tokens, work)
            texts.append((f"text_{args.tokens // 1_000_000}m", path, how))
        for name, text, how in texts:
            log(f"writing order 5 of {name} ...")
            out = work / f"{name}.arpa"
            ours = best(["ngramkit", "train", "ngram", str(text), "-n", "5", "-o", str(out)], args.repeat,
                        warm=False)
            lm = best([str(bins / "lmplz"), "-o", "5", "-S", "4G"], args.repeat, stdin_path=text,
                      stdout_path=work / "lmplz.arpa", warm=False)
            row = {"measured": stamp, "text": how, "text_bytes": text.stat().st_size, "ngramkit_train_o_arpa": ours, "lmplz": lm,
                   "ngramkit_over_lmplz_wall": ours["wall_min"] / lm["wall_min"],
                   "ngramkit_over_lmplz_cpu": ours["cpu_min"] / lm["cpu_min"],
                   "arpa_bytes_ngramkit": out.stat().st_size,
                   "arpa_bytes_lmplz": (work / "lmplz.arpa").stat().st_size}
            row |= write_breakdown(text, work / f"{name}.w.arpa", args.repeat)
            result["write"][name] = row
            log(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}))
            for f in (out, work / "lmplz.arpa"):
                f.unlink(missing_ok=True)
    result["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
