"""Exceptions raised by ngramkit.

Every error a user can cause is an :class:`NgramkitError` (also a
``ValueError``), whose message is one line naming the file/option, the
problem and, where possible, the fix. The CLI prints that line and exits 1.
"""


class NgramkitError(ValueError):
    """A user-facing error: bad input, bad option, bad file."""


class InputError(NgramkitError):
    """A text or model file cannot be read (missing, binary, undecodable, malformed)."""


class CorpusError(NgramkitError):
    """A registry corpus is unknown, missing, or failed to download/verify."""
