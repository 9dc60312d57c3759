"""iSCSI volumes: QEMU's own initiator, CHAP and LUKS secrets in libvirt, undone with the disk.

QEMU logs in to the target itself, so the host runs no initiator and nothing is connected on
it: attaching is defining the volume's libvirt secrets (the CHAP password, a LUKS passphrase)
and attaching a network disk that refers to them; the record of the disk names the secrets,
so detach, destroy, recovery and repair remove them (:mod:`._secrets`). Both steps run in the
one attach operation: a failure (a refused CHAP login, a full bus) removes the secrets again,
and an attach cut short by a kill is undone by recovery like any other.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devices import DeviceOps
from zcompute.driver._operations import Operation
from zcompute.driver._secrets import define_secrets, remove_secrets, secrets_of_volume
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import prepare_iscsi
from zcompute.errors import NotFound
from zcompute.model import BlockDeviceSpec, Instance
from zcompute.volumes import VolumeEncryption, iscsi_initiator_name

__all__ = ["IscsiVolumeOps"]


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class IscsiVolumeOps:
    """iSCSI attach for :class:`~zcompute.driver.ComputeDriver` (detach is the plain one,
    which removes the secrets a recorded volume names)."""

    def __init__(self, ctx: DriverContext, devices: DeviceOps) -> None:
        self._ctx = ctx
        self._devices = devices

    def initiator_name(self) -> str:
        return iscsi_initiator_name(self._ctx.config.data_dir)

    def attach_iscsi_volume(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = None,
        bus: str | None = None,
        shareable: bool = False,
        encryption: VolumeEncryption | None = None,
        tag: str | None = None,
    ) -> BlockDeviceSpec:
        """Attach Cinder's iSCSI volume as a network disk (see the module docs)."""
        prepared = prepare_iscsi(self._ctx, connection_info, encryption, shareable)
        secrets, source = prepared.secrets, prepared.source

        def prepare(op: Operation) -> None:
            define_secrets(self._ctx, op.uuid, secrets)
            fault_point("iscsi_attach.secrets_defined")

        inst = self._ctx.db.get_instance(name_or_uuid)
        with UndoStack(guard=self._ctx.hv.when_back) as undo:
            uuids = [s.uuid for s in secrets]
            undo.push("remove the volume's secrets", functools.partial(self._forget, inst, uuids))
            return self._devices.attach_volume(
                inst.uuid, source, target=target, bus=bus, prepare=prepare, tag=tag
            )

    def _forget(self, inst: Instance, uuids: list[str]) -> None:
        """After a failed attach: remove its secrets unless the volume got recorded after all
        (a failure after the record keeps the volume, and so its secrets)."""
        with self._ctx.locks.hold(inst.name, inst.uuid):
            try:
                current = self._ctx.db.get_instance(inst.uuid)
            except NotFound:
                recorded: set[str] = set()  # the instance is gone: so is every use
            else:
                recorded = {u for b in current.block_devices for u in secrets_of_volume(b)}
            remove_secrets(self._ctx, [u for u in uuids if u not in recorded])
