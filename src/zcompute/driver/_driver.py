"""The compute driver: guest lifecycle use cases over libvirt, the state DB and the image store.

Each public method is one operation. Operations on one instance serialise on its lock; others
run in parallel. Multi-step operations register an undo for every step, so a failure leaves
nothing behind: no half-defined domain, orphan disk or stale record.

Spawn, destroy and the queries live here; the other operations come from mixins: power
(:mod:`._power`), volumes and NICs (:mod:`._devices`), snapshot (:mod:`._snapshot`) and the
interactive console (:mod:`._serial`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zcompute._faults import fault_point
from zcompute.builder import build_domain_xml
from zcompute.config import Config, load_config
from zcompute.driver import _console
from zcompute.driver._api import Capabilities, ComputeAPI, capabilities_of
from zcompute.driver._base import DriverCore
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._features import host_operation, operation
from zcompute.driver._host import (
    KvmProbe,
    checked_versions,
    dry_run_note,
    host_cpu_model,
    known_kvm_answer,
    kvm_usable,
    read_host_view,
)
from zcompute.driver._locks import InstanceLocks
from zcompute.driver._macs import refuse_shared_macs
from zcompute.driver._metadata import instance_metadata, user_metadata
from zcompute.driver._power import PowerOps
from zcompute.driver._recovery import RecoveryOps
from zcompute.driver._reports import (
    HostReport,
    InstanceInfo,
    domain_gone,
    info_of,
    supported_instances,
)
from zcompute.driver._serial import ConsoleOps
from zcompute.driver._snapshot import SnapshotOps
from zcompute.driver._state import instance_state, settled_state
from zcompute.driver._undo import UndoStack
from zcompute.driver._waiters import DomainEvents
from zcompute.errors import (
    ConfigError,
    Conflict,
    HostFileError,
    InvalidState,
    NotFound,
    ZcomputeError,
)
from zcompute.images import (
    DIR_TRAVERSE,
    ImageStore,
    make_data_dir,
    make_dir,
    tighten,
    unsafe_directory,
)
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    Task,
    UnusableRecord,
    new_uuid,
    validate_name,
    validate_timeout,
)
from zcompute.plan import GuestPlan, HostView, PlanRequest, make_plan
from zcompute.state import SpaceReserve, StateDB
from zcompute.virt import (
    Domains,
    DomainState,
    Hypervisor,
    LifecycleEvent,
    PowerState,
    lifecycle_subscription,
    stats_values,
)

LOG = logging.getLogger("zcompute.driver")


@map_os_errors  # no OSError leaves the driver: each becomes the zcompute error naming its path
class ComputeDriver(PowerOps, RecoveryOps, SnapshotOps, ConsoleOps, DriverCore):
    """zcompute's compute driver for one host."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config()
        data = self.config.data_dir
        _own_data_dir(data)
        self.reserve = SpaceReserve(data)
        self.reserve.release_if_full()  # a full file system: reads and deletes still work
        self.db = StateDB(data / "state.db")
        self._qemu_ids = None
        self.images = ImageStore(data, self.db, self.qemu_group)
        self.instances_dir = data / "instances"
        if not make_dir(self.instances_dir, DIR_TRAVERSE):
            tighten(self.instances_dir, 0o066)  # an older zcompute's 0755: QEMU only traverses
        self.hv = Hypervisor(self.config.uri)
        self.domains = Domains(self.hv)
        self._locks = InstanceLocks()
        self._host: HostView | None = None
        self._host_lock = threading.Lock()
        self.events = DomainEvents(self.hv)
        self.hv.subscribe(lifecycle_subscription(self._on_lifecycle))

    # -- host ------------------------------------------------------------------------------

    @host_operation()
    def init_host(self) -> HostReport:
        """Connect, check versions, read the host, and reconcile records with libvirt."""
        checked_versions(self.hv)  # refuses a libvirt or QEMU older than zcompute's minimum
        self.probe_kvm()
        host = self.host
        libvirt_version, qemu_version = self.hv.versions()
        interrupted = tuple((i.name, str(i.task)) for i in self.db.orphaned_tasks())
        repaired = self.repair().actions
        unknown, missing = self._reconcile()
        return HostReport(
            libvirt_version=libvirt_version,
            qemu_version=qemu_version,
            arch=host.caps.arch,
            cpu=host_cpu_model(host.caps),
            kvm_usable=host.kvm_usable,
            unknown_domains=unknown,
            records_without_domain=missing,
            interrupted_tasks=interrupted,
            repaired=repaired,
        )

    @property
    def host(self) -> HostView:
        """The host as read once: capabilities, CPU model, and whether KVM really runs.

        Reading it never boots anything: whether KVM runs is the KVM probe's recorded answer
        (or the configured virt type); before :meth:`probe_kvm` ever ran, guests are planned
        with TCG.
        """
        with self._host_lock:
            if self._host is None:
                versions = checked_versions(self.hv)
                known = known_kvm_answer(self.config.virt_type, self.config.data_dir, versions)
                self._host = read_host_view(self.hv, kvm=bool(known))
            return self._host

    @host_operation()
    def probe_kvm(self) -> bool:
        """An explicit step (``init_host``, ``zcompute boot``): learn once whether KVM guests
        really run here, booting the test guest with KVM when nobody knows yet (this may build
        the test image), and remember it. Returns the answer."""
        if self.config.virt_type != "auto":
            return self.config.virt_type == "kvm"  # configured: nothing to find out
        versions = checked_versions(self.hv)
        usable = kvm_usable(self.config.virt_type, self.config.data_dir, versions, self._probe_kvm)
        with self._host_lock:
            if self._host is not None and self._host.kvm_usable != usable:
                self._host = None  # read again with the answer
        return usable

    def dry_run_host(self) -> tuple[HostView, str | None]:
        """The host a dry run plans with (:attr:`host`); the note says when the KVM probe's
        answer is not known yet."""
        host = self.host  # checks the versions once
        return host, dry_run_note(self.config, self.hv.versions())

    def _probe_kvm(self) -> KvmProbe:
        from zcompute.driver._kvmprobe import probe_kvm

        return probe_kvm(self)

    def _reconcile(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Sync recorded power states; report unknown domains and records without a domain."""
        stats = {s.uuid: s for s in self.domains.all_stats()}
        saved = self.domains.managed_save_uuids()
        records = self.db.list_instances()
        missing = []
        for inst in records:
            found = stats.get(inst.uuid)
            if found is None:
                missing.append(inst.name)
                continue
            live = DomainState(found.state, found.reason, inst.uuid in saved)
            state = settled_state(inst.state, live)
            if inst.task is None and state != inst.state:
                self.db.update_instance(inst.uuid, state=state)
        known = {inst.uuid for inst in records}
        unknown = tuple(sorted(s.name for s in stats.values() if s.uuid not in known))
        for name in missing:
            LOG.warning("instance %s has a record but no libvirt domain", name)
        return unknown, tuple(missing)

    def _on_lifecycle(self, uuid: str, event: LifecycleEvent) -> None:
        """Keep recorded power states in step with libvirt's lifecycle events."""
        if event in (LifecycleEvent.DEFINED, LifecycleEvent.UNDEFINED):
            return
        try:
            inst = self.db.get_instance(uuid)
            if inst.task is None:  # a running operation records its own outcome
                state = settled_state(inst.state, self.live_state(uuid))
                # written only if no operation recorded an outcome since we read the record:
                # an event handled late must not overwrite a newer state with an older one
                self.db.record_observed_state(inst, state)
        except ZcomputeError:
            pass  # not ours, or gone already: nothing to record

    # -- spawn ------------------------------------------------------------------------------

    @operation("launch")
    def plan(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = (),
        block_devices: Sequence[BlockDeviceSpec] = (),
        metadata: Mapping[str, str] | None = None,
        uuid: str | None = None,
        host: HostView | None = None,
    ) -> GuestPlan:
        """Every decision a spawn would make, without creating anything (``--dry-run``).

        ``host`` defaults to :attr:`host`; a dry run passes :meth:`dry_run_host`'s.
        """
        name = validate_name(name, "name")
        extra = user_metadata(metadata)
        image_obj, flavor_obj = self._resolve(image, flavor)
        checked = tuple(self.checked_volume(b) for b in block_devices)
        return self._plan_checked(
            name, image_obj, flavor_obj, nics, checked, extra, uuid, host or self.host
        )

    def _plan_checked(
        self,
        name: str,
        image: Image,
        flavor: Flavor,
        nics: Sequence[NICSpec],
        block_devices: Sequence[BlockDeviceSpec],
        metadata: Mapping[str, str],
        uuid: str | None,
        host: HostView,
    ) -> GuestPlan:
        """The plan for inputs already checked (volumes through :meth:`checked_volume`)."""
        uuid = uuid or new_uuid()
        has_disk = self.has_root_disk(image, flavor)
        request = PlanRequest(
            uuid=uuid,
            name=name,
            flavor=flavor,
            image=image,
            instance_dir=self.instances_dir / uuid,
            root_disk=self.root_disk_path(uuid) if has_disk else None,
            nics=tuple(nics),
            block_devices=tuple(block_devices),
            metadata=instance_metadata(uuid, name, flavor, image, metadata),
            boot_image=self.boot_image_for(image),
        )
        return make_plan(request, self.config, host)

    @operation("launch")
    def spawn(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = (),
        block_devices: Sequence[BlockDeviceSpec] = (),
        metadata: Mapping[str, str] | None = None,
        wait_for: str | re.Pattern[str] | None = None,
        timeout: float = 120.0,
        uuid: str | None = None,
    ) -> Instance:
        """Create and start a guest; on any failure everything created so far is removed.

        ``wait_for`` (a regular expression) makes spawn return only once a console log line
        matches it, e.g. a guest's ready banner. ``uuid`` may be given to know the instance's
        paths (console log) before spawn returns.
        """
        validate_timeout(timeout)
        name = validate_name(name, "name")
        extra = user_metadata(metadata)  # bad input is refused before anything is probed or made
        image, flavor = self._resolve(image, flavor)
        self.probe_kvm()  # a step of its own: at most once per host (the answer is recorded)
        # checked (policy, format inspection) once: the plan and the record use these specs
        block_devices = [self.checked_volume(b) for b in block_devices]
        plan = self._plan_checked(name, image, flavor, nics, block_devices, extra, uuid, self.host)
        with self._locks.hold(plan.name, plan.uuid):
            self._refuse_existing(plan.name)
            self.reserve.require_room(f"booting {plan.name}")
            refuse_shared_macs(self.db, plan.uuid, plan.nics)
            with UndoStack(guard=self.hv.when_back) as undo:
                self._create(plan, image, flavor, nics, block_devices, undo)
                if wait_for is not None:
                    log = Path(plan.console_log)
                    _console.wait_for_line(log, wait_for, timeout, lambda: self._running(plan.uuid))
                    fault_point("spawn.booted")
                return self.db.end_task(plan.uuid, InstanceState.RUNNING)

    def _resolve(self, image: str | Image, flavor: str | Flavor) -> tuple[Image, Flavor]:
        """Image and flavor objects for names (or the objects themselves)."""
        image_obj = image if isinstance(image, Image) else self.images.get(image)
        flavor_obj = flavor if isinstance(flavor, Flavor) else self.db.get_flavor(flavor)
        return image_obj, flavor_obj

    def _refuse_existing(self, name: str) -> None:
        try:
            found = self.db.get_instance(name)
        except NotFound:
            pass
        else:
            if found.task in (Task.SPAWNING, Task.DESTROYING) and self.task_is_orphaned(found):
                LOG.warning("%s", self.recover(found))  # a spawn or delete cut short: undone
            else:
                raise Conflict(f"an instance named {name!r} already exists")
        if self.domains.uuid_of(name) is not None:
            raise Conflict(
                f"libvirt already has a domain named {name!r} that zcompute does not manage"
            )

    def _create(
        self,
        plan: GuestPlan,
        image: Image,
        flavor: Flavor,
        nics: Sequence[NICSpec],
        block_devices: Sequence[BlockDeviceSpec],
        undo: UndoStack,
    ) -> Instance:
        nic_specs = tuple(
            dataclasses.replace(spec, mac=p.mac) for spec, p in zip(nics, plan.nics, strict=True)
        )
        inst = Instance(
            uuid=plan.uuid,
            name=plan.name,
            flavor=flavor,
            image=image,
            arch=plan.arch,
            machine_type=plan.machine,
            domain_type=plan.domain_type,
            metadata=dict(plan.metadata),
            state=InstanceState.BUILDING,
            task=Task.SPAWNING,
            block_devices=tuple(block_devices),
            nics=nic_specs,
        )
        self.db.add_instance(inst)
        undo.push(
            "delete the instance record",
            lambda: self.db.delete_instance(plan.uuid, missing_ok=True),
        )
        fault_point("spawn.recorded")
        directory = self.instances_dir / plan.uuid
        directory.mkdir(mode=0o700)  # prepare_guest_files opens it to QEMU's group
        undo.push("remove the instance directory", lambda: shutil.rmtree(directory))
        fault_point("spawn.folder")
        root = plan.disks[0] if plan.disks and plan.disks[0].boot_order == 1 else None
        if root is not None:
            self._create_root_disk(image, flavor, Path(root.source))
            fault_point("spawn.disk")
        self.prepare_guest_files(directory, plan)
        xml = build_domain_xml(plan)
        # Both undos are registered before their step: a call cut short (libvirtd died) may
        # have done its work; each tolerates a domain that is not there.
        undo.push(
            "undefine the domain",
            lambda: self.domains.undefine(plan.uuid),
            needed_by_older=True,
        )
        self.domains.define(xml)
        fault_point("spawn.defined")
        undo.push(
            "destroy the domain",
            lambda: self.domains.destroy_if_exists(plan.uuid),
            needed_by_older=True,
        )
        self.domains.start(plan.uuid)
        fault_point("spawn.started")
        self.domains.wait_state(plan.uuid, {PowerState.RUNNING}, timeout=30)
        return inst

    def _create_root_disk(self, image: Image, flavor: Flavor, dest: Path) -> None:
        if image.path is not None:
            self.images.create_overlay(image, dest, flavor.root_gib)
        else:  # a kernel-boot image still gets the flavor's root disk, blank
            self.images.create_blank(dest, flavor.root_gib)

    def _running(self, uuid: str) -> bool:
        # a libvirtd restarted under the guest is waited for: QEMU runs on meanwhile
        state = self.hv.when_back(lambda: self.domains.state(uuid))
        return state in (PowerState.RUNNING, PowerState.BLOCKED)

    # -- destroy ----------------------------------------------------------------------------

    @operation("terminate")
    def destroy(self, name_or_uuid: str) -> bool:
        """Stop and remove a guest with its definition and files. False if there was none.

        Refused only while another live process runs an operation on the guest; a task whose
        process is gone does not stand in the way.
        """
        try:
            inst = self.db.get_instance(name_or_uuid)
        except NotFound:
            return False
        with self._locks.hold(inst.name, inst.uuid):
            inst = self.db.get_instance(inst.uuid)
            if inst.task is not None and not self.task_is_orphaned(inst):
                raise InvalidState(
                    f"instance {inst.name} is busy with task {inst.task.value!r} in another "
                    "process; delete it when that ends"
                )
            self.db.take_task(inst.uuid, Task.DESTROYING)
            fault_point("destroy.begun")
            self._remove_guest(inst)
        return True

    # -- queries ----------------------------------------------------------------------------

    @operation("get-guest-info")
    def get_instance(self, name_or_uuid: str) -> Instance:
        return self.db.get_instance(name_or_uuid)

    @operation("get-guest-info")
    def instance_info(self, name_or_uuid: str) -> InstanceInfo:
        """:meth:`get_info`, but a record whose libvirt domain is gone is in state ``error``,
        as :meth:`list_instances` shows it, instead of NotFound."""
        inst = self.db.get_instance(name_or_uuid)
        try:
            return self.get_info(inst.uuid)
        except NotFound as err:
            if err.kind != "domain":
                raise
            return domain_gone(inst.uuid, inst.name)

    @operation("get-guest-info")
    def get_info(self, name_or_uuid: str) -> InstanceInfo:
        inst = self.db.get_instance(name_or_uuid)
        stats = self.domains.stats(inst.uuid)
        saved = stats.state is PowerState.SHUTOFF and self.domains.has_managed_save(inst.uuid)
        return info_of(inst.uuid, inst.name, stats, DomainState(stats.state, stats.reason, saved))

    @host_operation("get-guest-info")
    def list_instances(self) -> list[InstanceInfo]:
        """Every instance zcompute manages, with live state, from one bulk libvirt call."""
        stats = self.domains.raw_stats_by_uuid_bytes()
        saved: set[str] | None = None  # managed saves, asked for once a shut-off guest shows
        out: list[InstanceInfo] = []
        append = out.append  # hundreds of guests: lookups hoisted out of the loop
        for rec in self.db.instance_index():
            values = stats.get(rec.uuid_bytes)
            if values is None:  # a record whose domain is gone: visible, never hidden
                append(domain_gone(rec.uuid, rec.name))
                continue
            live, max_kib, cur_kib, vcpus, cpu_ns = stats_values(values)
            # Only a shut-off guest can have a managed save (it is suspended then): one more
            # bulk call finds them all, and only when a shut-off guest is listed at all.
            if live.state is PowerState.SHUTOFF:
                if saved is None:
                    saved = self.domains.managed_save_uuids()
                if rec.uuid in saved:
                    live = dataclasses.replace(live, managed_save=True)
            # Where libvirt reports no sizes (its test driver), the configured ones are the
            # instance's flavor, which zcompute recorded.
            append(
                InstanceInfo(
                    rec.uuid,
                    rec.name,
                    instance_state(live),
                    max_kib or rec.memory_kib,
                    cur_kib or rec.memory_kib,
                    vcpus or rec.vcpus,
                    cpu_ns,
                )
            )
        return out

    @operation("get-guest-info")
    def instance_exists(self, name_or_uuid: str) -> bool:
        try:
            inst = self.db.get_instance(name_or_uuid)
        except NotFound:
            return False
        return self.domains.exists(inst.uuid)

    @operation("console-log")
    def console_log_path(self, name_or_uuid: str) -> Path:
        return self.console_log_of(self.db.get_instance(name_or_uuid).uuid)

    def console_log_of(self, uuid: str) -> Path:
        """Where the log console of instance ``uuid`` is written (known before spawn ends)."""
        return self.instances_dir / uuid / "console.log"

    @operation("console-log")
    def get_console_output(
        self, name_or_uuid: str, max_bytes: int = _console.DEFAULT_TAIL
    ) -> bytes:
        """The last ``max_bytes`` of the guest's log console (sclplm file / serial log)."""
        return _console.tail(self.console_log_path(name_or_uuid), max_bytes)

    @operation("get-guest-info")
    def domain_xml(self, name_or_uuid: str) -> str:
        return self.domains.xml(self.db.get_instance(name_or_uuid).uuid)

    @host_operation()
    def get_available_resource(self) -> dict[str, Any]:
        """Capacity and identity of this host, as a scheduler needs it."""
        host = self.host
        arch, memory_mib, cpus = self.hv.node_info()
        disk = shutil.disk_usage(self.config.data_dir)
        libvirt_version, qemu_version = self.hv.versions()
        used = self.db.list_instances()
        cpu = host_cpu_model(host.caps)
        return {
            "vcpus": cpus,
            "vcpus_used": sum(i.flavor.vcpus for i in used),
            "memory_mib": memory_mib,
            "memory_mib_used": sum(i.flavor.memory_mib for i in used),
            "local_gib": disk.total >> 30,
            "local_gib_used": (disk.total - disk.free) >> 30,
            "hypervisor_type": "QEMU",
            "hypervisor_version": qemu_version,
            "libvirt_version": libvirt_version,
            "hypervisor_hostname": self.hv.hostname(),
            "cpu_info": {
                "arch": arch,
                "model": cpu.model,
                "vendor": cpu.vendor,
                "model_source": cpu.source,
            },
            "supported_instances": supported_instances(host),
        }

    @host_operation()
    def capabilities(self) -> Capabilities:
        """What this host runs and which features each of those architectures offers."""
        return capabilities_of(supported_instances(self.host))

    # -- flavors (the guest sizes a spawn picks from) -----------------------------------------

    @host_operation()
    def add_flavor(self, flavor: Flavor) -> Flavor:
        return self.db.add_flavor(flavor)

    @host_operation()
    def get_flavor(self, name: str) -> Flavor:
        return self.db.get_flavor(name)

    @host_operation()
    def list_flavors(self) -> list[Flavor | UnusableRecord]:
        return self.db.list_flavors()

    @host_operation()
    def delete_flavor(self, name: str) -> None:
        self.db.delete_flavor(name)

    @host_operation()
    def close(self) -> None:
        self.hv.close()
        self.db.close()
        self.reserve.ensure()


def _own_data_dir(data: Path) -> None:
    """Create the data directory unless it exists (an existing one keeps its mode), and refuse
    one that a user other than root can write to: links planted there would lead root."""
    try:
        make_data_dir(data)
    except HostFileError as err:
        raise ConfigError("data_dir", str(err), "a directory") from err
    problem = unsafe_directory(data)
    if problem is not None:
        raise ConfigError(
            "data_dir",
            f"{data}: {problem}; whoever can write there could plant links that zcompute, "
            "running as root, would follow",
            "a directory only root can write to (chown root; chmod go-w)",
        )


def _implements_the_contract(driver: ComputeDriver) -> ComputeAPI:
    """Never called: mypy checks here that the driver implements its public contract."""
    return driver
