"""The ``zcompute`` command end to end: a subprocess per command, real libvirtd, real s390x guests.

This is the README's "Using it" path: import the test image, boot an s390x guest (TCG), read its
boot log, type into its console (through a pipe and through a terminal), stop, start, delete.
Every test has its own data directory (state DB, images, instances) under
/var/lib/zcompute/tests/, sharing only the test image build cache, and removes what it created,
also when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from lxml import etree

from tests.e2e.conftest import DATA_DIR, _remove_domain, get_test_image
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.errors import ZcomputeError
from zcompute.virt import Hypervisor

ZCOMPUTE = Path(sys.executable).parent / "zcompute"
ESCAPE = b"\x1d"
ISOLATED_NETWORK = "zcompute-isolated"  # created by scripts/setup-host


class Cli:
    """Runs ``zcompute --data-dir DIR ...`` as a subprocess, with TCG and no config file."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # where this test's volume files live: beside the data directory, never inside it
        self.volume_dir = data_dir.with_name(f"{data_dir.name}-volumes")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
        self.env |= {
            "ZCOMPUTE_VIRT_TYPE": "qemu",
            "ZCOMPUTE_CONFIG": str(data_dir / "absent.toml"),
            "ZCOMPUTE_VOLUME_DIRS": str(self.volume_dir),
        }

    def argv(self, *args: str) -> list[str]:
        return [str(ZCOMPUTE), "--data-dir", str(self.data_dir), *args]

    def __call__(self, *args: str, code: int = 0, timeout: float = 240) -> str:
        """Run a command, check its exit code, return its stdout."""
        done = subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == code, (
            f"zcompute {' '.join(args)}: exit {done.returncode}, expected {code}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        if code:
            assert "Traceback" not in done.stderr
        return done.stdout if code == 0 else done.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))

    def popen(self, *args: str, stdin: int | IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv(*args),
            env=self.env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


@pytest.fixture
def cli(guest_name: str, hypervisor: Hypervisor) -> Iterator[Cli]:
    """A fresh data directory for one test; afterwards its guests (and any libvirt domain
    whose name starts with this test's guest name) are removed, then the directory."""
    get_test_image("s390x")  # build (or find) the image once, in the shared cache
    data = DATA_DIR / "tests" / f"cli-{guest_name}"
    data.mkdir(parents=True, mode=0o755)
    (data / "testimages").symlink_to(DATA_DIR / "testimages")
    made = Cli(data)
    made.volume_dir.mkdir(mode=0o755)
    try:
        yield made
    finally:
        driver = ComputeDriver(Config(data_dir=data, virt_type="qemu"))
        for inst in driver.db.list_instances():
            with contextlib.suppress(ZcomputeError):
                driver.destroy(inst.uuid)
        driver.close()
        for dom in hypervisor.conn.listAllDomains():
            if dom.name().startswith(guest_name):
                _remove_domain(dom)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(made.volume_dir, ignore_errors=True)


def _domain_names(hypervisor: Hypervisor) -> set[str]:
    return {dom.name() for dom in hypervisor.conn.listAllDomains()}


class Reader:
    """Collects a subprocess's stdout in a thread so a test can wait for text in it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.data = bytearray()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 4096):
            self.data += chunk

    def wait_for(self, text: bytes, timeout: float, poke: Any = None) -> None:
        """Wait until ``text`` was output; call ``poke()`` every 3 s meanwhile (re-send)."""
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        while text not in self.data:
            assert time.monotonic() < deadline, f"{text!r} not seen; output:\n{self.data[-2000:]!r}"
            if poke is not None and time.monotonic() >= next_poke:
                poke()
                next_poke = time.monotonic() + 3
            time.sleep(0.05)


def console_through_a_pipe(cli: Cli, name: str, tag: str) -> bytes:
    """Send a shell command through ``zcompute console`` on a pipe; return what came back.

    The command is re-sent every 3 s until its answer appears (the guest's shell may still be
    starting). The answer ``zc-42-TAG`` differs from the echoed command line.
    """
    proc = cli.popen("console", name, "--linger", "0.3", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin = proc.stdin
    reader = Reader(proc.stdout)

    def send() -> None:
        if proc.poll() is not None:
            assert proc.stderr is not None
            log = cli("console-log", name, "--tail", "40")  # what the guest said last
            pytest.fail(
                f"zcompute console exited {proc.returncode}: {proc.stderr.read()!r}\n"
                f"--- the guest's log console ends with:\n{log}"
            )
        stdin.write(f"echo zc-$((6*7))-{tag}\n".encode())
        stdin.flush()

    try:
        reader.wait_for(f"zc-42-{tag}".encode(), timeout=90, poke=send)
        stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert b"escape character is ^]" in proc.stderr.read()
    return bytes(reader.data)


def console_on_a_terminal(cli: Cli, name: str) -> None:
    """Type into ``zcompute console`` on a pseudo terminal, then leave with ^]."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = cli.popen("console", name, stdin=slave)
    assert proc.stdout is not None
    reader = Reader(proc.stdout)
    try:
        # raw mode: Enter is a carriage return, which the guest's own terminal turns into \n
        reader.wait_for(
            b"tty-25", timeout=60, poke=lambda: os.write(master, b"echo tty-$((5*5))\r")
        )
        os.write(master, ESCAPE)
        assert proc.wait(timeout=20) == 0
        assert termios.tcgetattr(slave) == before  # the terminal was restored
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


