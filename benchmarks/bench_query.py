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

``--startup --order 5`` (issue 16, section 2: model files ready to query when
mapped) trains the PTB ``--order``-gram (``ngramkit train ngram --smoothing
mkn`` on ptb.train.txt) as native ``.ngk`` and as ARPA, rewrites the native file
without its stored probing index (what older files are: the index is built on
load), and builds KenLM's probing binary of the same ARPA (``build_binary
probing``; binaries from ``--kenlm-bin`` or ``shared/tools/build-kenlm.sh``).
Beside ``ngramkit ppl`` on both native files it runs KenLM's ``query -v summary``
on the probing binary (its default load, ``populate``: the whole file read in,
and ``-l lazy``: mapped), and the module children also open the model a second
time in the same process (``reopen_s``: the open itself, imports done) and
report their RSS after the first open (``/proc/self/status``) and the part of
it that maps the model file (``model_file_rss_mib``). Also the file sizes.
Writes ``benchmarks/results/bench_query_startup_o5.json``.
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
import time, json, os, sys
t0 = time.perf_counter()
import {module} as lm
t1 = time.perf_counter()
model = lm.Model(sys.argv[1])
t2 = time.perf_counter()
score = model.score(sys.argv[2])

def rss_kib(path=None):  # VmRSS, or the resident part of this process's mappings of the file at path
    if path is None:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    total, mine = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                mine = len(head) >= 6 and line.rstrip().endswith(path)
            elif mine and head[0] == "Rss:":
                total += int(head[1])
    return total

rss, file_rss = rss_kib(), rss_kib(os.path.realpath(sys.argv[1]))
t3 = time.perf_counter()
again = lm.Model(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "reopen_s": t4 - t3, "score": score, "rss_kib": rss,
                  "file_rss_kib": file_rss}}))
