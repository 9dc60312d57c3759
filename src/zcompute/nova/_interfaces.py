"""Network interfaces hot-plugged into and out of a guest: Nova's ports as zcompute's NICs."""

from __future__ import annotations

import logging
from typing import Any

from zcompute.errors import NotFound
from zcompute.nova._base import AdapterBase
from zcompute.nova._devicemeta import save_device_metadata, vif_tags
from zcompute.nova._translate import nics_of
from zcompute.properties import VIF_MODEL_PROPERTY

__all__ = ["InterfaceMethods"]

LOG = logging.getLogger(__name__)


class InterfaceMethods(AdapterBase):
    """attach_interface and detach_interface: a tap NIC (virtio-net-ccw on IBM Z)."""

    def attach_interface(self, context: Any, instance: Any, image_meta: Any, vif: Any) -> None:
        with self._guest(instance) as uuid:
            model = image_meta.properties.get(VIF_MODEL_PROPERTY)
            (nic,) = nics_of([vif], str(model) if model else None, vif_tags(context, instance))
            self.zc.attach_interface(uuid, nic)
            save_device_metadata(context, instance, self.zc.device_metadata(uuid))

    def detach_interface(self, context: Any, instance: Any, vif: Any) -> None:
        with self._guest(instance) as uuid:
            try:
                self.zc.detach_interface(uuid, str(vif["address"]))
            except NotFound:
                # gone already (a detach retried after the guest let go): what Nova asked for
                LOG.warning("NIC %s of instance %s is not attached", vif["address"], uuid)
            save_device_metadata(context, instance, self.zc.device_metadata(uuid))
