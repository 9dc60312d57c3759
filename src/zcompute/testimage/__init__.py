"""Test guest images: a Debian kernel plus a busybox initramfs per architecture, and Debian 12
cloud guests (systemd, cloud-init, sshd, the QEMU guest agent) built from Debian's packages.

The guest's ``/init`` prints ``ZCOMPUTE-GUEST-READY arch=... kernel=... cpu=...`` on the log
console, then its block devices and NICs, then powers off (``zcompute.mode=poweroff``) or keeps a
shell on the interactive console named by ``zcompute.tty=``.
"""

from __future__ import annotations

from zcompute.testimage._build import TestImage, build_test_image
from zcompute.testimage._debian import DISTRO, MILESTONES, CloudImage, build_cloud_image
from zcompute.testimage._import import import_cloud_image, import_test_image, test_image_name
from zcompute.testimage._timeline import BootTimeline

BANNER = "ZCOMPUTE-GUEST-READY"
DEVICES_END = "ZCOMPUTE-DEVICES-END"

__all__ = [
    "BANNER",
    "DEVICES_END",
    "DISTRO",
    "MILESTONES",
    "BootTimeline",
    "CloudImage",
    "TestImage",
    "build_cloud_image",
    "build_test_image",
    "import_cloud_image",
    "import_test_image",
    "test_image_name",
]
