"""Fixtures for the state database tests: a real SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zcompute.model import Image, Instance, new_uuid
from zcompute.state import StateDB

from .state_support import FLAVOR, make_image


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "zcompute.sqlite3"


@pytest.fixture
def db(db_path: Path) -> Iterator[StateDB]:
    with StateDB(db_path) as state:
        yield state


@pytest.fixture
def image(db: StateDB) -> Image:
    return db.add_image(make_image())


@pytest.fixture
def new_instance(image: Image) -> Callable[..., Instance]:
    def build(name: str, **changes: object) -> Instance:
        fields: dict[str, object] = {
            "uuid": new_uuid(),
            "name": name,
            "flavor": FLAVOR,
            "image": image,
            "arch": "s390x",
            "machine_type": "s390-ccw-virtio-7.2",
            "domain_type": "qemu",
            "metadata": {"owner": "ops"},
        }
        fields.update(changes)
        return Instance(**fields)  # type: ignore[arg-type]

    return build
