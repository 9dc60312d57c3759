"""A guest cannot turn its raw disk into a window on a host file (format probing, class 1).

The guest writes a qcow2 header whose backing file is a root-only host file into its raw
volume. Before zcompute recorded formats, the next hard reboot read that header, told libvirt
the disk was qcow2, libvirt chowned the host file to the QEMU user, and the guest read it.
Now the format recorded at attach time is what libvirt gets, at every start.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import ImageError, InvalidInput
from zcompute.model import BlockDeviceSpec
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .lifecycle_support import BOOTED, LogWatch, qemu_pid

MIB = 1 << 20


def _secret(folder: Path) -> Path:
    secret = folder / "host-secret.txt"
    secret.write_text("the host's secret\n")
    secret.chmod(0o600)
    return secret


def _qcow2_header_naming(target: Path, work: Path) -> bytes:
    header = work / "evil.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(target), "-F", "raw",
         str(header), "8M"],
        check=True,
    )  # fmt: skip
    data = header.read_bytes()
    header.unlink()
    return data


def _opened_by_qemu(name: str) -> set[str]:
    pid = qemu_pid(name)
    fds = Path(f"/proc/{pid}/fd")
    return {os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()}


def _disk_format(driver: ComputeDriver, name: str, target: str) -> str | None:
    dom = Domain.from_xml(driver.domains.xml(driver.get_instance(name).uuid))
    disk = next(d for d in dom.devices.disks if d.target_dev == target)
    return disk.driver_type


def test_a_qcow2_header_written_into_a_raw_volume_never_opens_the_file_it_names(
    driver: ComputeDriver, guest_name: str, guest_dir: Path
) -> None:
    secret = _secret(guest_dir)
    before = secret.stat()
    volume = guest_dir / "data.img"
    volume.write_bytes(b"\0" * (8 * MIB))
    driver.spawn(
        guest_name,
        imported_test_image(driver, "s390x"),
        TINY.name,
        block_devices=[BlockDeviceSpec(volume, "vdb")],
        wait_for=BOOTED,
    )
    (recorded,) = driver.get_instance(guest_name).block_devices
    assert recorded.format == "raw"
    driver.power_off(guest_name, timeout=0)
    # what a guest can do to its own raw disk: write a qcow2 header naming a host file
    with volume.open("r+b") as disk:
        disk.write(_qcow2_header_naming(secret, guest_dir))

    with LogWatch(driver.console_log_path(guest_name)) as log:
        driver.power_on(guest_name)
        log.wait(BOOTED)
    assert _disk_format(driver, guest_name, "vdb") == "raw"
    assert str(secret) not in _opened_by_qemu(guest_name)

    with LogWatch(driver.console_log_path(guest_name)) as log:
        driver.reboot(guest_name, hard=True)  # defines the guest again from its record
        log.wait(BOOTED)
    assert _disk_format(driver, guest_name, "vdb") == "raw"
    assert str(secret) not in _opened_by_qemu(guest_name)
    after = secret.stat()  # libvirt relabels what it opens for a guest: it never touched it
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid, before.st_gid, before.st_mode)  # fmt: skip


def test_host_files_and_unsafe_images_never_become_volumes(
    driver: ComputeDriver, guest_name: str, guest_dir: Path
) -> None:
    driver.spawn(guest_name, imported_test_image(driver, "x86_64"), TINY.name, wait_for=BOOTED)
    secret = _secret(guest_dir)
    backed = guest_dir / "backed.qcow2"
    backed.write_bytes(_qcow2_header_naming(secret, guest_dir))
    cases = [
        (Path("/etc/shadow"), InvalidInput, "host system directory"),
        (driver.config.data_dir / "state.db", InvalidInput, "zcompute's data directory"),
        (Path("/dev/null"), InvalidInput, "character device"),
        (guest_dir, InvalidInput, "is a directory"),
        (backed, ImageError, f"backing file '{secret}'"),
    ]
    for path, error, why in cases:
        with pytest.raises(error, match=why):
            driver.attach_volume(guest_name, path)
    assert driver.get_instance(guest_name).block_devices == ()
    assert str(secret) not in _opened_by_qemu(guest_name)
