"""One MAC address per network: a second guest with the same MAC on it is refused.

Two interfaces with one MAC on one network (libvirt network, host bridge or tap) break each other's
traffic: the switch sends one guest's frames to the other. libvirt does not check; the
instance records know every MAC, so spawn and interface attach check them first.
"""

from __future__ import annotations

from collections.abc import Iterable

from zcompute.errors import Conflict
from zcompute.plan import NicPlan
from zcompute.state import StateDB

__all__ = ["refuse_shared_macs"]


def refuse_shared_macs(db: StateDB, uuid: str, nics: Iterable[NicPlan]) -> None:
    """Conflict if another instance than ``uuid`` has one of ``nics``' MACs on the same network."""
    wanted = {_place(n.network, n.bridge, n.tap, n.mac): n for n in nics}
    if not wanted:
        return
    for other in db.list_instances():
        if other.uuid == uuid:
            continue
        for nic in other.nics:
            place = _place(nic.network, nic.bridge, nic.tap, nic.mac or "")
            if nic.mac is not None and place in wanted:
                where = f"{place[0]} {place[1]}"
                raise Conflict(
                    f"MAC {nic.mac} is already used on {where} by instance {other.name}; "
                    "give another MAC (or none, for a generated one); nothing changed"
                )


def _place(
    network: str | None, bridge: str | None, tap: str | None, mac: str
) -> tuple[str, str, str]:
    """(kind, name, MAC): a tap's network is whatever its plugger joins it to, so its own
    name is all zcompute knows of it."""
    if network is not None:
        return "network", network, mac.lower()
    if tap is not None:
        return "tap", tap, mac.lower()
    return "bridge", bridge or "", mac.lower()
