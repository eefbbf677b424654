"""Scale: counting and modified Kneser-Ney order 5 on 10M-300M tokens in a fixed memory budget, beside lmplz.

For each corpus size (made by ``benchmarks/make_corpus.py``: ``ngramkit
generate`` from the PTB 5-gram with a fixed seed, plus its open-vocabulary
step), in one run on the same file:

- ``ngramkit count FILE --order 5 --memory B --temp T`` (counting only);
- ``ngramkit train ngram FILE --order 5 --smoothing mkn --memory B --temp T -o x.arpa``;
- ``lmplz -o 5 -S B -T T --arpa x.arpa < FILE`` (KenLM, built by ``../shared/tools/build-kenlm.sh``).

and, with ``--count-only SIZES`` (for example 1B), ``ngramkit count --order 3``
alone. Every job is a whole process: wall time, CPU time (user + system of the
process and its children), peak RSS (``ru_maxrss`` from ``wait4``) and the
peak size of its temporary folder (polled every 0.2 s). The two ARPA headers
(``ngram k=N`` lines) are compared: both tools must count the same n-grams.

Results: ``benchmarks/results/bench_scale.json`` and a figure of time and peak
memory against tokens, both tools, on log axes (``bench_scale.png``).

    python benchmarks/bench_scale.py --sizes 10M,100M,300M --memory 4G
    python benchmarks/bench_scale.py --sizes 10M --memory 1G --count-only 1B
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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

SUFFIX = {"K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9}


def parse_tokens(text: str) -> int:
    text = text.strip().upper()
    if text[-1] in SUFFIX:
        return int(float(text[:-1]) * SUFFIX[text[-1]])
    return int(text)


def log(msg: str) -> None:
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def folder_bytes(path: Path) -> int:
    """Bytes of disk the files under ``path`` occupy (allocated blocks)."""
    total = 0
    stack = [path]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except FileNotFoundError:
                        pass
        except (FileNotFoundError, NotADirectoryError):
            pass
    return total


def arpa_sizes(path: Path) -> list[int]:
    sizes = []
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(b"ngram "):
                sizes.append(int(line.split(b"=")[1]))
            elif line.startswith(b"\\1-grams"):
                break
    return sizes


class Runner:
    """Each job in its own process, measured by a tiny wrapper that reports its child's rusage as JSON."""

    WRAP = ("import json, os, subprocess, sys, resource\n"
            "stdin = open(sys.argv[1], 'rb') if sys.argv[1] != '-' else subprocess.DEVNULL\n"
            "p = subprocess.Popen(sys.argv[2:], stdin=stdin)\n"
            "_, status, ru = os.wait4(p.pid, 0)\n"
            "code = os.waitstatus_to_exitcode(status)\n"
            "print(json.dumps({'exit': code, 'cpu_s': ru.ru_utime + ru.ru_stime, 'maxrss_kib': ru.ru_maxrss}),"
            " file=open(os.environ['BENCH_RUSAGE'], 'w'))\n"
            "sys.exit(code)\n")

    def __init__(self, work: Path):
        self.work = work

    def __call__(self, cmd, *, temp: Path, stdin: Path | None = None, outputs=()) -> dict:
        usage_file = self.work / "rusage.json"
        os.environ["BENCH_RUSAGE"] = str(usage_file)
        wrapped = [sys.executable, "-c", self.WRAP, str(stdin) if stdin else "-"] + [str(c) for c in cmd]
        temp.mkdir(parents=True, exist_ok=True)
        peak = {"temp": 0}
        done = threading.Event()

        def poll():
            while not done.is_set():
                peak["temp"] = max(peak["temp"], folder_bytes(temp))
                done.wait(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        log("$ " + " ".join(map(str, cmd)) + (f" < {stdin}" if stdin else ""))
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        poller.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - start
        done.set()
        poller.join()
        usage = json.loads(usage_file.read_text())
        result = {
            "cmd": " ".join(map(str, cmd)) + (f" < {stdin}" if stdin else ""),
            "exit": usage["exit"],
            "wall_s": round(wall, 2),
            "cpu_s": round(usage["cpu_s"], 2),
            "peak_rss_mib": round(usage["maxrss_kib"] / 1024, 1),
            "temp_peak_mib": round(peak["temp"] / 2**20, 1),
            "output_mib": round(sum(Path(p).stat().st_size for p in outputs if Path(p).exists()) / 2**20, 1),
        }
        if usage["exit"] != 0:
            result["stderr_tail"] = err.decode(errors="replace")[-2000:]
            log(f"  FAILED ({usage['exit']}): {result['stderr_tail'][-600:]}")
        else:
            result["stdout_tail"] = out.decode(errors="replace")[-1200:]
        log(f"  wall {result['wall_s']} s, cpu {result['cpu_s']} s, peak RSS {result['peak_rss_mib']} MiB, "
            f"temp peak {result['temp_peak_mib']} MiB")
        return result


def lmplz_bin() -> Path | None:
    script = HERE.parent.parent / "shared" / "tools" / "build-kenlm.sh"
    if not script.exists():
        return None
    try:
        out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"KenLM could not be built ({exc}); lmplz skipped")
        return None
    return Path(out.stdout.strip().splitlines()[-1])


