"""Benchmark: ngramkit.kenlm beside KenLM's Python module, in-process, in the same run (issue 16, section 1).

Both load the same ARPA file (default: shared/reference/ptb.UNK.o3.arpa.gz,
the PTB 3-gram) and score PTB test (``<unk>`` -> ``UNK``, 3,761 sentences,
82,430 tokens with ``</s>``) three ways, each timed best of ``--repeat``
(CPU time of this process, the GC off) over ``--passes`` passes of the text
(default 10: one pass is ~10 ms, too short to time alone on a shared
machine), the two modules taking turns within each repeat:

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

    python benchmarks/bench_query.py [--model ARPA] [--repeat 5] [--passes 10] [--sentences N]

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
load) and without its query header (files written before it: opened after
``ngramkit.fastppl.open_model``'s checks), and builds KenLM's probing binary of the same ARPA (``build_binary
probing``; binaries from ``--kenlm-bin`` or ``shared/tools/build-kenlm.sh``).
Beside ``ngramkit ppl`` on both native files it runs KenLM's ``query -v summary``
on the probing binary (its default load, ``populate``: the whole file read in,
and ``-l lazy``: mapped), and the module children also open the model a second
time in the same process (``reopen_s``: the open itself, imports done), then
200 times more, or for 2 s (at least 5) (``open_best_s``, ``open_median_s``), and
report their RSS after the first open (``/proc/self/status``) and the part of
it that maps the model file (``model_file_rss_mib``). Those children's wall
includes their open loops; ``one_sentence_*`` is the whole process a user
pays for (``import``, ``Model(path)``, ``score`` of the line, print) with
``ngramkit.kenlm`` on the native file and the kenlm module on the probing
binary. Also the file sizes.
Writes ``benchmarks/results/bench_query_startup_o5.json``.

``--processes`` runs whole scoring processes beside KenLM's (issue 16,
sections 2 and 4), in one run on the same model and texts: KenLM's
``query -v summary`` on a PROBING and a TRIE binary (``build_binary``; the
binaries from ``../shared/tools/build-kenlm.sh``, or ``--kenlm-bin``),
``ngramkit ppl -m x.ngk TEXT`` on the native file (``ngramkit convert ARPA x.ngk``: the
same model; the plain command, which runs ``ngramkit.fastppl``'s fast path; on the 1-line text and PTB test
also ``ppl --json``, the click program's path, as ``ngramkit_ppl_native_json``), and in-process children that load once and then score the
whole text: KenLM's ``kenlm`` module (``score(line)`` per line), and
ngramkit's ``ngramkit.kenlm`` (the same loop) and ``evaluate_files`` (the
library's streamed scoring; its load includes scoring one word, which builds
the probing table when the native file does not store it). Texts (``<unk>`` -> ``UNK``, as KenLM scored
them): a 1-line text (the fixed cost), PTB test (82k tokens), PTB train x5
(4.6M) and a 10M-token text (``benchmarks/make_corpus.py``'s
``corpus(tokens)`` when it exists, else a stand-in: PTB train's lines
shuffled with a fixed seed and repeated to 10M tokens; the JSON says which).
Per process: wall, CPU (user + sys of the child) and peak RSS from
``wait4`` (through a small launcher, see ``_LAUNCHER``: its 6-7 MiB are the
floor of every RSS figure, ``rss_floor_mib``), best of ``--repeat`` after
one warm-up run; in-process children
report their own load and scoring times. Scoring speed of a whole process is
``tokens / (wall - wall on the 1-line text)``. Every tool's perplexity is
checked against ngramkit's (1e-4 relative) before anything is written::

    python benchmarks/bench_query.py --processes [--model ARPA] [--repeat 3] [--sizes test,train5,10M]

Writes ``benchmarks/results/bench_query_processes.json``.
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
# ../shared beside the repository (a clone at /work/main), or beside the folder of worktrees (/work/wt/NAME).
SHARED = next((p / "shared" for p in HERE.parents if (p / "shared" / "reference").is_dir()),
              HERE.parent.parent / "shared")
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


def load(module, path):
    """The model and the CPU seconds of ``module.Model(path)`` (the first in this process: lazy imports included)."""
    t = time.process_time()
    model = module.Model(str(path))
    return model, time.process_time() - t


def measure(models: dict, lines, repeat: int, passes: int) -> tuple[dict, dict]:
    """Per module, the best CPU seconds of each loop over ``passes`` times the text; the modules take turns
    within each repeat, so a slow moment of the machine falls on both, not on one."""
    sentences = [line.split() + ["</s>"] for line in lines]
    tokens = sum(map(len, sentences)) * passes
    loops = {"base_score": lambda module, model: base_score_loop(module, model, sentences),
             "score": lambda module, model: score_loop(model, lines),
             "full_scores": lambda module, model: full_scores_loop(model, lines)}
    best = {name: {loop: float("inf") for loop in loops} for name in models}
    totals = {name: {} for name in models}
    gc.disable()
    try:
        for loop, fn in loops.items():
            for _ in range(repeat):
                for name, (module, model) in models.items():
                    t = time.process_time()
                    for _ in range(passes):
                        totals[name][loop] = fn(module, model)
                    best[name][loop] = min(best[name][loop], time.process_time() - t)
    finally:
        gc.enable()
    out = {name: {"tokens": tokens, **{loop: {"cpu_s": round(sec, 4), "tokens_per_s": round(tokens / sec),
                                               "ns_per_token": round(1e9 * sec / tokens, 1)}
                                        for loop, sec in best[name].items()}}
           for name in models}
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
opens, until = [], time.perf_counter() + 2.0
while len(opens) < 200 and (len(opens) < 5 or time.perf_counter() < until):  # the open alone, many times: best
    t = time.perf_counter()                                                   # and median (one open is noise)
    again = lm.Model(sys.argv[1])
    opens.append(time.perf_counter() - t)
opens.sort()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "reopen_s": t4 - t3, "open_best_s": opens[0],
                  "open_median_s": opens[len(opens) // 2], "score": score, "rss_kib": rss, "file_rss_kib": file_rss}}))
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
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    usage = {"cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss}
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
        cpus.append(usage["cpu"])
        rss.append(usage["maxrss_kib"])  # KiB on Linux
        last = out.decode().strip().splitlines()[-1] if out.strip() else ""
    return {"wall_s_best": round(min(walls), 4), "wall_s_median": round(statistics.median(walls), 4),
            "cpu_s_best": round(min(cpus), 4), "cpu_s_median": round(statistics.median(cpus), 4),
            "max_rss_mib": round(max(rss) / 1024, 1)}, last


_ONE_SENTENCE = "import sys, {module} as lm; print(lm.Model(sys.argv[1]).score(sys.argv[2]))"


def module_row(module: str, model: Path, repeat: int) -> dict:
    """One module child (``ngramkit.kenlm`` or ``kenlm``) run ``repeat`` times; its own phases from the last run."""
    code = _MODULE_CHILD.format(module=module)
    row, last = run_processes([sys.executable, "-c", code, str(model), STARTUP_LINE], repeat)
    phases = json.loads(last)
    row.update(import_s=round(phases["import_s"], 4), load_s=round(phases["load_s"], 6),
               reopen_s=round(phases["reopen_s"], 6), open_best_s=round(phases["open_best_s"], 6),
               open_median_s=round(phases["open_median_s"], 6), score=round(phases["score"], 4),
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


def _without_header(native: Path, out: Path) -> Path:
    """``native`` rewritten without its query header (a file written before it existed: kenlm.Model opens it
    after fastppl.open_model's checks, the vocabulary's hash verified)."""
    subprocess.run([sys.executable, "-c", _WITHOUT_HEADER, str(native), str(out)], check=True)
    return out


_WITHOUT_HEADER = """
import sys
from ngramkit import npzfile
meta, arrays = npzfile.read(sys.argv[1], npzfile.MODEL, npzfile.MODEL_VERSION, mmap=True, verify=False)
meta.pop("arrays")
npzfile.write(sys.argv[2], meta, arrays)
"""

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
        files["native_without_header"] = _without_header(files["native"], tmp / f"ptb.o{order}.checked.ngk")
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
        for key in ("native", "native_without_header", "native_without_index"):
            result[f"ngramkit_kenlm_{key}"] = module_row("ngramkit.kenlm", files[key], repeat)
        result["one_sentence_ngramkit_kenlm_native"], _ = run_processes(
            [sys.executable, "-c", _ONE_SENTENCE.format(module="ngramkit.kenlm"), str(files["native"]),
             STARTUP_LINE], repeat)
        if subprocess.run([sys.executable, "-c", "import kenlm"], capture_output=True).returncode:
            result["kenlm_module_probing"] = "kenlm module not installed (pip install kenlm): column skipped"
        elif kenlm_bin is not None:
            result["kenlm_module_probing"] = module_row("kenlm", files["kenlm_probing"], repeat)
            result["one_sentence_kenlm_module_probing"], _ = run_processes(
                [sys.executable, "-c", _ONE_SENTENCE.format(module="kenlm"), str(files["kenlm_probing"]),
                 STARTUP_LINE], repeat)
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    ours, theirs = result["ngramkit_kenlm_native"], result.get("kenlm_module_probing")
    if isinstance(theirs, dict):
        result["ratios"] = {
            "open_ngramkit_over_kenlm_module": round(ours["load_s"] / theirs["load_s"], 2),
            "reopen_ngramkit_over_kenlm_module": round(ours["reopen_s"] / theirs["reopen_s"], 2),
            "open_best_ngramkit_over_kenlm_module": round(ours["open_best_s"] / theirs["open_best_s"], 3),
            "open_median_ngramkit_over_kenlm_module": round(ours["open_median_s"] / theirs["open_median_s"], 3),
            "file_size_native_over_probing": round(result["file_mib"]["native"] / result["file_mib"]["kenlm_probing"],
                                                   2),
            "one_sentence_wall_ngramkit_over_kenlm_module": round(
                result["one_sentence_ngramkit_kenlm_native"]["wall_s_best"]
                / result["one_sentence_kenlm_module_probing"]["wall_s_best"], 2),
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


# ---- --processes: whole scoring processes beside KenLM's query and kenlm module ---------------------------

# In-process children: load the model once, score every line of the text, print their phases as JSON.
_KENLM_LOOP_CHILD = """
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
import {module} as lm
model = lm.Model(sys.argv[1])
t1 = time.perf_counter(); c1 = time.process_time()
total = tokens = 0
score = model.score
with open(sys.argv[2], encoding="utf-8") as fh:
    for line in fh:
        total += score(line)
        tokens += len(line.split()) + 1
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({{"load_s": t1 - t0, "load_cpu_s": c1 - c0, "score_s": t2 - t1, "score_cpu_s": c2 - c1,
                  "tokens": tokens, "logprob10": total}}))
