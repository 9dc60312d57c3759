"""The Fibre Channel volume connector (zfcp on s390x, SCSI host scan on PCI hosts)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from zcompute.errors import ConfigError, FeatureUnsupported, InvalidInput, Timeout, VolumeError
from zcompute.volumes._connection_info import FcConnectionInfo, parse_connection_info
from zcompute.volumes._fc_arch import FcArchStrategy, FcPath, HbaAddress, strategy_for
from zcompute.volumes._model import ConnectedVolume, ZfcpUnit
from zcompute.volumes._sysfs import FcHba, HostFs, discover_fc_hbas

SYS_BLOCK = "/sys/block"
_T = TypeVar("_T")


def fsync_block_device(device: Path) -> None:
    """Write the device's dirty buffers through to storage, as ``blockdev --flushbufs`` would."""
    fd = os.open(device, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_multipath_map(name: str) -> None:
    """Remove a device-mapper multipath map after flushing it (``multipath -f``)."""
    try:
        subprocess.run(["multipath", "-f", name], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise VolumeError(f"multipath -f {name} failed: {err}") from err


class FibreChannelConnector:
    """Attach FC SAN LUNs as local block devices; one instance per host.

    ``arch`` selects the behaviour (``s390x``: zfcp; ``x86_64``/``aarch64``: SCSI scan);
    ``root`` is where the host's ``/sys`` and ``/dev`` are (``/`` in production).
    Waits poll every ``poll_interval`` seconds and repeat the rescan every
    ``rescan_interval`` seconds; the by-path link, and then the multipath map, each get
    ``timeout`` seconds. ``flush_device`` and ``remove_multipath_map`` are the two
    operations that are not sysfs writes; tests pass versions acting on their tree.
    Calls on one instance are serialised, so concurrent attaches never race on sysfs.
    """

    def __init__(
        self,
        *,
        arch: str,
        root: Path | str = "/",
        use_multipath: bool = False,
        timeout: float = 30.0,
        poll_interval: float = 0.5,
        rescan_interval: float = 2.0,
        host_name: str | None = None,
        flush_device: Callable[[Path], None] = fsync_block_device,
        remove_multipath_map: Callable[[str], None] = flush_multipath_map,
    ) -> None:
        strategy = strategy_for(arch)
        if strategy is None:
            raise FeatureUnsupported(
                "Fibre Channel volumes", arch, "supported: s390x, x86_64, aarch64"
            )
        for name, value in (
            ("timeout", timeout),
            ("poll_interval", poll_interval),
            ("rescan_interval", rescan_interval),
        ):
            if not value > 0:
                raise ConfigError(f"fc.{name}", f"{value!r} is not positive", "seconds > 0")
        self.arch = arch
        self.use_multipath = use_multipath
        self._strategy: FcArchStrategy = strategy
        self._fs = HostFs(root)
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._rescan_interval = rescan_interval
        self._host_name = host_name or socket.gethostname()
        self._flush_device = flush_device
        self._remove_multipath_map = remove_multipath_map
        self._lock = threading.Lock()

    # -- the VolumeConnector interface ------------------------------------------------

    def initiator_properties(self) -> dict[str, Any]:
        """Initiator WWPNs and WWNNs of the online HBAs, host name, platform, OS type, multipath.

        Like os-brick, ``wwpns``/``wwnns`` are left out when no HBA is online, so the
        storage back end reports a missing initiator instead of mapping to nothing.
        """
        hbas, _ = discover_fc_hbas(self._fs)
        online = [hba for hba in hbas if hba.online]
        props: dict[str, Any] = {
            "host": self._host_name,
            "platform": self.arch,
            "os_type": "linux",
            "multipath": self.use_multipath,
        }
        if online:
            # One entry per HBA in both lists, so wwpns[i] and wwnns[i] belong together.
            props["wwpns"] = [hba.port_name for hba in online]
            props["wwnns"] = [hba.node_name for hba in online]
        return props

    def candidate_paths(self, connection_info: Mapping[str, Any]) -> list[str]:
        """The by-path links (host paths) the volume may appear under, in search order."""
        return _unique(
            c
            for path in self._plan(parse_connection_info(connection_info))
            for c in path.candidates
        )

    def connect(self, connection_info: Mapping[str, Any]) -> ConnectedVolume:
        """Configure the LUN, wait for its device and return it; undo everything on failure.

        On s390x a failure removes every unit this call added (the kernel drops their
        SCSI disks with them). A SCSI host scan configures nothing, so on PCI hosts
        there is nothing to undo; disks the scan found stay, as after a boot-time scan.
        """
        info = parse_connection_info(connection_info)
        multipath = self.use_multipath if info.multipath is None else info.multipath
        with self._lock:
            paths = self._plan(info)
            added: list[ZfcpUnit] = []
            try:
                link = self._wait_for_link(info, paths, added)
                return self._describe(info, link, added, multipath)
            except BaseException as err:
                failures = self._strategy.remove_units(self._fs, added)
                if failures:
                    err.add_note("rollback left units configured: " + "; ".join(failures))
                raise

    def disconnect(self, connection_info: Mapping[str, Any], connected: ConnectedVolume) -> None:
        """Flush, drop the multipath map, delete the SCSI disks, remove the units we added."""
        info = parse_connection_info(connection_info)
        if info.volume_id != connected.volume_id:
            raise InvalidInput(
                "connection_info.data.volume_id",
                f"{info.volume_id!r} does not match the connected volume {connected.volume_id!r}",
            )
        with self._lock:
            self._flush(Path(connected.device_path))
            devices = list(connected.path_devices)
            if connected.multipath_device is not None:
                devices = _unique([*devices, *self._slaves(connected.multipath_device)])
                self._drop_map(connected.multipath_device)
            failures = self._delete_scsi_devices(devices)
            failures += self._strategy.remove_units(self._fs, connected.configured_units)
        if failures:
            raise VolumeError(
                f"volume {connected.volume_id}: detach incomplete: " + "; ".join(failures)
            )

    # -- connect steps ----------------------------------------------------------------

    def _plan(self, info: FcConnectionInfo) -> list[FcPath]:
        """Every usable HBA x zoned target, with its candidate links; no sysfs writes."""
        hbas, problems = discover_fc_hbas(self._fs)
        usable: list[tuple[FcHba, HbaAddress]] = []
        for hba in hbas:
            address = self._strategy.address(hba)
            if isinstance(address, str):
                problems.append(f"{hba.host}: {address}")
            else:
                usable.append((hba, address))
        if not usable:
            found = "; ".join(problems) or f"nothing under {self._fs.path('/sys/class/fc_host')}"
            raise VolumeError(f"no usable Fibre Channel HBA on this {self.arch} host ({found})")
        paths = [
            FcPath(hba, address, target, self._strategy.candidate_paths(address, target))
            for hba, address in usable
            for target in info.targets_for(hba.port_name)
        ]
        if not paths:
            ports = ", ".join(hba.port_name for hba, _ in usable)
            raise VolumeError(
                f"volume {info.volume_id}: initiator_target_map zones no target to this "
                f"host's HBAs ({ports})"
            )
        return paths

    def _wait_for_link(
        self, info: FcConnectionInfo, paths: Sequence[FcPath], added: list[ZfcpUnit]
    ) -> str:
        """Rescan until the first candidate link exists; return it (host path)."""
        candidates = _unique(c for path in paths for c in path.candidates)
        deadline = time.monotonic() + self._timeout
        next_rescan = time.monotonic()  # check first: the LUN may already be there
        failures: list[str] = []
        while True:
            found = next((c for c in candidates if self._fs.exists(c)), None)
            if found is not None:
                return found
            now = time.monotonic()
            if now >= deadline:
                raise Timeout(self._not_found_message(info, paths, failures))
            if now >= next_rescan:
                failures = self._strategy.make_visible(
                    self._fs, paths, added, info.enable_wildcard_scan
                )
                next_rescan = now + self._rescan_interval
                continue
            time.sleep(min(self._poll_interval, max(deadline - now, 0.0)))

    def _describe(
        self, info: FcConnectionInfo, link: str, added: list[ZfcpUnit], multipath: bool
    ) -> ConnectedVolume:
        device = self._fs.resolve(link)
        holder = self._wait_for_multipath(info, device.name) if multipath else None
        return ConnectedVolume(
            volume_id=info.volume_id,
            device_path=str(self._fs.resolve(f"/dev/{holder}") if holder else device),
            by_path=str(self._fs.path(link)),
            path_devices=tuple(self._slaves(holder) if holder else ()) or (device.name,),
            multipath_device=holder,
            configured_units=tuple(added),
        )

    def _wait_for_multipath(self, info: FcConnectionInfo, device: str) -> str:
        """The dm device listing ``device`` among its slaves, once its /dev node exists."""
        deadline = time.monotonic() + self._timeout
        while True:
            for slave in self._fs.glob(SYS_BLOCK, f"dm-*/slaves/{device}"):
                holder = slave.parent.parent.name
                if self._fs.exists(f"/dev/{holder}"):
                    return holder
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"volume {info.volume_id}: no multipath device holds {device} after "
                    f"{self._timeout:g}s (is multipathd running?)"
                )
            time.sleep(self._poll_interval)

    def _not_found_message(
        self, info: FcConnectionInfo, paths: Sequence[FcPath], failures: Sequence[str]
    ) -> str:
        targets = ", ".join(f"0x{t.wwpn} LUN {t.lun}" for t in _unique(p.target for p in paths))
        hbas = ", ".join(_unique(f"{p.hba.host} ({p.address.bus_address})" for p in paths))
        text = (
            f"volume {info.volume_id}: no device for target {targets} through {hbas} "
            f"within {self._timeout:g}s; looked for {paths[0].candidates[0]} and "
            f"{sum(len(p.candidates) for p in paths) - 1} other by-path links"
        )
        return text + (f"; sysfs errors: {'; '.join(failures)}" if failures else "")

    # -- disconnect steps -------------------------------------------------------------

    def _flush(self, device: Path) -> None:
        if not device.exists():
            return
        try:
            self._flush_device(device)
        except OSError as err:
            raise VolumeError(f"flushing {device} failed, nothing was removed: {err}") from err

    def _drop_map(self, holder: str) -> None:
        try:
            self._remove_multipath_map(holder)
        except OSError as err:
            raise VolumeError(
                f"removing multipath map {holder} failed, its paths were kept: {err}"
            ) from err

    def _slaves(self, holder: str) -> list[str]:
        return [p.name for p in self._fs.glob(f"{SYS_BLOCK}/{holder}/slaves", "*")]

    def _delete_scsi_devices(self, devices: Sequence[str]) -> list[str]:
        failures = []
        for name in devices:
            attribute = f"{SYS_BLOCK}/{name}/device/delete"
            if not self._fs.exists(attribute):
                continue  # already gone (or not a SCSI disk, e.g. a loop device in a test)
            try:
                self._fs.write(attribute, "1")
            except OSError as err:
                failures.append(f"deleting {name}: {err.strerror or err}")
        return failures


def _unique(items: Iterable[_T]) -> list[_T]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))
