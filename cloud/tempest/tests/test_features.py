"""The [compute-feature-enabled] table against small support matrices and nova.conf texts."""

from __future__ import annotations

from typing import Any

import pytest
from ztempest import features
from ztempest.features import FLAGS, NovaConf


def matrix(**states: str) -> dict[str, Any]:
    """A support matrix whose s390x column has the given states, every other row complete."""
    keys = {row for flag in FLAGS for row in flag.rows}
    rows = []
    for key in sorted(keys):
        state = states.get(key.replace(".", "_").replace("-", "_"), "complete")
        rows.append(
            {
                "key": key,
                "columns": {
                    "s390x": {"nova": "complete", "zcompute": state},
                    "x86_64": {"nova": "complete", "zcompute": "complete"},
                },
            }
        )
    return {"rows": rows}


def flags(m: dict[str, Any], nova: str = "", **image: str) -> dict[str, bool]:
    cloud = features.Deployment(NovaConf(nova), image)
    return {d.flag.name: d.value for d in features.decisions(m, cloud)}


def test_every_flag_is_decided_once() -> None:
    names = [flag.name for flag in FLAGS]
    assert len(names) == len(set(names))
    assert set(flags(matrix())) == set(names)


def test_complete_rows_turn_flags_on() -> None:
    decided = flags(matrix())
    for name in ("live_migration", "resize", "cold_migration", "shelve", "snapshot", "rescue"):
        assert decided[name], name


@pytest.mark.parametrize("state", ["partial", "missing", "unknown"])
def test_anything_short_of_complete_turns_a_flag_off(state: str) -> None:
    decided = flags(matrix(operation_live_migrate=state))
    assert not decided["live_migration"]
    assert not decided["block_migration_for_live_migration"]
    assert decided["resize"]


def test_a_row_the_matrix_lacks_is_off_and_named() -> None:
    m = matrix()
    m["rows"] = [r for r in m["rows"] if r["key"] != "operation.pause"]
    decided = {d.flag.name: d for d in features.decisions(m, features.Deployment(NovaConf(), {}))}
    assert not decided["pause"].value
    assert "operation.pause=absent" in decided["pause"].because


def test_consoles_need_the_row_and_the_deployment() -> None:
    cloud = "[vnc]\nenabled = False\n[serial_console]\nenabled = false\n"
    decided = flags(matrix(console_vnc="missing"), cloud)
    assert not decided["vnc_console"]
    assert not decided["serial_console"]  # complete in the matrix, not deployed
    assert decided["console_output"]
    assert flags(matrix(), "[serial_console]\nenabled = True\n")["serial_console"]


def test_the_only_the_metadata_api_in_enabled_apis_counts() -> None:
    assert not flags(matrix(), "[DEFAULT]\nenabled_apis = osapi_compute\n")["metadata_service"]
    assert flags(matrix(), "[DEFAULT]\nenabled_apis = osapi_compute,metadata\n")["metadata_service"]


def test_fixed_flags_ignore_the_matrix() -> None:
    decided = flags(matrix())
    assert not decided["ide_bus"]
    assert not decided["stable_rescue"]
    assert decided["hostname_fqdn_sanitization"]


def test_scheduler_filters_follow_nova_conf_or_novas_default() -> None:
    assert features.scheduler_filters(NovaConf()) == list(features.NOVA_DEFAULT_FILTERS)
    text = "[filter_scheduler]\nenabled_filters = ComputeFilter, ImagePropertiesFilter\n"
    assert features.scheduler_filters(NovaConf(text)) == ["ComputeFilter", "ImagePropertiesFilter"]


def test_percent_signs_in_nova_conf_are_not_interpolated() -> None:
    nova = NovaConf("[DEFAULT]\ninstance_name_template = zccloud-%08x\n")
    assert nova.get("DEFAULT", "instance_name_template", "") == "zccloud-%08x"


def test_change_password_needs_the_image_to_ask_for_the_guest_agent() -> None:
    assert not flags(matrix())["change_password"]
    assert flags(matrix(), hw_qemu_guest_agent="yes")["change_password"]
    assert not flags(matrix(operation_set_admin_password="missing"), hw_qemu_guest_agent="yes")[
        "change_password"
    ]