"""

_EVALUATE_CHILD = """
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from ngramkit import modelio
from ngramkit.evaluate import evaluate_files, evaluate_sentences
model = modelio.load_model(sys.argv[1])
evaluate_sentences(model, [["the"]])  # ready to score: the probing table is built on the first score
t1 = time.perf_counter(); c1 = time.process_time()
ev = evaluate_files(model, sys.argv[2])
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"load_s": t1 - t0, "load_cpu_s": c1 - c0, "score_s": t2 - t1, "score_cpu_s": c2 - c1,
                  "tokens": ev.tokens, "logprob10": ev.logprob10, "ppl": ev.perplexity}))
"""


# A child's ru_maxrss starts at the RSS of the process it was forked from (at exec the kernel keeps the old
# address space's high-water mark): started from this benchmark (a Python process holding numpy and the texts),
# KenLM's query reported this process's 74 MiB (--startup keeps its own process small instead). So every measured command is started by a small launcher
# (python -S: 6-7 MiB, the floor of every RSS figure, reported as "rss_floor_mib"), which times it and reports
# its own rusage from wait4 as the last line of stderr.
_LAUNCHER = (
    "import os, sys, time, json\n"
    "t = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, status, u = os.wait4(pid, 0)\n"
    "wall = time.perf_counter() - t\n"
    "sys.stderr.write('\\n' + json.dumps({'code': os.waitstatus_to_exitcode(status), 'wall': wall,"
    " 'cpu': u.ru_utime + u.ru_stime, 'maxrss_kib': u.ru_maxrss}) + '\\n')\n"
)


def _launch(cmd, stdin=None):
    """(returncode, stdout, stderr, {"wall", "cpu", "maxrss_kib"}): ``cmd`` run to the end by the launcher."""
    proc = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *map(str, cmd)], stdin=stdin,
                          capture_output=True, env=_CHILD_ENV)
    lines = proc.stderr.decode(errors="replace").rstrip().splitlines()
    if proc.returncode or not lines:
        raise SystemExit(f"bench_query: the launcher failed on {' '.join(map(str, cmd))}: {lines[-5:]}")
    usage = json.loads(lines[-1])
    return usage["code"], proc.stdout, "\n".join(lines[:-1]).encode(), usage


def _unk_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line.replace("<unk>", "UNK") for line in fh if line.split()]


def make_texts(folder: Path, sizes: list[str]) -> dict:
    """{name: (path, note)}: the texts to score, written into ``folder`` (see the module docstring)."""
    ptb = DATA / "ptb"
    texts = {"one_line": (folder / "one_line.txt", "1 line: the fixed cost")}
    texts["one_line"][0].write_text(STARTUP_LINE + "\n")
    if "test" in sizes:
        texts["test"] = (folder / "ptb.test.txt", "PTB test, <unk> -> UNK")
        texts["test"][0].write_text("".join(_unk_lines(ptb / "ptb.test.txt")))
    train = _unk_lines(ptb / "ptb.train.txt")
    if "train5" in sizes:
        texts["train5"] = (folder / "ptb.train.x5.txt", "PTB train, <unk> -> UNK, 5 times")
        texts["train5"][0].write_text("".join(train) * 5)
    if "10M" in sizes:
        try:
            sys.path.insert(0, str(HERE))
            from make_corpus import corpus  # benchmarks/make_corpus.py (another branch; may not exist yet)
        except ImportError:
            corpus = None
        if corpus is not None:
            # Without its blank lines: KenLM's query and the kenlm module loop score a blank line as a sentence
            # (</s> after <s>), ngramkit skips it (DESIGN.md, conventions), and the token counts must agree.
            path, blank = folder / "corpus.10M.txt", 0
            with open(corpus(10_000_000), "rb") as src, open(path, "wb") as dst:
                for line in src:
                    if line.split():
                        dst.write(line)
                    else:
                        blank += 1
            texts["10M"] = (path, f"benchmarks/make_corpus.py corpus(10_000_000), its {blank} blank lines dropped")
        else:
            import random

            rng = random.Random(16)
            path, n = folder / "standin.10M.txt", 0
            with open(path, "w", encoding="utf-8") as fh:
                while n < 10_000_000:
                    rng.shuffle(train)
                    for line in train:
                        fh.write(line)
                        n += len(line.split()) + 1
                        if n >= 10_000_000:
                            break
            texts["10M"] = (path, "stand-in (make_corpus.py not on this branch): PTB train lines, <unk> -> UNK, "
                                  "shuffled (seed 16) and repeated to 10M tokens")
    return texts


def _query_ppl(out: str) -> float:
    for line in out.splitlines():
        if line.startswith("Perplexity including OOVs:"):
            return float(line.split(":", 1)[1])
    raise SystemExit(f"bench_query --processes: no perplexity in query's output: {out[-300:]}")


def _summary_number(out: str, key: str) -> float:
    """A number of `ngramkit ppl`'s summary (the line starting with ``key``)."""
    for line in out.splitlines():
        if line.startswith(key + " "):
            value = line[len(key):].split()[0].replace(",", "")
            return int(value) if value.isdigit() else float(value)
    raise SystemExit(f"bench_query --processes: no {key!r} in ngramkit ppl's output: {out[-300:]}")


