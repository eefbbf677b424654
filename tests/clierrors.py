"""The message of a failed command, for tests: click's usage lines are not messages.

Exit codes (README): 1 for a runtime or data error, 2 for a usage error (a bad
option value, a bad combination of options). A usage error is click's
format: ``Usage: ...`` and ``Try '... --help' for help.`` lines, a blank
line, then the one ``Error: ...`` line.
"""

from __future__ import annotations

import re

USAGE = re.compile(r"^(Usage: .*|Try '.*' for help\.|)$")


def error_line(result, code: int) -> str:
    """The one ``Error: ...`` line of a CliRunner ``result`` that exited with ``code`` (no traceback)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.strip().splitlines() if not (code == 2 and USAGE.match(line))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]
