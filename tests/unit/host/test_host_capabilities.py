"""Host capabilities parsed from real s390x documents, this host's own, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.errors import HostDataError, HypervisorUnavailable
from zcompute.host import HostCapabilities
from zcompute.virt import Hypervisor


def _caps(testdata: Path, name: str) -> HostCapabilities:
    path = testdata / "hostcaps" / name
    return HostCapabilities.from_xml(path.read_text(), str(path))


def test_vdsm_s390x_host_without_cpu_model(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    assert caps.arch == "s390x"
    assert caps.cpu.model is None
    assert caps.uuid == "50903af2-08f4-4635-b172-8871f863acac"
    assert caps.cpu.topology is not None
    assert (caps.cpu.topology.sockets, caps.cpu.topology.cores) == (1, 4)
    assert caps.memory_kib == 3887724
    assert caps.cpu_count == 4
    assert caps.live_migration
    assert [c.cpus for c in caps.cells] == [(0, 1, 2, 3)]


def test_vdsm_s390x_guest_machines_and_emulators(shared_testdata: Path) -> None:
    guest = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml").guest("s390x")
    assert guest is not None
    assert guest.domain_types == ("qemu", "kvm")
    # The kvm domain type brings its own emulator; qemu falls back to the arch's.
    assert guest.emulator_for("kvm") == "/usr/bin/qemu-kvm"
    assert guest.emulator_for("qemu") == "/usr/bin/qemu-system-s390x"
    aliases = {m.name: m.canonical for m in guest.machines_for("kvm") if m.canonical}
    assert aliases == {"s390-ccw-virtio": "s390-ccw-virtio-2.11"}
    assert len(guest.machines_for("qemu")) == 13
    assert guest.machines[0].max_cpus == 248
    assert guest.emulator_for("xen") is None
    assert guest.machines_for("xen") == ()


def test_kvmibm_aliases_point_at_distro_machine(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "virt-manager-kvm-s390x-KVMIBM.xml")
    guest = caps.guest("s390x")
    assert guest is not None
    aliases = {m.name: m.canonical for m in guest.machines_for("kvm") if m.canonical}
    assert aliases == {"s390-ccw-virtio": "s390-ccw-kvmibm-1.1.1", "s390": "s390-virtio"}
    assert caps.cpu.model == "host"  # old libvirt's placeholder, see HostModel


def test_qemucaps2xml_minimal_document(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "libvirt-qemucaps2xml-caps.s390x.xml")
    guest = caps.guest("s390x")
    assert guest is not None
    assert guest.machines == ()
    assert guest.domain_types == ("qemu", "kvm")
    assert caps.memory_kib is None
    assert caps.cpu_count is None
    assert guest.features == ("cpuselection", "deviceboot", "disksnapshot", "externalSnapshot")


def test_nova_fragment_is_rejected_naming_the_file(shared_testdata: Path) -> None:
    path = shared_testdata / "hostcaps" / "nova-CAPABILITIES_HOST_S390X_TEMPLATE.xmlfrag"
    with pytest.raises(HostDataError) as err:
        HostCapabilities.from_xml(path.read_text(), str(path))
    assert err.value.field == str(path)
    assert "<host>" in str(err.value)
    assert "<capabilities>" in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("<capabilities><host>", "not well-formed"),
        ("<capabilities/>", "no <host>"),
        ("<capabilities><host><cpu/></host></capabilities>", "host/cpu/arch"),
        (
            "<capabilities><host><cpu><arch>s390x</arch>"
            "<topology sockets='two' cores='1' threads='1'/></cpu></host></capabilities>",
            "expected an integer",
        ),
        (
            "<capabilities><host><cpu><arch>s390x</arch></cpu></host>"
            "<guest><os_type>hvm</os_type><arch/></guest></capabilities>",
            "without an arch name",
        ),
        (
            "<capabilities><host><cpu><arch>s390x</arch></cpu><topology><cells num='1'>"
            "<cell id='0'><memory unit='parsec'>1</memory></cell></cells></topology></host>"
            "</capabilities>",
            "unknown unit",
        ),
    ],
)
def test_bad_documents_raise_host_data_error(text: str, fragment: str) -> None:
    with pytest.raises(HostDataError, match=fragment):
        HostCapabilities.from_xml(text, "caps.xml")


def test_entities_are_not_expanded() -> None:
    text = (
        '<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<capabilities><host><cpu><arch>s390x</arch><model>&x;</model></cpu></host>"
        "</capabilities>"
    )
    caps = HostCapabilities.from_xml(text)
    assert caps.cpu.model is None or "root" not in caps.cpu.model


def test_memory_units_are_normalised_to_kib() -> None:
    text = (
        "<capabilities><host><cpu><arch>x86_64</arch></cpu><topology><cells num='2'>"
        "<cell id='0'><memory unit='MiB'>2</memory></cell>"
        "<cell id='1'><memory>1024</memory></cell>"
        "</cells></topology></host></capabilities>"
    )
    assert HostCapabilities.from_xml(text).memory_kib == 2048 + 1024


def test_libvirt_test_driver_document_parses() -> None:
    """A document produced by libvirt itself right now (its built-in test driver)."""
    hv = Hypervisor("test:///default")
    try:
        caps = HostCapabilities.from_xml(hv.capabilities(), "test:///default")
    finally:
        hv.close()
    assert caps.arch == "i686"
    assert caps.guest_arches == ("i686",)


def test_this_hosts_own_capabilities() -> None:
    """This machine's libvirtd, read-only, when it runs (the lead's setup starts it)."""
    hv = Hypervisor("qemu:///system")
    try:
        text = hv.capabilities()
    except HypervisorUnavailable as err:
        pytest.skip(f"libvirtd not reachable here: {err}")
    finally:
        hv.close()
    caps = HostCapabilities.from_xml(text, "qemu:///system")
    assert caps.arch
    assert caps.guest(caps.arch) is not None or caps.guests
    assert all(g.name for g in caps.guests)
