"""Golden tests of storage, network and character devices and of every address kind.

Every case's output is ``golden/<name>-out.xml``; test_xml_libvirt.py validates each of
those files against libvirt's schema and defines it on test:///default.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.unit.xml.xml_support import assert_golden, skeleton, typed_view

from zcompute.builder import nic_device
from zcompute.plan import NicPlan
from zcompute.xml import (
    Address,
    BackingStore,
    Channel,
    Console,
    Controller,
    Disk,
    Domain,
    Interface,
    Iotune,
    Serial,
)

CASES: dict[str, Callable[[], Domain]] = {}


def case(fn: Callable[[], Domain]) -> Callable[[], Domain]:
    CASES[fn.__name__.removeprefix("golden_").replace("_", "-")] = fn
    return fn


@case
def golden_disks() -> Domain:
    """File, block and network disks; cdrom on virtio-scsi; boot order with loadparm."""
    dom = skeleton("disks")
    devices = dom.devices
    boot = Disk(
        type="file",
        device="disk",
        driver_name="qemu",
        driver_type="qcow2",
        driver_cache="writeback",
        driver_io="threads",
        driver_discard="ignore",
        source_file="/var/lib/zcompute/instances/d/disk",
        target_dev="vda",
        target_bus="virtio",
        serial="ZC-ROOT-0001",
        boot_order=1,
        boot_loadparm="LINUX",
        address=Address.ccw(0xFE, 0, 0),
    )
    devices.add(boot)
    devices.add(
        Disk(
            type="block",
            device="disk",
            driver_name="qemu",
            driver_type="raw",
            driver_cache="directsync",
            driver_io="native",
            source_dev="/dev/disk/by-path/ccw-0.0.3080-zfcp-0x500507680b2155f8:0x0002000000000000",
            target_dev="vdb",
            target_bus="virtio",
            serial="ZC-DATA-0001",
            shareable=True,
            iotune=Iotune(total_bytes_sec=104857600, read_iops_sec=2000),
        )
    )
    devices.add(
        Disk(
            type="network",
            device="disk",
            driver_name="qemu",
            driver_type="raw",
            source_protocol="iscsi",
            source_name="iqn.2025-01.dev.zcompute:vol1/1",
            source_host_name="127.0.0.1",
            source_host_port=3260,
            target_dev="vdc",
            target_bus="virtio",
        )
    )
    devices.add(
        Disk(
            type="file",
            device="cdrom",
            driver_name="qemu",
            driver_type="raw",
            source_file="/var/lib/zcompute/instances/d/config.iso",
            target_dev="sda",
            target_bus="scsi",
            readonly=True,
            address=Address.drive(0, 0, 0, 0),
        )
    )
    devices.add(Controller(type="scsi", index=0, model="virtio-scsi"))

    disks = devices.disks
    assert [d.target_dev for d in disks] == ["vda", "vdb", "vdc", "sda"]
    assert (disks[0].boot_order, disks[0].boot_loadparm) == (1, "LINUX")
    assert disks[0].address.devno == 0
    assert disks[1].shareable
    assert (disks[0].serial, disks[1].serial) == ("ZC-ROOT-0001", "ZC-DATA-0001")
    assert not disks[1].readonly
    assert disks[1].iotune.read_iops_sec == 2000
    assert disks[1].iotune.read_bytes_sec is None
    assert (disks[2].source_protocol, disks[2].source_host_port) == ("iscsi", 3260)
    assert disks[3].readonly
    assert disks[3].address.unit == 0
    # edits: per-direction byte limits replace the total, writes get an IOPS limit too
    disks[1].iotune.total_bytes_sec = None
    disks[1].iotune.read_bytes_sec = 52428800
    disks[1].iotune.write_bytes_sec = 26214400
    disks[1].iotune.write_iops_sec = 400
    disks[0].serial = None
    return dom


@case
def golden_disk_backing_store() -> Domain:
    """An instance overlay on a shared base that libvirt must not relabel (DAC), as zcompute
    writes it, and a layer of libvirt's own output (an index, a block device) edited."""
    dom = skeleton("disk-backing-store")
    devices = dom.devices
    devices.add(
        Disk(
            type="file",
            device="disk",
            driver_name="qemu",
            driver_type="qcow2",
            source_file="/var/lib/zcompute/instances/d/disk.qcow2",
            backing_store=BackingStore(
                type="file",
                format="raw",
                source_file="/var/lib/zcompute/images/i/disk",
                dac_relabel=False,
            ),
            target_dev="vda",
            target_bus="virtio",
            boot_order=1,
        )
    )
    second = Disk(type="file", device="disk", driver_name="qemu", driver_type="qcow2")
    second.source_file = "/var/lib/zcompute/instances/d/data.qcow2"
    layer = BackingStore()
    layer.type = "block"
    layer.index = 2
    layer.format = "qcow2"
    layer.source_dev = "/dev/disk/by-id/dm-name-base"
    second.backing_store = layer
    second.target_dev = "vdb"
    second.target_bus = "virtio"
    devices.add(second)

    disks = devices.disks
    first = disks[0].backing_store
    assert first is not None
    assert (first.type, first.format, first.source_file) == (
        "file",
        "raw",
        "/var/lib/zcompute/images/i/disk",
    )
    assert first.dac_relabel is False
    assert first.index is None
    assert first.source_dev is None
    lower = disks[1].backing_store
    assert lower is not None
    assert (lower.type, lower.index, lower.source_dev) == (
        "block",
        2,
        "/dev/disk/by-id/dm-name-base",
    )
    assert lower.dac_relabel is None  # libvirt's default: relabel
    # edits: the index is libvirt's to give, the block layer is kept from relabelling too
    lower.index = None
    lower.dac_relabel = False
    assert disks[1].backing_store is not None
    assert disks[1].backing_store.dac_relabel is False
    return dom


