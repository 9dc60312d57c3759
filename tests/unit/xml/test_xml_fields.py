"""How fields read and write the document: placeholders, removal, order, lists, copies."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree
from tests.unit.xml.xml_support import c14n

from zcompute.xml import (
    Address,
    Cipher,
    Console,
    Cpu,
    CpuFeature,
    Device,
    Disk,
    Domain,
    HostDev,
    Interface,
    KeyWrap,
    MemBalloon,
    Os,
    Panic,
    Watchdog,
    XMLObject,
    device_from_xml,
    validate_schema,
)

PARSED = """<domain type='kvm'>
  <name>p</name>
  <memory unit='KiB'>1024</memory>
  <resource>
    <partition>/machine</partition>
  </resource>
  <os>
    <type arch='s390x'>hvm</type>
  </os>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-s390x</emulator>
    <disk type='file' device='disk'>
      <source file='/a'/>
      <target dev='vda' bus='virtio'/>
      <mirror type='file' file='/b' format='qcow2' job='copy'/>
    </disk>
    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
    </tpm>
    <panic model='s390'/>
  </devices>
  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <qemu:arg value='-no-shutdown'/>
  </qemu:commandline>
</domain>
"""


def test_reading_an_absent_child_changes_nothing() -> None:
    dom = Domain.from_xml(PARSED)
    before = dom.to_xml()
    assert dom.cpu.mode is None
    assert dom.cpu.features == []
    assert not dom.cpu.exists
    assert dom.keywrap.aes is None
    assert dom.zcompute.flavor is None
    assert dom.devices.disks[0].address.type is None
    assert dom.to_xml() == before
    # the same placeholder comes back until it is written to
    assert dom.cpu is dom.cpu


def test_first_write_inserts_the_element_in_libvirts_order() -> None:
    dom = Domain.from_xml(PARSED)
    cpu = dom.cpu
    cpu.mode = "host-model"
    assert cpu.exists
    dom.vcpu = 2
    dom.keywrap.aes = True
    tags = [el.tag for el in dom.element if isinstance(el.tag, str)]
    assert tags == [
        "name",
        "memory",
        "vcpu",
        "resource",  # not modelled: stays where it was
        "os",
        "cpu",
        "clock",
        "devices",
        "keywrap",
        "{http://libvirt.org/schemas/domain/qemu/1.0}commandline",
    ]


def test_nested_placeholders_materialise_together() -> None:
    dom = Domain(type="kvm")
    instance = dom.metadata.zcompute
    assert not dom.metadata.exists
    assert not instance.exists
    instance.owner = "carol"
    assert dom.metadata.exists
    assert instance.exists
    assert dom.element.find("metadata") is not None
    assert dom.zcompute.owner == "carol"
    assert 'xmlns:zcompute="https://zcompute.dev/xmlns/instance/1.0"' in dom.to_xml()


def test_two_handles_on_one_absent_element_create_it_once() -> None:
    dom = Domain.from_xml(PARSED)
    a = dom.devices.disks[0].address
    b = dom.devices.disks[0].address  # another wrapper of the same disk
    a.type = "ccw"
    b.cssid = 0xFE
    assert len(dom.element.findall("devices/disk/address")) == 1
    assert dom.devices.disks[0].address.cssid == 0xFE


def test_none_removes_and_prunes_what_became_empty() -> None:
    disk = Disk(type="file", device="disk", source_file="/x", target_dev="vda", target_bus="virtio")
    disk.source_file = None
    assert disk.element.find("source") is None
    disk.target_bus = None
    assert disk.to_xml() == '<disk type="file" device="disk">\n  <target dev="vda"/>\n</disk>\n'
    disk.target_dev = None
    disk.type = None
    assert disk.to_xml() == '<disk device="disk"/>\n'
    # removing what is not there is fine
    disk.boot_order = None
    disk.address = None
    disk.iotune = None
    disk.readonly = False


def test_text_none_keeps_an_element_that_still_says_something() -> None:
    cpu = Cpu(mode="custom", model="z14", model_fallback="forbid")
    cpu.model = None
    assert cpu.to_xml() == '<cpu mode="custom">\n  <model fallback="forbid"/>\n</cpu>\n'
    assert cpu.model is None


def test_unknown_xml_survives_edits_around_it() -> None:
    dom = Domain.from_xml(PARSED)
    disk = dom.devices.disks[0]
    disk.source_file = "/c"
    disk.driver_name = "qemu"
    disk.boot_order = 1
    dom.devices.add(Watchdog(model="diag288", action="poweroff"))
    out = etree.fromstring(dom.to_xml().encode())
    assert out.find("devices/disk/mirror").get("job") == "copy"  # type: ignore[union-attr]
    assert out.find("devices/tpm/backend").get("version") == "2.0"  # type: ignore[union-attr]
    assert [el.tag for el in dom.devices.unknown] == ["tpm"]
    tags = [el.tag for el in out.find("devices")]  # type: ignore[union-attr]
    assert tags == ["emulator", "disk", "tpm", "watchdog", "panic"]
    disk_tags = [el.tag for el in out.find("devices/disk")]  # type: ignore[union-attr]
    assert disk_tags == ["driver", "source", "target", "mirror", "boot"]


def test_devices_go_after_the_last_of_their_kind() -> None:
    dom = Domain.from_xml(PARSED)
    devices = dom.devices
    devices.add(Disk(type="file", device="disk", target_dev="vdb"))
    devices.add(Console(type="pty", target_type="sclp"))
    devices.add(Interface(type="network", source_network="default"))
    devices.add(Disk(type="file", device="disk", target_dev="vdc"))
    devices.add(MemBalloon(model="none"))
    tags = [el.tag for el in dom.element.find("devices")]  # type: ignore[union-attr]
    assert tags == [
        "emulator",
        "disk",
        "disk",
        "disk",
        "interface",
        "console",
        "tpm",
        "memballoon",
        "panic",
    ]
    assert [d.target_dev for d in devices.disks] == ["vda", "vdb", "vdc"]
    assert [type(d).__name__ for d in devices] == [
        "Disk",
        "Disk",
        "Disk",
        "Interface",
        "Console",
        "MemBalloon",
        "Panic",
    ]
    devices.remove(devices.disks[1])
    assert [d.target_dev for d in devices.disks] == ["vda", "vdc"]
    devices.memballoon = None
    assert devices.memballoon is None
    devices.memballoon = MemBalloon(model="virtio")
    devices.memballoon = MemBalloon(model="none")  # replaces in place
    assert [el.tag for el in dom.element.find("devices")][-2:] == ["memballoon", "panic"]  # type: ignore[union-attr]


def test_a_removed_device_is_still_its_own_snippet() -> None:
    """What a detach call needs after the device left the domain."""
    dom = Domain.from_xml(PARSED)
    disk = dom.devices.disks[0]
    snippet = disk.to_xml()
    dom.devices.remove(disk)
    assert disk.to_xml() == snippet
    assert snippet.startswith('<disk type="file" device="disk">')
    assert dom.devices.disks == []
    # and it can go back (or elsewhere)
    dom.devices.add(disk)
    assert dom.devices.disks == [disk]


def test_comments_around_the_root_are_kept() -> None:
    text = "<!-- written by libvirt -->\n<domain type='kvm'><name>c</name><!-- inside --></domain>"
    out = Domain.from_xml(text).to_xml()
    assert out.startswith("<!-- written by libvirt -->\n<domain")
    assert "<!-- inside -->" in out


def test_assigning_a_list_replaces_those_children_in_place() -> None:
    cpu = Cpu(mode="custom", model="z15", vendor="IBM")
    cpu.features = [
        CpuFeature(policy="require", name="vx"),
        CpuFeature(policy="disable", name="te"),
    ]
    cpu.sockets = 1
    cpu.features = [cpu.features[1]]
    assert [(f.name, f.policy) for f in cpu.features] == [("te", "disable")]
    assert [el.tag for el in cpu.element] == ["model", "vendor", "topology", "feature"]
    cpu.features = None
    assert cpu.features == []


def test_selected_elements() -> None:
    keywrap = KeyWrap()
    keywrap.dea = True
    keywrap.aes = False
    assert [(c.name, c.state) for c in keywrap.ciphers] == [("dea", True), ("aes", False)]
    keywrap.dea = None  # the whole <cipher name='dea'> goes: alone it would be invalid
    assert keywrap.to_xml() == '<keywrap>\n  <cipher name="aes" state="off"/>\n</keywrap>\n'
    keywrap.ciphers = [Cipher(name="dea", state=False), *keywrap.ciphers]
    assert (keywrap.aes, keywrap.dea) == (False, False)


def test_attribute_lists() -> None:
    os_ = Os.from_xml(
        "<os><type>hvm</type><boot dev='hd'/><boot dev='cdrom'/><kernel>/k</kernel></os>"
    )
    assert os_.boot_devs == ["hd", "cdrom"]
    os_.boot_devs = ["network"]
    assert [el.tag for el in os_.element] == ["type", "kernel", "boot"]
    os_.boot_devs = None
    assert os_.boot_devs == []
    with pytest.raises(Exception, match="os/boot/@dev"):
        os_.boot_devs = ["usb"]  # type: ignore[list-item]
    assert os_.boot_devs == []


def test_copy_equality_and_repr() -> None:
    disk = Disk(type="file", device="disk", target_dev="vda")
    twin = disk.copy()
    assert twin.to_xml() == disk.to_xml()
    assert twin != disk
    assert twin.element is not disk.element
    dom = Domain(type="kvm")
    dom.devices.add(disk)
    assert dom.devices.disks[0] == disk  # another handle, same element
    assert hash(dom.devices.disks[0]) == hash(disk)
    assert disk in dom.devices.disks
    assert twin not in dom.devices.disks
    assert repr(disk) == "<Disk <disk type='file' device='disk'>>"
    assert disk != "disk"


def test_objects_start_empty_and_take_keywords() -> None:
    assert Domain(type="kvm").to_xml() == '<domain type="kvm"/>\n'
    assert Disk().to_xml() == "<disk/>\n"
    assert Panic(model="s390").to_xml() == '<panic model="s390"/>\n'
    # keyword order does not change the output
    a = Address(devno=1, ssid=0, cssid=0xFE, type="ccw").to_xml()
    assert a == Address.ccw(0xFE, 0, 1).to_xml()
    assert a == '<address type="ccw" cssid="0xfe" ssid="0x0" devno="0x0001"/>\n'
    # None keywords are simply absent
    assert Disk(type="file", source_file=None).to_xml() == '<disk type="file"/>\n'


def test_constructors_beyond_the_specialised_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Watchdog, "_builders", {})
    monkeypatch.setattr(Watchdog, "MAX_BUILDERS", 1)
    first = Watchdog(model="diag288")
    second = Watchdog(action="reset", model="i6300esb")  # a generic builder from here on
    third = Watchdog(alias="wd0")
    assert first.to_xml() == '<watchdog model="diag288"/>\n'
    assert second.to_xml() == '<watchdog model="i6300esb" action="reset"/>\n'
    assert third.to_xml() == '<watchdog>\n  <alias name="wd0"/>\n</watchdog>\n'
    assert set(Watchdog._builders) == {("model",), None}
    with pytest.raises(Exception, match="unknown field 'colour'"):
        Watchdog(colour="red")  # type: ignore[call-arg]


def test_bus_and_slot_are_hex_only_for_pci() -> None:
    assert Address.drive(0, 1, 2, 3).to_xml() == (
        '<address type="drive" controller="0" bus="1" target="2" unit="3"/>\n'
    )
    assert Address.pci(0, 1, 2, 3).to_xml() == (
        '<address type="pci" domain="0x0000" bus="0x01" slot="0x02" function="0x3"/>\n'
    )
    # inside <hostdev type='pci'><source> an untyped address is PCI
    pci = HostDev(mode="subsystem", type="pci")
    pci.source_address.bus = 3
    pci.source_address.slot = 0x1F
    assert 'bus="0x03" slot="0x1f"' in pci.to_xml()
    with pytest.raises(Exception, match=r"address/@slot.*0x00\.\.0x1f"):
        pci.source_address.slot = 0x20
    # inside <hostdev type='scsi'> it is decimal and unbounded
    scsi = HostDev(mode="subsystem", type="scsi", source_adapter="scsi_host0")
    scsi.source_address.bus = 300
    assert '<address bus="300"/>' in scsi.to_xml()
    parsed = device_from_xml(scsi.to_xml())
    assert isinstance(parsed, HostDev)
    assert parsed.source_address.bus == 300
    # a drive address written by hand in hex still reads
    drive = Address.from_xml("<address type='drive' controller='0' bus='0x1' target='0' unit='0'/>")
    assert drive.bus == 1


def test_devices_are_typed_by_element_name() -> None:
    for text, cls in [
        ("<disk type='file'/>", "Disk"),
        ("<watchdog model='diag288'/>", "Watchdog"),
        ("<hostdev mode='subsystem' type='mdev' model='vfio-ap'/>", "HostDev"),
    ]:
        dev = device_from_xml(text)
        assert type(dev).__name__ == cls
        assert isinstance(dev, Device)


def test_field_descriptors_are_introspectable() -> None:
    field = Disk.target_bus
    assert field.qualname == "Disk.target_bus"
    assert field.path == "target/@bus"
    assert "Disk.target_bus" in repr(field)
    assert isinstance(Disk(), XMLObject)


def test_threads_parse_build_and_validate_independently() -> None:
    text = Domain.from_xml(PARSED).to_xml()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> str:
        try:
            dom = Domain.from_xml(text)
            dom.name = f"t{index}"
            dom.devices.panics = []
            validate_schema(dom)
            return dom.to_xml()
        except BaseException as err:  # collected and asserted below
            with lock:
                errors.append(err)
            raise

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(work, range(16)))
    assert errors == []
    assert len({c14n(o) for o in outputs}) == 16
