"""Cinder volumes in Nova's terms: the host's connector, attach and detach, at boot too.

Nova hands a driver each volume as Cinder's ``connection_info`` (``fibre_channel`` or
``iscsi``); zcompute's driver connects it (an FC LUN through the host's HBAs, an iSCSI LUN
through QEMU's own initiator, a CHAP password in a libvirt secret) and records it with the
guest. An encrypted volume's passphrase comes from Nova's key manager as Nova's libvirt driver
takes it (the hex of the key) and goes to zcompute's driver, which keeps it in a libvirt
secret only. A multiattach volume becomes a shareable disk. The tag of a volume's block device
mapping goes with it into the guest's device metadata. A root volume (boot index 0) is not
attached after the spawn but given to it: zcompute connects it before the guest is defined.
"""

from __future__ import annotations

import binascii
import logging
import platform
import sys
from collections.abc import Mapping
from typing import Any

from nova.virt import driver

from zcompute.errors import NotFound
from zcompute.nova._base import AdapterBase
from zcompute.nova._conf import CONF
from zcompute.nova._devicemeta import mapped_volumes, save_device_metadata
from zcompute.nova._devnames import short_name
from zcompute.nova._errors import nova_errors
from zcompute.volumes import (
    ISCSI,
    VolumeConnection,
    VolumeEncryption,
    VolumeSecrets,
    parse_iscsi_connection_info,
)

__all__ = [
    "VolumeMethods",
    "is_root",
    "migrating_image",
    "root_mapping",
    "volume_encryption",
    "volume_image_properties",
    "volume_secrets",
]

LOG = logging.getLogger(__name__)


class VolumeMethods(AdapterBase):
    """get_volume_connector, attach_volume and detach_volume; the volumes a spawn is given."""

    def get_volume_connector(self, instance: Any) -> dict[str, Any]:
        with nova_errors("-"):
            ports = self.zc.volume_connector()
        connector: dict[str, Any] = {
            "ip": CONF.my_ip,
            "host": self._host,
            "multipath": False,
            "platform": platform.machine(),
            "os_type": sys.platform,
            "initiator": ports.iscsi_initiator,
        }
        if ports.fc_wwpns:
            connector["wwpns"] = list(ports.fc_wwpns)
            connector["wwnns"] = list(ports.fc_wwnns)
        return connector

    def attach_volume(
        self,
        context: Any,
        connection_info: Any,
        instance: Any,
        mountpoint: str,
        disk_bus: Any = None,
        device_type: Any = None,
        encryption: Any = None,
    ) -> None:
        with self._guest(instance) as uuid:
            self._attach(context, uuid, connection_info, mountpoint, encryption)
            save_device_metadata(context, instance, self.zc.device_metadata(uuid))

    def detach_volume(
        self,
        context: Any,
        connection_info: Any,
        instance: Any,
        mountpoint: str,
        encryption: Any = None,
    ) -> None:
        if not self._owns(instance.uuid):
            # the guest is gone, and its disks with it (a volume-backed rebuild destroys the
            # guest before detaching its root volume, as with Nova's libvirt driver)
            LOG.warning("volume %s: instance %s is gone already", mountpoint, instance.uuid)
            return
        with self._guest(instance) as uuid:
            try:
                self.zc.detach_volume(uuid, short_name(mountpoint))
            except NotFound:
                # Nova retries a detach whose first try it lost track of: gone is done
                LOG.warning("volume %s of instance %s is not attached", mountpoint, uuid)
        # Nova's compute manager drops the volume's device metadata itself after a detach

    def attach_boot_volumes(self, context: Any, uuid: str, block_device_info: Any) -> None:
        """The data volumes Nova gives a spawn (``block_device_mapping``), attached in order
        (the root volume is the spawn's own: :meth:`boot_volume`)."""
        for bdm in driver.block_device_info_get_mapping(block_device_info or {}):
            if not is_root(bdm):
                self._attach(context, uuid, bdm["connection_info"], bdm["mount_device"], None)

    def boot_volume(self, context: Any, uuid: str, bdm: Mapping[str, Any]) -> VolumeConnection:
        """The root volume of a spawn, as zcompute's driver connects it."""
        info = bdm["connection_info"]
        data = info.get("data") or {}
        mapped = mapped_volumes(context, uuid).get(short_name(bdm["mount_device"]))
        return VolumeConnection(
            info,
            encryption=volume_encryption(context, info, None),
            tag=mapped.tag if mapped else None,
            shareable=bool(info.get("multiattach") or data.get("multiattach")),
        )

    def _attach(
        self,
        context: Any,
        uuid: str,
        connection_info: Mapping[str, Any],
        mountpoint: str,
        encryption: Any,
    ) -> None:
        target = short_name(mountpoint)
        data = connection_info.get("data") or {}
        mapped = mapped_volumes(context, uuid).get(target)
        self.zc.attach_volume_connection(
            uuid,
            connection_info,
            target=target,
            shareable=bool(connection_info.get("multiattach") or data.get("multiattach")),
            encryption=volume_encryption(context, connection_info, encryption),
            tag=mapped.tag if mapped else None,
        )


