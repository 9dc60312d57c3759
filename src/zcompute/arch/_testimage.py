"""Where an architecture's test guest comes from: Debian packages, kernel modules, boot form.

zcompute's test guest (:mod:`zcompute.testimage`) is a Debian kernel plus a busybox initramfs.
Which Debian architecture and kernel package, which modules the initramfs loads and how the
kernel is best booted are facts about the architecture, so each profile holds its recipe
(``ArchProfile.test_image``); :mod:`zcompute.testimage` builds from it and knows no
architecture. A profile without a recipe has no test guest (its guests are never booted here).
"""

from __future__ import annotations

import dataclasses

__all__ = ["VIRTIO_GUEST_MODULES", "TestImageRecipe"]

#: Modules every test guest loads: virtio disks, NICs, SCSI (disks and CD-ROMs), the balloon.
VIRTIO_GUEST_MODULES = (
    "virtio_blk",
    "virtio_net",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "virtio_balloon",
)


@dataclasses.dataclass(frozen=True)
class TestImageRecipe:
    """One architecture's test image: Debian package names and the initramfs's modules.

    ``modules`` are loaded in this order (dependencies first, built-in ones skipped); the tuple
    is part of the image's content key, so reordering it builds a new image.
    """

    __test__ = False  # not a pytest test class, despite the name

    debian_arch: str
    kernel_package: str
    modules: tuple[str, ...]
    # An LZ4-compressed bzImage whose uncompressed ELF vmlinux QEMU boots through its PVH entry
    # point, in about half the time under TCG; extracted at build time when True.
    lz4_vmlinux: bool = False
    # A Debian cloud guest (systemd, cloud-init) is built for this arch with the same kernel
    # package and modules: True where it has been booted (zcompute.testimage's Debian builder).
    cloud_image: bool = False
