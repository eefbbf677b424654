"""Exceptions raised by ngramkit.

Every error a user can cause is an :class:`NgramkitError` (also a
``ValueError``), whose message is one line naming the file/option, the
problem and, where possible, the fix. The CLI prints that line and exits 1,
except for a :class:`ParameterError` (a bad argument value): that is a usage
error, reported under the command-line option's name with exit code 2.
"""



class NgramkitError(ValueError):
    """A user-facing error: bad input, bad option, bad file."""


class ParameterError(NgramkitError):
    """A bad value of one parameter (a keyword argument or config field), e.g. ``k=nan``.

    ``param`` is the parameter's name in the library (``"k"``,
    ``"init_scale"``) and ``problem`` what is wrong with its value
    (``"must be a positive number, got nan"``); the message is both.
    The CLI maps ``param`` to the option the user typed (``--k``,
    ``--init-scale``) and reports a usage error (exit 2).

    >>> str(ParameterError("k", "must be a positive number, got nan"))
    'k must be a positive number, got nan'
    """

    def __init__(self, param: str, problem: str):
        self.param = param
        self.problem = problem
        super().__init__(f"{param} {problem}")


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
        import signal  # here, not at import: its enums are start-up time of every command

        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.name}")
