"""Synthetic FC hosts for the connector tests: real files, directories and symlinks.

An s390x LPAR is modelled on a real z16 snapshot (ghw ``linux-s390x-snapshot``): FCP
devices ``0.0.8000``/``0.0.8100`` on subchannels ``0.0.0106``/``0.0.0107``, SCSI hosts
``host0``/``host1``, remote ports ``rport-H:0-T``, SCSI devices ``H:0:T:L`` whose
``block/sdX`` is linked from ``/sys/block``. An x86 host has two PCI HBAs.

:class:`KernelSim` stands in for the kernel and udev: a thread watches the sysfs
attributes the connector writes (``port_rescan``, ``unit_add``, ``unit_remove``,
``scan``, ``delete``), logs each write and then creates or removes the SCSI disk, its
``/dev`` node (a plain file: creating block devices needs root and loop devices),
the by-path links and, with multipath, a ``dm-N`` holding all paths of a LUN.
Everything it computes (FCP LUN <-> SCSI LUN, udev's LUN spelling) is implemented
here independently of zcompute, from the kernel's and udev's algorithms.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


def scsilun_to_int(fcp_lun: str) -> int:
    """The kernel's scsilun_to_int: 8 LUN bytes -> Linux LUN number (levels byte-swapped)."""
    raw = bytes.fromhex(fcp_lun[2:])
    value = 0
    for i in range(0, 8, 2):
        value |= ((raw[i] << 8) | raw[i + 1]) << (i * 8)
    return value


def int_to_scsilun(lun: int) -> str:
    """The kernel's int_to_scsilun, as 0x + 16 hex digits."""
    raw = bytearray(8)
    for i in range(0, 8, 2):
        raw[i] = (lun >> 8) & 0xFF
        raw[i + 1] = lun & 0xFF
        lun >>= 16
    return "0x" + raw.hex()


def udev_lun(lun: int) -> str:
    """systemd path_id's format_lun_number."""
    if lun < 256:
        return str(lun)
    return f"0x{lun & 0xFFFF:04x}{(lun >> 16) & 0xFFFF:04x}00000000"


