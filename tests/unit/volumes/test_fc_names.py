"""FC name helpers: WWPN/LUN validation, the FCP LUN format and by-path names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.volumes.fc_host_tree import int_to_scsilun, scsilun_to_int, udev_lun

from zcompute.errors import InvalidInput
from zcompute.volumes import (
    apply_addressing_mode,
    by_path_lun,
    fcp_lun,
    lun_from_fcp_lun,
    normalize_wwpn,
    pci_by_path_name,
    validate_ccw_bus_id,
    validate_target_lun,
    zfcp_by_path_names,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("500507680B2155F8", "500507680b2155f8"),
        ("0x500507680b2155f8", "500507680b2155f8"),
        ("0X500507680B2155F8", "500507680b2155f8"),
        (" 0x5005076801102991\n", "5005076801102991"),  # as read from sysfs
    ],
)
def test_wwpn_normalised_to_lower_case_without_prefix(raw: str, expected: str) -> None:
    assert normalize_wwpn(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0x",
        "500507680b2155f",
        "500507680b2155f80",
        "50:05:07:68:0b:21:55:f8",
        "0x50050768zb2155f8",
        5,
    ],
)
def test_malformed_wwpn_rejected_naming_value_and_field(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_wwpn(raw, "connection_info.data.target_wwn[1]")
    assert caught.value.field == "connection_info.data.target_wwn[1]"
    assert repr(raw) in str(caught.value)
    assert "16 hexadecimal digits" in str(caught.value)


@pytest.mark.parametrize("raw", [-1, 2**32, 2**64, "2", 2.0, True, None])
def test_unaddressable_or_non_integer_lun_rejected(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_target_lun(raw)
    assert caught.value.field == "target_lun"
    assert caught.value.allowed is not None
    assert "0xffffffff" in caught.value.allowed


@pytest.mark.parametrize(
    ("lun", "expected"),
    [
        (0, "0x0000000000000000"),
        (1, "0x0001000000000000"),
        (2, "0x0002000000000000"),
        (255, "0x00ff000000000000"),
        (0xFFFF, "0xffff000000000000"),
        (0x10001, "0x0001000100000000"),
        (0x4020400A, "0x4020400a00000000"),
        (0x40104000, "0x4010400000000000"),
        (0xFFFFFFFF, "0xffffffff00000000"),
    ],
)
def test_fcp_lun_format(lun: int, expected: str) -> None:
    assert fcp_lun(lun) == expected


@pytest.mark.parametrize("lun", [0x10000, 0x20000, 0x40100000, 0xFFFF0000])
def test_fcp_lun_rejects_packed_value_that_collides_with_single_level(lun: int) -> None:
    single = lun >> 16
    with pytest.raises(InvalidInput, match="ambiguous") as caught:
        fcp_lun(lun)
    # The message names the value, the FCP LUN it would mean and the spelling to use.
    assert f"{lun:#x}" in str(caught.value)
    assert fcp_lun(single) in str(caught.value)
    assert f"target_lun {single} " in str(caught.value)


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_fcp_lun_is_injective_and_invertible(lun: int) -> None:
    if lun > 0xFFFF and lun & 0xFFFF == 0:
        with pytest.raises(InvalidInput):
            fcp_lun(lun)
        return
    text = fcp_lun(lun)
    assert len(text) == 18
    assert text.startswith("0x")
    assert text.endswith("0" * 8)
    assert lun_from_fcp_lun(text) == lun


def test_fcp_lun_with_levels_3_or_4_is_not_a_target_lun() -> None:
    with pytest.raises(InvalidInput, match="levels 3 or 4"):
        lun_from_fcp_lun("0x4010400000000001")
    with pytest.raises(InvalidInput, match="not an FCP LUN"):
        lun_from_fcp_lun("0x40104000")


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_by_path_lun_matches_udev_and_kernel_byte_order(lun: int) -> None:
    text = by_path_lun(lun)
    assert text == udev_lun(lun)
    if lun >= 256:
        # udev's hex spelling is the 8-byte SCSI LUN the kernel derives from the number.
        assert text == int_to_scsilun(lun)
        assert scsilun_to_int(text) == lun


def test_by_path_lun_for_real_z16_scsi_luns() -> None:
    # ghw z16 snapshot: SCSI LUNs 1074413572 and 1075134468 are FCP LUNs 0x4004400a.../0x40044015...
    assert by_path_lun(1074413572) == "0x4004400a00000000"
    assert by_path_lun(1075134468) == "0x4004401500000000"
    assert by_path_lun(33) == "33"


@pytest.mark.parametrize(
    ("mode", "lun", "expected"),
    [
        (None, 300, 300),
        ("SAM", 300, 300),
        ("transparent", 5, 5),
        ("SAM2", 255, 255),
        ("SAM2", 256, 256 + 16384),
        ("SAM3-flat", 1, 16385),
        ("SAM3-flat", 16383, 32767),
    ],
)
def test_addressing_modes(mode: str | None, lun: int, expected: int) -> None:
    assert apply_addressing_mode(lun, mode) == expected


def test_addressing_mode_rejects_unknown_mode_and_lun_beyond_flat_space() -> None:
    with pytest.raises(InvalidInput, match="'SAM4'") as caught:
        apply_addressing_mode(1, "SAM4")
    assert caught.value.field == "addressing_mode"
    assert caught.value.allowed == "SAM, transparent, SAM2, SAM3-flat"
    with pytest.raises(InvalidInput, match="16384 does not fit flat space"):
        apply_addressing_mode(16384, "SAM3-flat")


@pytest.mark.parametrize("bus_id", ["0.0.3080", "0.0.FA00", "f.3.0000"])
def test_ccw_bus_id_accepted(bus_id: str) -> None:
    assert validate_ccw_bus_id(bus_id) == bus_id.lower()


@pytest.mark.parametrize("bus_id", ["3080", "0.4.3080", "0.0.308", "0.0.30800", "pci0000:00", ""])
def test_ccw_bus_id_rejected(bus_id: str) -> None:
    with pytest.raises(InvalidInput, match="CCW bus-ID"):
        validate_ccw_bus_id(bus_id, "hba")


def test_zfcp_names_for_the_facts_file_example() -> None:
    assert zfcp_by_path_names("0.0.3080", "0x500507680B2155F8", 2) == (
        "/dev/disk/by-path/ccw-0.0.3080-zfcp-0x500507680b2155f8:0x0002000000000000",
        "/dev/disk/by-path/ccw-0.0.3080-fc-0x500507680b2155f8-lun-2",
        "/dev/disk/by-path/ccw-0.0.3080-fc-0x500507680b2155f8-lun-0x0002000000000000",
    )


def test_pci_names_with_and_without_platform_prefix() -> None:
    assert (
        pci_by_path_name("0000:05:00.3", "50014380242b9751", 1)
        == "/dev/disk/by-path/pci-0000:05:00.3-fc-0x50014380242b9751-lun-1"
    )
    assert (
        pci_by_path_name("0000:05:00.3", "50014380242b9751", 256, "platform-80040000000.peu0-c0")
        == "/dev/disk/by-path/platform-80040000000.peu0-c0-pci-0000:05:00.3-fc-0x50014380242b9751"
        "-lun-0x0100000000000000"
    )
