"""The cached instance index follows writes from this connection and from other ones."""

from __future__ import annotations

from pathlib import Path

from zcompute.model import Flavor, Image, Instance, new_uuid, utcnow
from zcompute.state import StateDB


def _instance(db: StateDB, name: str) -> Instance:
    image = (
        db.find_image("img")
        if db.list_images()
        else db.add_image(
            Image(
                id=new_uuid(),
                name="img",
                arch="s390x",
                disk_format=None,
                path=None,
                kernel_path=Path("/k"),
                initrd_path=None,
                cmdline=None,
                properties={},
                size=1,
                sha256="0" * 64,
                created_at=utcnow(),
            )
        )
    )
    return Instance(
        uuid=new_uuid(), name=name, flavor=Flavor("f", 2, 512, 1), image=image, arch="s390x"
    )


def test_index_sees_own_and_foreign_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    mine, other = StateDB(path), StateDB(path)
    first = mine.add_instance(_instance(mine, "a"))
    assert [(s.name, s.vcpus, s.memory_mib) for s in mine.instance_index()] == [("a", 2, 512)]
    assert mine.instance_index() is mine.instance_index()  # cached while nothing changed
    other.add_instance(_instance(other, "b"))  # another connection commits
    assert [s.name for s in mine.instance_index()] == ["a", "b"]
    mine.delete_instance(first.uuid)  # this connection writes
    assert [s.name for s in mine.instance_index()] == ["b"]
