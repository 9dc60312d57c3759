"""Golden tests of the other devices (input, display, balloon, rng, watchdog, panic,
host devices), of whole device lists, and of a running guest's XML edited.

Every case's output is ``golden/<name>-out.xml``; test_xml_libvirt.py validates each of
those files against libvirt's schema and defines it on test:///default.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.unit.xml.xml_support import assert_golden, golden_in, skeleton, typed_view

from zcompute.xml import (
    RNG,
    Address,
    Channel,
    Console,
    Controller,
    Devices,
    Disk,
    Domain,
    Graphics,
    HostDev,
    Input,
    InstanceMetadata,
    Interface,
    Iotune,
    MemBalloon,
    Metadata,
    Os,
    Panic,
    Serial,
    Video,
    Watchdog,
)

CASES: dict[str, Callable[[], Domain]] = {}


def case(fn: Callable[[], Domain]) -> Callable[[], Domain]:
    CASES[fn.__name__.removeprefix("golden_").replace("_", "-")] = fn
    return fn


@case
def golden_input_graphics_video() -> Domain:
    """Input devices, VNC and SPICE graphics, and video models."""
    dom = skeleton("display", "x86_64", "pc-q35-7.2")
    devices = dom.devices
    devices.add(Input(type="tablet", bus="usb"))
    devices.add(Input(type="keyboard", bus="virtio"))
    devices.add(Input(type="mouse", bus="ps2"))
    devices.add(Input(type="passthrough", bus="virtio", source_evdev="/dev/input/event1"))
    devices.add(
        Graphics(
            type="vnc",
            port=-1,
            autoport=True,
            listen="127.0.0.1",
            keymap="de",
            passwd="secret",
            listen_type="address",
            listen_address="127.0.0.1",
        )
    )
    devices.add(
        Graphics(
            type="spice",
            port=5900,
            tls_port=5901,
            autoport=False,
            listen_type="network",
            listen_network="default",
        )
    )
    devices.add(Video(model="virtio", heads=1, primary=True, accel3d=False))
    devices.add(Video(model="vga", vram=16384, heads=1))
    inputs = devices.inputs
    assert [(i.type, i.bus) for i in inputs] == [
        ("tablet", "usb"),
        ("keyboard", "virtio"),
        ("mouse", "ps2"),
        ("passthrough", "virtio"),
    ]
    assert inputs[3].source_evdev == "/dev/input/event1"
    vnc, spice = devices.graphics
    assert (vnc.port, vnc.autoport, vnc.listen_address) == (-1, True, "127.0.0.1")
    assert (spice.port, spice.tls_port, spice.listen_network) == (5900, 5901, "default")
    assert [v.model for v in devices.videos] == ["virtio", "vga"]
    assert devices.videos[0].primary is True
    assert devices.videos[1].vram == 16384
    assert devices.videos[0].accel3d is False
    devices.videos[0].accel3d = True
    return dom


@case
def golden_video_none() -> Domain:
    """A headless guest states <video><model type='none'/>."""
    dom = skeleton("headless", "x86_64", "pc-q35-7.2")
    dom.devices.add(Video(model="none"))
    assert dom.devices.videos[0].model == "none"
    return dom


@case
def golden_memballoon_rng() -> Domain:
    """Balloon statistics and the entropy device's backends."""
    dom = skeleton("balloon")
    devices = dom.devices
    devices.memballoon = MemBalloon(model="virtio", autodeflate=True, stats_period=5)
    devices.add(
        RNG(
            model="virtio",
            backend_model="random",
            backend_path="/dev/urandom",
            rate_bytes=1024,
            rate_period=1000,
        )
    )
    devices.add(
        RNG(
            model="virtio",
            backend_model="egd",
            backend_type="unix",
            backend_source_path="/run/egd.sock",
        )
    )
    balloon = devices.memballoon
    assert balloon is not None
    assert balloon.stats_period == 5
    assert balloon.autodeflate
    rngs = devices.rngs
    assert (rngs[0].backend_path, rngs[0].rate_bytes) == ("/dev/urandom", 1024)
    assert (rngs[1].backend_model, rngs[1].backend_type) == ("egd", "unix")
    balloon.stats_period = None  # stats off again
    balloon.free_page_reporting = True
    return dom


