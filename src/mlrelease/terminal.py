"""The rich console every table is printed on.

On a terminal rich sizes tables to it and uses colour. Elsewhere (CI logs, pipes, files) it would
assume 80 columns and cut the cells of wide tables to "…"; there a log line may be long, so the
width is 160 (or $COLUMNS when set) and there is no colour.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPE_WIDTH = 160


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, no_color=True)