@case
def golden_disk_iscsi() -> Domain:
    """Network (iSCSI) volumes as zcompute attaches them: QEMU's initiator logs in with a
    name of the host's and a CHAP user whose password is a libvirt secret; a shared one;
    a LUKS volume QEMU decrypts with a passphrase secret; one as a swap leaves it."""
    dom = skeleton("disk-iscsi")
    devices = dom.devices
    devices.add(
        Disk(
            type="network",
            device="disk",
            driver_name="qemu",
            driver_type="raw",
            source_protocol="iscsi",
            source_name="iqn.2010-10.org.openstack:volume-1/1",
            source_host_name="192.0.2.10",
            source_host_port=3260,
            source_initiator_iqn="iqn.2004-10.org.debian:01:zcompute-0a1b2c",
            source_auth_username="chapuser",
            source_auth_secret_type="iscsi",
            source_auth_secret_uuid="6e0b6e22-3b1a-4b8e-9c61-1f4cc1a1c0de",
            target_dev="vdb",
            target_bus="virtio",
            serial="0f8fad5b-d9cb-469f-a",
        )
    )
    shared = Disk(type="network", device="disk", driver_name="qemu", driver_type="raw")
    shared.driver_cache = "none"
    shared.source_protocol = "iscsi"
    shared.source_name = "iqn.2010-10.org.openstack:volume-2/0"
    shared.source_host_name = "192.0.2.10"
    shared.source_host_port = 3260
    shared.target_dev = "vdc"
    shared.target_bus = "virtio"
    shared.shareable = True
    shared.encryption_format = "luks"
    shared.encryption_engine = "qemu"
    shared.encryption_secret_uuid = "0d4f3c2b-1a09-4e8d-b7c6-a5f4e3d2c1b0"
    devices.add(shared)
    # a LUKS volume as libvirt writes it back after a block copy's pivot (a swap): the
    # encryption of the storage source inside <source>
    pivoted = Disk(type="network", device="disk", driver_name="qemu", driver_type="raw")
    pivoted.source_protocol = "iscsi"
    pivoted.source_name = "iqn.2010-10.org.openstack:volume-3/1"
    pivoted.source_host_name = "192.0.2.10"
    pivoted.source_host_port = 3260
    pivoted.source_encryption_format = "luks"
    pivoted.source_encryption_engine = "qemu"
    pivoted.source_encryption_secret_uuid = "5c3e1f0a-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
    pivoted.target_dev = "vdd"
    pivoted.target_bus = "virtio"
    devices.add(pivoted)

    disks = devices.disks
    assert disks[2].encryption_secret_uuid is None
    assert disks[2].source_encryption_secret_uuid == "5c3e1f0a-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
    assert (disks[0].source_auth_username, disks[0].source_auth_secret_type) == (
        "chapuser",
        "iscsi",
    )
    assert disks[0].source_initiator_iqn == "iqn.2004-10.org.debian:01:zcompute-0a1b2c"
    assert disks[0].encryption_format is None
    assert disks[1].source_auth_username is None
    assert (disks[1].encryption_format, disks[1].encryption_engine) == ("luks", "qemu")
    assert disks[1].encryption_secret_uuid == "0d4f3c2b-1a09-4e8d-b7c6-a5f4e3d2c1b0"
    assert disks[1].shareable
    return dom


