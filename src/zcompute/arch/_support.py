"""Support-matrix vocabulary: the features, their statuses, and zcompute's implementation state.

Two dimensions are kept apart on purpose:

* a **claim** (:class:`Claim`) says whether the *platform* can do a feature on an architecture
  (QEMU/libvirt/guest support); each architecture's claims live in its profile module, one place
  per architecture;
* the **implementation** (:data:`IMPLEMENTATION`) says whether *zcompute's driver* does it yet and
  on which architectures that was tested. It is one table, because the driver code is shared.

So "s390x has no VNC" (a claim: missing) never looks like "zcompute has not written snapshot
yet" (an implementation state), and the lead can move a feature from *not implemented* to
*implemented* without touching any profile.

Nobody types "tested": a feature is *tested on* exactly the architectures whose real guests an
end-to-end test boots and exercises it on, as the tests' ``@pytest.mark.feature`` markers say
(:data:`~zcompute.arch._tested.TESTED_ON`, generated from them; a unit test compares).

Most features are driver operations: each public operation of the driver names its feature
(``zcompute.driver._features``) and refuses an architecture whose claim is missing. The others
are **platform facts** (:attr:`Feature.platform_fact`): a device or setting of the guest that
the plan asks the profile for, which refuses there.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType

from zcompute.arch._tested import TESTED_ON
from zcompute.errors import InvalidInput

__all__ = [
    "DECLARED",
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
    """One row of the matrix. ``platform_fact`` (empty for operations) says where the profile
    enforces a feature that is no driver operation but a fact about the guest's platform."""

    key: str
    name: str
    platform_fact: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    status: Status
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Implementation:
    """zcompute's state for one feature; ``tested_on`` lists arches an e2e test covers.

    Declared states are *implemented* or *not implemented*; *tested* (with ``tested_on``) is
    derived from the end-to-end tests (see the module docs).
    """

    state: ImplState
    note: str = ""
    tested_on: tuple[str, ...] = ()


_GRAPHICS = "a device the plan asks for: ArchProfile.graphics()"

FEATURES: tuple[Feature, ...] = (
    Feature("launch", "Launch"),
    Feature("terminate", "Terminate"),
    Feature("get-guest-info", "Get guest info"),
    Feature("reboot", "Reboot"),
    Feature("power-off-on", "Power off / power on"),
    Feature("pause", "Pause / unpause"),
    Feature("suspend", "Suspend / resume"),
    Feature("snapshot", "Snapshot"),
    Feature("rescue", "Rescue / unrescue"),
    Feature("console-log", "Console log"),
    Feature("interactive-console", "Interactive console"),
    Feature("vnc", "VNC console", _GRAPHICS),
    Feature("spice", "SPICE console", _GRAPHICS),
    Feature("inject-networking", "Inject networking"),
    Feature("attach-volume", "Attach / detach volume (local)"),
    Feature("attach-volume-fc", "Attach / detach volume (FC)"),
    Feature("attach-volume-iscsi", "Attach / detach volume (iSCSI, CHAP, LUKS, multiattach)"),
    Feature("attach-interface", "Attach / detach interface"),
    Feature("swap-volume", "Swap an attached volume (block copy)"),
    Feature("device-tags", "Device role tags (device metadata with bus addresses)"),
    Feature("trigger-crash-dump", "Trigger crash dump"),
    Feature("watchdog", "Watchdog", "a device the plan asks for: ArchProfile.watchdog()"),
    Feature(
        "config-drive",
        "Config drive",
        "a disk the plan asks for: ArchProfile.config_drive()",
    ),
    Feature("guest-agent", "Guest agent (hostname, file systems, SSH keys, quiesce, password)"),
    Feature(
        "disk-rate-limit",
        "Disk I/O limits (flavor quota:disk_*)",
        "a disk setting the plan asks for: ArchProfile.require('disk-rate-limit')",
    ),
    Feature(
        "file-backed-memory",
        "File-backed memory",
        "a memory setting the plan asks for: ArchProfile.require('file-backed-memory')",
    ),
    Feature(
        "boot-from-volume",
        "Boot from volume (iSCSI or FC root volume)",
        "a disk the plan asks for: ArchProfile.require('boot-from-volume')",
    ),
    Feature("live-migration", "Live migration"),
    Feature("resize", "Resize / cold migration (same host), confirm, revert"),
    Feature(
        "secure-execution",
        "Secure Execution (IBM Z)",
        "a launch setting the plan asks for: ArchProfile.memballoon_model(secure=True)",
    ),
)

FEATURE_KEYS: tuple[str, ...] = tuple(f.key for f in FEATURES)

_NOT_YET = Implementation(ImplState.NOT_IMPLEMENTED, "driver operation not written yet")
_DONE = ImplState.IMPLEMENTED

