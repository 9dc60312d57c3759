"""Driver part 1 end to end: spawn, inspect, destroy real guests; failures leave nothing behind."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TINY, get_test_image, imported_test_image
from zcompute.arch import get_profile
from zcompute.driver import ComputeDriver
from zcompute.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    SchemaError,
    Timeout,
    VirtError,
    ZcomputeError,
)
from zcompute.model import BlockDeviceSpec, NICSpec
from zcompute.testimage import BANNER, DEVICES_END
from zcompute.xml import Domain


def _nothing_left(driver: ComputeDriver, name: str) -> None:
    assert driver.domains.uuid_of(name) is None, "a libvirt domain was left behind"
    with pytest.raises(NotFound):
        driver.db.get_instance(name)
    leftovers = [p.name for p in driver.instances_dir.iterdir()]
    assert leftovers == [], f"instance files left behind: {leftovers}"


@pytest.mark.feature("launch", "terminate", "get-guest-info", "console-log")
@pytest.mark.parametrize("arch", ["s390x", "x86_64", "aarch64"])
def test_spawn_boots_logs_and_destroy_removes_everything(
    driver: ComputeDriver, arch: str, guest_name: str
) -> None:
    inst = driver.spawn(
        guest_name, imported_test_image(driver, arch), TINY.name, wait_for=DEVICES_END, timeout=90
    )
    try:
        log = driver.get_console_output(inst.name).decode(errors="replace")
        # an early boot message (the kernel's first line) and the guest's own banner
        assert f"Linux version {get_test_image(arch).kernel_version}" in log
        banner = next(line for line in log.splitlines() if line.startswith(BANNER))
        assert f"arch={arch}" in banner.split()
        # the flavor's root disk is there, as the guest itself reports it
        assert re.search(r"ZCOMPUTE-BLOCK name=vda sectors=2097152", log)

        info = driver.get_info(inst.name)
        assert info.state == "running"
        assert info.max_memory_kib == 256 * 1024
        assert info.vcpus == 1
        assert [i.name for i in driver.list_instances()] == [inst.name]
        assert driver.instance_exists(inst.name)

        live = Domain.from_xml(driver.domain_xml(inst.name))
        record = driver.get_instance(inst.name)
        assert live.os.machine == record.machine_type  # pinned at spawn
        _check_platform(arch, live)
    finally:
        assert driver.destroy(inst.name) is True
    _nothing_left(driver, inst.name)
    assert driver.destroy(inst.name) is False  # idempotent
    assert not driver.instance_exists(inst.name)


def _check_platform(arch: str, live: Domain) -> None:
    consoles = {(c.type, c.target_type) for c in live.devices.consoles}
    assert live.features.acpi == ("acpi" in get_profile(arch).features)
    if arch == "s390x":
        assert (live.os.machine or "").startswith("s390-ccw-virtio")
        assert consoles == {("pty", "sclp"), ("file", "sclplm")}
        assert not live.features.acpi
        addressed = [d.address for d in live.devices.disks] + [live.devices.memballoon.address]
        assert all(a is not None and a.type == "ccw" for a in addressed)
        assert [p.model for p in live.devices.panics] == ["s390"]
    else:
        serial = live.devices.serials[0]
        assert serial.type == "pty"
        assert serial.log_file is not None


def test_failure_at_define_leaves_nothing(
    driver: ComputeDriver, guest_name: str, guest_dir: Path
) -> None:
    extra = guest_dir / "extra.img"  # a volume directory of the tests, not the data directory
    extra.write_bytes(b"\0" * 1024 * 1024)
    twice = [BlockDeviceSpec(source=extra, target="vdb")] * 2  # libvirt: duplicate target
    with pytest.raises((SchemaError, VirtError, InvalidInput), match="vdb"):
        driver.spawn(
            guest_name, imported_test_image(driver, "s390x"), TINY.name, block_devices=twice
        )
    _nothing_left(driver, guest_name)


def test_failure_at_start_leaves_nothing(driver: ComputeDriver, guest_name: str) -> None:
    nic = NICSpec(network="zcompute-no-such-network")
    with pytest.raises(ZcomputeError, match="zcompute-no-such-network"):
        driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name, nics=[nic])
    _nothing_left(driver, guest_name)


def test_guest_that_never_gets_ready_is_rolled_back(driver: ComputeDriver, guest_name: str) -> None:
    with pytest.raises(Timeout, match="NEVER-PRINTED"):
        driver.spawn(
            guest_name,
            imported_test_image(driver, "s390x"),
            TINY.name,
            wait_for="NEVER-PRINTED",
            timeout=5,
        )
    _nothing_left(driver, guest_name)


@pytest.mark.parametrize("bad", ["bad/name", "a<b", "../etc", "x y", "-lead", "", "é"])
def test_invalid_names_create_nothing(driver: ComputeDriver, bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"name: .*allowed"):
        driver.spawn(bad, imported_test_image(driver, "s390x"), TINY.name)
    assert list(driver.instances_dir.iterdir()) == []


def test_unknown_flavor_and_image(driver: ComputeDriver, guest_name: str) -> None:
    with pytest.raises(NotFound, match="flavor 'no-such-flavor'"):
        driver.spawn(guest_name, imported_test_image(driver, "s390x"), "no-such-flavor")
    with pytest.raises(NotFound, match="no-such-image"):
        driver.spawn(guest_name, "no-such-image", TINY.name)
    _nothing_left(driver, guest_name)


def test_arch_the_host_cannot_run(driver: ComputeDriver, guest_name: str) -> None:
    test = get_test_image("s390x")
    image = driver.images.import_kernel(
        f"{guest_name}-ppc", test.kernel, test.initrd, None, "ppc64le"
    )
    try:
        with pytest.raises(InvalidInput, match=r"cannot run ppc64le guests.*allowed: .*s390x"):
            driver.spawn(guest_name, image, TINY.name)
    finally:
        driver.images.delete(image.id)
    _nothing_left(driver, guest_name)


def test_machine_type_the_host_lacks(driver: ComputeDriver, guest_name: str) -> None:
    test = get_test_image("s390x")
    image = driver.images.import_kernel(
        f"{guest_name}-m",
        test.kernel,
        test.initrd,
        None,
        "s390x",
        {"hw_machine_type": "s390-ccw-virtio-99.9"},
    )
    try:
        with pytest.raises(InvalidInput, match=r"s390-ccw-virtio-99\.9.*s390-ccw-virtio-7\.2"):
            driver.spawn(guest_name, image, TINY.name)
    finally:
        driver.images.delete(image.id)
    _nothing_left(driver, guest_name)


def test_duplicate_name_is_refused(driver: ComputeDriver, guest_name: str) -> None:
    inst = driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name)
    try:
        with pytest.raises(Conflict, match="already exists"):
            driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name)
        assert len(driver.db.list_instances()) == 1
    finally:
        driver.destroy(inst.uuid)


def test_s390x_boot_log_survives_a_restart(driver: ComputeDriver, guest_name: str) -> None:
    """The sclplm file is opened with append: a second boot adds to the first one's log."""
    inst = driver.spawn(
        guest_name, imported_test_image(driver, "s390x"), TINY.name, wait_for=DEVICES_END
    )
    try:
        driver.power_off(inst.name, timeout=0)
        driver.power_on(inst.name)
        log_path = driver.console_log_path(inst.name)
        deadline = time.monotonic() + 60
        while log_path.read_text(errors="replace").count(DEVICES_END) < 2:
            assert time.monotonic() < deadline, "the second boot never finished"
            time.sleep(0.1)
        log = log_path.read_text(errors="replace")
        assert log.count("Linux version") == 2
    finally:
        driver.destroy(inst.uuid)


def test_lifecycle_events_keep_the_record_in_step(driver: ComputeDriver, guest_name: str) -> None:
    """A guest stopped and started behind zcompute's back (virsh, the guest itself) is
    recorded as such, from libvirt's lifecycle events, without any zcompute call."""
    inst = driver.spawn(guest_name, imported_test_image(driver, "s390x"), TINY.name)
    try:
        assert driver.db.get_instance(inst.uuid).state == "running"
        driver.domains.destroy(inst.uuid)  # out of band, as `virsh destroy` would
        _wait_recorded(driver, inst.uuid, "shutoff")
        driver.domains.start(inst.uuid)  # out of band, as `virsh start` would
        _wait_recorded(driver, inst.uuid, "running")
    finally:
        driver.destroy(inst.uuid)


def _wait_recorded(driver: ComputeDriver, uuid: str, state: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while driver.db.get_instance(uuid).state != state:
        assert time.monotonic() < deadline, f"record never became {state}"
        time.sleep(0.05)