@case
def golden_controllers() -> Domain:
    """virtio-scsi with queues, USB without a controller model, PCI roots and ports."""
    dom = skeleton("controllers", "x86_64", "pc-q35-7.2")
    devices = dom.devices
    devices.add(
        Controller(type="scsi", index=0, model="virtio-scsi", driver_queues=4, driver_iothread=1)
    )
    devices.add(Controller(type="usb", index=0, model="none"))
    devices.add(Controller(type="pci", index=0, model="pcie-root"))
    devices.add(
        Controller(type="pci", index=1, model="pcie-root-port", model_name="pcie-root-port")
    )
    devices.add(Controller(type="virtio-serial", index=0, ports=16, vectors=4))
    controllers = devices.controllers
    assert [(c.type, c.model) for c in controllers] == [
        ("scsi", "virtio-scsi"),
        ("usb", "none"),
        ("pci", "pcie-root"),
        ("pci", "pcie-root-port"),
        ("virtio-serial", None),
    ]
    assert controllers[0].driver_queues == 4
    assert controllers[4].ports == 16
    assert controllers[4].vectors == 4
    return dom


@case
def golden_interfaces() -> Domain:
    """NICs on a libvirt network, a bridge and a macvtap (direct) device."""
    dom = skeleton("interfaces")
    devices = dom.devices
    devices.add(
        Interface(
            type="network",
            mac="52:54:00:00:00:01",
            source_network="default",
            model="virtio",
            mtu=9000,
            boot_order=2,
            boot_loadparm="1",
            address=Address.ccw(0xFE, 0, 0x10),
        )
    )
    devices.add(
        Interface(
            type="bridge",
            mac="52:54:00:00:00:02",
            source_bridge="br0",
            target_dev="zc-tap0",
            model="virtio",
            driver_name="vhost",
            driver_queues=2,
            link_state="up",
        )
    )
    devices.add(
        Interface(
            type="direct",
            mac="52:54:00:00:00:03",
            source_dev="encbdf0",
            source_mode="passthrough",
            model="virtio",
        )
    )
    nics = devices.interfaces
    assert [n.type for n in nics] == ["network", "bridge", "direct"]
    assert (nics[0].mtu, nics[0].boot_order, nics[0].address.devno) == (9000, 2, 0x10)
    assert (nics[1].source_bridge, nics[1].driver_queues, nics[1].link_state) == ("br0", 2, "up")
    assert (nics[2].source_dev, nics[2].source_mode) == ("encbdf0", "passthrough")
    nics[1].link_state = "down"
    nics[2].source_mode = "vepa"
    return dom


