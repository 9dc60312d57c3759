"""Nova's objects in zcompute's terms: each translation in one place, and nothing else here.

Nova hands the driver its versioned objects (an Instance with its Flavor, an ImageMeta, the
network_info VIF list); zcompute's driver takes its own types. Values are checked by zcompute's
types themselves (names, MACs, properties); what has no zcompute meaning is refused with a
message naming the Nova field, never half-used.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

from zcompute.arch import canonical_arch, get_profile
from zcompute.configdrive import ConfigDrive
from zcompute.errors import InvalidInput
from zcompute.model import Flavor, NICSpec
from zcompute.properties import (
    DISK_IOTUNE_SPECS,
    EMULATION_ARCH_PROPERTY,
    IMAGE_ARCH_PROPERTY,
    IMAGE_PROPERTIES,
    KERNEL_ID_PROPERTY,
    POINTER_MODEL_PROPERTY,
    WATCHDOG_PROPERTY,
)

__all__ = [
    "TAP_VIF_TYPES",
    "config_drive_of",
    "flavor_of",
    "guest_arch",
    "image_properties",
    "nics_of",
]

#: The VIF types zcompute plugs: a tap device and ``<interface type='ethernet'>``.
TAP_VIF_TYPES = ("tap", "ethernet")
# Nova's flavor extra specs whose image property twins zcompute reads, and those zcompute reads
# under Nova's own names (the disk I/O limits).
_EXTRA_SPECS = {"hw:watchdog_action": WATCHDOG_PROPERTY} | {key: key for key in DISK_IOTUNE_SPECS}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def flavor_of(flavor: Any) -> Flavor:
    """zcompute's flavor for Nova's: sizes (ephemeral and swap disks too), and the extra specs
    zcompute acts on."""
    specs = flavor.extra_specs or {}
    extra = {ours: specs[theirs] for theirs, ours in _EXTRA_SPECS.items() if theirs in specs}
    # Nova allows any text; zcompute's names are 1-63 of A-Z a-z 0-9 . _ - without ".."
    name = _NAME_CHARS.sub("-", str(flavor.name))
    name = re.sub(r"\.{2,}", ".", name).strip("-._")[:63].strip("-._") or "nova-flavor"
    return Flavor(
        name=name,
        vcpus=int(flavor.vcpus),
        memory_mib=int(flavor.memory_mb),
        root_gib=int(flavor.root_gb),
        extra_specs=extra,
        ephemeral_gib=int(flavor.ephemeral_gb or 0),
        swap_mib=int(flavor.swap or 0),
    )


def guest_arch(properties: Mapping[str, str], host_arch: str) -> str:
    """The guest's architecture: ``hw_emulation_architecture``, then ``hw_architecture``, then
    the host's (Nova's order)."""
    for key in (EMULATION_ARCH_PROPERTY, IMAGE_ARCH_PROPERTY):
        value = properties.get(key)
        if value:
            return canonical_arch(str(value), key)
    return canonical_arch(host_arch, "host architecture")


def image_properties(properties: Mapping[str, Any], arch: str) -> dict[str, str]:
    """The Glance properties zcompute acts on, for an image imported as ``arch``.

    The architecture is given to the import itself, and Glance's ``kernel_id``/``ramdisk_id``
    name Glance images (the import resolves them), so neither is passed on as a property.
    What the architecture cannot have is refused here, naming the property.
    """
    pointer = properties.get(POINTER_MODEL_PROPERTY)
    if pointer == "usbtablet" and get_profile(arch).tablet_bus != "usb":
        raise InvalidInput(POINTER_MODEL_PROPERTY, f"{arch} guests have no USB tablet", ["none"])
    skip = {IMAGE_ARCH_PROPERTY, EMULATION_ARCH_PROPERTY, KERNEL_ID_PROPERTY}
    return {
        key: str(value)
        for key, value in properties.items()
        if key in IMAGE_PROPERTIES and key not in skip and value is not None
    }


def nics_of(
    network_info: Iterable[Mapping[str, Any]],
    model: str | None,
    tags: Mapping[str, str] | None = None,
) -> list[NICSpec]:
    """One NIC per VIF: its tap device, Nova's MAC, the network's MTU, the image's model and
    the port's device role tag (``tags`` by MAC)."""
    nics = []
    for vif in network_info:
        kind = vif.get("type")
        if kind not in TAP_VIF_TYPES:
            raise InvalidInput(
                "vif type", f"unsupported VIF type {kind!r} (port {vif.get('id')})", TAP_VIF_TYPES
            )
        if not vif.get("devname"):
            raise InvalidInput(
                "vif devname", f"port {vif.get('id')} has no tap device name", ["tapXXXXXXXX-XX"]
            )
        network = vif.get("network") or {}
        mtu = (network.get("meta") or {}).get("mtu")
        nics.append(
            NICSpec(
                tap=vif.get("devname"),
                mac=vif.get("address"),
                model=model,
                mtu=int(mtu) if mtu else None,
                tag=(tags or {}).get(str(vif.get("address")).lower()),
            )
        )
    return nics


def config_drive_of(
    instance: Any, network_data: Mapping[str, Any], extra_meta: Mapping[str, Any]
) -> ConfigDrive:
    """The config drive Nova asks for: hostname, key, user data, network data, metadata."""
    user_data = None
    if instance.user_data:
        try:
            user_data = base64.b64decode(instance.user_data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("user_data", "not base64 text", "base64 text") from None
    keys = (instance.key_data,) if instance.key_data else ()
    return ConfigDrive(
        hostname=instance.hostname or None,
        public_keys=keys,
        user_data=user_data,
        network_data=network_data,
        extra_meta=extra_meta,
        meta={str(k): str(v) for k, v in (instance.metadata or {}).items()},
    )
