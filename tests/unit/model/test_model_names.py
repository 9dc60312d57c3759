"""The one name validator: what it accepts is always safe in XML, paths and command lines."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from zcompute.errors import InvalidInput
from zcompute.model import NAME_RULE, new_uuid, validate_name

SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")

valid_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z").filter(
    lambda name: ".." not in name
)


@given(valid_names)
def test_every_name_of_the_rule_is_accepted_unchanged(name: str) -> None:
    assert validate_name(name) == name


@given(st.text(max_size=80))
@example("abc\n")  # a regex "$" would have let the trailing newline through
@example("a/b")
@example("../etc")
@example("a..b")
@example("-rf")
@example(".hidden")
@example("it's")
@example('say"hi"')
@example("<x>")
@example("a&b")
@example("a b")
@example("tab\there")
@example("nul\x00byte")
@example("caf\u00e9")
@example("\uff11")  # a full-width digit: str.isdigit() says yes, the rule says no
@example("x" * 64)
@example("")
def test_accepted_names_are_safe_and_everything_else_is_refused(text: str) -> None:
    follows_rule = (
        1 <= len(text) <= 63
        and set(text) <= SAFE_CHARS
        and text[0] not in "._-"
        and ".." not in text
    )
    if follows_rule:
        assert validate_name(text, "instance.name") == text
        return
    with pytest.raises(InvalidInput) as info:
        validate_name(text, "instance.name")
    assert info.value.field == "instance.name"
    assert info.value.allowed == NAME_RULE


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["list"]])
def test_non_strings_are_refused_with_the_type_named(value: object) -> None:
    with pytest.raises(InvalidInput, match="expected a string"):
        validate_name(value, "flavor.name")


def test_uuid_shaped_names_are_refused_only_when_asked() -> None:
    uuid = new_uuid()
    assert validate_name(uuid) == uuid
    with pytest.raises(InvalidInput, match="looks like a UUID") as info:
        validate_name(uuid, "image.name", allow_uuid=False)
    assert info.value.field == "image.name"


def test_error_message_shows_a_long_value_shortened() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_name("/" * 500)
    assert len(str(info.value)) < 300
