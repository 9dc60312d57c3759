"""Fixtures for the image store tests: a real store and database under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.images import ImageStore
from zcompute.state import StateDB


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    with StateDB(tmp_path / "data" / "state.sqlite3") as state:
        yield state


@pytest.fixture
def store(tmp_path: Path, db: StateDB) -> ImageStore:
    return ImageStore(tmp_path / "data", db)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory for the source files the tests import (outside the store)."""
    path = tmp_path / "work"
    path.mkdir()
    return path
