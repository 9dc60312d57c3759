"""Plan + builder on a real IBM Z host's capabilities: what an s390x guest gets, checked by
libvirt's schema and its test driver, without needing an s390x machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.builder import build_domain, build_domain_xml
from zcompute.config import Config
from zcompute.driver import HostView, PlanRequest, make_plan
from zcompute.driver._host import host_cpu_model
from zcompute.errors import FeatureUnsupported, InvalidInput
from zcompute.host import HostCapabilities
from zcompute.model import BlockDeviceSpec, Flavor, Image, NICSpec, new_uuid, utcnow
from zcompute.plan import ScratchDisk, scratch_disks
from zcompute.virt import validate_domain_on_libvirt
from zcompute.xml import Domain, validate_schema


@pytest.fixture
def z_host(shared_testdata: Path) -> HostView:
    """A real s390x KVM host (vdsm's dump): its capabilities carry no CPU <model>."""
    caps = HostCapabilities.from_xml(
        (shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    )
    cpu = host_cpu_model(caps, shared_testdata / "cpuinfo" / "cpuinfo-vdsm-z14-3906.txt")
    return HostView(caps=caps, host_cpu_model=cpu.model, kvm_usable=True, libvirt_version=9_000_000)


def _image(tmp_path: Path, **props: str) -> Image:
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"k")
    return Image(
        id=new_uuid(),
        name="linux",
        arch="s390x",
        disk_format=None,
        path=None,
        kernel_path=kernel,
        initrd_path=kernel,
        cmdline="root=/dev/vda console=ttyS1",
        properties=props,
        size=1,
        sha256="0" * 64,
        created_at=utcnow(),
    )


def _plan(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    host: HostView,
    config: Config | None = None,
    *,
    drive: bool = False,
    drive_target: str | None = None,
    flavor: Flavor | None = None,
    volume: str | None = "vdb",
    **props: str,
):
    extra = tmp_path / "extra.img"
    extra.write_bytes(b"\0" * 512)
    volumes = () if volume is None else (BlockDeviceSpec(extra, volume, serial="vol-1"),)
    request = PlanRequest(
        config_drive=drive,
        config_drive_target=drive_target,
        uuid=new_uuid(),
        name="web1",
        flavor=flavor or Flavor("small", 2, 2048, 10),
        image=_image(tmp_path, **props),
        instance_dir=tmp_path / "inst",
        root_disk=tmp_path / "inst" / "disk.qcow2",
        nics=(NICSpec(network="default"),),
        block_devices=volumes,
        metadata={"flavor": "small", "image": "linux", "owner": "ops"},
    )
    return make_plan(request, config or Config(virt_type="auto"), host)


def test_cpuinfo_fallback_gives_the_host_model(z_host: HostView) -> None:
    assert z_host.caps.cpu.model is None  # the blueprint's exact problem
    assert z_host.host_cpu_model == "z14"


def test_s390x_guest_on_a_z_host(tmp_path: Path, z_host: HostView) -> None:
    plan = _plan(tmp_path, z_host)
    assert plan.domain_type == "kvm"
    assert plan.machine == "s390-ccw-virtio-2.11"  # the alias, resolved to its canonical name
    dom = build_domain(plan)
    xml = dom.to_xml()
    validate_schema(xml)
    validate_domain_on_libvirt(xml)
    assert dom.cpu.mode == "host-model"
    assert not dom.features.exists  # no <acpi/>, no <apic/>
    assert {(c.type, c.target_type) for c in dom.devices.consoles} == {
        ("pty", "sclp"),
        ("file", "sclplm"),
    }
    assert [c.model for c in dom.devices.controllers if c.type == "usb"] == ["none"]
    assert dom.devices.watchdogs == []  # only on request
    assert [p.model for p in dom.devices.panics] == ["s390"]
    assert [(d.target_dev, d.target_bus) for d in dom.devices.disks] == [
        ("vda", "virtio"),
        ("vdb", "virtio"),
    ]
    assert dom.devices.disks[1].serial == "vol-1"
    assert dom.devices.interfaces[0].model == "virtio"
    # The profile's console= arguments replace the image's, so the boot log reaches the file.
    assert dom.os.cmdline is not None
    assert dom.os.cmdline.split()[:3] == ["root=/dev/vda", "console=ttysclp0", "console=ttyS0"]
    assert dom.zcompute.machine == "s390-ccw-virtio-2.11"
    assert dom.zcompute.owner == "ops"


def test_watchdog_property_gives_diag288(tmp_path: Path, z_host: HostView) -> None:
    dom = build_domain(_plan(tmp_path, z_host, hw_watchdog_action="poweroff"))
    assert [(w.model, w.action) for w in dom.devices.watchdogs] == [("diag288", "poweroff")]


def test_config_drive_is_a_read_only_raw_virtio_disk_after_the_others(
    tmp_path: Path, z_host: HostView
) -> None:
    plan = _plan(tmp_path, z_host, drive=True)
    assert plan.config_drive == "vdc"  # vda is the root disk, vdb a volume
    dom = build_domain(plan)
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())
    (drive,) = [d for d in dom.devices.disks if d.target_dev == "vdc"]
    assert (drive.device, drive.target_bus, drive.driver_type) == ("disk", "virtio", "raw")
    assert drive.readonly is True
    assert drive.source_file == str(tmp_path / "inst" / "disk.config")
    # a later plan keeps the recorded name whatever the other disks are then
    assert _plan(tmp_path, z_host, drive=True, drive_target="vdq").config_drive == "vdq"
    assert _plan(tmp_path, z_host).config_drive is None


