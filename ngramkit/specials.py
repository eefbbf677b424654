"""The reserved tokens every ngramkit vocabulary starts with, and their ids.

Their own module so that the numpy-free query paths (:mod:`ngramkit.kenlm`
opening a native file, :mod:`ngramkit.fastppl`) can name them without
importing :mod:`ngramkit.vocab`, which imports numpy (about 60 ms of a
process that scores one sentence).
"""

UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIALS = (UNK, BOS, EOS, PAD)
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(4)
