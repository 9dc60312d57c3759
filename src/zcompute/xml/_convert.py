"""Converters between XML text and typed Python values.

A converter only knows about values; the field that uses it knows where the value lives
and turns a :class:`BadValue` into an :class:`zcompute.errors.XMLError` naming the
element or attribute. Keeping the two apart lets one converter serve many fields and
keeps the success path free of string formatting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

__all__ = [
    "HEX",
    "INT",
    "ONOFF",
    "STR",
    "TIMESTAMP",
    "UINT",
    "YESNO",
    "BadValue",
    "Bool",
    "Choice",
    "Converter",
    "Hex",
    "Int",
    "Pattern",
    "Timestamp",
    "parse_c_uint",
]


class BadValue(Exception):
    """Raised by a converter; the calling field adds where the value was found."""

    def __init__(self, message: str, allowed: str | None = None) -> None:
        super().__init__(f"{message} (allowed: {allowed})" if allowed else message)
        self.message = message
        self.allowed = allowed


class Converter(Generic[T]):
    """Turns the text of an attribute or element into a value of type ``T`` and back."""

    __slots__ = ("allowed",)

    def __init__(self, allowed: str | None = None) -> None:
        #: Human readable description of the accepted values, used in error messages.
        self.allowed = allowed

    def parse(self, raw: str) -> T:
        raise NotImplementedError

    def format(self, value: T) -> str:
        raise NotImplementedError


class _Str(Converter[str]):
    __slots__ = ()

    def parse(self, raw: str) -> str:
        return raw

    def format(self, value: str) -> str:
        if not isinstance(value, str):
            raise BadValue(f"expected a string, got {type(value).__name__} {value!r}")
        return value


class Pattern(Converter[str]):
    """A string that must fully match a regular expression (checked both ways)."""

    __slots__ = ("_regex",)

    def __init__(self, regex: str, allowed: str) -> None:
        super().__init__(allowed)
        self._regex = re.compile(regex)

    def parse(self, raw: str) -> str:
        if self._regex.fullmatch(raw) is None:
            raise BadValue(f"invalid value {raw!r}", self.allowed)
        return raw

    def format(self, value: str) -> str:
        if not isinstance(value, str):
            raise BadValue(f"expected a string, got {type(value).__name__} {value!r}")
        return self.parse(value)


class Choice(Converter[T]):
    """One of a closed set of strings (a ``Literal`` type for mypy)."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[T]) -> None:
        self._values = frozenset(values)
        super().__init__(", ".join(sorted(str(v) for v in self._values)))

    @property
    def values(self) -> frozenset[T]:
        return self._values

    def parse(self, raw: str) -> T:
        if raw not in self._values:
            raise BadValue(f"unknown value {raw!r}", self.allowed)
        return cast(T, raw)  # membership proves raw is a T

    def format(self, value: T) -> str:
        if not isinstance(value, str) or value not in self._values:
            raise BadValue(f"unknown value {value!r}", self.allowed)
        return value  # every value in the set is a str


class Bool(Converter[bool]):
    """A boolean spelled with a pair of words, e.g. yes/no or on/off."""

    __slots__ = ("_false", "_true")

    def __init__(self, true: str, false: str) -> None:
        super().__init__(f"{true}, {false}")
        self._true = true
        self._false = false

    def parse(self, raw: str) -> bool:
        if raw == self._true:
            return True
        if raw == self._false:
            return False
        raise BadValue(f"invalid value {raw!r}", self.allowed)

    def format(self, value: bool) -> str:
        if value is True:
            return self._true
        if value is False:
            return self._false
        raise BadValue(f"expected True or False, got {value!r}", "True, False")


def parse_c_uint(raw: str) -> int:
    """Parse an unsigned integer the way libvirt's ``strtoul(..., 0)`` does.

    ``0x`` prefixes hexadecimal, a leading ``0`` octal, anything else decimal; libvirt
    parses addresses with base 0, so the real test data mixes ``'254'``, ``'0xFe'``
    and ``'0x0a'`` for the same attribute. Raises ValueError.
    """
    if "_" in raw:  # int() would accept digit separators, C does not
        raise ValueError(raw)
    text = raw.strip()
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        return int(text[1:], 8)
    return int(text, 10)


