"""Exceptions raised by ngramkit.

Every error a user can cause is an :class:`NgramkitError` (also a
``ValueError``), whose message is one line naming the file/option, the
problem and, where possible, the fix. The CLI prints that line and exits 1.
"""

import signal


class NgramkitError(ValueError):
    """A user-facing error: bad input, bad option, bad file."""


class InputError(NgramkitError):
    """A text or model file cannot be read (missing, binary, undecodable, malformed)."""


class CorpusError(NgramkitError):
    """A registry corpus is unknown, missing, or failed to download/verify."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (see :func:`ngramkit.fileio.unwind_on_signals`).

    A ``KeyboardInterrupt``, so both signals unwind the stack the way Ctrl-C
    does and every atomic write removes its temporary file. ``exit_code`` is
    the shell's convention, 128 + the signal number (130 for SIGINT, 143 for
    SIGTERM).
    """

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.name}")
