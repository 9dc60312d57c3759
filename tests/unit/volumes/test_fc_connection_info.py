"""Cinder FC connection_info parsing: shapes Cinder drivers send, and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from zcompute.errors import InvalidInput
from zcompute.volumes import FcTarget, parse_connection_info

A = "500507680b2155f8"
B = "500507680b2255f8"


def parse(data: dict[str, Any], **top: Any) -> Any:
    return parse_connection_info(
        {"driver_volume_type": "fibre_channel", "serial": "vol-1", "data": data, **top}
    )


def test_single_wwn_and_lun() -> None:
    parsed = parse({"target_wwn": "0x500507680B2155F8", "target_lun": 2})
    assert parsed.volume_id == "vol-1"
    assert parsed.targets == (FcTarget(A, 2),)
    assert parsed.initiator_target_map is None
    assert parsed.multipath is None
    assert parsed.enable_wildcard_scan is True


def test_list_of_wwns_share_one_lun_and_repeats_collapse() -> None:
    parsed = parse({"target_wwn": [A, B, A.upper()], "target_lun": 7})
    assert parsed.targets == (FcTarget(A, 7), FcTarget(B, 7))


def test_per_target_luns() -> None:
    parsed = parse({"target_wwns": [A, B], "target_luns": [1, 0x40104001]})
    assert parsed.targets == (FcTarget(A, 1), FcTarget(B, 0x40104001))


def test_volume_id_in_data_wins_over_serial() -> None:
    assert (
        parse({"target_wwn": A, "target_lun": 1, "volume_id": "from-data"}).volume_id == "from-data"
    )


def test_addressing_mode_is_applied_to_every_lun() -> None:
    parsed = parse({"target_wwn": A, "target_lun": 256, "addressing_mode": "SAM2"})
    assert parsed.targets == (FcTarget(A, 256 + 16384),)


def test_initiator_target_map_normalised_and_unknown_targets_dropped() -> None:
    parsed = parse(
        {
            "target_wwn": [A, B],
            "target_lun": 1,
            "initiator_target_map": {"0xC05076FFE680A960": [A.upper(), "1111111111111111"]},
        }
    )
    assert parsed.initiator_target_map == {"c05076ffe680a960": (A,)}
    assert parsed.targets_for("c05076ffe680a960") == (FcTarget(A, 1),)
    assert parsed.targets_for("c05076ffe680a961") == ()


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"target_lun": 1}, "connection_info.data.target_wwn", "names no target port"),
        ({"target_wwn": [], "target_lun": 1}, "connection_info.data.target_wwn", "names no target"),
        (
            {"target_wwn": [A, "xyz"], "target_lun": 1},
            "connection_info.data.target_wwn[1]",
            "'xyz'",
        ),
        ({"target_wwn": A}, "connection_info.data.target_lun", "is missing"),
        ({"target_wwn": A, "target_lun": "1"}, "connection_info.data.target_lun", "'1'"),
        (
            {"target_wwns": [A, B], "target_luns": [1, 2, 3]},
            "connection_info.data.target_luns",
            "3 LUNs",
        ),
        ({"target_wwns": [A], "target_luns": [-4]}, "connection_info.data.target_luns[0]", "-4"),
        (
            {"target_wwn": A, "target_lun": 1, "multipath": "yes"},
            "connection_info.data.multipath",
            "'yes'",
        ),
        ({"target_wwn": A, "target_lun": 1, "addressing_mode": "x"}, "addressing_mode", "'x'"),
        (
            {"target_wwn": A, "target_lun": 1, "initiator_target_map": {"c05076ffe680a960": A}},
            "connection_info.data.initiator_target_map[c05076ffe680a960]",
            "is not a list",
        ),
    ],
)
def test_bad_data_names_the_field(data: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(data)
    assert caught.value.field == field
    assert text in str(caught.value)


def test_bad_envelope() -> None:
    with pytest.raises(InvalidInput, match="'iscsi' is not FC"):
        parse_connection_info({"driver_volume_type": "iscsi", "data": {}})
    with pytest.raises(InvalidInput, match=r"connection_info.data: is missing"):
        parse_connection_info({"serial": "v"})
    with pytest.raises(InvalidInput, match="cannot serve as the disk serial"):
        parse({"target_wwn": A, "target_lun": 1}, serial="vol/1")