SCRATCH = Flavor("scratch", 1, 512, 1, ephemeral_gib=1, swap_mib=64)


def test_ephemeral_and_swap_disks_follow_the_root_as_raw_disks_on_its_bus(
    tmp_path: Path, z_host: HostView
) -> None:
    plan = _plan(tmp_path, z_host, flavor=SCRATCH, volume="vdd")
    dom = build_domain(plan)
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())
    inst = tmp_path / "inst"
    assert [(d.target_dev, d.target_bus, d.driver_type, d.source_file) for d in dom.devices.disks][
        :3
    ] == [
        ("vda", "virtio", "qcow2", str(inst / "disk.qcow2")),
        ("vdb", "virtio", "raw", str(inst / "disk.eph0")),
        ("vdc", "virtio", "raw", str(inst / "disk.swap")),
    ]
    assert dom.devices.disks[3].target_dev == "vdd"  # the volume
    assert not any(d.readonly for d in dom.devices.disks[1:3])
    assert scratch_disks(SCRATCH) == (
        ScratchDisk("disk.eph0", 1 << 30, "ephemeral"),
        ScratchDisk("disk.swap", 64 << 20, "swap"),
    )


def test_swap_alone_takes_the_name_after_the_root(tmp_path: Path, z_host: HostView) -> None:
    swap_only = Flavor("swap", 1, 512, 1, swap_mib=16)
    plan = _plan(tmp_path, z_host, flavor=swap_only, volume=None)
    assert [(d.target, Path(d.source).name) for d in plan.disks] == [
        ("vda", "disk.qcow2"),
        ("vdb", "disk.swap"),
    ]


def test_config_drive_takes_the_name_after_ephemeral_and_swap_and_keeps_it(
    tmp_path: Path, z_host: HostView
) -> None:
    first = _plan(tmp_path, z_host, drive=True, flavor=SCRATCH, volume=None)
    assert first.config_drive == "vdd"
    targets = [d.target for d in first.disks]
    assert targets == ["vda", "vdb", "vdc", "vdd"]
    # every later plan (power on, reboot) records the same names for every disk
    again = _plan(tmp_path, z_host, drive=True, drive_target="vdd", flavor=SCRATCH, volume=None)
    assert [d.target for d in again.disks] == targets
    assert [(d.driver_type, d.readonly) for d in again.disks[1:]] == [
        ("raw", False),
        ("raw", False),
        ("raw", True),
    ]


def test_a_volume_under_the_ephemeral_disk_s_name_is_refused(
    tmp_path: Path, z_host: HostView
) -> None:
    with pytest.raises(InvalidInput, match="vdb names two disks") as caught:
        _plan(tmp_path, z_host, flavor=SCRATCH, volume="vdb")
    assert caught.value.field == "block_device.target"


