"""What a compute node offers Nova's scheduler (zcompute.nova._resources)."""

from __future__ import annotations

import json
from typing import Any

import os_resource_classes as orc
import os_traits
import pytest
from nova import objects

import zcompute.nova  # noqa: F401  (registers Nova's options: the adapter's import order)
from zcompute.arch import get_profile
from zcompute.driver import Capabilities
from zcompute.driver._api import capabilities_of
from zcompute.nova._resources import available_resource, inventory, traits

NODE = "c0ffee00-0000-4000-8000-000000000001"
RATIOS = {orc.VCPU: 16.0, orc.MEMORY_MB: 1.5, orc.DISK_GB: 1.0}


def _raw(**values: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "vcpus": 8,
        "vcpus_used": 3,
        "memory_mib": 16384,
        "memory_mib_used": 4096,
        "local_gib": 100,
        "local_gib_used": 40,
        "hypervisor_type": "QEMU",
        "hypervisor_version": 7002000,
        "libvirt_version": 9000000,
        "hypervisor_hostname": "z1.example",
        "cpu_info": {"arch": "s390x", "model": "gen15a", "vendor": "IBM", "model_source": "x"},
        "supported_instances": [("aarch64", "qemu", "hvm")],  # not what Nova gets
    }
    raw.update(values)
    return raw


def _caps(*platforms: tuple[str, str]) -> Capabilities:
    return capabilities_of(platforms)


# -- available_resource ------------------------------------------------------------------------


def test_available_resource_has_what_the_resource_tracker_reads() -> None:
    caps = _caps(("s390x", "kvm"), ("s390x", "qemu"), ("x86_64", "qemu"))
    res = available_resource(_raw(), caps, "z1", NODE)
    ints = (
        "vcpus",
        "memory_mb",
        "local_gb",
        "vcpus_used",
        "memory_mb_used",
        "local_gb_used",
        "hypervisor_version",
        "disk_available_least",
    )
    for key in ints:
        assert type(res[key]) is int, key
    assert (res["vcpus"], res["memory_mb"], res["local_gb"]) == (8, 16384, 100)
    assert (res["vcpus_used"], res["memory_mb_used"], res["local_gb_used"]) == (3, 4096, 40)
    assert res["disk_available_least"] == 60
    assert res["uuid"] == NODE
    assert res["hypervisor_hostname"] == "z1"
    assert res["hypervisor_type"] == "QEMU"
    assert isinstance(res["cpu_info"], str)
    assert json.loads(res["cpu_info"])["model"] == "gen15a"
    assert res["pci_passthrough_devices"] == "[]"
    assert json.loads(res["pci_passthrough_devices"]) == []
    assert res["numa_topology"] is None


def test_supported_instances_are_the_platforms_zcompute_runs() -> None:
    caps = _caps(("s390x", "kvm"), ("s390x", "qemu"), ("x86_64", "qemu"))
    res = available_resource(_raw(), caps, "z1", NODE)
    assert res["supported_instances"] == [
        ("s390x", "kvm", "hvm"),
        ("s390x", "qemu", "hvm"),
        ("x86_64", "qemu", "hvm"),
    ]
    # what the resource tracker makes of them
    specs = [objects.HVSpec.from_list(list(item)) for item in res["supported_instances"]]
    assert [(s.arch, s.hv_type, s.vm_mode) for s in specs] == res["supported_instances"]


def test_platforms_zcompute_has_no_profile_for_are_not_supported_instances() -> None:
    caps = _caps(("x86_64", "qemu"), ("riscv64", "qemu"))
    assert available_resource(_raw(), caps, "n", NODE)["supported_instances"] == [
        ("x86_64", "qemu", "hvm")
    ]


# -- inventory ---------------------------------------------------------------------------------


