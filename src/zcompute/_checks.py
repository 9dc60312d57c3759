"""The checks every zcompute type makes of its fields (names, UUIDs, text, paths, numbers).

Private to :mod:`zcompute.model`, which re-exports the public ones; each raises
:class:`~zcompute.errors.InvalidInput` naming the field and the allowed values.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from pathlib import Path

from zcompute.errors import InvalidInput

__all__ = [
    "NAME_RULE",
    "check_choice",
    "check_int",
    "check_path",
    "check_text",
    "is_uuid",
    "set_field",
    "show",
    "validate_name",
    "validate_uuid",
]

NAME_RULE = "1-63 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..'"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# XML 1.0 cannot carry these, and they have no business in names, metadata or command lines.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def show(value: object) -> str:
    """A short, printable rendering of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_name(value: object, field: str = "name", *, allow_uuid: bool = True) -> str:
    """Return ``value`` if it is a safe name (see :data:`NAME_RULE`), else raise InvalidInput.

    With ``allow_uuid=False`` a name that reads as a UUID is refused too: images and instances
    are looked up by "name or id", which must never be ambiguous.
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}", NAME_RULE)
    if _NAME_RE.fullmatch(value) is None or ".." in value:
        raise InvalidInput(field, f"invalid name {show(value)}", NAME_RULE)
    if not allow_uuid and is_uuid(value):
        raise InvalidInput(field, f"{value!r} looks like a UUID", "a name that is not a UUID")
    return value


def is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def validate_uuid(value: object, field: str = "uuid") -> str:
    """Return the canonical lower-case form of a UUID string, else raise InvalidInput."""
    rule = "a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}", rule)
    try:
        parsed = uuidlib.UUID(value)
    except ValueError:
        raise InvalidInput(field, f"invalid UUID {show(value)}", rule) from None
    if str(parsed) != value.lower():  # refuse the braces, URN and hex-only spellings
        raise InvalidInput(field, f"invalid UUID {show(value)}", rule)
    return str(parsed)


def check_text(field: str, value: object, max_len: int, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a string, got {type(value).__name__}")
    if len(value) > max_len or (not value and not allow_empty):
        raise InvalidInput(field, f"length {len(value)} out of range", f"1-{max_len} characters")
    if _CONTROL_RE.search(value):
        raise InvalidInput(field, f"control characters in {show(value)}", "printable text")
    return value


def check_choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, f"unknown value {show(value)}", allowed)
    return value


def set_field(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen dataclass during ``__post_init__``."""
    object.__setattr__(obj, name, value)


# --- image properties (declared in zcompute.properties) -------------------------------


def check_int(field: str, value: object, low: int, high: int) -> None:
    # bool is an int in Python; True vCPUs is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(
            field, f"invalid value {show(value)}", f"an integer from {low} to {high}"
        )


def check_path(field: str, value: object) -> Path:
    """An absolute, normalised path without NUL or control characters."""
    if not isinstance(value, Path | str):
        raise InvalidInput(field, f"expected a path, got {type(value).__name__}")
    text = str(value)
    check_text(field, text, 4096)
    path = Path(text)
    if not path.is_absolute() or ".." in path.parts or str(path) != text:
        raise InvalidInput(field, f"not a normalised absolute path: {show(text)}", "/abs/path")
    return path
