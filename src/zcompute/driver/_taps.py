"""Tap devices of tap NICs: made before their guest starts, removed after it is gone.

A tap NIC (Nova's ``tap``/``ethernet`` VIFs) is libvirt's ``ethernet`` interface with
``managed='no'``: libvirt neither creates nor deletes the device, it only opens it for QEMU.
So zcompute creates it with iproute2 (``ip tuntap add``) before a spawn defines the guest,
again before any start whose device is gone (a host boot takes every tap with it), and removes
it with the guest, its NIC's detach, or the rollback or recovery of either.

Ownership is written on the device itself: its alias (``/sys/class/net/NAME/ifalias``) reads
``zcompute:<instance uuid>:<data directory tag>``. zcompute deletes only a device whose alias
names that instance of this data directory, and never adopts a device that exists: a name that
``lo``, ``eth0``, a bridge or another program's tap holds is a :class:`Conflict`. Recovery finds
an instance's taps by that alias too, also the one a killed attach created but did not record;
nothing is ever chosen by its name's prefix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from zcompute.errors import Conflict, NetworkDeviceError
from zcompute.model import NICSpec
from zcompute.state import StateDB

__all__ = ["HostTaps", "IpRunner", "refuse_shared_taps"]

LOG = logging.getLogger("zcompute.driver")

SYSFS_NET = Path("/sys/class/net")
_IP_TIMEOUT = 30.0  # seconds: ip talks to the kernel, it never waits for anything else

#: Runs ``ip ARGS...``; returns (exit status, error text).
IpRunner = Callable[[Sequence[str]], tuple[int, str]]


def _run_ip(args: Sequence[str]) -> tuple[int, str]:
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT, check=False
    )
    return done.returncode, (done.stderr or done.stdout).strip()


class HostTaps:
    """The tap devices of one data directory's guests (see the module docs)."""

    def __init__(self, data_dir: Path, sysfs: Path = SYSFS_NET, run_ip: IpRunner = _run_ip) -> None:
        # devices are the host's, data directories many: the tag says whose a device is
        self._tag = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        self._lock_path = data_dir / "taps.lock"
        self._sysfs = sysfs
        self._run_ip = run_ip

    def mark(self, uuid: str) -> str:
        """The alias of instance ``uuid``'s devices."""
        return f"zcompute:{uuid}:{self._tag}"

    def alias(self, name: str) -> str | None:
        """The alias of device ``name`` (empty: none), or None if there is no such device."""
        try:
            return (self._sysfs / name / "ifalias").read_text().strip()
        except FileNotFoundError:
            return None

    def refuse_taken(self, uuid: str, names: Iterable[str]) -> None:
        """Conflict if a device named as one of ``names`` exists and is not ``uuid``'s."""
        for name in names:
            alias = self.alias(name)
            if alias is not None and alias != self.mark(uuid):
                raise Conflict(
                    f"the host already has a network device {name!r} that zcompute did not "
                    "create for this instance; zcompute makes the tap devices of its guests "
                    "and never takes one over: choose another tap name; nothing changed"
                )

    def create(self, uuid: str, name: str, mtu: int | None) -> None:
        """Create tap ``name`` for instance ``uuid``, up, with ``mtu`` and its owner's alias."""
        with self._locked():  # no other zcompute process creates a device between check and add
            self.refuse_taken(uuid, [name])
            if self.alias(name) is not None:
                return  # this instance's already
            self._ip(name, "tuntap", "add", "dev", name, "mode", "tap")
            settings = ["mtu", str(mtu)] if mtu is not None else []
            self._ip(name, "link", "set", "dev", name, *settings, "alias", self.mark(uuid), "up")

    def ensure(self, uuid: str, nics: Iterable[NICSpec]) -> list[str]:
        """Create the tap devices of ``nics`` that are missing (before a start); their names."""
        made = []
        for nic in nics:
            if nic.tap is not None and self.alias(nic.tap) != self.mark(uuid):
                self.create(uuid, nic.tap, nic.mtu)
                made.append(nic.tap)
        return made

    def remove(self, uuid: str, name: str) -> bool:
        """Delete tap ``name`` if it is instance ``uuid``'s; True if it was deleted."""
        alias = self.alias(name)
        if alias is None:
            return False
        if alias != self.mark(uuid):
            LOG.warning("network device %s is not zcompute's for %s: left alone", name, uuid)
            return False
        self._ip(name, "link", "delete", "dev", name)
        return True

    def marked(self) -> dict[str, str]:
        """``{device: instance uuid}`` of every device this data directory's guests own."""
        found = {}
        with contextlib.suppress(FileNotFoundError):
            for path in self._sysfs.iterdir():
                alias = self.alias(path.name) or ""
                kind, _, rest = alias.partition(":")
                uuid, _, tag = rest.partition(":")
                if kind == "zcompute" and tag == self._tag:
                    found[path.name] = uuid
        return found

    def remove_all(self, uuid: str, recorded: Iterable[str], keep: Iterable[str] = ()) -> list[str]:
        """Delete instance ``uuid``'s devices: those ``recorded`` and those its alias marks,
        except ``keep`` (still a NIC of the guest); returns the names deleted."""
        names = set(recorded) | {n for n, owner in self.marked().items() if owner == uuid}
        return [name for name in sorted(names - set(keep)) if self.remove(uuid, name)]

    def _ip(self, name: str, *args: str) -> None:
        try:
            status, error = self._run_ip(args)
        except FileNotFoundError:
            raise NetworkDeviceError(name, "iproute2's 'ip' command is not installed") from None
        except subprocess.TimeoutExpired:
            raise NetworkDeviceError(name, f"'ip {' '.join(args)}' did not answer") from None
        if status != 0:
            raise NetworkDeviceError(name, f"'ip {' '.join(args)}' failed: {error}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def refuse_shared_taps(db: StateDB, uuid: str, taps: Iterable[str]) -> None:
    """Conflict if an instance other than ``uuid`` records one of the tap devices ``taps``."""
    wanted = set(taps)
    if not wanted:
        return
    for other in db.list_instances():
        for nic in other.nics:
            if other.uuid != uuid and nic.tap in wanted:
                raise Conflict(
                    f"tap device {nic.tap} is already a NIC of instance {other.name}; "
                    "give another tap name; nothing changed"
                )
