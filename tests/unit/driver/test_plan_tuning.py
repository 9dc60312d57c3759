"""Disk I/O limits (flavor quota:disk_*) and file-backed memory: checked, planned, written,
and accepted by libvirt's schema and its test driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.builder import build_domain
from zcompute.config import Config, load_config
from zcompute.driver import HostView, PlanRequest, make_plan
from zcompute.errors import ConfigError, InvalidInput
from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.model import BlockDeviceSpec, Flavor, Image, new_uuid, utcnow
from zcompute.virt import validate_domain_on_libvirt
from zcompute.xml import validate_schema

READ = "quota:disk_read_bytes_sec"


@pytest.fixture
def z_host(shared_testdata: Path) -> HostView:
    caps = HostCapabilities.from_xml(
        (shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    )
    return HostView(caps=caps, host_cpu_model="z14", kvm_usable=True, libvirt_version=9_000_000)


def _plan(tmp_path: Path, host: HostView, flavor: Flavor, config: Config | None = None):  # type: ignore[no-untyped-def]
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"k")
    image = Image(
        id=new_uuid(),
        name="linux",
        arch="s390x",
        disk_format=None,
        path=None,
        kernel_path=kernel,
        initrd_path=None,
        cmdline=None,
        properties={},
        size=1,
        sha256="0" * 64,
        created_at=utcnow(),
    )
    volume = tmp_path / "vol.img"
    volume.write_bytes(b"\0" * 512)
    request = PlanRequest(
        uuid=new_uuid(),
        name="web1",
        flavor=flavor,
        image=image,
        instance_dir=tmp_path / "inst",
        root_disk=tmp_path / "inst" / "disk",
        block_devices=(BlockDeviceSpec(volume, "vdz"),),
        config_drive=True,
    )
    return make_plan(request, config or Config(virt_type="auto"), host)


def test_the_flavor_limits_every_own_disk_and_no_volume(tmp_path: Path, z_host: HostView) -> None:
    specs = {READ: "1048576", "quota:disk_write_iops_sec": "100", "quota:disk_total_bytes_sec": "0"}
    flavor = Flavor("limited", 1, 256, 1, specs, ephemeral_gib=1, swap_mib=16)
    dom = build_domain(_plan(tmp_path, z_host, flavor))
    tunes = {d.target_dev: d.iotune for d in dom.devices.disks}
    assert set(tunes) == {"vda", "vdb", "vdc", "vdd", "vdz"}  # root, eph, swap, drive, volume
    for target in ("vda", "vdb", "vdc", "vdd"):
        assert (tunes[target].read_bytes_sec, tunes[target].write_iops_sec) == (1048576, 100)
        assert tunes[target].total_bytes_sec is None  # 0 is no limit: not written
    assert "<iotune>" not in dom.devices.disks[-1].to_xml()
    xml = dom.to_xml()
    validate_schema(xml)
    validate_domain_on_libvirt(xml)


def test_no_limits_no_iotune(tmp_path: Path, z_host: HostView) -> None:
    dom = build_domain(_plan(tmp_path, z_host, Flavor("plain", 1, 256, 1)))
    assert "<iotune>" not in dom.to_xml()
    assert "memoryBacking" not in dom.to_xml()


@pytest.mark.parametrize(
    ("specs", "field"),
    [
        ({READ: "-1"}, READ),
        ({READ: "1.5"}, READ),
        ({READ: "ten"}, READ),
        ({READ: str(10**15 + 1)}, READ),
        ({"quota:disk_total_bytes_sec": "1", READ: "1"}, "quota:disk_total_bytes_sec"),
        (
            {"quota:disk_total_iops_sec": "5", "quota:disk_write_iops_sec": "1"},
            "quota:disk_total_iops_sec",
        ),
    ],
)
def test_bad_limits_are_refused_naming_the_spec(specs: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Flavor("bad", 1, 256, 1, specs)
    assert info.value.field == field


def test_a_total_limit_of_zero_goes_with_read_and_write_limits() -> None:
    specs = {"quota:disk_total_bytes_sec": "0", READ: "1", "quota:disk_write_bytes_sec": "2"}
    assert dict(Flavor("ok", 1, 256, 1, specs).extra_specs) == specs


def test_an_image_property_of_a_quota_key_is_kept_unread() -> None:
    from zcompute.model import validate_image_properties

    assert dict(validate_image_properties({READ: "bogus"})) == {READ: "bogus"}


def test_file_backed_memory_is_a_shared_file(tmp_path: Path, z_host: HostView) -> None:
    config = Config(virt_type="auto", file_backed_memory_mib=4096)
    dom = build_domain(_plan(tmp_path, z_host, Flavor("f", 1, 256, 1), config))
    backing = dom.memory_backing
    assert (backing.source_type, backing.access_mode, backing.allocation_mode) == (
        "file",
        "shared",
        "immediate",
    )
    assert backing.discard is True
    validate_schema(dom.to_xml())


def test_file_backed_memory_is_refused_where_qemu_cannot(
    tmp_path: Path, z_host: HostView, shared_testdata: Path
) -> None:
    plan = _plan(tmp_path, z_host, Flavor("f", 1, 256, 1))
    caps = DomainCapabilities.from_xml(
        "<domainCapabilities><path>/usr/bin/qemu-system-s390x</path><domain>kvm</domain>"
        f"<machine>{plan.machine}</machine><arch>s390x</arch>"
        "<memoryBacking supported='yes'><enum name='sourceType'><value>anonymous</value>"
        "</enum></memoryBacking></domainCapabilities>"
    )
    host = HostView(
        caps=z_host.caps,
        host_cpu_model="z14",
        kvm_usable=True,
        libvirt_version=9_000_000,
        domcaps={("s390x", plan.machine, "kvm"): caps},
    )
    config = Config(virt_type="kvm", file_backed_memory_mib=4096)
    with pytest.raises(ConfigError, match="cannot back s390x guest memory with a file") as info:
        _plan(tmp_path, host, Flavor("f", 1, 256, 1), config)
    assert info.value.field == "file_backed_memory_mib"


@pytest.mark.parametrize("bad", ["-1", "4 GiB", "1.5"])
def test_file_backed_memory_setting_is_checked(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ZCOMPUTE_FILE_BACKED_MEMORY_MIB": bad}, config_file=Path("/none"))
    assert "file_backed_memory_mib" in info.value.field


def test_file_backed_memory_setting_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "zcompute.toml"
    path.write_text("file_backed_memory_mib = 8192\n")
    assert load_config(config_file=path, environ={}).file_backed_memory_mib == 8192
