"""The compute driver: lifecycle use cases for guests on one host.

>>> driver = ComputeDriver(load_config())
>>> driver.init_host()
>>> inst = driver.spawn("web1", image="s390x-test", flavor="tiny", wait_for="READY")
>>> driver.get_console_output("web1")
>>> with driver.open_console("web1") as console:
...     console.write(b"uname -m\n")
...     console.read(1.0)
>>> driver.pause("web1"); driver.unpause("web1")
>>> driver.power_off("web1", timeout=60)   # graceful, forced after 60 s
>>> driver.snapshot("web1", "web1-snap")
>>> driver.destroy("web1")
"""

from __future__ import annotations

from zcompute.driver._agent import GuestAgentInfo
from zcompute.driver._api import Capabilities, ComputeAPI
from zcompute.driver._devicetags import TaggedDevice
from zcompute.driver._driver import ComputeDriver
from zcompute.driver._host import recorded_kvm_probe
from zcompute.driver._incoming import Arrival, Prepared, arrival_from_json, arrival_to_json
from zcompute.driver._migrate import MigrationResult, MigrationTarget
from zcompute.driver._power import HostBootReport
from zcompute.driver._reports import GuestDiagnostics, HostReport, InstanceInfo
from zcompute.driver._serial import SerialConsole
from zcompute.model import KERNEL_ID_PROPERTY
from zcompute.plan import DiskPlan, GuestPlan, HostView, NicPlan, PlanRequest, make_plan
from zcompute.virt import ConsoleClosed, ConsoleStream, LifecycleEvent, MigrationProgress

__all__ = [
    "KERNEL_ID_PROPERTY",
    "Arrival",
    "Capabilities",
    "ComputeAPI",
    "ComputeDriver",
    "ConsoleClosed",
    "ConsoleStream",
    "DiskPlan",
    "GuestAgentInfo",
    "GuestDiagnostics",
    "GuestPlan",
    "HostBootReport",
    "HostReport",
    "HostView",
    "InstanceInfo",
    "LifecycleEvent",
    "MigrationProgress",
    "MigrationResult",
    "MigrationTarget",
    "NicPlan",
    "PlanRequest",
    "Prepared",
    "SerialConsole",
    "TaggedDevice",
    "arrival_from_json",
    "arrival_to_json",
    "make_plan",
    "recorded_kvm_probe",
]
