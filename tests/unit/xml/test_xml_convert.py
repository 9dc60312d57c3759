"""Converters: the text <-> value rules every field relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from zcompute.errors import XMLError
from zcompute.xml import HEX, ONOFF, STR, TIMESTAMP, UINT, YESNO, Choice, Domain, Hex, Int, Pattern
from zcompute.xml._convert import BadValue, parse_c_uint


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("254", 254),
        ("0xfe", 254),
        ("0xFe", 254),
        ("0XFE", 254),
        ("0x0a", 10),
        ("7", 7),
        ("0", 0),
        ("010", 8),
        (" 12 ", 12),
    ],
)
def test_c_integers_parse_like_strtoul_base_0(raw: str, value: int) -> None:
    assert parse_c_uint(raw) == value


@pytest.mark.parametrize("raw", ["", "0x", "1_0", "0b1", "0o7", "09", "ten", "1.5"])
def test_not_c_integers_are_refused(raw: str) -> None:
    with pytest.raises(BadValue):
        Int(lenient=True).parse(raw)


def test_int_checks_range_both_ways() -> None:
    conv = Int(1, 8)
    assert conv.parse("8") == 8
    assert conv.format(1) == "1"
    for bad in ("0", "9", "0x1"):
        with pytest.raises(BadValue, match=r"integer 1\.\.8"):
            conv.parse(bad)
    with pytest.raises(BadValue, match="out of range"):
        conv.format(9)
    with pytest.raises(BadValue, match="expected an integer"):
        conv.format(True)
    with pytest.raises(BadValue, match="expected an integer"):
        conv.format("3")  # type: ignore[arg-type]


def test_int_remembers_valid_spellings_only() -> None:
    conv = Int(0, 10, lenient=True)
    assert conv.parse("0x0a") == 10
    assert conv.seen == {"0x0a": 10}
    with pytest.raises(BadValue):
        conv.parse("11")
    assert "11" not in conv.seen
    assert conv.parse("0x0a") == 10  # served from memory, same answer


def test_unbounded_int_and_hex() -> None:
    assert UINT.parse("18446744073709551616") == 2**64
    assert HEX.format(255) == "0xff"
    with pytest.raises(BadValue):
        UINT.parse("-1")


def test_hex_writes_fixed_width_and_reads_any_base() -> None:
    devno = Hex(0, 0xFFFF, 4)
    assert devno.format(1) == "0x0001"
    assert devno.parse("7") == 7
    assert devno.parse("0xf00f") == 0xF00F
    with pytest.raises(BadValue, match=r"0x0000\.\.0xffff"):
        devno.parse("0x10000")


def test_bools_spell_words_and_nothing_else() -> None:
    assert YESNO.parse("yes") is True
    assert ONOFF.format(False) == "off"
    with pytest.raises(BadValue, match="on, off"):
        ONOFF.parse("yes")
    with pytest.raises(BadValue):
        YESNO.format(1)  # type: ignore[arg-type]


def test_choice_and_pattern() -> None:
    conv = Choice(("a", "b"))
    assert conv.parse("a") == "a"
    with pytest.raises(BadValue, match="unknown value 'c'") as info:
        conv.format("c")
    assert info.value.allowed == "a, b"
    with pytest.raises(BadValue):
        conv.format(["a"])  # unhashable: still a clean BadValue
    mac = Pattern(r"[0-9a-f]{2}", "two hex digits")
    assert mac.parse("0a") == "0a"
    with pytest.raises(BadValue, match="two hex digits"):
        mac.format("0g")


def test_str_refuses_non_strings() -> None:
    assert STR.parse("x") == "x"
    with pytest.raises(BadValue):
        STR.format(5)  # type: ignore[arg-type]


def test_timestamps_need_an_offset() -> None:
    moment = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    assert TIMESTAMP.format(moment) == "2025-01-31T12:00:00+00:00"
    assert TIMESTAMP.parse("2025-01-31T13:00:00+01:00") == moment
    assert TIMESTAMP.parse("2025-01-31T12:00:00+02:00").utcoffset() == timedelta(hours=2)
    with pytest.raises(BadValue, match="offset"):
        TIMESTAMP.parse("2025-01-31T12:00:00")
    with pytest.raises(BadValue):
        TIMESTAMP.format(datetime(2025, 1, 31))  # naive
    with pytest.raises(BadValue):
        TIMESTAMP.parse("yesterday")
    assert TIMESTAMP.format(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5)))).endswith(
        "-05:00"
    )


@pytest.mark.parametrize(
    ("unit", "amount", "kib"),
    [
        (None, "219100", 219100),
        ("KiB", "2", 2),
        ("k", "2", 2),
        ("K", "2", 2),
        ("b", "1", 1),
        ("bytes", "2048", 2),
        ("KB", "1000", 977),
        ("MiB", "512", 524288),
        ("M", "1", 1024),
        ("MB", "1", 977),
        ("GiB", "4", 4 * 1024**2),
        ("G", "1", 1024**2),
        ("GB", "1", 976563),
        ("TiB", "1", 1024**3),
        ("T", "1", 1024**3),
        ("TB", "1", 976562500),
        ("PiB", "1", 1024**4),
        ("PB", "1", 976562500000),
        ("EiB", "1", 1024**5),
        ("E", "1", 1024**5),
        ("EB", "1", 976562500000000),
    ],
)
def test_memory_reads_every_libvirt_unit_in_kib_rounding_up(
    unit: str | None, amount: str, kib: int
) -> None:
    unit_attr = "" if unit is None else f" unit='{unit}'"
    dom = Domain.from_xml(f"<domain type='kvm'><memory{unit_attr}>{amount}</memory></domain>")
    assert dom.memory_kib == kib


def test_memory_writes_kib_and_refuses_unknown_units() -> None:
    dom = Domain.from_xml("<domain type='kvm'><memory unit='GiB'>4</memory></domain>")
    dom.memory_kib = 1024
    assert '<memory unit="KiB">1024</memory>' in dom.to_xml()
    with pytest.raises(XMLError, match=r"domain/memory/@unit: unknown unit 'parsecs'"):
        Domain.from_xml("<domain type='kvm'><memory unit='parsecs'>4</memory></domain>")
    with pytest.raises(XMLError, match="domain/memory: not an integer"):
        Domain.from_xml("<domain type='kvm'><memory unit='KiB'>lots</memory></domain>")
    with pytest.raises(XMLError, match="domain/memory: not an integer"):
        Domain.from_xml("<domain type='kvm'><memory unit='KiB'/></domain>")
    with pytest.raises(XMLError, match="domain/currentMemory: out of range"):
        Domain.from_xml("<domain type='kvm'><currentMemory unit='GiB'>-1</currentMemory></domain>")
