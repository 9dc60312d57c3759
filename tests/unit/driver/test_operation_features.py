"""Every public driver operation names its support-matrix feature and refuses where it is missing.

The refusal comes from the operation's binding (``zcompute.driver._features``), before the
instance is locked or libvirt is asked: a profile that claims a feature *missing* is enforced
by every operation bound to it, and a feature that no operation binds must be a platform fact
(refused where the plan asks the profile) or not implemented yet.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zcompute.arch import FEATURES, IMPLEMENTATION, PROFILES, ArchProfile, Claim, ImplState, Status
from zcompute.driver import ComputeDriver, MigrationTarget
from zcompute.driver._features import Binding, binding, host_operation, operation
from zcompute.errors import FeatureUnsupported
from zcompute.model import Image, Instance, NICSpec

from .driver_support import FLAVOR, Recorder

#: Public names of the driver that are no operation: helpers the operations share, which
#: issue 13's explicit driver interface is to hide. Every other public method is bound.
HELPERS = frozenset(
    {
        "boot_image_for",
        "checked_volume",
        "console_log_of",
        "dry_run_host",
        "live_state",
        "root_disk_path",
    }
)


def _methods() -> dict[str, Any]:
    return {
        name: getattr(ComputeDriver, name)
        for name in dir(ComputeDriver)
        if not name.startswith("_") and callable(inspect.getattr_static(ComputeDriver, name))
    }


def _bindings() -> dict[str, Binding]:
    return {name: b for name, m in _methods().items() if (b := binding(m)) is not None}


def test_every_public_driver_method_is_an_operation_with_a_binding_or_a_helper() -> None:
    unclassified = sorted(set(_methods()) - set(_bindings()) - HELPERS)
    assert unclassified == [], (
        "bind each operation to its feature (@operation) or mark it @host_operation(): "
        f"{unclassified}"
    )
    assert not HELPERS & set(_bindings())
    assert set(_methods()) >= HELPERS, "a helper the driver no longer has: drop it from HELPERS"


def test_an_operation_on_a_named_instance_or_image_is_arch_dependent() -> None:
    for name, method in _methods().items():
        if name in HELPERS:
            continue
        params = set(inspect.signature(method).parameters)
        if params & {"name_or_uuid", "image"}:
            found = binding(method)
            assert found is not None, f"{name} works on a guest: bind it with @operation"
            assert found.arch_dependent, name
            assert found.feature is not None, name


def test_every_feature_is_bound_a_platform_fact_or_not_implemented() -> None:
    bound = {b.feature for b in _bindings().values() if b.feature is not None}
    for feature in FEATURES:
        declared = IMPLEMENTATION[feature.key].state
        if feature.key in bound:
            assert declared is not ImplState.NOT_IMPLEMENTED, (
                f"{feature.key} is bound to an operation but declared not implemented"
            )
            assert not feature.platform_fact, f"{feature.key}: an operation or a fact, not both"
        else:
            assert feature.platform_fact or declared is ImplState.NOT_IMPLEMENTED, (
                f"no operation binds {feature.key!r}: bind one (@operation({feature.key!r})), "
                "or mark the feature a platform fact in src/zcompute/arch/_support.py"
            )


#: How the plan asks a profile for each platform fact; each refuses where it is missing.
PLATFORM_FACTS: dict[str, Callable[[ArchProfile], object]] = {
    "vnc": lambda p: p.graphics("vnc"),
    "spice": lambda p: p.graphics("spice"),
    "watchdog": lambda p: p.watchdog("reset"),
    "secure-execution": lambda p: p.memballoon_model(secure=True),
    "config-drive": lambda p: p.config_drive(),
    "disk-rate-limit": lambda p: p.require("disk-rate-limit"),
    "file-backed-memory": lambda p: p.require("file-backed-memory"),
    "boot-from-volume": lambda p: p.require("boot-from-volume"),
}


@pytest.mark.parametrize("arch", list(PROFILES))
def test_platform_facts_are_refused_by_the_profile_where_missing(arch: str) -> None:
    assert set(PLATFORM_FACTS) == {f.key for f in FEATURES if f.platform_fact}
    profile = PROFILES[arch]
    for key, ask in PLATFORM_FACTS.items():
        if profile.support[key].status is Status.MISSING:
            with pytest.raises(FeatureUnsupported, match=arch):
                ask(profile)
        else:
            ask(profile)


# -- refusals ---------------------------------------------------------------------------------

#: One call of every arch-dependent operation on instance ``n`` (spawns boot ``image``).
CALLS: dict[str, Callable[[ComputeDriver, str, str], object]] = {
    "attach_fc_volume": lambda d, n, i: d.attach_fc_volume(n, {"data": {}}),
    "attach_iscsi_volume": lambda d, n, i: d.attach_iscsi_volume(n, {"data": {}}),
    "attach_volume_connection": lambda d, n, i: d.attach_volume_connection(n, {"data": {}}),
    "attach_interface": lambda d, n, i: d.attach_interface(n, NICSpec(network="default")),
    "attach_volume": lambda d, n, i: d.attach_volume(n, "/var/lib/zcompute-none.img"),
    "console_log_path": lambda d, n, i: d.console_log_path(n),
    "destroy": lambda d, n, i: d.destroy(n),
    "detach_interface": lambda d, n, i: d.detach_interface(n, "52:54:00:00:00:01"),
    "detach_volume": lambda d, n, i: d.detach_volume(n, "vdb"),
    "device_metadata": lambda d, n, i: d.device_metadata(n),
    "extend_volume": lambda d, n, i: d.extend_volume(n, "vdb"),
    "swap_volume": lambda d, n, i: d.swap_volume(n, "vdb", "/var/lib/zcompute-none.img"),
    "swap_volume_connection": lambda d, n, i: d.swap_volume_connection(n, "vdb", {"data": {}}),
    "domain_xml": lambda d, n, i: d.domain_xml(n),
    "guest_agent_info": lambda d, n, i: d.guest_agent_info(n, "debian"),
    "quiesce": lambda d, n, i: d.quiesce(n),
    "unquiesce": lambda d, n, i: d.unquiesce(n),
    "set_admin_password": lambda d, n, i: d.set_admin_password(n, "secret"),
    "get_console_output": lambda d, n, i: d.get_console_output(n),
    "get_info": lambda d, n, i: d.get_info(n),
    "diagnostics": lambda d, n, i: d.diagnostics(n),
    "get_instance": lambda d, n, i: d.get_instance(n),
    "get_serial_console": lambda d, n, i: d.get_serial_console(n),
    "instance_exists": lambda d, n, i: d.instance_exists(n),
    "instance_info": lambda d, n, i: d.instance_info(n),
    "open_console": lambda d, n, i: d.open_console(n),
    "pause": lambda d, n, i: d.pause(n),
    "plan": lambda d, n, i: d.plan("unit-new", i, FLAVOR.name),
    "power_off": lambda d, n, i: d.power_off(n),
    "power_on": lambda d, n, i: d.power_on(n),
    "reboot": lambda d, n, i: d.reboot(n),
    "rescue": lambda d, n, i: d.rescue(n),
    "resize": lambda d, n, i: d.resize(n, FLAVOR.name),
    "migrate": lambda d, n, i: d.migrate(n, d),
    "abort_migration": lambda d, n, i: d.abort_migration(n),
    "move_out": lambda d, n, i: d.move_out(n, MigrationTarget("x", Path("/x"), Path("/y"))),
    "migration_arrival": lambda d, n, i: d.migration_arrival(n),
    "force_migration": lambda d, n, i: d.force_migration(n),
    "confirm_resize": lambda d, n, i: d.confirm_resize(n),
    "revert_resize": lambda d, n, i: d.revert_resize(n),
    "pending_resize": lambda d, n, i: d.pending_resize(n),
    "resume": lambda d, n, i: d.resume(n),
    "snapshot": lambda d, n, i: d.snapshot(n, "unit-snap"),
    "spawn": lambda d, n, i: d.spawn("unit-new", i, FLAVOR.name),
    "suspend": lambda d, n, i: d.suspend(n),
    "trigger_crash_dump": lambda d, n, i: d.trigger_crash_dump(n),
    "unpause": lambda d, n, i: d.unpause(n),
    "unrescue": lambda d, n, i: d.unrescue(n),
}


class _Untouchable:
    """Stands in for libvirt: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"libvirt was asked ({name}) before the refusal")


