"""The operator's table of image properties per architecture (docs/nova.md), from the code."""

from __future__ import annotations

import pytest

from zcompute.arch import PROFILES, WATCHDOG_ACTIONS
from zcompute.properties import (
    IMAGE_PROPERTIES,
    TESTIMAGE_KEY_PROPERTY,
    image_property_table,
    image_property_table_keys,
)


def _rows(table: str) -> dict[str, list[str]]:
    lines = table.splitlines()
    return {
        cells[0].strip("`"): cells[1:]
        for line in lines[2:]
        if (cells := [cell.strip() for cell in line.strip("|").split(" | ")])
    }


def test_every_property_zcompute_acts_on_has_a_row() -> None:
    keys = image_property_table_keys()
    assert len(keys) == len(set(keys))
    # zcompute's own bookkeeping property is no operator's business
    assert set(IMAGE_PROPERTIES) - set(keys) == {TESTIMAGE_KEY_PROPERTY}
    # Nova's own, read by Nova for zcompute
    assert set(keys) - set(IMAGE_PROPERTIES) == {"img_config_drive"}
    kernel_row = next(
        line for line in image_property_table(()).splitlines() if "`kernel_id`" in line
    )
    assert "`ramdisk_id`" in kernel_row


@pytest.mark.parametrize("arches", [("s390x", "x86_64"), tuple(PROFILES)])
def test_one_row_per_property_one_column_per_arch(arches: tuple[str, ...]) -> None:
    table = image_property_table(arches)
    header, rule, *body = table.splitlines()
    assert header == "| Property | What it does | " + " | ".join(f"on {a}" for a in arches) + " |"
    assert rule.count("---") == 2 + len(arches)
    assert len(body) == len(image_property_table_keys())
    for cells in _rows(table).values():
        assert len(cells) == 1 + len(arches)
        assert all(cells)


def test_the_cells_say_what_the_profiles_decide() -> None:
    rows = _rows(image_property_table(("s390x", "x86_64")))
    s390x, x86 = PROFILES["s390x"], PROFILES["x86_64"]
    assert rows["hw_pointer_model"][1] == "`usbtablet` refused: s390x guests have no USB tablet"
    assert rows["hw_pointer_model"][2].startswith("`usbtablet` accepted")
    assert rows["hw_watchdog_action"][1:] == ["`diag288` device", "`i6300esb` device"]
    assert all(f"`{action}`" in rows["hw_watchdog_action"][0] for action in WATCHDOG_ACTIONS)
    assert f"default `{s390x.default_machine}`" in rows["hw_machine_type"][1]
    assert rows["hw_disk_bus"][1] == "`virtio`, `scsi`; default `virtio`"
    assert "`sata`" in rows["hw_disk_bus"][2]
    assert "`e1000`" in rows["hw_vif_model"][2]
    assert "`e1000`" not in rows["hw_vif_model"][1]
    assert rows["os_command_line"][1] == "adds `console=ttysclp0`, `console=ttyS0`"
    assert rows["img_config_drive"][1] == s390x.claim("config-drive").note
    assert "no IDE or SATA CD-ROM" in rows["img_config_drive"][1]
    assert (
        rows["hw_architecture"][2]
        == "`x86_64` (or " + ", ".join(f"`{alias}`" for alias in x86.aliases) + ")"
    )
