"""Benchmark: entropy pruning (ngramkit.prune) on PTB, size against test perplexity, beside KenLM's count pruning.

One run on ptb.train.txt / ptb.test.txt (the literal ``<unk>`` renamed
``UNK``, as for KenLM's reference models, so the unpruned perplexities are
KenLM's 148.2815 / 141.1862). For modified Kneser-Ney of orders 3 and 5 and
each threshold (0 and 1e-9 .. 1e-6): n-grams per order after pruning, test
perplexity, Stolcke's estimated entropy increase, and the pruning time (best
of ``--repeat``, wall and CPU).

SRILM (``ngram -prune``, the reference implementation of the method) is not
available here, so there is no side-by-side SRILM number; the pruning rules
are checked against a per-n-gram oracle in tests/test_prune.py. As context
only (a different method: it drops n-grams by raw count, before
estimation; see bench_count_prune.py and ``train ngram --prune``), KenLM's count pruning: ``lmplz --prune`` run here when the
binaries exist (``bash ../shared/tools/build-kenlm.sh``), its ARPA scored by
ngramkit (which matches KenLM's ``query`` exactly on these models).

Usage::

    NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_prune.py [--repeat 3] [--no-kenlm]

Writes benchmarks/results/bench_prune.json and bench_prune.png; prints the JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
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
THRESHOLDS = [0.0, 1e-9, 3e-9, 1e-8, 3e-8, 1e-7, 3e-7, 1e-6]
KENLM_PRUNE = {3: ["0 1 1", "0 1 2", "0 2 3"], 5: ["0 0 1 1 1", "0 1 1 1 1", "0 1 2 3 3"]}
KENLM_PPL = {3: 148.2815, 5: 141.1862}  # unpruned, KenLM's query (shared/reference/README.md)


def log(msg: str) -> None:
    print(f"[bench_prune] {msg}", file=sys.stderr, flush=True)


def best(fn, repeat: int):
    """(best wall s, best CPU s, last result) of ``repeat`` calls."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - t)
    return min(walls), min(cpus), out


def read_ptb(split: str) -> list[list[str]]:
    path = DATA / "ptb" / f"ptb.{split}.txt"
    return [line.replace("<unk>", "UNK").split() for line in path.read_text().splitlines() if line.strip()]


def perplexity(model, sentences) -> float:
    from ngramkit import Stream

    stream = Stream.from_sentences(sentences, model.vocab)
    return float(np.exp(-model.log_probs(stream).mean()))


def bench_entropy(train, test, repeat: int) -> dict:
    from ngramkit import NGramCounts, Stream, Vocabulary
    from ngramkit.models import ModifiedKneserNey
    from ngramkit.prune import prune

    vocab = Vocabulary.build(train)
    stream = Stream.from_sentences(train, vocab)
    out = {}
    for order in (3, 5):
        model = ModifiedKneserNey(order).fit(NGramCounts.from_stream(stream, order)).to_backoff()
        rows = []
        for threshold in THRESHOLDS:
            wall, cpu, result = best(lambda: prune(model, threshold), repeat)
            ppl = perplexity(result.model, test)
            rows.append({"threshold": threshold, "ngrams": result.sizes_after, "total": sum(result.sizes_after),
                         "pruned": result.pruned, "test_ppl": ppl,
                         "estimated_entropy_increase_bits": result.entropy_increase_bits,
                         "estimated_perplexity_increase": result.perplexity_increase,
                         "improper_contexts": result.improper_contexts,
                         "prune_wall_s": wall, "prune_cpu_s": cpu})
            log(f"mkn{order} threshold {threshold:g}: {sum(result.sizes_after):,} n-grams, ppl {ppl:.3f} "
                f"({cpu:.2f} s CPU)")
            del result
        out[str(order)] = {"ngrams_unpruned": rows[0]["ngrams"], "rows": rows,
                           "kenlm_unpruned_ppl": KENLM_PPL[order]}
        del model
    return out


