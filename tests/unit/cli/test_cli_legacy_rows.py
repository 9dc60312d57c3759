"""Flavors and images an older zcompute recorded that today's rules refuse, from the shell.

``flavor list`` / ``image list`` show them after the usable ones, with what is wrong;
``flavor delete`` / ``image delete`` remove them (an image's files too, which nothing else
touches meanwhile); any use of them fails with one line naming the field, the recorded value,
the record and the allowed values. The rows are written into the state database with sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.unit.cli.cli_support import GuestFactory, Zc

from zcompute.arch import ARCHES
from zcompute.model import new_uuid
from zcompute.properties import IMAGE_PROPERTIES, WATCHDOG_PROPERTY
from zcompute.state import StateDB

WATCHDOG_ALLOWED = ", ".join(IMAGE_PROPERTIES[WATCHDOG_PROPERTY].allowed)
FLAVOR_ERROR = (
    f"zcompute: error: {WATCHDOG_PROPERTY}: unknown value 'bogus' in the recorded flavor "
    f"old-wd (allowed: {WATCHDOG_ALLOWED})\n"
)
IMAGE_ERROR = (
    "zcompute: error: image.arch: unknown value 'armv7l' in the recorded image old-arm "
    f"(allowed: {', '.join(ARCHES)})\n"
)


def _db(zc: Zc) -> Path:
    path = zc.data_dir / "state.db"
    StateDB(path).close()  # created and migrated as zcompute does
    return path


@pytest.fixture
def old_flavor(zc: Zc) -> str:
    """A flavor with an extra spec value that no boot can use (accepted by an older zcompute)."""
    with sqlite3.connect(_db(zc)) as conn:
        conn.execute(
            "INSERT INTO flavors (name, vcpus, memory_mib, root_gib, extra_specs)"
            " VALUES ('old-wd', 2, 1024, 10, ?)",
            (json.dumps({WATCHDOG_PROPERTY: "bogus", "hw:cpu_mode": "host-model"}),),
        )
    conn.close()
    return "old-wd"


@pytest.fixture
def old_image(zc: Zc) -> str:
    """An armv7l image (an architecture without a profile now) with its file in the store."""
    image_id = new_uuid()
    disk = zc.data_dir / "images" / image_id / "disk"
    disk.parent.mkdir(parents=True)
    disk.write_bytes(b"QFI\xfb")
    with sqlite3.connect(_db(zc)) as conn:
        conn.execute(
            "INSERT INTO images (id, name, arch, disk_format, path, properties, size, sha256,"
            " created_at) VALUES (?, 'old-arm', 'armv7l', 'qcow2', ?, '{}', 4, ?,"
            " '2024-05-01T12:00:00+00:00')",
            (image_id, str(disk), "0" * 64),
        )
    conn.close()
    return image_id


def test_flavor_list_shows_a_refused_flavor_after_the_others_with_the_reason(
    zc: Zc, old_flavor: str
) -> None:
    listed = zc("flavor", "list")
    assert (listed.code, listed.err) == (0, "")
    usable, unusable = listed.out.split("Unusable flavors")
    assert all(name in usable for name in ("tiny", "small", "medium"))
    assert old_flavor not in usable
    assert "(recorded under older rules: delete them, or create them anew)" in unusable
    flat = " ".join(unusable.split())  # rich folds long cells over lines
    assert f"old-wd │ {WATCHDOG_PROPERTY}: unknown value 'bogus' (allowed:" in flat
    as_json = {f["name"]: f for f in json.loads(zc("flavor", "list", "--json").out)}
    assert as_json["tiny"]["vcpus"] == 1
    assert as_json["old-wd"]["unusable"] == (
        f"{WATCHDOG_PROPERTY}: unknown value 'bogus' (allowed: {WATCHDOG_ALLOWED})"
    )
    assert as_json["old-wd"]["recorded"]["memory_mib"] == 1024


def test_a_refused_flavor_cannot_be_shown_or_booted_and_is_deleted(
    zc: Zc, old_flavor: str, make_guest: GuestFactory
) -> None:
    make_guest()  # the kernel image kimg, and a guest that must stay alone
    shown = zc("flavor", "show", old_flavor)
    assert (shown.code, shown.out, shown.err) == (1, "", FLAVOR_ERROR)
    boot = zc("boot", "new", "--image", "kimg", "--flavor", old_flavor)
    assert (boot.code, boot.err) == (1, FLAVOR_ERROR)
    assert [g["name"] for g in json.loads(zc("list", "--json").out) if g["name"] == "new"] == []
    deleted = zc("flavor", "delete", old_flavor)
    assert (deleted.code, deleted.out, deleted.err) == (0, "deleted flavor old-wd\n", "")
    assert "Unusable" not in zc("flavor", "list").out


def test_image_list_shows_an_image_of_an_arch_without_a_profile_and_keeps_its_files(
    zc: Zc, old_image: str, make_guest: GuestFactory
) -> None:
    make_guest()  # imports kimg
    listed = zc("image", "list")
    assert (listed.code, listed.err) == (0, "")  # no command trips over it (leftover sweep)
    usable, unusable = listed.out.split("Unusable images")
    assert "kimg" in usable
    assert "old-arm" not in usable
    flat = " ".join(unusable.split())
    assert f"old-arm │ {old_image} │ image.arch: unknown value 'armv7l' (allowed:" in flat
    as_json = {i["name"]: i for i in json.loads(zc("image", "list", "--json").out)}
    assert as_json["old-arm"]["id"] == old_image
    assert as_json["old-arm"]["unusable"] == (
        f"image.arch: unknown value 'armv7l' (allowed: {', '.join(ARCHES)})"
    )
    assert as_json["old-arm"]["recorded"]["arch"] == "armv7l"
    assert as_json["kimg"]["kind"] == "kernel"
    # its files are not a leftover for the sweep every command runs
    assert (zc.data_dir / "images" / old_image / "disk").is_file()


def test_a_refused_image_cannot_be_shown_or_booted_and_is_deleted_with_its_files(
    zc: Zc, old_image: str
) -> None:
    shown = zc("image", "show", "old-arm")
    assert (shown.code, shown.out, shown.err) == (1, "", IMAGE_ERROR)
    boot = zc("boot", "new", "--image", "old-arm", "--flavor", "tiny")
    assert (boot.code, boot.err) == (1, IMAGE_ERROR)
    deleted = zc("image", "delete", old_image)  # by id (by name works too)
    assert (deleted.code, deleted.out, deleted.err) == (
        0,
        f"deleted image old-arm ({old_image})\n",
        "",
    )
    assert not (zc.data_dir / "images" / old_image).exists()
    assert "Unusable" not in zc("image", "list").out
