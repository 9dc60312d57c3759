"""adopt: a migrating guest's image, copied from the source host's store into this one.

Two hosts that each made a copy of one Glance image have it under one name with different ids;
a guest migrating between them uses the copy the destination has (found by zcompute's cloud:
a second guest of that image live-migrating to a host that had fetched the image itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.errors import Conflict
from zcompute.images import ImageStore
from zcompute.model import Image
from zcompute.state import StateDB


@pytest.fixture
def other(tmp_path: Path) -> Iterator[ImageStore]:
    """A second host's store."""
    with StateDB(tmp_path / "other" / "state.sqlite3") as db:
        yield ImageStore(tmp_path / "other", db)


def _kernel(store: ImageStore, work: Path, content: bytes) -> Image:
    kernel, initrd = work / "vmlinuz", work / "initrd"
    kernel.write_bytes(content)
    initrd.write_bytes(b"i" * 4096)
    return store.import_kernel("glance-img", kernel, initrd, "console=ttysclp0", "s390x")


def test_adopt_copies_an_image_this_store_lacks(
    store: ImageStore, other: ImageStore, work: Path
) -> None:
    source = _kernel(other, work, b"k" * 4096)
    copy = store.adopt(source)
    assert copy.id == source.id
    assert copy.kernel_path is not None
    assert copy.kernel_path.is_relative_to(store.root)
    assert store.adopt(source) == copy


def test_adopt_uses_this_stores_own_copy_of_the_same_image(
    store: ImageStore, other: ImageStore, work: Path
) -> None:
    mine = _kernel(store, work, b"k" * 4096)
    theirs = _kernel(other, work, b"k" * 4096)
    assert mine.id != theirs.id
    assert store.adopt(theirs) == mine
    assert len(store.list()) == 1


def test_adopt_refuses_another_image_under_the_same_name(
    store: ImageStore, other: ImageStore, work: Path
) -> None:
    _kernel(store, work, b"k" * 4096)
    theirs = _kernel(other, work, b"x" * 4096)
    with pytest.raises(Conflict):
        store.adopt(theirs)
