"""Benchmark the RNN language model on PTB: speed (words/s) and perplexity, with peers side by side.

Input: PTB train/valid/test from the corpus registry (``NGRAMKIT_DATA``,
e.g. ``../shared/corpora``). Output: one JSON object on stdout, also
written to ``benchmarks/results/bench_rnn.json``; progress on stderr.

Sections (``--sections``, all by default):

- ``rnnlm``: tanh RNN, H=100, class softmax with 100 classes (the RNNLM
  toolkit's ``-hidden 100 -class 100`` setting), trained for up to
  ``--rnnlm-epochs`` epochs with the library trainer: words/s, validation
  perplexity per epoch, test perplexity of the best epoch, wall time.
  Targets (issue 5): >= 1.5 x RNNLM's 61,000 words/s, valid ppl <= 157.3
  within 13 epochs.
- ``numpy``: the two class-softmax configurations (the tanh RNN above,
  batch 20, and the 2-layer LSTM below with 100 classes) trained on the
  same segments with the C kernels and with the numpy reference
  (``NGRAMKIT_IMPL=numpy``); target C/numpy >= 10.
- ``rnn200``: tanh RNN, H=200, full softmax, batch 20, bptt 35: words/s of
  ngramkit and of PyTorch (CPU, same model, loss, clipping and optimiser,
  when ``torch`` is installed); optionally ``--rnn200-epochs`` of training
  with the ``ptb-rnn200`` preset (the same model with dropout 0.25, Adam,
  Mikolov's schedule) for the test perplexity (target <= 140).
- ``lstm``: 2-layer LSTM, H=200 (Zaremba et al.'s "small" recipe: SGD lr 1,
  clip 5, bptt 20, batch 20): words/s with the full and the class softmax
  and of PyTorch (full), the class/full speed ratio (frequency classes, and
  the exchange classes of ``--class-binning exchange``); optionally
  ``--lstm-epochs`` of training per softmax for the perplexities.

Speed is measured on the real training path (forward, backward, clipping,
update; Python loop over segments only) on the first ``--segments``
segments of the training stream, after one warm-up segment. Both the wall
clock and the process CPU time are reported: the machine is shared, and
words per CPU-second is what one quiet core would do (the BLAS and PyTorch
thread counts are set by ``--threads``, default 1, for both ngramkit and
PyTorch; the C class softmax uses a second thread unless ``NGRAMKIT_THREADS=1``,
recorded as ``kernel_threads_env``). The load average is recorded before and after.

Each speed figure also splits the CPU time of a step into its parts
(``cpu_s_by_part``: recurrent kernels, softmax kernel, clipping + update,
the rest), from which two measured bounds follow: ``class_vs_full_bound_cpu``
(the class/full ratio if the class softmax cost nothing: the rest of the
LSTM step alone caps it) and ``bound_cpu_if_c_kernels_free`` (the C/numpy
ratio if the C kernels cost nothing and the rest of the step stayed as it
is).

Run: ``NGRAMKIT_DATA=../shared/corpora python benchmarks/bench_rnn.py``
(``--quick`` for a fast smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="rnnlm,numpy,rnn200,lstm")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads")
    ap.add_argument("--segments", type=int, default=60, help="segments timed per speed measurement")
    ap.add_argument("--numpy-segments", type=int, default=4, help="segments timed with the numpy reference")
    ap.add_argument("--rnnlm-epochs", type=int, default=13)
    ap.add_argument("--rnnlm-batch", type=int, default=64)
    ap.add_argument("--rnnlm-bptt", type=int, default=35)
    ap.add_argument("--rnnlm-lr", type=float, default=0.003)
    ap.add_argument("--rnn200-epochs", type=int, default=0)
    ap.add_argument("--lstm-epochs", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: few segments, 1 epoch")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_rnn.json"))
    return ap.parse_args(argv)


ARGS = _args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy is imported

import numpy as np  # noqa: E402

from ngramkit import Stream, Vocabulary, corpora  # noqa: E402
from ngramkit.fileio import atomic_open  # noqa: E402
from ngramkit.progress import EpochProgress  # noqa: E402
from ngramkit.rnn import RNNLM, RNNConfig, TrainConfig, kernels, train  # noqa: E402
from ngramkit.rnn.presets import preset  # noqa: E402

RNNLM_WPS = 61_000  # Mikolov's RNNLM 0.4b, -hidden 100 -class 100, this kind of machine (issue 5)
RNNLM_VALID = 157.3
TORCH_RNN200_WPS = 8_100
TORCH_LSTM_WPS = 6_500


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_ptb():
    opts = corpora.get("ptb").text_options
    train_s = corpora.load_split("ptb", "train", opts)
    vocab = Vocabulary.build(train_s)
    streams = {"train": Stream.from_sentences(train_s, vocab)}
    for split in ("valid", "test"):
        streams[split] = Stream.from_sentences(corpora.load_split("ptb", split, opts), vocab)
    return vocab, streams


def prefix(stream, n):
    return Stream(stream.ids[:n], np.array([0, n], np.int64), stream.oov[:n], stream.vocab)


def new_model(vocab, stream, **kw):
    cfg = RNNConfig(vocab_size=len(vocab), **kw)
    return RNNLM.create(cfg, vocab, train_ids=stream.ids)


# the parts of a training step whose CPU time time_training reports separately: (module, attribute, label)
PARTS = (("kernels", "recurrent_forward", "recurrent"), ("kernels", "recurrent_backward", "recurrent"),
         ("kernels", "softmax_xent", "softmax"), ("kernels", "class_softmax_xent", "softmax"),
         ("train", "clip_factor", "clip_and_update"), ("train", "Optimizer.update", "clip_and_update"))


class PartTimer:
    """Accumulate the CPU seconds spent inside the functions of ``PARTS`` (patched while active)."""

    def __init__(self):
        self.modules = {"kernels": kernels, "train": sys.modules["ngramkit.rnn.train"]}  # (the package's `train`
        # attribute is the function, which shadows the submodule)
        self.seconds = {label: 0.0 for _, _, label in PARTS}
        self.saved = []

    def _wrap(self, fn, label):
        def timed(*a, **kw):
            c0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[label] += time.process_time() - c0
        return timed

    def __enter__(self):
        for mod, attr, label in PARTS:
            owner = self.modules[mod]
            if "." in attr:
                cls_name, attr = attr.split(".")
                owner = getattr(owner, cls_name)
            self.saved.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, self._wrap(getattr(owner, attr), label))
        return self

    def __exit__(self, *exc):
        for owner, attr, fn in reversed(self.saved):
            setattr(owner, attr, fn)
        self.saved.clear()


def time_training(vocab, streams, model_kw, train_kw, segments, impl="c"):
    """words/s (wall and CPU) of the library trainer over ``segments`` segments, after one warm-up segment.

    ``cpu_s_by_part`` splits the CPU time between the recurrent kernels, the
    softmax kernel, clipping + update and the rest (embedding, input
    projections, dropout, Python), measured in a second pass with the parts
    wrapped in timers (so the first pass's words/s carry no timer overhead).
    """
    old = os.environ.get("NGRAMKIT_IMPL")
    os.environ["NGRAMKIT_IMPL"] = impl
    try:
        b, t = train_kw["batch"], train_kw["bptt"]
        model = new_model(vocab, streams["train"], **model_kw)
        cfg = TrainConfig(**{**train_kw, "epochs": 1, "schedule": "none", "patience": 0})
        train(model, prefix(streams["train"], b * t + 1), None, cfg)  # warm-up
        n = segments * b * t + 1
        c0, w0 = time.process_time(), time.perf_counter()
        result = train(model, prefix(streams["train"], n), None, cfg)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        words = result.history[0]["tokens"]
        model2 = new_model(vocab, streams["train"], **model_kw)
        train(model2, prefix(streams["train"], b * t + 1), None, cfg)  # warm-up, as for the first pass
        with PartTimer() as parts:
            c1 = time.process_time()
            train(model2, prefix(streams["train"], n), None, cfg)
            cpu2 = time.process_time() - c1
        by_part = {k: round(v, 3) for k, v in parts.seconds.items()}
        by_part["other"] = round(cpu2 - sum(parts.seconds.values()), 3)
        return {"impl": impl, "segments": segments, "words": words, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                "words_per_s": round(words / wall), "words_per_cpu_s": round(words / cpu),
                "train_ppl": round(result.history[0]["train_ppl"], 1), "cpu_s_by_part": by_part}
    finally:
        if old is None:
            os.environ.pop("NGRAMKIT_IMPL", None)
        else:
            os.environ["NGRAMKIT_IMPL"] = old


def time_kernels(vocab, streams, model_kw, batch, bptt, segments, impl):
    """CPU seconds per word of forward_backward alone (no update) over ``segments`` segments."""
    from ngramkit.rnn.train import partition

    old = os.environ.get("NGRAMKIT_IMPL")
    os.environ["NGRAMKIT_IMPL"] = impl
    try:
        model = new_model(vocab, streams["train"], **model_kw)
        x, y = partition(model.kernel_ids(streams["train"].ids), int(model.to_kernel[2]), batch)
        state = model.initial_state(batch)
        model.forward_backward(x[:bptt], y[:bptt], state, scale=1 / batch)
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(1, segments + 1):
            _, _, state = model.forward_backward(x[i * bptt:(i + 1) * bptt], y[i * bptt:(i + 1) * bptt], state,
                                                 scale=1 / batch)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        words = segments * batch * bptt
        return {"impl": impl, "segments": segments, "words_per_s": round(words / wall),
                "words_per_cpu_s": round(words / cpu)}
    finally:
        if old is None:
            os.environ.pop("NGRAMKIT_IMPL", None)
        else:
            os.environ["NGRAMKIT_IMPL"] = old


def full_run(vocab, streams, model_kw, train_kw, label):
    """Train with validation (schedule, early stopping) and report per-epoch numbers and the test ppl."""
    model = new_model(vocab, streams["train"], **model_kw)
    log(f"[{label}] {model!r}; {TrainConfig(**train_kw)}")
    w0, c0 = time.perf_counter(), time.process_time()
    result = train(model, streams["train"], streams["valid"], TrainConfig(**train_kw), progress=EpochProgress())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    test_ppl = float(np.exp(-result.model.log_probs(streams["test"]).mean()))
    train_s = sum(e["seconds"] for e in result.history)
    words = sum(e["tokens"] for e in result.history)
    return {
        "model": model_kw, "train": TrainConfig(**train_kw).to_dict(), "params": model.n_params,
        "epochs_run": len(result.history), "stop_reason": result.stop_reason,
        "valid_ppl_per_epoch": [round(e["valid_ppl"], 2) for e in result.history],
        "train_ppl_per_epoch": [round(e["train_ppl"], 2) for e in result.history],
        "lr_per_epoch": [e["lr"] for e in result.history],
        "epoch_seconds": [round(e["seconds"], 1) for e in result.history],
        "best_valid_ppl": round(result.best_valid_ppl, 2), "test_ppl": round(test_ppl, 2),
        "words_per_s": round(words / train_s), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "words_per_cpu_s_incl_validation": round(words / cpu),
    }


# ---- PyTorch peer -------------------------------------------------------------------------------
def torch_speed(vocab, streams, cell, hidden, layers, batch, bptt, optimizer, lr, segments, threads):
    """words/s of the same model in PyTorch (full softmax, same loss scale, clipping, optimiser)."""
    try:
        import torch
    except ImportError:
        return {"available": False}
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    v = len(vocab)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(v, hidden)
            rnn_cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
            self.rnn = rnn_cls(hidden, hidden, layers)
            self.out = torch.nn.Linear(hidden, v)
            for p in self.parameters():
                torch.nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, state):
            h, state = self.rnn(self.emb(x), state)
            return self.out(h), state

    from ngramkit.rnn.train import partition

    model = LM()
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    x, y = partition(streams["train"].ids, 2, batch)
    x, y = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    state = None
    lossf = torch.nn.CrossEntropyLoss(reduction="sum")
    nll, words = 0.0, 0

    def step(i):
        nonlocal state, nll, words
        xs, ys = x[i * bptt:(i + 1) * bptt], y[i * bptt:(i + 1) * bptt]
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits, state = model(xs, state)
        loss = lossf(logits.reshape(-1, v), ys.reshape(-1)) / batch
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        nll += float(loss) * batch
        words += xs.numel()

    step(0)
    nll, words = 0.0, 0
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(1, segments + 1):
        step(i)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"available": True, "version": torch.__version__, "threads": threads, "segments": segments,
            "words": words, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "words_per_s": round(words / wall),
            "words_per_cpu_s": round(words / cpu), "train_ppl": round(float(np.exp(nll / words)), 1)}


def softmax_free_bound(full):
    """Upper bound on any class/full speed ratio: the full-softmax step's CPU time over the same step
    with the softmax kernel costing nothing (from the timed parts of ``full``)."""
    parts = full["cpu_s_by_part"]
    total = sum(parts.values())
    return round(total / (total - parts["softmax"]), 2)


def kernels_free_bound(c, ref):
    """Upper bound on the C/numpy training speed ratio: the numpy path's CPU time per word over that of
    the C path with its recurrent and softmax kernels costing nothing (update, clipping, embedding and
    input projections left)."""
    cp, rp = c["cpu_s_by_part"], ref["cpu_s_by_part"]
    c_rest = (cp["clip_and_update"] + cp["other"]) / c["words"]
    return round(sum(rp.values()) / ref["words"] / c_rest, 2)


def ratio(a, b):
    return None if not a or not b else round(a / b, 2)


# the "small" LSTM (Zaremba et al. 2014) with the class softmax, and its training recipe (speed runs: no schedule)
LSTM_CLASS = dict(cell="lstm", hidden=200, layers=2, softmax="class", classes=100)
LSTM_TRAIN = dict(batch=20, bptt=20, optimizer="sgd", lr=1.0, clip=5.0)


def main():
    args = ARGS
    if args.quick:
        args.segments, args.numpy_segments = 8, 2
        args.rnnlm_epochs = min(args.rnnlm_epochs, 1)
    sections = set(args.sections.split(","))
    out = {"benchmark": "bench_rnn", "kernel_impl": kernels.implementation(), "threads": args.threads,
           "kernel_threads_env": os.environ.get("NGRAMKIT_THREADS"), "cpus": os.cpu_count(),
           "load_avg_before": list(os.getloadavg()), "segments": args.segments,
           "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t_start = time.perf_counter()
    log("loading PTB ...")
    vocab, streams = load_ptb()
    out["tokens"] = {k: s.n_tokens for k, s in streams.items()}
    out["vocab_size"] = len(vocab)
    r100 = dict(cell="rnn", hidden=100, softmax="class", classes=100)
    r100_train = dict(batch=args.rnnlm_batch, bptt=args.rnnlm_bptt, optimizer="adam", lr=args.rnnlm_lr, clip=5.0)

    if "rnnlm" in sections:
        speed = time_training(vocab, streams, r100, r100_train, args.segments)
        run = full_run(vocab, streams, r100, {**r100_train, "epochs": args.rnnlm_epochs, "schedule": "mikolov"},
                       "rnnlm") if args.rnnlm_epochs else None
        out["rnnlm_h100_class100"] = {
            "speed": speed, "run": run, "rnnlm_toolkit_words_per_s": RNNLM_WPS,
            "speed_ratio_vs_rnnlm_wall": ratio(speed["words_per_s"], RNNLM_WPS),
            "speed_ratio_vs_rnnlm_cpu": ratio(speed["words_per_cpu_s"], RNNLM_WPS),
            "target": "speed >= 1.5x RNNLM (91,500 words/s); valid ppl <= 157.3 within 13 epochs",
            "valid_ok": None if run is None else run["best_valid_ppl"] <= RNNLM_VALID and run["epochs_run"] <= 13,
        }
        log(json.dumps(out["rnnlm_h100_class100"]))

    if "numpy" in sections:
        configs = [  # (key, description, model, training): both class-softmax configurations of the issue
            ("c_vs_numpy_class_softmax", "tanh RNN H=100, class softmax 100 classes, batch 20, bptt 35, Adam",
             r100, {**r100_train, "batch": 20, "bptt": 35}),
            ("c_vs_numpy_lstm_class", "2-layer LSTM H=200, class softmax 100 classes, batch 20, bptt 20, SGD",
             LSTM_CLASS, LSTM_TRAIN)]
        for key, description, m_kw, t_kw in configs:
            c = time_training(vocab, streams, m_kw, t_kw, args.segments)
            ref = time_training(vocab, streams, m_kw, t_kw, args.numpy_segments, impl="numpy")
            kc = time_kernels(vocab, streams, m_kw, t_kw["batch"], t_kw["bptt"], args.segments, "c")
            kn = time_kernels(vocab, streams, m_kw, t_kw["batch"], t_kw["bptt"], args.numpy_segments, "numpy")
            out[key] = {
                "config": description,
                "training": {"c": c, "numpy": ref, "ratio_wall": ratio(c["words_per_s"], ref["words_per_s"]),
                             "ratio_cpu": ratio(c["words_per_cpu_s"], ref["words_per_cpu_s"])},
                "bound_cpu_if_c_kernels_free": kernels_free_bound(c, ref),
                "forward_backward_only": {"c": kc, "numpy": kn,
                                          "ratio_wall": ratio(kc["words_per_s"], kn["words_per_s"]),
                                          "ratio_cpu": ratio(kc["words_per_cpu_s"], kn["words_per_cpu_s"])},
                "target": ">= 10x"}
            log(json.dumps(out[key]))

    if "rnn200" in sections:
        m_kw = dict(cell="rnn", hidden=200, softmax="full")
        t_kw = dict(batch=20, bptt=35, optimizer="adam", lr=0.002, clip=5.0)
        ours = time_training(vocab, streams, m_kw, t_kw, args.segments)
        peer = torch_speed(vocab, streams, "rnn", 200, 1, 20, 35, "adam", 0.002, args.segments, args.threads)
        run_model, run_train = preset("ptb-rnn200")  # the same model with dropout 0.25: the perplexity recipe
        run = full_run(vocab, streams, run_model, {**run_train, "epochs": args.rnn200_epochs},
                       "rnn200") if args.rnn200_epochs else None
        out["rnn_h200_full"] = {"ngramkit": ours, "pytorch": peer, "run": run,
                                "ratio_vs_pytorch_wall": ratio(ours["words_per_s"], peer.get("words_per_s")),
                                "ratio_vs_pytorch_cpu": ratio(ours["words_per_cpu_s"], peer.get("words_per_cpu_s")),
                                "issue_pytorch_words_per_s": TORCH_RNN200_WPS,
                                "target": ">= PyTorch-CPU words/s; test ppl <= 140"}
        log(json.dumps(out["rnn_h200_full"]))

    if "lstm" in sections:
        t_kw = LSTM_TRAIN
        res = {}
        variants = {"full": dict(LSTM_CLASS, softmax="full"), "class": LSTM_CLASS,
                    "class_exchange": dict(LSTM_CLASS, class_binning="exchange")}
        for name, m_kw in variants.items():
            res[name] = time_training(vocab, streams, m_kw, t_kw, args.segments)
            if args.lstm_epochs and name != "class_exchange":
                res[name + "_run"] = full_run(vocab, streams, m_kw,
                                              {**t_kw, "epochs": args.lstm_epochs, "schedule": "step",
                                               "decay_after": 4, "lr_decay": 0.5, "patience": 0},
                                              f"lstm-{name}")
        peer = torch_speed(vocab, streams, "lstm", 200, 2, 20, 20, "sgd", 1.0, args.segments, args.threads)
        res.update({"pytorch_full": peer,
                    "full_vs_pytorch_wall": ratio(res["full"]["words_per_s"], peer.get("words_per_s")),
                    "full_vs_pytorch_cpu": ratio(res["full"]["words_per_cpu_s"], peer.get("words_per_cpu_s")),
                    "class_vs_full_wall": ratio(res["class"]["words_per_s"], res["full"]["words_per_s"]),
                    "class_vs_full_cpu": ratio(res["class"]["words_per_cpu_s"], res["full"]["words_per_cpu_s"]),
                    "class_exchange_vs_full_wall": ratio(res["class_exchange"]["words_per_s"],
                                                         res["full"]["words_per_s"]),
                    "class_vs_full_bound_cpu": softmax_free_bound(res["full"]),
                    "issue_pytorch_words_per_s": TORCH_LSTM_WPS,
                    "target": "test ppl <= 112 in 13 epochs; full >= PyTorch words/s; class >= 4x full, "
                              "ppl within 3% of full"})
        out["lstm2_h200_small"] = res
        log(json.dumps(res))

    out["load_avg_after"] = list(os.getloadavg())
    out["total_wall_s"] = round(time.perf_counter() - t_start, 1)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
