"""Domain types validate on construction and are immutable afterwards."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import Path

import pytest

from zcompute.errors import InvalidInput
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    Task,
    generate_mac,
    new_uuid,
    utcnow,
    validate_image_properties,
    validate_uuid,
)

DIGEST = "ab" * 32


def disk_image(**changes: object) -> Image:
    fields: dict[str, object] = {
        "id": new_uuid(),
        "name": "debian-12",
        "arch": "s390x",
        "disk_format": "qcow2",
        "path": Path("/var/lib/zcompute/images/x/disk"),
        "kernel_path": None,
        "initrd_path": None,
        "cmdline": None,
        "properties": {},
        "size": 1024,
        "sha256": DIGEST,
        "created_at": utcnow(),
        "virtual_size": 1 << 30,
    }
    fields.update(changes)
    return Image(**fields)  # type: ignore[arg-type]


def kernel_image(**changes: object) -> Image:
    base: dict[str, object] = {
        "disk_format": None,
        "path": None,
        "kernel_path": Path("/store/k/kernel"),
        "initrd_path": Path("/store/k/initrd"),
        "cmdline": "console=ttysclp0 quiet",
        "virtual_size": 0,
    }
    base.update(changes)
    return disk_image(**base)


TINY = Flavor("tiny", 1, 512, 1)


def instance(**changes: object) -> Instance:
    fields: dict[str, object] = {
        "uuid": new_uuid(),
        "name": "web-1",
        "flavor": TINY,
        "image": disk_image(),
        "arch": "s390x",
    }
    fields.update(changes)
    return Instance(**fields)  # type: ignore[arg-type]


# --- flavors ---------------------------------------------------------------------------


def test_flavor_keeps_its_values_and_a_read_only_copy_of_extra_specs() -> None:
    specs = {"hw:cpu_mode": "host-model"}
    flavor = Flavor("m1.small", 2, 2048, 20, specs)
    specs["hw:cpu_mode"] = "changed"
    assert flavor.extra_specs == {"hw:cpu_mode": "host-model"}
    with pytest.raises(TypeError):
        flavor.extra_specs["x"] = "y"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        flavor.vcpus = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vcpus": 0}, "flavor.vcpus"),
        ({"vcpus": True}, "flavor.vcpus"),
        ({"vcpus": 2.0}, "flavor.vcpus"),
        ({"memory_mib": 8}, "flavor.memory_mib"),
        ({"root_gib": -1}, "flavor.root_gib"),
        ({"ephemeral_gib": -1}, "flavor.ephemeral_gib"),
        ({"ephemeral_gib": 64 * 1024 + 1}, "flavor.ephemeral_gib"),
        ({"ephemeral_gib": True}, "flavor.ephemeral_gib"),
        ({"swap_mib": -1}, "flavor.swap_mib"),
        ({"swap_mib": 1024 * 1024 + 1}, "flavor.swap_mib"),
        ({"swap_mib": 1.5}, "flavor.swap_mib"),
        ({"name": "a b"}, "flavor.name"),
        ({"extra_specs": {"bad key": "v"}}, "flavor.extra_specs key"),
        ({"extra_specs": {"k": "line\nbreak"}}, "flavor.extra_specs[k]"),
        ({"extra_specs": {"k": 1}}, "flavor.extra_specs[k]"),
    ],
)
def test_flavor_refuses_bad_values_naming_the_field(changes: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"name": "f", "vcpus": 1, "memory_mib": 512, "root_gib": 1}
    fields.update(changes)
    with pytest.raises(InvalidInput) as info:
        Flavor(**fields)  # type: ignore[arg-type]
    assert info.value.field == field


def test_flavor_ephemeral_and_swap_default_to_none_and_take_their_limits() -> None:
    plain = Flavor("f", 1, 512, 1)
    assert (plain.ephemeral_gib, plain.swap_mib) == (0, 0)
    largest = Flavor("f", 1, 512, 1, ephemeral_gib=64 * 1024, swap_mib=1024 * 1024)
    assert (largest.ephemeral_gib, largest.swap_mib) == (64 * 1024, 1024 * 1024)


# --- images ----------------------------------------------------------------------------


def test_disk_image_helpers() -> None:
    image = disk_image(properties={"hw_machine_type": "s390-ccw-virtio-7.2", "custom": "kept"})
    assert not image.is_kernel_boot
    assert image.prop("hw_machine_type") == "s390-ccw-virtio-7.2"
    assert image.prop("custom") == "kept"
    assert image.prop("hw_disk_bus") is None
    assert image.prop("hw_disk_bus", "virtio") == "virtio"


def test_kernel_image_has_no_disk() -> None:
    image = kernel_image()
    assert image.is_kernel_boot
    assert image.path is None
    assert image.disk_format is None
    with pytest.raises(InvalidInput, match="kernel boot image has no disk"):
        kernel_image(disk_format="raw")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"disk_format": "vmdk"}, "image.disk_format"),
        ({"path": None}, "image.path"),
        ({"path": Path("relative/disk")}, "image.path"),
        ({"path": Path("/store/../etc/passwd")}, "image.path"),
        ({"cmdline": "quiet"}, "image.initrd_path"),
        ({"arch": "sparc"}, "image.arch"),
        ({"sha256": "xyz"}, "image.sha256"),
        ({"size": -1}, "image.size"),
        ({"created_at": datetime(2024, 1, 1)}, "image.created_at"),
        ({"id": "not-a-uuid"}, "image.id"),
        ({"name": new_uuid()}, "image.name"),
    ],
)
def test_image_refuses_bad_values_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        disk_image(**changes)
    assert info.value.field == field


def test_image_arch_must_agree_with_hw_architecture() -> None:
    assert disk_image(arch=None, properties={"hw_architecture": "x86_64"}).arch is None
    with pytest.raises(InvalidInput, match="contradicts hw_architecture=x86_64"):
        disk_image(arch="s390x", properties={"hw_architecture": "x86_64"})


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("hw_architecture", "sparc64", "s390x"),
        ("hw_disk_bus", "floppy", "virtio"),
        ("hw_watchdog_action", "explode", "poweroff"),
        ("hw_machine_type", "pc q35", "letter or digit"),
    ],
)
def test_known_properties_are_checked_against_allowed_values(
    key: str, value: str, allowed: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_image_properties({key: value})
    assert info.value.field == key
    assert info.value.allowed is not None
    assert allowed in info.value.allowed


def test_known_properties_accept_their_values_and_unknown_ones_are_kept() -> None:
    props = {
        "hw_architecture": "s390x",
        "hw_disk_bus": "scsi",
        "hw_qemu_guest_agent": "yes",
        "os_command_line": "console=ttysclp0 root=/dev/vda1",
        "os_distro": "debian",
        "org.example:anything": "free text, with spaces",
    }
    assert dict(validate_image_properties(props)) == props


def test_command_line_with_control_characters_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_image_properties({"os_command_line": "quiet\ninit=/bin/sh"})
    assert info.value.field == "os_command_line"


# --- devices ---------------------------------------------------------------------------


def test_block_device_defaults_and_checks() -> None:
    source = Path("/dev/disk/by-path/ccw-0.0.3080-zfcp-0x5005:0x0001")
    bd = BlockDeviceSpec(source=source, target="vdb")
    assert (bd.bus, bd.readonly, bd.serial, bd.device) == ("virtio", False, None, "disk")
    cases: list[tuple[dict[str, object], str]] = [
        ({"target": "vd1"}, "block_device.target"),
        ({"bus": "floppy"}, "block_device.bus"),
        ({"serial": "x" * 21}, "block_device.serial"),
        ({"serial": "a b"}, "block_device.serial"),
        ({"source": Path("disk.img")}, "block_device.source"),
        ({"readonly": "yes"}, "block_device.readonly"),
        ({"device": "floppy"}, "block_device.device"),
    ]
    for bad, field in cases:
        fields: dict[str, object] = {"source": Path("/v/disk"), "target": "vdb"}
        fields.update(bad)
        with pytest.raises(InvalidInput) as info:
            BlockDeviceSpec(**fields)  # type: ignore[arg-type]
        assert info.value.field == field


def test_nic_needs_exactly_one_attachment_point_and_a_unicast_mac() -> None:
    nic = NICSpec(network="default", mac="52:54:00:AB:cd:01", model="virtio")
    assert nic.mac == "52:54:00:ab:cd:01"
    assert NICSpec(bridge="br0").network is None
    with pytest.raises(InvalidInput, match="exactly one"):
        NICSpec()
    with pytest.raises(InvalidInput, match="exactly one"):
        NICSpec(network="default", bridge="br0")
    with pytest.raises(InvalidInput, match="not a unicast"):
        NICSpec(network="default", mac="01:00:5e:00:00:01")
    with pytest.raises(InvalidInput) as info:
        NICSpec(bridge="bridge-name-too-long")
    assert info.value.field == "nic.bridge"
    with pytest.raises(InvalidInput) as info:
        NICSpec(network="default", model="tulip")
    assert info.value.field == "nic.model"


@pytest.mark.parametrize("name", ["tap3f2a9c1e-7b", "zct1", "t", "a.b_c-d", "0" * 15])
def test_a_tap_nic_names_a_linux_interface(name: str) -> None:
    nic = NICSpec(tap=name, mtu=1400)
    assert (nic.tap, nic.mtu, nic.network, nic.bridge) == (name, 1400, None, None)


@pytest.mark.parametrize(
    "name", ["", "-rf", ".hidden", "_x", "tap3f2a9c1e-7b0c", "tap 1", "tap/1", "täp", "a:b", 7]
)
def test_a_bad_tap_name_is_refused_naming_the_rule(name: object) -> None:
    with pytest.raises(InvalidInput) as info:
        NICSpec(tap=name)  # type: ignore[arg-type]
    assert info.value.field == "nic.tap"
    assert "\n" not in str(info.value)
    assert info.value.allowed == (
        "1-15 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
    )


def test_exactly_one_of_network_bridge_and_tap() -> None:
    for kinds in ({}, {"network": "n", "tap": "t"}, {"bridge": "b", "tap": "t"},
                  {"network": "n", "bridge": "b", "tap": "t"}):  # fmt: skip
        with pytest.raises(InvalidInput) as info:
            NICSpec(**kinds)
        assert info.value.field == "nic"
        assert info.value.allowed == "network, bridge, tap"


@pytest.mark.parametrize("mtu", [68, 1400, 9000, 65535])
def test_an_mtu_fits_every_nic_kind(mtu: int) -> None:
    for nic in (
        NICSpec(network="n", mtu=mtu),
        NICSpec(bridge="b", mtu=mtu),
        NICSpec(tap="t", mtu=mtu),
    ):
        assert nic.mtu == mtu


@pytest.mark.parametrize("mtu", [0, 67, 65536, -1, True, 1400.0, "1400"])
def test_a_bad_mtu_is_refused(mtu: object) -> None:
    with pytest.raises(InvalidInput) as info:
        NICSpec(tap="t", mtu=mtu)  # type: ignore[arg-type]
    assert info.value.field == "nic.mtu"
    assert info.value.allowed == "an integer from 68 to 65535"


def test_generated_macs_are_qemu_unicast_addresses() -> None:
    macs = {generate_mac() for _ in range(50)}
    assert len(macs) > 45
    for mac in macs:
        assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", mac)
        assert NICSpec(network="n", mac=mac).mac == mac


# --- instances -------------------------------------------------------------------------


def test_instance_defaults_and_string_coercion_of_state_and_task() -> None:
    inst = instance(state="running", task="spawning", domain_type="qemu")
    assert inst.state is InstanceState.RUNNING
    assert inst.task is Task.SPAWNING
    assert inst.created_at.tzinfo is not None
    assert instance().state is InstanceState.BUILDING
    assert instance().task is None


def test_instance_uuid_is_canonicalised() -> None:
    uuid = new_uuid()
    assert instance(uuid=uuid.upper()).uuid == uuid
    assert validate_uuid(uuid.upper()) == uuid
    with pytest.raises(InvalidInput):
        validate_uuid("{" + uuid + "}")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "flying"}, "instance.state"),
        ({"task": "dancing"}, "instance.task"),
        ({"arch": "x86_64"}, "instance.arch"),  # the image is s390x
        ({"domain_type": "xen"}, "instance.domain_type"),
        ({"machine_type": "s390 ccw"}, "instance.machine_type"),
        ({"name": "web 1"}, "instance.name"),
        ({"metadata": {"k": "v" * 256}}, "instance.metadata[k]"),
        ({"flavor": "tiny"}, "instance.flavor"),
        (
            {"block_devices": (BlockDeviceSpec(Path("/a"), "vdb"),) * 2},
            "instance.block_devices",
        ),
        (
            {"nics": (NICSpec(network="a", mac="52:54:00:00:00:01"),) * 2},
            "instance.nics",
        ),
        ({"nics": (NICSpec(tap="zct1"), NICSpec(tap="zct1", mtu=1400))}, "instance.nics"),
    ],
)
def test_instance_refuses_bad_values_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        instance(**changes)
    assert info.value.field == field


def test_replace_validates_the_copy() -> None:
    inst = instance()
    moved = inst.replace(state=InstanceState.RUNNING)
    assert moved.state is InstanceState.RUNNING
    assert inst.state is InstanceState.BUILDING
    with pytest.raises(InvalidInput):
        inst.replace(task="bogus")


def test_arch_free_image_runs_on_any_arch() -> None:
    assert instance(image=disk_image(arch=None), arch="x86_64").arch == "x86_64"