@case
def golden_watchdog_panic_ppc() -> Domain:
    """A ppc64le guest's pseries panic device next to an ib700 watchdog, HTM off."""
    dom = skeleton("ppc", "ppc64le", "pseries")
    dom.features.htm = False
    dom.devices.add(Watchdog(model="ib700", action="dump"))
    dom.devices.add(Panic(model="pseries"))
    assert dom.devices.watchdogs[0].action == "dump"
    assert dom.devices.panics[0].model == "pseries"
    assert dom.features.htm is False
    return dom


@case
def golden_hostdevs_s390x() -> Domain:
    """DASD (vfio-ccw) and crypto (vfio-ap) mediated devices and a zPCI function."""
    dom = skeleton("hostdevs")
    devices = dom.devices
    devices.add(
        HostDev(
            mode="subsystem",
            type="mdev",
            model="vfio-ccw",
            source_address=Address(uuid="90c6c135-ad44-41d0-b1b7-bae47de48627"),
            boot_order=1,
            address=Address.ccw(0xFE, 0, 0x0009),
        )
    )
    devices.add(
        HostDev(
            mode="subsystem",
            type="mdev",
            model="vfio-ap",
            source_address=Address(uuid="4b0c4b9e-2b8f-4d44-9d1b-0d7c8a5e1f22"),
        )
    )
    devices.add(
        HostDev(
            mode="subsystem",
            type="pci",
            managed=True,
            driver_name="vfio",
            source_address=Address(domain=0, bus=0, slot=0, function=0),
            address=Address.pci(0, 0, 8, 0, zpci_uid=0x0019, zpci_fid=0x1F),
        )
    )
    ccw, ap, pci = devices.hostdevs
    assert (ccw.model, ccw.source_address.uuid, ccw.boot_order) == (
        "vfio-ccw",
        "90c6c135-ad44-41d0-b1b7-bae47de48627",
        1,
    )
    assert ap.model == "vfio-ap"
    assert not ap.address.exists
    assert (pci.address.zpci_uid, pci.address.zpci_fid, pci.address.slot) == (25, 31, 8)
    assert pci.source_address.bus == 0
    assert pci.managed is True
    pci.address.zpci_fid = 0x20
    return dom


@case
def golden_hostdev_scsi() -> Domain:
    """A SCSI LUN passed through by its host adapter and address."""
    dom = skeleton("scsi-hostdev", "x86_64", "pc-q35-7.2")
    dom.devices.add(Controller(type="scsi", index=0, model="virtio-scsi"))
    dom.devices.add(
        HostDev(
            mode="subsystem",
            type="scsi",
            source_adapter="scsi_host0",
            source_address=Address(bus=0, target=1, unit=2),
            readonly=True,
            shareable=True,
            address=Address.drive(0, 0, 0, 1),
        )
    )
    lun = dom.devices.hostdevs[0]
    assert lun.source_adapter == "scsi_host0"
    assert (lun.source_address.bus, lun.source_address.target, lun.source_address.unit) == (0, 1, 2)
    assert lun.readonly
    assert lun.shareable
    return dom


@case
def golden_live_s390x() -> Domain:
    """A running s390x guest's XML: typed reads, then a hot-plug style edit."""
    dom = Domain.from_xml(golden_in("live-s390x"))
    devices = dom.devices
    disk = devices.disks[0]
    assert (disk.alias, disk.source_file, disk.address.devno) == (
        "virtio-disk0",
        "/var/lib/zcompute/instances/9aa4/disk",
        0,
    )
    nic = devices.interfaces[0]
    assert (nic.alias, nic.target_dev, nic.source_network) == ("net0", "vnet3", "default")
    sclp, sclplm = devices.consoles
    assert (sclp.tty, sclp.target_type, sclp.target_port) == ("/dev/pts/3", "sclp", 0)
    assert (sclplm.type, sclplm.target_type) == ("file", "sclplm")
    assert [type(d).__name__ for d in devices] == [
        "Disk",
        "Controller",
        "Interface",
        "Console",
        "Console",
        "Watchdog",
        "MemBalloon",
        "Panic",
    ]
    assert [el.tag for el in devices.unknown] == ["audio"]
    # detach the NIC, attach a second disk, keep a log for the interactive console
    devices.remove(nic)
    devices.add(
        Disk(
            type="file",
            device="disk",
            driver_name="qemu",
            driver_type="raw",
            source_file="/var/lib/zcompute/volumes/v1",
            target_dev="vdb",
            target_bus="virtio",
            address=Address.ccw(0xFE, 0, 3),
        )
    )
    sclp.log_file = "/var/lib/zcompute/instances/9aa4/sclp.log"
    sclp.log_append = True
    dom.id = None
    return dom


