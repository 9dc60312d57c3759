"""The driver API's side of the error contract: bad input is refused before anything changes,
and no OSError leaves the API (each becomes the zcompute error naming its path).

libvirt's test driver reports QEMU 0.0.2 and offers only i686 "test" guests, so where a test
needs a plan it hands the driver the host view of a real x86_64/s390x host (``HOST``); every
libvirt call still goes to ``test:///default``.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver, HostView
from zcompute.driver._host import KvmProbe, known_kvm_answer, kvm_usable
from zcompute.errors import ConfigError, Conflict, InvalidInput, NotFound, ZcomputeError
from zcompute.model import BlockDeviceSpec, Image, InstanceState, NICSpec

from .driver_support import FLAVOR, HOST_CAPS, Recorder

HOST = HostView(caps=HOST_CAPS, host_cpu_model=None, kvm_usable=False, libvirt_version=9_000_000)
MAC = "52:54:00:aa:bb:cc"


def _names(drv: ComputeDriver) -> set[str]:
    return {i.name for i in drv.db.list_instances()}


# -- timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, -1.0, math.inf])
def test_every_timeout_of_the_api_refuses_nan_negative_and_infinite(
    test_driver: ComputeDriver, recorded: Recorder, kernel_image: Image, bad: float
) -> None:
    inst = recorded()
    calls = {
        "spawn": lambda: test_driver.spawn("new", kernel_image, FLAVOR, timeout=bad),
        "power_off": lambda: test_driver.power_off(inst.name, timeout=bad),
        "reboot": lambda: test_driver.reboot(inst.name, timeout=bad),
        "detach_volume": lambda: test_driver.detach_volume(inst.name, "vdb", timeout=bad),
        "detach_interface": lambda: test_driver.detach_interface(inst.name, MAC, timeout=bad),
        "snapshot": lambda: test_driver.snapshot(inst.name, "snap", timeout=bad),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidInput, match=r"^timeout: invalid timeout .*seconds from 0 to"):
            call()
        now = test_driver.get_instance(inst.name)
        assert (now.state, now.task) == (InstanceState.RUNNING, None), name
    assert _names(test_driver) == {inst.name}
    assert test_driver.images.list() == [kernel_image]


# -- one MAC per network -----------------------------------------------------------------------


def test_attaching_a_mac_another_guest_has_on_that_network_names_that_guest(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    first, second = recorded(), recorded()
    test_driver.db.add_attachment(first.uuid, NICSpec(network="default", mac=MAC))
    with pytest.raises(
        Conflict, match=f"MAC {MAC} is already used on network default by instance {first.name}"
    ):
        test_driver.attach_interface(second.name, NICSpec(network="default", mac=MAC.upper()))
    now = test_driver.get_instance(second.name)
    assert (now.nics, now.task) == ((), None)
    assert "<interface" not in test_driver.domains.xml(second.uuid, inactive=True)


def test_spawning_with_a_mac_another_guest_has_on_that_network_creates_nothing(
    test_driver: ComputeDriver, recorded: Recorder, kernel_image: Image
) -> None:
    first = recorded()
    test_driver.db.add_attachment(first.uuid, NICSpec(network="default", mac=MAC))
    test_driver._ctx.host_view = HOST
    nic = NICSpec(network="default", mac=MAC)
    with pytest.raises(Conflict, match=f"by instance {first.name}; .*nothing changed"):
        test_driver.spawn("second", kernel_image, FLAVOR, nics=[nic])
    assert _names(test_driver) == {first.name}
    assert test_driver.domains.uuid_of("second") is None
    assert list(test_driver.instances_dir.iterdir()) == []


# -- metadata zcompute sets itself -------------------------------------------------------------


@pytest.mark.parametrize("key", ["instance", "name", "flavor", "image"])
def test_a_metadata_key_zcompute_sets_itself_is_refused(
    test_driver: ComputeDriver, kernel_image: Image, key: str
) -> None:
    metadata = {key: "mine", "owner": "ops"}
    message = f"^metadata {key}: zcompute sets these keys itself .*instance, name, flavor, image"
    with pytest.raises(InvalidInput, match=message):
        test_driver.plan("g", kernel_image, FLAVOR, metadata=metadata, host=HOST)
    with pytest.raises(InvalidInput, match=message):
        test_driver.spawn("g", kernel_image, FLAVOR, metadata=metadata)
    assert _names(test_driver) == set()
    plan = test_driver.plan("g", kernel_image, FLAVOR, metadata={"owner": "ops"}, host=HOST)
    assert plan.metadata["owner"] == "ops"
    assert plan.metadata["name"] == "g"


# -- dry runs never probe KVM ------------------------------------------------------------------


def test_without_a_recorded_probe_only_the_probe_can_tell_about_kvm(tmp_path: Path) -> None:
    versions = (9_000_000, 7_002_000)
    assert known_kvm_answer("qemu", tmp_path, versions) is False
    assert known_kvm_answer("kvm", tmp_path, versions) is True
    if not Path("/dev/kvm").exists():
        assert known_kvm_answer("auto", tmp_path, versions) is False
        return
    assert known_kvm_answer("auto", tmp_path, versions) is None  # a dry run plans TCG
    assert kvm_usable("auto", tmp_path, versions, lambda: KvmProbe(True, "booted"))
    assert known_kvm_answer("auto", tmp_path, versions) is True  # the recorded answer


def test_a_dry_run_plans_with_the_host_already_read(test_driver: ComputeDriver) -> None:
    test_driver._ctx.host_view = HOST
    assert test_driver.dry_run_host() == (HOST, None)


# -- the host view of a missing domain ---------------------------------------------------------


def test_a_record_whose_domain_is_gone_is_in_error_as_in_the_listing(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    gone = recorded()
    dom = test_driver.hv.conn.lookupByUUIDString(gone.uuid)
    dom.destroy()
    dom.undefine()
    listed = {i.uuid: i for i in test_driver.list_instances()}
    assert test_driver.instance_info(gone.name) == listed[gone.uuid]
    assert listed[gone.uuid].state is InstanceState.ERROR
    with pytest.raises(NotFound, match="instance 'nope' not found"):
        test_driver.instance_info("nope")
    test_driver.db.delete_instance(gone.uuid)


# -- OSError never leaves the API --------------------------------------------------------------


def test_a_data_dir_that_cannot_be_one_is_a_config_error_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a directory")
    with pytest.raises(ConfigError, match=f"^data_dir: .*{file}.*Not a directory"):
        ComputeDriver(Config(uri="test:///default", data_dir=file / "zc"))
    with pytest.raises(ConfigError, match=f"^data_dir: .*{file}"):
        ComputeDriver(Config(uri="test:///default", data_dir=file))


def test_a_missing_volume_path_is_a_zcompute_error_naming_it(
    test_driver: ComputeDriver, kernel_image: Image, tmp_path: Path
) -> None:
    missing = tmp_path / "gone" / "data.img"
    volume = BlockDeviceSpec(missing, "vdb")
    with pytest.raises(ZcomputeError, match=str(missing)):
        test_driver.plan("g", kernel_image, FLAVOR, block_devices=[volume], host=HOST)


def test_a_removed_data_dir_is_a_zcompute_error_naming_it(test_driver: ComputeDriver) -> None:
    test_driver._ctx.host_view = HOST
    data = test_driver.config.data_dir
    moved = data.with_name("moved-away")
    data.rename(moved)
    try:
        with pytest.raises(NotFound, match=f"^{data}: No such file or directory"):
            test_driver.get_available_resource()
    finally:
        moved.rename(data)


def test_every_public_method_maps_oserror() -> None:
    for name, attr in inspect.getmembers(ComputeDriver):
        if name.startswith("_") or isinstance(
            inspect.getattr_static(ComputeDriver, name), staticmethod
        ):
            continue
        if inspect.isfunction(attr):
            assert hasattr(attr, "__wrapped__"), name
        elif isinstance(attr, property):
            assert hasattr(attr.fget, "__wrapped__"), name
