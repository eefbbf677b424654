"""Counting files in a fixed memory budget: blocks counted in memory, sorted runs on disk, a k-way merge.

Input: text files (paths), an order, text options, and a memory budget in
bytes (:func:`~.budget.parse_memory`) with a :class:`~.budget.TempSpace`.
Output: ``(NGramCounts, CountStats)``, the counts IDENTICAL to the in-memory
``NGramCounts.from_stream(Stream.from_files(...))`` (the same vocabulary and
arrays, rows, counts and parents).

How (:func:`count_files`):

1. If the whole input is estimated to fit in the budget (file sizes times
   :func:`bytes_per_input_byte`, plus the memory already in use), the ordinary
   in-memory path runs and its NGramCounts is returned (``spilled`` False).
2. Otherwise two passes over the files in blocks (:func:`ngramkit.scan.scan_blocks`,
   blocks ending at line ends): pass 1 sums word frequencies into the
   vocabulary, exactly as the in-memory path builds it (skipped when a
   vocabulary is given); pass 2 maps each block to ids and counts it with the
   C engine (``NGramCounts.from_stream``), block size chosen so that one
   block's tables fit in what is left of the budget, and writes its sorted
   tables as one run per order (:mod:`.runs`). Two blocks are counted at once
   on two threads where two cores are free (:func:`count_threads`; the C
   kernels release the GIL), each block half as large, so the budget holds.
   The runs are summed by the merge, so the order of the blocks does not
   change the counts. N-grams never cross sentences
   and blocks end at line ends, so the sum of the blocks' counts is the
   count of the whole.
3. The runs of each order are merged in C into ``ngrams<k>.npy``,
   ``counts<k>.npy``, ``parent<k>.npy`` in the temp folder; the NGramCounts
   returned maps them (``np.load(..., mmap_mode="r")``).

Not out of core (the in-memory path, whatever the budget): stdin (``-``, it
cannot be read twice), text options the C scanner does not handle
(:func:`ngramkit.scan.fast_options`), ``sentences=False`` (one stream), and
no ``_count`` kernel. Compressed files are decompressed whole by the block
reader (:func:`ngramkit.scan.file_blocks`), so they cost their
decompressed size once.
"""

from __future__ import annotations

import os
import resource
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import counts as counts_module  # a module reference: ngramkit.counts imports this module too
from .. import native
from ..errors import InputError
from ..scan import assemble, fast_options, scan_blocks, source_size
from ..stream import Stream
from ..text import TextOptions
from ..threads import usable_cores
from ..vocab import Vocabulary
from .budget import TempSpace
from .runs import merge_runs, write_runs

MIN_BLOCK = 256 << 10  # bytes of text per block at the least (a budget below what the vocabulary and the
# interpreter already hold gets these: over the budget rather than thousands of tiny runs)
MAX_BLOCK = 1 << 30
PASS1_BLOCK = 4 << 20  # pass 1 (word frequencies) gains nothing from larger blocks
MAX_COUNT_THREADS = 2  # blocks counted at once at most (measured on 2 cores: count -o 5 of 100M tokens, see
# count_threads); each thread's block is 1/threads of what one thread would take, so more threads mean more runs


def count_threads() -> int:
    """Blocks counted at once: :func:`~ngramkit.threads.usable_cores`, at most :data:`MAX_COUNT_THREADS`."""
    return min(MAX_COUNT_THREADS, usable_cores())


def bytes_per_input_byte(order: int) -> int:
    """Peak bytes of memory the in-memory path needs per byte of text, for counting orders 1..order.

    Measured: PTB train (5.1 MB) order 3 peaks 64 MB and order 5 180 MB above
    the interpreter's baseline (13 and 35 bytes per byte); this is an upper
    estimate (8 per order + 8).
    """
    return 8 * order + 8


def bytes_per_type(order: int) -> int:
    """Bytes per vocabulary type that counting one block needs whatever its size (tables indexed by word id).

    Measured: a 740K-type corpus at order 5 needs ~42 MB per block beyond its
    size term (~11 bytes per type and order).
    """
    return 12 * order


