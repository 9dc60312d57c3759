"""libvirt's own s390x domain XMLs (shared test data, read in place): every one parses,
round-trips losslessly and shows its s390x devices through typed fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.xml.xml_support import QEMUXML, as_test_domain, c14n, define_and_dump

from zcompute.xml import Domain, validate_schema

# -- per file: what the typed layer must see -------------------------------------------


def _console_sclp(dom: Domain) -> None:
    (console,) = dom.devices.consoles
    assert (console.type, console.target_type) == ("pty", "sclp")
    assert dom.memory_kib == 219100  # no unit attribute: KiB
    assert dom.devices.disks[0].source_dev == "/dev/HostVG/QEMUGuest1"


def _cpu_features(dom: Domain) -> None:
    assert (dom.cpu.mode, dom.cpu.match, dom.cpu.model) == ("custom", "exact", "zEC12")
    assert dom.cpu.model_fallback == "forbid"
    assert [(f.name, f.policy) for f in dom.cpu.features] == [
        ("dfppc", "require"),
        ("stckf", "disable"),
    ]
    balloon = dom.devices.memballoon
    assert balloon is not None
    assert balloon.model == "none"


def _cpu_zec12(dom: Domain) -> None:
    assert (dom.type, dom.cpu.model, dom.cpu.features) == ("kvm", "zEC12", [])


def _disk_ccw_many(dom: Domain) -> None:
    addresses = [d.address for d in dom.devices.disks]
    # decimal, hex and empty ccw addresses as libvirt's test writes them
    assert [(a.type, a.cssid, a.ssid, a.devno) for a in addresses] == [
        ("ccw", 0, 0, 7),
        (None, None, None, None),
        ("ccw", 0xFE, 2, 0xF00F),
        ("ccw", None, None, None),
    ]
    assert not addresses[1].exists
    balloon = dom.devices.memballoon
    assert balloon is not None
    assert balloon.address.devno == 0x0A


def _disk_ccw(dom: Domain) -> None:
    assert dom.devices.disks[1].address.devno == 7
    balloon = dom.devices.memballoon
    assert balloon is not None
    assert (balloon.address.cssid, balloon.address.devno) == (0xFE, 0xA)  # '0xFe', '0xA'


def _vfio_ccw_boot(dom: Domain) -> None:
    (dev,) = dom.devices.hostdevs
    assert (dev.mode, dev.type, dev.model, dev.boot_order) == ("subsystem", "mdev", "vfio-ccw", 1)
    assert dev.source_address.uuid == "90c6c135-ad44-41d0-b1b7-bae47de48627"


def _vfio_ccw(dom: Domain) -> None:
    (dev,) = dom.devices.hostdevs
    assert (dev.model, dev.boot_order) == ("vfio-ccw", None)
    assert dev.source_address.uuid == "90c6c135-ad44-41d0-b1b7-bae47de48627"


def _vfio_zpci(dom: Domain) -> None:
    (dev,) = dom.devices.hostdevs
    assert (dev.type, dev.managed) == ("pci", False)
    source = dev.source_address
    assert (source.type, source.domain, source.bus, source.slot, source.function) == (
        None,
        0,
        0,
        0,
        0,
    )
    address = dev.address
    assert (address.type, address.slot, address.zpci_uid, address.zpci_fid) == ("pci", 8, 25, 31)
    assert [p.model for p in dom.devices.panics] == ["s390"]
    assert [e.tag for e in dom.devices.unknown] == ["audio"]


def _input_ccw(dom: Domain) -> None:
    assert [(i.type, i.bus) for i in dom.devices.inputs] == [
        ("keyboard", "virtio"),
        ("mouse", "virtio"),
        ("tablet", "virtio"),
    ]
    assert dom.devices.disks[0].address.devno == 0


def _keywrap(dom: Domain) -> None:
    assert dom.keywrap.aes is True
    assert dom.keywrap.dea is None
    assert [(c.name, c.state) for c in dom.keywrap.ciphers] == [("aes", True)]
    assert (dom.cpu.mode, dom.cpu.check) == ("custom", "none")


def _loadparm_net(dom: Domain) -> None:
    (nic,) = dom.devices.interfaces
    assert (nic.type, nic.mac, nic.model) == ("user", "00:11:22:33:44:54", "virtio")
    assert (nic.boot_order, nic.boot_loadparm) == (1, "2")
    assert nic.address.devno == 0


def _net_ccw(dom: Domain) -> None:
    first, second = dom.devices.interfaces
    assert not first.address.exists
    assert (second.address.cssid, second.address.devno) == (0xFE, 0)
    balloon = dom.devices.memballoon
    assert balloon is not None
    assert (balloon.address.cssid, balloon.address.devno) == (254, 10)


def _bogus_usb(dom: Domain) -> None:
    (usb,) = dom.devices.controllers
    assert (usb.type, usb.index, usb.address.type, usb.address.function) == ("usb", 0, "pci", 2)
    (console,) = dom.devices.consoles
    assert console.target_type == "virtio"
    (rng,) = dom.devices.rngs
    assert (rng.model, rng.backend_model, rng.backend_path) == ("virtio", "random", "/dev/hwrng")
    assert dom.devices.disks[0].boot_order == 1


def _defaultconsole(dom: Domain) -> None:
    (console,) = dom.devices.consoles
    assert (console.type, console.target_type) == ("pty", None)


def _panic_missing(dom: Domain) -> None:
    (controller,) = dom.devices.controllers
    assert (controller.type, controller.address.devno) == ("virtio-serial", 0)
    (console,) = dom.devices.consoles
    assert (console.target_type, console.address.type, console.address.devno) == (
        "virtio",
        "ccw",
        1,
    )
    assert dom.devices.panics == []


def _panic(dom: Domain) -> None:
    assert [p.model for p in dom.devices.panics] == ["s390"]
    assert (dom.cpu.mode, dom.cpu.check) == ("host-model", "partial")
    assert dom.devices.consoles[0].target_port == 0


def _serial(dom: Domain) -> None:
    (serial,) = dom.devices.serials
    assert (serial.target_type, serial.target_port, serial.target_model) == (
        "sclp-serial",
        0,
        "sclpconsole",
    )
    (console,) = dom.devices.consoles
    assert console.target_type == "serial"


def _video_ccw(dom: Domain) -> None:
    first, second = dom.devices.videos
    assert (first.model, first.heads, first.primary, first.address.devno) == ("virtio", 1, True, 2)
    assert (second.primary, second.address.devno) == (None, 3)
    assert [g.type for g in dom.devices.graphics] == ["vnc"]


def _diag288_latest(dom: Domain) -> None:
    (watchdog,) = dom.devices.watchdogs
    assert (watchdog.model, watchdog.action) == ("diag288", "inject-nmi")
    disk = dom.devices.disks[0]
    assert (disk.boot_order, disk.driver_name, disk.driver_type) == (1, "qemu", "raw")


def _diag288(dom: Domain) -> None:
    (watchdog,) = dom.devices.watchdogs
    assert watchdog.model == "diag288"
    assert dom.devices.memballoon is None


EXPECTATIONS: dict[str, Callable[[Domain], None]] = {
    "console-sclp.xml": _console_sclp,
    "cpu-s390-features.xml": _cpu_features,
    "cpu-s390-zEC12.xml": _cpu_zec12,
    "disk-virtio-ccw-many.xml": _disk_ccw_many,
    "disk-virtio-ccw.xml": _disk_ccw,
    "hostdev-subsys-mdev-vfio-ccw-boot.xml": _vfio_ccw_boot,
    "hostdev-subsys-mdev-vfio-ccw.xml": _vfio_ccw,
    "hostdev-vfio-zpci.s390x-latest.xml": _vfio_zpci,
    "input-virtio-ccw.xml": _input_ccw,
    "machine-aeskeywrap-on-cap.s390x-latest.xml": _keywrap,
    "machine-loadparm-net-s390.s390x-latest.xml": _loadparm_net,
    "net-virtio-ccw.xml": _net_ccw,
    "s390-allow-bogus-usb-controller.xml": _bogus_usb,
    "s390-defaultconsole.xml": _defaultconsole,
    "s390-panic-missing.xml": _panic_missing,
    "s390-panic.s390x-latest.xml": _panic,
    "s390-serial.s390x-latest.xml": _serial,
    "video-virtio-gpu-ccw.xml": _video_ccw,
    "watchdog-diag288.s390x-latest.xml": _diag288_latest,
    "watchdog-diag288.xml": _diag288,
}


@pytest.fixture(scope="module")
def qemuxml(shared_testdata: Path) -> Path:
    return shared_testdata / QEMUXML


def test_every_real_file_has_expectations(qemuxml: Path) -> None:
    assert {p.name for p in qemuxml.glob("*.xml")} == set(EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_round_trips_to_the_same_canonical_form(qemuxml: Path, name: str) -> None:
    text = (qemuxml / name).read_text()
    out = Domain.from_xml(text).to_xml()
    assert c14n(out) == c14n(text)
    # libvirt-formatted outputs (*.s390x-latest.xml) come back exactly, blanks included
    if name.endswith(".s390x-latest.xml"):
        assert c14n(out, keep_blanks=True) == c14n(text, keep_blanks=True)
    assert Domain.from_xml(out).to_xml() == out  # and writing is stable


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_typed_fields_expose_the_s390x_devices(qemuxml: Path, name: str) -> None:
    dom = Domain.from_xml((qemuxml / name).read_text())
    assert dom.os.arch == "s390x"
    assert (dom.os.machine or "").startswith("s390-ccw-virtio")
    assert dom.devices.emulator == "/usr/bin/qemu-system-s390x"
    EXPECTATIONS[name](dom)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_output_is_valid_for_libvirt(qemuxml: Path, name: str) -> None:
    text = (qemuxml / name).read_text()
    out = Domain.from_xml(text).to_xml()
    validate_schema(text)
    validate_schema(out)
    define_and_dump(as_test_domain(out, Path(name).stem))


def test_an_edit_changes_only_what_it_says(qemuxml: Path) -> None:
    text = (qemuxml / "watchdog-diag288.s390x-latest.xml").read_text()
    dom = Domain.from_xml(text)
    dom.devices.watchdogs[0].action = "reset"
    changed = dom.to_xml()
    assert c14n(changed.replace('action="reset"', 'action="inject-nmi"')) == c14n(text)
