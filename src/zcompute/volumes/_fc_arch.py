"""What differs between architectures for FC: how an HBA is addressed and how a LUN appears.

On s390x an FC LUN is configured explicitly through the zfcp driver (``port_rescan``,
``unit_add``, ``unit_remove`` under ``/sys/bus/ccw/drivers/zfcp/<bus-id>``) and its
by-path links start with the FCP device's CCW bus-ID. Elsewhere (PCI HBAs) the LUN
appears after a SCSI host scan and its links start with the HBA's PCI address. The
connector picks one strategy at construction and stays architecture-neutral.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from zcompute.arch import get_profile
from zcompute.errors import InvalidInput
from zcompute.volumes._connection_info import FcTarget
from zcompute.volumes._model import ZfcpUnit
from zcompute.volumes._names import (
    fcp_lun,
    pci_by_path_name,
    validate_ccw_bus_id,
    zfcp_by_path_names,
)
from zcompute.volumes._sysfs import FcHba, HostFs, device_parent_of_host

ZFCP_DRIVER = "/sys/bus/ccw/drivers/zfcp"
FC_REMOTE_PORTS = "/sys/class/fc_remote_ports"
SCSI_HOST_CLASS = "/sys/class/scsi_host"


@dataclass(frozen=True)
class HbaAddress:
    """Where an HBA sits: CCW bus-ID (s390x) or PCI address with optional platform prefix."""

    bus_address: str
    platform: str | None = None


@dataclass(frozen=True)
class FcPath:
    """One HBA-to-target path for the volume's LUN and the by-path links it may produce."""

    hba: FcHba
    address: HbaAddress
    target: FcTarget
    candidates: tuple[str, ...]


class FcArchStrategy(Protocol):
    """The per-architecture half of the FC connector."""

    arch: str

    def address(self, hba: FcHba) -> HbaAddress | str:
        """The HBA's address, or a reason why this HBA cannot be used."""
        ...

    def candidate_paths(self, address: HbaAddress, target: FcTarget) -> tuple[str, ...]:
        """Every by-path link (host path) under which the LUN may appear on this path."""
        ...

    def make_visible(
        self, fs: HostFs, paths: Sequence[FcPath], added: list[ZfcpUnit], wildcard_scan: bool
    ) -> list[str]:
        """Ask the kernel for the LUN on every path; record units added; return failures.

        ``wildcard_scan`` allows scanning all channels and targets of an HBA when sysfs
        shows none of the target ports (Cinder's ``enable_wildcard_scan``).
        """
        ...

    def remove_units(self, fs: HostFs, units: Sequence[ZfcpUnit]) -> list[str]:
        """Undo :meth:`make_visible` for ``units``; return failures."""
        ...


class ZfcpStrategy:
    """s390x: FCP devices on the channel subsystem, LUNs configured through zfcp."""

    arch = "s390x"

    def address(self, hba: FcHba) -> HbaAddress | str:
        if not hba.online:
            return f"port_state is {hba.port_state!r}, not 'Online'"
        split = device_parent_of_host(hba.device_path)
        if split is None:
            return f"no SCSI host in device path {hba.device_path}"
        parts, index = split
        try:
            return HbaAddress(validate_ccw_bus_id(parts[index - 1]))
        except InvalidInput:
            return f"no FCP device bus-ID in device path {hba.device_path}"

    def candidate_paths(self, address: HbaAddress, target: FcTarget) -> tuple[str, ...]:
        return zfcp_by_path_names(address.bus_address, target.wwpn, target.lun)

    def make_visible(
        self, fs: HostFs, paths: Sequence[FcPath], added: list[ZfcpUnit], wildcard_scan: bool
    ) -> list[str]:
        del wildcard_scan  # zfcp adds exactly the units asked for; there is no wildcard
        failures: list[str] = []
        rescanned: set[str] = set()
        for unit in dict.fromkeys(_unit_of(path) for path in paths):
            if unit in added:
                continue
            port = _port_dir(unit)
            if not fs.exists(port) and unit.bus_id not in rescanned:
                # The target port is not known to zfcp yet: a synchronous port scan finds it.
                rescanned.add(unit.bus_id)
                _write(fs, f"{ZFCP_DRIVER}/{unit.bus_id}/port_rescan", "1", failures)
            if not fs.exists(port):
                failures.append(f"{port}: target port not found by zfcp")
                continue
            if fs.exists(f"{port}/{unit.fcp_lun}"):
                continue  # configured before us (zfcp.conf, auto LUN scan): not ours to remove
            if _write(fs, f"{port}/unit_add", unit.fcp_lun, failures):
                added.append(unit)
        return failures

    def remove_units(self, fs: HostFs, units: Sequence[ZfcpUnit]) -> list[str]:
        failures: list[str] = []
        for unit in units:
            attribute = f"{_port_dir(unit)}/unit_remove"
            # A vanished port took its units with it, and a unit removed before (a disconnect
            # repeated after an interruption) is gone: zfcp refuses to remove it again.
            if fs.exists(f"{_port_dir(unit)}/{unit.fcp_lun}"):
                _write(fs, attribute, unit.fcp_lun, failures)
        return failures