def test_guest_agent_property_gives_a_virtio_channel(tmp_path: Path, z_host: HostView) -> None:
    dom = build_domain(_plan(tmp_path, z_host, hw_qemu_guest_agent="yes"))
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())
    assert [(c.type, c.target_type, c.target_name) for c in dom.devices.channels] == [
        ("unix", "virtio", "org.qemu.guest_agent.0")
    ]
    assert build_domain(_plan(tmp_path, z_host, hw_qemu_guest_agent="no")).devices.channels == []
    with pytest.raises(InvalidInput, match="hw_qemu_guest_agent"):
        _plan(tmp_path, z_host, hw_qemu_guest_agent="maybe")


def test_serial_console_form(tmp_path: Path, z_host: HostView) -> None:
    dom = build_domain(_plan(tmp_path, z_host, Config(console_form="serial")))
    assert dom.devices.consoles == []
    assert {(s.type, s.target_type, s.target_model) for s in dom.devices.serials} == {
        ("pty", "sclp-serial", "sclpconsole"),
        ("file", "sclp-serial", "sclplmconsole"),
    }
    validate_schema(dom)


def test_plan_is_deterministic(tmp_path: Path, z_host: HostView) -> None:
    plan = _plan(tmp_path, z_host)
    assert build_domain_xml(plan) == build_domain_xml(plan)
    assert Domain.from_xml(build_domain_xml(plan)).to_xml() == build_domain_xml(plan)


def test_bad_disk_bus_names_the_allowed_ones(tmp_path: Path, z_host: HostView) -> None:
    with pytest.raises(InvalidInput, match=r"hw_disk_bus: 'ide' .*allowed: virtio, scsi"):
        _plan(tmp_path, z_host, hw_disk_bus="ide")


def test_tcg_when_configured(tmp_path: Path, z_host: HostView) -> None:
    plan = _plan(tmp_path, z_host, Config(virt_type="qemu"))
    assert plan.domain_type == "qemu"
    assert plan.cpu.mode != "host-model"  # TCG cannot honour host-model


def test_graphics_are_refused_on_s390x(z_host: HostView) -> None:
    from zcompute.arch import get_profile

    with pytest.raises(FeatureUnsupported, match="VNC console is not supported on s390x"):
        get_profile("s390x").graphics("vnc")


def test_a_tap_nic_is_an_ethernet_interface_on_a_device_zcompute_made(
    tmp_path: Path, z_host: HostView
) -> None:
    """Nova's tap VIFs: libvirt uses the device as it is (managed='no'), with the MTU given."""
    request = PlanRequest(
        uuid=new_uuid(),
        name="tapped",
        flavor=Flavor("small", 1, 1024, 0),
        image=_image(tmp_path),
        instance_dir=tmp_path / "inst",
        root_disk=None,
        nics=(
            NICSpec(tap="tap3f2a9c1e-7b", mac="52:54:00:00:02:01", mtu=1400),
            NICSpec(bridge="br0", mac="52:54:00:00:02:02", mtu=9000),
            NICSpec(network="default", mac="52:54:00:00:02:03"),
        ),
    )
    plan = make_plan(request, Config(virt_type="auto"), z_host)
    assert [(n.tap, n.mtu) for n in plan.nics] == [
        ("tap3f2a9c1e-7b", 1400),
        (None, 9000),
        (None, None),
    ]
    dom = build_domain(plan)
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())
    tap, bridge, network = dom.devices.interfaces
    assert tap.to_xml() == (
        '<interface type="ethernet">\n'
        '  <mac address="52:54:00:00:02:01"/>\n'
        '  <target dev="tap3f2a9c1e-7b" managed="no"/>\n'
        '  <model type="virtio"/>\n'  # the s390x profile's model
        '  <mtu size="1400"/>\n'
        "</interface>\n"
    )
    assert (bridge.type, bridge.source_bridge, bridge.mtu) == ("bridge", "br0", 9000)
    assert (network.type, network.mtu, network.target_dev) == ("network", None, None)