@case
def golden_devices_assigned() -> Domain:
    """All device lists given at once (as a constructor or an assignment takes them)."""
    dom = Domain(
        type="kvm",
        name="assigned",
        memory_kib=1048576,
        metadata=Metadata(zcompute=InstanceMetadata(instance_id="i-42", image="fedora")),
        os=Os(type="hvm", arch="x86_64", machine="pc-q35-7.2"),
    )
    dom.devices = Devices(
        emulator="/usr/bin/qemu-system-x86_64",
        disks=[
            Disk(
                type="dir",
                device="floppy",
                source_dir="/srv/floppy",
                target_dev="fda",
                target_bus="fdc",
                readonly=True,
            ),
            Disk(
                type="file",
                device="disk",
                source_file="/srv/a.qcow2",
                target_dev="vda",
                target_bus="virtio",
                iotune=Iotune(total_iops_sec=300, total_bytes_sec=1000),
            ),
        ],
        controllers=[Controller(type="usb", index=0, model="qemu-xhci", ports=8)],
        interfaces=[Interface(type="user", model="e1000e")],
        serials=[Serial(type="pty", target_type="isa-serial", target_port=0)],
        consoles=[Console(type="pty", target_type="serial", target_port=0)],
        channels=[
            Channel(
                type="pty", target_type="guestfwd", target_address="10.0.2.1", target_port=4600
            ),
        ],
        inputs=[Input(type="tablet", bus="usb")],
        graphics=[Graphics(type="vnc", autoport=True)],
        videos=[Video(model="bochs")],
        hostdevs=[
            HostDev(
                mode="subsystem",
                type="mdev",
                model="vfio-pci",
                display=True,
                source_address=Address(uuid="c2177883-f1bb-47f0-914d-32a22e3a8804"),
            ),
        ],
        watchdogs=[Watchdog(model="i6300esb", action="pause")],
        memballoon=MemBalloon(model="virtio"),
        rngs=[RNG(model="virtio", backend_model="builtin")],
        panics=[Panic(model="isa")],
    )
    devices = dom.devices
    assert devices.disks[0].source_dir == "/srv/floppy"
    assert devices.disks[1].iotune.total_iops_sec == 300
    guestfwd = devices.channels[0]
    assert (guestfwd.target_type, guestfwd.target_address, guestfwd.target_port) == (
        "guestfwd",
        "10.0.2.1",
        4600,
    )
    assert devices.hostdevs[0].display is True
    assert dom.zcompute.instance_id == "i-42"
    return dom


@case
def golden_hostdev_boot_loadparm() -> Domain:
    """Booting from a passed-through DASD (vfio-ccw) with a boot menu entry."""
    dom = Domain.from_xml(golden_in("live-s390x"))
    dom.id = None
    dom.os.boot_devs = []  # per-device boot order replaces <os><boot dev>
    dom.devices.hostdevs = [
        HostDev(
            mode="subsystem",
            type="mdev",
            model="vfio-ccw",
            source_address=Address(uuid="90c6c135-ad44-41d0-b1b7-bae47de48627"),
            boot_order=1,
            boot_loadparm="2",
        )
    ]
    assert dom.devices.hostdevs[0].boot_loadparm == "2"
    # the pty console as libvirt reports it once the guest runs
    dom.devices.consoles[0].tty = "/dev/pts/7"
    dom.devices.consoles[0].source_path = "/dev/pts/7"
    return dom


# after the cases: the parameter list is read when this decorator runs
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    dom = CASES[name]()
    xml = dom.to_xml()
    assert_golden(name, xml)
    # every typed value reads back the same from the written text
    assert typed_view(Domain.from_xml(xml)) == typed_view(dom)
    assert Domain.from_xml(xml).to_xml() == xml
