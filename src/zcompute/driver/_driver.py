"""The compute driver: guest lifecycle use cases over libvirt, the state DB and the image store.

:class:`ComputeDriver` is a facade over parts, each a plain class in its own module that holds
the one :class:`~zcompute.driver._context.DriverContext` the driver builds (the connection,
config, state DB, image store, locks, the host view): spawn and destroy (:mod:`._spawn`),
power (:mod:`._power`), volumes and NICs (:mod:`._devices`, :mod:`._fc`, extend and swap in
:mod:`._volumeswap`), snapshot
(:mod:`._snapshot`), the interactive console (:mod:`._serial`), queries (:mod:`._queries`),
resize (:mod:`._resize`), the host (:mod:`._hostops`) and recovery (:mod:`._recovery`).
Operations on one instance run through :mod:`._operations`: they serialise on the instance's
lock, others run in parallel.

Each public method here is one operation, bound to its support-matrix feature (:mod:`._features`)
and documented where it is implemented; it delegates to its part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zcompute.config import Config, load_config
from zcompute.configdrive import ConfigDrive
from zcompute.driver import _console
from zcompute.driver._agent import GuestAgentInfo, GuestAgentOps
from zcompute.driver._api import Capabilities, ComputeAPI
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import DriverContext
from zcompute.driver._devices import DEFAULT_DETACH_TIMEOUT, DeviceOps
from zcompute.driver._devicetags import TaggedDevice
from zcompute.driver._fc import FcVolumeOps
from zcompute.driver._features import host_operation, operation
from zcompute.driver._guests import Guests
from zcompute.driver._hostops import HostOps
from zcompute.driver._incoming import Arrival, IncomingOps, Prepared
from zcompute.driver._iscsi import IscsiVolumeOps
from zcompute.driver._migrate import (
    DEFAULT_MIGRATION_TIMEOUT,
    MigrationOps,
    MigrationResult,
    MigrationTarget,
)
from zcompute.driver._operations import Operations
from zcompute.driver._power import DEFAULT_SHUTDOWN_TIMEOUT, HostBootReport, PowerOps
from zcompute.driver._pull import PullOps
from zcompute.driver._queries import Queries
from zcompute.driver._recovery import Recovery, RepairReport
from zcompute.driver._reports import GuestDiagnostics, HostReport, InstanceInfo
from zcompute.driver._rescue import RescueOps
from zcompute.driver._resize import ResizeOps
from zcompute.driver._serial import ConsoleOps, SerialConsole
from zcompute.driver._snapshot import DEFAULT_COPY_TIMEOUT, SnapshotOps
from zcompute.driver._spawn import SpawnOps
from zcompute.driver._swapconnect import SwapConnectionOps
from zcompute.driver._volumeapi import VolumeOperations
from zcompute.driver._volumeswap import VolumeChangeOps
from zcompute.images import ImageStore
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    InstanceState,
    NICSpec,
    UnusableRecord,
)
from zcompute.plan import GuestPlan, HostView
from zcompute.state import StateDB
from zcompute.virt import (
    ConsoleStream,
    Domains,
    DomainState,
    Hypervisor,
    LifecycleEvent,
    MigrationProgress,
    lifecycle_subscription,
)
from zcompute.volumes import (
    VolumeConnection,
    VolumePolicy,
    VolumeSecrets,
)


@map_os_errors  # no OSError leaves the driver: each becomes the zcompute error naming its path
class ComputeDriver(VolumeOperations):
    """zcompute's compute driver for one host (see the module docs)."""

    def __init__(self, config: Config | None = None) -> None:
        # Built once, in dependency order: each part gets the context and the parts it calls.
        ctx = DriverContext(config or load_config())
        guests = Guests(ctx)
        recovery = Recovery(ctx)
        ops = Operations(ctx, recovery)  # an operation on an instance recovers it first
        self._ctx = ctx
        self._guests = guests
        self._recovery = recovery
        self._host_ops = HostOps(ctx, guests, recovery)
        self._spawn = SpawnOps(ctx, guests, recovery, self._host_ops)
        self._power = PowerOps(ctx, ops, guests)
        self._devices = DeviceOps(ctx, ops)
        self._fc = FcVolumeOps(ctx, self._devices)
        self._volume_changes = VolumeChangeOps(ctx, ops)
        self._swap_connections = SwapConnectionOps(ctx, ops, self._volume_changes)
        self._iscsi = IscsiVolumeOps(ctx, self._devices)
        self._snapshot = SnapshotOps(ctx, ops)
        self._rescue = RescueOps(ctx, ops, guests)
        self._resize = ResizeOps(ctx, ops, guests, self._power)
        self._console = ConsoleOps(ctx, ops)
        self._queries = Queries(ctx)
        self._agent = GuestAgentOps(ctx, ops)
        self._incoming = IncomingOps(ctx, guests, recovery)
        self._pull = PullOps(ctx, guests, self._incoming)
        self._migration = MigrationOps(ctx, ops, guests, recovery)
        self._host_ops.follow_lifecycle_events()  # last: every part is there to handle them

    # -- the shared state, read-only (the context is the one place it is kept) --------------

    @property
    def config(self) -> Config:
        return self._ctx.config

    @property
    def db(self) -> StateDB:
        return self._ctx.db

    @property
    def images(self) -> ImageStore:
        return self._ctx.images

    @property
    def instances_dir(self) -> Path:
        return self._ctx.instances_dir

    @property
    def hv(self) -> Hypervisor:
        return self._ctx.hv

    @property
    def domains(self) -> Domains:
        return self._ctx.domains

    @property
    def host(self) -> HostView:
        return self._ctx.host

    @property
    def volume_policy(self) -> VolumePolicy:
        return self._ctx.volume_policy

    def live_state(self, uuid: str) -> DomainState:
        return self._ctx.live_state(uuid)

    def root_disk_path(self, uuid: str) -> Path:
        return self._ctx.root_disk_path(uuid)

    def checked_volume(self, spec: BlockDeviceSpec) -> BlockDeviceSpec:
        return self._ctx.checked_volume(spec)

    def boot_image_for(self, image: Image) -> Image | None:
        return self._guests.boot_image_for(image)

    # -- the host (:mod:`._hostops`, :mod:`._recovery`) ---------------------------------------

    @host_operation()
    def init_host(self) -> HostReport:
        return self._host_ops.init_host()

    @host_operation()
    def probe_kvm(self) -> bool:
        return self._host_ops.probe_kvm()

    def dry_run_host(self) -> tuple[HostView, str | None]:
        return self._host_ops.dry_run_host()

    @host_operation()
    def recover_interrupted(self) -> RepairReport:
        return self._recovery.recover_interrupted()

    @host_operation()
    def recover_leftovers(self) -> RepairReport:
        return self._recovery.recover_leftovers()

    @host_operation()
    def repair(self) -> RepairReport:
        return self._recovery.repair()

    @host_operation()
    def resume_state_on_host_boot(self) -> HostBootReport:
        return self._power.resume_state_on_host_boot()

    @host_operation()
    def close(self) -> None:
        self._ctx.close()

    # -- spawn and destroy (:mod:`._spawn`) -------------------------------------------------

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
        config_drive: ConfigDrive | None = None,
    ) -> GuestPlan:
        return self._spawn.plan(
            name,
            image,
            flavor,
            nics=nics,
            block_devices=block_devices,
            metadata=metadata,
            uuid=uuid,
            host=host,
            config_drive=config_drive,
        )

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
        config_drive: ConfigDrive | None = None,
        managed_by: str | None = None,
        boot_volume: VolumeConnection | None = None,
    ) -> Instance:
        return self._spawn.spawn(
            name,
            image,
            flavor,
            nics=nics,
            block_devices=block_devices,
            metadata=metadata,
            wait_for=wait_for,
            timeout=timeout,
            uuid=uuid,
            config_drive=config_drive,
            managed_by=managed_by,
            boot_volume=boot_volume,
        )

    @host_operation("terminate")  # for a uuid no longer an instance: no arch to check
    def remove_kept_disks(self, uuid: str) -> bool:
        return self._spawn.remove_kept_disks(uuid)

    @host_operation()
    def instances_managed_by(self, manager: str) -> list[Instance]:
        return self._spawn.instances_managed_by(manager)

    @host_operation()
    def watch_lifecycle(self, callback: Callable[[str, LifecycleEvent], None]) -> None:
        """Call ``callback(uuid, event)`` for every lifecycle event of libvirt's domains (on
        libvirt's event thread: it must return quickly), also after libvirtd restarts."""
        self._ctx.hv.subscribe(lifecycle_subscription(callback))

    @operation("terminate")
    def destroy(self, name_or_uuid: str, *, keep_disks: bool = False) -> bool:
        return self._spawn.destroy(name_or_uuid, keep_disks=keep_disks)

    @operation("guest-agent")
    def guest_agent_info(self, name_or_uuid: str, user: str | None = None) -> GuestAgentInfo:
        return self._agent.guest_agent_info(name_or_uuid, user)

    @operation("guest-agent")
    def quiesce(self, name_or_uuid: str) -> int:
        return self._agent.quiesce(name_or_uuid)

    @operation("guest-agent")
    def unquiesce(self, name_or_uuid: str) -> int:
        return self._agent.unquiesce(name_or_uuid)

    @operation("guest-agent")
    def set_admin_password(self, name_or_uuid: str, password: str, user: str | None = None) -> str:
        return self._agent.set_admin_password(name_or_uuid, password, user)

    # -- power (:mod:`._power`) -------------------------------------------------------------

    @operation("power-off-on")
    def power_off(self, name_or_uuid: str, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> bool:
        return self._power.power_off(name_or_uuid, timeout)

    @operation("power-off-on")
    def power_on(self, name_or_uuid: str) -> Instance:
        return self._power.power_on(name_or_uuid)

    @operation("reboot")
    def reboot(
        self, name_or_uuid: str, hard: bool = False, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> bool:
        return self._power.reboot(name_or_uuid, hard, timeout)

    @operation("pause")
    def pause(self, name_or_uuid: str) -> Instance:
        return self._power.pause(name_or_uuid)

    @operation("pause")
    def unpause(self, name_or_uuid: str) -> Instance:
        return self._power.unpause(name_or_uuid)

    @operation("suspend")
    def suspend(self, name_or_uuid: str) -> Instance:
        return self._power.suspend(name_or_uuid)

    @operation("suspend")
    def resume(self, name_or_uuid: str) -> Instance:
        return self._power.resume(name_or_uuid)

    @operation("trigger-crash-dump")
    def trigger_crash_dump(self, name_or_uuid: str) -> None:
        self._power.trigger_crash_dump(name_or_uuid)

    # -- snapshot (:mod:`._snapshot`) and consoles (:mod:`._serial`, :mod:`._queries`) ------

    @operation("snapshot")
    def snapshot(
        self, name_or_uuid: str, image_name: str, *, timeout: float = DEFAULT_COPY_TIMEOUT
    ) -> Image:
        return self._snapshot.snapshot(name_or_uuid, image_name, timeout=timeout)

    # -- rescue (:mod:`._rescue`) --------------------------------------------------------------

    @operation("rescue")
    def rescue(
        self,
        name_or_uuid: str,
        rescue_image: Image | None = None,
        *,
        config_drive: ConfigDrive | None = None,
    ) -> Instance:
        return self._rescue.rescue(name_or_uuid, rescue_image, config_drive=config_drive)

    @operation("rescue")
    def unrescue(self, name_or_uuid: str) -> Instance:
        return self._rescue.unrescue(name_or_uuid)

    # -- resize (:mod:`._resize`) -------------------------------------------------------------

    @operation("resize")
    def resize(
        self,
        name_or_uuid: str,
        flavor: str | Flavor,
        *,
        start: bool | None = None,
        timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> Instance:
        return self._resize.resize(name_or_uuid, flavor, start=start, timeout=timeout)

    @operation("resize")
    def confirm_resize(self, name_or_uuid: str) -> Instance:
        return self._resize.confirm_resize(name_or_uuid)

    @operation("resize")
    def revert_resize(self, name_or_uuid: str, *, start: bool | None = None) -> Instance:
        return self._resize.revert_resize(name_or_uuid, start=start)

    @operation("resize")
    def pending_resize(self, name_or_uuid: str) -> Flavor | None:
        return self._resize.pending_resize(name_or_uuid)

    @operation("interactive-console")
    def get_serial_console(self, name_or_uuid: str) -> SerialConsole:
        return self._console.get_serial_console(name_or_uuid)

    @operation("interactive-console")
    def open_console(self, name_or_uuid: str) -> ConsoleStream:
        return self._console.open_console(name_or_uuid)

    @operation("console-log")
    def console_log_path(self, name_or_uuid: str) -> Path:
        return self._queries.console_log_path(name_or_uuid)

    def console_log_of(self, uuid: str) -> Path:
        return self._queries.console_log_of(uuid)

    # -- migration (:mod:`._migrate`, :mod:`._incoming`) ------------------------------------

    @operation("live-migration")
    def migrate(
        self,
        name_or_uuid: str,
        dest: ComputeDriver,
        *,
        live: bool = True,
        timeout: float = DEFAULT_MIGRATION_TIMEOUT,
        force_after: float | None = None,
        progress: Callable[[MigrationProgress], None] | None = None,
        address: str = "127.0.0.1",
        postcopy: bool = False,
        bandwidth_mib: int = 0,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> MigrationResult:
        return self._migration.migrate(
            name_or_uuid,
            dest,
            live=live,
            timeout=timeout,
            force_after=force_after,
            progress=progress,
            address=address,
            postcopy=postcopy,
            bandwidth_mib=bandwidth_mib,
            secrets=secrets,
        )

    @operation("live-migration")
    def move_out(
        self,
        name_or_uuid: str,
        target: MigrationTarget,
        *,
        timeout: float = DEFAULT_MIGRATION_TIMEOUT,
        force_after: float | None = None,
        progress: Callable[[MigrationProgress], None] | None = None,
        postcopy: bool = False,
        bandwidth_mib: int = 0,
    ) -> tuple[InstanceState, str | None, int]:
        return self._migration.move_out(
            name_or_uuid,
            target,
            timeout=timeout,
            force_after=force_after,
            progress=progress,
            postcopy=postcopy,
            bandwidth_mib=bandwidth_mib,
        )

    @operation("live-migration")
    def migration_arrival(self, name_or_uuid: str) -> Arrival:
        return self._migration.arrival(name_or_uuid)

    @operation("live-migration")
    def abort_migration(self, name_or_uuid: str) -> None:
        self._migration.abort(name_or_uuid)

    @operation("live-migration")
    def force_migration(self, name_or_uuid: str) -> str:
        return self._migration.force_complete(name_or_uuid)

    @host_operation("live-migration")
    def receive(
        self,
        arrival: Arrival,
        *,
        managed_by: str | None = None,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> Prepared:
        return self._incoming.prepare(arrival, managed_by=managed_by, secrets=secrets)

    @host_operation("resize")
    def pull(
        self,
        arrival: Arrival,
        source: MigrationTarget,
        *,
        address: str = "127.0.0.1",
        managed_by: str | None = None,
        keep_source: bool = True,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> Instance:
        return self._pull.pull(
            arrival,
            source,
            address=address,
            managed_by=managed_by,
            keep_source=keep_source,
            secrets=secrets,
        )

    @host_operation("live-migration")
    def finish_incoming(self, uuid: str, state: InstanceState) -> Instance:
        return self._incoming.finish(uuid, state)

    @host_operation("live-migration")
    def abandon_incoming(self, uuid: str) -> bool:
        return self._incoming.abandon(uuid)

    @operation("console-log")
    def get_console_output(
        self, name_or_uuid: str, max_bytes: int = _console.DEFAULT_TAIL
    ) -> bytes:
        return self._queries.get_console_output(name_or_uuid, max_bytes)

    @operation("attach-interface")
    def attach_interface(self, name_or_uuid: str, nic: NICSpec) -> NICSpec:
        return self._devices.attach_interface(name_or_uuid, nic)

    @operation("attach-interface")
    def detach_interface(
        self, name_or_uuid: str, mac: str, timeout: float = DEFAULT_DETACH_TIMEOUT
    ) -> NICSpec:
        return self._devices.detach_interface(name_or_uuid, mac, timeout)

    # -- queries (:mod:`._queries`) ---------------------------------------------------------

    @operation("get-guest-info")
    def get_instance(self, name_or_uuid: str) -> Instance:
        return self._queries.get_instance(name_or_uuid)

    @operation("get-guest-info")
    def instance_info(self, name_or_uuid: str) -> InstanceInfo:
        return self._queries.instance_info(name_or_uuid)

    @operation("get-guest-info")
    def get_info(self, name_or_uuid: str) -> InstanceInfo:
        return self._queries.get_info(name_or_uuid)

    @operation("get-guest-info")
    def diagnostics(self, name_or_uuid: str) -> GuestDiagnostics:
        return self._queries.diagnostics(name_or_uuid)

    @host_operation("get-guest-info")
    def list_instances(self) -> list[InstanceInfo]:
        return self._queries.list_instances()

    @operation("get-guest-info")
    def instance_exists(self, name_or_uuid: str) -> bool:
        return self._queries.instance_exists(name_or_uuid)

    @operation("get-guest-info")
    def domain_xml(self, name_or_uuid: str) -> str:
        return self._queries.domain_xml(name_or_uuid)

    @operation("device-tags")
    def device_metadata(self, name_or_uuid: str) -> tuple[TaggedDevice, ...]:
        """The guest's tagged NICs and disks, at the bus addresses the guest sees them."""
        return self._queries.device_metadata(name_or_uuid)

    @host_operation()
    def get_available_resource(self) -> dict[str, Any]:
        return self._queries.get_available_resource()

    @host_operation()
    def capabilities(self) -> Capabilities:
        return self._queries.capabilities()

    # -- flavors (the guest sizes a spawn picks from: records only) --------------------------

    @host_operation()
    def add_flavor(self, flavor: Flavor) -> Flavor:
        return self._ctx.db.add_flavor(flavor)

    @host_operation()
    def get_flavor(self, name: str) -> Flavor:
        return self._ctx.db.get_flavor(name)

    @host_operation()
    def list_flavors(self) -> list[Flavor | UnusableRecord]:
        return self._ctx.db.list_flavors()

    @host_operation()
    def delete_flavor(self, name: str) -> None:
        self._ctx.db.delete_flavor(name)


def _implements_the_contract(driver: ComputeDriver) -> ComputeAPI:
    """Never called: mypy checks here that the driver implements its public contract."""
    return driver
