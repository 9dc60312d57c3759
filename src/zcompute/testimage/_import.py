"""A built test image in an image store, under its conventional name."""

from __future__ import annotations

import contextlib

from zcompute.errors import NotFound
from zcompute.images import ImageStore
from zcompute.model import Image
from zcompute.properties import GUEST_AGENT_PROPERTY, KERNEL_ID_PROPERTY
from zcompute.properties import TESTIMAGE_KEY_PROPERTY as KEY_PROPERTY
from zcompute.testimage._build import TestImage
from zcompute.testimage._debian import ROOT_CMDLINE, CloudImage


def test_image_name(arch: str) -> str:
    """``s390x-test``: the name a test image of ``arch`` has in an image store."""
    return f"{arch}-test"


def import_test_image(store: ImageStore, image: TestImage) -> Image:
    """The test image in ``store`` (imported once; reused while its build is current)."""
    name = test_image_name(image.arch)
    try:
        existing = store.get(name)
        if existing.properties.get(KEY_PROPERTY) == image.key:
            return existing
        store.delete(name)
    except NotFound:
        pass
    return store.import_kernel(
        name, image.kernel, image.initrd, "zcompute.mode=shell", image.arch,
        {KEY_PROPERTY: image.key},
    )  # fmt: skip


def import_cloud_image(store: ImageStore, image: CloudImage) -> Image:
    """The cloud image in ``store`` as a disk image plus the kernel-boot image it boots with.

    ``debian12-s390x`` (the qcow2 root disk, ``kernel_id`` naming ``debian12-s390x-kernel``,
    the QEMU guest agent asked for) is imported once and reused while its build is current.
    """
    kernel_name = f"{image.name}-kernel"
    try:
        existing = store.get(image.name)
        if existing.properties.get(KEY_PROPERTY) == image.key:
            return existing
        store.delete(image.name)
    except NotFound:
        pass
    with contextlib.suppress(NotFound):  # an older build's, or a half-done import's
        store.delete(kernel_name)
    kernel = store.import_kernel(
        kernel_name, image.kernel, image.initrd, ROOT_CMDLINE, image.arch,
        {KEY_PROPERTY: image.key},
    )  # fmt: skip
    properties = {
        KERNEL_ID_PROPERTY: kernel.id,
        GUEST_AGENT_PROPERTY: "yes",
        KEY_PROPERTY: image.key,
    }
    return store.import_file(image.name, image.disk, arch=image.arch, properties=properties)
