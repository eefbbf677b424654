"""Out-of-core counting and estimation: corpora larger than memory, in a fixed memory budget.

The data flow is the in-memory one (text -> ids -> counts -> model -> ARPA /
native file), with every table kept as plain ``.npy`` files in a temporary
folder and processed in chunks that fit the budget:

- :mod:`.chunks`: reading memory-mapped arrays chunk by chunk without their
  pages staying resident (peak RSS stays within the budget).
- :mod:`.arrays`: bucketed lookup, gather and scatter-count, and streaming
  segment sums, on ``.npy`` files larger than memory.
- :mod:`.estimate`: every interpolated smoothing estimated chunk by chunk,
  identical to the in-memory fit (``model.fit(counts, memory=, workdir=)``).
- :mod:`.budget`: ``--memory`` values (``parse_memory``: ``"4G"``, ``"40%"``;
  default 40% of RAM) and ``TempSpace``, the per-run temp folder (removed on
  any exit, peak bytes tracked, a full disk as one line).
- :mod:`.runs`: sorted runs of n-gram counts on disk and their k-way merge
  (C, ``ngramkit._merge``) into ``ngrams<k>.npy`` / ``counts<k>.npy`` /
  ``parent<k>.npy``.
- :mod:`.count`: counting files in a budget (``count_files``): in memory when
  they fit, else blocks -> runs -> merge, the result memory-mapped.
"""
