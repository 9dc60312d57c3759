"""The part of zcompute's Nova driver every group of methods relies on.

:class:`AdapterBase` holds zcompute's driver of the compute service and knows which guests
are this service's: the method groups (power, volumes, the guest agent, ...) each subclass it,
and :class:`~zcompute.nova.ZComputeDriver` combines them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from nova import exception
from nova.virt import driver

from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.model import Instance, InstanceState
from zcompute.nova._errors import nova_errors
from zcompute.nova._events import EventBridge
from zcompute.nova._glance import GlanceImages

__all__ = ["OFF_STATES", "AdapterBase"]

#: zcompute states in which a guest is off (Nova sees a stopped server)
OFF_STATES = (InstanceState.SHUTOFF, InstanceState.CRASHED)


class AdapterBase(driver.ComputeDriver):
    """zcompute's driver of one Nova compute service, and the guests that service owns."""

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi)
        self._zc: ComputeDriver | None = None
        self._images: GlanceImages | None = None
        self._events: EventBridge | None = None
        # (libvirt URI, stream address) other hosts reach this one with for migrations
        self._inbound: tuple[str, str] = ("", "")
        self._aborted: set[str] = set()  # live migrations Nova asked to abort
        self._host = ""
        self._node_uuid = ""

    @property
    def zc(self) -> ComputeDriver:
        """zcompute's driver of this compute service (made by ``init_host``)."""
        if self._zc is None:
            raise exception.InternalError("the zcompute driver is used before init_host")
        return self._zc

    @property
    def manager(self) -> str:
        """How this service's guests are marked in zcompute's records and domain metadata."""
        return f"nova:{self._host}"

    @property
    def _glance(self) -> GlanceImages:
        if self._images is None:
            raise exception.InternalError("the zcompute driver is used before init_host")
        return self._images

    def _owned(self) -> list[Instance]:
        with nova_errors("-"):
            return self.zc.instances_managed_by(self.manager)

    def _owns(self, uuid: str) -> bool:
        try:
            inst = self.zc.get_instance(uuid)
        except NotFound:
            return False
        return inst.metadata.get("managed-by") == self.manager

    @contextlib.contextmanager
    def _guest(self, instance: Any) -> Iterator[str]:
        """The uuid of this service's guest ``instance``, zcompute's errors as Nova's."""
        uuid = self._mine(instance)
        with nova_errors(uuid):
            yield uuid

    def _mine(self, instance: Any) -> str:
        """The uuid of ``instance`` if it is this service's guest; InstanceNotFound if not."""
        if not self._owns(instance.uuid):
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        return str(instance.uuid)