class ScsiScanStrategy:
    """PCI HBAs (x86_64, aarch64): LUNs appear after a scan of the SCSI host."""

    def __init__(self, arch: str) -> None:
        self.arch = arch

    def address(self, hba: FcHba) -> HbaAddress | str:
        split = device_parent_of_host(hba.device_path)
        if split is None or split[1] < 2:
            return f"no PCI address in device path {hba.device_path}"
        parts, index = split
        platform = None
        # A PCI root below /sys/devices/platform/<...> gets udev's platform-<name> prefix.
        if len(parts) > 3 and parts[3] == "platform":
            for position in range(index):
                if parts[position].startswith("pci"):
                    platform = f"platform-{parts[position - 1]}"
        return HbaAddress(parts[index - 1], platform)

    def candidate_paths(self, address: HbaAddress, target: FcTarget) -> tuple[str, ...]:
        return (pci_by_path_name(address.bus_address, target.wwpn, target.lun, address.platform),)

    def make_visible(
        self, fs: HostFs, paths: Sequence[FcPath], added: list[ZfcpUnit], wildcard_scan: bool
    ) -> list[str]:
        del added  # a SCSI scan configures nothing that needs undoing
        failures: list[str] = []
        narrow = [(path, ctl) for path in paths if (ctl := _find_channel_target(fs, path))]
        if narrow:
            scans = [(path.hba.host, f"{c} {t} {path.target.lun}") for path, (c, t) in narrow]
        elif wildcard_scan:
            # No HBA sees a target port in sysfs (some arrays are not auto-discovered):
            # scan every channel and target for the LUN, as the connection info allows.
            scans = [(p.hba.host, f"- - {p.target.lun}") for p in paths]
        else:
            scans = []
        for host, command in dict.fromkeys(scans):
            _write(fs, f"{SCSI_HOST_CLASS}/{host}/scan", command, failures)
        return failures

    def remove_units(self, fs: HostFs, units: Sequence[ZfcpUnit]) -> list[str]:
        return []


_TRANSPORTS = ("zfcp", "scsi-scan")


def strategy_for(arch: str) -> FcArchStrategy | None:
    """The strategy the architecture profile names for FC, or None where FC is not supported.

    How LUNs are configured is a platform rule (zfcp units on IBM Z, a SCSI host scan
    elsewhere), so the profile decides; this module only implements both ways.
    """
    transport = get_profile(arch).fc_transport
    if transport is None:
        return None
    if transport == "zfcp":
        return ZfcpStrategy()
    if transport == "scsi-scan":
        return ScsiScanStrategy(arch)
    raise InvalidInput("fc_transport", f"unknown transport {transport!r}", _TRANSPORTS)


def _unit_of(path: FcPath) -> ZfcpUnit:
    return ZfcpUnit(path.address.bus_address, "0x" + path.target.wwpn, fcp_lun(path.target.lun))


def _port_dir(unit: ZfcpUnit) -> str:
    return f"{ZFCP_DRIVER}/{unit.bus_id}/{unit.wwpn}"


def _find_channel_target(fs: HostFs, path: FcPath) -> tuple[str, str] | None:
    """Channel and SCSI target id of the remote port ``path.target`` on ``path.hba``."""
    number = path.hba.host_number
    for rport in fs.glob(FC_REMOTE_PORTS, f"rport-{number}:*"):
        try:
            port_name = (rport / "port_name").read_text(encoding="ascii").strip().lower()
            target_id = (rport / "scsi_target_id").read_text(encoding="ascii").strip()
        except OSError:
            continue
        # rport-<host>:<channel>-<n>; target id -1 means the port is not a SCSI target.
        if port_name == "0x" + path.target.wwpn and target_id != "-1":
            channel = rport.name.split(":", 1)[1].split("-", 1)[0]
            return channel, target_id
    return None


def _write(fs: HostFs, attribute: str, value: str, failures: list[str]) -> bool:
    try:
        fs.write(attribute, value)
    except OSError as err:
        if err.errno == errno.EEXIST:
            return False  # zfcp: the unit exists already; it is not ours to remove
        failures.append(f"writing {value!r} to {attribute}: {err.strerror or err}")
        return False
    return True