def test_boot_log_console_stop_start_delete_s390x(
    cli: Cli, guest_name: str, hypervisor: Hypervisor
) -> None:
    assert "image s390x-test" in cli("testimage", "import", "--arch", "s390x")
    assert "tiny" in cli("flavor", "list")

    booted = cli(
        "boot",
        guest_name,
        "--image",
        "s390x-test",
        "--flavor",
        "tiny",
        "--wait-console",
        "ZCOMPUTE-DEVICES-END",
    )
    assert booted.startswith(f"booted {guest_name} (")
    [listed] = cli.json("list")
    assert (listed["name"], listed["state"], listed["arch"]) == (guest_name, "running", "s390x")
    assert listed["machine_type"].startswith("s390-ccw-virtio")

    log = cli("console-log", guest_name)
    assert "Linux version" in log  # early kernel messages: the sclplm log console
    tail = cli("console-log", guest_name, "--tail", "3")
    assert "ZCOMPUTE-GUEST-READY arch=s390x" in tail
    assert len(tail.splitlines()) == 3

    console_through_a_pipe(cli, guest_name, "pipe")
    console_on_a_terminal(cli, guest_name)

    stopped = cli("stop", guest_name, "--timeout", "30").strip()
    assert stopped == f"{guest_name}: shut down by the guest, now shutoff"  # SCLP quiesce
    assert cli.json("show", guest_name)["state"] == "shutoff"
    assert cli("start", guest_name).strip() == f"{guest_name}: started, now running"
    console_through_a_pipe(cli, guest_name, "restarted")  # the restarted guest answers

    uuid = listed["uuid"]
    assert cli("delete", guest_name) == f"deleted {guest_name}\n"
    assert cli.json("list") == []
    assert guest_name not in _domain_names(hypervisor)
    assert not (cli.data_dir / "instances" / uuid).exists()
    assert f"instance '{guest_name}' not found" in cli("show", guest_name, code=3)


def test_dry_run_prints_the_domain_and_creates_nothing(
    cli: Cli, guest_name: str, hypervisor: Hypervisor
) -> None:
    cli("testimage", "import", "--arch", "s390x")
    xml = cli("boot", guest_name, "--image", "s390x-test", "--flavor", "tiny", "--dry-run")
    dom = etree.fromstring(xml.encode())
    os_type = dom.find("os/type")
    assert os_type is not None
    assert os_type.get("arch") == "s390x"
    assert str(os_type.get("machine")).startswith("s390-ccw-virtio")
    consoles = {c.find("target").get("type") for c in dom.iterfind("devices/console")}
    assert consoles == {"sclp", "sclplm"}
    assert cli.json("list") == []
    assert guest_name not in _domain_names(hypervisor)
    assert list((cli.data_dir / "instances").iterdir()) == []


def test_boot_that_never_gets_ready_leaves_nothing(
    cli: Cli, guest_name: str, hypervisor: Hypervisor
) -> None:
    cli("testimage", "import", "--arch", "s390x")
    err = cli(
        "boot",
        guest_name,
        "--image",
        "s390x-test",
        "--flavor",
        "tiny",
        "--wait-console",
        "NEVER-PRINTED",
        "--timeout",
        "4",
        code=1,
    )
    assert "zcompute: error: no console line matched 'NEVER-PRINTED' within 4 s" in err
    assert cli.json("list") == []
    assert guest_name not in _domain_names(hypervisor)


