"""Arch-aware lint: Nova-style and x86-habit s390x XML is flagged, zcompute's own is clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from tests.unit.arch.domain_support import DOMAIN_RNG, build_domain, schema_errors

from zcompute.arch import ARCHES, PROFILES, lint
from zcompute.errors import InvalidInput, XMLError

NOVA_S390X = """\
<domain type='kvm'>
  <name>instance-00000001</name>
  <memory>524288</memory>
  <vcpu>1</vcpu>
  <os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-model' match='exact'/>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/nova/instances/1/disk'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>
    <console type='pty'><target type='sclp'/></console>
    <console type='file'><source path='/var/lib/nova/instances/1/console.log'/>
      <target type='sclplm'/></console>
    <watchdog model='i6300esb' action='reset'/>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

X86_HABITS_ON_S390X = """\
<domain type='kvm'>
  <name>moved-from-x86</name>
  <memory>524288</memory>
  <os><type arch='s390x' machine='s390-virtio'>hvm</type></os>
  <features><acpi/><pae/></features>
  <clock offset='utc'><timer name='pit' tickpolicy='delay'/></clock>
  <devices>
    <disk type='file' device='cdrom'><source file='/x.iso'/><target dev='hdc' bus='ide'/></disk>
    <disk type='file' device='disk'><source file='/x.qcow2'/><target dev='sda' bus='sata'/>
      <address type='pci' domain='0' bus='0' slot='5' function='0'/></disk>
    <disk type='file' device='disk'><source file='/y.qcow2'/><target dev='vdb' bus='virtio'/>
      <address type='pci' domain='0' bus='0' slot='6' function='0'/></disk>
    <controller type='usb' model='piix3-uhci'/>
    <interface type='network'><source network='default'/><model type='e1000'/>
      <boot order='1' loadparm='toolongname'/></interface>
    <serial type='pty'><target type='isa-serial' port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' autoport='yes'/>
    <video><model type='cirrus'/></video>
    <sound model='ich6'/>
    <panic model='isa'/>
    <memballoon model='virtio'><address type='ccw' cssid='0x100' ssid='7' devno='0x1'/>
    </memballoon>
  </devices>
</domain>
"""


def _rules(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.rule for f in findings}


def test_nova_style_s390x_is_flagged() -> None:
    findings = lint(NOVA_S390X)
    messages = "\n".join(str(f) for f in findings)
    assert _rules(findings) == {"feature", "watchdog"}
    assert "<acpi/>" in messages
    assert "<apic/>" in messages
    assert "'i6300esb'" in messages
    assert all(f.severity == "error" for f in findings)
    assert {f.where for f in findings} >= {"/domain/features/acpi", "/domain/devices/watchdog"}


def test_x86_habits_on_s390x_are_flagged() -> None:
    rules = _rules(lint(X86_HABITS_ON_S390X))
    assert rules == {
        "machine", "feature", "timer", "disk-bus", "address", "usb", "nic-model", "loadparm",
        "console", "early-console", "tablet", "graphics", "video", "sound", "panic", "ccw-address",
    }  # fmt: skip


def test_secure_execution_needs_no_memballoon() -> None:
    root = build_domain(PROFILES["s390x"], secure=True)
    assert lint(root) == []
    root.find("devices/memballoon").set("model", "virtio")  # type: ignore[union-attr]
    (finding,) = lint(root)
    assert finding.rule == "launch-security"
    assert "model='none'" in finding.message
    x86 = build_domain(PROFILES["x86_64"])
    etree.SubElement(x86, "launchSecurity", type="s390-pv")
    assert _rules(lint(x86)) == {"launch-security"}


def test_ccw_cssid_other_than_fe_is_a_warning() -> None:
    root = build_domain(PROFILES["s390x"])
    disk = root.find("devices/disk")
    assert disk is not None
    etree.SubElement(disk, "address", type="ccw", cssid="0", ssid="0", devno="7")
    (finding,) = lint(root)
    assert (finding.rule, finding.severity) == ("ccw-address", "warning")


def test_an_s390x_guest_whose_consoles_write_no_log_loses_its_early_boot_messages() -> None:
    root = build_domain(PROFILES["s390x"])
    devices = root.find("devices")
    assert devices is not None
    for console in devices.findall("console") + devices.findall("serial"):
        devices.remove(console)
    pty = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(pty, "target", type="sclp")
    (finding,) = lint(root)
    assert (finding.rule, finding.severity) == ("early-console-log", "warning")
    assert "earliest boot messages are lost" in finding.message
    etree.SubElement(pty, "log", file="/var/log/guest.log", append="on")
    assert lint(root) == []  # a logged interactive console keeps them too


