"""--engine dask against one process: counting and modified Kneser-Ney on the same file, same run.

Jobs (each a whole Python process started by this script, interleaved, repeated):

- ``count-local``: ``NGramCounts.from_file(FILE, N)``, saved as ``.ngc``;
- ``count-dask``: ``count_dask(FILE, N)`` on a ``LocalCluster`` of ``--workers`` processes, saved;
- ``mkn-local``: ``ModifiedKneserNey(N).fit(NGramCounts.from_file(FILE, N))``, written as ARPA;
- ``mkn-dask``: ``train_dask(FILE, ModifiedKneserNey(N))`` on the cluster, written as ARPA.

Per job: wall time of the process, CPU time two ways (``cpu_s``: user + system
of the process and the children it waited for, from ``os.times``; ``cpu_tree_s``:
the sum over every process of the tree -- the cluster's nannies and workers --
of its CPU time last seen by the sampler, which misses at most the last 0.05 s
of each), peak RSS of the whole process tree (sum over processes, sampled every
0.05 s with psutil),
and the job's own time for the work (``work_s``: without interpreter start-up
and, for dask, without starting the cluster). Min over ``--repeat`` runs; the
machine's load average is recorded. Same-result checks: the two ``.ngc`` files
hold equal counts, the two ARPA files are byte-identical (sha256).

``--copies K`` benchmarks a larger synthetic text instead: K copies of
``--file`` where, in copy i, every word type whose crc32 % K < i gets the
suffix ``~i`` (so the vocabulary and the distinct n-grams grow with the text
instead of repeating it: copy 0 is the file itself).

``--cli`` measures the whole commands instead, on one file (the issue's 100M-token target):
``ngramkit train ngram FILE -n 5 -s mkn --engine dask --workers N -o dask.arpa`` beside the
single-process ``ngramkit train ngram FILE -n 5 -s mkn --memory 4G --temp DIR -o local.arpa``
(out of core when the text needs it), one after the other in the same run, each a process
tree measured as above plus each process's own peak RSS (``peak_rss_mib_per_process``:
``main`` the command, ``worker`` the Dask workers), the commands' own ``stage_seconds``,
and whether the two ARPA files are byte-identical (sha256). The entry is stored under
``cli_scale`` (keyed by ``--tokens``) in ``--out``, beside what is already there.

    python benchmarks/bench_dask.py                      # PTB train, order 5, 2 workers
    python benchmarks/bench_dask.py --file big.txt --order 5 --workers 2 --repeat 3
    python benchmarks/bench_dask.py --copies 4 --out benchmarks/results/bench_dask_ptbx4.json
    python benchmarks/make_corpus.py --tokens 100M     # -> /tmp/ngramkit-bench/corpus-100000000-s1.txt
    python benchmarks/bench_dask.py --cli --file /tmp/ngramkit-bench/corpus-100000000-s1.txt --tokens 100000000 \\
        --repeat 1 --tmp /tmp/bench-dask
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATA = Path(os.environ.get("NGRAMKIT_DATA", HERE.parent.parent / "shared" / "corpora"))
JOBS = ("count-local", "count-dask", "mkn-local", "mkn-dask")


def run_job(job: str, path: str, order: int, workers: int, partition_bytes: int | None, out: str) -> None:
    """The body of one job (in its own process); prints {"work_s": ...} as JSON."""
    from ngramkit import NGramCounts
    from ngramkit.arpa import write_arpa
    from ngramkit.models.interpolated import ModifiedKneserNey

    kind, engine = job.split("-")
    if engine == "local":
        t0 = time.perf_counter()
        counts = NGramCounts.from_file(path, order)
        if kind == "count":
            counts.save(out)
        else:
            write_arpa(ModifiedKneserNey(order).fit(counts), out)
        print(json.dumps({"work_s": time.perf_counter() - t0}))
        return
    from ngramkit.distributed import client_for, count_dask, train_dask

    pb = partition_bytes
    t_start = time.perf_counter()
    with client_for(workers=workers) as client:
        t0 = time.perf_counter()
        if kind == "count":
            count_dask(path, order, client=client, partition_bytes=pb).save(out)
        else:
            write_arpa(train_dask(path, ModifiedKneserNey(order), client=client, partition_bytes=pb), out)
        work = time.perf_counter() - t0
    print(json.dumps({"work_s": work, "cluster_start_s": t0 - t_start}))


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; wall, CPU of it and its waited-for descendants, peak RSS of its process tree."""
    import psutil

    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    cpu: dict[int, float] = {}  # pid -> last CPU time seen (user + system)
    own: dict[int, list] = {}  # pid -> [peak RSS, role]: each process's own peak
    done = threading.Event()

    def sample():
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        rss = p.memory_info().rss
                        total += rss
                        if p.pid not in own:
                            own[p.pid] = [0, _role(p, root)]
                        own[p.pid][0] = max(own[p.pid][0], rss)
                        t = p.cpu_times()
                        cpu[p.pid] = t.user + t.system
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                break
            peak[0] = max(peak[0], total)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"job failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    text = stdout.strip()
    try:  # a command's --json object (indented), else the job's last line
        out = json.loads(text)
    except json.JSONDecodeError:
        out = json.loads(text.splitlines()[-1])
    out.update(wall_s=wall, cpu_s=(after.children_user - before.children_user)
               + (after.children_system - before.children_system), cpu_tree_s=sum(cpu.values()),
               peak_rss_mib=peak[0] / 2**20)
    roles: dict[str, list] = {}
    for rss, role in own.values():
        roles.setdefault(role, []).append(round(rss / 2**20, 1))
    out["peak_rss_mib_per_process"] = {role: sorted(v, reverse=True) for role, v in roles.items()}
    return out


