"""Benchmark: ``ngramkit generate`` from the PTB 5-gram (mkn), the exact sampler beside the general path.

Measures, in one run on the same model (trained on ``$NGRAMKIT_DATA/ptb/ptb.train.txt``,
cached as in ``make_corpus.py``), best of ``--repeat``:

- whole process: ``ngramkit generate -m ptb5-mkn.ngk --words N --seed 1 -o FILE`` (the fast
  path: temperature 1, no prefix, no top-k), with the default threads (2 here) and
  ``--threads 1``: wall seconds from start to exit (model load included), tokens/s;
- in process: ``model.sample_ids(N, seed)`` plus the rendering of the text (no writing), with
  1 and 2 threads, model loaded and sampler tables built beforehand;
- the general path, as before this change: ``LanguageModel.iter_generate`` (one full
  distribution per token) in process, and the whole process forced onto it with ``--top-k V``
  (every word kept, so the same distribution), on ``--slow-words`` tokens.

Usage::

    NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_generate.py [--words 10000000] [--repeat 3]

Writes benchmarks/results/bench_generate.json (``--output``) and prints it. The machine is shared:
the load average before and after is recorded, and the CPU seconds beside the wall
seconds (tokens per CPU second does not depend on how much of the machine others use);
compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import default_dir, ngramkit_exe, train_model  # noqa: E402

from ngramkit import modelio  # noqa: E402
from ngramkit.lm import LanguageModel  # noqa: E402
from ngramkit.models.sampling import Renderer  # noqa: E402


def best(repeat, func):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times), times


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_process(repeat, cmd, **kw):
    """(best wall seconds, all wall seconds, CPU seconds of the best run) of running ``cmd`` ``repeat`` times."""
    runs = []
    for _ in range(repeat):
        cpu, t = child_cpu(), time.perf_counter()
        subprocess.run(cmd, check=True, **kw)
        runs.append((time.perf_counter() - t, child_cpu() - cpu))
    wall, cpu = min(runs)
    return wall, [r[0] for r in runs], cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=10_000_000)
    ap.add_argument("--slow-words", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--output", default=str(HERE / "results" / "bench_generate.json"))
    args = ap.parse_args(argv)
    exe = ngramkit_exe()
    data = default_dir()
    data.mkdir(parents=True, exist_ok=True)
    model_path = train_model(data, exe, quiet=True)
    load_before = os.getloadavg()
    result = {"benchmark": "bench_generate", "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count()}, "model": "PTB train, mkn order 5", "words": args.words,
              "repeat": args.repeat}
    n = args.words
    with tempfile.TemporaryDirectory(prefix="ngramkit-bench-gen-") as tmp:
        out = Path(tmp) / "f.txt"
        whole = {}
        for label, extra in (("threads_default", []), ("threads_1", ["--threads", "1"])):
            cmd = [exe, "generate", "-m", str(model_path), "--words", str(n), "--seed", "1", "-o", str(out), "-q",
                   *extra]
            seconds, times, cpu = best_process(args.repeat, cmd)
            whole[label] = {"seconds": round(seconds, 3), "tokens_per_s": round(n / seconds),
                            "cpu_seconds": round(cpu, 3), "tokens_per_cpu_s": round(n / cpu),
                            "all_seconds": [round(t, 3) for t in times]}
        whole["bytes"] = out.stat().st_size
        slow_cmd = [exe, "generate", "-m", str(model_path), "--words", str(args.slow_words), "--seed", "1",
                    "--top-k", "1000000000"]
        seconds, _, cpu = best_process(1, slow_cmd, stdout=subprocess.DEVNULL)
        whole["general_path_top_k_all"] = {"words": args.slow_words, "seconds": round(seconds, 3),
                                           "tokens_per_s": round(args.slow_words / seconds, 1),
                                           "cpu_seconds": round(cpu, 3),
                                           "command": "ngramkit generate --top-k 1000000000 (every word kept)"}
        whole["speedup"] = round(whole["threads_default"]["tokens_per_s"] /
                                 whole["general_path_top_k_all"]["tokens_per_s"], 1)
        result["whole_process"] = whole

    model = modelio.load_model(model_path)
    t = time.perf_counter()
    list(model.sample_ids(1, 0))
    inproc = {"tables_seconds": round(time.perf_counter() - t, 3)}
    render = Renderer(model.vocab.words)
    for threads in (1, 2):
        def run():
            for ids in model.sample_ids(n, 1, threads=threads):
                render(ids)
        cpu = time.process_time()
        seconds, times = best(args.repeat, run)
        cpu = (time.process_time() - cpu) / args.repeat
        inproc[f"threads_{threads}"] = {"seconds": round(seconds, 3), "tokens_per_s": round(n / seconds),
                                        "cpu_seconds_mean": round(cpu, 3), "tokens_per_cpu_s": round(n / cpu),
                                        "all_seconds": [round(x, 3) for x in times]}

    def slow():
        for _ in LanguageModel.iter_generate(model, args.slow_words, random_seed=1):
            pass
    seconds, _ = best(1, slow)
    inproc["general_path_iter_generate"] = {"words": args.slow_words, "seconds": round(seconds, 3),
                                            "tokens_per_s": round(args.slow_words / seconds, 1)}
    inproc["speedup"] = round(inproc["threads_2"]["tokens_per_s"] /
                              inproc["general_path_iter_generate"]["tokens_per_s"], 1)
    result["in_process"] = inproc
    result["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    result["target_1M_tokens_per_s_whole_process"] = whole["threads_default"]["tokens_per_s"] >= 1_000_000
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