def _run_best(cmd, repeat, stdin_path=None):
    """``cmd`` ``repeat`` times after a warm-up: best wall and CPU, peak RSS, the last run's stdout."""
    walls, cpus, rss, out = [], [], [], ""
    for i in range(repeat + 1):
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            code, raw, err, usage = _launch(cmd, stdin)
        finally:
            if stdin_path:
                stdin.close()
        if code:
            raise SystemExit(f"bench_query --processes: {' '.join(map(str, cmd))} failed: {err.decode()[-500:]}")
        out = raw.decode()
        if i:  # the first run is the warm-up
            walls.append(usage["wall"])
            cpus.append(usage["cpu"])
            rss.append(usage["maxrss_kib"] / 1024)
    return {"wall_s": round(min(walls), 4), "wall_s_median": round(statistics.median(walls), 4),
            "cpu_s": round(min(cpus), 4), "max_rss_mib": round(max(rss), 1)}, out


def processes(arpa: Path, bin_dir: Path, repeat: int, sizes: list[str]) -> dict:
    """Whole processes and in-process children on every text (see the module docstring)."""
    ngk = shutil.which("ngramkit")
    ngk = [ngk] if ngk else [sys.executable, "-m", "ngramkit"]
    query, build = bin_dir / "query", bin_dir / "build_binary"
    have_kenlm = subprocess.run([sys.executable, "-c", "import kenlm"], capture_output=True).returncode == 0
    floor, _ = _run_best(["true"], 1)
    result = {"benchmark": "bench_query --processes", "model": arpa.name, "repeat": repeat,
              "rss_floor_mib": floor["max_rss_mib"],
              "machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
              "load_average_1min_start": round(os.getloadavg()[0], 2),
              "kenlm_module": "installed" if have_kenlm else "not installed (pip install kenlm): column skipped"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain = tmp / "model.arpa"  # build_binary reads plain ARPA text
        with open(arpa, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b":
            import gzip

            with gzip.open(arpa, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(arpa, plain)
        models = {"probing": tmp / "model.probing", "trie": tmp / "model.trie", "native": tmp / "model.ngk"}
        for kind in ("probing", "trie"):
            subprocess.run([str(build), kind, str(plain), str(models[kind])], check=True, capture_output=True)
        subprocess.run([*ngk, "convert", str(plain), str(models["native"])], check=True, capture_output=True)
        result["model_bytes"] = {k: p.stat().st_size for k, p in [("arpa", plain), *models.items()]}
        texts = make_texts(tmp, sizes)
        runs = {}
        for name, (path, note) in texts.items():
            row = {"note": note, "bytes": path.stat().st_size}
            ppls = {}
            row["query_probing"], out = _run_best([query, "-v", "summary", models["probing"]], repeat, path)
            ppls["query_probing"] = _query_ppl(out)
            row["query_trie"], out = _run_best([query, "-v", "summary", models["trie"]], repeat, path)
            ppls["query_trie"] = _query_ppl(out)
            # The plain command (ngramkit.fastppl's fast path: the figure the issue targets), and --json (the
            # click program, numpy: what every other form of `ppl` runs) on the small texts.
            row["ngramkit_ppl_native"], out = _run_best([*ngk, "ppl", "-q", "-m", models["native"], path], repeat)
            row["tokens"] = _summary_number(out, "tokens")
            ppls["ngramkit_ppl_native"] = _summary_number(out, "perplexity (incl. OOVs)")
            if name in ("one_line", "test"):
                row["ngramkit_ppl_native_json"], out = _run_best(
                    [*ngk, "ppl", "-q", "--json", "-m", models["native"], path], repeat)
                got = json.loads(out)
                if got["tokens"] != row["tokens"]:
                    raise SystemExit(f"bench_query --processes: ppl --json scored {got['tokens']} tokens on {name}, "
                                     f"ppl {row['tokens']}")
                ppls["ngramkit_ppl_native_json"] = got["ppl"]
            children = [("ngramkit_evaluate_files", _EVALUATE_CHILD, models["native"]),
                        ("ngramkit_kenlm_native", _KENLM_LOOP_CHILD.format(module="ngramkit.kenlm"), models["native"])]
            if have_kenlm:
                children.append(("kenlm_module_probing", _KENLM_LOOP_CHILD.format(module="kenlm"), models["probing"]))
            for key, code, model in children:
                row[key], out = _run_best([sys.executable, "-c", code, model, path], repeat)
                phases = json.loads(out.strip().splitlines()[-1])
                row[key].update({k: round(v, 4) for k, v in phases.items() if k.endswith("_s")})
                if phases["tokens"] != row["tokens"]:
                    raise SystemExit(f"bench_query --processes: {key} scored {phases['tokens']} tokens on {name}, "
                                     f"ngramkit ppl {row['tokens']}")
                ppls[key] = 10.0 ** (-phases["logprob10"] / phases["tokens"])
                if phases["score_s"] > 0:
                    row[key]["scoring_tokens_per_s"] = round(phases["tokens"] / phases["score_s"])
            for key, value in ppls.items():
                if abs(value - ppls["ngramkit_ppl_native"]) > 1e-4 * ppls["ngramkit_ppl_native"]:
                    raise SystemExit(f"bench_query --processes: {key} perplexity {value} on {name} differs from "
                                     f"ngramkit ppl's {ppls['ngramkit_ppl_native']}")
            row["perplexity"] = round(ppls["ngramkit_ppl_native"], 4)
            runs[name] = row
        for name, row in runs.items():  # derived: speeds beside the fixed cost, and the ratios the issue targets
            if name == "one_line":
                continue
            for key in ("query_probing", "query_trie", "ngramkit_ppl_native"):
                net = row[key]["wall_s"] - runs["one_line"][key]["wall_s"]
                row[key]["tokens_per_s_after_fixed_cost"] = round(row["tokens"] / net) if net > 0 else None
                row[key]["tokens_per_s_end_to_end"] = round(row["tokens"] / row[key]["wall_s"])
            if "ngramkit_ppl_native_json" in row:
                row["ratio_ppl_json_cpu_over_query_probing"] = round(
                    row["ngramkit_ppl_native_json"]["cpu_s"] / row["query_probing"]["cpu_s"], 3)
            row["ratio_ppl_wall_over_query_probing"] = round(
                row["ngramkit_ppl_native"]["wall_s"] / row["query_probing"]["wall_s"], 3)
            row["ratio_ppl_wall_over_query_trie"] = round(
                row["ngramkit_ppl_native"]["wall_s"] / row["query_trie"]["wall_s"], 3)
            for kind in ("probing", "trie"):  # CPU: steadier than wall on a loaded machine
                row[f"ratio_ppl_cpu_over_query_{kind}"] = round(
                    row["ngramkit_ppl_native"]["cpu_s"] / row[f"query_{kind}"]["cpu_s"], 3)
            if have_kenlm:
                row["ratio_inprocess_scoring_ngramkit_kenlm_over_kenlm_module"] = round(
                    row["kenlm_module_probing"]["score_s"] / row["ngramkit_kenlm_native"]["score_s"], 3)
                row["ratio_inprocess_scoring_evaluate_files_over_kenlm_module"] = round(
                    row["kenlm_module_probing"]["score_s"] / row["ngramkit_evaluate_files"]["score_s"], 3)
        result["runs"] = runs
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
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
    ap.add_argument("--passes", type=int, default=10,
                    help="in-process loops: times over the text per timing (a pass of PTB test is ~10 ms of CPU, "
                         "too short to time alone on a shared machine) [default: 10]")
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
                    help="--startup --order, --processes: folder of KenLM's query and build_binary [default: what "
                         "shared/tools/build-kenlm.sh prints]")
    ap.add_argument("--processes", action="store_true",
                    help="whole scoring processes beside KenLM's query (probing, trie) and kenlm module instead")
    ap.add_argument("--sizes", default="test,train5,10M",
                    help="--processes: texts to score besides the 1-line one (test, train5, 10M)")
    args = ap.parse_args(argv)
    if args.processes:
        sizes = [x.strip() for x in args.sizes.split(",") if x.strip()]
        unknown = sorted(set(sizes) - {"test", "train5", "10M"})
        if unknown:
            raise SystemExit(f"bench_query --sizes: unknown {', '.join(unknown)}; choose from test, train5, 10M")
        bin_dir = _kenlm_bin(args.kenlm_bin)
        if bin_dir is None:
            raise SystemExit("bench_query --processes: no KenLM binaries (give --kenlm-bin, or see "
                             "shared/tools/build-kenlm.sh)")
        result = processes(args.model, bin_dir, args.repeat, sizes)
        write_result(result, args.out or HERE / "results" / "bench_query_processes.json")
        return
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
              "sentences": len(lines), "repeat": args.repeat, "passes": args.passes, "machine": platform.machine(),
              "python": platform.python_version()}
    models = {"ngramkit": (nk, *load(nk, args.model))}
    try:
        import kenlm
    except ImportError:
        kenlm = None
        result["kenlm"] = "not installed (pip install -e '.[kenlm-oracle]')"
    if kenlm is not None:
        models["kenlm"] = (kenlm, *load(kenlm, args.model))
    out, totals = measure({name: (module, model) for name, (module, model, _) in models.items()}, lines,
                          args.repeat, args.passes)
    for name, (_, _, seconds) in models.items():
        result[name] = {"load_s": round(seconds, 4), **out[name]}
    nk_totals = totals["ngramkit"]
    if kenlm is not None:
        for name in nk_totals:
            if abs(nk_totals[name] - totals["kenlm"][name]) > 1e-3:
                raise SystemExit(f"bench_query: {name} totals differ: ngramkit {nk_totals[name]} "
                                 f"vs kenlm {totals['kenlm'][name]}")
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
