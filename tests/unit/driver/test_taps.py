"""Tap NICs: zcompute creates their devices, removes only its own, and never takes one over.

The devices live in a fake ``/sys/class/net`` (a folder per device with its ``ifalias``) that a
fake ``ip`` changes as iproute2 would; the guests on libvirt's test driver. Real tap devices on
real guests: tests/e2e/test_taps.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver, HostView
from zcompute.driver._taps import HostTaps
from zcompute.errors import Conflict, InvalidInput, NetworkDeviceError
from zcompute.model import Image, InstanceState, NICSpec, Task
from zcompute.xml import Domain

from .driver_support import FLAVOR, HOST_CAPS, Recorder
from .test_recovery import _dead_owner, _interrupt

HOST = HostView(caps=HOST_CAPS, host_cpu_model=None, kvm_usable=False, libvirt_version=9_000_000)


class FakeIp:
    """iproute2's ``ip tuntap add``, ``ip link set`` and ``ip link delete`` on a fake sysfs."""

    def __init__(self, sysfs: Path) -> None:
        self.sysfs = sysfs
        self.calls: list[list[str]] = []
        self.mtu: dict[str, int] = {}
        self.fail: str | None = None  # a verb ("tuntap", "link") that fails

    def __call__(self, command: Sequence[str]) -> tuple[int, str]:
        args = list(command)
        self.calls.append(args)
        if args[0] == self.fail:
            return 2, "RTNETLINK answers: Operation not permitted"
        name = args[args.index("dev") + 1]
        device = self.sysfs / name
        if args[:2] == ["tuntap", "add"]:
            device.mkdir()
            (device / "ifalias").write_text("\n")
        elif args[:2] == ["link", "set"]:
            settings = dict(zip(args[4::2], args[5::2], strict=False))
            (device / "ifalias").write_text(settings.get("alias", "") + "\n")
            if "mtu" in settings:
                self.mtu[name] = int(settings["mtu"])
        elif args[:2] == ["link", "delete"]:
            (device / "ifalias").unlink()
            device.rmdir()
        return 0, ""

    def device(self, name: str, alias: str = "") -> None:
        """A device that something else made (``lo``, ``eth0``, another program's tap)."""
        (self.sysfs / name).mkdir()
        (self.sysfs / name / "ifalias").write_text(alias + "\n")

    def names(self) -> set[str]:
        return {p.name for p in self.sysfs.iterdir()}


@pytest.fixture
def ip(tmp_path: Path) -> FakeIp:
    sysfs = tmp_path / "sys-class-net"
    sysfs.mkdir()
    fake = FakeIp(sysfs)
    fake.device("lo")
    fake.device("eth0")
    return fake


@pytest.fixture
def drv(test_driver: ComputeDriver, ip: FakeIp) -> ComputeDriver:
    test_driver._ctx.host_view = HOST
    test_driver._ctx.taps = HostTaps(test_driver.config.data_dir, ip.sysfs, ip)
    return test_driver


def _interfaces(drv: ComputeDriver, uuid: str) -> list[tuple[str | None, ...]]:
    dom = Domain.from_xml(drv.domains.xml(uuid, inactive=True))
    return [
        (i.type, i.target_dev, str(i.target_managed), str(i.mtu)) for i in dom.devices.interfaces
    ]


# -- the devices ---------------------------------------------------------------------------


def test_a_tap_is_created_up_with_its_mtu_and_its_owner_and_removed_only_by_it(
    ip: FakeIp, tmp_path: Path
) -> None:
    taps = HostTaps(tmp_path, ip.sysfs, ip)
    taps.create("u1", "tap3f2a9c1e-7b", 1400)
    assert ip.calls == [
        ["tuntap", "add", "dev", "tap3f2a9c1e-7b", "mode", "tap"],
        ["link", "set", "dev", "tap3f2a9c1e-7b", "mtu", "1400", "alias", taps.mark("u1"), "up"],
    ]
    assert ip.mtu == {"tap3f2a9c1e-7b": 1400}
    assert taps.marked() == {"tap3f2a9c1e-7b": "u1"}
    assert HostTaps(tmp_path / "other", ip.sysfs, ip).marked() == {}  # another data dir's
    assert not taps.remove("u2", "tap3f2a9c1e-7b")  # another instance's: left
    assert taps.remove("u1", "tap3f2a9c1e-7b")
    assert not taps.remove("u1", "tap3f2a9c1e-7b")  # gone already: nothing to do
    assert ip.names() == {"lo", "eth0"}


@pytest.mark.parametrize("name", ["lo", "eth0", "tapforeign"])
def test_a_device_zcompute_did_not_make_is_never_taken_over_or_deleted(
    ip: FakeIp, tmp_path: Path, name: str
) -> None:
    if name == "tapforeign":
        ip.device(name, "made by someone else")
    taps = HostTaps(tmp_path, ip.sysfs, ip)
    with pytest.raises(Conflict, match=f"network device {name!r} that zcompute did not create"):
        taps.create("u1", name, None)
    assert not taps.remove("u1", name)
    assert taps.remove_all("u1", [name]) == []
    assert ip.calls == []
    assert name in ip.names()


def test_ip_failures_name_the_device_and_the_command(ip: FakeIp, tmp_path: Path) -> None:
    taps = HostTaps(tmp_path, ip.sysfs, ip)
    ip.fail = "tuntap"
    with pytest.raises(NetworkDeviceError) as info:
        taps.create("u1", "zct1", None)
    assert info.value.device == "zct1"
    assert str(info.value) == (
        "network device zct1: 'ip tuntap add dev zct1 mode tap' failed: "
        "RTNETLINK answers: Operation not permitted"
    )

    def missing(_args: Sequence[str]) -> tuple[int, str]:
        raise FileNotFoundError("ip")

    with pytest.raises(NetworkDeviceError, match="zct1: iproute2's 'ip' command is not installed"):
        HostTaps(tmp_path, ip.sysfs, missing).create("u1", "zct1", None)