def wait_for(condition: Callable[[], object], timeout: float = 1.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _link(link: Path, target: Path) -> None:
    """A relative symlink, as sysfs and udev make them."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))


@dataclass
class Hba:
    host: int
    port_name: str  # 16 hex digits
    node_name: str
    device_dir: str  # host path of the adapter device, e.g. /sys/devices/css0/0.0.0106/0.0.8000
    port_state: str = "Online"
    bus_id: str = ""  # CCW bus-ID on s390x, PCI address on x86

    def scsi_host_dir(self) -> str:
        return f"{self.device_dir}/host{self.host}"


@dataclass
class Disk:
    name: str
    hba: Hba
    target_wwpn: str
    target_index: int
    scsi_lun: int
    scsi_dir: Path
    links: list[Path] = field(default_factory=list)


@dataclass
class HostTree:
    """A host's /sys and /dev under ``root``, plus the SAN it is cabled to."""

    root: Path
    arch: str
    hbas: list[Hba]
    # target WWPN -> FCP LUNs (s390x) or Linux LUN numbers as str (x86) it exposes
    exposed: dict[str, set[str]]
    # which (host number, target WWPN) pairs are zoned together
    zoning: set[tuple[int, str]]
    udev_flavor: str = "rhel"  # s390x: "rhel" (zfcp form) or "ubuntu" (fc form)
    multipath: bool = False
    disks: dict[str, Disk] = field(default_factory=dict)
    dm_members: dict[str, list[str]] = field(default_factory=dict)  # LUN key -> dm name

    def p(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def zoned_targets(self, hba: Hba) -> list[str]:
        return [wwpn for wwpn in self.exposed if (hba.host, wwpn) in self.zoning]

    def by_path(self, name: str) -> Path:
        return self.p("/dev/disk/by-path") / name


def s390x_lpar(
    root: Path,
    *,
    targets: dict[str, set[str]],
    udev_flavor: str = "rhel",
    ports_known: bool = True,
    multipath: bool = False,
    zoning: set[tuple[int, str]] | None = None,
    fcp_devices: list[tuple[str, str]] | None = None,
) -> HostTree:
    """Two online FCP devices (0.0.8000, 0.0.8100) and one with the link down (0.0.8200).

    ``fcp_devices`` replaces them with online devices given as (subchannel, bus-ID).
    """
    if fcp_devices is None:
        hbas = [
            Hba(0, "c05076ffe680a960", "c05076ffe6800000", "/sys/devices/css0/0.0.0106/0.0.8000"),
            Hba(1, "c05076ffe680a961", "c05076ffe6800000", "/sys/devices/css0/0.0.0107/0.0.8100"),
            Hba(
                2,
                "c05076ffe680a962",
                "c05076ffe6800000",
                "/sys/devices/css0/0.0.0108/0.0.8200",
                "Linkdown",
            ),
        ]
    else:
        hbas = [
            Hba(n, f"c05076ffe680b{n:03x}", "c05076ffe6800000", f"/sys/devices/css0/{sch}/{bus}")
            for n, (sch, bus) in enumerate(fcp_devices)
        ]
    for hba in hbas:
        hba.bus_id = hba.device_dir.rsplit("/", 1)[1]
    all_pairs = {(h.host, w) for h in hbas for w in targets}
    tree = HostTree(root, "s390x", hbas, targets, zoning or all_pairs, udev_flavor, multipath)
    for hba in hbas:
        _fc_host(tree, hba)
        device = tree.p(hba.device_dir)
        _write(device / "port_rescan", "")
        _link(tree.p(f"/sys/bus/ccw/drivers/zfcp/{hba.bus_id}"), device)
        if ports_known and hba.port_state == "Online":
            for wwpn in tree.zoned_targets(hba):
                _zfcp_port(tree, hba, wwpn)
    tree.p("/dev/disk/by-path").mkdir(parents=True, exist_ok=True)
    return tree


def x86_host(
    root: Path,
    *,
    targets: dict[str, set[str]],
    multipath: bool = False,
    rports_visible: bool = True,
) -> HostTree:
    """Two HBAs at PCI 0000:05:00.2 (host5) and 0000:05:00.3 (host6), both zoned to all targets."""
    hbas = [
        Hba(
            5,
            "50014380242b9750",
            "50014380242b9700",
            "/sys/devices/pci0000:00/0000:00:03.0/0000:05:00.2",
        ),
        Hba(
            6,
            "50014380242b9751",
            "50014380242b9700",
            "/sys/devices/pci0000:00/0000:00:03.0/0000:05:00.3",
        ),
    ]
    for hba in hbas:
        hba.bus_id = hba.device_dir.rsplit("/", 1)[1]
    pairs = {(h.host, w) for h in hbas for w in targets}
    tree = HostTree(root, "x86_64", hbas, targets, pairs, multipath=multipath)
    for hba in hbas:
        _fc_host(tree, hba)
        host_dir = tree.p(hba.scsi_host_dir())
        _write(host_dir / f"scsi_host/host{hba.host}/scan", "")
        _link(
            tree.p(f"/sys/class/scsi_host/host{hba.host}"), host_dir / f"scsi_host/host{hba.host}"
        )
        for index, wwpn in enumerate(tree.zoned_targets(hba)):
            name = f"rport-{hba.host}:0-{index}"
            rport = host_dir / name / "fc_remote_ports" / name
            _write(rport / "port_name", f"0x{wwpn}\n")
            _write(rport / "scsi_target_id", f"{index if rports_visible else -1}\n")
            _link(tree.p(f"/sys/class/fc_remote_ports/{name}"), rport)
    tree.p("/dev/disk/by-path").mkdir(parents=True, exist_ok=True)
    return tree


def _fc_host(tree: HostTree, hba: Hba) -> None:
    fc_host = tree.p(hba.scsi_host_dir()) / "fc_host" / f"host{hba.host}"
    _write(fc_host / "port_name", f"0x{hba.port_name}\n")
    _write(fc_host / "node_name", f"0x{hba.node_name}\n")
    _write(fc_host / "port_state", f"{hba.port_state}\n")
    _link(tree.p(f"/sys/class/fc_host/host{hba.host}"), fc_host)


def _zfcp_port(tree: HostTree, hba: Hba, wwpn: str) -> None:
    port = tree.p(f"/sys/bus/ccw/drivers/zfcp/{hba.bus_id}/0x{wwpn}")
    _write(port / "unit_add", "")
    _write(port / "unit_remove", "")


def _key(disk: Disk) -> tuple[int, str, int]:
    return disk.hba.host, disk.target_wwpn, disk.scsi_lun


class KernelSim:
    """Thread acting as kernel + udev on a :class:`HostTree`; use as a context manager."""

    def __init__(
        self,
        tree: HostTree,
        *,
        appear_delay: float = 0.0,
        dm_delay: float = 0.0,
        device_target: Path | Mapping[int, Path] | None = None,
    ) -> None:
        """``device_target``: make each /dev/sdX a symlink to this real file or block device
        (e.g. a loop device in an end-to-end test) instead of a plain file; a mapping gives
        each SCSI LUN number its own (LUNs it does not name get a plain file)."""
        self.tree = tree
        self.device_target = device_target
        self.appear_delay = appear_delay
        self.dm_delay = dm_delay
        self._writes: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pending: list[tuple[float, Disk]] = []
        self._pending_dm: list[tuple[float, Disk]] = []
        self._lock = threading.RLock()  # the tree is shared with the test's own hooks
        self._disk_count = 0
        self.errors: list[BaseException] = []

    def __enter__(self) -> KernelSim:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.errors and kind is None:
            raise self.errors[0]

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Every write so far, including any the thread has not handled yet: a test asks right
        after the code under test wrote, and the answer must not depend on the thread's timing
        (nor on whether the simulation still runs)."""
        with self._lock:
            self._step()
            return list(self._writes)

    def writes_to(self, suffix: str) -> list[tuple[str, str]]:
        """Writes to paths ending in ``suffix``, including any the thread has not handled yet."""
        return [(path, value) for path, value in self.writes if path.endswith(suffix)]

    def values_written(self, host_path: str) -> list[str]:
        """Values written to a host path, followed through the tree's symlinks."""
        real = "/" + self.tree.p(host_path).resolve().relative_to(self.tree.root).as_posix()
        return [value for path, value in self.writes if path == real]

    # -- the watch loop -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except BaseException as err:  # surfaced by __exit__
                self.errors.append(err)
                return
            time.sleep(0.002)

    def step(self) -> None:
        """Handle every attribute written since the last step (callable without the thread)."""
        with self._lock:
            self._step()

    def _step(self) -> None:
        # Fixed-depth patterns: "**" would loop through block/sdX/device symlinks.
        root = self.tree.root
        # Deletes first: a connector writes them before unit_remove, as the kernel wants.
        for disk in list(self.tree.disks.values()):
            if self._consume(disk.scsi_dir / "delete") == "1":
                self._remove_disk(disk)
        for attribute in sorted(root.glob("sys/devices/css0/*/*/port_rescan")):
            if self._consume(attribute) == "1":
                self._port_rescan(attribute.parent)
        for attribute in sorted(root.glob("sys/devices/css0/*/*/0x*/unit_add")):
            if value := self._consume(attribute):
                self._unit_add(attribute.parent, value)
        for attribute in sorted(root.glob("sys/devices/css0/*/*/0x*/unit_remove")):
            if value := self._consume(attribute):
                self._unit_remove(attribute.parent, value)
        for attribute in sorted(root.glob("sys/devices/pci*/*/*/host*/scsi_host/host*/scan")):
            if value := self._consume(attribute):
                self._scan(attribute, value)
        self._materialise()

    def _consume(self, attribute: Path) -> str:
        """Read a written attribute and clear it, like a kernel store() consuming the write."""
        try:
            value = attribute.read_text().strip()
        except (FileNotFoundError, IsADirectoryError):
            return ""
        if value:
            attribute.write_text("")
            self._writes.append(("/" + attribute.relative_to(self.tree.root).as_posix(), value))
        return value

    # -- zfcp ---------------------------------------------------------------------------

    def _hba_of_port(self, port: Path) -> Hba:
        bus_id = port.parent.name
        return next(h for h in self.tree.hbas if h.bus_id == bus_id)

    def _port_rescan(self, device: Path) -> None:
        hba = next(h for h in self.tree.hbas if self.tree.p(h.device_dir) == device)
        if hba.port_state == "Online":
            for wwpn in self.tree.zoned_targets(hba):
                if not (device / f"0x{wwpn}").exists():
                    _zfcp_port(self.tree, hba, wwpn)

    def _unit_add(self, port: Path, fcp_lun: str) -> None:
        wwpn = port.name[2:]
        if (port / fcp_lun).exists():
            return  # the kernel refuses a second unit_add (EEXIST)
        (port / fcp_lun).mkdir()
        if fcp_lun not in self.tree.exposed.get(wwpn, set()):
            return  # zfcp registers the unit, but no SCSI disk ever shows up behind it
        self._queue_disk(self._hba_of_port(port), wwpn, scsilun_to_int(fcp_lun))

    def _unit_remove(self, port: Path, fcp_lun: str) -> None:
        unit = port / fcp_lun
        if unit.is_dir():
            unit.rmdir()
        hba = self._hba_of_port(port)
        lun = scsilun_to_int(fcp_lun)
        key = (hba.host, port.name[2:], lun)
        self._pending = [p for p in self._pending if _key(p[1]) != key]
        for disk in list(self.tree.disks.values()):
            if _key(disk) == key:
                self._remove_disk(disk)

    # -- SCSI scan (x86) ----------------------------------------------------------------

    def _scan(self, attribute: Path, command: str) -> None:
        host = int(attribute.parent.name[4:])
        hba = next(h for h in self.tree.hbas if h.host == host)
        _channel, target, lun = command.split()
        for index, wwpn in enumerate(self.tree.zoned_targets(hba)):
            if target in ("-", str(index)) and lun in self.tree.exposed[wwpn]:
                self._queue_disk(hba, wwpn, int(lun))

    # -- disks, links and multipath -----------------------------------------------------

    def _queue_disk(self, hba: Hba, wwpn: str, lun: int) -> None:
        waiting = [disk for _, disk in self._pending]
        if any(_key(d) == (hba.host, wwpn, lun) for d in [*self.tree.disks.values(), *waiting]):
            return  # a rescan finds the disk that is already there
        index = self.tree.zoned_targets(hba).index(wwpn)
        name = "sd" + "abcdefghijklmnopqrstuvwxyz"[self._disk_count]
        self._disk_count += 1
        hctl = f"{hba.host}:0:{index}:{lun}"
        scsi_dir = self.tree.p(
            f"{hba.scsi_host_dir()}/rport-{hba.host}:0-{index}/target{hba.host}:0:{index}/{hctl}"
        )
        self._pending.append(
            (time.monotonic() + self.appear_delay, Disk(name, hba, wwpn, index, lun, scsi_dir))
        )

    def _materialise(self) -> None:
        now = time.monotonic()
        for due, disk in [item for item in self._pending if item[0] <= now]:
            self._pending.remove((due, disk))
            self._create_disk(disk)
            if self.tree.multipath:
                self._pending_dm.append((now + self.dm_delay, disk))
        for due, disk in [item for item in self._pending_dm if item[0] <= now]:
            self._pending_dm.remove((due, disk))
            if disk.name in self.tree.disks:
                self._join_multipath(disk)

    def _create_disk(self, disk: Disk) -> None:
        tree = self.tree
        block = disk.scsi_dir / "block" / disk.name
        block.mkdir(parents=True)
        _write(disk.scsi_dir / "delete", "")
        _link(block / "device", disk.scsi_dir)
        _link(tree.p(f"/sys/block/{disk.name}"), block)
        node = tree.p(f"/dev/{disk.name}")
        target = self.device_target
        if isinstance(target, Mapping):
            target = target.get(disk.scsi_lun)
        if target is None:
            node.write_bytes(b"\0" * 4096)
        else:
            node.symlink_to(target)
        for name in self._link_names(disk):
            link = tree.by_path(name)
            _link(link, node)
            disk.links.append(link)
        tree.disks[disk.name] = disk

    def _link_names(self, disk: Disk) -> list[str]:
        wwpn = f"0x{disk.target_wwpn}"
        if self.tree.arch == "s390x":
            prefix = f"ccw-{disk.hba.bus_id}"
            if self.tree.udev_flavor == "rhel":
                return [f"{prefix}-zfcp-{wwpn}:{int_to_scsilun(disk.scsi_lun)}"]
            return [f"{prefix}-fc-{wwpn}-lun-{udev_lun(disk.scsi_lun)}"]
        return [f"pci-{disk.hba.bus_id}-fc-{wwpn}-lun-{udev_lun(disk.scsi_lun)}"]

    def _join_multipath(self, disk: Disk) -> None:
        key = str(disk.scsi_lun)  # every path of one LUN carries the same WWID
        tree = self.tree
        if key not in self.tree.dm_members:
            self.tree.dm_members[key] = [f"dm-{len(self.tree.dm_members)}"]
            dm = self.tree.dm_members[key][0]
            tree.p(f"/sys/block/{dm}/slaves").mkdir(parents=True)
            tree.p(f"/dev/{dm}").write_bytes(b"\0" * 4096)
        dm = self.tree.dm_members[key][0]
        _link(tree.p(f"/sys/block/{dm}/slaves/{disk.name}"), tree.p(f"/sys/block/{disk.name}"))

    def _remove_disk(self, disk: Disk) -> None:
        # A delete written in the same step still counts: the kernel handles it synchronously.
        self._consume(disk.scsi_dir / "delete")
        tree = self.tree
        for link in disk.links:
            link.unlink(missing_ok=True)
        for slave in tree.root.glob(f"sys/block/dm-*/slaves/{disk.name}"):
            slave.unlink()
        tree.p(f"/sys/block/{disk.name}").unlink(missing_ok=True)
        tree.p(f"/dev/{disk.name}").unlink(missing_ok=True)
        shutil.rmtree(disk.scsi_dir, ignore_errors=True)
        del tree.disks[disk.name]

    def remove_multipath_map(self, name: str) -> None:
        """What ``multipath -f`` does to the tree: the map and its node go away."""
        with self._lock:
            self._writes.append((f"multipath -f {name}", ""))
            shutil.rmtree(self.tree.p(f"/sys/block/{name}"), ignore_errors=True)
            self.tree.p(f"/dev/{name}").unlink(missing_ok=True)
            for key, members in list(self.tree.dm_members.items()):
                if members[0] == name:
                    del self.tree.dm_members[key]