def test_inventory_with_nova_defaults(nova_conf: Any) -> None:
    inv = inventory(_raw(), RATIOS)
    assert set(inv) == {orc.VCPU, orc.MEMORY_MB, orc.DISK_GB}
    assert inv[orc.VCPU] == {
        "total": 8,
        "min_unit": 1,
        "max_unit": 8,
        "step_size": 1,
        "allocation_ratio": 16.0,
        "reserved": int(nova_conf.reserved_host_cpus),
    }
    assert inv[orc.MEMORY_MB]["total"] == 16384
    assert inv[orc.MEMORY_MB]["reserved"] == int(nova_conf.reserved_host_memory_mb)
    assert inv[orc.MEMORY_MB]["allocation_ratio"] == 1.5
    assert inv[orc.DISK_GB]["total"] == 100


def test_inventory_honours_reserved_amounts(nova_conf: Any) -> None:
    nova_conf.set_override("reserved_host_cpus", 2)
    nova_conf.set_override("reserved_host_memory_mb", 1024)
    nova_conf.set_override("reserved_host_disk_mb", 1025)  # rounded up to whole GiB
    inv = inventory(_raw(), RATIOS)
    assert inv[orc.VCPU]["reserved"] == 2
    assert inv[orc.MEMORY_MB]["reserved"] == 1024
    assert inv[orc.DISK_GB]["reserved"] == 2


def test_reserved_is_capped_at_the_total(nova_conf: Any) -> None:
    nova_conf.set_override("reserved_host_cpus", 64)
    nova_conf.set_override("reserved_host_memory_mb", 10**6)
    nova_conf.set_override("reserved_host_disk_mb", 10**6)
    inv = inventory(_raw(), RATIOS)
    assert all(item["reserved"] == item["total"] for item in inv.values())


def test_no_disk_inventory_without_disk(nova_conf: Any) -> None:
    inv = inventory(_raw(local_gib=0, local_gib_used=0), RATIOS)
    assert set(inv) == {orc.VCPU, orc.MEMORY_MB}


# -- traits ------------------------------------------------------------------------------------


def test_traits_of_an_s390x_host_that_also_emulates_x86() -> None:
    found = traits(_caps(("s390x", "kvm"), ("x86_64", "qemu")), "s390x")
    assert {"HW_ARCH_S390X", "COMPUTE_ARCH_S390X", "COMPUTE_ARCH_X86_64"} <= found
    assert "HW_ARCH_X86_64" not in found  # the host's architecture only
    assert {"COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SCSI"} <= found
    assert "COMPUTE_STORAGE_BUS_SATA" in found  # x86_64 guests run here too
    assert {"COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_E1000"} <= found


def test_traits_of_an_s390x_only_host_are_its_profiles() -> None:
    found = traits(_caps(("s390x", "kvm"), ("s390x", "qemu")), "s390x")
    profile = get_profile("s390x")
    buses = {f"COMPUTE_STORAGE_BUS_{bus.upper()}" for bus in profile.disk_buses}
    models = {
        f"COMPUTE_NET_VIF_MODEL_{model.upper().replace('-', '_')}" for model in profile.nic_models
    }
    known = set(os_traits.get_traits())
    assert found == {"HW_ARCH_S390X", "COMPUTE_ARCH_S390X"} | ((buses | models) & known)
    assert "COMPUTE_STORAGE_BUS_IDE" not in found
    assert "COMPUTE_NET_VIF_MODEL_E1000" not in found
    assert not any(trait.startswith("COMPUTE_ARCH_X86") for trait in found)


@pytest.mark.parametrize(
    "platforms",
    [(("x86_64", "kvm"),), (("x86_64", "qemu"), ("s390x", "qemu"), ("aarch64", "qemu"))],
)
def test_every_trait_is_one_os_traits_knows(platforms: tuple[tuple[str, str], ...]) -> None:
    found = traits(_caps(*platforms), "x86_64")
    assert found <= set(os_traits.get_traits())
    assert "HW_ARCH_X86_64" in found
    # NIC models os-traits has no trait for are left out, not invented
    assert "COMPUTE_NET_VIF_MODEL_VIRTIO_TRANSITIONAL" not in found
