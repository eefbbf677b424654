"""How many threads the RNN's matrix products and C kernels may use, and the worker threads of the writers.

Input: a thread count n >= 1. Effect, inside ``with limit_threads(n):``:
numpy's BLAS (OpenBLAS, MKL or BLIS, through threadpoolctl) runs on at most
n threads, and the C class-softmax kernel runs its two factors on two
threads only when n >= 2 (``NGRAMKIT_THREADS``). Both are restored on exit.

Why it matters: OpenBLAS threads wait by spinning. On a machine whose other
cores are busy, two BLAS threads fight the other work for a core and an RNN
epoch slows down instead of speeding up (measured in
``benchmarks/bench_rnn.py``; see README). ``n=None`` leaves both libraries
at their own defaults.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Iterable, Iterator, TypeVar

from .errors import NgramkitError

KERNEL_THREADS_VAR = "NGRAMKIT_THREADS"
T = TypeVar("T")


@contextlib.contextmanager
def limit_threads(n: int | None, *, blas: bool = True) -> Iterator[None]:
    """Run the body with at most ``n`` BLAS threads and ``n`` kernel threads (``None``: no limit).

    ``blas=False`` sets only the kernel threads: the BLAS limit (threadpoolctl) is then the caller's, with
    :func:`limit_blas_threads` when the work turns out to need BLAS (``ngramkit ppl`` on an RNN).
    """
    _check(n)
    if n is None:
        yield
        return
    previous = os.environ.get(KERNEL_THREADS_VAR)
    os.environ[KERNEL_THREADS_VAR] = str(n)  # the kernel reads it at every call
    try:
        with limit_blas_threads(n if blas else None):
            yield
    finally:
        if previous is None:
            os.environ.pop(KERNEL_THREADS_VAR, None)
        else:
            os.environ[KERNEL_THREADS_VAR] = previous


@contextlib.contextmanager
def limit_blas_threads(n: int | None) -> Iterator[None]:
    """Run the body with numpy's BLAS on at most ``n`` threads (``None``: unchanged), restored on exit."""
    _check(n)
    if n is None:
        yield
        return
    # Local: threadpoolctl inspects every loaded library; only work that runs BLAS products pays for it.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _check(n) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise NgramkitError(f"threads must be an integer >= 1, got {n!r}")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at most ``NGRAMKIT_THREADS`` when that is set to a
    positive integer: the bound of every pool of worker threads ngramkit starts."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    env = os.environ.get(KERNEL_THREADS_VAR, "").strip()
    if env.isdigit() and int(env) >= 1:
        cores = min(cores, int(env))
    return max(1, cores)


def ahead(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Yield ``items`` in order while a worker thread computes up to ``depth`` of them ahead.

    For a producer and a consumer that release the GIL (the ARPA writer: C
    formatting of the next chunks while the file write of this one runs).
    An exception in the producer is raised here at its place in the
    sequence; closing this generator early (an error or Ctrl-C in the
    consumer) stops the producer before it makes another item.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
        finally:
            if hasattr(source, "close"):  # a generator's own cleanup runs here, not whenever it is collected
                source.close()

    worker = threading.Thread(target=produce, name="ngramkit-ahead", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()
