"""A userspace iSCSI target (tgt) of the test's own, on 127.0.0.1 only.

:func:`iscsi_target` starts a ``tgtd`` in the foreground with a portal on a free port of
127.0.0.1 and a control port of its own (``-C``), so that it never meets another test's (two
xdist workers each start one) or a system tgtd; targets and LUNs are files of the test, CHAP
accounts optional. The daemon is stopped by its pid at teardown, also when the test fails.

The test CHAP password goes to ``tgtadm`` on its command line (tgtadm reads it nowhere else):
it is a throwaway of a target that only this test reaches, never a password of zcompute's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IQN_PREFIX = "iqn.2025-01.dev.zcompute.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_control_port() -> int:
    """tgtd's management channel is an abstract unix socket per number: pick an unused one."""
    with open("/proc/net/unix") as table:
        taken = table.read()
    for _ in range(100):
        number = int.from_bytes(os.urandom(2)) % 30000 + 1000  # tgtd takes up to 32767
        if (
            f"@/var/run/tgtd/socket.{number}" not in taken
            and not Path(f"/var/run/tgtd/socket.{number}").exists()
        ):
            return number
    raise AssertionError("no free tgtd control port")


@dataclass
class Lun:
    """One exported LUN: where it is and what Cinder's connection_info says about it."""

    iqn: str
    lun: int
    portal: str
    backing: Path
    chap: tuple[str, str] | None = None
    tid: int = 0

    def connection_info(self, volume_id: str, **data: object) -> dict[str, object]:
        info: dict[str, object] = {
            "target_portal": self.portal,
            "target_iqn": self.iqn,
            "target_lun": self.lun,
            "volume_id": volume_id,
            "target_discovered": False,
            "encrypted": False,
            "access_mode": "rw",
        }
        if self.chap is not None:
            info |= {
                "auth_method": "CHAP",
                "auth_username": self.chap[0],
                "auth_password": self.chap[1],
            }
        info |= data
        return {"driver_volume_type": "iscsi", "serial": volume_id, "data": info}


@dataclass
class IscsiTarget:
    """A running tgtd (see the module docs)."""

    directory: Path
    port: int
    control: int
    process: subprocess.Popen[bytes]
    _next_tid: int = 1
    luns: list[Lun] = field(default_factory=list)

    @property
    def portal(self) -> str:
        return f"127.0.0.1:{self.port}"

    def admin(self, *args: str) -> None:
        subprocess.run(
            ["tgtadm", "-C", str(self.control), "--lld", "iscsi", *args],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def export(
        self,
        name: str,
        size: int | None = None,
        *,
        backing: Path | None = None,
        chap: tuple[str, str] | None = None,
        initiator: str | tuple[str, ...] | None = None,
    ) -> Lun:
        """A new target with LUN 1 over a (sparse, new or given) file; CHAP and an initiator
        ACL (one name or several: hosts a guest moves between) when asked, otherwise every
        initiator may log in."""
        tid = self._next_tid
        self._next_tid += 1
        iqn = f"{IQN_PREFIX}:{name}"
        if backing is None:
            backing = self.directory / f"{name}.img"
            with backing.open("wb") as handle:
                handle.truncate(size or 0)
        self.admin("--mode", "target", "--op", "new", "--tid", str(tid), "--targetname", iqn)
        self.admin(
            "--mode", "logicalunit", "--op", "new", "--tid", str(tid), "--lun", "1",
            "--backing-store", str(backing),
        )  # fmt: skip
        if initiator is None:
            self.admin("--mode", "target", "--op", "bind", "--tid", str(tid), "-I", "ALL")
        else:
            for name in (initiator,) if isinstance(initiator, str) else initiator:
                self.admin(
                    "--mode", "target", "--op", "bind", "--tid", str(tid),
                    "--initiator-name", name,
                )  # fmt: skip
        if chap is not None:
            user, password = chap
            self.admin("--mode", "account", "--op", "new", "--user", user, "--password", password)
            self.admin("--mode", "account", "--op", "bind", "--tid", str(tid), "--user", user)
        lun = Lun(iqn, 1, self.portal, backing, chap, tid)
        self.luns.append(lun)
        return lun

    def resize(self, lun: Lun) -> None:
        """Export ``lun`` again at its backing file's new size (tgtd reads the size when a
        logical unit is made): what a storage array's volume extend does."""
        where = ("--tid", str(lun.tid), "--lun", str(lun.lun))
        self.admin("--mode", "logicalunit", "--op", "delete", *where)
        self.admin(
            "--mode", "logicalunit", "--op", "new", *where, "--backing-store", str(lun.backing)
        )  # fmt: skip


def _wait_for_portal(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tgtd exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError(f"tgtd did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running_target(directory: Path) -> Iterator[IscsiTarget]:
    """Start a tgtd of its own (see the module docs); stop it by its pid afterwards."""
    port, control = _free_port(), _free_control_port()
    log = directory / "tgtd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["tgtd", "-f", "-C", str(control), "--iscsi", f"portal=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_portal(port, process, log)
        yield IscsiTarget(directory, port, control, process)
    finally:
        # a foreground tgtd ignores SIGTERM; it holds nothing a SIGKILL could damage
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(name="iscsi_target")
def iscsi_target_fixture(guest_dir: Path) -> Iterator[IscsiTarget]:
    """A running tgtd of this test's, its files in the test's guest_dir."""
    with running_target(guest_dir) as target:
        yield target


def luks_backing(folder: Path, passphrase: str, size: str = "16M") -> Path:
    """A LUKS volume file made by qemu-img whose first MiB, written through QEMU's LUKS
    driver, holds 0x5a bytes (encrypted at rest: the file does not show them)."""
    secret_file = folder / "passphrase"
    secret_file.write_text(passphrase)
    secret_file.chmod(0o600)
    backing = folder / "luks.img"
    obj = f"secret,id=sec0,file={secret_file}"
    create = ["qemu-img", "create", "-q", "-f", "luks", "--object", obj,
              "-o", "key-secret=sec0", "-o", "iter-time=10", str(backing), size]  # fmt: skip
    for attempt in range(3):
        # QEMU 7.2 times its PBKDF with getrusage and gives up on a busy host ("Unable to get
        # accurate CPU usage"); another try measures again
        done = subprocess.run(create, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
        assert "accurate CPU usage" in done.stderr, done.stderr
        assert attempt < 2, done.stderr
    subprocess.run(
        ["qemu-io", "--object", obj, "--image-opts",
         f"driver=luks,key-secret=sec0,file.filename={backing}", "-c", "write -P 0x5a 0 1M"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert b"\x5a" * 64 not in backing.read_bytes()
    return backing
