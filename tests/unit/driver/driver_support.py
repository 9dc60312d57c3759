"""Shared values of the driver unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zcompute.host import HostCapabilities
from zcompute.model import Flavor, Image, Instance, new_uuid, utcnow

FLAVOR = Flavor("unit-tiny", 1, 64, 1)

#: What this host's libvirt reports for the two architectures the driver's tests boot.
HOST_CAPS = HostCapabilities.from_xml(
    "<capabilities><host><cpu><arch>x86_64</arch></cpu></host>"
    "<guest><os_type>hvm</os_type><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64"
    "</emulator><machine canonical='pc-i440fx-7.2'>pc</machine><machine>pc-i440fx-7.2</machine>"
    "<domain type='qemu'/></arch></guest>"
    "<guest><os_type>hvm</os_type><arch name='s390x'><emulator>/usr/bin/qemu-system-s390x"
    "</emulator><machine canonical='s390-ccw-virtio-7.2'>s390-ccw-virtio</machine>"
    "<machine>s390-ccw-virtio-7.2</machine><domain type='qemu'/></arch></guest>"
    "</capabilities>"
)

#: ``recorded(state=RUNNING, start=True)``: a test-driver guest with its instance record.
Recorder = Callable[..., Instance]


def kernel_boot_image(arch: str, **props: str) -> Image:
    """A kernel-boot image record (its files are never read: for plans only)."""
    return Image(
        id=new_uuid(),
        name=f"{arch}-kernel",
        arch=arch,
        disk_format=None,
        path=None,
        kernel_path=Path("/var/lib/zcompute/images/k/kernel"),
        initrd_path=Path("/var/lib/zcompute/images/k/initrd"),
        cmdline="zcompute.mode=shell",
        properties=props,
        size=1,
        sha256="0" * 64,
        created_at=utcnow(),
    )