@case
def golden_interfaces_ethernet() -> Domain:
    """Tap NICs (Nova's tap VIFs) as zcompute's builder writes them: libvirt's ethernet type on
    a device that exists (managed='no'), with an MTU; and a bridge NIC with an MTU."""
    dom = skeleton("interfaces-ethernet")
    devices = dom.devices
    for plan in (
        NicPlan(None, None, "52:54:00:00:01:01", "virtio", tap="tap3f2a9c1e-7b", mtu=1400),
        NicPlan(None, None, "52:54:00:00:01:02", "virtio", tap="zct0"),
        NicPlan(None, "br0", "52:54:00:00:01:03", "virtio", mtu=9000),
    ):
        devices.add(nic_device(plan))
    devices.add(
        Interface(
            type="ethernet",
            mac="52:54:00:00:01:04",
            target_dev="zct1",
            target_managed=True,
            model="virtio",
            address=Address.ccw(0xFE, 0, 0x20),
        )
    )
    nics = devices.interfaces
    assert [(n.type, n.target_dev, n.target_managed, n.mtu) for n in nics] == [
        ("ethernet", "tap3f2a9c1e-7b", False, 1400),
        ("ethernet", "zct0", False, None),
        ("bridge", None, None, 9000),
        ("ethernet", "zct1", True, None),
    ]
    assert nics[0].to_xml() == (
        '<interface type="ethernet">\n'
        '  <mac address="52:54:00:00:01:01"/>\n'
        '  <target dev="tap3f2a9c1e-7b" managed="no"/>\n'
        '  <model type="virtio"/>\n'
        '  <mtu size="1400"/>\n'
        "</interface>\n"
    )
    nics[3].target_managed = None  # libvirt's default: it creates the device itself
    nics[3].target_managed = False
    return dom


@case
def golden_chardevs_s390x() -> Domain:
    """s390x consoles: interactive sclp (with a log), sclplm boot log, a virtio console."""
    dom = skeleton("chardevs-s390x")
    devices = dom.devices
    devices.add(
        Console(
            type="pty",
            target_type="sclp",
            log_file="/var/lib/zcompute/instances/c/sclp.log",
            log_append=True,
        )
    )
    devices.add(
        Console(
            type="file",
            source_path="/var/lib/zcompute/instances/c/console.log",
            source_append=True,
            target_type="sclplm",
        )
    )
    devices.add(Console(type="pty", target_type="virtio", target_port=2))
    devices.add(
        Channel(
            type="unix",
            source_mode="bind",
            target_type="virtio",
            target_name="org.qemu.guest_agent.0",
        )
    )
    consoles = devices.consoles
    assert [(c.type, c.target_type) for c in consoles] == [
        ("pty", "sclp"),
        ("file", "sclplm"),
        ("pty", "virtio"),
    ]
    assert consoles[0].log_append is True
    assert consoles[1].source_path == "/var/lib/zcompute/instances/c/console.log"
    assert consoles[1].source_append is True
    assert devices.channels[0].target_name == "org.qemu.guest_agent.0"
    consoles[0].log_append = False
    return dom


@case
def golden_serial_sclp() -> Domain:
    """The newer s390x form: a serial port with an sclp-serial target and its model."""
    dom = skeleton("serial-sclp")
    dom.devices.add(
        Serial(type="pty", target_type="sclp-serial", target_port=0, target_model="sclpconsole")
    )
    dom.devices.add(Console(type="pty", target_type="serial", target_port=0))
    serial = dom.devices.serials[0]
    assert (serial.target_type, serial.target_model) == ("sclp-serial", "sclpconsole")
    serial.target_model = "sclplmconsole"
    return dom


@case
def golden_chardevs_x86() -> Domain:
    """x86 serial ports on TCP (telnet) and a UNIX socket, a channel with its path."""
    dom = skeleton("chardevs-x86", "x86_64", "pc-q35-7.2")
    devices = dom.devices
    devices.add(
        Serial(
            type="tcp",
            source_mode="bind",
            source_host="127.0.0.1",
            source_service="4555",
            protocol="telnet",
            target_type="isa-serial",
            target_port=0,
            target_model="isa-serial",
        )
    )
    devices.add(
        Serial(
            type="unix",
            source_mode="connect",
            source_path="/run/zcompute/c.sock",
            target_type="isa-serial",
            target_port=1,
        )
    )
    # The first console mirrors serial port 0, as libvirt documents it; libvirt 11 adds this
    # mirror itself when it is missing (and moves a virtio console to port 1), libvirt 9 only
    # when there is no console at all: stating it makes both read the same devices.
    devices.add(
        Console(
            type="tcp",
            source_mode="bind",
            source_host="127.0.0.1",
            source_service="4555",
            protocol="telnet",
            target_type="serial",
            target_port=0,
        )
    )
    devices.add(Console(type="pty", target_type="virtio", target_port=1))
    devices.add(
        Channel(
            type="unix",
            source_mode="bind",
            source_path="/run/zcompute/qga.sock",
            target_type="virtio",
            target_name="org.qemu.guest_agent.0",
            target_state="disconnected",
        )
    )
    tcp, unix = devices.serials
    assert (tcp.source_host, tcp.source_service, tcp.protocol) == ("127.0.0.1", "4555", "telnet")
    assert (unix.source_mode, unix.source_path, unix.target_port) == (
        "connect",
        "/run/zcompute/c.sock",
        1,
    )
    channel = devices.channels[0]
    assert channel.target_state == "disconnected"
    # state is reported by libvirt for a running guest, not kept in its definition
    channel.target_state = "connected"
    return dom


