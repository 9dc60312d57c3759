"""Tempest's ``[compute-feature-enabled]`` flags, from zcompute's support matrix and the cloud.

One table, ``FLAGS``: each flag names the support-matrix row it follows (its ``s390x`` column's
``zcompute`` state, since the default image is s390x) and, where Tempest's help says the flag
must match a service the cloud runs or an option of its nova.conf, that deployment condition
too. A flag is on only when its row is ``complete`` and its condition holds: ``partial`` and
``unknown`` are off, because Tempest treats an enabled feature as a promise and would report
every gap as a failure rather than a skip. Flags no row covers carry a fixed value and the
reason for it.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the architecture whose column decides (the cloud's default image is ``s390x-test``)
ARCH = "s390x"
#: Nova's own default of [filter_scheduler] enabled_filters (Nova 34), used when nova.conf
#: leaves it unset: Tempest must be told the same list or its scheduler-hint tests misjudge
NOVA_DEFAULT_FILTERS = (
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)


class NovaConf:
    """The options of the cloud's nova.conf that Tempest's flags must agree with.

    A missing file stands for Nova's defaults: the generator also runs against a cloud whose
    configuration it cannot read (another machine, a fake in the tests).
    """

    def __init__(self, text: str = "") -> None:
        # oslo.config's dialect: no interpolation, keys case-sensitive enough for us
        self._ini = configparser.ConfigParser(interpolation=None, strict=False)
        self._ini.read_string(text)

    @classmethod
    def load(cls, path: Path) -> NovaConf:
        try:
            return cls(path.read_text())
        except OSError:
            return cls()

    def get(self, section: str, key: str, default: str) -> str:
        return self._ini.get(section, key, fallback=default).strip()

    def enabled(self, section: str, key: str, default: bool) -> bool:
        value = self.get(section, key, "true" if default else "false")
        return value.lower() in ("true", "1", "yes", "on")

    def listed(self, section: str, key: str, default: tuple[str, ...]) -> list[str]:
        value = self.get(section, key, ",".join(default))
        return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class Deployment:
    """What the cloud runs beside the driver: its nova.conf and the default image's
    properties (a feature the driver has may still need the image to ask for it)."""

    nova: NovaConf
    image: Mapping[str, Any]


Condition = Callable[[Deployment], bool]


def always(_cloud: Deployment) -> bool:
    return True


def _yes(value: Any) -> bool:
    return str(value).lower() in ("yes", "true", "1", "on")


@dataclass(frozen=True)
class Flag:
    """One ``[compute-feature-enabled]`` boolean: the matrix rows it needs complete (all of
    them; none for a fixed value), the deployment condition, and why."""

    name: str
    rows: tuple[str, ...]
    why: str
    condition: Condition = always
    fixed: bool | None = None


FLAGS: tuple[Flag, ...] = (
    # -- moving guests between the two hosts
    Flag("live_migration", ("operation.live-migrate",), "live migration A <-> B"),
    Flag(
        "block_migration_for_live_migration",
        ("operation.live-migrate",),
        "the hosts share no storage: zcompute copies the disks (non-shared migration)",
    ),
    Flag(
        "volume_backed_live_migration",
        ("operation.live-migrate", "storage.block"),
        "memory-only move of a guest whose root is a volume",
    ),
    Flag(
        "cold_migration",
        ("operation.resize",),
        "Nova's cold migration is its resize path with the same flavor",
    ),
    Flag("resize", ("operation.resize",), "resize (flavor_ref -> flavor_ref_alt)"),
    Flag(
        "shelve",
        ("operation.snapshot", "operation.launch"),
        "shelve is a snapshot then a destroy; unshelve is a spawn from that snapshot",
    ),
    Flag(
        "shelve_migrate",
        ("operation.snapshot", "operation.resize"),
        "unshelve onto the other host, then cold-migrate it",
    ),
    Flag(
        "can_migrate_between_any_hosts",
        (),
        "both compute hosts run the same zcompute on the same machine",
        fixed=True,
    ),
    Flag(
        "live_migrate_back_and_forth",
        (),
        "means 'between different nova-compute versions': both hosts run one Nova",
        fixed=False,
    ),
    # -- power and state
    Flag("pause", ("operation.pause", "operation.unpause"), "pause/unpause"),
    Flag("suspend", ("operation.suspend", "operation.resume"), "suspend/resume (managed save)"),
    Flag("rescue", ("operation.rescue",), "legacy rescue"),
    Flag(
        "stable_rescue",
        (),
        "zcompute's rescue is the legacy kind (rescue image first, root disk second); "
        "stable-device rescue (hw_rescue_device) is not implemented",
        fixed=False,
    ),
    Flag("snapshot", ("operation.snapshot",), "image snapshot of a running guest"),
    # -- devices
    Flag(
        "interface_attach",
        ("operation.attach-interface", "operation.detach-interface"),
        "hot-plug of a tap port",
    ),
    Flag("swap_volume", ("operation.swap-volume",), "volume swap (needs Cinder to be tested)"),
    Flag(
        "volume_multiattach",
        ("operation.multiattach-volume",),
        "multi-attach (needs Cinder to be tested)",
    ),
    Flag(
        "attach_encrypted_volume",
        ("operation.encrypted-volume",),
        "LUKS volumes (needs Cinder to be tested)",
    ),
    Flag(
        "ide_bus",
        (),
        "IBM Z has no IDE (nor any PCI-attached legacy) bus: disks are virtio-ccw",
        fixed=False,
    ),
    Flag(
        "vtpm_live_migration",
        ("operation.boot-emulated-tpm", "operation.live-migrate"),
        "a vTPM guest's live migration",
    ),
    # -- consoles: the matrix row and the console service the cloud would have to run
    Flag("console_output", ("console.serial.log",), "os-getConsoleOutput (SCLP console log)"),
    Flag(
        "serial_console",
        ("console.serial.interactive",),
        "needs nova.conf [serial_console] enabled and a nova-serialproxy",
        condition=lambda cloud: cloud.nova.enabled("serial_console", "enabled", False),
    ),
    Flag(
        "vnc_console",
        ("console.vnc",),
        "needs nova.conf [vnc] enabled",
        condition=lambda cloud: cloud.nova.enabled("vnc", "enabled", True),
    ),
    Flag(
        "spice_console",
        ("console.spice",),
        "needs nova.conf [spice] enabled",
        condition=lambda cloud: cloud.nova.enabled("spice", "enabled", False),
    ),
    # -- guest setup
    Flag("config_drive", ("guest.setup.configdrive",), "config drive"),
    Flag(
        "personality",
        ("guest.setup.configdrive",),
        "zcompute writes no file into a disk (guest.setup.inject.file is missing): "
        "personality files reach the guest on the config drive, which is what the API promises",
    ),
    Flag(
        "change_password",
        ("operation.set-admin-password",),
        "set-user-password through the QEMU guest agent, which the default image must ask for "
        "(hw_qemu_guest_agent=yes): without it Nova answers 409",
        condition=lambda cloud: _yes(cloud.image.get("hw_qemu_guest_agent", "no")),
    ),
    Flag(
        "disk_config",
        ("guest.disk.autoconfig",),
        "OS-DCF:diskConfig AUTO means the host grows the guest's file system",
    ),
    Flag(
        "metadata_service",
        (),
        "needs Nova's metadata API in nova.conf enabled_apis (the cloud runs osapi_compute only)",
        condition=lambda cloud: (
            "metadata" in cloud.nova.listed("DEFAULT", "enabled_apis", ("metadata",))
        ),
    ),
    Flag(
        "enable_instance_password",
        (),
        "must equal nova.conf [DEFAULT] enable_instance_password",
        condition=lambda cloud: cloud.nova.enabled("DEFAULT", "enable_instance_password", True),
    ),
    Flag(
        "hostname_fqdn_sanitization",
        (),
        "Nova 34 sanitises host names (the flag is for clouds older than Wallaby)",
        fixed=True,
    ),
    Flag(
        "unified_limits",
        (),
        "must equal nova.conf [quota] driver being the unified limits driver",
        condition=lambda cloud: "UnifiedLimits" in cloud.nova.get("quota", "driver", ""),
    ),
)


def matrix_states(matrix: Mapping[str, Any], arch: str = ARCH) -> dict[str, str]:
    """``{row key: zcompute state}`` of one architecture's column of
    ``zcompute support-matrix --nova --format json``."""
    states: dict[str, str] = {}
    for row in matrix["rows"]:
        column = row.get("columns", {}).get(arch, {})
        states[row["key"]] = str(column.get("zcompute", "unknown"))
    return states


@dataclass(frozen=True)
class Decision:
    flag: Flag
    value: bool
    because: str


def decide(flag: Flag, states: Mapping[str, str], cloud: Deployment) -> Decision:
    if flag.fixed is not None:
        return Decision(flag, flag.fixed, "fixed")
    # a row the matrix does not have counts as unknown: off, and said so
    not_complete = [
        f"{r}={states.get(r, 'absent')}" for r in flag.rows if states.get(r) != "complete"
    ]
    if not_complete:
        return Decision(flag, False, ", ".join(not_complete))
    if not flag.condition(cloud):
        return Decision(flag, False, "not deployed")
    rows = ", ".join(f"{r}=complete" for r in flag.rows) or "deployment"
    return Decision(flag, True, rows)


def decisions(matrix: Mapping[str, Any], cloud: Deployment) -> list[Decision]:
    states = matrix_states(matrix)
    return [decide(flag, states, cloud) for flag in FLAGS]


def scheduler_filters(nova: NovaConf) -> list[str]:
    return nova.listed("filter_scheduler", "enabled_filters", NOVA_DEFAULT_FILTERS)
