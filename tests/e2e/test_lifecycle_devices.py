"""Local volumes and NICs on real guests: hotplug, unplug, the persistent definition, limits.

What counts is what the guest sees: its init reports every disk and NIC that appears or goes
(``ZCOMPUTE-BLOCK added name=vdb sectors=... serial=...``, ``ZCOMPUTE-NIC added ... mac=...``).
NICs sit on the isolated network ``zcompute-isolated``; no IP traffic is sent.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import Conflict, NotFound
from zcompute.model import BlockDeviceSpec, NICSpec
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed

NETWORK = "zcompute-isolated"
MIB = 1 << 20


def _file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    with path.open("wb") as handle:
        handle.truncate(size)  # sparse
    path.chmod(0o644)
    return path


@contextlib.contextmanager
def _loop_device(backing: Path) -> Iterator[Path]:
    """A real block device (a loop device over ``backing``), detached again afterwards."""
    found = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=True
    )
    device = Path(found.stdout.strip())
    try:
        yield device
    finally:
        subprocess.run(["losetup", "--detach", str(device)], check=False)


def _disks(driver: ComputeDriver, name: str, *, inactive: bool = False) -> dict[str, str]:
    uuid = driver.get_instance(name).uuid
    dom = Domain.from_xml(driver.domains.xml(uuid, inactive=inactive))
    return {d.target_dev or "": d.source_file or d.source_dev or "" for d in dom.devices.disks}


def _wait_for_nic(driver: ComputeDriver, name: str, log: LogWatch, mac: str) -> str:
    """The guest's report of a hotplugged NIC; if it never comes, what the guest does see."""
    try:
        return log.wait(rf"ZCOMPUTE-NIC added .*mac={mac}")
    except AssertionError as missing:
        with open_shell(driver, name) as shell:
            seen = run(shell, "grep -H . /sys/class/net/*/address; dmesg | tail -20")
        raise AssertionError(f"{missing}\n--- the guest sees:\n{seen}") from None


def _macs(driver: ComputeDriver, name: str, *, inactive: bool = False) -> set[str]:
    uuid = driver.get_instance(name).uuid
    dom = Domain.from_xml(driver.domains.xml(uuid, inactive=inactive))
    return {(i.mac or "").lower() for i in dom.devices.interfaces}


def _mac() -> str:
    return "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


