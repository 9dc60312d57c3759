"""The guest CPU across hosts, in the driver: the fleet's baseline in a plan's domain XML, and
the migration's refusal to move a guest to a host whose CPU lacks what it runs with.

The hosts are real IBM Z ones from ../shared/testdata: this host is capabilities without a CPU
model plus a machine's /proc/cpuinfo; a remote destination is what its libvirt would answer,
the domain capabilities of a real z15's or z16's QEMU (their host-model). Guests are libvirt
test-driver domains; through the driver the destination is the test driver itself.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.arch import HostCpuFacts
from zcompute.builder import build_domain
from zcompute.config import Config
from zcompute.driver import ComputeDriver, HostView, MigrationTarget, PlanRequest, make_plan
from zcompute.driver._cpucompat import cpu_move_problem, destination_cpu, guest_cpu
from zcompute.driver._host import host_cpu_model
from zcompute.driver._operations import Operation
from zcompute.errors import ConfigError, HypervisorUnavailable, InvalidState
from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.model import Flavor, Image, Instance, InstanceState, new_uuid
from zcompute.virt import validate_domain_on_libvirt
from zcompute.xml import Cpu, Disk, Domain, validate_schema

from .driver_support import FLAVOR, kernel_boot_image

CPUINFO = {
    "z13": "cpuinfo-prometheus-procfs-z13-2964.txt",
    "z14": "cpuinfo-vdsm-z14-3906.txt",
    "z15": "cpuinfo-insights-core-z15-8561.txt",
    "z16": "cpuinfo-ghw-snapshot-z16-3931.txt",
}


def z_host(testdata: Path, machine: str) -> HostView:
    """A real s390x KVM host (vdsm's capabilities, no CPU <model>) with a machine's cpuinfo."""
    caps = HostCapabilities.from_xml(
        (testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    )
    cpu = host_cpu_model(caps, testdata / "cpuinfo" / CPUINFO[machine])
    return HostView(caps=caps, host_cpu_model=cpu.model, kvm_usable=True, libvirt_version=9_000_000)


def _plan(tmp_path: Path, host: HostView, config: Config, image: Image | None = None):  # type: ignore[no-untyped-def]
    request = PlanRequest(
        uuid=new_uuid(),
        name="web1",
        flavor=Flavor("small", 1, 1024, 0),
        image=image or kernel_boot_image("s390x"),
        instance_dir=tmp_path / "inst",
        root_disk=None,
    )
    return make_plan(request, config, host)


# -- the baseline in the plan ---------------------------------------------------------------


def test_a_pinned_baseline_is_the_cpu_of_an_s390x_kvm_guest(
    tmp_path: Path, shared_testdata: Path
) -> None:
    plan = _plan(tmp_path, z_host(shared_testdata, "z16"), Config(cpu_baseline_model="z14"))
    assert plan.domain_type == "kvm"
    assert (plan.cpu.mode, plan.cpu.model, plan.cpu.fallback) == ("custom", "z14", "forbid")
    dom = build_domain(plan)
    xml = dom.to_xml()
    validate_schema(xml)
    validate_domain_on_libvirt(xml)
    assert (dom.cpu.mode, dom.cpu.model, dom.cpu.model_fallback) == ("custom", "z14", "forbid")
    assert '<model fallback="forbid">z14</model>' in xml.replace("'", '"')


def test_the_hardware_name_becomes_qemu_s_model(tmp_path: Path, shared_testdata: Path) -> None:
    plan = _plan(tmp_path, z_host(shared_testdata, "z16"), Config(cpu_baseline_model="z15"))
    assert plan.cpu.model == "gen15a"


def test_without_a_baseline_host_model_as_before(tmp_path: Path, shared_testdata: Path) -> None:
    host = z_host(shared_testdata, "z16")
    assert _plan(tmp_path, host, Config()).cpu.mode == "host-model"
    other_arch = Config(cpu_baseline_model="x86_64=Haswell-noTSX")  # not this guest's arch
    assert _plan(tmp_path, host, other_arch).cpu.mode == "host-model"


def test_a_tcg_guest_keeps_its_emulated_model(tmp_path: Path, shared_testdata: Path) -> None:
    config = Config(virt_type="qemu", cpu_baseline_model="z14")
    plan = _plan(tmp_path, z_host(shared_testdata, "z16"), config)
    assert plan.domain_type == "qemu"
    assert plan.cpu.model != "z14"
    assert plan.cpu.fallback is None


def test_a_baseline_newer_than_the_host_is_a_config_error(
    tmp_path: Path, shared_testdata: Path
) -> None:
    config = Config(cpu_baseline_model="z16")
    with pytest.raises(ConfigError, match=r"cpu_baseline_model: gen16a \(z16\) is newer than"):
        _plan(tmp_path, z_host(shared_testdata, "z13"), config)


def test_a_bad_baseline_is_a_config_error_even_for_tcg(
    tmp_path: Path, shared_testdata: Path
) -> None:
    config = Config(virt_type="qemu", cpu_baseline_model="s390x=z99")
    with pytest.raises(ConfigError, match=r"cpu_baseline_model: entry 1 's390x=z99'"):
        _plan(tmp_path, z_host(shared_testdata, "z16"), config)


# -- the migration's check ------------------------------------------------------------------


@pytest.fixture
def there(tmp_path: Path) -> Iterator[ComputeDriver]:
    """zcompute on the destination: another data directory (same test libvirt)."""
    config = Config(
        uri="test:///default",
        virt_type="qemu",
        data_dir=tmp_path / "zc-b",
        volume_dirs=str(tmp_path),
    )
    drv = ComputeDriver(config)
    yield drv
    drv.close()


def _s390x_guest(
    driver: ComputeDriver, cpu: Cpu | None, *, domain_type: str = "kvm", start: bool = True
) -> Instance:
    """A test-driver domain with ``cpu`` as its (live) <cpu>, recorded as an s390x guest (the
    ``test_driver`` fixture removes it)."""
    uuid = str(uuidlib.uuid4())
    dom = Domain(type="test")
    dom.name = f"unit-{uuid[:8]}"
    dom.uuid = uuid
    dom.memory_kib = 65536
    dom.os.type = "hvm"
    if cpu is not None:
        dom.cpu = cpu
    disk = Disk(type="file", device="disk")
    disk.source_file = str(driver.root_disk_path(uuid))
    disk.target_dev = "vda"
    disk.target_bus = "virtio"
    dom.devices.add(disk)
    driver.domains.define(dom.to_xml())
    if start:
        driver.domains.start(uuid)
    name = f"s390x-kernel-{uuid[:8]}"
    image = driver.images.import_kernel(name, _kernel(driver), None, None, "s390x")
    inst = Instance(
        uuid=uuid,
        name=dom.name,
        flavor=FLAVOR,
        image=image,
        arch="s390x",
        machine_type="s390-ccw-virtio-7.2",
        domain_type=domain_type,
        state=InstanceState.RUNNING if start else InstanceState.SHUTOFF,
    )
    return driver.db.add_instance(inst)


def _kernel(driver: ComputeDriver) -> Path:
    kernel = driver.config.data_dir.parent / f"vmlinuz-{uuidlib.uuid4().hex[:6]}"
    kernel.write_bytes(b"not really a kernel")
    return kernel


def _unchanged(driver: ComputeDriver, inst: Instance) -> None:
    """The record as it was: no task, the same state (only its time stamp moved)."""
    after = driver.db.get_instance(inst.uuid)
    assert dataclasses.replace(after, updated_at=inst.updated_at) == inst


def _this_host(driver: ComputeDriver, testdata: Path, machine: str) -> None:
    driver._ctx.host_view = z_host(testdata, machine)


def remote_z_host(testdata: Path, domcaps: str) -> HostCpuFacts:
    """What a remote IBM Z host's libvirt tells the source (:func:`destination_cpu`): its
    capabilities (no CPU model) and its domain capabilities (their host-model)."""
    caps = HostCapabilities.from_xml(
        (testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml").read_text()
    )
    dom = DomainCapabilities.from_xml((testdata / "domaincaps" / domcaps).read_text(), domcaps)
    return HostCpuFacts.of("the destination (qemu+ssh://z15/system)", caps, caps.cpu.model, dom)


Z15_LIBVIRT = "qemu_8.2.0.s390x.xml"  # host-model gen15a-base: a z15's libvirt


def test_a_z16_guest_is_not_moved_to_a_z15(
    test_driver: ComputeDriver, shared_testdata: Path
) -> None:
    """A guest started with host-model on a z16: its live XML has the z16's model."""
    _this_host(test_driver, shared_testdata, "z16")
    inst = _s390x_guest(test_driver, Cpu(mode="custom", model="gen16a-base"))
    op = Operation(inst, inst.state)
    dest = remote_z_host(shared_testdata, Z15_LIBVIRT)
    problem = cpu_move_problem(test_driver._ctx, op, "qemu+ssh://z15/system", dest)
    assert problem is not None
    assert problem.startswith("its CPU model gen16a-base (z16) is newer than the CPU of ")
    assert "the destination (qemu+ssh://z15/system), gen15a-base (z15)" in problem
    assert 'cpu_baseline_model = "z15"' in problem
    newer = remote_z_host(shared_testdata, "qemu_9.1.0.s390x.xml")  # host-model gen16a-base
    assert cpu_move_problem(test_driver._ctx, op, "qemu+ssh://z16/system", newer) is None


@pytest.mark.parametrize(
    ("cpu", "domain_type", "start"),
    [
        (Cpu(mode="custom", model="z14"), "kvm", True),  # the fleet's baseline
        (Cpu(mode="custom", model="gen16a-base"), "qemu", True),  # TCG: emulated
        (Cpu(mode="host-model"), "kvm", False),  # stopped: the host starting it decides
    ],
    ids=["baseline", "tcg", "stopped-host-model"],
)
def test_guests_that_may_move_from_a_z16_to_a_z15(
    test_driver: ComputeDriver, shared_testdata: Path, cpu: Cpu, domain_type: str, start: bool
) -> None:
    _this_host(test_driver, shared_testdata, "z16")
    inst = _s390x_guest(test_driver, cpu, domain_type=domain_type, start=start)
    dest = remote_z_host(shared_testdata, Z15_LIBVIRT)
    op = Operation(inst, inst.state)
    assert cpu_move_problem(test_driver._ctx, op, "qemu+ssh://z15/system", dest) is None


def test_the_guest_cpu_is_read_from_its_live_xml(test_driver: ComputeDriver) -> None:
    inst = _s390x_guest(test_driver, Cpu(mode="custom", model="gen16a-base"))
    guest = guest_cpu(test_driver._ctx, Operation(inst, inst.state))
    assert (guest.domain_type, guest.mode, guest.model, guest.running) == (
        "kvm",
        "custom",
        "gen16a-base",
        True,
    )


def test_the_destination_is_what_its_libvirt_says() -> None:
    """libvirt's test driver: no CPU model, no host-model, no custom models."""
    facts = destination_cpu("test:///default", "s390x", None)
    assert (facts.model, facts.host_model, facts.models) == (None, None, None)
    assert facts.name == "the destination (test:///default)"


def test_the_migration_refuses_and_nothing_changes(
    test_driver: ComputeDriver, there: ComputeDriver, shared_testdata: Path
) -> None:
    """Through the driver: a KVM guest whose CPU the destination cannot be shown to run (its
    libvirt names no IBM Z model) stays here, recorded as it was; nothing is over there."""
    _this_host(test_driver, shared_testdata, "z16")
    inst = _s390x_guest(test_driver, Cpu(mode="custom", model="gen16a-base"))
    with pytest.raises(InvalidState) as caught:
        test_driver.migrate(inst.name, there)
    text = str(caught.value)
    assert text.startswith(f"{inst.name} cannot move: its CPU model gen16a-base (z16) needs ")
    assert "the destination (test:///default) names no s390x CPU model" in text
    assert text.endswith("nothing changed")
    _unchanged(test_driver, inst)
    assert test_driver.domains.state(inst.uuid).name == "RUNNING"
    assert there.db.list_instances() == []
    assert not (there.instances_dir / inst.uuid).exists()
    target = MigrationTarget("test:///default", there.instances_dir, there.images.images_dir)
    with pytest.raises(InvalidState, match="names no s390x CPU model"):
        test_driver.move_out(inst.name, target)  # Nova's steps: the source's half
    _unchanged(test_driver, inst)


def test_a_tcg_guest_passes_the_cpu_check(
    test_driver: ComputeDriver, shared_testdata: Path
) -> None:
    """An emulated CPU: not even the destination is asked (a KVM guest's check asks it)."""
    inst = _s390x_guest(test_driver, Cpu(mode="custom", model="gen16a-base"), domain_type="qemu")
    op = Operation(inst, inst.state)
    nowhere = "test:///nowhere/zcompute-no-such-node.xml"  # asking it would fail
    assert cpu_move_problem(test_driver._ctx, op, nowhere) is None
    _this_host(test_driver, shared_testdata, "z16")
    kvm = _s390x_guest(test_driver, Cpu(mode="custom", model="gen16a-base"))
    with pytest.raises(HypervisorUnavailable):
        cpu_move_problem(test_driver._ctx, Operation(kvm, kvm.state), nowhere)
