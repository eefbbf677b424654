"""How tests start ngramkit as a real process: the installed ``ngramkit`` console script.

Not ``python -m ngramkit.cli.main``: run from the repository's root (pytest's
working directory), that puts the source tree first on ``sys.path``, and its
``ngramkit/`` has no ``ngramkit.cli`` (installed from ``cli/``) and, after a
regular (non-editable) install, no compiled kernels either. The console
script's own folder comes first instead, so it always runs the installed
package. Tests that must use ``-m`` run it with ``cwd`` set to a scratch folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("ngramkit")
NGRAMKIT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ngramkit.cli.main"]
