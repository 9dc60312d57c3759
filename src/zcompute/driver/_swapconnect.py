"""Swap onto a Cinder volume zcompute connects itself: the new volume by its ``connection_info``.

The guest's disk moves under it as in any swap (:mod:`._volumeswap`: a block copy, then a
pivot); what differs is how the new volume is made ready, the way attach makes it ready
(:mod:`._volumeconnect`):

* **iSCSI**: QEMU logs in itself, so the copy's destination is a network disk. The new
  volume's libvirt secrets (CHAP password, LUKS passphrase) are defined for the instance
  first; once the guest uses the new volume, the old one's secrets are removed.
* **Fibre Channel**: the host connects the new LUN and the copy's destination is its block
  device. The connection is journaled with the old volume's (if it had one) before the guest
  can switch over; the swap settles the journal: the connection of the volume the guest uses
  stays recorded, the other one is disconnected.

Interrupted at any step (an error, SIGTERM, kill -9), the swap converges by the record: the
failed operation's undo, or recovery after a kill, runs :func:`~._volumeswap.settle_swap`:

==================================  ===========================================================
cut short after                     the next command
==================================  ===========================================================
the FC connect, before its journal  nothing records the LUN: it stays connected on the host
                                    (the same window an FC attach has); an error or SIGTERM
                                    disconnects it
the journal / the secrets           no copy: the new LUN is disconnected, its secrets removed
the copy's start, in sync           the copy aborted; then as above (the guest keeps the old)
the pivot, the definition           definition and record follow the live disk; the old
                                    LUN disconnected, the old secrets removed
the record, the settle              the same: each step of the settle may run again
==================================  ===========================================================

Detach and destroy disconnect both connections of a journal that did not settle, and
``zcompute repair`` settles it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute._faults import fault_point
from zcompute.arch import get_profile
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._operations import Operation, Operations
from zcompute.driver._secrets import define_secrets
from zcompute.driver._state import ACTIVE
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import connect_fc, journal_swap, prepare_iscsi
from zcompute.driver._volumeswap import (
    DEFAULT_SWAP_TIMEOUT,
    SWAP_VERB,
    VolumeChangeOps,
    in_place_of,
    settle_swap,
)
from zcompute.errors import Conflict, InvalidInput
from zcompute.model import BlockDeviceSpec, Task, validate_timeout
from zcompute.volumes import (
    FC_VOLUME_TYPE,
    ISCSI,
    VolumeConnection,
    VolumeEncryption,
    parse_connection_info,
)

__all__ = ["SwapConnectionOps"]

_TRANSPORTS = {ISCSI: "attach-volume-iscsi", FC_VOLUME_TYPE: "attach-volume-fc"}


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class SwapConnectionOps:
    """``swap_volume_connection`` of :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, ops: Operations, changes: VolumeChangeOps) -> None:
        self._ctx = ctx
        self._ops = ops
        self._changes = changes

    def swap_volume_connection(
        self,
        name_or_uuid: str,
        target: str,
        connection_info: Mapping[str, Any],
        *,
        encryption: VolumeEncryption | None = None,
        timeout: float = DEFAULT_SWAP_TIMEOUT,
        root: Path = Path("/"),
        host_arch: str | None = None,
        connector_options: Mapping[str, Any] | None = None,
    ) -> BlockDeviceSpec:
        """Move volume ``target`` of a running guest onto the Cinder volume
        ``connection_info`` describes (see the module docs); returns it as recorded."""
        validate_timeout(timeout)
        volume = VolumeConnection(connection_info, encryption)  # each error names its field
        with self._ops.run(name_or_uuid, Task.SWAPPING_VOLUME, ACTIVE, SWAP_VERB) as op:
            # the transport too, as attach asks for it (an arch may lack one)
            get_profile(op.instance.arch).require(_TRANSPORTS[str(volume.kind)])
            old = self._changes.settled_volume(op, target)
            op.touched.append(("disk", target))
            with UndoStack(guard=self._ctx.hv.when_back) as undo:
                # whatever is made below, the record decides what stays (module docs)
                settle = functools.partial(settle_swap, self._ctx, op.uuid, target)
                undo.push("settle the swap", settle)
                if volume.kind == ISCSI:
                    new = self._iscsi(op, old, volume)
                else:
                    new = self._fc(op, old, volume, root, host_arch, connector_options)
                fc = volume.kind == FC_VOLUME_TYPE
                return self._changes.switch_over(op, old, new, timeout, journaled=fc)

    def _iscsi(
        self, op: Operation, old: BlockDeviceSpec, volume: VolumeConnection
    ) -> BlockDeviceSpec:
        """The network disk in ``old``'s place, its secrets defined for the instance."""
        prepared = prepare_iscsi(self._ctx, volume.connection_info, volume.encryption, False)
        source = prepared.source
        assert source.network is not None  # prepare_iscsi makes a network disk
        if source.readonly and not old.readonly:
            raise InvalidInput(
                "connection_info.data.access_mode",
                f"the new volume is read-only, {old.target} of {op.name} is written",
                ["rw"],
            )
        spec = in_place_of(old, source.network, (source.serial or old.serial or "")[:20] or None)
        # the new volume's LUKS passphrase, if it has one (QEMU writes through its LUKS layer)
        spec = dataclasses.replace(spec, encryption_secret=source.encryption_secret)
        new = self._changes.check_new(op, old, self._ctx.checked_volume(spec))
        define_secrets(self._ctx, op.uuid, prepared.secrets)
        fault_point("volume_swap.secrets_defined")
        return new

    def _fc(
        self,
        op: Operation,
        old: BlockDeviceSpec,
        volume: VolumeConnection,
        root: Path,
        host_arch: str | None,
        options: Mapping[str, Any] | None,
    ) -> BlockDeviceSpec:
        """The new LUN connected on the host, journaled with ``old``'s connection."""
        info = volume.connection_info
        volume_id = parse_connection_info(info).volume_id
        for target, record in self._ctx.db.volume_connections(op.uuid).items():
            if parse_connection_info(record["connection_info"]).volume_id == volume_id:
                raise Conflict(f"volume {volume_id} is attached to {op.name} as {target}")
        in_use = self._changes.disk_sources(op.uuid)
        with UndoStack(guard=self._ctx.hv.when_back) as connecting:
            prepared = connect_fc(
                self._ctx, info, connecting, root=root, host_arch=host_arch,
                connector_options=options,
            )  # fmt: skip
            device = Path(prepared.source.path)
            if {str(device), str(device.resolve())} & in_use:
                connecting.forget()  # a LUN the guest has already: nothing here is new
                raise Conflict(f"{device} is already attached to instance {op.name}")
            serial = (prepared.source.serial or old.serial or "")[:20] or None
            spec = dataclasses.replace(in_place_of(old, device, serial), encryption_secret=None)
            new = self._changes.check_new(op, old, self._ctx.checked_volume(spec))
            assert prepared.connection is not None  # connect_fc records its connection
            journal_swap(self._ctx, op.uuid, old, str(new.source), prepared.connection)
        fault_point("volume_swap.connected")
        return new
