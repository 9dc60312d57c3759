"""Support-matrix vocabulary: the features, their statuses, and zcompute's implementation state.

Two dimensions are kept apart on purpose:

* a **claim** (:class:`Claim`) says whether the *platform* can do a feature on an architecture
  (QEMU/libvirt/guest support); each architecture's claims live in its profile module, one place
  per architecture;
* the **implementation** (:data:`IMPLEMENTATION`) says whether *zcompute's driver* does it yet and
  on which architectures that was tested. It is one table, because the driver code is shared.

So "s390x has no VNC" (a claim: missing) never looks like "zcompute has not written snapshot
yet" (an implementation state), and the lead can move a feature from *not implemented* to
*tested on s390x* without touching any profile.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType

from zcompute.errors import InvalidInput

__all__ = [
    "FEATURES",
    "FEATURE_KEYS",
    "IMPLEMENTATION",
    "Claim",
    "Feature",
    "ImplState",
    "Implementation",
    "Status",
    "feature",
]


class Status(enum.StrEnum):
    """How well a platform supports a feature (the profile's claim)."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    MISSING = "missing"


class ImplState(enum.StrEnum):
    """How far zcompute's driver is with a feature, independent of the architecture."""

    NOT_IMPLEMENTED = "not implemented"
    IMPLEMENTED = "implemented"
    TESTED = "tested"


@dataclasses.dataclass(frozen=True)
class Feature:
    key: str
    name: str


@dataclasses.dataclass(frozen=True)
class Claim:
    status: Status
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Implementation:
    """zcompute's state for one feature; ``tested_on`` lists arches an e2e test covers."""

    state: ImplState
    note: str = ""
    tested_on: tuple[str, ...] = ()


FEATURES: tuple[Feature, ...] = (
    Feature("launch", "Launch"),
    Feature("terminate", "Terminate"),
    Feature("get-guest-info", "Get guest info"),
    Feature("reboot", "Reboot"),
    Feature("power-off-on", "Power off / power on"),
    Feature("pause", "Pause / unpause"),
    Feature("suspend", "Suspend / resume"),
    Feature("snapshot", "Snapshot"),
    Feature("console-log", "Console log"),
    Feature("interactive-console", "Interactive console"),
    Feature("vnc", "VNC console"),
    Feature("spice", "SPICE console"),
    Feature("inject-networking", "Inject networking"),
    Feature("attach-volume", "Attach / detach volume (local)"),
    Feature("attach-volume-fc", "Attach / detach volume (FC)"),
    Feature("attach-interface", "Attach / detach interface"),
    Feature("trigger-crash-dump", "Trigger crash dump"),
    Feature("watchdog", "Watchdog"),
    Feature("live-migration", "Live migration"),
    Feature("secure-execution", "Secure Execution (IBM Z)"),
)

FEATURE_KEYS: tuple[str, ...] = tuple(f.key for f in FEATURES)

_NOT_YET = Implementation(ImplState.NOT_IMPLEMENTED, "driver operation not written yet")

# The driver's progress, one line per feature. Update a line when an operation lands
# (IMPLEMENTED) and when an end-to-end test covers it (TESTED, with the arches it ran on).
IMPLEMENTATION: Mapping[str, Implementation] = MappingProxyType(
    {
        "launch": Implementation(
            ImplState.TESTED, "spawn with rollback", ("s390x", "x86_64", "aarch64")
        ),
        "terminate": Implementation(
            ImplState.TESTED, "destroy: domain, files, record", ("s390x", "x86_64", "aarch64")
        ),
        "get-guest-info": Implementation(
            ImplState.TESTED, "bulk stats", ("s390x", "x86_64", "aarch64")
        ),
        "reboot": Implementation(
            ImplState.TESTED,
            "soft: shutdown request, then a fresh start (hard after a timeout); hard: defined "
            "again from the record",
            ("s390x", "x86_64"),
        ),
        "power-off-on": Implementation(
            ImplState.TESTED, "graceful with a timeout, then forced", ("s390x", "x86_64")
        ),
        "pause": Implementation(ImplState.TESTED, "", ("s390x", "x86_64")),
        "suspend": Implementation(
            ImplState.TESTED, "managed save; guest memory survives", ("s390x", "x86_64")
        ),
        "snapshot": Implementation(
            ImplState.TESTED,
            "running/paused guests: block copy; stopped: the disk itself; bootable by a spawn",
            ("s390x", "x86_64"),
        ),
        "console-log": Implementation(
            ImplState.TESTED,
            "early kernel messages captured in the log console",
            ("s390x", "x86_64", "aarch64"),
        ),
        "interactive-console": Implementation(
            ImplState.TESTED, "libvirt console stream, both ways", ("s390x", "x86_64")
        ),
        "vnc": _NOT_YET,
        "spice": Implementation(ImplState.NOT_IMPLEMENTED, "not planned"),
        "inject-networking": Implementation(ImplState.NOT_IMPLEMENTED, "not planned"),
        "attach-volume": Implementation(
            ImplState.TESTED,
            "file or block device, hotplug and persistent; detach waits for DEVICE_REMOVED",
            ("s390x", "x86_64"),
        ),
        "attach-volume-fc": Implementation(
            ImplState.TESTED,
            "tested on synthetic hosts: an IBM Z LPAR's zfcp sysfs (unit_add/unit_remove, three"
            " by-path spellings, a LUN reaching a real s390x guest through a loop device) and an"
            " x86 host's SCSI scan; real FCP channels, SAN timing and multipathd need hardware",
            ("s390x",),
        ),
        "attach-interface": Implementation(
            ImplState.TESTED,
            "libvirt network or host bridge; MAC given or generated",
            ("s390x", "x86_64"),
        ),
        "trigger-crash-dump": Implementation(ImplState.TESTED, "NMI", ("s390x", "x86_64")),
        "watchdog": Implementation(
            ImplState.TESTED,
            "hw_watchdog_action (flavor or image); fired on s390x; on x86_64 the guest sees the "
            "device, the test kernel has no i6300esb driver to arm it",
            ("s390x", "x86_64"),
        ),
        "live-migration": _NOT_YET,
        "secure-execution": _NOT_YET,
    }
)


def feature(key: str) -> Feature:
    """The :class:`Feature` for ``key``; unknown keys raise InvalidInput listing the known."""
    for item in FEATURES:
        if item.key == key:
            return item
    raise InvalidInput("feature", f"unknown feature {key!r}", FEATURE_KEYS)
