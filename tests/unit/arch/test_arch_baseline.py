"""``cpu_baseline_model``: parsing, each profile's check, and the CPU it gives a KVM guest."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.arch import PROFILES, baseline_model, cpu_for, parse_cpu_baselines
from zcompute.errors import ConfigError
from zcompute.host import DomainCapabilities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("  ", {}),
        ("z14", {"s390x": "z14"}),
        ("Z14", {"s390x": "z14"}),  # QEMU's spelling
        ("z16", {"s390x": "gen16a"}),  # the hardware's name: QEMU's model of it
        ("gen15b-base", {"s390x": "gen15b-base"}),
        ("s390x=zEC12", {"s390x": "zEC12"}),
        ("POWER9", {"ppc64le": "POWER9"}),
        (
            "s390x=z14, amd64=Haswell-noTSX",
            {"s390x": "z14", "x86_64": "Haswell-noTSX"},
        ),
    ],
)
def test_baselines_per_architecture(text: str, expected: dict[str, str]) -> None:
    assert parse_cpu_baselines(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("z18", r"no architecture has a CPU model 'z18'; name it as ARCH=MODEL"),
        ("s390x=z18", r"'z18' is not a s390x CPU model \(allowed: z900, .*gen16a.*z16"),
        ("s390x=gen16a-full", r"names gen16a's features, not a model to run"),
        ("Haswell", r"no architecture has a CPU model 'Haswell'"),
        ("x86_64=Has well", r"'Has well' is not a CPU model name"),
        ("aarch64=cortex-a72", r"aarch64 KVM guests run with the host's own CPU"),
        ("z14,s390x=z15", r"entry 2 's390x=z15' repeats architecture 's390x'"),
        ("sparc=z14", r"unknown architecture \(allowed: s390x, x86_64"),
        ("s390x=", r"empty architecture or model"),
        ("z14,", r"entry 2 '' is not MODEL or ARCH=MODEL"),
        ("a=b=c", r"is not MODEL or ARCH=MODEL"),
    ],
)
def test_a_bad_baseline_is_a_config_error_naming_the_option(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_cpu_baselines(text)
    assert caught.value.field == "cpu_baseline_model"
    assert caught.value.allowed


def test_no_bare_model_name_belongs_to_two_architectures() -> None:
    seen: dict[str, str] = {}
    for profile in PROFILES.values():
        catalog = profile.cpu_compat.catalog
        for name in catalog.names if catalog else ():
            assert seen.setdefault(name.lower(), profile.arch) == profile.arch


def test_the_baseline_of_one_architecture() -> None:
    assert baseline_model("z14,x86_64=Haswell-noTSX", "s390x") == "z14"
    assert baseline_model("z14,x86_64=Haswell-noTSX", "amd64") == "Haswell-noTSX"
    assert baseline_model("z14", "x86_64") is None
    with pytest.raises(ConfigError):  # a broken entry of another arch is never skipped
        baseline_model("z14,x86_64=", "s390x")


def test_a_baseline_replaces_host_model_for_kvm_guests_only() -> None:
    kvm = cpu_for("s390x", "kvm", "gen16a", baseline="z14")
    assert (kvm.mode, kvm.model) == ("custom", "z14")
    assert "cpu_baseline_model" in kvm.reason
    tcg = cpu_for("s390x", "qemu", None, baseline="z14")
    assert (tcg.mode, tcg.model) == ("custom", "qemu")  # TCG keeps its emulated model
    assert cpu_for("s390x", "kvm", "gen16a").mode == "host-model"


def test_a_baseline_newer_than_this_host_is_refused(shared_testdata: Path) -> None:
    with pytest.raises(ConfigError, match=r"gen16a \(z16\) is newer than this host's CPU z14"):
        cpu_for("s390x", "kvm", "z14", baseline="gen16a")
    assert cpu_for("s390x", "kvm", None, baseline="gen16a").model == "gen16a"  # cannot tell


def test_a_baseline_libvirt_marks_unusable_here_is_refused(shared_testdata: Path) -> None:
    """A real z14 host: its domain capabilities mark the z14 model (QEMU's default features)
    unusable and z14-base usable."""
    name = "vdsm-domcaps_libvirt_s390x.xml"
    domcaps = DomainCapabilities.from_xml((shared_testdata / "domaincaps" / name).read_text())
    with pytest.raises(ConfigError, match=r"cannot run s390x CPU model z14 .*allowed: .*z14-base"):
        cpu_for("s390x", "kvm", "z14", domcaps, baseline="z14")
    assert cpu_for("s390x", "kvm", "z14", domcaps, baseline="z14-base").model == "z14-base"
