"""Collect finished `ngramkit train rnn` runs on PTB into one JSON: per-epoch figures and valid/test perplexity.

Input: one or more ``NAME=MODEL:LOG`` arguments (a model file written by
``ngramkit train rnn -o MODEL --log LOG``), PTB from the corpus registry
(``NGRAMKIT_DATA``). Output: a JSON object on stdout, also written to
``--out``: for each run its model and training configuration, valid
perplexity, words/s and seconds per epoch (from the log), the best epoch,
and the valid and test perplexities of the written model recomputed here
(each split scored as one continuous stream, as ``ngramkit ppl`` does).
``--command NAME=TEXT`` records how a run was started.

The long training runs are started from the command line (each takes
minutes to tens of minutes per epoch), so their words/s depend on what else
ran at the time; ``bench_rnn.py`` measures speed on a quiet machine.

Run: ``NGRAMKIT_DATA=../shared/corpora python benchmarks/collect_rnn_runs.py
lstm=lstm.ngk:lstm.log.json --out benchmarks/results/bench_rnn_runs_session5.json``
(one file per session: ``bench_rnn_runs.json``, ``bench_rnn_runs_session3.json``
and ``_session4.json`` hold the earlier ones; see ``results/README.md``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ngramkit import Stream, corpora
from ngramkit.fileio import atomic_open
from ngramkit.modelio import load_model


def _pairs(items, what):
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            sys.exit(f"collect_rnn_runs: {what} {item!r} is not NAME=VALUE")
        out[name] = value
    return out


@functools.lru_cache(maxsize=None)
def _sentences(split):
    return corpora.load_split("ptb", split, corpora.get("ptb").text_options)  # read once for all runs


def ppl(model, split):
    sentences = _sentences(split)
    logp = model.log_probs(Stream.from_sentences(sentences, model.vocab))
    return float(math.exp(-np.mean(logp)))


def collect(model_path, log_path):
    log = json.loads(Path(log_path).read_text())
    epochs = log["epochs"]
    best = min(epochs, key=lambda e: e["valid_ppl"])
    model = load_model(model_path)
    return {
        "model": log["model"], "train": log["train"], "stop_reason": log.get("stop_reason", ""),
        "epochs_run": len(epochs), "best_epoch": best["epoch"],
        "valid_ppl_per_epoch": [round(e["valid_ppl"], 2) for e in epochs],
        "train_ppl_per_epoch": [round(e["train_ppl"], 2) for e in epochs],
        "lr_per_epoch": [e["lr"] for e in epochs],
        "words_per_s_per_epoch": [round(e["words_per_second"]) for e in epochs],
        "train_seconds": round(sum(e["seconds"] for e in epochs), 1),
        "valid_ppl": round(ppl(model, "valid"), 2), "test_ppl": round(ppl(model, "test"), 2),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="NAME=MODEL:LOG")
    ap.add_argument("--command", action="append", default=[], help="NAME=the command that started the run")
    ap.add_argument("--note", default="", help="free text stored in the JSON (machine load, ...)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    commands = _pairs(args.command, "--command")
    out = {"benchmark": "collect_rnn_runs", "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "note": args.note, "runs": {}}
    for name, value in _pairs(args.runs, "run").items():
        model_path, sep, log_path = value.partition(":")
        if not sep:
            sys.exit(f"collect_rnn_runs: run {name!r} is not NAME=MODEL:LOG")
        out["runs"][name] = {"command": commands.get(name, ""), **collect(model_path, log_path)}
        print(f"{name}: valid {out['runs'][name]['valid_ppl']}, test {out['runs'][name]['test_ppl']}",
              file=sys.stderr, flush=True)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        with atomic_open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