def _role(p, root) -> str:
    """What a process of the job's tree is: the job itself, a Dask worker (spawned), or something else."""
    if p.pid == root.pid:
        return "main"
    try:
        cmd = " ".join(p.cmdline())
    except Exception:  # noqa: BLE001 (gone, or not ours to read)
        return "other"
    if "spawn_main" in cmd:
        return "worker"
    return "resource_tracker" if "resource_tracker" in cmd else "other"


def cli_jobs(path: str, order: int, workers: int, memory: str, tmp: Path) -> dict:
    """``--cli``: the two whole ``ngramkit train ngram`` commands the issue names, writing ARPA."""
    exe = Path(sys.executable).with_name("ngramkit")
    base = [str(exe), "train", "ngram", path, "-n", str(order), "-s", "mkn", "-q", "--json"]
    return {"train-dask": base + ["--engine", "dask", "--workers", str(workers), "-o", str(tmp / "dask.arpa")],
            "train-local": base + ["--memory", memory, "--temp", str(tmp), "-o", str(tmp / "local.arpa")]}


def run_cli(args) -> None:
    """Measure ``train ngram`` (local, --memory) against ``--engine dask --workers N`` on one file, same run."""
    size = os.path.getsize(args.file)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_dask.", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        cmds = cli_jobs(args.file, args.order, args.workers, args.memory, tmp)
        for r in range(args.repeat):
            for job, cmd in cmds.items():
                load = os.getloadavg()
                res = measure(cmd)
                keep = ("wall_s", "cpu_s", "cpu_tree_s", "peak_rss_mib", "peak_rss_mib_per_process", "stage_seconds",
                        "train_tokens", "vocab_size", "ngrams", "memory")
                res = {key: res[key] for key in keep if key in res}
                res["load_avg_1m_before"], res["load_avg_1m_after"] = load[0], os.getloadavg()[0]
                res["command"] = " ".join(cmd)
                runs.setdefault(job, []).append(res)
                print(f"[bench_dask] run {r + 1} {job}: wall {res['wall_s']:.1f} s, cpu(tree) {res['cpu_tree_s']:.1f} s, "
                      f"peak RSS per process {res['peak_rss_mib_per_process']} MiB", file=sys.stderr, flush=True)
        same = {"arpa_sha256_local": sha256(tmp / "local.arpa"), "arpa_sha256_dask": sha256(tmp / "dask.arpa"),
                "arpa_bytes": (tmp / "local.arpa").stat().st_size}
        same["arpa_identical"] = same["arpa_sha256_local"] == same["arpa_sha256_dask"]
    a, b = runs["train-dask"][-1], runs["train-local"][-1]
    ratios = {f"dask_over_local_{key}": a[key] / b[key] for key in ("wall_s", "cpu_tree_s", "peak_rss_mib")}
    entry = {"file": args.file, "bytes": size, "tokens": args.tokens, "order": args.order, "workers": args.workers,
             "memory": args.memory, "repeat": args.repeat, "cpus": os.cpu_count(),
             "python": platform.python_version(), "ratios_last_run": ratios, "same_result": same, "runs": runs,
             "note": "whole ngramkit train ngram processes writing ARPA, run one after the other in the same "
                     "run; peak_rss_mib is the sum over the process tree, peak_rss_mib_per_process each process's "
                     "own peak (main: the command, worker: a Dask worker); load averages before/after each job"}
    out = Path(args.out)
    result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    result.setdefault("cli_scale", {})[str(args.tokens or size)] = entry
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"ratios": ratios, "same_result": same}, indent=2))
    if not same["arpa_identical"]:
        raise SystemExit("the dask result differs from the local one")


