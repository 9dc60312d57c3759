"""Rows an older zcompute wrote that today's rules refuse: listed as unusable, deletable.

The rows are written with sqlite3 directly, as an older version (or a hand edit) left them:
flavors whose extra specs are refused today, images of architectures that have no profile
any more (``armv7l``, ``i686``), and records that do not even parse.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from zcompute.arch import ARCHES
from zcompute.errors import InvalidInput, NotFound
from zcompute.model import Flavor, Image, Instance, UnusableRecord, new_uuid
from zcompute.properties import IMAGE_PROPERTIES, WATCHDOG_PROPERTY
from zcompute.state import StateDB

WATCHDOG_ALLOWED = ", ".join(IMAGE_PROPERTIES[WATCHDOG_PROPERTY].allowed)
ARCH_ALLOWED = ", ".join(ARCHES)


def _write(db_path: Path, sql: str, *params: object) -> None:
    """Write a row behind StateDB's back, as an older zcompute did."""
    with sqlite3.connect(db_path) as conn:
        conn.execute(sql, params)
    conn.close()


def add_legacy_flavor(db_path: Path, name: str, extra_specs: str) -> None:
    _write(
        db_path,
        "INSERT INTO flavors (name, vcpus, memory_mib, root_gib, extra_specs)"
        " VALUES (?, 2, 1024, 10, ?)",
        name,
        extra_specs,
    )


def add_legacy_image(db_path: Path, name: str, arch: str, created_at: str = "") -> str:
    image_id = new_uuid()
    _write(
        db_path,
        "INSERT INTO images (id, name, arch, disk_format, path, properties, size, sha256,"
        " created_at) VALUES (?, ?, ?, 'qcow2', ?, '{}', 4096, ?, ?)",
        image_id,
        name,
        arch,
        f"/var/lib/zcompute/images/{image_id}/disk",
        "0" * 64,
        created_at or "2024-05-01T12:00:00+00:00",
    )
    return image_id


def _unusable(
    records: list[Flavor | UnusableRecord] | list[Image | UnusableRecord],
) -> dict[str, str]:
    """name -> reason of the unusable records."""
    return {r.name: r.reason for r in records if isinstance(r, UnusableRecord)}


def test_a_refused_flavor_is_listed_as_unusable_next_to_the_others(
    db: StateDB, db_path: Path
) -> None:
    add_legacy_flavor(db_path, "old-watchdog", json.dumps({WATCHDOG_PROPERTY: "bogus"}))
    add_legacy_flavor(db_path, "old-key", json.dumps({"hw spaced": "1"}))
    add_legacy_flavor(db_path, "torn", "{not json")
    db.add_flavor(Flavor("fine", 1, 256, 0, {"hw:cpu_mode": "host-model"}))
    flavors = db.list_flavors()
    # one list in the usual order, each row a Flavor or what is wrong with it
    assert [(f.name, isinstance(f, Flavor)) for f in flavors] == [
        ("fine", True),
        ("tiny", True),
        ("small", True),
        ("old-key", False),
        ("old-watchdog", False),
        ("torn", False),
        ("medium", True),
    ]
    reasons = _unusable(flavors)
    assert reasons.pop("torn").startswith("flavor: the record cannot be read: Expecting property")
    assert reasons == {
        "old-watchdog": f"{WATCHDOG_PROPERTY}: unknown value 'bogus' (allowed: {WATCHDOG_ALLOWED})",
        "old-key": "flavor.extra_specs key: invalid key 'hw spaced' "
        "(allowed: 1-255 characters from A-Z a-z 0-9 _ : . -)",
    }
    (old,) = [f for f in flavors if isinstance(f, UnusableRecord) and f.name == "old-watchdog"]
    assert (old.kind, old.id) == ("flavor", "old-watchdog")
    assert old.recorded["vcpus"] == 2  # the columns as stored, for display


def test_using_a_refused_flavor_names_the_field_the_record_and_the_allowed_values(
    db: StateDB, db_path: Path
) -> None:
    add_legacy_flavor(db_path, "old-watchdog", json.dumps({WATCHDOG_PROPERTY: "bogus"}))
    with pytest.raises(InvalidInput) as caught:
        db.get_flavor("old-watchdog")
    assert str(caught.value) == (
        f"{WATCHDOG_PROPERTY}: unknown value 'bogus' in the recorded flavor old-watchdog "
        f"(allowed: {WATCHDOG_ALLOWED})"
    )
    assert caught.value.field == WATCHDOG_PROPERTY
    assert "\n" not in str(caught.value)


def test_a_refused_flavor_is_deleted_like_any_other(db: StateDB, db_path: Path) -> None:
    add_legacy_flavor(db_path, "old-watchdog", json.dumps({WATCHDOG_PROPERTY: "bogus"}))
    db.delete_flavor("old-watchdog")
    assert _unusable(db.list_flavors()) == {}
    with pytest.raises(NotFound):
        db.get_flavor("old-watchdog")


@pytest.mark.parametrize("arch", ["armv7l", "i686"])
def test_an_image_of_an_arch_without_a_profile_is_listed_and_deleted_but_not_used(
    db: StateDB, db_path: Path, image: Image, arch: str
) -> None:
    old_id = add_legacy_image(db_path, f"old-{arch}", arch)
    images = db.list_images()
    assert [i.name for i in images if isinstance(i, Image)] == [image.name]
    assert _unusable(images) == {
        f"old-{arch}": f"image.arch: unknown value '{arch}' (allowed: {ARCH_ALLOWED})"
    }
    expected = (
        f"image.arch: unknown value '{arch}' in the recorded image old-{arch} "
        f"(allowed: {ARCH_ALLOWED})"
    )
    for lookup in (lambda: db.find_image(f"old-{arch}"), lambda: db.get_image(old_id)):
        with pytest.raises(InvalidInput) as caught:
            lookup()
        assert str(caught.value) == expected
    record = db.find_image_record(old_id.upper())  # by id as well as by name
    assert isinstance(record, UnusableRecord)
    assert (record.kind, record.id, record.name) == ("image", old_id, f"old-{arch}")
    db.delete_image(record.id)
    assert db.list_images() == [image]


def test_an_image_row_that_does_not_parse_is_unusable_too(db: StateDB, db_path: Path) -> None:
    add_legacy_image(db_path, "torn", "x86_64", created_at="last tuesday")
    (record,) = db.list_images()
    assert isinstance(record, UnusableRecord)
    assert record.reason.startswith("image: the record cannot be read: Invalid isoformat string")


def test_instances_load_while_a_refused_image_and_flavor_are_recorded(
    db: StateDB, db_path: Path, new_instance: Callable[..., Instance]
) -> None:
    add_legacy_image(db_path, "old-arm", "armv7l")
    add_legacy_flavor(db_path, "old-watchdog", json.dumps({WATCHDOG_PROPERTY: "bogus"}))
    db.add_instance(new_instance("vm-1"))
    assert [i.name for i in db.list_instances()] == ["vm-1"]
