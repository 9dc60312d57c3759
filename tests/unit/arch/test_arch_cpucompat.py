"""CPU compatibility across hosts: which host a guest's CPU may move to, per architecture.

IBM Z hosts are real ones from ../shared/testdata: host capabilities without a CPU model plus a
machine's /proc/cpuinfo (z13, z14, z15, z16, z17), and the domain capabilities of real QEMUs,
whose host-model is what libvirt writes into a running host-model guest's live XML.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.arch import PROFILES, GuestCpu, HostCpuFacts
from zcompute.driver._host import host_cpu_model
from zcompute.host import IBM_Z_MACHINES, DomainCapabilities, HostCapabilities
from zcompute.xml import Cpu, Domain

S390X, X86, AARCH64, PPC = (PROFILES[a] for a in ("s390x", "x86_64", "aarch64", "ppc64le"))
CPUINFO = {
    "zEC12": "cpuinfo-py-cpuinfo-zEC12-2827.txt",
    "z13": "cpuinfo-prometheus-procfs-z13-2964.txt",
    "z14": "cpuinfo-vdsm-z14-3906.txt",
    "z14-rhel8": "cpuinfo-insights-core-z14-3906.txt",
    "z15": "cpuinfo-insights-core-z15-8561.txt",
    "z16": "cpuinfo-ghw-snapshot-z16-3931.txt",
    "z17": "cpuinfo-ghw-comment-z17-9175-EXCERPT.txt",
}


def _caps(testdata: Path, name: str = "vdsm-caps_libvirt_s390x.xml") -> HostCapabilities:
    return HostCapabilities.from_xml((testdata / "hostcaps" / name).read_text(), name)


def _domcaps(testdata: Path, name: str) -> DomainCapabilities:
    return DomainCapabilities.from_xml((testdata / "domaincaps" / name).read_text(), name)


def z_host(
    testdata: Path, machine: str, domcaps: str | None = None, caps: str | None = None
) -> HostCpuFacts:
    """A real IBM Z host: capabilities without a CPU model, its model from its cpuinfo."""
    host_caps = _caps(testdata) if caps is None else _caps(testdata, caps)
    model = host_cpu_model(host_caps, testdata / "cpuinfo" / CPUINFO[machine]).model
    dom = None if domcaps is None else _domcaps(testdata, domcaps)
    return HostCpuFacts.of(f"the {machine} host", host_caps, model, dom)


def live_host_model_guest(testdata: Path, domcaps: str) -> GuestCpu:
    """A running KVM guest started with host-model on the host of ``domcaps``: libvirt's live
    XML has the host-model of that host's domain capabilities as a custom model."""
    source = _domcaps(testdata, domcaps)
    assert source.cpu.host_model_name is not None
    dom = Domain(type="kvm")
    dom.cpu = Cpu(mode="custom", model=source.cpu.host_model_name)
    return GuestCpu.from_domain(dom.to_xml(), running=True)


# -- the IBM Z generations -----------------------------------------------------------------


def test_every_qemu_ibm_z_model_of_real_domain_capabilities_has_a_generation(
    shared_testdata: Path,
) -> None:
    catalog = S390X.cpu_compat.catalog
    assert catalog is not None
    for path in sorted((shared_testdata / "domaincaps").glob("*s390x*.xml")):
        domcaps = _domcaps(shared_testdata, path.name)
        named = [m.name for m in domcaps.cpu.models if m.name not in ("qemu", "max", "host")]
        assert named, path.name
        assert [n for n in named if catalog.find(n) is None] == [], path.name
        assert catalog.find(domcaps.cpu.host_model_name) is not None


def test_every_machine_type_of_the_cpuinfo_fallback_is_a_known_model() -> None:
    catalog = S390X.cpu_compat.catalog
    assert catalog is not None
    for machine in IBM_Z_MACHINES.values():
        found = catalog.find(machine.qemu_model)
        assert found is not None, machine
        assert machine.generation.startswith(found.label) or found.generation < 13