def test_values_are_checked_by_the_xml_layer_one_finding_per_device() -> None:
    root = build_domain(PROFILES["s390x"])
    disk = root.find("devices/disk")
    assert disk is not None
    etree.SubElement(disk, "address", type="ccw", cssid="0xfe", ssid="9", devno="0x10000")
    etree.SubElement(disk, "boot", order="1", loadparm="far-too-long")
    findings = lint(root)
    assert {f.rule for f in findings} == {"ccw-address"}  # the device's first bad value
    assert all(f.severity == "error" for f in findings)


@pytest.mark.skipif(not DOMAIN_RNG.is_file(), reason="libvirt's schemas are not installed")
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("form", ["console", "serial"])
@pytest.mark.parametrize("virtlogd", [True, False])
def test_zcomputes_own_output_is_clean_and_schema_valid(
    arch: str, form: str, virtlogd: bool
) -> None:
    profile = PROFILES[arch]
    graphics = "vnc" if profile.supports("vnc") else None
    root = build_domain(profile, form=form, virtlogd=virtlogd, graphics=graphics)
    assert lint(root) == []
    assert schema_errors(root) is None


def test_own_s390x_output_from_text_and_to_xml_objects() -> None:
    text = etree.tostring(build_domain(PROFILES["s390x"]), encoding=str)
    assert lint(text) == []
    assert lint(text.encode()) == []

    class HasToXml:  # the XML layer's Domain offers to_xml(); lint takes such objects
        def to_xml(self) -> str:
            return text

    assert lint(HasToXml()) == []


def test_checking_with_another_arch_reports_the_mismatch() -> None:
    findings = lint(etree.tostring(build_domain(PROFILES["s390x"])), arch="x86_64")
    assert "arch" in _rules(findings)
    assert any("domain is s390x, checked as x86_64" in f.message for f in findings)


# libvirt's own s390x test documents: what lint says about each, and why.
LIBVIRT_DOCS = {
    # pty consoles only: what the guest prints before anyone reads it is lost (the blueprint's
    # lost early boot log), which zcompute's sclplm log file console keeps
    "console-sclp.xml": {"early-console-log"},
    "cpu-s390-features.xml": set(),
    "cpu-s390-zEC12.xml": set(),
    "disk-virtio-ccw.xml": {"ccw-address"},  # cssid 0 for a virtio disk
    "disk-virtio-ccw-many.xml": {"ccw-address"},
    "hostdev-subsys-mdev-vfio-ccw-boot.xml": set(),
    "hostdev-subsys-mdev-vfio-ccw.xml": set(),
    "hostdev-vfio-zpci.s390x-latest.xml": set(),
    "input-virtio-ccw.xml": {"tablet"},
    "machine-aeskeywrap-on-cap.s390x-latest.xml": set(),
    "machine-loadparm-net-s390.s390x-latest.xml": set(),
    "net-virtio-ccw.xml": set(),
    "s390-allow-bogus-usb-controller.xml": {"usb", "early-console"},
    "s390-defaultconsole.xml": {"early-console-log"},  # a target-less console is sclp
    "s390-panic-missing.xml": {"early-console"},  # only a virtio console
    "s390-panic.s390x-latest.xml": {"early-console"},
    "s390-serial.s390x-latest.xml": {"early-console-log"},
    "video-virtio-gpu-ccw.xml": {"graphics", "video"},
    "watchdog-diag288.s390x-latest.xml": set(),
    "watchdog-diag288.xml": set(),
}


def test_every_libvirt_document_is_covered(shared_testdata: Path) -> None:
    names = {p.name for p in (shared_testdata / "libvirt-qemuxml").glob("*.xml")}
    assert names == set(LIBVIRT_DOCS)


@pytest.mark.parametrize(("name", "rules"), sorted(LIBVIRT_DOCS.items()))
def test_libvirt_s390x_documents(shared_testdata: Path, name: str, rules: set[str]) -> None:
    text = (shared_testdata / "libvirt-qemuxml" / name).read_bytes()
    assert _rules(lint(text)) == rules


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("<domain", XMLError, "not well-formed"),
        ("<capabilities/>", XMLError, "expected <domain>"),
        ("<domain><os/></domain>", InvalidInput, "declares no os/type/@arch"),
        ("<domain><os><type arch='sparc64'>hvm</type></os></domain>", InvalidInput, "unknown"),
    ],
)
def test_bad_input(text: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        lint(text)
    with pytest.raises(XMLError):
        lint(42)
