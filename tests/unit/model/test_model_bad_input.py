"""Values no operation could use are refused when they enter: flavor extra specs, timeouts."""

from __future__ import annotations

import math

import pytest

from zcompute.arch import get_profile
from zcompute.errors import InvalidInput
from zcompute.model import (
    IMAGE_PROPERTIES,
    MAX_TIMEOUT,
    Flavor,
    validate_extra_specs,
    validate_timeout,
)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hw_watchdog_action", "explode"),
        ("hw_disk_bus", "floppy"),
        ("hw_machine_type", "pc q35"),
        ("os_command_line", "quiet\ninit=/bin/sh"),
    ],
)
def test_a_flavor_with_an_extra_spec_no_boot_accepts_is_refused(key: str, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Flavor("f", 1, 256, 1, {key: value})
    assert info.value.field == key  # as the operator typed it


def test_extra_specs_use_the_image_properties_checks_and_keep_unknown_keys() -> None:
    specs = {"hw_watchdog_action": "poweroff", "quota:cpu_shares": "1024", "trait:X": "required"}
    assert dict(Flavor("f", 1, 256, 1, specs).extra_specs) == specs
    assert set(IMAGE_PROPERTIES) >= {"hw_watchdog_action", "hw_disk_bus"}


def test_every_watchdog_action_a_profile_accepts_makes_a_flavor() -> None:
    """One vocabulary: what a flavor accepts is exactly what the boot accepts, plus Nova's
    "disabled" (no watchdog)."""
    profile = get_profile("s390x")
    for action in ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi"):
        assert profile.watchdog(action).action == action
        validate_extra_specs({"hw_watchdog_action": action})
    validate_extra_specs({"hw_watchdog_action": "disabled"})
    with pytest.raises(InvalidInput, match="allowed: disabled, reset, shutdown"):
        validate_extra_specs({"hw_watchdog_action": "Reset"})


@pytest.mark.parametrize("value", [0, 0.5, 120, MAX_TIMEOUT])
def test_timeouts_from_zero_to_the_maximum_are_seconds(value: float) -> None:
    assert validate_timeout(value) == float(value)


@pytest.mark.parametrize(
    "value", [-1, -0.001, math.nan, math.inf, -math.inf, MAX_TIMEOUT + 1, True, "10", None]
)
def test_nan_infinite_negative_and_non_numbers_are_no_timeout(value: object) -> None:
    with pytest.raises(InvalidInput, match=rf"^wait: invalid timeout .*0 to {MAX_TIMEOUT}\)$"):
        validate_timeout(value, "wait")