@pytest.mark.feature("attach-volume")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_volumes_on_a_real_guest(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    name = guest_name
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        volume = _file(guest_dir, "file.img", 64 * MIB)
        with timed(arch, "attach volume (file, hotplug)"):
            spec = driver.attach_volume(name, volume, serial="zcvol1")
        assert spec.target == "vdb"
        with timed(arch, "attached volume seen by the guest"):
            seen = log.wait(r"ZCOMPUTE-BLOCK added name=vdb .*serial=\S+")
        assert "sectors=131072" in seen
        assert "serial=zcvol1" in seen
        assert _disks(driver, name)["vdb"] == str(volume)  # live
        assert _disks(driver, name, inactive=True)["vdb"] == str(volume)  # persistent
        assert [b.target for b in driver.get_instance(name).block_devices] == ["vdb"]

        other = _file(guest_dir, "other.img", MIB)
        with pytest.raises(Conflict, match="already has a disk vdb"):
            driver.attach_volume(name, other, target="vdb")
        with pytest.raises(Conflict, match="already attached"):
            driver.attach_volume(name, volume, target="vdd")

        with _loop_device(_file(guest_dir, "loop.img", 32 * MIB)) as device:
            with timed(arch, "attach volume (block device, hotplug)"):
                driver.attach_volume(name, BlockDeviceSpec(source=device, target="vdc"))
            assert "sectors=65536" in log.wait(r"ZCOMPUTE-BLOCK added name=vdc .*serial=\S+")
            assert _disks(driver, name)["vdc"] == str(device)
            with timed(arch, "detach volume (until DEVICE_REMOVED)"):
                driver.detach_volume(name, "vdc")
            log.wait(r"ZCOMPUTE-BLOCK removed name=vdc")

        driver.detach_volume(name, "vdb")
        log.wait(r"ZCOMPUTE-BLOCK removed name=vdb")
        assert "vdb" not in _disks(driver, name)
        assert "vdb" not in _disks(driver, name, inactive=True)
        assert driver.get_instance(name).block_devices == ()
        with pytest.raises(NotFound, match="no volume 'vdb' is attached"):
            driver.detach_volume(name, "vdb")


@pytest.mark.feature("attach-interface")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_nics_and_the_persistent_definition_on_a_real_guest(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path
) -> None:
    name = guest_name
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        mac = _mac()
        with timed(arch, "attach NIC (hotplug)"):
            nic = driver.attach_interface(name, NICSpec(network=NETWORK, mac=mac))
        assert nic.mac == mac
        with timed(arch, "attached NIC seen by the guest"):
            assert f"mac={mac}" in _wait_for_nic(driver, name, log, mac)
        generated = driver.attach_interface(name, NICSpec(network=NETWORK))
        assert generated.mac is not None
        assert generated.mac.startswith("52:54:00:")
        _wait_for_nic(driver, name, log, generated.mac)
        assert {mac, generated.mac} <= _macs(driver, name) & _macs(driver, name, inactive=True)
        with pytest.raises(Conflict, match=f"already has a NIC with MAC {mac}"):
            driver.attach_interface(name, NICSpec(network=NETWORK, mac=mac))

        with timed(arch, "detach NIC (until DEVICE_REMOVED)"):
            driver.detach_interface(name, mac)
        log.wait(r"ZCOMPUTE-NIC removed")
        assert mac not in _macs(driver, name) | _macs(driver, name, inactive=True)
        with pytest.raises(NotFound, match=f"no NIC with MAC {mac}"):
            driver.detach_interface(name, mac)

        # A stopped guest gets devices in its definition only; a hard reboot defines the guest
        # again from its record, so everything attached, live or not, comes back.
        hot = driver.attach_volume(name, _file(guest_dir, "hot.img", 16 * MIB), serial="zchot")
        log.wait(r"ZCOMPUTE-BLOCK added name=vdb")
        driver.power_off(name, timeout=0)
        cold = driver.attach_volume(name, _file(guest_dir, "cold.img", 8 * MIB), serial="zccold")
        assert (hot.target, cold.target) == ("vdb", "vdc")
        log.mark()
        driver.reboot(name, hard=True)
        log.wait(BOOTED)
        booted = log.lines_since(0, r"ZCOMPUTE-(BLOCK|NIC) name=")
        # the guest names disks in the order it finds them, which need not follow the targets
        # (libvirt documents target names as a hint): the serials tell them apart
        assert any("sectors=32768 serial=zchot" in line for line in booted), booted
        assert any("sectors=16384 serial=zccold" in line for line in booted), booted
        assert any(f"mac={generated.mac}" in line for line in booted), booted


def _fill(
    driver: ComputeDriver, name: str, directory: Path, attached: list[BlockDeviceSpec]
) -> None:
    for index in range(40):
        attached.append(driver.attach_volume(name, _file(directory, f"{index}.img", MIB)))
    pytest.fail("40 disks fit on PCI bus 0: no bus-full error")


def test_a_full_bus_is_a_clear_error_that_attaches_nothing(
    driver: ComputeDriver, guest_name: str, guest_dir: Path
) -> None:
    """x86 ``pc`` guests put every virtio disk in a slot of PCI bus 0; it has 32 slots.

    (On s390x virtio disks use ccw device numbers: 65536 per subchannel set, far more than
    the 702 disk names ``vda``..``vdzz``; that bus does not fill up.)
    """
    name = guest_name
    driver.spawn(name, imported_test_image(driver, "x86_64"), TINY.name, wait_for=BOOTED)
    attached: list[BlockDeviceSpec] = []
    with pytest.raises(Conflict, match=r"its virtio bus is full .*PCI slots.*nothing was attached"):
        _fill(driver, name, guest_dir, attached)
    volume = guest_dir / f"{len(attached)}.img"  # the one that did not fit
    inst = driver.get_instance(name)
    assert len(attached) > 20  # bus 0 minus the host bridge, ISA/IDE/USB, balloon, root disk
    assert [b.target for b in inst.block_devices] == [a.target for a in attached]
    sources = {*_disks(driver, name).values(), *_disks(driver, name, inactive=True).values()}
    assert str(volume) not in sources
    assert inst.task is None
