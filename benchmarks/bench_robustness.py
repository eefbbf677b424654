"""A longer robustness run: bad inputs, signals and fuzzed files, counted per class of outcome.

Drives, round after round until ``--minutes`` have passed (at least one round):

- every case of the bad-input table of ``tests/robustness/test_bad_inputs.py``
  (imported: bad files x commands, bad options/outputs, real-process cases),
  in-process as the test does (real processes for the subprocess cases);
- signals at several points (``tests/robustness/test_signals.py``'s helpers:
  SIGINT/SIGTERM at start-up, while counting and while writing ``count``;
  SIGTERM while ``train ngram`` writes);
- ``--fuzz N`` fuzzed inputs of each kind per round (native mkn / mle / rnn
  model files, counts files, gzipped ARPA, random bytes/Unicode as text),
  with the mutators and oracles of ``tests/robustness/test_fuzz.py``, in a
  worker subprocess so that a crash (a signal) or a hang (no answer within
  ``--timeout`` s) is seen and counted instead of stopping the run.

Outcomes per input: ``clean_error`` (the one-line error the table or oracle
expects), ``ok`` (valid input handled right: loads equal, counts equal),
``traceback`` (an uncaught exception), ``crash`` (killed by a signal),
``hang`` (timeout), ``wrong_message`` (no traceback, but exit code / line
count / named file not as the table says; xfail cases of the table are
counted apart under ``known_xfail``), ``temp_files_left``, and
``invalid_accepted`` (a mutated file loaded as something else, text counted
differently from the naive Counter, or an invalid text accepted).

Usage: nice python benchmarks/bench_robustness.py [--minutes 10] [--fuzz 300] [--timeout 60]
Writes benchmarks/results/bench_robustness.json (overall and per class) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "robustness")]
os.environ.setdefault("NGRAMKIT_DATA", str(REPO.parent / "shared" / "corpora"))
os.environ.setdefault("MPLBACKEND", "Agg")

OUTCOMES = ("ok", "clean_error", "traceback", "crash", "hang", "wrong_message", "known_xfail", "temp_files_left",
            "invalid_accepted")
FUZZ_KINDS = ("mkn", "mle", "rnn", "counts", "arpa.gz", "text")
RESULT = REPO / "benchmarks" / "results" / "bench_robustness.json"


# ---- fuzzing, in a worker process ---------------------------------------------------------------------

def random_edits(rng: random.Random):
    import test_fuzz as tf

    edits = []
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["flip", "flip", "truncate", "insert", "overwrite", "field", "field"])
        pos = rng.randrange(1 << 20)
        if op == "flip":
            edits.append((op, pos, rng.randrange(8)))
        elif op == "truncate":
            edits.append((op, pos))
        elif op in ("insert", "overwrite"):
            edits.append((op, pos, bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))))
        else:
            edits.append((op, pos, rng.choice(tf.FIELD_VALUES) if rng.random() < 0.6 else rng.randrange(1 << 32)))
    return edits


def random_text(rng: random.Random) -> bytes:
    import test_fuzz as tf

    r = rng.random()
    if r < 0.35:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    chars = []
    for _ in range(rng.randint(0, 80)):
        if rng.random() < 0.5:
            chars.append(rng.choice(tf._ODD))
        else:
            c = rng.randrange(0x110000)
            chars.append(chr(c) if not 0xD800 <= c < 0xE000 else "x")
    data = "".join(chars).encode("utf-8")
    if r > 0.9 and data:  # a few undecodable bytes in otherwise valid text
        i = rng.randrange(len(data))
        data = data[:i] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xE2])]) + data[i:]
    return data


def worker(kind: str, seed: int, count: int) -> None:
    """Fuzz ``count`` inputs of ``kind``; one JSON line per input on stdout (flushed before the next starts)."""
    import test_fuzz as tf

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(count):
            print(json.dumps({"start": i}), flush=True)
            try:
                if kind == "text":
                    data = random_text(rng)
                    if data.startswith(tf._MAGICS):
                        data = b" " + data
                    got = tf.check_text(data, rng.random() < 0.5, rng.randint(1, 64), folder)
                else:
                    data = tf.mutate(tf.originals()[kind][0], random_edits(rng))
                    got = tf.check_mutated(kind, data, folder)
                outcome = "ok" if got in ("same", "counted") else "clean_error"
                detail = ""
            except AssertionError as exc:
                outcome, detail = "invalid_accepted", str(exc).splitlines()[0][:300] if str(exc) else "assert"
            except Exception as exc:  # noqa: BLE001 - anything else is a traceback the user would see
                outcome = "traceback"
                detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            if list(folder.glob("*.tmp")) or list(folder.glob(".*.tmp")):
                outcome = "temp_files_left"
            print(json.dumps({"done": i, "outcome": outcome, "detail": detail,
                              "input": data[:64].hex() if outcome not in ("ok", "clean_error") else ""}),
                  flush=True)


def run_fuzz(kind: str, seed: int, count: int, timeout: float, tally, examples) -> None:
    """Run the worker; a death by signal is a crash of the input under way, silence for ``timeout`` s a hang."""
    done = 0
    while done < count:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", kind, str(seed + done), str(count - done)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        current = None
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            if not ready:
                proc.kill()
                proc.wait()
                tally[kind]["hang"] += 1
                examples[kind].append({"outcome": "hang", "seed": seed + done, "index": current})
                done += 1 if current is None else current + 1
                break
            line = proc.stdout.readline()
            if not line:
                rc = proc.wait()
                if rc < 0 or (rc != 0 and current is not None):
                    tally[kind]["crash"] += 1
                    examples[kind].append({"outcome": "crash", "returncode": rc, "seed": seed + done,
                                           "stderr": proc.stderr.read()[-500:]})
                    done += 1 if current is None else current + 1
                else:
                    done = count
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg["start"]
                continue
            tally[kind][msg["outcome"]] += 1
            tally[kind]["tried"] += 1
            if msg["outcome"] not in ("ok", "clean_error") and len(examples[kind]) < 20:
                examples[kind].append(msg)
            current = None
        else:
            continue
        if proc.poll() is None:
            proc.kill()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()


# ---- the bad-input table and signals, in this process --------------------------------------------------

class _Factory:
    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        path = self.root / f"{name}{self.n}"
        path.mkdir()
        return path


def table_cases():
    """(class, id, kind, argv, code, needle, xfail, impl) for every case of test_bad_inputs' table."""
    import test_bad_inputs as tb

    for param in tb._cases():
        argv, names, code, needle = param.values
        yield ("bad-file", param.id, "file", argv, code, needle, False, names["bad"])
    for case_id, argv, code, needle, marks in tb.OPTION_CASES:
        yield ("bad-option-or-output", case_id, "option", argv, code, needle, bool(marks), None)
    for case_id, argv, impl, code, needle, marks in tb.SUBPROCESS_CASES:
        yield ("real-process", case_id, "process", argv, code, needle, bool(marks), impl)