"""


# The children may write bytecode (an installed package has its .pyc files; with PYTHONDONTWRITEBYTECODE set,
# as on the development machines, every run would compile ngramkit's and click's sources: ~0.1 s CPU).
_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _popen_usage(cmd, stdin=None):
    """(returncode, stdout, stderr, rusage): ``cmd`` run to the end (``stdin``: a file to read), with its own
    resource usage."""
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin:
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_CHILD_ENV)
    # communicate() reaps the child itself (its rusage is then lost): read the pipes, then wait4.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, err, usage


def run_processes(cmd, repeat, stdin=None):
    """``cmd`` run ``repeat`` times: wall, CPU (user + sys of the child) and max RSS, best and median, and the
    child's last stdout line (its own JSON report, if it prints one)."""
    walls, cpus, rss, last = [], [], [], ""
    _popen_usage(cmd, stdin)  # warm-up, untimed: bytecode written, files in the page cache
    for _ in range(repeat):
        t = time.perf_counter()
        code, out, err, usage = _popen_usage(cmd, stdin)
        walls.append(time.perf_counter() - t)
        if code:
            raise SystemExit(f"bench_query --startup: {' '.join(map(str, cmd))} failed: {err.decode()[-500:]}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss)  # KiB on Linux
        last = out.decode().strip().splitlines()[-1] if out.strip() else ""
    return {"wall_s_best": round(min(walls), 4), "wall_s_median": round(statistics.median(walls), 4),
            "cpu_s_best": round(min(cpus), 4), "cpu_s_median": round(statistics.median(cpus), 4),
            "max_rss_mib": round(max(rss) / 1024, 1)}, last


def module_row(module: str, model: Path, repeat: int) -> dict:
    """One module child (``ngramkit.kenlm`` or ``kenlm``) run ``repeat`` times; its own phases from the last run."""
    code = _MODULE_CHILD.format(module=module)
    row, last = run_processes([sys.executable, "-c", code, str(model), STARTUP_LINE], repeat)
    phases = json.loads(last)
    row.update(import_s=round(phases["import_s"], 4), load_s=round(phases["load_s"], 4),
               reopen_s=round(phases["reopen_s"], 4), score=round(phases["score"], 4),
               rss_after_open_mib=round(phases["rss_kib"] / 1024, 1),
               model_file_rss_mib=round(phases["file_rss_kib"] / 1024, 1))
    return row


def _kenlm_bin(given: Path | None) -> Path | None:
    """The folder of KenLM's binaries (given, else what shared/tools/build-kenlm.sh prints), or None."""
    if given is not None:
        return given
    script = SHARED / "tools" / "build-kenlm.sh"
    if not script.exists():
        return None
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    return Path(lines[-1]) if run.returncode == 0 and lines and Path(lines[-1], "query").exists() else None


_WITHOUT_INDEX = """
import sys
from ngramkit import npzfile
meta, arrays = npzfile.read(sys.argv[1], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=True, verify=False)
meta.pop("arrays")
meta["state"].pop("probe", None)
npzfile.write(sys.argv[2], meta, {k: a for k, a in arrays.items() if not k.startswith("probe")})
"""


def _without_index(native: Path, out: Path) -> Path:
    """``native`` rewritten without its stored probing index (an older file: the index is built on load).
    In a child: this process stays small (a child's max RSS counts its parent's pages until it execs)."""
    subprocess.run([sys.executable, "-c", _WITHOUT_INDEX, str(native), str(out)], check=True)
    return out


def startup_order(order: int, repeat: int, kenlm_bin: Path | None) -> dict:
    """``--startup --order N``: native files with and without the stored index beside KenLM's probing binary."""
    ngramkit_cmd = shutil.which("ngramkit") or None
    ngk = [ngramkit_cmd] if ngramkit_cmd else [sys.executable, "-m", "ngramkit"]
    kenlm_bin = _kenlm_bin(kenlm_bin)
    result = {"benchmark": f"bench_query --startup --order {order}", "line": STARTUP_LINE, "repeat": repeat,
              "model": f"PTB train, order {order}, mkn", "machine": platform.machine(),
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "load_average_1min_start": round(os.getloadavg()[0], 2), "kenlm_bin": str(kenlm_bin)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text = tmp / "one_line.txt"
        text.write_text(STARTUP_LINE + "\n")
        train = DATA / "ptb" / "ptb.train.txt"
        files = {"native": tmp / f"ptb.o{order}.ngk", "arpa": tmp / f"ptb.o{order}.arpa"}
        for path in files.values():
            subprocess.run([*ngk, "train", "ngram", str(train), "--order", str(order), "--smoothing", "mkn", "-q",
                            "-o", str(path)], check=True, capture_output=True)
        files["native_without_index"] = _without_index(files["native"], tmp / f"ptb.o{order}.old.ngk")
        if kenlm_bin is not None:
            for kind in ("probing", "trie"):
                files[f"kenlm_{kind}"] = tmp / f"ptb.o{order}.{kind}"
                subprocess.run([str(kenlm_bin / "build_binary"), kind, str(files["arpa"]), str(files[f"kenlm_{kind}"])],
                               check=True, capture_output=True)
        result["file_mib"] = {k: round(p.stat().st_size / 2**20, 1) for k, p in files.items()}
        result["python_floor"], _ = run_processes([sys.executable, "-c", "pass"], repeat)
        for key in ("native", "native_without_index"):
            result[f"ppl_{key}"], _ = run_processes([*ngk, "ppl", "--model", str(files[key]), str(text), "-q"], repeat)
        if kenlm_bin is not None:
            for key, extra in (("kenlm_query_probing", []), ("kenlm_query_probing_lazy", ["-l", "lazy"])):
                result[key], _ = run_processes([str(kenlm_bin / "query"), "-v", "summary", *extra,
                                                str(files["kenlm_probing"])], repeat, stdin=text)
        else:
            result["kenlm_query_probing"] = "KenLM binaries not found (--kenlm-bin, shared/tools/build-kenlm.sh)"
        for key in ("native", "native_without_index"):
            result[f"ngramkit_kenlm_{key}"] = module_row("ngramkit.kenlm", files[key], repeat)
        if subprocess.run([sys.executable, "-c", "import kenlm"], capture_output=True).returncode:
            result["kenlm_module_probing"] = "kenlm module not installed (pip install kenlm): column skipped"
        elif kenlm_bin is not None:
            result["kenlm_module_probing"] = module_row("kenlm", files["kenlm_probing"], repeat)
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    ours, theirs = result["ngramkit_kenlm_native"], result.get("kenlm_module_probing")
    if isinstance(theirs, dict):
        result["ratios"] = {
            "open_ngramkit_over_kenlm_module": round(ours["load_s"] / theirs["load_s"], 2),
            "reopen_ngramkit_over_kenlm_module": round(ours["reopen_s"] / theirs["reopen_s"], 2),
            "file_size_native_over_probing": round(result["file_mib"]["native"] / result["file_mib"]["kenlm_probing"],
                                                   2),
        }
    if isinstance(result.get("kenlm_query_probing"), dict):
        result.setdefault("ratios", {})["ppl_wall_over_query_probing"] = round(
            result["ppl_native"]["wall_s_best"] / result["kenlm_query_probing"]["wall_s_best"], 2)
    return result


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
            result[key] = module_row(module, model, repeat)
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
    ap.add_argument("--order", type=int, default=None,
                    help="--startup: train PTB models of this order (native with and without the stored index, ARPA, "
                         "KenLM probing binary) instead")
    ap.add_argument("--kenlm-bin", type=Path, default=None,
                    help="--startup --order: folder of KenLM's query and build_binary [default: what "
                         "shared/tools/build-kenlm.sh prints]")
    args = ap.parse_args(argv)
    if args.startup and args.order:
        result = startup_order(args.order, args.repeat, args.kenlm_bin)
        write_result(result, args.out or HERE / "results" / f"bench_query_startup_o{args.order}.json")
        return
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
