"""Benchmark: the quantised compact format (``.ngq``) beside KenLM's quantised trie, same run (issue 17, section 5).

One model: the PTB order-5 modified Kneser-Ney model (``ngramkit train ngram
--corpus ptb --order 5 --smoothing mkn``, 2,317,234 n-grams), written as
native ``.ngk`` and as ARPA (``ngramkit convert``). From the same ARPA text:

- ``ngramkit convert ARPA x.ngq --quantize 8`` (ngramkit's compact format);
- KenLM's ``build_binary -q 8 -b 8 trie`` (its quantised trie) and, for
  reference, ``build_binary trie`` (unquantised);

both builds timed as whole processes. Reported: the file sizes; test
perplexity of each (``ngramkit ppl`` on ``.ngq`` and ``.ngk``, KenLM's
``query -v summary`` on both tries) and the quantised models' change against
the unquantised ones; and scoring speed, whole processes on the same texts
(bench_query's texts, ``<unk>`` -> ``UNK``: a 1-line text for the fixed cost,
PTB test, PTB train x5 = 4.6M tokens): ``ngramkit ppl`` on the ``.ngq`` and
the ``.ngk`` against ``query`` on the quantised and plain tries, and
in-process children that load once and score the whole text (KenLM's
``kenlm`` module on the quantised trie and ``ngramkit.kenlm`` on the
``.ngq``, ``score(line)`` per line; ngramkit's ``evaluate_files`` on the
``.ngq``). Each process: best wall and CPU (user + sys) of ``--repeat``
after one warm-up, peak RSS (bench_query's launcher). Scoring speed of a
whole process is ``tokens / (time - time on the 1-line text)``, wall and CPU;
the children report their own load and scoring times. The load average is
recorded at the start and the end (2 shared cores: CPU seconds are the
steadier figure). Every perplexity is checked before anything is written:
``.ngq`` against KenLM's quantised trie and ``.ngk`` against its plain trie
(1e-6 relative), the in-process children against their ``ppl`` (1e-4).

Usage::

    python benchmarks/bench_quantize.py [--repeat 3] [--sizes test,train5] [--kenlm-bin DIR]

Writes ``benchmarks/results/bench_quantize.json`` and prints it.
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

from ngramkit import modelio
from ngramkit.fileio import atomic_open

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# bench_query's launcher (wall, CPU and RSS of a whole process), its texts and its in-process children
from bench_query import (_EVALUATE_CHILD, _KENLM_LOOP_CHILD, _kenlm_bin, _query_ppl, _run_best,  # noqa: E402
                         make_texts)


def _timed(cmd) -> dict:
    """One run of ``cmd`` (a build): wall and CPU of the child."""
    t = time.perf_counter()
    before = os.times()
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    after = os.times()
    return {"wall_s": round(time.perf_counter() - t, 3),
            "cpu_s": round(after.children_user - before.children_user + after.children_system
                           - before.children_system, 3)}


def _speed(row: dict, floor: dict, tokens: int) -> dict:
    """Scoring tokens/s of a whole process: the text's tokens over its time less the 1-line text's."""
    out = {}
    for key in ("wall_s", "cpu_s"):
        spent = row[key] - floor[key]
        out[f"tokens_per_s_{key[:-2]}"] = round(tokens / spent) if spent > 0 else None
    return out


def run(repeat: int, sizes: list[str], kenlm_bin: Path | None) -> dict:
    ngk = shutil.which("ngramkit")
    ngk = [ngk] if ngk else [sys.executable, "-m", "ngramkit"]
    bin_dir = _kenlm_bin(kenlm_bin)
    if bin_dir is None:
        raise SystemExit("bench_quantize: KenLM's binaries not found (--kenlm-bin, shared/tools/build-kenlm.sh)")
    have_kenlm = subprocess.run([sys.executable, "-c", "import kenlm"], capture_output=True).returncode == 0
    result = {"benchmark": "bench_quantize", "model": "PTB train, order 5, mkn (ngramkit train ngram)",
              "repeat": repeat, "machine": platform.machine(), "python": platform.python_version(),
              "cpus": os.cpu_count(), "load_average_1min_start": round(os.getloadavg()[0], 2),
              "kenlm_bin": str(bin_dir),
              "kenlm_module": "installed" if have_kenlm else "not installed (pip install kenlm): column skipped"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"native": tmp / "ptb5.ngk", "arpa": tmp / "ptb5.arpa", "compact": tmp / "ptb5.ngq",
                 "kenlm_trie_q8": tmp / "ptb5.q8.trie", "kenlm_trie": tmp / "ptb5.trie"}
        subprocess.run([*ngk, "train", "ngram", "--corpus", "ptb", "--order", "5", "--smoothing", "mkn", "-q",
                        "-o", files["native"]], check=True, capture_output=True)
        subprocess.run([*ngk, "convert", files["native"], files["arpa"], "-q"], check=True, capture_output=True)
        build = bin_dir / "build_binary"
        result["build"] = {
            "compact": _timed([*ngk, "convert", files["arpa"], files["compact"], "--quantize", "8", "-q"]),
            "kenlm_trie_q8": _timed([build, "-q", "8", "-b", "8", "trie", files["arpa"], files["kenlm_trie_q8"]]),
            "kenlm_trie": _timed([build, "trie", files["arpa"], files["kenlm_trie"]]),
        }
        result["file_bytes"] = {key: path.stat().st_size for key, path in files.items()}
        sizes_per_order = modelio.read_metadata(files["compact"])["state"]["sizes"]
        info = json.loads(subprocess.run([*ngk, "ppl", "-q", "--json", "-m", files["compact"], "--corpus", "ptb",
                                          "--split", "test"], check=True, capture_output=True).stdout)
        texts = make_texts(tmp, sizes)
        runs, ppls_by_text = {}, {}
        for name, (path, note) in texts.items():
            row = {"note": note, "bytes": path.stat().st_size}
            ppls = {}
            for key, model in (("query_trie_q8", files["kenlm_trie_q8"]), ("query_trie", files["kenlm_trie"])):
                row[key], out = _run_best([bin_dir / "query", "-v", "summary", model], repeat, path)
                ppls[key] = _query_ppl(out)
            for key, model in (("ngramkit_ppl_compact", files["compact"]), ("ngramkit_ppl_native", files["native"])):
                row[key], out = _run_best([*ngk, "ppl", "-q", "--json", "-m", model, path], repeat)
                got = json.loads(out)
                row["tokens"] = got["tokens"]
                ppls[key] = got["ppl"]
            children = [("ngramkit_evaluate_files_compact", _EVALUATE_CHILD, files["compact"]),
                        ("ngramkit_kenlm_compact", _KENLM_LOOP_CHILD.format(module="ngramkit.kenlm"), files["compact"])]
            if have_kenlm:
                children.append(("kenlm_module_trie_q8", _KENLM_LOOP_CHILD.format(module="kenlm"),
                                 files["kenlm_trie_q8"]))
            for key, code, model in children:
                row[key], out = _run_best([sys.executable, "-c", code, model, path], repeat)
                phases = json.loads(out.strip().splitlines()[-1])
                row[key].update({k: round(v, 4) for k, v in phases.items() if k.endswith("_s")})
                if phases["tokens"] != row["tokens"]:
                    raise SystemExit(f"bench_quantize: {key} scored {phases['tokens']} tokens on {name}, "
                                     f"ngramkit ppl {row['tokens']}")
                ppls[key] = 10.0 ** (-phases["logprob10"] / phases["tokens"])
                if phases["score_s"] > 0:
                    row[key]["scoring_tokens_per_s"] = round(phases["tokens"] / phases["score_s"])
                    row[key]["scoring_tokens_per_cpu_s"] = round(phases["tokens"] / phases["score_cpu_s"])
            for ours, theirs, tol in (("ngramkit_ppl_compact", "query_trie_q8", 1e-6),
                                      ("ngramkit_ppl_native", "query_trie", 1e-6),
                                      ("ngramkit_evaluate_files_compact", "ngramkit_ppl_compact", 1e-4),
                                      ("ngramkit_kenlm_compact", "ngramkit_ppl_compact", 1e-4),
                                      ("kenlm_module_trie_q8", "query_trie_q8", 1e-4)):
                if ours in ppls and abs(ppls[ours] / ppls[theirs] - 1) > tol:
                    raise SystemExit(f"bench_quantize: {ours} perplexity {ppls[ours]} on {name} differs from "
                                     f"{theirs}'s {ppls[theirs]}")
            row["perplexity"] = ppls
            runs[name] = row
            ppls_by_text[name] = ppls
        result["texts"] = runs
    floor = runs["one_line"]
    speeds = {}
    for name, row in runs.items():
        if name == "one_line":
            continue
        speeds[name] = {key: _speed(row[key], floor[key], row["tokens"]) for key in
                        ("ngramkit_ppl_compact", "ngramkit_ppl_native", "query_trie_q8", "query_trie")}
    result["process_scoring_speed"] = speeds
    test = ppls_by_text.get("test")
    fb = result["file_bytes"]
    result["summary"] = {
        "ngrams": sizes_per_order, "ngrams_total": sum(sizes_per_order),
        "compact_bytes": fb["compact"], "kenlm_trie_q8_bytes": fb["kenlm_trie_q8"],
        "size_compact_over_kenlm_trie_q8": round(fb["compact"] / fb["kenlm_trie_q8"], 4),
        "size_compact_over_native": round(fb["compact"] / fb["native"], 4),
        "test_ppl_compact": info["ppl"],
    }
    if test:
        result["summary"].update({
            "test_ppl_native": test["ngramkit_ppl_native"], "test_ppl_kenlm_trie_q8": test["query_trie_q8"],
            "test_ppl_kenlm_trie": test["query_trie"],
            "test_ppl_change_compact": test["ngramkit_ppl_compact"] / test["ngramkit_ppl_native"] - 1,
            "test_ppl_change_kenlm_q8": test["query_trie_q8"] / test["query_trie"] - 1})
    big = "train5" if "train5" in speeds else next(iter(speeds), None)
    if big:
        s = speeds[big]
        result["summary"][f"process_speed_{big}"] = {
            "compact_over_kenlm_trie_q8_wall": round(s["ngramkit_ppl_compact"]["tokens_per_s_wall"]
                                                     / s["query_trie_q8"]["tokens_per_s_wall"], 2),
            "compact_over_kenlm_trie_q8_cpu": round(s["ngramkit_ppl_compact"]["tokens_per_s_cpu"]
                                                    / s["query_trie_q8"]["tokens_per_s_cpu"], 2),
            "compact_tokens_per_s_cpu": s["ngramkit_ppl_compact"]["tokens_per_s_cpu"],
            "kenlm_trie_q8_tokens_per_s_cpu": s["query_trie_q8"]["tokens_per_s_cpu"]}
        row = runs[big]
        if "kenlm_module_trie_q8" in row:
            result["summary"][f"module_loop_{big}"] = {
                "ngramkit_kenlm_compact_tokens_per_s": row["ngramkit_kenlm_compact"]["scoring_tokens_per_s"],
                "kenlm_module_trie_q8_tokens_per_s": row["kenlm_module_trie_q8"]["scoring_tokens_per_s"],
                "ngramkit_evaluate_files_compact_tokens_per_s":
                    row["ngramkit_evaluate_files_compact"]["scoring_tokens_per_s"]}
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per process (best reported), after a warm-up")
    ap.add_argument("--sizes", default="test,train5", help="texts besides the 1-line one: test, train5, 10M")
    ap.add_argument("--kenlm-bin", type=Path, default=None, help="folder of KenLM's query and build_binary")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_quantize.json")
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = sorted(set(sizes) - {"test", "train5", "10M"})
    if unknown:
        raise SystemExit(f"bench_quantize --sizes: unknown {', '.join(unknown)}; choose from test, train5, 10M")
    result = run(args.repeat, sizes, args.kenlm_bin)
    text = json.dumps(result, indent=1)
    with atomic_open(args.out, "w") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