def test_ibm_z_models_are_ordered_by_generation() -> None:
    catalog = S390X.cpu_compat.catalog
    assert catalog is not None
    order = ["z900", "z990", "z9EC", "z10EC", "z196", "zEC12", "z13", "z14", "gen15a", "gen16a"]
    generations = [catalog.find(name).generation for name in order]  # type: ignore[union-attr]
    assert generations == sorted(generations)
    assert len(set(generations)) == len(order)
    assert catalog.find("gen17b").generation > catalog.find("gen16b").generation  # type: ignore[union-attr]
    models = [m.generation for m in catalog.models]
    assert models == sorted(models)  # the table is in release order, as QEMU's


@pytest.mark.parametrize(
    ("name", "model", "label"),
    [
        ("gen16a-base", "gen16a", "z16"),
        ("GEN16A", "gen16a", "z16"),
        ("z16", "gen16a", "z16"),
        ("gen16a-full", "gen16a", "z16"),
        ("z15", "gen15a", "z15"),
        ("gen15b", "gen15b", "z15"),
        ("z14.2-base", "z14.2", "z14"),
        ("z14ZR1", "z14ZR1", "z14"),
        ("z13s", "z13s", "z13"),
        ("zEC12.2", "zEC12.2", "zEC12"),
        ("gen17a", "gen17a", "z17"),
    ],
)
def test_qemu_and_libvirt_names_normalise_to_a_model(name: str, model: str, label: str) -> None:
    found = S390X.cpu_compat.generation(name)
    assert found is not None
    assert (found.name, found.label) == (model, label)


@pytest.mark.parametrize("name", ["host", "qemu", "max", "z18", "gen16c", "", None, "POWER9"])
def test_names_that_are_no_ibm_z_model(name: str | None) -> None:
    assert S390X.cpu_compat.generation(name) is None


# -- s390x: a guest model no newer than the destination's generation ------------------------


def test_a_z16_host_model_guest_must_not_go_to_a_z15(shared_testdata: Path) -> None:
    guest = live_host_model_guest(shared_testdata, "qemu_9.1.0.s390x.xml")  # gen16a-base
    problem = S390X.migration_cpu_problem(
        guest, z_host(shared_testdata, "z16"), z_host(shared_testdata, "z15")
    )
    assert problem is not None
    assert "\n" not in problem
    assert "gen16a-base (z16)" in problem  # the guest's model
    assert "the CPU of the z15 host, gen15a (z15)" in problem  # the destination's
    assert 'cpu_baseline_model = "z15"' in problem  # what to do
    assert "hard-reboot" in problem


@pytest.mark.parametrize("dest", ["z16", "z17"])
def test_a_z16_guest_may_go_to_a_z16_or_newer(shared_testdata: Path, dest: str) -> None:
    guest = live_host_model_guest(shared_testdata, "qemu_9.1.0.s390x.xml")
    source = z_host(shared_testdata, "z16")
    assert S390X.migration_cpu_problem(guest, source, z_host(shared_testdata, dest)) is None


@pytest.mark.parametrize("dest", ["z14", "z14-rhel8", "z15", "z16", "z17"])
def test_a_z14_guest_may_go_to_a_z14_or_newer(shared_testdata: Path, dest: str) -> None:
    guest = live_host_model_guest(shared_testdata, "vdsm-domcaps_libvirt_s390x.xml")  # z14-base
    source = z_host(shared_testdata, "z14")
    assert S390X.migration_cpu_problem(guest, source, z_host(shared_testdata, dest)) is None


@pytest.mark.parametrize("dest", ["z13", "zEC12"])
def test_a_z14_guest_must_not_go_to_an_older_host(shared_testdata: Path, dest: str) -> None:
    guest = live_host_model_guest(shared_testdata, "vdsm-domcaps_libvirt_s390x.xml")
    problem = S390X.migration_cpu_problem(
        guest, z_host(shared_testdata, "z14"), z_host(shared_testdata, dest)
    )
    assert problem is not None
    assert "z14-base (z14)" in problem
    assert f'cpu_baseline_model = "{dest}"' in problem


