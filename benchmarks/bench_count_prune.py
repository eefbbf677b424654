"""Benchmark: count pruning, `ngramkit train ngram --prune` beside KenLM `lmplz --prune`, same run, same input.

Input: PTB train/test with the literal ``<unk>`` renamed ``UNK`` (lmplz refuses a literal ``<unk>``; the
KenLM reference models in ../shared/reference were made the same way), written to a temporary folder.
For each setting (order 3 ``--prune 0 1 1``, order 5 ``--prune 0 0 1 1 1`` and two harsher ones) both
tools run as whole processes, text file -> ARPA file, alternating, ``--repeat`` times:

- ``ngramkit train ngram train.txt -n N --prune ... -o out.arpa -q`` (the installed console script);
- ``lmplz -o N --prune ... -S 1G -T tmp < train.txt > out.arpa`` (built by ../shared/tools/build-kenlm.sh;
  ``-S 1G``: lmplz's memory for sorting, which its peak RSS reflects).

Measured per run: wall and CPU seconds and the child's own peak RSS (``os.wait4``); reported: the best
(lowest) CPU run of each tool, its wall and RSS, and the ratios ngramkit / lmplz. Then both ARPA files are
read by ngramkit: n-grams per order, test perplexity (ngramkit's scorer, which equals KenLM's ``query`` on
these models: tests/models/test_kenlm_exact.py), and the largest difference between the two files'
log10 probabilities and backoffs over their (identical) n-grams. The load average is recorded at the start
and end (2 cores shared with other jobs: CPU seconds are the reliable figure).

Usage::

    NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_count_prune.py [--repeat 3]

Writes benchmarks/results/bench_count_prune.json and prints it.
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
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = Path(os.environ.get("NGRAMKIT_DATA", HERE.parent.parent / "shared" / "corpora"))
KENLM_TOOL = HERE.parent.parent / "shared" / "tools" / "build-kenlm.sh"
SETTINGS = [(3, "0 1 1"), (3, "0 1 2"), (5, "0 0 1 1 1"), (5, "0 1 1 1 1")]
REFERENCE_PPL = {(3, "0 1 1"): 164.789109452294, (5, "0 0 1 1 1"): 147.40026029303476}  # query (reference README)


def log(msg: str) -> None:
    print(f"[bench_count_prune] {msg}", file=sys.stderr, flush=True)


def kenlm_bin() -> Path:
    proc = subprocess.run(["bash", str(KENLM_TOOL)], capture_output=True, text=True)
    folder = Path(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else None
    if folder is None or not (folder / "lmplz").exists():
        raise SystemExit(f"KenLM's lmplz is needed: bash {KENLM_TOOL} failed\n{proc.stderr}")
    return folder


def ngramkit_bin() -> str:
    exe = shutil.which("ngramkit", path=str(Path(sys.executable).parent)) or shutil.which("ngramkit")
    if exe is None:
        raise SystemExit("the ngramkit console script is needed (pip install -e .)")
    return exe


def run_child(cmd, stdin=None, stdout=None) -> tuple[float, float, float]:
    """(wall s, CPU s, the child's own peak RSS in MiB) of one process."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout or subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err.read()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def write_ptb(tmp: Path) -> tuple[Path, list[list[str]]]:
    lines = {}
    for split in ("train", "test"):
        text = (DATA / "ptb" / f"ptb.{split}.txt").read_text(encoding="utf-8")
        lines[split] = [line.replace("<unk>", "UNK").split() for line in text.splitlines() if line.strip()]
    train = tmp / "ptb.train.UNK.txt"
    train.write_text("\n".join(" ".join(s) for s in lines["train"]) + "\n", encoding="utf-8")
    return train, lines["test"]


def describe(path: Path, test) -> tuple[dict, object]:
    from ngramkit.arpa import read_arpa
    from ngramkit.evaluate import evaluate

    model = read_arpa(path)
    ev = evaluate(model, model.as_stream(test))
    sizes = [int(model.ngrams(k).shape[0]) for k in range(1, model.order + 1)]
    return {"ngrams": sizes, "total_ngrams": sum(sizes), "test_ppl": ev.perplexity, "test_tokens": ev.tokens,
            "arpa_bytes": path.stat().st_size}, model


def max_differences(a, b) -> dict:
    """Largest |log10 p| and |log10 backoff| difference between two models over their n-grams (matched by words).

    The two files number their words differently (ARPA order); ``b``'s n-grams are mapped into ``a``'s ids.
    """
    if set(a.vocab.words) != set(b.vocab.words):
        return {"same_ngrams": False, "why": "different unigrams"}
    to_a = np.asarray(a.vocab.lookup(b.vocab.words), np.int64)
    dp = db = 0.0
    for k in range(1, a.order + 1):
        gb = to_a[b.ngrams(k).astype(np.int64)]
        perm = np.lexsort(gb.T[::-1])
        if not np.array_equal(a.ngrams(k), gb[perm]):
            return {"same_ngrams": False, "why": f"order {k} n-grams differ"}
        pa, pb = a.logp10(k), b.logp10(k)[perm]
        real = ~np.isnan(pa) & ~np.isnan(pb)
        dp = max(dp, float(np.abs(pa[real] - pb[real]).max()))
        db = max(db, float(np.abs(a.backoff10(k) - b.backoff10(k)[perm]).max()))
    return {"same_ngrams": True, "max_abs_diff_log10_prob": dp, "max_abs_diff_log10_backoff": db}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool per setting (best CPU reported)")
    args = parser.parse_args()
    kenlm = kenlm_bin()
    ngk = ngramkit_bin()
    load_start = list(os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-count-prune-") as folder:
        tmp = Path(folder)
        train, test = write_ptb(tmp)
        for order, setting in SETTINGS:
            runs = {"ngramkit": [], "lmplz": []}
            ours, theirs = tmp / "ngramkit.arpa", tmp / "lmplz.arpa"
            for _ in range(args.repeat):
                runs["ngramkit"].append(run_child([ngk, "train", "ngram", str(train), "-n", str(order), "--prune",
                                                   *setting.split(), "-o", str(ours), "-q"]))
                with open(train, "rb") as src, open(theirs, "wb") as dst:
                    runs["lmplz"].append(run_child([str(kenlm / "lmplz"), "-o", str(order), "--prune",
                                                    *setting.split(), "-S", "1G", "-T", str(tmp)], src, dst))
            row = {"order": order, "prune": setting}
            models = {}
            for tool, path in (("ngramkit", ours), ("lmplz", theirs)):
                wall, cpu, rss = min(runs[tool], key=lambda r: r[1])
                info, models[tool] = describe(path, test)
                row[tool] = {"best_cpu_s": round(cpu, 3), "wall_s_of_best": round(wall, 3),
                             "peak_rss_mib": round(rss, 1), "cpu_s_all": [round(r[1], 3) for r in runs[tool]],
                             "wall_s_all": [round(r[0], 3) for r in runs[tool]], **info}
            row["agreement"] = max_differences(models["ngramkit"], models["lmplz"])
            row["ratio_ngramkit_over_lmplz"] = {
                "cpu": round(row["ngramkit"]["best_cpu_s"] / row["lmplz"]["best_cpu_s"], 3),
                "wall": round(row["ngramkit"]["wall_s_of_best"] / row["lmplz"]["wall_s_of_best"], 3),
                "peak_rss": round(row["ngramkit"]["peak_rss_mib"] / row["lmplz"]["peak_rss_mib"], 3)}
            if (order, setting) in REFERENCE_PPL:
                row["reference_query_ppl"] = REFERENCE_PPL[(order, setting)]
            log(f"o{order} --prune {setting}: ngramkit {row['ngramkit']['best_cpu_s']:.2f} s CPU, "
                f"{row['ngramkit']['peak_rss_mib']:.0f} MiB, ppl {row['ngramkit']['test_ppl']:.5f}; lmplz "
                f"{row['lmplz']['best_cpu_s']:.2f} s CPU, {row['lmplz']['peak_rss_mib']:.0f} MiB, "
                f"ppl {row['lmplz']['test_ppl']:.5f}; {row['agreement']}")
            results.append(row)
            del models
    out = {
        "benchmark": "bench_count_prune",
        "what": "count pruning, text file -> ARPA, whole processes: ngramkit train ngram --prune vs lmplz --prune",
        "input": "PTB train (<unk> -> UNK), test ppl on PTB test (82,430 tokens)",
        "repeat": args.repeat,
        "lmplz_memory": "-S 1G",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_average_start": load_start, "load_average_end": list(os.getloadavg())},
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "bench_count_prune.json"
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(out, indent=2) + "\n")
    tmp_path.replace(path)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
