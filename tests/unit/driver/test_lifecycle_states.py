"""Instance states from libvirt's states and reasons, and the intent a record keeps."""

from __future__ import annotations

import pytest
from tests.unit.driver.driver_support import Recorder

from zcompute.driver import ComputeDriver
from zcompute.driver._state import (
    UNEXPECTED_STOP_REASONS,
    instance_state,
    require_state,
    settled_state,
    stopped_unexpectedly,
)
from zcompute.errors import InvalidState
from zcompute.model import InstanceState
from zcompute.virt import DomainState, PowerState

RUNNING, PAUSED, SHUTOFF = InstanceState.RUNNING, InstanceState.PAUSED, InstanceState.SHUTOFF


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (DomainState(PowerState.RUNNING, "booted"), RUNNING),
        (DomainState(PowerState.BLOCKED, "unknown"), RUNNING),
        (DomainState(PowerState.PAUSED, "user"), PAUSED),
        (DomainState(PowerState.PAUSED, "watchdog"), PAUSED),
        (DomainState(PowerState.SHUTOFF, "shutdown"), SHUTOFF),
        (DomainState(PowerState.SHUTOFF, "saved", managed_save=True), InstanceState.SUSPENDED),
        # after a libvirtd restart the reason of a saved guest is lost; the image is not
        (DomainState(PowerState.SHUTOFF, "unknown", managed_save=True), InstanceState.SUSPENDED),
        (DomainState(PowerState.SHUTOFF, "crashed"), InstanceState.CRASHED),
        (DomainState(PowerState.CRASHED, "panicked"), InstanceState.CRASHED),
        (DomainState(PowerState.PMSUSPENDED, "unknown"), InstanceState.SUSPENDED),
    ],
)
def test_instance_state_folds_in_managed_save_and_crashes(
    live: DomainState, expected: InstanceState
) -> None:
    assert instance_state(live) is expected


@pytest.mark.parametrize("reason", sorted(UNEXPECTED_STOP_REASONS))
@pytest.mark.parametrize("recorded", [RUNNING, PAUSED])
def test_an_unexpected_stop_keeps_the_recorded_intent(reason: str, recorded: InstanceState) -> None:
    live = DomainState(PowerState.SHUTOFF, reason)
    assert stopped_unexpectedly(live)
    assert settled_state(recorded, live) is recorded


@pytest.mark.parametrize("reason", ["shutdown", "destroyed", "crashed", "saved"])
def test_a_stop_on_purpose_is_recorded(reason: str) -> None:
    live = DomainState(PowerState.SHUTOFF, reason, managed_save=reason == "saved")
    assert not stopped_unexpectedly(live)
    assert settled_state(RUNNING, live) is instance_state(live)


def test_a_stopped_record_follows_libvirt_whatever_the_reason() -> None:
    live = DomainState(PowerState.SHUTOFF, "unknown")
    assert settled_state(SHUTOFF, live) is SHUTOFF
    assert settled_state(InstanceState.SUSPENDED, live) is SHUTOFF  # its saved memory is gone


def test_require_state_names_the_state_and_what_would_do() -> None:
    require_state("web1", "pause", RUNNING, {RUNNING})
    with pytest.raises(InvalidState) as err:
        require_state("web1", "pause", SHUTOFF, {RUNNING, PAUSED})
    text = str(err.value)
    assert "cannot pause instance web1: it is shutoff" in text
    assert "allowed: paused, running" in text
    assert "nothing changed" in text


def test_a_late_lifecycle_event_never_overwrites_a_newer_outcome(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    """The event handler read the record before an operation recorded its outcome: its write
    is dropped (it once turned a fresh 'paused' back into 'running')."""
    inst = recorded()
    seen = test_driver.db.get_instance(inst.uuid)  # what a slow event handler read
    test_driver.pause(inst.name)
    assert not test_driver.db.record_observed_state(seen, InstanceState.RUNNING)
    assert test_driver.get_instance(inst.name).state is InstanceState.PAUSED
    # A write based on a current read goes through. The driver's own event handler may record
    # the pause's SUSPENDED event between a read and a write, once: then the next read is current.
    written = False
    for _ in range(3):
        fresh = test_driver.db.get_instance(inst.uuid)
        written = test_driver.db.record_observed_state(fresh, InstanceState.PAUSED)
        if written:
            break
    assert written
