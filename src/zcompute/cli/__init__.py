"""The ``zcompute`` command line: the operator's front door.

Each command family lives in a private module that registers its commands on :data:`cli`;
:func:`main` maps zcompute's errors to exit codes so a user error never shows a traceback.
"""

from __future__ import annotations

from zcompute.cli._app import EXIT_CODES, cli, main

__all__ = ["EXIT_CODES", "cli", "main", "run"]


def run() -> None:
    """Console-script entry point."""
    import sys

    sys.exit(main())
