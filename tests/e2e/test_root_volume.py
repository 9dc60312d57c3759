"""Boot from volume on real guests: the root is an iSCSI LUN of the test's own tgtd.

The guest boots the test image's kernel with the volume as its first disk (vda), and sees the
volume's content; it never gets a local root disk. Detach and snapshot of the root volume are
refused, a power cycle and a rescue keep it (a rescued guest has it second), and delete leaves
nothing: no domain, no folder, no libvirt secret; the volume keeps what the guest wrote.
"""

from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, InvalidState
from zcompute.model import NetworkDiskSource
from zcompute.volumes import VolumeConnection
from zcompute.xml import Domain

from .conftest import TINY, imported_test_image
from .iscsi_target import IscsiTarget, iscsi_target_fixture  # noqa: F401 (the fixture)
from .lifecycle_support import BOOTED, LogWatch, open_shell, run, timed
from .test_iscsi_volumes import _secrets

MIB = 1 << 20
CHAP = ("zcroot", "zc-root-chap-secret")


@pytest.mark.feature("boot-from-volume")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_a_guest_boots_from_an_iscsi_root_volume(
    driver: ComputeDriver, arch: str, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    lun = iscsi_target.export("root", 32 * MIB, chap=CHAP)
    with lun.backing.open("r+b") as handle:
        handle.write(b"ZCROOT42")  # what the volume held before the guest
    root = VolumeConnection(lun.connection_info("zc-root-volume"), tag="root")
    name = guest_name
    with timed(arch, "boot from an iSCSI volume (CHAP) until the boot report"):
        inst = driver.spawn(
            name, imported_test_image(driver, arch), TINY.name, boot_volume=root, wait_for=BOOTED
        )
    log = driver.console_log_path(name).read_text(errors="replace")
    assert f"ZCOMPUTE-BLOCK name=vda sectors={32 * MIB // 512} serial=zc-root-volume" in log
    (spec,) = inst.block_devices
    assert spec.boot
    assert spec.target == "vda"
    assert spec.tag == "root"
    assert isinstance(spec.source, NetworkDiskSource)
    assert spec.source.auth_secret
    assert not (driver.instances_dir / inst.uuid / "disk.qcow2").exists()  # no local root
    for inactive in (False, True):
        xml = driver.domains.xml(inst.uuid, inactive=inactive)
        disk = Domain.from_xml(xml).devices.disks[0]
        assert (disk.target_dev, disk.boot_order) == ("vda", 1)
        assert CHAP[1] not in xml
    assert _secrets(driver, name) == [spec.source.auth_secret]
    with open_shell(driver, name) as shell:
        assert "ZCROOT42" in run(shell, "head -c 8 /dev/vda; echo")
        run(shell, "printf ZCWROTE7 | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null")

    with pytest.raises(InvalidInput, match="vda is the root volume"):
        driver.detach_volume(name, "vda")
    with pytest.raises(InvalidState, match="boots from a volume"):
        driver.snapshot(name, f"{name}-snap")
    if arch == "s390x":
        _rescue_keeps_the_root_volume(driver, name)
    else:
        driver.power_off(name, timeout=0)  # a new plan from the record: still no local root
        with LogWatch(driver.console_log_path(name)) as watch:
            driver.power_on(name)
            watch.wait(r"ZCOMPUTE-BLOCK name=vda .*serial=zc-root-volume")
    driver.destroy(name)
    assert _secrets_named(driver, inst.uuid) == []
    assert not (driver.instances_dir / inst.uuid).exists()
    assert lun.backing.read_bytes()[4096:4104] == b"ZCWROTE7"  # the volume keeps its data


def _rescue_keeps_the_root_volume(driver: ComputeDriver, name: str) -> None:
    with LogWatch(driver.console_log_path(name)) as watch:
        driver.rescue(name)
        seen = watch.wait(r"ZCOMPUTE-BLOCK name=vdb .*serial=\S+", timeout=120)
    assert "serial=zc-root-volume" in seen  # its root volume, second
    with LogWatch(driver.console_log_path(name)) as watch:
        driver.unrescue(name)
        watch.wait(r"ZCOMPUTE-BLOCK name=vda .*serial=zc-root-volume", timeout=120)


def _secrets_named(driver: ComputeDriver, uuid: str) -> list[str]:
    return [s.usage_id for s in driver._ctx.secrets.list() if uuid in s.usage_id]
