"""A built test image in an image store, under its conventional name."""

from __future__ import annotations

from zcompute.errors import NotFound
from zcompute.images import ImageStore
from zcompute.model import Image
from zcompute.properties import TESTIMAGE_KEY_PROPERTY as KEY_PROPERTY
from zcompute.testimage._build import TestImage


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
