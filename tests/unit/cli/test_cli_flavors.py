"""``zcompute flavor create|list|show|delete``: built-in defaults, own flavors, errors."""

from __future__ import annotations

import json

from tests.unit.cli.cli_support import Zc


def _names(zc: Zc) -> list[str]:
    return [f["name"] for f in json.loads(zc("flavor", "list", "--json").out)]


def test_built_in_flavors_exist_in_a_fresh_data_directory(zc: Zc) -> None:
    flavors = json.loads(zc("flavor", "list", "--json").out)
    assert {f["name"]: (f["vcpus"], f["memory_mib"], f["root_gib"]) for f in flavors} == {
        "tiny": (1, 512, 1),
        "small": (1, 2048, 20),
        "medium": (2, 4096, 40),
    }
    table = zc("flavor", "list").out
    assert "tiny" in table
    assert "medium" in table


def test_create_show_and_delete(zc: Zc) -> None:
    created = zc(
        "flavor",
        "create",
        "wd",
        "--vcpus",
        "2",
        "--memory",
        "256",
        "--disk",
        "0",
        "--property",
        "hw_watchdog_action=reset",
    )
    assert created.code == 0, created
    assert created.out == "created flavor wd: 2 vCPU, 256 MiB, image-sized root disk\n"
    assert json.loads(zc("flavor", "show", "wd", "--json").out) == {
        "name": "wd",
        "vcpus": 2,
        "memory_mib": 256,
        "root_gib": 0,
        "ephemeral_gib": 0,
        "swap_mib": 0,
        "extra_specs": {"hw_watchdog_action": "reset"},
    }
    assert "hw_watchdog_action=reset" in zc("flavor", "show", "wd").out
    assert "wd" in _names(zc)
    deleted = zc("flavor", "delete", "wd")
    assert deleted.code == 0
    assert "wd" not in _names(zc)


def test_ephemeral_and_swap_disks_are_created_listed_and_shown(zc: Zc) -> None:
    argv = ("flavor", "create", "scratch", "--vcpus", "1", "--memory", "256", "--disk", "2")
    created = zc(*argv, "--ephemeral", "1", "--swap", "64")
    assert created.code == 0, created
    expected = "scratch: 1 vCPU, 256 MiB, 2 GiB root disk, 1 GiB ephemeral disk, 64 MiB swap"
    assert created.out == f"created flavor {expected}\n"
    shown = json.loads(zc("flavor", "show", "scratch", "--json").out)
    assert (shown["ephemeral_gib"], shown["swap_mib"]) == (1, 64)
    assert zc("flavor", "show", "scratch").out.startswith(expected)
    listed = {f["name"]: f for f in json.loads(zc("flavor", "list", "--json").out)}
    assert (listed["scratch"]["ephemeral_gib"], listed["scratch"]["swap_mib"]) == (1, 64)
    assert (listed["tiny"]["ephemeral_gib"], listed["tiny"]["swap_mib"]) == (0, 0)
    table = zc("flavor", "list").out
    assert "ephemeral GiB" in table
    assert "swap MiB" in table
    too_big = zc("flavor", "create", "big", "--vcpus", "1", "--memory", "64", "--swap", "-1")
    assert too_big.code == 1
    assert "flavor.swap_mib: invalid value -1" in too_big.err
    eph = zc("flavor", "create", "big", "--vcpus", "1", "--memory", "64", "--ephemeral", "99999")
    assert eph.code == 1
    assert "flavor.ephemeral_gib: invalid value 99999 (allowed: an integer from 0 to 65536)" in (
        eph.err
    )


def test_user_errors_name_the_field(zc: Zc) -> None:
    zero = zc("flavor", "create", "z", "--vcpus", "0", "--memory", "256")
    assert zero.code == 1
    assert "flavor.vcpus: invalid value 0 (allowed: an integer from 1 to 4096)" in zero.err
    small = zc("flavor", "create", "z", "--vcpus", "1", "--memory", "1")
    assert small.code == 1
    assert "flavor.memory_mib" in small.err
    bad_name = zc("flavor", "create", "a b", "--vcpus", "1", "--memory", "64")
    assert bad_name.code == 1
    assert "flavor.name" in bad_name.err
    duplicate = zc("flavor", "create", "tiny", "--vcpus", "1", "--memory", "64")
    assert duplicate.code == 1
    assert "a flavor named 'tiny' already exists" in duplicate.err
    assert "z" not in _names(zc)


def test_usage_errors_and_not_found(zc: Zc) -> None:
    assert zc("flavor", "create", "z", "--memory", "64").code == 2  # --vcpus missing
    assert zc("flavor", "create", "z", "--vcpus", "x", "--memory", "64").code == 2
    assert (
        zc("flavor", "create", "z", "--vcpus", "1", "--memory", "64", "--property", "k").code == 2
    )
    for argv in (("flavor", "show", "nope"), ("flavor", "delete", "nope")):
        result = zc(*argv)
        assert result.code == 3
        assert result.err == "zcompute: error: flavor 'nope' not found\n"