# int(x, 0) also takes 0b/0o prefixes, which C's strtoul does not
_NOT_C_PREFIXES = frozenset("bBoO")


class Int(Converter[int]):
    """A decimal integer within ``[low, high]`` (``high`` None means unbounded)."""

    __slots__ = ("_high", "_lenient", "_low", "seen")

    #: How many distinct valid spellings each converter remembers (see ``seen``).
    SEEN_LIMIT = 1024

    def __init__(self, low: int = 0, high: int | None = None, *, lenient: bool = False) -> None:
        top = "" if high is None else str(high)
        super().__init__(f"integer {low}..{top}" if top else f"integer >= {low}")
        self._low = low
        self._high: float = math.inf if high is None else high
        # lenient: accept 0x.. and octal on input, as libvirt does for base-0 attributes
        self._lenient = lenient
        # valid spellings already parsed ('0xfe', '0x0', '2'): documents repeat the same
        # few values, and a dict hit is far cheaper than parsing again
        self.seen: dict[str, int] = {}

    def parse(self, raw: str) -> int:
        value = self.seen.get(raw)
        if value is not None:
            return value
        value = self._parse(raw)
        if len(self.seen) < self.SEEN_LIMIT:
            self.seen[raw] = value
        return value

    def _parse(self, raw: str) -> int:
        try:
            if "_" in raw:  # int() accepts digit separators, libvirt does not
                raise ValueError(raw)
            if not self._lenient:
                value = int(raw, 10)
            elif raw[1:2] in _NOT_C_PREFIXES:
                value = parse_c_uint(raw)
            else:
                try:
                    value = int(raw, 0)  # 0x.. and decimal, in C
                except ValueError:
                    value = parse_c_uint(raw)  # a leading 0: octal, as in C
        except ValueError:
            raise BadValue(f"not an integer: {raw!r}", self.allowed) from None
        if self._low <= value <= self._high:
            return value
        raise BadValue(f"out of range: {value}", self.allowed)

    def _check(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadValue(f"expected an integer, got {value!r}", self.allowed)
        if not self._low <= value <= self._high:
            raise BadValue(f"out of range: {value}", self.allowed)
        return int(value)

    def format(self, value: int) -> str:
        if value.__class__ is int and self._low <= value <= self._high:
            return str(value)
        return str(self._check(value))


class Hex(Int):
    """An integer written as ``0x`` hex with a fixed number of digits, read in any base."""

    __slots__ = ("_template",)

    def __init__(self, low: int, high: int, width: int) -> None:
        super().__init__(low, high, lenient=True)
        self._template = f"0x%0{width}x"
        self.allowed = f"0x{low:0{width}x}..0x{high:0{width}x}"

    def format(self, value: int) -> str:
        if value.__class__ is int and self._low <= value <= self._high:
            return self._template % value
        return self._template % self._check(value)


STR = _Str()
INT = Int(low=-(2**63), high=2**63 - 1)
UINT = Int()
HEX = Hex(0, 2**64 - 1, 1)
YESNO = Bool("yes", "no")
ONOFF = Bool("on", "off")


class Timestamp(Converter[datetime]):
    """An ISO 8601 date and time with a UTC offset (naive times are ambiguous)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("ISO 8601 date and time with offset, e.g. 2025-01-31T12:00:00+00:00")

    def parse(self, raw: str) -> datetime:
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise BadValue(f"not a timestamp: {raw!r}", self.allowed) from None
        if value.tzinfo is None:
            raise BadValue(f"timestamp without UTC offset: {raw!r}", self.allowed)
        return value

    def format(self, value: datetime) -> str:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise BadValue(f"expected an aware datetime, got {value!r}", self.allowed)
        return value.isoformat()


TIMESTAMP = Timestamp()
