"""Machine type choice and the per-arch mapping setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.arch import choose_machine_type, explain_machine_type, parse_machine_type_mapping
from zcompute.errors import ConfigError, InvalidInput
from zcompute.host import HostCapabilities

X86_CAPS = HostCapabilities.from_xml(
    "<capabilities><host><cpu><arch>x86_64</arch></cpu></host>"
    "<guest><os_type>hvm</os_type><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64"
    "</emulator><machine canonical='pc-i440fx-7.2'>pc</machine><machine>pc-i440fx-7.2</machine>"
    "<machine canonical='pc-q35-7.2'>q35</machine><machine>pc-q35-7.2</machine>"
    "<machine>microvm</machine><domain type='qemu'/><domain type='kvm'/></arch></guest>"
    "</capabilities>"
)


def _caps(testdata: Path, name: str) -> HostCapabilities:
    return HostCapabilities.from_xml((testdata / "hostcaps" / name).read_text(), name)


def test_mapping_parses_with_aliases_and_spaces() -> None:
    assert parse_machine_type_mapping("") == {}
    assert parse_machine_type_mapping(" x86_64 = q35 , s390x=s390-ccw-virtio,arm64=virt") == {
        "x86_64": "q35",
        "s390x": "s390-ccw-virtio",
        "aarch64": "virt",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x86_64", "not ARCH=MACHINE"),
        ("x86_64=q35=pc", "not ARCH=MACHINE"),
        ("x86_64=", "empty"),
        ("=q35", "empty"),
        ("x86_64=q35,,s390x=s390-ccw-virtio", "entry 2"),
        ("sparc=sun4u", "unknown architecture"),
        ("x86_64=q35,amd64=pc", "repeats architecture 'x86_64'"),
        ("x86_64=q 35", "not a machine type name"),
        ("s390x=pc", "not a usable s390x machine type"),
        ("s390x=s390-virtio", "not a usable s390x machine type"),
    ],
)
def test_malformed_mapping_is_reported(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as err:
        parse_machine_type_mapping(text)
    assert err.value.field == "machine_types"
    assert err.value.allowed


def test_default_alias_resolves_to_canonical(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    assert choose_machine_type("s390x", "kvm", None, "", caps) == "s390-ccw-virtio-2.11"
    kvmibm = _caps(shared_testdata, "virt-manager-kvm-s390x-KVMIBM.xml")
    assert choose_machine_type("s390x", "qemu", {}, "", kvmibm) == "s390-ccw-kvmibm-1.1.1"
    # Here s390-ccw-virtio only appears as the canonical name of the alias s390-ccw.
    old = _caps(shared_testdata, "virt-manager-kvm-s390x.xml")
    assert choose_machine_type("s390x", "kvm", None, "", old) == "s390-ccw-virtio"


def test_order_image_then_config_then_default(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    config = "s390x=s390-ccw-virtio-2.9"
    image = {"hw_machine_type": "s390-ccw-virtio-2.6"}
    choice = explain_machine_type("s390x", "kvm", image, config, caps)
    assert (choice.name, choice.source) == ("s390-ccw-virtio-2.6", "image property hw_machine_type")
    choice = explain_machine_type("s390x", "kvm", {"hw_machine_type": " "}, config, caps)
    assert (choice.name, choice.source) == ("s390-ccw-virtio-2.9", "configuration machine_types")
    choice = explain_machine_type("s390x", "kvm", None, "x86_64=q35", caps)
    assert (choice.requested, choice.source) == ("s390-ccw-virtio", "s390x default machine type")


def test_x86_defaults_and_mapping() -> None:
    assert choose_machine_type("x86_64", "kvm", None, "", X86_CAPS) == "pc-i440fx-7.2"
    assert choose_machine_type("amd64", "kvm", None, "x86_64=q35", X86_CAPS) == "pc-q35-7.2"


def test_not_offered_lists_what_the_host_offers(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    with pytest.raises(InvalidInput) as err:
        choose_machine_type("s390x", "kvm", {"hw_machine_type": "s390-ccw-virtio-9.0"}, "", caps)
    assert err.value.field == "image property hw_machine_type"
    assert "s390-ccw-virtio-2.11" in (err.value.allowed or "")
    assert "s390-ccw-kvmibm-1.1.0" in (err.value.allowed or "")


def test_offered_but_unusable_machine_is_refused(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "virt-manager-kvm-s390x-KVMIBM.xml")
    with pytest.raises(InvalidInput, match="unusable on s390x") as err:
        choose_machine_type("s390x", "kvm", {"hw_machine_type": "s390"}, "", caps)
    assert "s390-ccw*" in (err.value.allowed or "")
    with pytest.raises(InvalidInput, match="unusable on x86_64"):
        choose_machine_type("x86_64", "kvm", {"hw_machine_type": "microvm"}, "", X86_CAPS)


def test_wrong_arch_or_domain_type(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    with pytest.raises(InvalidInput, match="offers no x86_64 guests") as err:
        choose_machine_type("x86_64", "kvm", None, "", caps)
    assert err.value.allowed == "s390x"
    with pytest.raises(InvalidInput, match="as 'kvm'"):
        choose_machine_type(
            "s390x",
            "kvm",
            None,
            "",
            HostCapabilities.from_xml(
                "<capabilities><host><cpu><arch>x86_64</arch></cpu></host><guest><os_type>hvm"
                "</os_type><arch name='s390x'><machine>s390-ccw-virtio-7.2</machine>"
                "<domain type='qemu'/></arch></guest></capabilities>"
            ),
        )
    with pytest.raises(InvalidInput, match="unknown architecture"):
        choose_machine_type("sparc", "kvm", None, "", caps)


def test_empty_machine_list(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "libvirt-qemucaps2xml-caps.s390x.xml")
    with pytest.raises(InvalidInput, match="not offered") as err:
        choose_machine_type("s390x", "kvm", None, "", caps)
    assert "lists no machine types" in (err.value.allowed or "")


def test_malformed_config_fails_even_when_image_decides(shared_testdata: Path) -> None:
    caps = _caps(shared_testdata, "vdsm-caps_libvirt_s390x.xml")
    with pytest.raises(ConfigError):
        choose_machine_type("s390x", "kvm", {"hw_machine_type": "s390-ccw-virtio"}, "s390x", caps)
