"""Regenerating a guest from its record: its plan, its files, its definition, its start.

A hard reboot and the host-boot resume define a guest anew from what was recorded (pinned
machine type, attached volumes and NICs); every start (power on, resume, soft reboot) first
secures the guest's files again (:mod:`._files`) and creates the tap devices of its tap NICs
that are gone (a host boot takes them all; libvirt does not make them: :mod:`._taps`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from zcompute.builder import build_domain_xml
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import ROOT_DISK, DriverContext
from zcompute.driver._files import prepare_guest_files, secure_instance_folder
from zcompute.driver._serialports import allocate_serial_port, serial_port_for
from zcompute.errors import InvalidInput, NotFound
from zcompute.model import KERNEL_ID_PROPERTY, Flavor, Image, Instance
from zcompute.plan import (
    CONFIG_DRIVE,
    EPHEMERAL_DISK,
    RESCUE_CONFIG_DRIVE,
    RESCUE_DISK,
    SWAP_DISK,
    GuestPlan,
    PlanRequest,
    RescuePlan,
    boots_from_volume,
    make_plan,
)
from zcompute.virt import PowerState

__all__ = ["Guests", "has_root_disk"]

LOG = logging.getLogger("zcompute.driver")

START_TIMEOUT = 30.0  # seconds for libvirt to report a started guest as running


def has_root_disk(image: Image, flavor: Flavor, volume_backed: bool = False) -> bool:
    """A disk image always gets a local root disk; a kernel-boot image when the flavor sizes
    one; a guest that boots from a volume never (the volume is its root)."""
    if volume_backed or image.is_volume_image:
        return False
    return image.path is not None or flavor.root_gib > 0


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class Guests:
    """Plans, files, definitions and starts of guests, for the parts that (re)create them."""

    def __init__(self, ctx: DriverContext) -> None:
        self._ctx = ctx

    def prepare_guest_files(self, directory: Path, plan: GuestPlan) -> None:
        """Before libvirt starts ``plan``'s guest: its folder and files (:mod:`._files`)."""
        prepare_guest_files(self._ctx.images, self._ctx.qemu_ids(), directory, plan)

    def boot_image_for(self, image: Image) -> Image | None:
        """The kernel-boot image a disk image boots with (its ``kernel_id``), if it names one."""
        kernel_id = image.prop(KERNEL_ID_PROPERTY)
        if kernel_id is None or image.is_kernel_boot:
            return None
        try:
            boot = self._ctx.images.get(kernel_id)
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

    def plan_request(
        self, uuid: str, name: str, image: Image, flavor: Flavor, volume_backed: bool = False
    ) -> PlanRequest:
        """What every plan of a guest derives from who it is: its folder, root disk, boot image.

        Spawn and re-plan add what they know (devices, metadata, pinned settings) with
        :func:`dataclasses.replace`.
        """
        directory = self._ctx.instances_dir / uuid
        root = directory / ROOT_DISK if has_root_disk(image, flavor, volume_backed) else None
        return PlanRequest(
            uuid=uuid,
            name=name,
            flavor=flavor,
            image=image,
            instance_dir=directory,
            root_disk=root,
            boot_image=self.boot_image_for(image),
        )

    def new_serial_port(self) -> int | None:
        """A free port for a new guest's interactive console; None while ``serial_tcp`` is off."""
        endpoints = self._ctx.config.serial_tcp_endpoints
        return None if endpoints is None else allocate_serial_port(self._ctx.db, endpoints)

    def replan(self, inst: Instance) -> GuestPlan:
        """The plan of an existing instance from its record and pinned settings.

        With ``serial_tcp`` on, an instance that has no console port yet (or one outside the
        configured range) gets one recorded here: the caller holds the instance's lock.
        """
        port = serial_port_for(self._ctx.db, self._ctx.config.serial_tcp_endpoints, inst)
        request = dataclasses.replace(
            self.plan_request(
                inst.uuid, inst.name, inst.image, inst.flavor, boots_from_volume(inst.block_devices)
            ),
            nics=inst.nics,
            block_devices=inst.block_devices,
            metadata=inst.metadata,
            machine_type=inst.machine_type,
            virt_type=inst.domain_type,
            config_drive=inst.config_drive is not None,
            config_drive_target=inst.config_drive,
            serial_port=port,
            rescue=self._rescue_plan(inst),
        )
        return make_plan(request, self._ctx.config, self._ctx.host)

    def _rescue_plan(self, inst: Instance) -> RescuePlan | None:
        """How ``inst`` boots while it is rescued (None: it is not)."""
        if inst.rescue is None:
            return None
        image = inst.rescue.image
        return RescuePlan(image, self.boot_image_for(image), inst.rescue.config_drive)

    def recreate(self, inst: Instance, *, paused: bool = False) -> None:
        """Power the guest off, define it again from its record and start it.

        The new definition is built before anything is stopped, so a record that no longer
        makes a valid guest is reported while the guest still runs as it was.
        """
        domains = self._ctx.domains
        plan = self.replan(inst)
        xml = build_domain_xml(plan)
        if domains.exists(inst.uuid):
            domains.destroy(inst.uuid)
            domains.remove_managed_save(inst.uuid)  # a hard reboot discards saved memory
        self.prepare_guest_files(self._ctx.instances_dir / inst.uuid, plan)  # QEMU stopped
        domains.define(xml)
        self.start_and_wait(inst.uuid, paused=paused)

    def start_and_wait(self, uuid: str, *, paused: bool = False) -> None:
        """Start the guest (restoring its managed save, if any) and wait until QEMU runs it.

        A guest restored from memory saved while paused comes back paused.
        """
        made = self._ctx.taps.ensure(uuid, self._ctx.db.get_instance(uuid).nics)
        if made:
            LOG.info("instance %s: tap devices %s created again", uuid, ", ".join(made))
        folder = self._ctx.instances_dir / uuid
        if os.path.lexists(folder):  # libvirt opens its files as root: never through a link
            own = (ROOT_DISK, EPHEMERAL_DISK, SWAP_DISK, CONFIG_DRIVE)
            names = (*own, RESCUE_DISK, RESCUE_CONFIG_DRIVE)  # a rescued guest's too
            disks = [folder / name for name in names]
            secure_instance_folder(self._ctx.qemu_ids(), folder, disks)
        self._ctx.domains.start(uuid, paused=paused)
        wanted = {PowerState.PAUSED} if paused else {PowerState.RUNNING, PowerState.PAUSED}
        self._ctx.domains.wait_state(uuid, wanted, timeout=START_TIMEOUT)