def root_mapping(block_device_info: Any) -> Mapping[str, Any] | None:
    """The root volume's mapping among those Nova gives a spawn, if it boots from one."""
    found = driver.block_device_info_get_mapping(block_device_info or {})
    return next((bdm for bdm in found if is_root(bdm)), None)


def is_root(bdm: Mapping[str, Any]) -> bool:
    return bdm.get("boot_index") == 0


def volume_image_properties(instance: Any) -> dict[str, Any]:
    """The image properties of a server booting from a volume: what Cinder keeps of the image
    the volume was made from, as Nova copied it into the instance (``image_*`` system
    metadata); the ``ImageMeta`` a spawn gets drops what Nova has no field for (kernel_id)."""
    from nova import utils

    image = utils.get_image_from_system_metadata(instance.system_metadata)
    return dict(image.get("properties") or {})


def migrating_image(
    instance: Any, block_device_info: Any
) -> tuple[str | None, Mapping[str, Any] | None]:
    """What a guest migrating here boots with, as :meth:`GlanceImages.fetched` takes it: its
    Glance image, or the image properties of its root volume."""
    if root_mapping(block_device_info) is None:
        return str(instance.image_ref), None
    return None, volume_image_properties(instance)


def volume_secrets(context: Any, block_device_info: Any) -> dict[str, VolumeSecrets]:
    """The secrets of the guest's iSCSI volumes for its destination host (a migration),
    by target: the CHAP password Cinder's ``connection_info`` carries and the LUKS
    passphrase from Nova's key manager."""
    found = {}
    for bdm in driver.block_device_info_get_mapping(block_device_info or {}):
        info = bdm["connection_info"]
        if info.get("driver_volume_type") != ISCSI:
            continue
        password = parse_iscsi_connection_info(info).auth_password
        encryption = volume_encryption(context, info, None)
        if password is not None or encryption is not None:
            found[short_name(bdm["mount_device"])] = VolumeSecrets(
                chap_password=None if password is None else password.encode(),
                encryption=encryption,
            )
    return found


def volume_encryption(
    context: Any, connection_info: Mapping[str, Any], encryption: Any
) -> VolumeEncryption | None:
    """The LUKS passphrase of an encrypted volume, from Nova's key manager (as Nova's libvirt
    driver takes it: the hex of the key); None for a volume Cinder does not encrypt."""
    # imported where needed, as Nova's libvirt driver uses them
    from castellan import key_manager
    from nova.volume import cinder
    from os_brick import encryptors

    if encryption is None:
        volume_id = (connection_info.get("data") or {}).get("volume_id")
        if not volume_id:
            return None
        encryption = encryptors.get_encryption_metadata(
            context, cinder.API(), volume_id, connection_info
        )
    if not encryption:
        return None
    key = key_manager.API(CONF).get(context, encryption["encryption_key_id"])
    return VolumeEncryption(
        passphrase=binascii.hexlify(key.get_encoded() or b""),
        provider=str(encryption.get("provider") or ""),
    )
