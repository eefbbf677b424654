"""Out-of-core counting and estimation: corpora larger than memory, in a fixed memory budget.

The data flow is the in-memory one (text -> ids -> counts -> model -> ARPA /
native file), with every table kept as plain ``.npy`` files in a temporary
folder and processed in chunks that fit the budget:

- :mod:`.chunks`: reading memory-mapped arrays chunk by chunk without their
  pages staying resident (peak RSS stays within the budget).
"""
