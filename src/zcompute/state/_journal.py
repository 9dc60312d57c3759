"""The swap journal of an attached volume: both host connections while a swap is unsettled.

A volume whose guest disk moves onto another volume (a swap) may have a host connection (an FC
LUN the host connected), and the new one may get one. Until the swap settles, both are kept in
the volume's journal, with the source each belongs to; settling keeps the connection of the
volume the guest uses as the volume's recorded connection and disconnects the other one
(:mod:`zcompute.driver._swapconnect`). So no connection is forgotten, whatever interrupts it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zcompute.errors import NotFound
from zcompute.state import _codec as codec

__all__ = ["SwapJournalRecords"]


class SwapJournalRecords:
    """The journal part of :class:`~zcompute.state.StateDB` (one column of a volume's row)."""

    if TYPE_CHECKING:  # StateDB's

        def transaction(self) -> contextlib.AbstractContextManager[Any]: ...
        def _rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]: ...
        def _execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor: ...

    def set_swap_journal(self, uuid: str, target: str, journal: Mapping[str, Any] | None) -> None:
        """Record (None: forget) the journal of a swap of the volume attached as ``target``."""
        value = None if journal is None else json.dumps(dict(journal))
        with self.transaction():
            updated = self._execute(
                "UPDATE attachments SET swap_journal = ? WHERE instance_uuid = ? AND kind = ?"
                " AND target = ?",
                (value, uuid, codec.VOLUME, target),
            ).rowcount
            if updated == 0:
                raise NotFound("volume", f"{target} of instance {uuid}")

    def swap_journals(self, uuid: str) -> dict[str, dict[str, Any]]:
        """target -> journal, for the instance's volumes with an unsettled swap."""
        rows = self._rows(
            "SELECT target, swap_journal FROM attachments WHERE instance_uuid = ? AND kind = ?"
            " AND swap_journal IS NOT NULL",
            (uuid, codec.VOLUME),
        )
        return {str(row[0]): json.loads(row[1]) for row in rows}

    def settle_volume_connection(
        self, uuid: str, target: str, connection: Mapping[str, Any] | None
    ) -> None:
        """Make ``connection`` (None: no connection) the recorded connection of volume
        ``target``, the journal kept (the caller forgets it once the other one is gone)."""
        value = None if connection is None else json.dumps(dict(connection))
        with self.transaction():
            updated = self._execute(
                "UPDATE attachments SET connection = ? WHERE instance_uuid = ? AND kind = ?"
                " AND target = ?",
                (value, uuid, codec.VOLUME, target),
            ).rowcount
            if updated == 0:
                raise NotFound("volume", f"{target} of instance {uuid}")
