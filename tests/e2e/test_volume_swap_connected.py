"""Swap onto Cinder volumes zcompute connects itself, under real running guests (iSCSI here;
Fibre Channel in test_fc_volume.py).

The LUNs are files of a tgtd of the test's own on 127.0.0.1 (iscsi_target); QEMU logs in to
them itself, so the block copy's destination is a network disk. A swap moves the guest's data:
what the guest wrote before is in the new LUN's file afterwards, what it writes then lands
there only, and the guest keeps its device (no unplug, no hotplug). The host keeps the secrets
of the volume in use and no other: the new volume's CHAP secret is defined, the old one's is
gone, and no password is ever in the domain's XML.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, ZcomputeError
from zcompute.model import NetworkDiskSource
from zcompute.volumes import VolumeEncryption
from zcompute.xml import Disk, Domain

from .conftest import TINY, imported_test_image
from .iscsi_target import IscsiTarget, Lun, iscsi_target_fixture, luks_backing  # noqa: F401
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed
from .test_iscsi_volumes import _secrets
from .test_volume_swap import _block_jobs, _reads, _volume

MIB = 1 << 20
CHAP = ("zcswap1", "zc-swap-chap-one")  # throwaways of this test's own target
CHAP2 = ("zcswap2", "zc-swap-chap-two")
CHAP3 = ("zcswap3", "zc-swap-chap-three")


def _disk(driver: ComputeDriver, name: str, *, inactive: bool = False) -> Disk:
    uuid = driver.get_instance(name).uuid
    dom = Domain.from_xml(driver.domains.xml(uuid, inactive=inactive))
    return next(d for d in dom.devices.disks if d.target_dev == "vdb")


def _uses(driver: ComputeDriver, name: str, lun: Lun) -> None:
    """The record and both definitions name ``lun`` as vdb; no copy job is left."""
    (spec,) = driver.get_instance(name).block_devices
    assert isinstance(spec.source, NetworkDiskSource)
    assert spec.source.name == f"{lun.iqn}/1"
    for inactive in (False, True):
        disk = _disk(driver, name, inactive=inactive)
        assert (disk.type, disk.source_name) == ("network", f"{lun.iqn}/1")
        assert disk.source_auth_secret_uuid == spec.source.auth_secret
    assert _block_jobs(name, "vdb") in ("", "No current block job for vdb")


def _head(path: Path, length: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(length)


@pytest.mark.feature("swap-volume", "attach-volume-iscsi")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_swap_onto_iscsi_volumes_with_and_without_chap(
    driver: ComputeDriver, arch: str, guest_name: str, guest_dir: Path, iscsi_target: IscsiTarget
) -> None:
    name = guest_name
    initiator = driver.iscsi_initiator_name()
    plain = iscsi_target.export("plain", 16 * MIB)
    chap = iscsi_target.export("chap", 16 * MIB, chap=CHAP, initiator=initiator)
    chap2 = iscsi_target.export("chap2", 16 * MIB, chap=CHAP2)
    larger = iscsi_target.export("larger", 24 * MIB, chap=CHAP3)
    driver.spawn(name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    with LogWatch(driver.console_log_path(name)) as log:
        old = _volume(guest_dir, "old.img", 16 * MIB, b"ZC-OLD-VOLUME-DATA")
        driver.attach_volume(name, old, target="vdb", serial="zcswap")
        log.wait(r"ZCOMPUTE-BLOCK added name=vdb ")
        with open_shell(driver, name) as shell:
            run(shell, "echo ZC-BEFORE-SWAP > /dev/vdb; sync")
            since = log.mark()

            # a file onto a LUN without CHAP
            with timed(arch, "swap volume onto an iSCSI LUN (block copy and pivot)"):
                spec = driver.swap_volume_connection(
                    name, "vdb", plain.connection_info("zc-swap-plain")
                )
            assert spec.serial == "zc-swap-plain"
            assert spec.size_bytes == 16 * MIB
            _uses(driver, name, plain)
            assert _head(plain.backing, 14) == b"ZC-BEFORE-SWAP"  # the guest's data moved
            assert _reads(shell, "vdb", 14) == "ZC-BEFORE-SWAP"
            run(shell, "echo ZC-ON-THE-PLAIN > /dev/vdb; sync")
            assert _head(plain.backing, 15) == b"ZC-ON-THE-PLAIN"
            assert _head(old, 14) == b"ZC-BEFORE-SWAP"  # the old volume as it was
            assert _secrets(driver, name) == []

            # refused: the LUN in use, and one of another size (QEMU refuses it: nothing stays)
            with pytest.raises(InvalidInput, match="is what vdb uses already"):
                driver.swap_volume_connection(name, "vdb", plain.connection_info("zc-again"))
            with pytest.raises(ZcomputeError):
                driver.swap_volume_connection(name, "vdb", larger.connection_info("zc-larger"))
            _uses(driver, name, plain)
            assert _secrets(driver, name) == []
            assert driver.get_instance(name).task is None

            # onto a LUN behind CHAP (and an initiator ACL): its secret is defined
            with timed(arch, "swap volume onto an iSCSI LUN (CHAP)"):
                spec = driver.swap_volume_connection(
                    name, "vdb", chap.connection_info("zc-swap-chap")
                )
            assert isinstance(spec.source, NetworkDiskSource)
            first_secret = spec.source.auth_secret
            assert _secrets(driver, name) == [first_secret]
            _uses(driver, name, chap)
            assert _head(chap.backing, 15) == b"ZC-ON-THE-PLAIN"

            # from CHAP to CHAP: the old volume's secret goes, the new one's comes
            spec = driver.swap_volume_connection(name, "vdb", chap2.connection_info("zc-swap-2"))
            assert isinstance(spec.source, NetworkDiskSource)
            assert _secrets(driver, name) == [spec.source.auth_secret] != [first_secret]
            _uses(driver, name, chap2)
            uuid = driver.get_instance(name).uuid
            for inactive in (False, True):
                xml = driver.domains.xml(uuid, inactive=inactive)
                assert CHAP[1] not in xml
                assert CHAP2[1] not in xml
            run(shell, "echo ZC-ON-THE-CHAP-2 > /dev/vdb; sync")
            assert _reads(shell, "vdb", 16) == "ZC-ON-THE-CHAP-2"
            assert _head(chap2.backing, 16) == b"ZC-ON-THE-CHAP-2"
            assert _head(chap.backing, 15) == b"ZC-ON-THE-PLAIN"

            # back onto a file: no secret is left
            back = driver.swap_volume(name, "vdb", _volume(guest_dir, "back.img", 16 * MIB, b""))
            assert _secrets(driver, name) == []
            assert _reads(shell, "vdb", 16) == "ZC-ON-THE-CHAP-2"
        # the guest kept its device all along
        assert log.lines_since(since, r"ZCOMPUTE-BLOCK (added|removed)") == []
        assert driver.get_instance(name).block_devices == (back,)
        assert back.serial == "zc-swap-2"  # a path brings no serial: the volume's stays
    driver.destroy(name)  # now, not at the module's end: TCG guests share two cores


@pytest.mark.feature("swap-volume", "attach-volume-iscsi", arch="s390x")
def test_swap_onto_a_luks_iscsi_volume(
    driver: ComputeDriver, guest_name: str, guest_dir: Path, iscsi_target: IscsiTarget
) -> None:
    """A LUKS volume takes the guest's plain data (QEMU encrypts it on the way): the LUN's
    file holds it encrypted, the passphrase only a libvirt secret."""
    passphrase = "3b9f0c2e7a5d41e8b6c0f9a2d4e7c1b5"  # what Nova passes: the key's hex
    backing = luks_backing(guest_dir, passphrase)
    obj = f"secret,id=sec0,file={guest_dir / 'passphrase'}"
    lun = iscsi_target.export("luks", backing=backing)
    name = guest_name
    driver.spawn(name, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED)
    old = _volume(guest_dir, "old.img", 16 * MIB, b"ZC-PLAIN-DATA-FOR-LUKS")
    driver.attach_volume(name, old, target="vdb")
    info = lun.connection_info("zc-swap-luks", encrypted=True)
    with pytest.raises(ZcomputeError, match="encryption"):
        driver.swap_volume_connection(name, "vdb", info)  # no passphrase given
    spec = driver.swap_volume_connection(
        name, "vdb", info, encryption=VolumeEncryption(passphrase.encode(), "luks")
    )
    assert spec.encryption_secret in _secrets(driver, name)
    with open_shell(driver, name) as shell:
        assert _reads(shell, "vdb", 22) == "ZC-PLAIN-DATA-FOR-LUKS"
    assert b"ZC-PLAIN-DATA-FOR-LUKS" not in backing.read_bytes()  # encrypted at rest
    plain = subprocess.run(
        ["qemu-io", "--object", obj, "--image-opts",
         f"driver=luks,key-secret=sec0,file.filename={backing}", "-r", "-c", "read -v 0 22"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "5a 43 2d 50 4c 41 49 4e" in plain  # "ZC-PLAIN", decrypted with the passphrase
    assert passphrase not in driver.domains.xml(driver.get_instance(name).uuid, inactive=True)
    driver.detach_volume(name, "vdb")
    assert _secrets(driver, name) == []
    driver.destroy(name)
