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
"""
