"""Guest platform (KVM or TCG) and the CPU decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.arch import PROFILES, choose_guest, cpu_for, offered_arches
from zcompute.errors import ConfigError, InvalidInput
from zcompute.host import DomainCapabilities, HostCapabilities

X86_HOST = HostCapabilities.from_xml(
    "<capabilities><host><cpu><arch>x86_64</arch></cpu></host>"
    "<guest><os_type>hvm</os_type><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64"
    "</emulator><machine>pc-i440fx-7.2</machine><domain type='qemu'/><domain type='kvm'/>"
    "</arch></guest>"
    "<guest><os_type>hvm</os_type><arch name='s390x'><emulator>/usr/bin/qemu-system-s390x"
    "</emulator><machine canonical='s390-ccw-virtio-7.2'>s390-ccw-virtio</machine>"
    "<domain type='qemu'/></arch></guest>"
    "<guest><os_type>hvm</os_type><arch name='riscv64'><emulator>/usr/bin/qemu-system-riscv64"
    "</emulator><domain type='qemu'/></arch></guest></capabilities>"
)


def _domcaps(testdata: Path, name: str) -> DomainCapabilities:
    return DomainCapabilities.from_xml((testdata / "domaincaps" / name).read_text(), name)


def _domcaps_text(cpu: str, arch: str = "s390x", dtype: str = "qemu") -> DomainCapabilities:
    return DomainCapabilities.from_xml(
        f"<domainCapabilities><domain>{dtype}</domain><arch>{arch}</arch><cpu>{cpu}</cpu>"
        "</domainCapabilities>"
    )


def test_host_arch_with_kvm() -> None:
    guest = choose_guest(None, X86_HOST, "auto", kvm_usable=True)
    assert (guest.arch, guest.domain_type, guest.emulated) == ("x86_64", "kvm", False)
    assert guest.emulator == "/usr/bin/qemu-system-x86_64"


@pytest.mark.parametrize(
    ("arch", "virt_type", "kvm_usable", "reason"),
    [
        ("s390x", "auto", True, "not the host arch"),
        ("amd64", "auto", False, "KVM is not usable"),
        (None, "qemu", True, "virt_type is qemu"),
    ],
)
def test_tcg_fallbacks(arch: str | None, virt_type: str, kvm_usable: bool, reason: str) -> None:
    guest = choose_guest(arch, X86_HOST, virt_type, kvm_usable)
    assert guest.domain_type == "qemu"
    assert guest.emulated
    assert reason in guest.reason


def test_kvm_configured_is_not_downgraded() -> None:
    with pytest.raises(ConfigError, match="kvm is configured but the guest arch s390x"):
        choose_guest("s390x", X86_HOST, "kvm", kvm_usable=True)
    with pytest.raises(ConfigError, match="KVM is not usable"):
        choose_guest(None, X86_HOST, "kvm", kvm_usable=False)
    assert choose_guest(None, X86_HOST, "kvm", kvm_usable=True).domain_type == "kvm"


def test_bad_arch_and_virt_type() -> None:
    with pytest.raises(InvalidInput) as err:
        choose_guest("aarch64", X86_HOST, "auto", kvm_usable=True)
    assert err.value.field == "hw_architecture"
    assert err.value.allowed == "x86_64, s390x"  # riscv64 is offered but has no profile
    with pytest.raises(InvalidInput, match="unknown architecture"):
        choose_guest("sparc64", X86_HOST, "auto", kvm_usable=True)
    with pytest.raises(ConfigError, match="virt_type"):
        choose_guest(None, X86_HOST, "xen", kvm_usable=True)


def test_s390x_host_runs_s390x_under_kvm(shared_testdata: Path) -> None:
    caps = HostCapabilities.from_xml(
        (shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    )
    guest = choose_guest(None, caps, "auto", kvm_usable=True)
    assert (guest.arch, guest.domain_type, guest.emulator) == ("s390x", "kvm", "/usr/bin/qemu-kvm")


def test_kvm_uses_host_model_where_domcaps_allow(shared_testdata: Path) -> None:
    caps = _domcaps(shared_testdata, "qemu_9.1.0.s390x.xml")
    assert cpu_for("s390x", "kvm", None, caps).mode == "host-model"
    assert cpu_for("aarch64", "kvm").mode == "host-passthrough"


def test_kvm_without_host_model_uses_passthrough_then_cpuinfo_model() -> None:
    only_passthrough = _domcaps_text("<mode name='host-passthrough' supported='yes'/>", dtype="kvm")
    assert cpu_for("s390x", "kvm", "gen15a", only_passthrough).mode == "host-passthrough"
    custom = _domcaps_text(
        "<mode name='host-model' supported='no'/><mode name='custom' supported='yes'>"
        "<model usable='yes'>gen15a</model><model usable='yes'>qemu</model></mode>",
        dtype="kvm",
    )
    spec = cpu_for("s390x", "kvm", "gen15a", custom)  # the cpuinfo fallback's model
    assert (spec.mode, spec.model) == ("custom", "gen15a")
    spec = cpu_for("s390x", "kvm", "gen17a", custom)  # not usable: TCG-style choice
    assert (spec.mode, spec.model) == ("custom", "qemu")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("qemu_4.2.0.s390x.xml", "max"),  # qemu is usable='no' there
        ("qemu_8.2.0.s390x.xml", "qemu"),
        ("qemu_9.1.0.s390x.xml", "qemu"),
        ("vdsm-domcaps_libvirt_s390x.xml", "qemu"),
    ],
)
def test_tcg_never_gets_host_model(shared_testdata: Path, name: str, model: str) -> None:
    spec = cpu_for("s390x", "qemu", "gen15a", _domcaps(shared_testdata, name))
    assert (spec.mode, spec.model) == ("custom", model)


def test_tcg_choices_without_listed_models() -> None:
    unknown = _domcaps_text(
        "<mode name='custom' supported='yes'><model usable='unknown'>max</model>"
        "<model usable='unknown'>cortex-a57</model></mode>",
        arch="aarch64",
    )
    assert cpu_for("aarch64", "qemu", None, unknown).model == "cortex-a57"
    maximum = _domcaps_text(
        "<mode name='maximum' supported='yes'/><mode name='custom' supported='yes'/>"
    )
    assert cpu_for("s390x", "qemu", None, maximum).mode == "maximum"
    nothing = _domcaps_text("<mode name='custom' supported='no'/>")
    spec = cpu_for("s390x", "qemu", None, nothing)
    assert spec.mode is None
    assert "QEMU's default" in spec.reason
    assert cpu_for("x86_64", "qemu").model == "qemu64"  # no domcaps: profile default


def test_unknown_domain_type() -> None:
    with pytest.raises(InvalidInput, match="domain type"):
        PROFILES["s390x"].cpu_for("xen")


# -- guest_arches: the architectures a host offers ---------------------------------------------


def test_a_host_offers_every_arch_it_runs_unless_told_otherwise() -> None:
    assert offered_arches("") is None
    assert offered_arches(" , ") is None
    assert offered_arches("s390x, amd64,s390x") == ("s390x", "x86_64")  # aliases, once each


def test_an_unknown_offered_arch_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        offered_arches("s390x,armv7l")
    assert info.value.field == "guest_arches"
    assert "armv7l" in str(info.value)


def test_a_guest_of_an_arch_the_host_does_not_offer_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        choose_guest("s390x", X86_HOST, "qemu", kvm_usable=True, offered=("x86_64",))
    assert info.value.field == "hw_architecture"
    assert "does not offer s390x guests" in str(info.value)
    guest = choose_guest("s390x", X86_HOST, "qemu", kvm_usable=True, offered=("s390x",))
    assert guest.arch == "s390x"


def test_the_host_reports_only_the_platforms_it_offers() -> None:
    from zcompute.driver._reports import supported_instances
    from zcompute.plan import HostView

    host = HostView(caps=X86_HOST, host_cpu_model=None, kvm_usable=True, libvirt_version=9000000)
    everything = supported_instances(host)
    assert ("s390x", "qemu") in everything
    assert ("x86_64", "kvm") in everything
    assert supported_instances(host, ("x86_64",)) == [("x86_64", "qemu"), ("x86_64", "kvm")]
