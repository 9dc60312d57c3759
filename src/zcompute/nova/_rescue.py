"""Rescue and unrescue: the guest boots a rescue image from Glance, its root disk second.

Nova's compute manager has stopped the guest cleanly before it calls :meth:`rescue`, and passes
the rescue image's metadata (the image the user named, else the server's own image). zcompute
does a *legacy* rescue, as Nova's libvirt driver does without stable-device image properties:
the rescue disk first, the root disk second, and, when the server has a config drive, a new
one for the rescue boot whose meta data carries the rescue password (``admin_pass``, as Nova's
libvirt driver writes it). Volume-backed servers cannot be rescued (``supports_bfv_rescue``
stays False): zcompute's Nova driver attaches no volumes yet.
"""

from __future__ import annotations

from typing import Any

from nova.virt import configdrive, netutils

from zcompute.configdrive import ConfigDrive
from zcompute.model import Image
from zcompute.nova._base import AdapterBase
from zcompute.nova._translate import config_drive_of

__all__ = ["RescueMethods"]


class RescueMethods(AdapterBase):
    """Nova's rescue operations on this service's guests."""

    def rescue(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        image_meta: Any,
        rescue_password: Any,
        block_device_info: Any,
        share_info: Any,
    ) -> None:
        with self._guest(instance) as uuid:
            image = self._rescue_image(context, image_meta)
            drive = _rescue_drive(instance, network_info, rescue_password)
            self.zc.rescue(uuid, image, config_drive=drive)

    def unrescue(self, context: Any, instance: Any) -> None:
        with self._guest(instance) as uuid:
            self.zc.unrescue(uuid)

    def _rescue_image(self, context: Any, image_meta: Any) -> Image | None:
        """The store image of the rescue image Nova names (None: the guest's own image)."""
        if image_meta is None or not image_meta.obj_attr_is_set("id") or not image_meta.id:
            return None
        return self._glance.image_for(context, str(image_meta.id))


def _rescue_drive(instance: Any, network_info: Any, password: Any) -> ConfigDrive | None:
    """The rescue boot's config drive, for a server that has one (Nova's rule)."""
    if not configdrive.required_by(instance):
        return None
    extra: dict[str, Any] = {
        "availability_zone": instance.availability_zone,
        "project_id": instance.project_id,
        "launch_index": instance.launch_index,
    }
    if password:  # only ever written into the drive's file, which only root and QEMU read
        extra["admin_pass"] = str(password)
    return config_drive_of(instance, netutils.get_network_metadata(network_info or []), extra)
