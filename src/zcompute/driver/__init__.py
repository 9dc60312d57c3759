"""The compute driver: lifecycle use cases for guests on one host.

>>> driver = ComputeDriver(load_config())
>>> driver.init_host()
>>> inst = driver.spawn("web1", image="s390x-test", flavor="tiny", wait_for="READY")
>>> driver.get_console_output("web1")
>>> driver.destroy("web1")
"""

from __future__ import annotations

from zcompute.driver._driver import ComputeDriver, HostReport, InstanceInfo
from zcompute.driver._plan import DiskPlan, GuestPlan, HostView, NicPlan, PlanRequest, make_plan

__all__ = [
    "ComputeDriver",
    "DiskPlan",
    "GuestPlan",
    "HostReport",
    "HostView",
    "InstanceInfo",
    "NicPlan",
    "PlanRequest",
    "make_plan",
]
