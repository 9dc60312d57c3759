"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    """The project's shared real-world test data, read in place (never copied)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.skip(
            f"shared test data not present at {SHARED_TESTDATA} (checkout without ../shared)"
        )
    return SHARED_TESTDATA
