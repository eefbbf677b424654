"""How many threads the RNN's matrix products and C kernels may use.

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
from typing import Iterator

from .errors import NgramkitError

KERNEL_THREADS_VAR = "NGRAMKIT_THREADS"


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
