"""Bad input: one clear XMLError naming the element or attribute and the allowed values,
and never a half-built object or a half-changed document."""

from __future__ import annotations

import pytest

from zcompute.errors import InvalidInput, XMLError
from zcompute.xml import (
    Address,
    Console,
    Controller,
    Disk,
    Domain,
    HostDev,
    Interface,
    MemBalloon,
    Serial,
    device_from_xml,
)

MINIMAL = "<domain type='kvm'><name>x</name><devices>{}</devices></domain>"


def test_xml_errors_are_invalid_input_with_field_and_allowed() -> None:
    with pytest.raises(XMLError) as info:
        Domain.from_xml(MINIMAL.format("<watchdog model='i6300esb' action='explode'/>"))
    err = info.value
    assert isinstance(err, InvalidInput)
    assert isinstance(err, ValueError)
    assert err.field == "watchdog/@action"
    assert err.allowed is not None
    assert "inject-nmi" in err.allowed
    assert "reset" in err.allowed
    assert "unknown value 'explode'" in str(err)


@pytest.mark.parametrize(
    "text",
    ["", "<domain", "<domain><name>x</domain>", "not xml at all", "<domain>&undefined;</domain>"],
)
def test_malformed_xml(text: str) -> None:
    with pytest.raises(XMLError, match="malformed XML") as info:
        Domain.from_xml(text)
    assert info.value.field == "domain"


def test_input_that_is_not_text() -> None:
    with pytest.raises(XMLError, match="expected XML text"):
        Domain.from_xml(42)  # type: ignore[arg-type]


def test_wrong_root_element() -> None:
    with pytest.raises(XMLError, match="expected a <domain> element, got <network>") as info:
        Domain.from_xml("<network><name>default</name></network>")
    assert info.value.allowed == "<domain>"
    with pytest.raises(XMLError, match="expected a <disk> element, got <interface>"):
        Disk.from_xml("<interface type='network'/>")


def test_entities_are_not_expanded() -> None:
    # no external entity or DTD processing: domain XML may come from users
    text = (
        "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        "<domain type='kvm'><name>&x;</name></domain>"
    )
    dom = Domain.from_xml(text)
    assert "root" not in (dom.name or "")


def test_declarations_and_bytes_are_accepted() -> None:
    text = "<?xml version='1.0' encoding='UTF-8'?>\n<domain type='kvm'><name>gäst</name></domain>"
    assert Domain.from_xml(text).name == "gäst"
    assert Domain.from_xml(text.encode()).name == "gäst"


@pytest.mark.parametrize(
    ("device", "field", "allowed"),
    [
        (
            "<disk type='file' device='disk'><target dev='vda' bus='nvme0'/></disk>",
            "disk/target/@bus",
            "virtio",
        ),
        ("<disk type='floppy' device='disk'/>", "disk/@type", "block"),
        ("<console type='pty'><target type='hvc'/></console>", "console/target/@type", "sclplm"),
        (
            "<serial type='pty'><target type='sclp-serial'><model name='vt100'/></target></serial>",
            "serial/target/model/@name",
            "sclpconsole",
        ),
        ("<panic model='s390x'/>", "panic/@model", "s390"),
        (
            "<memballoon model='virtio'><stats period='0'/></memballoon>",
            "memballoon/stats/@period",
            "integer >= 1",
        ),
        (
            "<interface type='network'><mac address='52:54:00:zz:00:01'/></interface>",
            "interface/mac/@address",
            "MAC",
        ),
        (
            "<disk type='file' device='disk'><boot order='1' loadparm='TOOLONGNAME'/></disk>",
            "disk/boot/@loadparm",
            "1 to 8",
        ),
        ("<hostdev mode='subsystem' type='mdev' model='vfio-xyz'/>", "hostdev/@model", "vfio-ap"),
    ],
)
def test_bad_values_when_parsing(device: str, field: str, allowed: str) -> None:
    with pytest.raises(XMLError) as info:
        Domain.from_xml(MINIMAL.format(device))
    assert info.value.field == field
    assert allowed in (info.value.allowed or "")
    # a device snippet on its own is checked the same way
    with pytest.raises(XMLError):
        device_from_xml(device)


@pytest.mark.parametrize(
    ("address", "field", "allowed"),
    [
        ("cssid='0xff' ssid='0x0' devno='0x0001'", "address/@cssid", "0x0..0xfe"),
        ("cssid='0xfe' ssid='4' devno='0x0001'", "address/@ssid", "0x0..0x3"),
        ("cssid='0xfe' ssid='0x0' devno='0x10000'", "address/@devno", "0x0000..0xffff"),
        ("cssid='0xfe' ssid='0x0' devno='dasd'", "address/@devno", "0x0000..0xffff"),
        ("cssid='-1' ssid='0x0' devno='0x0001'", "address/@cssid", "0x0..0xfe"),
    ],
)
def test_out_of_range_ccw_addresses(address: str, field: str, allowed: str) -> None:
    device = f"<disk type='file' device='disk'><address type='ccw' {address}/></disk>"
    with pytest.raises(XMLError) as info:
        Domain.from_xml(MINIMAL.format(device))
    assert (info.value.field, info.value.allowed) == (field, allowed)


