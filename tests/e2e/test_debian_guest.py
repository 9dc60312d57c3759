"""Real distribution guests: Debian 12 built from Debian's packages, booted through zcompute.

Each guest gets a config drive (hostname, an SSH key, user data) that cloud-init reads; the
test follows the console log through kernel, systemd, login prompt and cloud-init's final
message, asks the QEMU guest agent what the guest made of the drive, logs the timeline, and
shuts the guest down through systemd. The images are built once per machine (minutes for
s390x under qemu-user) and cached under the data dir.
"""

from __future__ import annotations

import base64
import re
import time
import uuid

import pytest

from tests.e2e.conftest import DATA_DIR
from zcompute.configdrive import ConfigDrive
from zcompute.driver import ComputeDriver
from zcompute.errors import GuestAgentUnavailable
from zcompute.model import Flavor
from zcompute.plan import CONFIG_DRIVE
from zcompute.testimage import (
    MILESTONES,
    BootTimeline,
    CloudImage,
    build_cloud_image,
    import_cloud_image,
)

pytestmark = pytest.mark.e2e

#: 1 GiB for systemd and cloud-init; a 3 GiB root disk for the root file system to grow into.
FLAVOR = Flavor("zctest-debian", 1, 1024, 3)
_BLOB = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(range(32))).decode()
KEY = f"ssh-ed25519 {_BLOB} zcompute-test"
BOOT_TIMEOUT = 600.0  # cloud-init final came after about 70 s (s390x, TCG) when measured
_IMAGES: dict[str, CloudImage] = {}


def cloud_image(arch: str) -> CloudImage:
    if arch not in _IMAGES:
        _IMAGES[arch] = build_cloud_image(arch, DATA_DIR)
    return _IMAGES[arch]


@pytest.fixture
def debian_driver(driver: ComputeDriver) -> ComputeDriver:
    if FLAVOR.name not in {f.name for f in driver.list_flavors() if isinstance(f, Flavor)}:
        driver.add_flavor(FLAVOR)
    return driver


def _console(driver: ComputeDriver, uuid_: str) -> str:
    return driver.get_console_output(uuid_, max_bytes=4 << 20).decode(errors="replace")


def _wait_for_agent(driver: ComputeDriver, uuid_: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return driver.guest_agent_info(uuid_, user="debian").hostname
        except GuestAgentUnavailable:
            assert time.monotonic() < deadline, "the guest agent never answered"
            time.sleep(1)


@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
@pytest.mark.feature(
    "launch",
    "config-drive",
    "guest-agent",
    "console-log",
    "interactive-console",
    "power-off-on",
    "terminate",
)
def test_debian_guest_reads_its_config_drive_and_shuts_down_through_systemd(
    debian_driver: ComputeDriver, guest_name: str, arch: str
) -> None:
    driver = debian_driver
    image = import_cloud_image(driver.images, cloud_image(arch))
    marker = f"ZCOMPUTE-USER-DATA-{uuid.uuid4().hex[:8]}"
    hostname = f"zc-{arch.replace('_', '-')}-{uuid.uuid4().hex[:4]}"
    user_data = f"#cloud-config\nruncmd:\n  - echo {marker} from $(hostname)\n".encode()
    drive = ConfigDrive(hostname=hostname, public_keys=(KEY,), user_data=user_data)
    instance_uuid = str(uuid.uuid4())
    timeline = BootTimeline(driver.console_log_of(instance_uuid), MILESTONES)
    timeline.start()
    try:
        driver.spawn(
            guest_name,
            image,
            FLAVOR,
            config_drive=drive,
            uuid=instance_uuid,
            wait_for=MILESTONES[-1][1],
            timeout=BOOT_TIMEOUT,
        )
        seen = timeline.stop()
        text = _console(driver, instance_uuid)
        # the kernel's first lines, systemd, the login prompt, cloud-init, in this order
        positions = [re.search(p, text) for _label, p in MILESTONES]
        assert all(positions), f"missing boot milestones in:\n{text[-3000:]}"
        assert [m.start() for m in positions if m] == sorted(m.start() for m in positions if m)
        assert re.search(rf"Linux version \S+.*{'s390x' if arch == 's390x' else 'amd64'}", text)
        assert f"{marker} from {hostname}" in text  # the user data ran, after the hostname
        assert hostname == _wait_for_agent(driver, instance_uuid)
        info = driver.guest_agent_info(instance_uuid, user="debian")
        assert KEY in info.authorized_keys
        (root,) = [fs for fs in info.filesystems if fs.mountpoint == "/"]
        assert root.total_bytes is not None
        assert root.total_bytes > 2.5 * 2**30, "the root file system did not grow to the disk"
        # the interactive console (ttysclp0 on s390x, the VT220 SCLP console) has a getty too
        with driver.open_console(instance_uuid) as console:
            console.write(b"\r")
            assert f"{hostname} login: ".encode() in console.read_until(b"login: ", 60)
        print(f"\n{arch} boot timeline (s): {seen}")
        assert driver.power_off(instance_uuid, timeout=180) is True, "forced off, not graceful"
        after = _console(driver, instance_uuid)
        # systemd took the system down (on s390x after an SCLP signal quiesce), not a reset
        assert re.search(r"Reached target .*System Power Off", after)
        assert "systemd-shutdown[1]: Powering off." in after
    finally:
        timeline.stop()
        if driver.instance_exists(instance_uuid):
            driver.destroy(instance_uuid)
    assert not (driver.instances_dir / instance_uuid / CONFIG_DRIVE).exists()
