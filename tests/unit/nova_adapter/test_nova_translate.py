"""Nova's objects in zcompute's terms (zcompute.nova._translate), with Nova's real objects."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from nova import objects
from nova.network import model as network_model

from zcompute.arch import ARCHES
from zcompute.errors import InvalidInput
from zcompute.model import Flavor, NICSpec
from zcompute.nova._translate import (
    TAP_VIF_TYPES,
    config_drive_of,
    flavor_of,
    guest_arch,
    image_properties,
    nics_of,
)

_BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
KEY = f"ssh-ed25519 {_BLOB} operator@example"
PORT = "3f2a9c1e-7b5d-4c1a-9f00-0123456789ab"


def _flavor(name: str = "m1.small", **fields: Any) -> Any:
    values: dict[str, Any] = {
        "name": name,
        "vcpus": 2,
        "memory_mb": 2048,
        "root_gb": 20,
        "ephemeral_gb": 0,
        "swap": 0,
        "extra_specs": {},
    }
    values.update(fields)
    return objects.Flavor(**values)


# -- flavor_of ---------------------------------------------------------------------------------


def test_a_flavor_keeps_its_sizes_and_the_extra_specs_zcompute_reads() -> None:
    specs = {"hw:watchdog_action": "reset", "hw:cpu_policy": "dedicated", "quota:disk_read": "1"}
    flavor = flavor_of(_flavor(extra_specs=specs))
    assert flavor == Flavor(
        name="m1.small",
        vcpus=2,
        memory_mib=2048,
        root_gib=20,
        extra_specs={"hw_watchdog_action": "reset"},
    )


def test_a_flavor_without_extra_specs() -> None:
    assert dict(flavor_of(_flavor(extra_specs={})).extra_specs) == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gold tier/2", "gold-tier-2"),
        ("  m1.tiny  ", "m1.tiny"),
        ("-._x", "x"),
        ("日本語", "nova-flavor"),
        ("x" * 100, "x" * 63),
    ],
)
def test_a_flavor_name_is_made_a_zcompute_name(name: str, expected: str) -> None:
    assert flavor_of(_flavor(name)).name == expected


def test_a_flavor_name_with_two_dots_is_usable() -> None:
    assert flavor_of(_flavor("m1..large")).name == "m1.large"


def test_ephemeral_and_swap_sizes_pass_through() -> None:
    flavor = flavor_of(_flavor("eph", ephemeral_gb=5, swap=1024))
    assert (flavor.ephemeral_gib, flavor.swap_mib) == (5, 1024)
    plain = flavor_of(_flavor("plain", ephemeral_gb=0, swap=0))
    assert (plain.ephemeral_gib, plain.swap_mib) == (0, 0)


# -- guest_arch --------------------------------------------------------------------------------


def test_emulation_architecture_comes_before_hw_architecture_and_the_host() -> None:
    props = {"hw_emulation_architecture": "s390x", "hw_architecture": "x86_64"}
    assert guest_arch(props, "x86_64") == "s390x"


def test_hw_architecture_comes_before_the_host() -> None:
    assert guest_arch({"hw_architecture": "s390x"}, "x86_64") == "s390x"
    assert guest_arch({"hw_emulation_architecture": "", "hw_architecture": "s390x"}, "x86_64") == (
        "s390x"
    )


def test_the_host_architecture_is_the_last_choice() -> None:
    assert guest_arch({}, "s390x") == "s390x"
    assert guest_arch({"hw_architecture": None}, "x86_64") == "x86_64"


@pytest.mark.parametrize(("alias", "arch"), [("amd64", "x86_64"), ("X86_64", "x86_64")])
def test_architecture_aliases_are_canonical(alias: str, arch: str) -> None:
    assert guest_arch({"hw_architecture": alias}, "s390x") == arch
    assert guest_arch({"hw_emulation_architecture": alias}, "s390x") == arch
    assert guest_arch({}, alias) == arch


@pytest.mark.parametrize("key", ["hw_emulation_architecture", "hw_architecture"])
def test_an_unknown_architecture_is_refused_naming_the_property(key: str) -> None:
    with pytest.raises(InvalidInput) as info:
        guest_arch({key: "armv7l"}, "x86_64")
    assert info.value.field == key
    assert "armv7l" in str(info.value)
    assert info.value.allowed == ", ".join(ARCHES)


def test_an_unknown_host_architecture_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        guest_arch({}, "mips64")
    assert info.value.field == "host architecture"


# -- image_properties --------------------------------------------------------------------------


def test_only_zcompute_properties_are_kept_without_arch_and_glance_kernel_ids() -> None:
    glance = {
        "hw_architecture": "s390x",
        "hw_emulation_architecture": "s390x",
        "kernel_id": "0b1c4c4c-1111-4b5e-8f0e-000000000001",
        "ramdisk_id": "0b1c4c4c-1111-4b5e-8f0e-000000000002",
        "hw_disk_bus": "virtio",
        "hw_vif_model": "virtio",
        "hw_machine_type": "s390-ccw-virtio",
        "hw_watchdog_action": "poweroff",
        "hw_qemu_guest_agent": True,
        "os_command_line": "root=/dev/vda1 ro",
        "hw_video_model": "vga",  # Nova's, not read by zcompute
        "owner_specified.openstack.sha256": "abc",
        "os_distro": "debian",
        "hw_rng_model": None,
    }
    assert image_properties(glance, "s390x") == {
        "hw_disk_bus": "virtio",
        "hw_vif_model": "virtio",
        "hw_machine_type": "s390-ccw-virtio",
        "hw_watchdog_action": "poweroff",
        "hw_qemu_guest_agent": "True",
        "os_command_line": "root=/dev/vda1 ro",
    }


def test_a_none_value_is_dropped() -> None:
    assert image_properties({"hw_disk_bus": None}, "x86_64") == {}


def test_a_usb_tablet_is_refused_on_s390x() -> None:
    with pytest.raises(InvalidInput) as info:
        image_properties({"hw_pointer_model": "usbtablet"}, "s390x")
    assert info.value.field == "hw_pointer_model"
    assert "s390x guests have no USB tablet" in str(info.value)


def test_a_usb_tablet_is_accepted_on_x86_64() -> None:
    props = image_properties({"hw_pointer_model": "usbtablet"}, "x86_64")
    assert props == {"hw_pointer_model": "usbtablet"}


# -- nics_of -----------------------------------------------------------------------------------


def _vif(kind: str = "tap", mtu: int | None = 1400, devname: str | None = "tap3f2a9c1e-7b") -> Any:
    meta = {"mtu": mtu} if mtu is not None else {}
    network = network_model.Network(id="net-1", bridge=None, label="private", meta=meta)
    return network_model.VIF(
        id=PORT, address="fa:16:3e:12:34:56", type=kind, devname=devname, network=network
    )


@pytest.mark.parametrize("kind", TAP_VIF_TYPES)
def test_tap_and_ethernet_vifs_are_tap_nics(kind: str) -> None:
    nics = nics_of(network_model.NetworkInfo([_vif(kind)]), "virtio")
    assert nics == [
        NICSpec(tap="tap3f2a9c1e-7b", mac="fa:16:3e:12:34:56", model="virtio", mtu=1400)
    ]


def test_a_vif_without_mtu_or_model() -> None:
    (nic,) = nics_of([_vif(mtu=None)], None)
    assert (nic.mtu, nic.model, nic.network, nic.bridge) == (None, None, None, None)


def test_several_vifs_keep_their_order() -> None:
    second = _vif()
    second["devname"], second["address"] = "tap0000000a-bb", "fa:16:3e:00:00:02"
    nics = nics_of([_vif(), second], "virtio")
    assert [nic.tap for nic in nics] == ["tap3f2a9c1e-7b", "tap0000000a-bb"]


def test_no_vifs_no_nics() -> None:
    assert nics_of([], "virtio") == []


@pytest.mark.parametrize("kind", ["ovs", "bridge", "vhostuser", "hw_veb", None])
def test_other_vif_types_are_refused_naming_vif_type_and_the_allowed(kind: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        nics_of([_vif(kind)], "virtio")  # type: ignore[arg-type]
    assert info.value.field == "vif type"
    assert info.value.allowed == "tap, ethernet"
    assert repr(kind) in str(info.value)
    assert PORT in str(info.value)


def test_a_vif_without_a_device_name_is_refused() -> None:
    with pytest.raises(InvalidInput):
        nics_of([_vif(devname=None)], "virtio")


def test_a_bad_mac_or_model_is_refused_by_zcompute_types() -> None:
    vif = _vif()
    vif["address"] = "01:00:5e:00:00:01"  # multicast
    with pytest.raises(InvalidInput) as info:
        nics_of([vif], None)
    assert info.value.field == "nic.mac"
    with pytest.raises(InvalidInput) as info:
        nics_of([_vif()], "no-such-model")
    assert info.value.field == "nic.model"


# -- config_drive_of ---------------------------------------------------------------------------


def _instance(**fields: Any) -> Any:
    values: dict[str, Any] = {
        "user_data": None,
        "key_data": None,
        "hostname": "web1",
        "metadata": {},
    }
    values.update(fields)
    return objects.Instance(**values)


def test_a_config_drive_from_nova_instance() -> None:
    user_data = b"#cloud-config\nruncmd: [true]\n"
    network_data = {"links": [], "networks": [], "services": []}
    extra = {"availability_zone": "nova", "project_id": "p1", "launch_index": 0}
    drive = config_drive_of(
        _instance(
            user_data=base64.b64encode(user_data).decode(),
            key_data=KEY,
            metadata={"role": "db", "tier": "2"},
        ),
        network_data,
        extra,
    )
    assert drive.user_data == user_data
    assert drive.public_keys == (KEY,)
    assert drive.hostname == "web1"
    assert dict(drive.meta or {}) == {"role": "db", "tier": "2"}
    assert dict(drive.network_data or {}) == network_data
    assert dict(drive.extra_meta) == extra


def test_a_config_drive_without_user_data_key_or_hostname() -> None:
    drive = config_drive_of(_instance(hostname=None), {}, {})
    assert drive.user_data is None
    assert drive.public_keys == ()
    assert drive.hostname is None
    assert dict(drive.meta or {}) == {}


@pytest.mark.parametrize("bad", ["not base64!", "YWJ", "a"])
def test_user_data_that_is_not_base64_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        config_drive_of(_instance(user_data=bad), {}, {})
    assert info.value.field == "user_data"