def test_out_of_range_pci_and_zpci_addresses() -> None:
    for address, field in [
        ("type='pci' domain='0x0000' bus='0x100' slot='0x00' function='0x0'", "address/@bus"),
        ("type='pci' domain='0x0000' bus='0x00' slot='0x20' function='0x0'", "address/@slot"),
        ("type='pci' domain='0x0000' bus='0x00' slot='0x00' function='0x8'", "address/@function"),
    ]:
        with pytest.raises(XMLError) as info:
            device_from_xml(f"<disk type='file' device='disk'><address {address}/></disk>")
        assert info.value.field == field
    zpci = (
        "<address type='pci' bus='0' slot='1' function='0'><zpci uid='0x0000' fid='0x1'/></address>"
    )
    with pytest.raises(XMLError, match=r"address/zpci/@uid.*0x0001\.\.0xffff"):
        device_from_xml(f"<disk type='file' device='disk'>{zpci}</disk>")


def test_unknown_address_type_and_other_kinds_kept_as_is() -> None:
    with pytest.raises(XMLError, match="address/@type") as info:
        device_from_xml("<disk type='file' device='disk'><address type='pcie'/></disk>")
    assert "ccw" in (info.value.allowed or "")
    # kinds this layer does not interpret keep whatever they say (usb ports like '1.2')
    dev = device_from_xml(
        "<input type='tablet' bus='usb'><address type='usb' bus='0' port='1.2'/></input>"
    )
    assert dev.address.type == "usb"
    assert 'port="1.2"' in dev.to_xml()


def test_bad_values_when_setting_leave_the_document_unchanged() -> None:
    disk = Disk(type="file", device="disk", target_dev="vda")
    before = disk.to_xml()
    with pytest.raises(XMLError, match=r"disk/target/@bus: unknown value 'nvme'") as info:
        disk.target_bus = "nvme"  # type: ignore[assignment]
    assert "virtio" in (info.value.allowed or "")
    with pytest.raises(XMLError, match="disk/boot/@order"):
        disk.boot_order = 0
    with pytest.raises(XMLError, match="disk/source/@file: expected a string"):
        disk.source_file = 5  # type: ignore[assignment]
    with pytest.raises(XMLError, match="disk/readonly: expected True or False"):
        disk.readonly = "yes"  # type: ignore[assignment]
    with pytest.raises(XMLError, match=r"address/@ssid: out of range: 7"):
        disk.address.ssid = 7
    assert disk.to_xml() == before  # not even an empty <address> or <boot> was left


def test_bad_constructor_values_raise_and_build_nothing() -> None:
    with pytest.raises(XMLError, match=r"address/@devno.*0x0000\.\.0xffff"):
        Address.ccw(0xFE, 0, 0x10000)
    with pytest.raises(XMLError, match=r"address/@cssid"):
        Address.ccw(0xFF, 0, 1)
    with pytest.raises(XMLError, match="console/target/@type"):
        Console(type="pty", target_type="sclp-serial")  # type: ignore[arg-type]
    with pytest.raises(XMLError, match="serial/target/@type"):
        Serial(target_type="sclp")  # type: ignore[arg-type]
    with pytest.raises(XMLError, match="memballoon/@model"):
        MemBalloon(model="virtio-balloon")  # type: ignore[arg-type]
    with pytest.raises(XMLError, match="interface/mtu/@size"):
        Interface(type="network", mtu=0)


def test_unknown_keyword_names_the_allowed_fields() -> None:
    with pytest.raises(XMLError, match="controller: unknown field 'queues'") as info:
        Controller(type="scsi", queues=4)  # type: ignore[call-arg]
    assert "driver_queues" in (info.value.allowed or "")


def test_objects_of_the_wrong_kind_are_refused() -> None:
    disk = Disk(type="file", device="disk")
    with pytest.raises(XMLError, match="disk/address: expected a Address, got Disk"):
        disk.address = Disk()  # type: ignore[assignment]
    dom = Domain(type="kvm")
    with pytest.raises(XMLError, match="devices: cannot add a Address"):
        dom.devices.add(Address())  # type: ignore[arg-type]
    with pytest.raises(XMLError, match="expected a HostDev"):
        dom.devices.hostdevs = [Disk()]  # type: ignore[list-item]


def test_a_device_belongs_to_one_document() -> None:
    first, second = Domain(type="kvm"), Domain(type="kvm")
    disk = Disk(type="file", device="disk", target_dev="vda")
    first.devices.add(disk)
    with pytest.raises(XMLError, match="already belongs to another document"):
        second.devices.add(disk)
    second.devices.add(disk.copy())
    assert len(first.devices.disks) == len(second.devices.disks) == 1
    with pytest.raises(XMLError, match="appears twice"):
        second.devices.disks = [second.devices.disks[0], second.devices.disks[0]]
    twice = HostDev()
    with pytest.raises(XMLError, match="appears twice"):
        Domain(type="kvm").devices.hostdevs = [HostDev(), twice, twice]


def test_removing_a_device_of_another_domain() -> None:
    dom = Domain(type="kvm")
    with pytest.raises(XMLError, match="not part of this domain"):
        dom.devices.remove(Disk())


def test_only_one_memballoon() -> None:
    dom = Domain(type="kvm")
    dom.devices.add(MemBalloon(model="virtio"))
    with pytest.raises(XMLError, match="at most one memballoon"):
        dom.devices.add(MemBalloon(model="none"))


def test_device_from_xml_refuses_unmodelled_devices() -> None:
    with pytest.raises(XMLError, match="unsupported device element <tpm>") as info:
        device_from_xml("<tpm model='tpm-crb'/>")
    assert "disk" in (info.value.allowed or "")