def test_demo_boots_shows_the_boot_log_and_cleans_up(
    cli: Cli, guest_name: str, hypervisor: Hypervisor
) -> None:
    out = cli("demo", "--name", guest_name, "--timeout", "120")
    assert "Linux version" in out  # the streamed boot log
    assert "ZCOMPUTE-GUEST-READY arch=s390x" in out
    summary = out[out.index("summary") :]
    assert "arch         s390x, domain type qemu" in summary
    assert "machine      s390-ccw-virtio" in summary
    assert "console pty/sclp" in summary
    assert "console file/sclplm" in summary
    assert "banner after" in summary
    assert out.rstrip().endswith(f"deleted {guest_name}")
    assert guest_name not in _domain_names(hypervisor)
    assert cli.json("list") == []


def test_devices_pause_suspend_reboot_snapshot_on_one_s390x_guest(
    cli: Cli, guest_name: str, tmp_path: Path
) -> None:
    cli("testimage", "import", "--arch", "s390x")
    boot_disk = cli.volume_dir / "boot-disk.img"
    boot_disk.write_bytes(b"\0" * (8 << 20))
    cli(
        "boot",
        guest_name,
        "--image",
        "s390x-test",
        "--flavor",
        "tiny",
        "--volume",
        f"{boot_disk},serial=BOOTVOL",
        "--network",
        ISOLATED_NETWORK,
        "--wait-console",
        "ZCOMPUTE-DEVICES-END",
    )
    log = cli("console-log", guest_name)
    # s390x guests name disks in the order their probes end, which load can change
    assert re.search(r"ZCOMPUTE-BLOCK name=vd[ab] sectors=16384 serial=BOOTVOL", log), log
    [nic] = cli.json("interface", "list", guest_name)
    assert f"mac={nic['mac']}" in log

    hot_disk = cli.volume_dir / "hot-disk.img"
    hot_disk.write_bytes(b"\0" * (4 << 20))
    assert "as vdc" in cli("volume", "attach", guest_name, "--file", str(hot_disk))
    cli(
        "console-log",
        guest_name,
        "--follow",
        "--until",
        "ZCOMPUTE-BLOCK added name=vdc",
        "--timeout",
        "30",
    )
    assert [v["target"] for v in cli.json("volume", "list", guest_name)] == ["vdb", "vdc"]
    cli("volume", "detach", guest_name, "vdc")
    cli(
        "console-log",
        guest_name,
        "--follow",
        "--until",
        "ZCOMPUTE-BLOCK removed name=vdc",
        "--timeout",
        "30",
    )

    attached = cli("interface", "attach", guest_name, "--network", ISOLATED_NETWORK)
    mac = attached.split()[2]
    cli(
        "console-log",
        guest_name,
        "--follow",
        "--until",
        f"ZCOMPUTE-NIC added .*mac={mac}",
        "--timeout",
        "30",
    )
    cli("interface", "detach", guest_name, mac)
    assert [n["mac"] for n in cli.json("interface", "list", guest_name)] == [nic["mac"]]

    assert cli("pause", guest_name).strip().endswith("now paused")
    assert cli("unpause", guest_name).strip().endswith("now running")
    cli("suspend", guest_name)
    assert cli.json("show", guest_name)["state"] != "running"
    assert cli("resume", guest_name).strip().endswith("now running")
    console_through_a_pipe(cli, guest_name, "resumed")
    soft = cli("reboot", guest_name, "--timeout", "30").strip()
    assert soft == f"{guest_name}: rebooted by the guest, now running"
    hard = cli("reboot", guest_name, "--hard").strip()
    assert hard == f"{guest_name}: power-cycled (hard reboot), now running"
    console_through_a_pipe(cli, guest_name, "rebooted")
    cli("crash-dump", guest_name)

    snapshot = f"{guest_name}-snap"
    assert f"as image {snapshot} (" in cli("snapshot", guest_name, snapshot)
    shown = cli.json("image", "show", snapshot)
    assert (shown["kind"], shown["disk_format"]) == ("disk", "qcow2")
    cli("delete", guest_name)
    cli("image", "delete", snapshot)