def synthetic(src: Path, copies: int, dst: Path) -> None:
    """``copies`` copies of ``src``; in copy i the word types with crc32 % copies < i get the suffix ``~i``."""
    import zlib

    lines = src.read_text(encoding="utf-8").splitlines()
    with open(dst, "w", encoding="utf-8") as out:
        for i in range(copies):
            cache: dict[str, str] = {}
            for line in lines:
                words = []
                for w in line.split():
                    r = cache.get(w)
                    if r is None:
                        r = cache[w] = f"{w}~{i}" if zlib.crc32(w.encode()) % copies < i else w
                    words.append(r)
                out.write(" ".join(words) + "\n")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(DATA / "ptb" / "ptb.train.txt"))
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partition-bytes", type=int, default=None,
                    help="bytes per partition (default: the file split into 2 per worker, at least 1 MiB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=0, help="benchmark a synthetic text of this many copies (see above)")
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--out", default=str(RESULTS / "bench_dask.json"))
    ap.add_argument("--cli", action="store_true",
                    help="measure the whole commands `ngramkit train ngram FILE --memory M` and `... --engine dask "
                         "--workers N` (ARPA), per-process peak RSS; stored under cli_scale in --out")
    ap.add_argument("--memory", default="4G", help="--cli: the local run's --memory")
    ap.add_argument("--tokens", type=int, default=None, help="--cli: the file's token count, for the record")
    ap.add_argument("--tmp", default=None, help="--cli: folder for the outputs and the local run's --temp")
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--job-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        run_job(args.job, args.file, args.order, args.workers, args.partition_bytes, args.job_out)
        return
    if args.cli:
        run_cli(args)
        return
    if args.copies:
        made = Path(tempfile.gettempdir()) / f"bench_dask.{Path(args.file).stem}.x{args.copies}.txt"
        synthetic(Path(args.file), args.copies, made)
        args.source, args.file = args.file, str(made)
    size = os.path.getsize(args.file)
    pb = args.partition_bytes or max(1 << 20, min(16 << 20, -(-size // (2 * args.workers))))  # the library's default
    jobs = [j for j in args.jobs.split(",") if j]
    runs: dict[str, list[dict]] = {j: [] for j in jobs}
    with tempfile.TemporaryDirectory(prefix="bench_dask.") as tmp:
        outs = {j: Path(tmp) / (j + (".ngc" if j.startswith("count") else ".arpa")) for j in jobs}
        for r in range(args.repeat):
            for job in jobs:
                cmd = [sys.executable, __file__, "--job", job, "--file", args.file, "--order", str(args.order),
                       "--workers", str(args.workers), "--partition-bytes", str(pb), "--job-out", str(outs[job])]
                res = measure(cmd)
                keep = ("wall_s", "cpu_s", "cpu_tree_s", "peak_rss_mib", "peak_rss_mib_per_process", "stage_seconds",
                        "train_tokens", "vocab_size", "ngrams", "memory")
                res = {key: res[key] for key in keep if key in res}
                res["load_avg_1m"] = os.getloadavg()[0]
                runs[job].append(res)
                print(f"[bench_dask] run {r + 1} {job}: wall {res['wall_s']:.2f} s, work {res['work_s']:.2f} s, "
                      f"cpu {res['cpu_s']:.2f} s, peak RSS {res['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
        same = {}
        if {"count-local", "count-dask"} <= set(jobs):
            from ngramkit import NGramCounts

            same["counts_equal"] = NGramCounts.load(outs["count-local"]) == NGramCounts.load(outs["count-dask"])
        if {"mkn-local", "mkn-dask"} <= set(jobs):
            same["arpa_sha256_local"] = sha256(outs["mkn-local"])
            same["arpa_sha256_dask"] = sha256(outs["mkn-dask"])
            same["arpa_identical"] = same["arpa_sha256_local"] == same["arpa_sha256_dask"]
    best = {j: {key: min(r[key] for r in rs) for key in rs[0] if key != "load_avg_1m"} for j, rs in runs.items()}
    ratios = {}
    for kind in ("count", "mkn"):
        a, b = best.get(f"{kind}-dask"), best.get(f"{kind}-local")
        if a and b:
            ratios[kind] = {f"dask_over_local_{key}": a[key] / b[key] for key in ("wall_s", "work_s", "cpu_tree_s",
                                                                                  "peak_rss_mib")}
    result = {"file": args.file, "copies_of": getattr(args, "source", None), "copies": args.copies, "bytes": size,
              "order": args.order, "workers": args.workers,
              "partition_bytes": pb, "repeat": args.repeat, "cpus": os.cpu_count(),
              "python": platform.python_version(), "min_of_runs": best, "ratios": ratios, "same_result": same,
              "runs": runs, "note": "min over repeats of each quantity; load_avg_1m per run says how busy the "
                                    "shared machine was"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"min_of_runs": best, "ratios": ratios, "same_result": same}, indent=2))
    if args.copies:
        Path(args.file).unlink()
    if same and not all(v for k, v in same.items() if k in ("counts_equal", "arpa_identical")):
        raise SystemExit("the dask result differs from the local one")


if __name__ == "__main__":
    main()
