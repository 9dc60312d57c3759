"""Option types that refuse bad values while the command line is parsed (exit code 2).

``SECONDS``: every option that takes seconds (``--timeout``, ``--linger``). click's ``float``
accepts ``nan``, ``inf`` and negative numbers; a wait for NaN seconds never ends.

:class:`RegularFile`: a file zcompute reads whole (an image, a kernel). A FIFO or a device
would make the read block or never end, so only a regular file is accepted; the store checks
again when it opens the file (the path may change in between).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from zcompute.errors import InvalidInput
from zcompute.images import file_kind
from zcompute.model import TIMEOUT_RULE, validate_timeout

__all__ = ["SECONDS", "RegularFile", "Seconds"]


class Seconds(click.ParamType[float, Any]):
    """A number of seconds from 0 to :data:`zcompute.model.MAX_TIMEOUT`."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = value if isinstance(value, int | float) else float(value)
            return validate_timeout(number)
        except (ValueError, InvalidInput):  # InvalidInput is a ValueError too; both: say why
            self.fail(f"{value!r} is not a number of {TIMEOUT_RULE}", param, ctx)


SECONDS = Seconds()


class RegularFile(click.Path):
    """An existing regular file (no directory, FIFO, socket or device); resolved to a Path."""

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False, resolve_path=True, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            self.fail(f"{value!r} is {file_kind(mode)}, not a regular file", param, ctx)
        return path
