"""The guest agent's errors as Nova's compute manager expects them (zcompute.nova._agentops)."""

from __future__ import annotations

import pytest
from nova import exception

from zcompute.errors import GuestAgentUnavailable, NoGuestAgentChannel
from zcompute.nova._agentops import _agent_errors, _password_not_set, _quiesce_failed
from zcompute.nova._errors import nova_errors

UUID = "6a1d5c3e-0b8e-4f7e-9a47-5f0c4b8d9e21"
NO_CHANNEL = NoGuestAgentChannel("instance g has no guest agent channel")
SILENT = GuestAgentUnavailable("Guest agent is not responding")


@pytest.mark.parametrize("unanswered", [_password_not_set, _quiesce_failed])
def test_no_channel_is_nova_s_qemu_guest_agent_not_enabled(unanswered: object) -> None:
    with (
        pytest.raises(exception.QemuGuestAgentNotEnabled) as info,
        nova_errors(UUID),
        _agent_errors(unanswered),
    ):  # type: ignore[arg-type]
        raise NO_CHANNEL
    assert info.value.__cause__ is NO_CHANNEL
    # Nova's manager catches the parent class for set_admin_password
    assert isinstance(info.value, exception.InstanceAgentNotEnabled)


def test_an_agent_that_does_not_answer_a_password_is_not_implemented_for_nova() -> None:
    with (
        pytest.raises(NotImplementedError, match="does not answer"),
        nova_errors(UUID),
        _agent_errors(_password_not_set),
    ):
        raise SILENT


def test_an_agent_that_does_not_answer_a_quiesce_is_a_failed_quiesce() -> None:
    with (
        pytest.raises(exception.InstanceQuiesceFailed, match="not responding"),
        nova_errors(UUID),
        _agent_errors(_quiesce_failed),
    ):
        raise SILENT
