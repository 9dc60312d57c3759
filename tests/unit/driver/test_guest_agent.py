"""The guest agent query refuses clearly where there is no agent to ask."""

from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import GuestAgentUnavailable, InvalidInput

from .driver_support import Recorder


def test_a_guest_whose_image_asks_for_no_agent_has_none(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    with pytest.raises(GuestAgentUnavailable, match="hw_qemu_guest_agent=yes"):
        test_driver.guest_agent_info(inst.name, user="debian")


def test_a_bad_user_name_is_refused_before_anything_is_asked(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    inst = recorded()
    with pytest.raises(InvalidInput, match=r"^user: "):
        test_driver.guest_agent_info(inst.name, user="../root")
