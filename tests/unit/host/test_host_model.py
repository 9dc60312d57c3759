"""HostModel: capabilities plus the profile-driven cpuinfo fallback; read_host; conclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.hostreport import HostModel, conclude, read_host
from zcompute.virt import Hypervisor

X86_NO_MODEL = (
    "<capabilities><host><cpu><arch>x86_64</arch></cpu></host>"
    "<guest><os_type>hvm</os_type><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64"
    "</emulator><machine canonical='pc-q35-7.2'>q35</machine>"
    "<machine canonical='pc-i440fx-7.2'>pc</machine><domain type='qemu'/><domain type='kvm'/>"
    "</arch></guest></capabilities>"
)


def _caps(testdata: Path, name: str) -> HostCapabilities:
    return HostCapabilities.from_xml((testdata / "hostcaps" / name).read_text(), name)


def _cpuinfo(testdata: Path, name: str) -> Path:
    return testdata / "cpuinfo" / name


def test_s390x_without_model_uses_cpuinfo(shared_testdata: Path) -> None:
    model = HostModel.build(
        _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml"),
        cpuinfo_path=_cpuinfo(shared_testdata, "cpuinfo-insights-core-z15-8561.txt"),
    )
    assert (model.cpu_model, model.cpu_model_source, model.cpu_vendor) == (
        "gen15a",
        "cpuinfo",
        "IBM",
    )
    assert model.cpuinfo_guess is not None
    assert model.cpuinfo_guess.generation == "z15"
    assert model.warnings == ()
    data = model.to_dict()
    assert data["cpu"]["model"] == "gen15a"
    assert data["cpu"]["source"] == "cpuinfo"


def test_placeholder_host_model_also_falls_back(shared_testdata: Path) -> None:
    model = HostModel.build(
        _caps(shared_testdata, "virt-manager-kvm-s390x.xml"),
        cpuinfo_path=_cpuinfo(shared_testdata, "cpuinfo-ghw-snapshot-z16-3931.txt"),
    )
    assert (model.cpu_model, model.cpu_model_source) == ("gen16a", "cpuinfo")


def test_unusable_cpuinfo_is_a_warning_not_an_error(shared_testdata: Path, tmp_path: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    for path in (_cpuinfo(shared_testdata, "lscpu-py-cpuinfo-zEC12-2827.txt"), tmp_path / "x"):
        model = HostModel.build(caps, cpuinfo_path=path)
        assert model.cpu_model is None
        assert model.cpu_model_source is None
        assert len(model.warnings) == 1
        assert str(path) in model.warnings[0]
    no_path = HostModel.build(caps)
    assert no_path.cpu_model is None
    assert "no cpuinfo was given" in no_path.warnings[0]


def test_reported_model_wins_and_cpuinfo_is_not_read(shared_testdata: Path, tmp_path: Path) -> None:
    text = (shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    text = text.replace("<arch>s390x</arch>", "<arch>s390x</arch><model>z14-base</model>", 1)
    model = HostModel.build(HostCapabilities.from_xml(text), cpuinfo_path=tmp_path / "absent")
    assert (model.cpu_model, model.cpu_model_source, model.warnings) == (
        "z14-base",
        "capabilities",
        (),
    )


def test_other_arches_never_use_the_ibm_z_fallback(shared_testdata: Path) -> None:
    model = HostModel.build(
        HostCapabilities.from_xml(X86_NO_MODEL),
        cpuinfo_path=_cpuinfo(shared_testdata, "cpuinfo-insights-core-z15-8561.txt"),
    )
    assert model.cpu_model is None
    assert model.cpuinfo_guess is None
    assert model.warnings == ()


def test_unknown_host_arch_is_a_warning() -> None:
    text = "<capabilities><host><cpu><arch>riscv64</arch></cpu></host></capabilities>"
    model = HostModel.build(HostCapabilities.from_xml(text))
    assert "riscv64" in model.warnings[0]
    assert "s390x" in model.warnings[0]
    assert not model.kvm_offered
    assert not model.kvm_usable


def test_kvm_and_domcaps_lookup(shared_testdata: Path) -> None:
    domcaps = DomainCapabilities.from_xml(
        (shared_testdata / "domaincaps" / "qemu_9.1.0.s390x.xml").read_text()
    )
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    model = HostModel.build(caps, domain_capabilities=[domcaps], kvm_device=False)
    assert model.kvm_offered
    assert not model.kvm_usable
    assert model.domcaps_for("s390x") is domcaps
    assert model.domcaps_for("s390x", "qemu") is None
    assert model.to_dict()["domain_capabilities"][0]["launch_security"] == ["s390-pv"]


def test_conclusions_for_an_s390x_kvm_host(shared_testdata: Path) -> None:
    domcaps = DomainCapabilities.from_xml(
        (shared_testdata / "domaincaps" / "vdsm-domcaps_libvirt_s390x.xml").read_text()
    )
    model = HostModel.build(
        _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml"),
        cpuinfo_path=_cpuinfo(shared_testdata, "cpuinfo-vdsm-z14-3906.txt"),
        domain_capabilities=[domcaps],
        kvm_device=True,
    )
    (s390x,) = conclude(model)
    assert (s390x.domain_type, s390x.machine, s390x.cpu_mode) == (
        "kvm",
        "s390-ccw-virtio-2.11",
        "host-model",
    )
    (tcg,) = conclude(model, virt_type="qemu")
    assert (tcg.domain_type, tcg.cpu_mode, tcg.cpu_model) == ("qemu", "custom", "qemu")
    (bad,) = conclude(model, machine_types="s390x=s390-ccw-virtio-9.9")
    assert bad.machine is None
    assert "s390-ccw-virtio-9.9" in (bad.problem or "")


def test_conclusion_when_the_host_lists_no_machines(shared_testdata: Path) -> None:
    model = HostModel.build(_caps(shared_testdata, "libvirt-qemucaps2xml-caps.s390x.xml"))
    (only,) = conclude(model)
    assert only.machine is None
    assert "lists no machine types" in (only.problem or "")


def test_read_host_on_libvirts_test_driver(tmp_path: Path) -> None:
    """A real (test-driver) connection: i686 has no profile, so it is a warning."""
    hv = Hypervisor("test:///default")
    try:
        model = read_host(hv, tmp_path / "cpuinfo", kvm_device_path=tmp_path / "kvm")
    finally:
        hv.close()
    assert model.arch == "i686"
    assert model.kvm_device is False
    assert model.domain_capabilities == ()
    assert any("i686" in w for w in model.warnings)
    assert conclude(model) == []


@pytest.mark.parametrize("arch_offered", ["s390x"])
def test_read_host_fetches_domcaps_per_profile_arch(arch_offered: str) -> None:
    """Against this machine's libvirtd when it runs: domcaps for every profile arch offered."""
    from zcompute.errors import HypervisorUnavailable

    hv = Hypervisor("qemu:///system")
    try:
        model = read_host(hv)
    except HypervisorUnavailable as err:
        pytest.skip(f"libvirtd not reachable here: {err}")
    finally:
        hv.close()
    if arch_offered not in model.capabilities.guest_arches:
        pytest.skip(f"this libvirt offers no {arch_offered} guests")
    assert model.domcaps_for(arch_offered) is not None
    assert any(c.arch == arch_offered and c.machine for c in conclude(model, "qemu"))


def test_a_kvm_probe_answer_overrides_the_device_guess(shared_testdata: Path) -> None:
    """/dev/kvm being there proves nothing: the probe's answer (a booted guest) decides."""
    import dataclasses

    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    model = HostModel.build(caps, kvm_device=True)
    assert model.kvm_usable  # not probed: offered by libvirt and the device exists
    failed = dataclasses.replace(model, kvm_probed=False)
    assert not failed.kvm_usable
    assert failed.to_dict()["kvm"] == {
        "offered": True,
        "device": True,
        "probed": False,
        "usable": False,
    }
    assert dataclasses.replace(model, kvm_probed=True).kvm_usable
