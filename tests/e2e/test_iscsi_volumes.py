"""iSCSI volumes on real guests, from a tgtd of the test's own on 127.0.0.1 (iscsi_target).

QEMU logs in itself; what counts is what the guest sees (its init reports each disk that
appears or goes: ``ZCOMPUTE-BLOCK added name=vdb sectors=... serial=...``) and that nothing
is left behind: no disk in either definition, no record, no libvirt secret.
"""

from __future__ import annotations

import subprocess

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import ZcomputeError
from zcompute.model import NetworkDiskSource
from zcompute.volumes import VolumeEncryption
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .iscsi_target import IscsiTarget, iscsi_target_fixture, luks_backing  # noqa: F401
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed

MIB = 1 << 20
CHAP = ("zcchap", "zc-test-chap-secret")  # a throwaway of this test's own target


def _disks(driver: ComputeDriver, name: str, *, inactive: bool = False) -> list[str]:
    uuid = driver.get_instance(name).uuid
    dom = Domain.from_xml(driver.domains.xml(uuid, inactive=inactive))
    return [d.target_dev or "" for d in dom.devices.disks]


def _secrets(driver: ComputeDriver, name: str) -> list[str]:
    """The libvirt secrets of the guest's folder (what ``virsh secret-list`` shows of it)."""
    uuid = driver.get_instance(name).uuid
    found = subprocess.run(
        ["virsh", "-c", "qemu:///system", "secret-list"], capture_output=True, text=True, check=True
    ).stdout
    # the usage column names the instance (zcompute:<data dir>:<instance>:<secret>)
    return [line.split()[0] for line in found.splitlines() if f"{uuid}" in line]


@pytest.mark.feature("attach-volume-iscsi")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_iscsi_volume_with_and_without_chap(
    driver: ComputeDriver, arch: str, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    name = guest_name
    plain = iscsi_target.export("plain", 64 * MIB)
    chap = iscsi_target.export("chap", 32 * MIB, chap=CHAP, initiator=driver.iscsi_initiator_name())
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        with timed(arch, "attach iSCSI volume (no CHAP)"):
            spec = driver.attach_volume_connection(name, plain.connection_info("zc-iscsi-plain"))
        with timed(arch, "attached iSCSI volume seen by the guest"):
            seen = log.wait(r"ZCOMPUTE-BLOCK added name=vdb .*serial=\S+")
        assert "sectors=131072" in seen
        assert "serial=zc-iscsi-plain" in seen
        assert isinstance(spec.source, NetworkDiskSource)
        assert spec.source.name == f"{plain.iqn}/1"
        assert spec.source.auth_secret is None
        assert driver.get_instance(name).block_devices == (spec,)

        with timed(arch, "attach iSCSI volume (CHAP, initiator ACL)"):
            spec = driver.attach_volume_connection(name, chap.connection_info("zc-iscsi-chap"))
        seen = log.wait(r"ZCOMPUTE-BLOCK added name=vdc .*serial=\S+")
        assert "sectors=65536" in seen
        assert "serial=zc-iscsi-chap" in seen
        assert isinstance(spec.source, NetworkDiskSource)
        assert _secrets(driver, name) == [spec.source.auth_secret]
        for inactive in (False, True):
            assert CHAP[1] not in driver.domains.xml(spec_uuid(driver, name), inactive=inactive)

        # a wrong password: refused by the target, and nothing is left of the attempt
        bad = chap.connection_info("zc-iscsi-bad", auth_password="not-the-password")
        with pytest.raises(ZcomputeError):
            driver.attach_volume_connection(name, bad)
        assert _disks(driver, name) == _disks(driver, name, inactive=True)
        assert "vdd" not in _disks(driver, name)
        assert [b.target for b in driver.get_instance(name).block_devices] == ["vdb", "vdc"]
        assert _secrets(driver, name) == [spec.source.auth_secret]

        with timed(arch, "detach iSCSI volume (until DEVICE_REMOVED)"):
            driver.detach_volume(name, "vdc")
        log.wait(r"ZCOMPUTE-BLOCK removed name=vdc")
        assert _secrets(driver, name) == []
        driver.detach_volume(name, "vdb")
        log.wait(r"ZCOMPUTE-BLOCK removed name=vdb")
        assert driver.get_instance(name).block_devices == ()
        assert "vdb" not in _disks(driver, name, inactive=True)
    driver.destroy(name)  # now, not at the module's end: TCG guests share two cores


def spec_uuid(driver: ComputeDriver, name: str) -> str:
    return driver.get_instance(name).uuid


@pytest.mark.feature("attach-volume-iscsi")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_iscsi_multiattach_on_two_guests(
    driver: ComputeDriver, arch: str, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    shared = iscsi_target.export("shared", 16 * MIB)
    image = imported_test_image(driver, arch)
    names = [guest_name, guest_name[:-1] + "b"]
    for name in names:
        driver.spawn(name, image, TINY.name, wait_for=BOOTED)
    first, second = names
    driver.attach_volume_connection(first, shared.connection_info("zc-shared"), shareable=True)
    # the second through Nova's flag in the connection_info
    spec = driver.attach_volume_connection(
        second, {**shared.connection_info("zc-shared"), "multiattach": True}
    )
    assert spec.shareable
    for name in names:
        xml = Domain.from_xml(driver.domains.xml(spec_uuid(driver, name)))
        disk = next(d for d in xml.devices.disks if d.target_dev == "vdb")
        assert disk.shareable
        assert disk.driver_cache == "none"
    with open_shell(driver, first) as shell:
        run(shell, "printf ZCSHARED42 > /dev/vdb; sync")
    driver.detach_volume(first, "vdb")
    with open_shell(driver, second) as shell:
        text = run(shell, "echo 3 > /proc/sys/vm/drop_caches; head -c 10 /dev/vdb; echo")
    assert "ZCSHARED42" in text
    assert shared.backing.read_bytes()[:10] == b"ZCSHARED42"
    driver.detach_volume(second, "vdb")
    for name in names:
        driver.destroy(name)


@pytest.mark.feature("attach-volume-iscsi")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_iscsi_luks_volume(
    driver: ComputeDriver, arch: str, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    """A LUKS volume (made with qemu-img, content written through QEMU's LUKS driver): the
    guest sees the plain content and size; the passphrase is only in a libvirt secret."""
    passphrase = "6a7c2b19e4d0f3a58c1b2e7d9f0a4c3b"  # what Nova passes: the key's hex
    backing = luks_backing(iscsi_target.directory, passphrase)
    lun = iscsi_target.export("luks", backing=backing)
    name = guest_name
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        info = lun.connection_info("zc-luks", encrypted=True)
        with pytest.raises(ZcomputeError, match="encryption"):
            driver.attach_volume_connection(name, info)  # no passphrase given
        spec = driver.attach_volume_connection(
            name, info, encryption=VolumeEncryption(passphrase.encode(), "luks")
        )
        seen = log.wait(r"ZCOMPUTE-BLOCK added name=vdb .*serial=\S+")
        assert "sectors=32768" in seen  # the 16 MiB payload, not the file with its header
        with open_shell(driver, name) as shell:
            text = run(shell, "head -c 4 /dev/vdb | od -An -tx1")
        assert text.split() == ["5a"] * 4
        assert spec.encryption_secret in _secrets(driver, name)
        assert passphrase not in driver.domains.xml(spec_uuid(driver, name), inactive=True)
        driver.detach_volume(name, "vdb")
        log.wait(r"ZCOMPUTE-BLOCK removed name=vdb")
        assert _secrets(driver, name) == []
    driver.destroy(name)