def test_the_refusal_table_covers_every_arch_dependent_operation() -> None:
    assert set(CALLS) == {name for name, b in _bindings().items() if b.arch_dependent}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_operation_refuses_an_arch_claiming_its_feature_missing(
    test_driver: ComputeDriver,
    recorded: Recorder,
    kernel_image: Image,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    inst = recorded()
    feature = binding(getattr(ComputeDriver, name)).feature  # type: ignore[union-attr]
    assert feature is not None
    real = PROFILES[inst.arch]
    missing = dataclasses.replace(
        real, support={**real.support, feature: Claim(Status.MISSING, "not on this test arch")}
    )
    monkeypatch.setattr("zcompute.driver._features.get_profile", lambda arch: missing)
    monkeypatch.setattr(test_driver._ctx, "domains", _Untouchable())
    with pytest.raises(FeatureUnsupported, match=r"not supported on x86_64: not on this test"):
        CALLS[name](test_driver, inst.name, kernel_image.name)
    assert test_driver.db.get_instance(inst.uuid) == inst  # no task, no state change


def _aarch64_guest(driver: ComputeDriver, recorded: Recorder, tmp_path: Path) -> Instance:
    """A test-driver domain whose record says it is an aarch64 guest."""
    x86 = recorded()
    kernel = tmp_path / "vmlinuz-arm64"
    kernel.write_bytes(b"not really an arm64 kernel")
    image = driver.images.import_kernel("unit-arm64", kernel, None, None, "aarch64")
    driver.db.delete_instance(x86.uuid)
    arm = dataclasses.replace(x86, image=image, arch="aarch64", machine_type="virt")
    return driver.db.add_instance(arm)


def test_a_crash_dump_of_an_aarch64_guest_is_refused_before_libvirt(
    test_driver: ComputeDriver, recorded: Recorder, tmp_path: Path
) -> None:
    inst = _aarch64_guest(test_driver, recorded, tmp_path)
    injected: list[str] = []
    test_driver.domains.inject_nmi = injected.append  # type: ignore[method-assign]
    with pytest.raises(FeatureUnsupported) as refused:
        test_driver.trigger_crash_dump(inst.name)
    assert str(refused.value) == (
        "Trigger crash dump is not supported on aarch64: QEMU's virt machine cannot inject an NMI"
    )
    assert (refused.value.feature, refused.value.arch) == ("Trigger crash dump", "aarch64")
    assert injected == []
    assert test_driver.db.get_instance(inst.uuid) == inst
    test_driver.pause(inst.name)  # what aarch64 has still works
    assert test_driver.get_info(inst.name).state == "paused"


def test_a_missing_instance_is_the_operations_business(test_driver: ComputeDriver) -> None:
    assert test_driver.destroy("unit-no-such-guest") is False
    assert test_driver.instance_exists("unit-no-such-guest") is False


def test_a_binding_needs_a_known_feature_and_a_subject() -> None:
    with pytest.raises(ValueError, match="unknown feature 'rebooot'"):
        operation("rebooot")
    with pytest.raises(ValueError, match="unknown feature"):
        host_operation("rebooot")
    with pytest.raises(TypeError, match="host_operation"):

        @operation("reboot")
        def reboot_all(driver: ComputeDriver) -> None: ...
