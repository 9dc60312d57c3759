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


NOVA_TESTS = REPO / "tests" / "e2e" / "nova"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Nova's harness tests run in a pytest process of their own (``make nova``; ``make test``
    runs them): Nova forbids eventlet, which other tests' os-brick imports. A run that names
    them (``pytest tests/e2e/nova``) collects them; any other leaves them out."""
    if collection_path == NOVA_TESTS:
        named = any(
            Path(arg.split("::")[0]).resolve().is_relative_to(NOVA_TESTS) for arg in config.args
        )
        return not named
    return None