def figure(rows: list[dict], budget: str, path: Path, count_only: list[dict] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter

    fig, (a_time, a_mem) = plt.subplots(1, 2, figsize=(10, 4.2))
    series = [("ngramkit train ngram (mkn-5)", "train", "C0", "o-"), ("lmplz -o 5", "lmplz", "C3", "s-"),
              ("ngramkit count (orders 1-5)", "count", "C2", "^--")]
    for label, key, color, style in series:
        pts = [(r["tokens"], r[key]) for r in rows if r.get(key) and r[key]["exit"] == 0]
        if not pts:
            continue
        x = [p[0] for p in pts]
        a_time.plot(x, [p[1]["wall_s"] for p in pts], style, color=color, label=label)
        a_mem.plot(x, [p[1]["peak_rss_mib"] / 1024 for p in pts], style, color=color, label=label)
    done = [(r["tokens"], r["count3"]) for r in count_only if r["count3"]["exit"] == 0]
    if done:
        label = "ngramkit count (orders 1-3)"
        a_time.plot([t for t, _ in done], [c["wall_s"] for _, c in done], "v", color="C1", label=label)
        a_mem.plot([t for t, _ in done], [c["peak_rss_mib"] / 1024 for _, c in done], "v", color="C1", label=label)
    budget_gib = parse_memory_gib(budget)
    if budget_gib:
        a_mem.axhline(budget_gib, color="grey", lw=1, ls=":", label=f"budget {budget} (+10%: dashed)")
        a_mem.axhline(budget_gib * 1.1, color="grey", lw=1, ls="--")
    for ax, ylabel in ((a_time, "wall time (s)"), (a_mem, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tokens in the training text")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: ""))
    a_mem.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24]))
    a_time.legend(fontsize=8, loc="upper left")
    a_mem.legend(fontsize=8, loc="lower right")
    a_time.set_title("Time, whole process")
    a_mem.set_title(f"Peak memory (budget {budget})")
    fig.suptitle("Modified Kneser-Ney order 5 at scale: ngramkit vs KenLM lmplz, same file, same budget", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_memory_gib(text: str) -> float | None:
    text = text.strip().upper().rstrip("B")
    units = {"K": 2**-20, "M": 2**-10, "G": 1.0, "T": 2**10}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10M,100M,300M", help="corpus sizes for count + mkn-5 (comma-separated)")
    ap.add_argument("--count-only", default="", help="sizes for counting orders 1-3 only (e.g. 1B)")
    ap.add_argument("--memory", default="4G", help="the budget given to both tools (-S for lmplz)")
    ap.add_argument("--temp", default=None, help="temporary folder for both tools (default: system temp)")
    ap.add_argument("--no-lmplz", action="store_true")
    ap.add_argument("--no-count", action="store_true", help="skip the separate counting job")
    ap.add_argument("--keep-arpa", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "bench_scale.json"))
    args = ap.parse_args()

    from make_corpus import corpus  # benchmarks/make_corpus.py

    ngramkit = shutil.which("ngramkit") or str(Path(sys.executable).with_name("ngramkit"))
    lmplz = None if args.no_lmplz else lmplz_bin()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.temp))
    runner = Runner(work)
    out_path = Path(args.out)
    report = {
        "benchmark": "bench_scale",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "mem_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "memory_budget": args.memory,
        "lmplz": str(lmplz / "lmplz") if lmplz else None,
        "rows": [],
        "count_only": [],
    }

    def save():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(out_path)
        figure(report["rows"], args.memory, out_path.with_suffix(".png"), report["count_only"])

    try:
        for size in [s for s in args.sizes.split(",") if s]:
            tokens = parse_tokens(size)
            text = corpus(tokens)
            row = {"size": size, "tokens": tokens, "text_mib": round(text.stat().st_size / 2**20, 1)}
            log(f"== {size} tokens: {text} ({row['text_mib']} MiB)")
            if not args.no_count:
                row["count"] = runner([ngramkit, "count", text, "--order", "5", "--top", "0", "--memory", args.memory,
                                       "--temp", work / "t-count", "--json", "-q"], temp=work / "t-count")
            arpa_ours = work / f"ours.{size}.arpa"
            row["train"] = runner([ngramkit, "train", "ngram", text, "--order", "5", "--smoothing", "mkn",
                                   "--memory", args.memory, "--temp", work / "t-train", "-o", arpa_ours, "-q"],
                                  temp=work / "t-train", outputs=[arpa_ours])
            ours = arpa_sizes(arpa_ours) if row["train"]["exit"] == 0 else None
            if not args.keep_arpa:  # before lmplz writes its own: at 300M tokens each ARPA is 24 GB
                arpa_ours.unlink(missing_ok=True)
            if lmplz:
                arpa_kenlm = work / f"kenlm.{size}.arpa"
                row["lmplz"] = runner([lmplz / "lmplz", "-o", "5", "-S", args.memory, "-T", work / "t-lmplz",
                                       "--arpa", arpa_kenlm], temp=work / "t-lmplz", stdin=text, outputs=[arpa_kenlm])
                if row["lmplz"]["exit"] == 0 and row["train"]["exit"] == 0:
                    theirs = arpa_sizes(arpa_kenlm)
                    row["ngram_counts"] = {"ngramkit": ours, "lmplz": theirs}
                    row["ratio_wall_ngramkit_over_lmplz"] = round(row["train"]["wall_s"] / row["lmplz"]["wall_s"], 3)
                    row["ratio_rss_ngramkit_over_lmplz"] = round(
                        row["train"]["peak_rss_mib"] / row["lmplz"]["peak_rss_mib"], 3)
                if not args.keep_arpa:
                    arpa_kenlm.unlink(missing_ok=True)
            budget = parse_memory_gib(args.memory)
            if budget:
                row["within_budget_plus_10pct"] = all(
                    row[k]["peak_rss_mib"] / 1024 <= budget * 1.1 for k in ("count", "train") if k in row)
            report["rows"].append(row)
            save()
        for size in [s for s in args.count_only.split(",") if s]:
            tokens = parse_tokens(size)
            text = corpus(tokens)
            log(f"== count only, orders 1-3, {size} tokens: {text}")
            res = runner([ngramkit, "count", text, "--order", "3", "--top", "0", "--memory", args.memory,
                          "--temp", work / "t-count3", "--json", "-q"], temp=work / "t-count3")
            report["count_only"].append({"size": size, "tokens": tokens, "count3": res})
            save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save()
    log(f"wrote {out_path}")


if __name__ == "__main__":
    main()
