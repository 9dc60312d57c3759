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
from collections.abc import Collection, Iterator
from pathlib import Path

from zcompute.builder import build_domain_xml
from zcompute.config import Config
from zcompute.driver._locks import InstanceLocks
from zcompute.driver._plan import GuestPlan, HostView, PlanRequest, make_plan
from zcompute.driver._state import instance_state, require_state, settled_state
from zcompute.driver._waiters import DomainEvents
from zcompute.errors import InvalidInput, NotFound, ZcomputeError
from zcompute.images import ImageStore
from zcompute.model import Flavor, Image, Instance, InstanceState, Task
from zcompute.state import StateDB
from zcompute.virt import Domains, DomainState, Hypervisor, PowerState

LOG = logging.getLogger("zcompute.driver")

#: Image property of a disk image made from a kernel-boot guest: the id of the kernel-boot image
#: (kernel, initrd, command line) it boots with, like Nova's ``kernel_id``.
KERNEL_ID_PROPERTY = "kernel_id"
ROOT_DISK = "disk.qcow2"
START_TIMEOUT = 30.0  # seconds for libvirt to report a started guest as running


@dataclasses.dataclass
class Operation:
    """The instance an operation works on, and the state it was found in."""

    instance: Instance
    state: InstanceState

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

    @property
    def host(self) -> HostView:
        raise NotImplementedError  # ComputeDriver reads the host once

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
            inst = self.db.get_instance(found.uuid)
            state = self.observed_state(inst.uuid)
            require_state(inst.name, verb, state, allowed)
            if task is not None:
                self.db.begin_task(inst.uuid, task)
            try:
                yield Operation(inst, state)
            finally:
                if task is not None:
                    self._record_settled(inst.uuid)

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
        xml = build_domain_xml(self.replan(inst))
        (self.instances_dir / inst.uuid).mkdir(mode=0o755, exist_ok=True)
        if self.domains.exists(inst.uuid):
            self.domains.destroy(inst.uuid)
            self.domains.remove_managed_save(inst.uuid)  # a hard reboot discards saved memory
        self.domains.define(xml)
        self.start_and_wait(inst.uuid, paused=paused)

    def start_and_wait(self, uuid: str, *, paused: bool = False) -> None:
        """Start the guest (restoring its managed save, if any) and wait until QEMU runs it.

        A guest restored from memory saved while paused comes back paused.
        """
        self.domains.start(uuid, paused=paused)
        wanted = {PowerState.PAUSED} if paused else {PowerState.RUNNING, PowerState.PAUSED}
        self.domains.wait_state(uuid, wanted, timeout=START_TIMEOUT)
