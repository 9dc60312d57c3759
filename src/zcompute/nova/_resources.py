"""What a compute node offers to Nova's scheduler: resources, traits, supported instances.

Inventories follow Nova's conventions (``reserved_host_*`` options, allocation ratios through
the base driver's precedence rules). Traits say which architectures really run here
(``COMPUTE_ARCH_*``: TCG always, KVM only where zcompute's probe proved it, as reported by
zcompute's capabilities) and which disk buses and NIC models those architectures' profiles
accept, so that Nova's image-metadata prefilter places an image only where its arch rules hold.
"""

from __future__ import annotations

import json
from typing import Any

import os_resource_classes as orc
import os_traits
from nova.objects import fields as obj_fields
from oslo_config import cfg

from zcompute.arch import get_profile
from zcompute.driver import Capabilities

__all__ = ["OWN_TRAIT_PREFIXES", "available_resource", "inventory", "traits"]

#: The traits this module decides; any other trait on the provider is someone else's.
OWN_TRAIT_PREFIXES = ("HW_ARCH_", "COMPUTE_ARCH_", "COMPUTE_STORAGE_BUS_", "COMPUTE_NET_VIF_MODEL_")

CONF: Any = cfg.CONF
_HV_TYPES = {"kvm": obj_fields.HVType.KVM, "qemu": obj_fields.HVType.QEMU}


def available_resource(
    raw: dict[str, Any], capabilities: Capabilities, nodename: str, node_uuid: str
) -> dict[str, Any]:
    """Nova's ``get_available_resource`` dictionary from zcompute's host report; the
    supported instances are the platforms zcompute runs (not every emulator QEMU ships)."""
    return {
        "uuid": node_uuid,
        "vcpus": raw["vcpus"],
        "memory_mb": raw["memory_mib"],
        "local_gb": raw["local_gib"],
        "vcpus_used": raw["vcpus_used"],
        "memory_mb_used": raw["memory_mib_used"],
        "local_gb_used": raw["local_gib_used"],
        "hypervisor_type": "QEMU",
        "hypervisor_version": raw["hypervisor_version"],
        "hypervisor_hostname": nodename,
        "cpu_info": json.dumps(raw["cpu_info"]),
        "disk_available_least": raw["local_gib"] - raw["local_gib_used"],
        "supported_instances": [
            (arch, _HV_TYPES[kind], obj_fields.VMMode.HVM) for arch, kind in capabilities.platforms
        ],
        "numa_topology": None,
        "pci_passthrough_devices": "[]",  # no PCI passthrough through zcompute
    }


def inventory(raw: dict[str, Any], ratios: dict[str, float]) -> dict[str, dict[str, Any]]:
    """VCPU, MEMORY_MB and DISK_GB inventories with Nova's reserved amounts and ratios."""

    def one(total: int, reserved: int, rc: str) -> dict[str, Any]:
        return {
            "total": total,
            "min_unit": 1,
            "max_unit": total,
            "step_size": 1,
            "allocation_ratio": ratios[rc],
            "reserved": min(reserved, total),
        }

    reserved_disk_gb = (int(CONF.reserved_host_disk_mb) + 1023) // 1024
    out = {
        orc.VCPU: one(raw["vcpus"], int(CONF.reserved_host_cpus), orc.VCPU),
        orc.MEMORY_MB: one(raw["memory_mib"], int(CONF.reserved_host_memory_mb), orc.MEMORY_MB),
    }
    if raw["local_gib"] > 0:
        out[orc.DISK_GB] = one(raw["local_gib"], reserved_disk_gb, orc.DISK_GB)
    return out


def traits(capabilities: Capabilities, host_arch: str) -> set[str]:
    """The traits zcompute reports: host and guest architectures, buses, NIC models."""
    found = {f"HW_ARCH_{host_arch.upper()}"}
    for arch in capabilities.arches:
        profile = get_profile(arch)
        found.add(f"COMPUTE_ARCH_{arch.upper()}")
        found.update(f"COMPUTE_STORAGE_BUS_{bus.upper()}" for bus in profile.disk_buses)
        found.update(
            f"COMPUTE_NET_VIF_MODEL_{model.upper().replace('-', '_')}"
            for model in profile.nic_models
        )
    known = set(os_traits.get_traits())
    return {trait for trait in found if trait in known}