def current_rss() -> int:
    """Resident bytes of this process now (/proc/self/statm), or the peak so far where that is missing."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """Peak resident bytes of this process so far (ru_maxrss, KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class CountStats:
    """How a count ran: ``spilled`` (runs were written), blocks/runs, temp bytes at the peak, the budget."""

    memory: int  # the budget, bytes
    spilled: bool = False
    blocks: int = 0  # blocks counted (pass 2)
    runs: int = 0  # runs written per order
    block_bytes: int = 0  # the text per block
    temp_peak: int = 0  # bytes of temp disk at the peak
    files: dict = field(default_factory=dict)  # final .npy files (name -> path), while the temp folder lives

    def to_dict(self) -> dict:
        return {"memory_budget": self.memory, "spilled": self.spilled, "blocks": self.blocks, "runs": self.runs,
                "block_bytes": self.block_bytes, "temp_peak_bytes": self.temp_peak}


def out_of_core_possible(sources, options: TextOptions) -> bool:
    """Whether these inputs can be counted in blocks (see the module docstring for what cannot)."""
    return (native.extension("_count") is not None and fast_options(options) and options.sentences
            and all(str(s) != "-" for s in sources))


def in_blocks(sources, order: int, options: TextOptions, memory: int) -> bool:
    """Whether :func:`count_files` counts these inputs in blocks: they can be, and are not estimated to fit."""
    if not out_of_core_possible(sources, options):
        return False
    total = sum(source_size(s) for s in sources)
    return current_rss() + total * bytes_per_input_byte(order) > memory


def count_files(sources, order: int, *, options: TextOptions = TextOptions(), vocab: Vocabulary | None = None,
                min_count: int = 1, max_size: int | None = None, memory: int, space: TempSpace,
                progress=None, block_bytes: int | None = None, force: bool = False, threads: int | None = None):
    """Count ``sources`` in the budget ``memory`` (bytes), spilling to ``space``; ``(NGramCounts, CountStats)``.

    The arrays of a spilled result map files in ``space``: use them before
    the space is closed (or see :func:`unlink_files`). ``force`` counts in
    blocks even if the input would fit (when :func:`in_blocks` allows it);
    ``block_bytes`` forces that and the block size (tests; None: from the
    budget). ``threads``: blocks counted at once (None: :func:`count_threads`). ``progress(event)``
    is called with dicts: ``{"stage": "vocabulary" | "counting", "done":
    bytes, "total": bytes}`` per block, ``{"stage": "run", "run": i,
    "temp": bytes}`` per run written, ``{"stage": "merging", "done": k,
    "total": order}`` per order merged.
    """
    NGramCounts = counts_module.NGramCounts
    order = counts_module.check_order(order)
    sources = [os.fspath(s) if isinstance(s, os.PathLike) else s for s in sources]
    if not sources:
        raise InputError("no input files given")
    stats = CountStats(memory=int(memory))
    total_bytes = sum(source_size(s) for s in sources)
    if not (force or block_bytes is not None or in_blocks(sources, order, options, memory)):
        stream = Stream.from_files(sources, options, vocab=vocab, min_count=min_count, max_size=max_size)
        counts = NGramCounts.from_stream(stream, order)
        stats.blocks = 1
        return counts, stats
    if not out_of_core_possible(sources, options):
        raise InputError("counting in blocks needs files (not stdin), the C kernels and the default whitespace "
                         "tokenizer with utf-8 text")
    k = native.extension("_count")

    def report(**event):
        if progress is not None:
            progress(event)

    def block_size(per_byte: int, fixed: int = 0, cap: int = MAX_BLOCK) -> int:
        if block_bytes is not None:
            return max(1, int(block_bytes))
        return int(min(cap, max(MIN_BLOCK, (memory - current_rss() - fixed) // per_byte)))

    if vocab is None:  # pass 1: word frequencies, block by block (the in-memory path's vocabulary)
        freq: dict[str, int] = {}
        lower = options.normalize == "lower"
        done = 0
        size = block_size(16, cap=PASS1_BLOCK)  # the scan holds ~9 bytes per byte of text
        for source in sources:
            for scan in scan_blocks(k, source, options, size):
                for w, c in zip(scan.words, scan.counts.tolist()):
                    w = w.lower() if lower else w
                    freq[w] = freq.get(w, 0) + c
                done += int(scan.nbytes)
                report(stage="vocabulary", done=done, total=total_bytes)
                del scan
        vocab = Vocabulary.from_counter(freq, min_count=min_count, max_size=max_size)
        del freq
    threads = count_threads() if threads is None else max(1, int(threads))
    per_byte = bytes_per_input_byte(order)
    size = block_size(per_byte * threads, bytes_per_type(order) * len(vocab) * threads)
    stats.block_bytes = size
    runs_by_order: list[list[Path]] = [[] for _ in range(order)]
    totals = [0, 0]  # sentences, tokens

    def count_block(box: list, name: str):
        stream = Stream(*assemble(k, [box.pop()], options, vocab))  # the scan freed once assembled
        part = NGramCounts.from_stream(stream, order, keys=False)  # a run holds rows and counts, no keys
        sizes = (stream.n_sentences, stream.n_tokens)
        del stream
        return write_runs(space, part, name), sizes

    def collect(future, done: int) -> None:
        paths, (sentences, tokens) = future.result()
        for j, path in enumerate(paths):
            runs_by_order[j].append(path)
        totals[0] += sentences
        totals[1] += tokens
        stats.runs += 1
        report(stage="counting", done=done, total=total_bytes, run=stats.runs, temp=space.used)

    # pass 2: count every block, write it as one sorted run per order; with two threads, the next block is
    # read and scanned while the one before is counted, and at most `threads` blocks are held at once
    pool = ThreadPoolExecutor(threads, thread_name_prefix="ngramkit-count") if threads > 1 else None
    pending: deque = deque()  # (future, bytes read when it was submitted)
    done = 0
    try:
        for source in sources:
            for scan in scan_blocks(k, source, options, size):
                done += int(scan.nbytes)
                if scan.ids.size == 0:
                    continue
                name = f"block{stats.blocks}"
                stats.blocks += 1
                box = [scan]
                del scan
                if pool is None:
                    collect(_Done(count_block(box, name)), done)
                    continue
                pending.append((pool.submit(count_block, box, name), done))
                del box
                while len(pending) >= threads:
                    collect(*pending.popleft())
        while pending:
            collect(*pending.popleft())
    finally:
        if pool is not None:  # on an error or a signal: the blocks in flight end before the temp folder goes
            pool.shutdown(wait=True, cancel_futures=True)
    n_sentences, n_tokens = totals
    stats.spilled = True
    available = max(0, memory - current_rss())
    stats.files = merge_runs(space, runs_by_order, available,
                             progress=lambda j: report(stage="merging", done=j, total=order))
    stats.temp_peak = space.peak
    arrays = {name: load_array(path) for name, path in stats.files.items()}
    counts = NGramCounts(vocab, [arrays[f"ngrams{j}"] for j in range(1, order + 1)],
                         [arrays[f"counts{j}"] for j in range(1, order + 1)],
                         [arrays[f"parent{j}"] for j in range(1, order + 1)],
                         n_sentences=n_sentences, n_tokens=n_tokens)
    return counts, stats


class _Done:
    """A finished result in the shape of a future (the one-thread path of :func:`count_files`)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def load_array(path) -> np.ndarray:
    """A final ``.npy`` file memory-mapped read-only (read, when empty: an empty file cannot be mapped)."""
    arr = np.load(path, mmap_mode="r")
    return np.load(path) if arr.size == 0 else arr


def unlink_files(stats: CountStats, space: TempSpace) -> None:
    """Delete the final files of a spilled count while its arrays stay mapped (POSIX keeps the data until unmapped).

    For a caller that returns the counts past the life of the temp folder
    (``NGramCounts.from_file``): the disk space is freed when the arrays are
    garbage-collected.
    """
    for path in stats.files.values():
        space.remove(path)
    stats.files = {}