def run_table_case(case, inputs: Path, root: Path) -> tuple[str, str]:
    """The outcome of one case; a case the table marks xfail is "known_xfail" whatever goes wrong in it
    (the detail says what: a traceback, a folder left...), and "wrong_message" once it passes (strict)."""
    outcome, detail = _table_case(case, inputs, root)
    if case[6]:  # xfail(strict) in test_bad_inputs
        if outcome == "clean_error":
            return "wrong_message", "an xfail(strict) case of the table now passes: drop its mark"
        return "known_xfail", f"{outcome}: {detail}"
    return outcome, detail


def _table_case(case, inputs: Path, root: Path) -> tuple[str, str]:
    import test_bad_inputs as tb

    cls, case_id, kind, argv, code, needle, xfail, extra = case
    out = Path(tempfile.mkdtemp(dir=root))
    (out / "prev.ngk").write_bytes(tb.OLD)
    (out / "prev.ngc").write_bytes(tb.OLD)
    before = sorted(p.name for p in out.iterdir())
    try:
        if kind == "process":
            env = dict(os.environ)
            if extra is not None:
                env["NGRAMKIT_IMPL"] = extra
            with open("/dev/full", "w") as full:
                proc = subprocess.run([sys.executable, "-m", "ngramkit.cli.main", *tb._fill(argv, inputs, out)],
                                      stdout=full if extra is None else subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      env=env, timeout=300)
            rc, stderr = proc.returncode, proc.stderr.decode("utf-8", "replace")
            if rc < 0:
                return "crash", f"signal {-rc}"
        else:
            rc, stderr = tb.run_in_process(tb._fill(argv, inputs, out, extra if kind == "file" else None))
    except subprocess.TimeoutExpired:
        return "hang", ""
    except Exception as exc:  # noqa: BLE001
        return "traceback", f"{type(exc).__name__}: {str(exc)[:200]}"
    if "Traceback" in stderr:
        return "traceback", stderr.strip().splitlines()[-1][:200]
    if list(out.rglob("*.tmp")) or sorted(p.name for p in out.iterdir()) != before:
        return "temp_files_left", str(sorted(p.name for p in out.iterdir()))
    try:
        tb.check(rc, stderr, code, needle.format(out=out), out, before)
    except AssertionError as exc:
        return "wrong_message", str(exc).splitlines()[0][:200]
    return "clean_error", ""


SIGNAL_CASES = [("count", "start-up", "SIGINT"), ("count", "start-up", "SIGTERM"), ("count", "counting", "SIGINT"),
                ("count", "counting", "SIGTERM"), ("count", "writing", "SIGINT"), ("count", "writing", "SIGTERM"),
                ("train-ngram", "writing", "SIGTERM"), ("train-ngram", "writing", "SIGINT")]


