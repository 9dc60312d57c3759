"""Domain capabilities parsed from real s390x documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.errors import HostDataError
from zcompute.host import DomainCapabilities


def _domcaps(testdata: Path, name: str) -> DomainCapabilities:
    path = testdata / "domaincaps" / name
    return DomainCapabilities.from_xml(path.read_text(), str(path))


@pytest.mark.parametrize(
    ("name", "machine", "host_model", "pv"),
    [
        ("qemu_4.2.0.s390x.xml", "s390-ccw-virtio-4.2", "gen15a-base", False),
        ("qemu_8.2.0.s390x.xml", "s390-ccw-virtio-8.2", "gen15a-base", True),
        ("qemu_9.1.0.s390x.xml", "s390-ccw-virtio-9.1", "gen16a-base", True),
        ("vdsm-domcaps_libvirt_s390x.xml", "s390-ccw-virtio-2.11", "z14-base", False),
        ("virt-manager-kvm-s390x-domcaps.xml", "s390-ccw-virtio-6.0", "gen15a-base", True),
    ],
)
def test_every_real_document(
    shared_testdata: Path, name: str, machine: str, host_model: str, pv: bool
) -> None:
    caps = _domcaps(shared_testdata, name)
    assert (caps.arch, caps.domain_type, caps.machine) == ("s390x", "kvm", machine)
    assert caps.cpu.host_model
    assert caps.cpu.host_model_name == host_model
    assert caps.cpu.host_passthrough
    assert caps.feature_supported("s390-pv") is pv
    assert "virtio" in caps.disk_buses
    assert "scsi" in caps.disk_buses
    assert caps.vcpu_max == 248


def test_qemu_9_1_details(shared_testdata: Path) -> None:
    caps = _domcaps(shared_testdata, "qemu_9.1.0.s390x.xml")
    assert caps.launch_security == ("s390-pv",)
    assert caps.panic_models == ("s390",)
    assert caps.video_models == ("virtio", "none")
    assert "pty" in caps.console_types
    assert "file" in caps.console_types
    assert caps.hostdev_subsys_types == ("usb", "pci", "scsi")
    assert caps.cpu.maximum
    assert caps.cpu.supports("maximum")
    assert caps.cpu.model("gen16a") is not None
    assert {"qemu", "max", "gen15a"} <= set(caps.cpu.usable_models)
    assert not caps.feature_supported("sev")
    assert caps.loaders == ("/obviously/fake/firmware1.fd", "/obviously/fake/firmware2.fd")
    as_dict = caps.to_dict()
    assert as_dict["devices"]["disk"]["enums"]["bus"] == ["scsi", "virtio", "usb", "nvme"]


def test_qemu_8_2_blockers(shared_testdata: Path) -> None:
    caps = _domcaps(shared_testdata, "qemu_8.2.0.s390x.xml")
    gen16a = caps.cpu.model("gen16a")
    assert gen16a is not None
    assert gen16a.usable == "no"
    assert gen16a.vendor == "IBM"
    assert "nnpa" in gen16a.blockers
    assert "gen16a" not in caps.cpu.usable_models


def test_vdsm_unusable_model_and_no_vendor(shared_testdata: Path) -> None:
    caps = _domcaps(shared_testdata, "vdsm-domcaps_libvirt_s390x.xml")
    z14 = caps.cpu.model("z14")
    assert z14 is not None
    assert z14.usable == "no"
    assert z14.vendor is None
    assert not caps.cpu.maximum
    assert caps.launch_security == ()
    assert caps.device("tpm") is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("<capabilities/>", "expected <domainCapabilities>"),
        ("<domainCapabilities><arch>s390x</arch></domainCapabilities>", "missing <domain>"),
        ("<domainCapabilities", "not well-formed"),
        (
            "<domainCapabilities><domain>kvm</domain><arch>s390x</arch><vcpu max='x'/>"
            "</domainCapabilities>",
            "expected an integer",
        ),
    ],
)
def test_bad_documents(text: str, fragment: str) -> None:
    with pytest.raises(HostDataError, match=fragment) as err:
        DomainCapabilities.from_xml(text, "dc.xml")
    assert str(err.value).startswith("dc.xml")
