"""Bind every port on a ``flat`` or ``local`` segment as a ``tap`` VIF.

There is no L2 agent in zcompute's cloud (no Open vSwitch on this kernel; Linux bridge is gone
from Neutron and Nova): the compute driver creates the guest's tap device itself. So the
binding needs no host-side state, and the port is ACTIVE as soon as it is bound: Neutron then
tells Nova the VIF is plugged, as an agent would after wiring the port.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.plugins.ml2 import api

VIF_TYPE_TAP = "tap"
#: segment types this driver binds: neither needs switch configuration on the host
BINDABLE_TYPES = frozenset({constants.TYPE_FLAT, constants.TYPE_LOCAL})
#: no agent filters traffic, and Nova must not wait for an agent to plug the VIF
VIF_DETAILS = {"port_filter": False, "connectivity": "l2"}


class TapMechanismDriver(api.MechanismDriver):  # type: ignore[misc]
    """The smallest ML2 mechanism driver that gives Nova bindable ports."""

    def initialize(self) -> None:
        """Nothing to set up: no agent, no backend."""

    @property
    def connectivity(self) -> str:
        return "l2"

    def bind_port(self, context: Any) -> None:
        # only normal (virtio) ports: SR-IOV, direct or baremetal need a driver of their own
        vnic_type = context.current.get("binding:vnic_type", "normal")
        if vnic_type != "normal":
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] in BINDABLE_TYPES:
                context.set_binding(
                    segment[api.ID],
                    VIF_TYPE_TAP,
                    dict(VIF_DETAILS),
                    status=constants.PORT_STATUS_ACTIVE,
                )
                return