def run_signal_case(case, root: Path) -> tuple[str, str]:
    import test_signals as ts

    cmd, when, name = case
    sig = getattr(signal, name)
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "out.ngk").write_bytes(ts.OLD)
    (folder / "out.ngc").write_bytes(ts.OLD)
    before = {p.name for p in folder.iterdir()}
    args = ts.COUNT if cmd == "count" else ["train", "ngram", "--corpus", "ptb", "--order", "3", "-o", "out.ngk"]
    try:
        rc, lines = ts.run_and_signal(args, folder, sig, when)
    except BaseException as exc:  # noqa: BLE001 - pytest.fail: the process ended before the point was reached
        return "missed", f"{type(exc).__name__}: {str(exc)[:200]}"
    text = "\n".join(lines)
    if rc is not None and rc < 0:
        return "crash", f"signal {-rc}"
    if "Traceback" in text or "KeyboardInterrupt" in text:
        return "traceback", text[-300:]
    if list(folder.rglob("*.tmp")):
        return "temp_files_left", str([p.name for p in folder.rglob("*.tmp")])
    try:
        ts.check_clean_interrupt(rc, lines, sig, folder, before)
    except AssertionError as exc:
        return "wrong_message", str(exc).splitlines()[0][:200]
    return "clean_error", ""


# ---- the driver -------------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="keep running rounds until this much wall time")
    ap.add_argument("--fuzz", type=int, default=300, help="fuzzed inputs of each kind per round")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds without an answer that count as a hang")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--no-table", action="store_true", help="skip the bad-input table")
    ap.add_argument("--no-signals", action="store_true", help="skip the signal cases")
    ap.add_argument("--output", type=Path, default=RESULT)
    args = ap.parse_args()

    import test_bad_inputs as tb

    tally: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list] = defaultdict(list)
    start = time.monotonic()
    rounds = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs = None
        if not args.no_table:
            fixture = getattr(tb.inputs, "__wrapped__", tb.inputs)
            inputs = fixture(_Factory(root), Path(os.environ["NGRAMKIT_DATA"]))
        while rounds == 0 or time.monotonic() - start < args.minutes * 60:
            seed = args.seed * 1_000_003 + rounds * 10_007
            for i, kind in enumerate(FUZZ_KINDS):
                run_fuzz(kind, seed + i * 100_000, args.fuzz, args.timeout, tally, examples)
            if not args.no_table:
                for case in table_cases():
                    outcome, detail = run_table_case(case, inputs, root)
                    tally[case[0]][outcome] += 1
                    tally[case[0]]["tried"] += 1
                    if outcome not in ("ok", "clean_error", "known_xfail") and len(examples[case[0]]) < 20:
                        examples[case[0]].append({"case": case[1], "outcome": outcome, "detail": detail})
                    if outcome == "known_xfail" and rounds == 0:
                        examples["known_xfail"].append({"case": case[1], "detail": detail[:300]})
            if not args.no_signals:
                for case in SIGNAL_CASES:
                    outcome, detail = run_signal_case(case, root)
                    cls = "signals"
                    tally[cls][outcome] += 1
                    tally[cls]["tried"] += 1
                    if outcome not in ("clean_error",) and len(examples[cls]) < 20:
                        examples[cls].append({"case": "/".join(case), "outcome": outcome, "detail": detail})
            rounds += 1
            print(f"round {rounds} done at {time.monotonic() - start:.0f} s: "
                  f"{sum(t['tried'] for t in tally.values())} inputs", file=sys.stderr, flush=True)
    overall = Counter()
    for counts in tally.values():
        overall.update(counts)
    fields = ("tried", *OUTCOMES, "missed")
    report = {
        "benchmark": "bench_robustness",
        "args": {"minutes": args.minutes, "fuzz_per_kind_per_round": args.fuzz, "timeout_s": args.timeout,
                 "seed": args.seed},
        "rounds": rounds,
        "wall_seconds": round(time.monotonic() - start, 1),
        "overall": {f: overall.get(f, 0) for f in fields},
        "per_class": {cls: {f: counts.get(f, 0) for f in fields} for cls, counts in sorted(tally.items())},
        "examples": dict(examples),
        "notes": "tried = inputs run; ok = valid input handled right (mutated file loaded equal, text counted "
                 "equal to a naive Counter); clean_error = the one-line error expected; known_xfail = a case "
                 "test_bad_inputs marks xfail(strict) (its fix is in a command module under work elsewhere), whatever "
                 "its failure (see examples.known_xfail: tracebacks and leftovers among them); "
                 "missed = a signal case whose process ended before the signal point (not an input tried).",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("rounds", "wall_seconds", "overall", "per_class")}, indent=1))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(2)
