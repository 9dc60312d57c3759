"""Guest plans for part 2: the watchdog per architecture, and disks made from kernel-boot guests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from zcompute.builder import build_domain_xml
from zcompute.config import Config
from zcompute.driver import HostView, PlanRequest, make_plan
from zcompute.errors import InvalidInput
from zcompute.model import Flavor, Image, new_uuid, utcnow
from zcompute.xml import Domain, validate_schema

from .driver_support import HOST_CAPS, kernel_boot_image

HOST = HostView(caps=HOST_CAPS, host_cpu_model=None, kvm_usable=False, libvirt_version=9_000_000)
CONFIG = Config(virt_type="qemu", data_dir=Path("/var/lib/zcompute"))
WATCHDOG = {"s390x": "diag288", "x86_64": "i6300esb"}


def _plan(image: Image, extra_specs: Mapping[str, str] | None = None, **kwargs: object) -> Domain:
    uuid = new_uuid()
    request = PlanRequest(
        uuid=uuid,
        name="guest",
        flavor=Flavor("f", 1, 256, 1, extra_specs or {}),
        image=image,
        instance_dir=Path("/var/lib/zcompute/instances") / uuid,
        root_disk=Path("/var/lib/zcompute/instances") / uuid / "disk.qcow2",
        **kwargs,  # type: ignore[arg-type]
    )
    dom = Domain.from_xml(build_domain_xml(make_plan(request, CONFIG, HOST)))
    validate_schema(dom)  # libvirt's own RelaxNG schema accepts it
    return dom


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
@pytest.mark.parametrize("action", ["reset", "poweroff", "pause", "none"])
def test_a_flavor_enables_the_architectures_watchdog(arch: str, action: str) -> None:
    dom = _plan(kernel_boot_image(arch), {"hw_watchdog_action": action})
    assert [(w.model, w.action) for w in dom.devices.watchdogs] == [(WATCHDOG[arch], action)]


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_an_image_property_enables_it_and_disabled_means_none(arch: str) -> None:
    dom = _plan(kernel_boot_image(arch, hw_watchdog_action="reset"))
    assert [w.model for w in dom.devices.watchdogs] == [WATCHDOG[arch]]
    # the flavor wins over the image, as in Nova
    off = _plan(
        kernel_boot_image(arch, hw_watchdog_action="reset"), {"hw_watchdog_action": "disabled"}
    )
    assert off.devices.watchdogs == []
    assert _plan(kernel_boot_image(arch)).devices.watchdogs == []


def test_an_unknown_watchdog_action_names_the_allowed_ones() -> None:
    # refused as soon as the flavor is made: no flavor exists that no boot could use
    with pytest.raises(InvalidInput, match=r"unknown value 'explode'.*disabled, reset.*inject-nmi"):
        _plan(kernel_boot_image("s390x"), {"hw_watchdog_action": "explode"})


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_a_disk_made_from_a_kernel_boot_guest_boots_with_that_kernel(arch: str) -> None:
    kernel = kernel_boot_image(arch)
    disk = Image(
        id=new_uuid(),
        name="snap",
        arch=arch,
        disk_format="qcow2",
        path=Path("/var/lib/zcompute/images/s/disk"),
        kernel_path=None,
        initrd_path=None,
        cmdline=None,
        properties={"kernel_id": kernel.id},
        size=1,
        sha256="0" * 64,
        created_at=utcnow(),
        virtual_size=1 << 30,
    )
    dom = _plan(disk, boot_image=kernel)
    # the instance's own copies of that kernel and initrd (test_security_files.py)
    assert dom.os.kernel is not None
    assert dom.os.initrd is not None
    assert Path(dom.os.kernel).parent.parent == Path("/var/lib/zcompute/instances")
    assert (Path(dom.os.kernel).name, Path(dom.os.initrd).name) == ("kernel", "initrd")
    assert dom.os.cmdline is not None
    assert dom.os.cmdline.startswith("zcompute.mode=shell ")
    assert "zcompute.tty=" in dom.os.cmdline
    assert [d.boot_order for d in dom.devices.disks] == [1]  # the snapshot is the root disk
    assert _plan(disk).os.kernel is None  # without its kernel it would boot from the disk


def test_a_pinned_machine_type_is_kept() -> None:
    dom = _plan(kernel_boot_image("s390x"), machine_type="s390-ccw-virtio-7.2")
    assert dom.os.machine == "s390-ccw-virtio-7.2"


def test_an_overlay_names_its_shared_base_which_libvirt_must_not_relabel() -> None:
    base = Image(
        id=new_uuid(),
        name="base",
        arch="s390x",
        disk_format="raw",
        path=Path("/var/lib/zcompute/images/b/disk"),
        kernel_path=None,
        initrd_path=None,
        cmdline=None,
        properties={},
        size=1,
        sha256="0" * 64,
        created_at=utcnow(),
        virtual_size=1 << 30,
    )
    (root,) = _plan(base).devices.disks  # valid for libvirt's schema (_plan checks it)
    layer = root.backing_store
    assert layer is not None
    assert (layer.type, layer.format, layer.source_file) == ("file", "raw", str(base.path))
    assert layer.dac_relabel is False
    kernel_boot = _plan(kernel_boot_image("s390x"))  # its blank root disk has no base
    assert [d.backing_store for d in kernel_boot.devices.disks] == [None]