def kenlm_bin() -> Path | None:
    if not KENLM_TOOL.exists():
        return None
    proc = subprocess.run(["bash", str(KENLM_TOOL)], capture_output=True, text=True)
    folder = Path(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else None
    return folder if folder and (folder / "lmplz").exists() else None


def bench_kenlm_count_pruning(train, test, tmp: Path) -> dict | None:
    from ngramkit.arpa import read_arpa

    folder = kenlm_bin()
    if folder is None:
        log("KenLM binaries not available: no count-pruning context")
        return None
    text = tmp / "train.txt"
    text.write_text("\n".join(" ".join(s) for s in train) + "\n")
    out = {}
    for order, settings in KENLM_PRUNE.items():
        rows = []
        for setting in settings:
            arpa = tmp / f"o{order}.arpa"
            t, c0 = time.perf_counter(), os.times()
            with open(text, "rb") as src, open(arpa, "wb") as dst:
                subprocess.run([str(folder / "lmplz"), "-o", str(order), "--prune", *setting.split(), "-S", "1G",
                                "-T", str(tmp)], stdin=src, stdout=dst, stderr=subprocess.DEVNULL, check=True)
            c1 = os.times()
            wall = time.perf_counter() - t
            model = read_arpa(arpa)
            sizes = [model.ngrams(k).shape[0] for k in range(1, order + 1)]
            ppl = perplexity(model, test)
            rows.append({"prune": setting, "ngrams": sizes, "total": sum(sizes), "test_ppl": ppl,
                         "lmplz_wall_s": wall, "lmplz_cpu_s": (c1.children_user + c1.children_system)
                         - (c0.children_user + c0.children_system)})
            log(f"lmplz -o {order} --prune {setting}: {sum(sizes):,} n-grams, ppl {ppl:.3f}")
            arpa.unlink()
            del model
        out[str(order)] = rows
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = {"3": "tab:blue", "5": "tab:red"}
    for order, block in result["entropy_pruning"].items():
        rows = block["rows"]
        x = [r["total"] for r in rows]
        y = [r["test_ppl"] for r in rows]
        ax.plot(x, y, "o-", color=colors[order], label=f"mkn order {order}, entropy pruning (ngramkit)")
        last_x = None
        for r in reversed(rows):  # from the smallest model; a point within 4% of the last labelled one stays unlabelled
            if last_x is not None and r["total"] < last_x * 1.04 and r["threshold"] != 0:
                continue
            last_x = r["total"]
            label = "unpruned" if r["threshold"] == 0 else f"{r['threshold']:g}"
            below = order == "3"  # order 3's labels under its points, order 5's above: the curves run close
            ax.annotate(label, (r["total"], r["test_ppl"]), textcoords="offset points",
                        xytext=(-4, -11) if below else (4, 4), ha="right" if below else "left", fontsize=7,
                        color=colors[order])
    for order, rows in (result.get("kenlm_count_pruning") or {}).items():
        ax.plot([r["total"] for r in rows], [r["test_ppl"] for r in rows], "s--", color=colors[order], alpha=0.5,
                label=f"order {order}, KenLM lmplz --prune (count pruning, context)")
        for r in rows:
            ax.annotate(r["prune"], (r["total"], r["test_ppl"]), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color=colors[order], alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("n-grams in the model (all orders)")
    ax.set_ylabel("PTB test perplexity")
    ax.set_title("PTB: model size vs test perplexity (entropy pruning thresholds 1e-9 .. 1e-6)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions of each pruning (best is kept)")
    parser.add_argument("--no-kenlm", action="store_true", help="skip lmplz's count pruning (context only)")
    parser.add_argument("--plot-only", action="store_true", help="redraw bench_prune.png from bench_prune.json")
    args = parser.parse_args()
    import ngramkit
    from ngramkit.fileio import atomic_open

    if args.plot_only:
        plot(json.loads((RESULTS / "bench_prune.json").read_text()), RESULTS / "bench_prune.png")
        return

    t0 = time.perf_counter()
    load_start = list(os.getloadavg())
    train, test = read_ptb("train"), read_ptb("test")
    entropy = bench_entropy(train, test, args.repeat)
    kenlm = None
    if not args.no_kenlm:
        with tempfile.TemporaryDirectory(prefix="bench_prune.") as tmp:
            kenlm = bench_kenlm_count_pruning(train, test, Path(tmp))
    result = {
        "benchmark": "bench_prune",
        "corpus": "ptb (train -> test), <unk> renamed UNK as in KenLM's reference models",
        "method": "Stolcke 1998 entropy pruning as SRILM's ngram -prune (threshold: relative perplexity increase "
                  "per n-gram); mkn models of ngramkit; SRILM itself is not available here",
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "ngramkit": ngramkit.__version__, "load_average_start": load_start,
                    "load_average_end": list(os.getloadavg())},
        "entropy_pruning": entropy,
        "kenlm_count_pruning": kenlm,
        "wall_s": time.perf_counter() - t0,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(result, RESULTS / "bench_prune.png")
    text = json.dumps(result, indent=2)
    with atomic_open(RESULTS / "bench_prune.json", "w") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