def test_a_pinned_baseline_makes_a_guest_of_a_newer_host_movable(shared_testdata: Path) -> None:
    """On a z16, host-model gives gen16a (not movable to a z15); with the fleet's baseline z14
    the guest runs the z14 model and may go to every host of a z14/z15/z16 fleet."""
    source, z15 = z_host(shared_testdata, "z16"), z_host(shared_testdata, "z15")
    pinned = S390X.cpu_for("kvm", source.model, baseline=S390X.cpu_baseline("z14"))
    assert (pinned.mode, pinned.model) == ("custom", "z14")
    guest = GuestCpu("kvm", pinned.mode, pinned.model)
    for dest in ("z14", "z15", "z16", "z17"):
        assert S390X.migration_cpu_problem(guest, source, z_host(shared_testdata, dest)) is None
    unpinned = live_host_model_guest(shared_testdata, "qemu_9.1.0.s390x.xml")
    assert S390X.migration_cpu_problem(unpinned, source, z15) is not None
    z13 = z_host(shared_testdata, "z13")
    assert S390X.migration_cpu_problem(guest, source, z13) is not None  # older than z14


def test_the_destination_model_host_model_gives_wins_over_cpuinfo(shared_testdata: Path) -> None:
    """Domain capabilities name what KVM offers there (a remote host's own answer)."""
    guest = live_host_model_guest(shared_testdata, "qemu_9.1.0.s390x.xml")
    source = z_host(shared_testdata, "z16")
    dest = z_host(shared_testdata, "z16", domcaps="qemu_8.2.0.s390x.xml")  # host-model gen15a
    problem = S390X.migration_cpu_problem(guest, source, dest)
    assert problem is not None
    assert "gen15a-base (z15)" in problem


def test_a_destination_without_a_known_model_is_refused(shared_testdata: Path) -> None:
    """Old libvirt says <model>host</model> for s390x: no generation to compare with."""
    guest = live_host_model_guest(shared_testdata, "qemu_9.1.0.s390x.xml")
    caps = _caps(shared_testdata, "virt-manager-kvm-s390x.xml")
    dest = HostCpuFacts.of("the old host", caps, caps.cpu.model)
    problem = S390X.migration_cpu_problem(guest, z_host(shared_testdata, "z16"), dest)
    assert problem is not None
    assert "names no s390x CPU model zcompute knows (host)" in problem


def test_a_real_custom_model_guest_xml(shared_testdata: Path) -> None:
    """libvirt's own s390x test guest with the custom model zEC12."""
    text = (shared_testdata / "libvirt-qemuxml" / "cpu-s390-zEC12.xml").read_text()
    guest = GuestCpu.from_domain(text)
    assert (guest.domain_type, guest.mode, guest.model) == ("kvm", "custom", "zEC12")
    source = z_host(shared_testdata, "z14")
    assert S390X.migration_cpu_problem(guest, source, z_host(shared_testdata, "z13")) is None
    assert S390X.migration_cpu_problem(guest, source, z_host(shared_testdata, "zEC12")) is None


def test_host_model_not_expanded_stands_for_the_source_host(shared_testdata: Path) -> None:
    text = (shared_testdata / "libvirt-qemuxml" / "s390-panic.s390x-latest.xml").read_text()
    running = GuestCpu.from_domain(text, "kvm", running=True)
    assert (running.mode, running.model) == ("host-model", None)
    z16, z15 = z_host(shared_testdata, "z16"), z_host(shared_testdata, "z15")
    problem = S390X.migration_cpu_problem(running, z16, z15)
    assert problem is not None
    assert "gen16a (z16)" in problem
    # Stopped, host-model takes the CPU of whichever host starts it: it may go anywhere.
    stopped = GuestCpu.from_domain(text, "kvm", running=False)
    assert S390X.migration_cpu_problem(stopped, z16, z_host(shared_testdata, "z13")) is None
    named = GuestCpu("kvm", "host-model", "gen16a", running=False)  # a stale model: still free
    assert S390X.migration_cpu_problem(named, z16, z_host(shared_testdata, "z13")) is None


def test_a_stopped_guest_with_a_named_model_still_needs_a_host_that_runs_it(
    shared_testdata: Path,
) -> None:
    stopped = GuestCpu("kvm", "custom", "gen16a", running=False)
    z16, z15 = z_host(shared_testdata, "z16"), z_host(shared_testdata, "z15")
    assert S390X.migration_cpu_problem(stopped, z16, z15) is not None


