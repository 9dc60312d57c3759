"""The guest agent at work in real Debian guests: a password set, file systems frozen and thawed.

One guest per architecture (a boot takes 70-90 s under TCG) goes through everything, checked
from inside the guest: root cannot log in on the console before ``set_admin_password`` and can
after; while ``quiesce`` holds the file systems a write started on the console does not finish,
and finishes once ``unquiesce`` thaws them; a snapshot of a guest whose flavor sets
``os_require_quiesce`` holds a file written (not synced) a moment before, in a file system
whose journal needs no recovery (ext4 clears ``needs_recovery`` only when frozen or unmounted);
an error, and a kill -9, between the freeze and the thaw of a snapshot leave the guest thawed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import libvirt_qemu
import pytest

from tests.e2e.conftest import TINY, imported_test_image
from tests.e2e.test_debian_guest import BOOT_TIMEOUT, FLAVOR, _wait_for_agent, cloud_image
from zcompute._faults import InjectedFault
from zcompute.configdrive import ConfigDrive
from zcompute.driver import ComputeDriver
from zcompute.driver._quiesce import SNAPSHOT_FREEZE_MARKER
from zcompute.errors import GuestAgentUnavailable, InvalidInput, NotFound
from zcompute.model import Flavor
from zcompute.properties import REQUIRE_QUIESCE_PROPERTY
from zcompute.testimage import MILESTONES, import_cloud_image
from zcompute.virt import ConsoleStream

pytestmark = pytest.mark.e2e

ZCOMPUTE = str(Path(sys.executable).with_name("zcompute"))
QUIESCE_FLAVOR = Flavor("zctest-debian-quiesce", 1, 1024, 3, {REQUIRE_QUIESCE_PROPERTY: "yes"})


def _expect(console: ConsoleStream, pattern: str, timeout: float) -> str:
    """Console output up to the first match of ``pattern``; Timeout if it never comes."""
    seen = ""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no {pattern!r} on the console in {timeout} s: {seen[-500:]!r}"
        seen += console.read(min(left, 2.0)).decode(errors="replace")
    return seen


def _quiet_for(console: ConsoleStream, text: str, seconds: float) -> str:
    """What the console shows in ``seconds``; ``text`` must not be in it."""
    seen = ""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        seen += console.read(min(left, 1.0)).decode(errors="replace")
        assert text not in seen, f"{text!r} appeared while it must not: {seen!r}"
    return seen


def _login(console: ConsoleStream, user: str, password: str) -> tuple[bool, str]:
    """Log in on the console's getty: whether the password was accepted, and what it showed."""
    console.write(b"\r")
    seen = _expect(console, r"login: ", 60)
    console.write(user.encode() + b"\r")
    seen += _expect(console, r"Password: ", 60)
    console.write(password.encode() + b"\r")
    answer = _expect(console, r"Login incorrect|[#$] $", 90)
    if "Login incorrect" in answer:
        seen += answer + _expect(console, r"login: ", 60)  # login asks again: nothing stale
        return False, seen
    return True, seen + answer


def _shadow_entry(driver: ComputeDriver, uuid_: str, user: str) -> str:
    """``user``'s /etc/shadow line, read by the agent (guest-file-*: test-only questions)."""
    dom = driver.domains.lookup(uuid_)

    def ask(command: str, **arguments: object) -> object:
        request = json.dumps({"execute": command, "arguments": arguments})
        return json.loads(libvirt_qemu.qemuAgentCommand(dom, request, 30, 0))["return"]

    handle = ask("guest-file-open", path="/etc/shadow", mode="r")
    try:
        read = ask("guest-file-read", handle=handle, count=65536)
    finally:
        ask("guest-file-close", handle=handle)
    assert isinstance(read, dict)
    text = base64.b64decode(read["buf-b64"]).decode()
    return next(line for line in text.splitlines() if line.startswith(f"{user}:"))


def _start(console: ConsoleStream, command: str) -> str:
    """Type ``command``; returns the text it prints when done (not in the echo of the line)."""
    token = secrets.token_hex(3)
    console.write(f"{command}; echo ZC{token}-$((6*7))\r".encode())
    return f"ZC{token}-42"


def _run(console: ConsoleStream, command: str, timeout: float = 60) -> str:
    return _expect(console, _start(console, command), timeout)


def _freeze_status(driver: ComputeDriver, uuid_: str) -> str:
    """What the agent says (a test's question: libvirt has no call for it)."""
    dom = driver.domains.lookup(uuid_)
    reply = libvirt_qemu.qemuAgentCommand(dom, '{"execute": "guest-fsfreeze-status"}', 30, 0)
    return str(json.loads(reply)["return"])


