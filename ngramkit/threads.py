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
def limit_threads(n: int | None) -> Iterator[None]:
    """Run the body with at most ``n`` BLAS threads and ``n`` kernel threads (``None``: no limit)."""
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NgramkitError(f"threads must be an integer >= 1, got {n!r}")
    from threadpoolctl import threadpool_limits

    previous = os.environ.get(KERNEL_THREADS_VAR)
    os.environ[KERNEL_THREADS_VAR] = str(n)  # the kernel reads it at every call
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        if previous is None:
            os.environ.pop(KERNEL_THREADS_VAR, None)
        else:
            os.environ[KERNEL_THREADS_VAR] = previous
