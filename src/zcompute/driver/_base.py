"""What every driver operation shares: the driver's parts, state checks, and regenerating a guest.

:class:`DriverCore` is the base of :class:`~zcompute.driver.ComputeDriver` and of the operation
mixins (power, devices, snapshot, console). An operation runs inside :meth:`_operation`: the
instance's lock is held, its live state is checked against what the operation allows (a wrong
state is an error that changes nothing), the task is recorded while it runs, and the state the
guest ends up in is recorded when it ends, also when it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Collection, Iterator
from pathlib import Path

from zcompute.builder import build_domain_xml
from zcompute.config import Config
from zcompute.driver._files import (
    prepare_guest_files,
    secure_instance_folder,
    warn_if_unreachable,
)
from zcompute.driver._locks import InstanceLocks
from zcompute.driver._state import instance_state, require_state, settled_state
from zcompute.driver._waiters import DomainEvents
from zcompute.errors import InvalidInput, NotFound, ZcomputeError
from zcompute.images import ImageStore, QemuIds, decide_format, qemu_ids
from zcompute.model import KERNEL_ID_PROPERTY as KERNEL_ID_PROPERTY  # re-exported
from zcompute.model import BlockDeviceSpec, Flavor, Image, Instance, InstanceState, Task
from zcompute.plan import GuestPlan, HostView, PlanRequest, make_plan
from zcompute.state import StateDB
from zcompute.virt import Domains, DomainState, Hypervisor, PowerState
from zcompute.volumes import VolumePolicy, parse_volume_dirs

LOG = logging.getLogger("zcompute.driver")

ROOT_DISK = "disk.qcow2"
START_TIMEOUT = 30.0  # seconds for libvirt to report a started guest as running


@dataclasses.dataclass
class Operation:
    """The instance an operation works on, the state it was found in, and the devices it
    started to change (``("disk", target)``, ``("nic", mac)``): after a failure only those are
    made to match the record again."""

    instance: Instance
    state: InstanceState
    touched: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def uuid(self) -> str:
        return self.instance.uuid

    @property
    def name(self) -> str:
        return self.instance.name


class DriverCore:
    """The driver's parts and the helpers every operation uses (see the module docs)."""

    config: Config
    db: StateDB
    images: ImageStore
    instances_dir: Path
    hv: Hypervisor
    domains: Domains
    events: DomainEvents
    _locks: InstanceLocks
    _qemu_ids: tuple[QemuIds | None] | None  # None until libvirt was asked

    @property
    def host(self) -> HostView:
        raise NotImplementedError  # ComputeDriver reads the host once

    # -- files -----------------------------------------------------------------------------

    def qemu_ids(self) -> QemuIds | None:
        """The user and groups QEMU runs with (libvirt's DAC label); None without DAC."""
        if self._qemu_ids is None:
            ids = qemu_ids(self.hv.capabilities())
            self._qemu_ids = (ids,)
            if ids is not None:
                warn_if_unreachable(ids, self.instances_dir, self.images.images_dir)
        return self._qemu_ids[0]

    def qemu_group(self) -> int | None:
        """QEMU's group, or None while libvirt cannot say (see :class:`ImageStore`)."""
        try:
            ids = self.qemu_ids()
        except ZcomputeError:
            return None  # libvirtd away: images get root's group until a guest boots on them
        return None if ids is None else ids.gid

    def prepare_guest_files(self, directory: Path, plan: GuestPlan) -> None:
        """Before libvirt starts ``plan``'s guest: its folder and files (:mod:`._files`)."""
        prepare_guest_files(self.images, self.qemu_ids(), directory, plan)

    # -- state -----------------------------------------------------------------------------

    def live_state(self, uuid: str) -> DomainState:
        return self.domains.state_detail(uuid)

    def observed_state(self, uuid: str) -> InstanceState:
        """The instance state libvirt reports now (suspended and crashed included).

        A record whose libvirt domain is gone is in state ``error`` (a hard reboot or
        :meth:`resume_state_on_host_boot` defines it again).
        """
        try:
            return instance_state(self.live_state(uuid))
        except NotFound:
            return InstanceState.ERROR

    def _record_settled(self, uuid: str) -> None:
        """End a task, recording the state the guest is in now (best effort after a failure)."""
        try:
            recorded = self.db.get_instance(uuid).state
            state = settled_state(recorded, self.live_state(uuid))
        except NotFound:
            state = InstanceState.ERROR
        except ZcomputeError as err:  # libvirtd gone, domain gone: record what we know
            LOG.warning("instance %s: cannot read its state after a failure: %s", uuid, err)
            state = InstanceState.ERROR
        with contextlib.suppress(ZcomputeError):
            self.db.end_task(uuid, state)

    @contextlib.contextmanager
    def _operation(
        self,
        name_or_uuid: str,
        task: Task | None,
        allowed: Collection[InstanceState],
        verb: str,
    ) -> Iterator[Operation]:
        """Run one operation on an instance (see the module docs).

        ``task`` None is for instant operations that record no task (an NMI, a console).
        """
        found = self.db.get_instance(name_or_uuid)
        with self._locks.hold(found.name, found.uuid):
            inst = self._recover_if_orphaned(self.db.get_instance(found.uuid))
            state = self.observed_state(inst.uuid)
            require_state(inst.name, verb, state, allowed)
            if task is not None:
                self.db.begin_task(inst.uuid, task)
            op = Operation(inst, state)
            try:
                yield op
            except BaseException:
                if task is not None:
                    self._undo_partial(inst.uuid, task, op.touched)
                raise
            finally:
                if task is not None:
                    self._record_settled(inst.uuid)

    # -- local volumes ----------------------------------------------------------------------

    @property
    def volume_policy(self) -> VolumePolicy:
        """Which host files and block devices may become a guest's disk (``host show``)."""
        return VolumePolicy(parse_volume_dirs(self.config.volume_dirs), self.config.data_dir)

    def checked_volume(self, spec: BlockDeviceSpec) -> BlockDeviceSpec:
        """``spec`` as it will be recorded: the real path, allowed by the volume policy, with
        its format decided once (a block device is raw; a file's format comes from the format
        inspector, or is the one the operator stated and the file really has)."""
        volume = self.volume_policy.check(spec.source)
        label = f"volume {spec.source}"
        fmt = "raw" if volume.is_block else decide_format(volume.path, label, spec.format)
        if volume.is_block and spec.format not in (None, "raw"):
            raise InvalidInput("block_device.format", f"{label} is a block device", ["raw"])
        return dataclasses.replace(spec, source=volume.path, format=fmt)

    def _recover_if_orphaned(self, inst: Instance) -> Instance:
        """``inst`` after recovering a task whose process is gone (:mod:`._recovery`)."""
        return inst

    def _undo_partial(self, uuid: str, task: Task, touched: list[tuple[str, str]]) -> None:
        """After ``task`` failed half-way: what recovery does for it (:mod:`._recovery`)."""

    # -- regenerating a guest from its record ----------------------------------------------

    def root_disk_path(self, uuid: str) -> Path:
        return self.instances_dir / uuid / ROOT_DISK

    def boot_image_for(self, image: Image) -> Image | None:
        """The kernel-boot image a disk image boots with (its ``kernel_id``), if it names one."""
        kernel_id = image.prop(KERNEL_ID_PROPERTY)
        if kernel_id is None or image.is_kernel_boot:
            return None
        try:
            boot = self.images.get(kernel_id)
        except NotFound:
            raise InvalidInput(
                f"image {image.name} property {KERNEL_ID_PROPERTY}",
                f"the kernel-boot image {kernel_id} it boots with is not in the image store",
                "the id of a kernel-boot image",
            ) from None
        if not boot.is_kernel_boot:
            raise InvalidInput(
                f"image {image.name} property {KERNEL_ID_PROPERTY}",
                f"image {boot.name} is a disk image, not a kernel-boot image",
                "the id of a kernel-boot image",
            )
        return boot

    @staticmethod
    def has_root_disk(image: Image, flavor: Flavor) -> bool:
        """A disk image always gets a root disk; a kernel-boot image when the flavor sizes one."""
        return image.path is not None or flavor.root_gib > 0

    def replan(self, inst: Instance) -> GuestPlan:
        """The plan of an existing instance from its record and pinned settings."""
        directory = self.instances_dir / inst.uuid
        root = directory / ROOT_DISK if self.has_root_disk(inst.image, inst.flavor) else None
        request = PlanRequest(
            uuid=inst.uuid,
            name=inst.name,
            flavor=inst.flavor,
            image=inst.image,
            instance_dir=directory,
            root_disk=root,
            nics=inst.nics,
            block_devices=inst.block_devices,
            metadata=inst.metadata,
            machine_type=inst.machine_type,
            virt_type=inst.domain_type,
            boot_image=self.boot_image_for(inst.image),
        )
        return make_plan(request, self.config, self.host)

    def recreate(self, inst: Instance, *, paused: bool = False) -> None:
        """Power the guest off, define it again from its record and start it.

        The new definition is built before anything is stopped, so a record that no longer
        makes a valid guest is reported while the guest still runs as it was.
        """
        plan = self.replan(inst)
        xml = build_domain_xml(plan)
        if self.domains.exists(inst.uuid):
            self.domains.destroy(inst.uuid)
            self.domains.remove_managed_save(inst.uuid)  # a hard reboot discards saved memory
        self.prepare_guest_files(self.instances_dir / inst.uuid, plan)  # QEMU stopped
        self.domains.define(xml)
        self.start_and_wait(inst.uuid, paused=paused)

    def start_and_wait(self, uuid: str, *, paused: bool = False) -> None:
        """Start the guest (restoring its managed save, if any) and wait until QEMU runs it.

        A guest restored from memory saved while paused comes back paused.
        """
        folder = self.instances_dir / uuid
        if os.path.lexists(folder):  # libvirt opens its files as root: never through a link
            secure_instance_folder(self.qemu_ids(), folder, [folder / ROOT_DISK])
        self.domains.start(uuid, paused=paused)
        wanted = {PowerState.PAUSED} if paused else {PowerState.RUNNING, PowerState.PAUSED}
        self.domains.wait_state(uuid, wanted, timeout=START_TIMEOUT)
