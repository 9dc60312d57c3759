"""Migration between two zcompute hosts on this machine: this one and the second host (its
own libvirtd and virtlogd in private namespaces, scripts/second-host).

What counts is what survives: a value a process holds in the guest's RAM, a counter that
keeps counting, the data on its disk (copied while it runs: storage is not shared), its
console log with the earliest boot messages; and that one host has the guest, recorded,
and the other nothing (no domain, folder, record). An abort leaves it running here; a
migration that would not converge (the guest dirties memory faster than the stream's
bandwidth) completes when forced.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.errors import InvalidInput, NotFound, ZcomputeError
from zcompute.model import InstanceState, NICSpec
from zcompute.volumes import VolumeConnection, VolumeEncryption, VolumeSecrets

from .conftest import DATA_DIR, RUN_ID, TINY, imported_test_image
from .iscsi_target import IscsiTarget, iscsi_target_fixture, luks_backing  # noqa: F401
from .lifecycle_support import BOOTED, open_shell, run
from .tap_support import TapName, link_of, tap_name_fixture  # noqa: F401 (the fixture)

MEMORY_DIRTIER = (
    "(while true; do dd if=/dev/urandom of=/tmp/dirt bs=1M count=48 2>/dev/null; done) "
    ">/dev/null 2>&1 & true"
)


@pytest.fixture(scope="module")
def host_b(second_host: Any) -> Iterator[ComputeDriver]:
    """zcompute on the second host: its own data directory, its libvirtd."""
    data = DATA_DIR / "tests" / f"hostb-{RUN_ID}-{uuidlib.uuid4().hex[:6]}"
    driver = ComputeDriver(Config(virt_type="qemu", uri=second_host.uri, data_dir=data))
    driver.init_host()
    driver.db.add_flavor(TINY)
    yield driver
    for inst in driver.db.list_instances():
        with contextlib.suppress(ZcomputeError):
            driver.destroy(inst.uuid)
    driver.close()
    shutil.rmtree(data, ignore_errors=True)


def _gone(driver: ComputeDriver, uuid: str) -> None:
    """Nothing of the guest on this host."""
    with pytest.raises(NotFound):
        driver.get_instance(uuid)
    assert not driver.domains.exists(uuid)
    assert not (driver.instances_dir / uuid).exists()


def _prepare_guest(driver: ComputeDriver, name: str) -> None:
    with open_shell(driver, name) as shell:
        run(shell, "echo zc-ram-4711 > /tmp/value")
        run(shell, "(i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done) & true")
        run(shell, "printf ZCDISK01 | dd of=/dev/vda conv=fsync 2>/dev/null")
        time.sleep(1)


def _check_guest(driver: ComputeDriver, name: str) -> int:
    with open_shell(driver, name) as shell:
        assert run(shell, "cat /tmp/value") == "zc-ram-4711"
        first = int(run(shell, "cat /tmp/count"))
        time.sleep(1)
        second = int(run(shell, "cat /tmp/count"))
        assert second > first, "the counter stopped"
        assert run(shell, "head -c 8 /dev/vda; echo") == "ZCDISK01"
    return second


@pytest.mark.feature("live-migration")
@pytest.mark.parametrize("arch", ["s390x", "x86_64"])
def test_live_migration_there_and_back(
    driver: ComputeDriver, host_b: ComputeDriver, arch: str, guest_name: str
) -> None:
    inst = driver.spawn(guest_name, imported_test_image(driver, arch), TINY.name, wait_for=BOOTED)
    _prepare_guest(driver, guest_name)
    there = driver.migrate(guest_name, host_b)
    print(f"\n{arch}: live migration A->B {there.seconds:.2f} s, downtime {there.downtime_ms} ms")
    assert there.instance.state.value == "running"
    _gone(driver, inst.uuid)
    count = _check_guest(host_b, guest_name)
    log = (host_b.instances_dir / inst.uuid / "console.log").read_text(errors="replace")
    assert "Linux version" in log  # the earliest boot messages came along
    assert BOOTED in log
    # B runs it from its own files: no path of A's data directory (image store included)
    assert str(driver.config.data_dir) not in host_b.domains.xml(inst.uuid)

    back = host_b.migrate(guest_name, driver)
    print(f"{arch}: live migration B->A {back.seconds:.2f} s, downtime {back.downtime_ms} ms")
    _gone(host_b, inst.uuid)
    assert _check_guest(driver, guest_name) > count
    assert "Linux version" in driver.console_log_path(guest_name).read_text(errors="replace")
    driver.destroy(guest_name)


@pytest.mark.feature("live-migration", arch="s390x")
def test_abort_leaves_the_guest_here_and_force_completes_one_that_would_not_converge(
    driver: ComputeDriver, host_b: ComputeDriver, guest_name: str
) -> None:
    inst = driver.spawn(
        guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED
    )
    _prepare_guest(driver, guest_name)
    with open_shell(driver, guest_name) as shell:
        run(shell, MEMORY_DIRTIER)
    # 4 MiB/s: slower than the guest dirties its memory, so it never converges by itself
    outcome: list[object] = []

    def migrate(**extra: Any) -> None:
        try:
            outcome.append(driver.migrate(guest_name, host_b, bandwidth_mib=4, **extra))
        except ZcomputeError as err:
            outcome.append(err)

    worker = threading.Thread(target=migrate)
    worker.start()
    time.sleep(3)
    driver.abort_migration(guest_name)
    worker.join(60)
    assert isinstance(outcome[0], ZcomputeError), outcome
    _gone(host_b, inst.uuid)  # the destination's preparation is undone
    assert driver.get_instance(guest_name).task is None
    _check_guest(driver, guest_name)

    started = time.monotonic()
    result = driver.migrate(guest_name, host_b, bandwidth_mib=4, force_after=3)
    print(f"\ns390x: forced migration ({result.forced}) {time.monotonic() - started:.1f} s, "
          f"downtime {result.downtime_ms} ms")  # fmt: skip
    assert result.forced == "paused"
    assert result.instance.state.value == "running"  # paused to finish, running there
    _gone(driver, inst.uuid)
    _check_guest(host_b, guest_name)
    host_b.destroy(guest_name)


@pytest.mark.feature("live-migration", arch="s390x")
def test_offline_migration_of_a_stopped_guest(
    driver: ComputeDriver, host_b: ComputeDriver, guest_name: str
) -> None:
    inst = driver.spawn(
        guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED
    )
    with open_shell(driver, guest_name) as shell:
        run(shell, "printf ZCDISK01 | dd of=/dev/vda conv=fsync 2>/dev/null")
    driver.power_off(guest_name, timeout=0)
    result = driver.migrate(guest_name, host_b, live=False)
    assert result.instance.state.value == "shutoff"
    _gone(driver, inst.uuid)
    host_b.power_on(guest_name)
    with open_shell(host_b, guest_name) as shell:
        assert run(shell, "head -c 8 /dev/vda; echo") == "ZCDISK01"
    assert Path(host_b.instances_dir / inst.uuid / "disk.qcow2").is_file()
    host_b.destroy(guest_name)


@pytest.mark.feature("live-migration", arch="s390x")
def test_a_guest_on_shared_storage_moves_only_its_memory(
    driver: ComputeDriver, host_b: ComputeDriver, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    """Its root is an iSCSI volume both hosts reach (a SAN's LUN): no disk is copied."""
    lun = iscsi_target.export("shared-root", 16 << 20)
    root = VolumeConnection(lun.connection_info("zc-shared-root"))
    inst = driver.spawn(
        guest_name,
        imported_test_image(driver, "s390x"),
        TINY.name,
        boot_volume=root,
        wait_for=BOOTED,
    )
    _prepare_guest(driver, guest_name)  # its marker goes onto the shared volume
    copied: list[int] = []
    result = driver.migrate(guest_name, host_b, progress=lambda p: copied.append(p.disk_remaining))
    print(f"\ns390x on a shared volume: live migration {result.seconds:.2f} s, "
          f"downtime {result.downtime_ms} ms")  # fmt: skip
    assert not any(copied), "a disk was copied"
    _gone(driver, inst.uuid)
    _check_guest(host_b, guest_name)
    assert lun.backing.read_bytes()[:8] == b"ZCDISK01"  # written by the guest, on the LUN
    host_b.destroy(guest_name)


def _secrets_of(driver: ComputeDriver, uuid: str) -> list[str]:
    """The libvirt secrets the driver's host keeps for the instance (their usage names it)."""
    listed = subprocess.run(
        ["virsh", "-c", driver.config.uri, "secret-list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line.split()[0] for line in listed.splitlines() if uuid in line)


@pytest.mark.feature("live-migration", arch="s390x")
def test_volumes_with_chap_and_luks_move_with_their_secrets(
    driver: ComputeDriver, host_b: ComputeDriver, guest_name: str, iscsi_target: IscsiTarget
) -> None:
    """libvirt keeps a volume's secrets private to its host: the destination defines them
    again from what the caller gives (refused, with nothing changed, without them), and its
    QEMU logs in with the destination's own initiator name, which the target's ACL admits."""
    chap = ("zcmove", "zc-move-chap-secret")
    initiators = (driver.iscsi_initiator_name(), host_b.iscsi_initiator_name())
    assert initiators[0] != initiators[1]
    chap_lun = iscsi_target.export("move-chap", 16 << 20, chap=chap, initiator=initiators)
    passphrase = "0b1c2d3e4f5a6978899aabbccddeeff0"
    luks_lun = iscsi_target.export(
        "move-luks", backing=luks_backing(iscsi_target.directory, passphrase)
    )
    inst = driver.spawn(
        guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=BOOTED
    )
    driver.attach_volume_connection(guest_name, chap_lun.connection_info("zc-move-chap"))
    encryption = VolumeEncryption(passphrase.encode())
    info = luks_lun.connection_info("zc-move-luks", encrypted=True)
    driver.attach_volume_connection(guest_name, info, encryption=encryption)
    with open_shell(driver, guest_name) as shell:
        run(shell, "printf ZCCHAP01 | dd of=/dev/vdb conv=fsync 2>/dev/null")
    before = _secrets_of(driver, inst.uuid)
    assert len(before) == 2

    with pytest.raises(InvalidInput, match=r"secrets\.vdb\.chap_password"):
        driver.migrate(guest_name, host_b, secrets={"vdc": VolumeSecrets(encryption=encryption)})
    assert driver.get_instance(guest_name).state is InstanceState.RUNNING
    assert _secrets_of(driver, inst.uuid) == before
    _gone(host_b, inst.uuid)
    assert _secrets_of(host_b, inst.uuid) == []

    given = {
        "vdb": VolumeSecrets(chap_password=chap[1].encode()),
        "vdc": VolumeSecrets(encryption=encryption),
    }
    result = driver.migrate(guest_name, host_b, secrets=given)
    print(f"\ns390x with CHAP and LUKS volumes: live migration {result.seconds:.2f} s, "
          f"downtime {result.downtime_ms} ms")  # fmt: skip
    _gone(driver, inst.uuid)
    assert _secrets_of(driver, inst.uuid) == []
    assert _secrets_of(host_b, inst.uuid) == before  # the same UUIDs, defined there
    xml = host_b.domains.xml(inst.uuid)
    assert chap[1] not in xml
    assert passphrase not in xml
    assert f"<iqn name='{initiators[1]}'/>" in xml
    assert initiators[0] not in xml
    recorded = [b.source for b in host_b.get_instance(guest_name).block_devices]
    assert all(getattr(s, "initiator", initiators[1]) == initiators[1] for s in recorded)
    with open_shell(host_b, guest_name) as shell:
        assert run(shell, "head -c 8 /dev/vdb; echo") == "ZCCHAP01"
        assert run(shell, "head -c 4 /dev/vdc | od -An -tx1").split() == ["5a"] * 4
    # and back, stopped: host A pulls it (its disks copied) and defines the secrets again
    host_b.power_off(guest_name, timeout=0)
    host_b.migrate(guest_name, driver, live=False, secrets=given)
    _gone(host_b, inst.uuid)
    assert _secrets_of(host_b, inst.uuid) == []
    assert _secrets_of(driver, inst.uuid) == before
    assert f"<iqn name='{initiators[0]}'/>" in driver.domains.xml(inst.uuid, inactive=True)
    assert driver.get_instance(guest_name).state is InstanceState.SHUTOFF
    driver.destroy(guest_name)
    assert _secrets_of(driver, inst.uuid) == []


@pytest.mark.feature("live-migration", arch="s390x")
def test_a_guest_on_a_tap_device_moves_with_its_nic(
    driver: ComputeDriver, host_b: ComputeDriver, guest_name: str, tap_name: TapName
) -> None:
    """Both QEMUs hold a tap while the guest moves; the two hosts of this machine share one
    network namespace, so on B the device gets the other name (a trailing ``_``) and the
    guest keeps its NIC (same MAC, the tap's MTU), checked at the link level; back on A it has
    its first name again, and no host keeps a device of the host it left."""
    tap = tap_name()
    mac = "52:54:00:7a:0b:01"
    nic = NICSpec(tap=tap, mac=mac, mtu=1400)
    inst = driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name,
                        nics=[nic], wait_for=BOOTED)  # fmt: skip
    mtu_of_mac = f"grep -l {mac} /sys/class/net/*/address | sed s/address/mtu/ | xargs cat"
    for source, dest, name in ((driver, host_b, f"{tap}_"), (host_b, driver, tap)):
        source.migrate(guest_name, dest)
        _gone(source, inst.uuid)
        assert [n.tap for n in dest.get_instance(guest_name).nics] == [name]
        assert f"<target dev='{name}'" in dest.domains.xml(inst.uuid)
        link = link_of(name)
        assert link is not None
        assert link["mtu"] == 1400
        assert link_of(f"{tap}_" if name == tap else tap) is None  # the source's went
        with open_shell(dest, guest_name) as shell:
            assert run(shell, mtu_of_mac) == "1400"
    # stopped, B pulls it: the same renaming
    driver.power_off(guest_name, timeout=0)
    driver.migrate(guest_name, host_b, live=False)
    assert [n.tap for n in host_b.get_instance(guest_name).nics] == [f"{tap}_"]
    assert f"<target dev='{tap}_'" in host_b.domains.xml(inst.uuid, inactive=True)
    host_b.power_on(guest_name)
    with open_shell(host_b, guest_name) as shell:
        assert run(shell, mtu_of_mac) == "1400"
    host_b.destroy(guest_name)
    assert link_of(tap) is None
    assert link_of(f"{tap}_") is None
