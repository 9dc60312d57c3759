"""Tap devices of the tests' own: names chosen fresh and deleted afterwards, and how the host
sees a device."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator

import pytest

TapName = Callable[[], str]


def link_of(name: str) -> dict[str, object] | None:
    """``ip -j link show dev NAME``: the device as the host sees it, or None if there is none."""
    done = subprocess.run(["ip", "-j", "link", "show", "dev", name],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return None
    (link,) = json.loads(done.stdout)
    assert isinstance(link, dict)
    return link


@pytest.fixture(name="tap_name")
def tap_name_fixture() -> Iterator[TapName]:
    """New tap names (``zct`` + 8 hex digits); whichever of them exist afterwards are deleted,
    also their names on a second host that shares this network namespace (a trailing ``_``)."""
    chosen: list[str] = []

    def make() -> str:
        chosen.append(f"zct{secrets.token_hex(4)}")
        assert link_of(chosen[-1]) is None
        return chosen[-1]

    yield make
    for name in chosen + [f"{c}_" for c in chosen]:
        if link_of(name) is not None:
            subprocess.run(["ip", "link", "delete", "dev", name], check=False)
