"""The ``ngramkit`` console script: ``ngramkit ppl --model M FILE...`` on a fast path, everything else via click.

The plain perplexity command (:mod:`ngramkit.fastppl` says which invocations
qualify) runs without importing click or numpy: about the start-up cost of
Python itself plus the C scoring. Any other command line, and any input the
fast path declines, goes to the click program (:mod:`ngramkit.cli.main`),
which gives the same output and the same errors.

Signals: until a command runs, SIGINT/SIGTERM print one line and exit at once
(130/143): nothing has been written (the fast path writes only once it has
its result). :mod:`ngramkit.cli.main` installs the same handlers.
"""

from __future__ import annotations

import _signal  # the C module: `signal` defines its constants as enums, whose import is start-up time
import gc
import os
import sys

_NAMES = {_signal.SIGINT: "SIGINT", _signal.SIGTERM: "SIGTERM"}
_SIGNALS = tuple(_NAMES)


def _message(signum: int) -> str:
    return f"Interrupted by {_NAMES[signum]}; nothing was written."


def _exit_at_startup(signum, frame):
    """Start-up handler: no file is open yet, so leave at once, without a traceback."""
    for sig in _SIGNALS:
        _signal.signal(sig, _signal.SIG_IGN)
    os.write(2, (_message(signum) + "\n").encode())
    os._exit(128 + signum)


def install_startup_handlers() -> None:
    for sig in _SIGNALS:
        _signal.signal(sig, _exit_at_startup)


def main():
    install_startup_handlers()
    args = sys.argv[1:]
    if args[:1] == ["ppl"]:
        gc.disable()  # a short run that allocates few cycles: no collections while it imports and reads the model
        from ngramkit import fastppl

        code = fastppl.run(args[1:])
        if code is not None:
            # Done: everything is written (os.write), no file is open for writing, nothing is registered to
            # run at exit; leave without the interpreter's teardown (a final collection of every module).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        gc.enable()
    from ngramkit.cli.main import main as click_main

    click_main()


if __name__ == "__main__":
    main()