# The driver's progress, one line per feature: set IMPLEMENTED when an operation lands (and
# bind it: zcompute.driver._features). Where it was tested comes from the e2e tests' markers.
DECLARED: Mapping[str, Implementation] = MappingProxyType(
    {
        "launch": Implementation(_DONE, "spawn with rollback"),
        "terminate": Implementation(_DONE, "destroy: domain, files, record"),
        "get-guest-info": Implementation(_DONE, "bulk stats"),
        "reboot": Implementation(
            _DONE,
            "soft: shutdown request, then a fresh start (hard after a timeout); hard: defined "
            "again from the record",
        ),
        "power-off-on": Implementation(_DONE, "graceful with a timeout, then forced"),
        "pause": Implementation(_DONE),
        "suspend": Implementation(_DONE, "managed save; guest memory survives"),
        "snapshot": Implementation(
            _DONE,
            "running/paused guests: block copy; stopped: the disk itself; bootable by a spawn",
        ),
        "rescue": Implementation(_DONE),
        "console-log": Implementation(_DONE, "early kernel messages captured in the log console"),
        "interactive-console": Implementation(
            _DONE, "libvirt console stream, both ways; or a raw TCP endpoint (serial_tcp)"
        ),
        "vnc": _NOT_YET,
        "spice": Implementation(ImplState.NOT_IMPLEMENTED, "not planned"),
        "inject-networking": Implementation(ImplState.NOT_IMPLEMENTED, "not planned"),
        "attach-volume": Implementation(
            _DONE, "file or block device, hotplug and persistent; detach waits for DEVICE_REMOVED"
        ),
        "attach-volume-fc": Implementation(
            _DONE,
            "tested on synthetic hosts: an IBM Z LPAR's zfcp sysfs (unit_add/unit_remove, three"
            " by-path spellings, a LUN reaching a real s390x guest through a loop device) and an"
            " x86 host's SCSI scan; real FCP channels, SAN timing and multipathd need hardware",
        ),
        "attach-volume-iscsi": Implementation(
            _DONE,
            "QEMU's own iSCSI initiator (no host login); CHAP and LUKS passphrases in private"
            " libvirt secrets removed with the disk; shareable for multiattach",
        ),
        "attach-interface": Implementation(
            _DONE, "libvirt network or host bridge; MAC given or generated"
        ),
        "swap-volume": Implementation(
            _DONE,
            "block copy onto a volume of the same size, then pivot: a file or block device the "
            "host has, or a Cinder volume zcompute connects as attach does (an FC LUN the host "
            "connects, an iSCSI LUN QEMU logs in to, CHAP and LUKS secrets); the old volume's "
            "connection and secrets go once the guest left it",
        ),
        "device-tags": Implementation(
            _DONE,
            "tagged NICs and disks in the config drive's devices list, at the bus address "
            "libvirt gave them (read back after define)",
        ),
        "trigger-crash-dump": Implementation(_DONE, "NMI"),
        "watchdog": Implementation(
            _DONE,
            "hw_watchdog_action (flavor or image); fired on s390x; on x86_64 the guest sees the "
            "device, the test kernel has no i6300esb driver to arm it",
        ),
        "config-drive": Implementation(
            _DONE,
            "OpenStack format (meta data, user data, keys, NICs by MAC) on a read-only disk, "
            "read by cloud-init; goes with the instance",
        ),
        "guest-agent": Implementation(
            _DONE,
            "hw_qemu_guest_agent=yes: a virtio channel; hostname, file systems, SSH keys; "
            "freeze/thaw (also around a snapshot), set a user's password",
        ),
        "disk-rate-limit": Implementation(
            _DONE,
            "the flavor's six quota:disk_* specs as <iotune> on root, ephemeral, swap and config "
            "drive disks (as Nova); volumes are not limited",
        ),
        "boot-from-volume": Implementation(
            _DONE,
            "the root volume is the first disk (boot order 1), connected before the guest is "
            "defined; the image says what it holds (a volume image, or a kernel to boot it)",
        ),
        "file-backed-memory": Implementation(
            _DONE,
            "file_backed_memory_mib: a shared file mapping in qemu.conf's memory_backing_dir",
        ),
        "live-migration": Implementation(
            _DONE,
            "live (memory and the guest's own disks copied while it runs) or offline, between "
            "zcompute hosts; abort, timeout, force to complete (post-copy, else paused)",
        ),
        "resize": Implementation(
            _DONE,
            "powered off; old disks, flavor and definition kept until confirmed (revert "
            "restores them); root and ephemeral disks grow, never shrink; this host only",
        ),
        "secure-execution": _NOT_YET,
    }
)


def _implementation(key: str) -> Implementation:
    declared = DECLARED[key]
    tested_on = TESTED_ON.get(key, ())
    if not tested_on:
        return declared
    return dataclasses.replace(declared, state=ImplState.TESTED, tested_on=tested_on)


#: Every feature's implementation state: declared, and *tested* where an e2e test covers it.
IMPLEMENTATION: Mapping[str, Implementation] = MappingProxyType(
    {key: _implementation(key) for key in FEATURE_KEYS}
)


def feature(key: str) -> Feature:
    """The :class:`Feature` for ``key``; unknown keys raise InvalidInput listing the known."""
    for item in FEATURES:
        if item.key == key:
            return item
    raise InvalidInput("feature", f"unknown feature {key!r}", FEATURE_KEYS)