def test_ibm_z_host_passthrough_needs_the_same_model(shared_testdata: Path) -> None:
    guest = GuestCpu("kvm", "host-passthrough", None)
    z14 = z_host(shared_testdata, "z14")
    assert S390X.migration_cpu_problem(guest, z14, z_host(shared_testdata, "z14-rhel8")) is None
    problem = S390X.migration_cpu_problem(guest, z14, z_host(shared_testdata, "z15"))
    assert problem is not None
    assert "CPU of the z14 host passed through (host-passthrough), z14" in problem
    assert "gen15a" in problem
    stopped = GuestCpu("kvm", "host-passthrough", None, running=False)
    assert S390X.migration_cpu_problem(stopped, z14, z_host(shared_testdata, "z13")) is None


# -- TCG: the CPU is emulated --------------------------------------------------------------


@pytest.mark.parametrize("profile", [S390X, X86, AARCH64, PPC], ids=lambda p: p.arch)
@pytest.mark.parametrize("mode", ["custom", "host-model", "host-passthrough", "maximum", None])
def test_a_tcg_guest_moves_whatever_the_host_cpu(profile: object, mode: str | None) -> None:
    guest = GuestCpu("qemu", mode, "gen17a" if mode == "custom" else None)
    source = HostCpuFacts("this host", "gen17a", "IBM", ("vx",))
    dest = HostCpuFacts("an old host", None)
    assert PROFILES[profile.arch].migration_cpu_problem(guest, source, dest) is None  # type: ignore[attr-defined]


def test_the_domain_type_comes_from_the_xml_unless_given(shared_testdata: Path) -> None:
    text = (shared_testdata / "libvirt-qemuxml" / "cpu-s390-zEC12.xml").read_text()
    assert GuestCpu.from_domain(text).domain_type == "kvm"
    assert GuestCpu.from_domain(text, "qemu").emulated
    assert GuestCpu.from_domain(Domain(type="qemu")).emulated


# -- x86_64: the destination must offer the guest's model ---------------------------------

X86_CAPS = HostCapabilities.from_xml(
    "<capabilities><host><cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model>"
    "<vendor>Intel</vendor><feature name='ds'/><feature name='vmx'/></cpu></host></capabilities>"
)
OLD_X86_CAPS = HostCapabilities.from_xml(
    "<capabilities><host><cpu><arch>x86_64</arch><model>Haswell-noTSX</model>"
    "<vendor>Intel</vendor><feature name='vmx'/></cpu></host></capabilities>"
)


def _x86_domcaps(models: str) -> DomainCapabilities:
    return DomainCapabilities.from_xml(
        "<domainCapabilities><domain>kvm</domain><arch>x86_64</arch><cpu>"
        "<mode name='host-model' supported='yes'><model fallback='forbid'>Haswell-noTSX</model>"
        f"</mode><mode name='custom' supported='yes'>{models}</mode></cpu></domainCapabilities>"
    )


SKYLAKE_GUEST = GuestCpu("kvm", "custom", "Skylake-Client-IBRS")
X86_SOURCE = HostCpuFacts.of("this host", X86_CAPS, "Skylake-Client-IBRS")


def test_x86_a_model_the_destination_lists_usable_may_move() -> None:
    dest = HostCpuFacts.of(
        "host b",
        OLD_X86_CAPS,
        "Haswell-noTSX",
        _x86_domcaps("<model usable='yes'>Skylake-Client-IBRS</model>"),
    )
    assert X86.migration_cpu_problem(SKYLAKE_GUEST, X86_SOURCE, dest) is None


def test_x86_a_model_the_destination_cannot_run_is_refused() -> None:
    domcaps = _x86_domcaps("<model usable='no'>Skylake-Client-IBRS</model>")
    dest = HostCpuFacts.of("host b", OLD_X86_CAPS, "Haswell-noTSX", domcaps)
    problem = X86.migration_cpu_problem(SKYLAKE_GUEST, X86_SOURCE, dest)
    assert problem is not None
    assert "Skylake-Client-IBRS" in problem
    assert "Haswell-noTSX" in problem
    assert 'cpu_baseline_model = "x86_64=Skylake-Client-IBRS"' in problem