def _cli(driver: ComputeDriver, *args: str, fault: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
    if fault is not None:
        env["ZCOMPUTE_FAULT"] = fault
    data = str(driver.config.data_dir)
    command = [ZCOMPUTE, "--data-dir", data, "--virt-type", "qemu", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def _snapshot_fs(driver: ComputeDriver, image_name: str, work: Path) -> tuple[str, str]:
    """The snapshot's ext4 superblock (dumpe2fs -h) and /root/quiesce-proof (debugfs)."""
    image = driver.images.get(image_name)
    assert image.path is not None
    return disk_proof(image.path, work)


def disk_proof(disk: Path, work: Path) -> tuple[str, str]:
    """A disk image's ext4 superblock (dumpe2fs -h) and its /root/quiesce-proof (debugfs)."""
    raw = work / "snapshot.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk), str(raw)], check=True)
    try:
        header = subprocess.run(
            ["dumpe2fs", "-h", str(raw)], capture_output=True, text=True, check=True
        ).stdout
        proof = subprocess.run(
            ["debugfs", "-R", "cat /root/quiesce-proof", str(raw)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        raw.unlink(missing_ok=True)
    return header, proof


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
@pytest.mark.feature("guest-agent", "snapshot")
def test_agent_sets_a_password_freezes_and_thaws_and_quiesces_snapshots(
    driver: ComputeDriver, guest_name: str, guest_dir: Path, arch: str
) -> None:
    for flavor in (FLAVOR, QUIESCE_FLAVOR):
        if flavor.name not in {f.name for f in driver.list_flavors() if isinstance(f, Flavor)}:
            driver.add_flavor(flavor)
    image = import_cloud_image(driver.images, cloud_image(arch))
    instance_uuid = str(uuid.uuid4())
    password = f"Zc-{secrets.token_urlsafe(12)}"
    timings: dict[str, float] = {}
    try:
        driver.spawn(
            guest_name,
            image,
            QUIESCE_FLAVOR,
            # cloud-init runs only with a data source (on x86_64 it is disabled without one)
            config_drive=ConfigDrive(hostname=f"zc-agent-{arch.replace('_', '-')}"),
            uuid=instance_uuid,
            wait_for=MILESTONES[-1][1],
            timeout=BOOT_TIMEOUT,
        )
        _wait_for_agent(driver, instance_uuid)
        with pytest.raises(InvalidInput, match="password"):
            driver.set_admin_password(instance_uuid, "two\nlines")
        with driver.open_console(instance_uuid) as console:
            # root has no password in the image: the new one is refused before it is set
            accepted, seen = _login(console, "root", password)
            assert not accepted, seen
            before = _shadow_entry(driver, instance_uuid, "root")
            start = time.monotonic()
            assert driver.set_admin_password(instance_uuid, password) == "root"
            timings["set password"] = time.monotonic() - start
            after = _shadow_entry(driver, instance_uuid, "root")
            assert after.split(":")[1].startswith("$"), after  # a hash, not locked
            assert after != before
            accepted, seen = _login(console, "root", password)
            assert accepted, f"the new password was refused: {seen[-2000:]!r}"
            assert "uid=0(root)" in _run(console, "id")

            start = time.monotonic()
            assert driver.quiesce(instance_uuid) >= 1
            timings["freeze"] = time.monotonic() - start
            assert _freeze_status(driver, instance_uuid) == "frozen"
            done = _start(console, "echo frozen > /root/frozen-write")
            _quiet_for(console, done, 5.0)  # the write waits for the thaw
            start = time.monotonic()
            assert driver.unquiesce(instance_uuid) >= 1
            timings["thaw"] = time.monotonic() - start
            _expect(console, done, 30)
            timings["write after thaw"] = time.monotonic() - start
            assert _freeze_status(driver, instance_uuid) == "thawed"
            assert driver.unquiesce(instance_uuid) == 0  # nothing frozen: nothing to do

            # written, not synced: only the snapshot's freeze puts it on the disk in time
            proof = f"quiesced-{secrets.token_hex(4)}"
            _run(console, f"echo {proof} > /root/quiesce-proof")
            start = time.monotonic()
            driver.snapshot(instance_uuid, f"{guest_name}-snap")
            timings["quiesced snapshot"] = time.monotonic() - start
            header, content = _snapshot_fs(driver, f"{guest_name}-snap", guest_dir)
            features = re.search(r"Filesystem features:(.*)", header)
            assert features is not None
            assert "needs_recovery" not in features.group(1)
            assert content.strip() == proof
            assert _freeze_status(driver, instance_uuid) == "thawed"
            _run(console, "echo after > /root/after-snapshot", 30)

            # an error between freeze and thaw: thawed on the way out
            os.environ["ZCOMPUTE_FAULT"] = "snapshot.frozen:raise"
            try:
                with pytest.raises(InjectedFault):
                    driver.snapshot(instance_uuid, f"{guest_name}-failed")
            finally:
                del os.environ["ZCOMPUTE_FAULT"]
            assert _freeze_status(driver, instance_uuid) == "thawed"
            _run(console, "echo after > /root/after-error", 30)

            # killed while frozen: the next command's recovery thaws
            killed = _cli(driver, "snapshot", instance_uuid, f"{guest_name}-killed",
                          fault="snapshot.frozen:kill")  # fmt: skip
            assert killed == -9
            assert _freeze_status(driver, instance_uuid) == "frozen"
            marker = driver.instances_dir / instance_uuid / SNAPSHOT_FREEZE_MARKER
            assert marker.exists()
            assert _cli(driver, "list") == 0
            assert _freeze_status(driver, instance_uuid) == "thawed"
            assert not marker.exists()
            assert driver.get_instance(instance_uuid).task is None
            _run(console, "echo after > /root/after-kill", 30)
        print(f"\n{arch} guest agent timings (s): {timings}")
    finally:
        if driver.instance_exists(instance_uuid):
            driver.destroy(instance_uuid)
        for name in ("snap", "failed", "killed"):
            with contextlib.suppress(NotFound):
                driver.images.delete(f"{guest_name}-{name}")


@pytest.mark.feature("guest-agent", arch="s390x")
def test_agent_operations_name_the_missing_channel(driver: ComputeDriver, guest_name: str) -> None:
    """A guest without hw_qemu_guest_agent: each operation says which property it lacks."""
    inst = driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY)
    try:
        for call in (
            lambda: driver.quiesce(inst.uuid),
            lambda: driver.unquiesce(inst.uuid),
            lambda: driver.set_admin_password(inst.uuid, "secret"),
        ):
            with pytest.raises(GuestAgentUnavailable, match="hw_qemu_guest_agent=yes"):
                call()
    finally:
        driver.destroy(inst.uuid)
