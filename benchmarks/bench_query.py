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

``--startup`` measures the fixed cost instead (issue 16, section 2), as whole
processes, best and median of ``--repeat`` runs (wall, CPU = user + sys of
the child, max RSS from ``wait4``): ``ngramkit ppl`` on a 1-line text with a
native PTB 3-gram (trained into a temporary folder unless ``--native`` is
given) and with the ARPA (its time is mostly ARPA parsing); ``import
ngramkit.kenlm`` + ``Model(path)`` + one ``score``, and the same with KenLM's
``kenlm`` module on the ARPA (skipped with a note when it is not installed);
``python -c pass`` as the floor. One untimed warm-up run each (bytecode
written, files cached). Each child also reports its own import and
load time (``perf_counter``, last run). Writes ``benchmarks/results/bench_query_startup.json``::

    python benchmarks/bench_query.py --startup [--native ptb3.ngk] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
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


# ---- --startup: the fixed cost of a scoring process -------------------------------------------------------

STARTUP_LINE = "the company said it expects a loss"

# Children that time their own phases (perf_counter) and print them as the last line of stdout.
_MODULE_CHILD = """
import time, json, sys
t0 = time.perf_counter()
import {module} as lm
t1 = time.perf_counter()
model = lm.Model(sys.argv[1])
t2 = time.perf_counter()
score = model.score(sys.argv[2])
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "score": score}}))
"""


# The children may write bytecode (an installed package has its .pyc files; with PYTHONDONTWRITEBYTECODE set,
# as on the development machines, every run would compile ngramkit's and click's sources: ~0.1 s CPU).
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _popen_usage(cmd):
    """(returncode, stdout, stderr, rusage): ``cmd`` run to the end, with its own resource usage."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_CHILD_ENV)
    # communicate() reaps the child itself (its rusage is then lost): read the pipes, then wait4.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, err, usage


def run_processes(cmd, repeat):
    """``cmd`` run ``repeat`` times: wall, CPU (user + sys of the child) and max RSS, best and median, and the
    child's last stdout line (its own JSON report, if it prints one)."""
    walls, cpus, rss, last = [], [], [], ""
    _popen_usage(cmd)  # warm-up, untimed: bytecode written, files in the page cache
    for _ in range(repeat):
        t = time.perf_counter()
        code, out, err, usage = _popen_usage(cmd)
        walls.append(time.perf_counter() - t)
        if code:
            raise SystemExit(f"bench_query --startup: {' '.join(map(str, cmd))} failed: {err.decode()[-500:]}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss)  # KiB on Linux
        last = out.decode().strip().splitlines()[-1] if out.strip() else ""
    return {"wall_s_best": round(min(walls), 4), "wall_s_median": round(statistics.median(walls), 4),
            "cpu_s_best": round(min(cpus), 4), "cpu_s_median": round(statistics.median(cpus), 4),
            "max_rss_mib": round(max(rss) / 1024, 1)}, last


def startup(arpa: Path, native: Path | None, repeat: int) -> dict:
    """The fixed cost of scoring one line, whole processes (see the module's docstring)."""
    ngramkit_cmd = shutil.which("ngramkit") or None
    ppl = [ngramkit_cmd] if ngramkit_cmd else [sys.executable, "-m", "ngramkit"]
    result = {"benchmark": "bench_query --startup", "line": STARTUP_LINE, "repeat": repeat,
              "arpa": arpa.name, "machine": platform.machine(), "python": platform.python_version(),
              "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "one_line.txt"
        text.write_text(STARTUP_LINE + "\n")
        if native is None:
            native = Path(tmp) / "ptb.o3.ngk"
            subprocess.run([*ppl, "train", "ngram", "--corpus", "ptb", "--order", "3", "-q", "-o", str(native)],
                           check=True, capture_output=True)
        result["native"] = native.name
        result["python_floor"], _ = run_processes([sys.executable, "-c", "pass"], repeat)
        for key, model in (("ppl_native", native), ("ppl_arpa", arpa)):
            result[key], _ = run_processes([*ppl, "ppl", "--model", str(model), str(text), "-q"], repeat)
        for key, module, model in (("ngramkit_kenlm_native", "ngramkit.kenlm", native),
                                   ("ngramkit_kenlm_arpa", "ngramkit.kenlm", arpa),
                                   ("kenlm_module_arpa", "kenlm", arpa)):
            if module == "kenlm" and subprocess.run([sys.executable, "-c", "import kenlm"],
                                                    capture_output=True).returncode:
                result[key] = "kenlm module not installed (pip install -e '.[kenlm-oracle]'): column skipped"
                continue
            code = _MODULE_CHILD.format(module=module)
            row, last = run_processes([sys.executable, "-c", code, str(model), STARTUP_LINE], repeat)
            phases = json.loads(last)
            row.update(import_s=round(phases["import_s"], 4), load_s=round(phases["load_s"], 4),
                       score=round(phases["score"], 4))
            result[key] = row
    return result


def write_result(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=SHARED / "reference" / "ptb.UNK.o3.arpa.gz")
    ap.add_argument("--text", type=Path, default=DATA / "ptb" / "ptb.test.txt")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=None, help="only the first N sentences (smoke runs)")
    ap.add_argument("--out", type=Path, default=None,
                    help="[default: results/bench_query.json, with --startup results/bench_query_startup.json]")
    ap.add_argument("--startup", action="store_true", help="measure the fixed cost of a scoring process instead")
    ap.add_argument("--native", type=Path, default=None,
                    help="--startup: native PTB 3-gram [default: trained into a temporary folder]")
    args = ap.parse_args(argv)
    if args.startup:
        result = startup(args.model, args.native, args.repeat)
        write_result(result, args.out or HERE / "results" / "bench_query_startup.json")
        return
    args.out = args.out or HERE / "results" / "bench_query.json"

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