def test_x86_a_model_the_destination_does_not_list_is_refused() -> None:
    domcaps = _x86_domcaps("<model usable='yes'>Haswell-noTSX</model>")
    dest = HostCpuFacts.of("host b", OLD_X86_CAPS, "Haswell-noTSX", domcaps)
    problem = X86.migration_cpu_problem(SKYLAKE_GUEST, X86_SOURCE, dest)
    assert problem is not None
    assert "does not offer its CPU model Skylake-Client-IBRS" in problem


def test_x86_without_domain_capabilities_only_the_same_host_model() -> None:
    same = HostCpuFacts.of("host b", X86_CAPS, "Skylake-Client-IBRS")
    assert X86.migration_cpu_problem(SKYLAKE_GUEST, X86_SOURCE, same) is None
    other = HostCpuFacts.of("host b", OLD_X86_CAPS, "Haswell-noTSX")
    problem = X86.migration_cpu_problem(SKYLAKE_GUEST, X86_SOURCE, other)
    assert problem is not None
    assert "cannot tell" in problem
    # A host whose libvirt offers no custom mode lists no models: unknown, not "none".
    no_custom = DomainCapabilities.from_xml(
        "<domainCapabilities><domain>kvm</domain><arch>x86_64</arch><cpu>"
        "<mode name='custom' supported='no'/></cpu></domainCapabilities>"
    )
    assert HostCpuFacts.of("b", X86_CAPS, "Skylake-Client-IBRS", no_custom).models is None


def test_x86_host_passthrough_needs_the_same_cpu_and_its_features() -> None:
    guest = GuestCpu("kvm", "host-passthrough", None)
    same = HostCpuFacts.of("host b", X86_CAPS, "Skylake-Client-IBRS")
    assert X86.migration_cpu_problem(guest, X86_SOURCE, same) is None
    fewer = HostCpuFacts("host b", "Skylake-Client-IBRS", "Intel", ("vmx",))
    problem = X86.migration_cpu_problem(guest, X86_SOURCE, fewer)
    assert problem is not None
    assert "lacks features it has (ds)" in problem
    other = HostCpuFacts.of("host b", OLD_X86_CAPS, "Haswell-noTSX")
    problem = X86.migration_cpu_problem(guest, X86_SOURCE, other)
    assert problem is not None
    assert "same CPU" in problem
    amd = HostCpuFacts("host b", "Skylake-Client-IBRS", "AMD", ("ds", "vmx"))
    assert X86.migration_cpu_problem(guest, X86_SOURCE, amd) is not None


# -- aarch64 and ppc64le ---------------------------------------------------------------------


def test_aarch64_host_passthrough_only_between_the_same_cpus() -> None:
    guest = GuestCpu("kvm", "host-passthrough", None)
    a72 = HostCpuFacts("this host", "cortex-a72", "ARM")
    assert AARCH64.migration_cpu_problem(guest, a72, HostCpuFacts("b", "cortex-a72", "ARM")) is None
    problem = AARCH64.migration_cpu_problem(guest, a72, HostCpuFacts("b", "Neoverse-N1", "ARM"))
    assert problem is not None
    assert "aarch64 KVM guests move only between hosts" in problem
    unknown = AARCH64.migration_cpu_problem(guest, a72, HostCpuFacts("b", None))
    assert unknown is not None
    assert "CPU model of b is unknown" in unknown


def test_ppc64le_newer_power_runs_older_models() -> None:
    power9, power10 = HostCpuFacts("p9", "POWER9"), HostCpuFacts("p10", "POWER10")
    guest = GuestCpu("kvm", "host-model", "POWER9")
    assert PPC.migration_cpu_problem(guest, power9, power10) is None
    newer = GuestCpu("kvm", "custom", "POWER10")
    problem = PPC.migration_cpu_problem(newer, power10, power9)
    assert problem is not None
    assert 'cpu_baseline_model = "POWER9"' in problem