# -- spawn, start, destroy -----------------------------------------------------------------


def test_spawn_makes_the_tap_before_the_guest_and_destroy_removes_it(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image
) -> None:
    nics = [NICSpec(tap="zct1", mtu=1400), NICSpec(tap="zct2")]
    inst = drv.spawn("tapped", kernel_image, FLAVOR, nics=nics)
    assert [(n.tap, n.mtu) for n in drv.get_instance(inst.uuid).nics] == [
        ("zct1", 1400),
        ("zct2", None),
    ]
    assert _interfaces(drv, inst.uuid) == [
        ("ethernet", "zct1", "False", "1400"),
        ("ethernet", "zct2", "False", "None"),
    ]
    assert drv._ctx.taps.marked() == {"zct1": inst.uuid, "zct2": inst.uuid}
    assert ip.mtu == {"zct1": 1400}
    assert drv.destroy(inst.uuid)
    assert ip.names() == {"lo", "eth0"}


def test_spawn_on_a_taken_name_or_another_guests_tap_creates_nothing(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image
) -> None:
    with pytest.raises(Conflict, match="network device 'eth0' that zcompute did not create"):
        drv.spawn("taken", kernel_image, FLAVOR, nics=[NICSpec(tap="eth0")])
    first = drv.spawn("first", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1")])
    with pytest.raises(Conflict, match="tap device zct1 is already a NIC of instance first"):
        drv.spawn("second", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1")])
    with pytest.raises(InvalidInput, match=r"instance\.nics: duplicate tap values"):
        drv.spawn("twice", kernel_image, FLAVOR, nics=[NICSpec(tap="zct3"), NICSpec(tap="zct3")])
    assert [i.name for i in drv.db.list_instances()] == ["first"]
    assert drv.domains.uuid_of("second") is None
    assert ip.names() == {"lo", "eth0", "zct1"}
    assert drv._ctx.taps.marked() == {"zct1": first.uuid}


def test_a_spawn_that_fails_after_making_its_taps_removes_them(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_uuid: str) -> None:
        raise Conflict("injected: libvirt refuses to start the guest")

    monkeypatch.setattr(drv._ctx.domains, "start", refuse)
    with pytest.raises(Conflict, match="injected"):
        drv.spawn("failing", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1", mtu=9000)])
    assert ["tuntap", "add", "dev", "zct1", "mode", "tap"] in ip.calls
    assert ip.names() == {"lo", "eth0"}
    assert drv.db.list_instances() == []


def test_a_start_makes_the_taps_a_host_boot_took(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image
) -> None:
    inst = drv.spawn("reboot", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1", mtu=1400)])
    drv.power_off(inst.name, timeout=0)
    drv._ctx.taps.remove(inst.uuid, "zct1")  # what a host boot does
    ip.mtu.clear()
    drv.power_on(inst.name)
    assert drv._ctx.taps.marked() == {"zct1": inst.uuid}
    assert ip.mtu == {"zct1": 1400}
    drv.reboot(inst.name, hard=True)  # the device is there and the guest's: kept
    assert ip.calls[-1][:2] != ["tuntap", "add"]
    drv.power_off(inst.name, timeout=0)
    drv._ctx.taps.remove(inst.uuid, "zct1")
    ip.device("zct1", "somebody else's now")
    with pytest.raises(Conflict, match="'zct1' that zcompute did not create"):
        drv.power_on(inst.name)
    assert drv.get_instance(inst.name).state is InstanceState.SHUTOFF


# -- recovery and repair -------------------------------------------------------------------


def test_recovery_of_an_interrupted_spawn_removes_its_taps(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image
) -> None:
    inst = drv.spawn("killed", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1")])
    _interrupt(drv, inst.uuid, Task.SPAWNING, _dead_owner())
    drv.recover_leftovers()
    assert ip.names() == {"lo", "eth0"}


def test_recovery_of_an_attach_removes_the_tap_no_nic_uses(
    drv: ComputeDriver, ip: FakeIp, recorded: Recorder
) -> None:
    """An attach killed after it made the device, before libvirt had the NIC."""
    inst = recorded(InstanceState.SHUTOFF, start=False)
    drv._ctx.taps.create(inst.uuid, "zct1", None)
    _interrupt(drv, inst.uuid, Task.ATTACHING_INTERFACE, _dead_owner())
    (action,) = drv.recover_leftovers().actions
    assert "tap device zct1 of no NIC removed" in action
    assert ip.names() == {"lo", "eth0"}


def test_repair_removes_recorded_taps_of_instances_without_a_record_only(
    drv: ComputeDriver, ip: FakeIp, kernel_image: Image
) -> None:
    kept = drv.spawn("kept", kernel_image, FLAVOR, nics=[NICSpec(tap="zct1")])
    gone = drv.spawn("gone", kernel_image, FLAVOR, nics=[NICSpec(tap="zct2")])
    drv.power_off(kept.name, timeout=0)  # the test driver has no block jobs to ask about
    ip.device("zctstray")  # a zcompute-like name, but not marked as made by zcompute
    with drv.db.transaction():
        drv.db._execute("DELETE FROM instances WHERE uuid = ?", (gone.uuid,))
    actions = drv.repair().actions
    assert f"tap device zct2 of instance {gone.uuid}, which has no record, removed" in actions
    assert ip.names() == {"lo", "eth0", "zct1", "zctstray"}
    assert drv._ctx.taps.marked() == {"zct1": kept.uuid}