@case
def golden_addresses() -> Domain:
    """Every address kind: PCI (multifunction, zPCI), CCW, drive and virtio-serial."""
    dom = skeleton("addresses", "x86_64", "pc-q35-7.2")
    devices = dom.devices
    devices.add(
        Disk(
            type="file",
            device="disk",
            source_file="/d/a",
            target_dev="vda",
            target_bus="virtio",
            address=Address.pci(0, 0, 5, 0, multifunction=True),
        )
    )
    devices.add(
        Disk(
            type="file",
            device="disk",
            source_file="/d/b",
            target_dev="vdb",
            target_bus="virtio",
            address=Address.pci(0, 0, 5, 1, zpci_uid=1, zpci_fid=0, multifunction=False),
        )
    )
    devices.add(
        Disk(
            type="file",
            device="disk",
            source_file="/d/c",
            target_dev="sdb",
            target_bus="scsi",
            address=Address.drive(0, 0, 1, 3),
        )
    )
    devices.add(Controller(type="scsi", index=0, model="virtio-scsi"))
    devices.add(Controller(type="virtio-serial", index=0))
    devices.add(
        Channel(
            type="unix",
            source_mode="bind",
            target_type="virtio",
            target_name="zc.agent",
            address=Address.virtio_serial(0, 0, 1),
        )
    )
    disks = devices.disks
    first = disks[0].address
    assert (first.type, first.domain, first.bus, first.slot, first.function) == ("pci", 0, 0, 5, 0)
    assert first.multifunction is True
    assert (disks[1].address.zpci_uid, disks[1].address.zpci_fid) == (1, 0)
    assert disks[1].address.multifunction is False
    assert (disks[2].address.controller, disks[2].address.target, disks[2].address.unit) == (
        0,
        1,
        3,
    )
    serial_addr = devices.channels[0].address
    assert (serial_addr.type, serial_addr.controller, serial_addr.port) == ("virtio-serial", 0, 1)
    # change the kind of one address: the old attributes go, the new ones appear
    disks[0].address = Address.ccw(0xFE, 3, 0xFFFF)
    assert disks[0].address.ssid == 3
    return dom


def test_device_snippets_round_trip_through_device_from_xml() -> None:
    """What attach/detach calls take: one device element, same text back."""
    from zcompute.xml import device_from_xml

    disk = Disk(
        type="file",
        device="disk",
        source_file="/x.qcow2",
        target_dev="vdb",
        target_bus="virtio",
        address=Address.ccw(0xFE, 0, 5),
    )
    snippet = disk.to_xml()
    assert snippet == (
        '<disk type="file" device="disk">\n'
        '  <source file="/x.qcow2"/>\n'
        '  <target dev="vdb" bus="virtio"/>\n'
        '  <address type="ccw" cssid="0xfe" ssid="0x0" devno="0x0005"/>\n'
        "</disk>\n"
    )
    again = device_from_xml(snippet)
    assert isinstance(again, Disk)
    assert again.to_xml() == snippet
    # a device inside a domain serialises as the same snippet
    dom = skeleton("snippet")
    dom.devices.add(disk)
    assert dom.devices.disks[0].to_xml() == snippet


# after the cases: the parameter list is read when this decorator runs
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    dom = CASES[name]()
    xml = dom.to_xml()
    assert_golden(name, xml)
    # every typed value reads back the same from the written text
    assert typed_view(Domain.from_xml(xml)) == typed_view(dom)
    assert Domain.from_xml(xml).to_xml() == xml
