"""The driver's public contract: what the CLI and the Nova adapter may call.

:class:`ComputeAPI` lists every operation of :class:`~zcompute.driver.ComputeDriver` that a
caller outside the driver may use, with its types; the rest of the driver's names are its own
helpers. A unit test checks that the driver implements the contract (mypy, structurally) and
that the CLI calls nothing else; the Nova adapter will translate Nova's objects into exactly
these calls. :class:`Capabilities` is what the host can run and which features each of those
architectures offers, derived from the architecture profiles and the support matrix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from zcompute.arch import ARCHES, FEATURES, get_profile
from zcompute.configdrive import ConfigDrive
from zcompute.driver._agent import GuestAgentInfo
from zcompute.driver._devicetags import TaggedDevice
from zcompute.driver._incoming import Arrival, Prepared
from zcompute.driver._migrate import MigrationResult, MigrationTarget
from zcompute.driver._power import HostBootReport
from zcompute.driver._recovery import RepairReport
from zcompute.driver._reports import GuestDiagnostics, HostReport, InstanceInfo
from zcompute.driver._serial import SerialConsole
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
from zcompute.virt import ConsoleStream, LifecycleEvent, MigrationProgress
from zcompute.volumes import (
    DiskSource,
    HostVolumePorts,
    VolumeConnection,
    VolumeEncryption,
    VolumePolicy,
    VolumeSecrets,
)

__all__ = ["Capabilities", "ComputeAPI", "capabilities_of"]


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a host offers: the guest platforms that really run on it (``(arch, domain type)``,
    KVM only where the probe proved it) and, per architecture, the features the driver does
    there (the profile does not claim them missing, and zcompute implements them)."""

    platforms: tuple[tuple[str, str], ...]
    features: Mapping[str, frozenset[str]]

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(arch for arch, _ in self.platforms))

    def supports(self, arch: str, feature: str) -> bool:
        return feature in self.features.get(arch, frozenset())


def capabilities_of(platforms: Sequence[tuple[str, str]]) -> Capabilities:
    """The capabilities of a host that runs ``platforms``, from the profiles and the matrix."""
    usable = [(arch, kind) for arch, kind in platforms if arch in ARCHES]
    features = {
        arch: frozenset(item.key for item in FEATURES if get_profile(arch).available(item.key))
        for arch in dict.fromkeys(arch for arch, _ in usable)
    }
    return Capabilities(tuple(usable), MappingProxyType(features))


class ComputeAPI(Protocol):
    """The public operations of zcompute's driver (see the module docs)."""

    @property
    def images(self) -> ImageStore: ...
    @property
    def volume_policy(self) -> VolumePolicy: ...

    def capabilities(self) -> Capabilities: ...

    def add_flavor(self, flavor: Flavor) -> Flavor: ...
    def get_flavor(self, name: str) -> Flavor: ...
    def list_flavors(self) -> list[Flavor | UnusableRecord]: ...
    def delete_flavor(self, name: str) -> None: ...

    def init_host(self) -> HostReport: ...
    def probe_kvm(self) -> bool: ...
    def repair(self) -> RepairReport: ...
    def recover_leftovers(self) -> RepairReport: ...
    def get_available_resource(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def dry_run_host(self) -> tuple[HostView, str | None]: ...
    def plan(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = ...,
        block_devices: Sequence[BlockDeviceSpec] = ...,
        metadata: Mapping[str, str] | None = ...,
        uuid: str | None = ...,
        host: HostView | None = ...,
        config_drive: ConfigDrive | None = ...,
    ) -> GuestPlan: ...
    def spawn(
        self,
        name: str,
        image: str | Image,
        flavor: str | Flavor,
        *,
        nics: Sequence[NICSpec] = ...,
        block_devices: Sequence[BlockDeviceSpec] = ...,
        metadata: Mapping[str, str] | None = ...,
        wait_for: str | re.Pattern[str] | None = ...,
        timeout: float = ...,
        uuid: str | None = ...,
        config_drive: ConfigDrive | None = ...,
        managed_by: str | None = ...,
        boot_volume: VolumeConnection | None = ...,
    ) -> Instance: ...
    def instances_managed_by(self, manager: str) -> list[Instance]: ...
    def watch_lifecycle(self, callback: Callable[[str, LifecycleEvent], None]) -> None: ...
    def destroy(self, name_or_uuid: str, *, keep_disks: bool = ...) -> bool: ...
    def remove_kept_disks(self, uuid: str) -> bool: ...
    def guest_agent_info(self, name_or_uuid: str, user: str | None = ...) -> GuestAgentInfo: ...
    def quiesce(self, name_or_uuid: str) -> int: ...
    def unquiesce(self, name_or_uuid: str) -> int: ...
    def set_admin_password(
        self, name_or_uuid: str, password: str, user: str | None = ...
    ) -> str: ...
    def get_instance(self, name_or_uuid: str) -> Instance: ...
    def get_info(self, name_or_uuid: str) -> InstanceInfo: ...
    def diagnostics(self, name_or_uuid: str) -> GuestDiagnostics: ...
    def instance_info(self, name_or_uuid: str) -> InstanceInfo: ...
    def list_instances(self) -> list[InstanceInfo]: ...
    def instance_exists(self, name_or_uuid: str) -> bool: ...
    def domain_xml(self, name_or_uuid: str) -> str: ...
    def device_metadata(self, name_or_uuid: str) -> tuple[TaggedDevice, ...]: ...
    def power_off(self, name_or_uuid: str, timeout: float = ...) -> bool: ...
    def power_on(self, name_or_uuid: str) -> Instance: ...
    def reboot(self, name_or_uuid: str, hard: bool = ..., timeout: float = ...) -> bool: ...
    def pause(self, name_or_uuid: str) -> Instance: ...
    def unpause(self, name_or_uuid: str) -> Instance: ...
    def suspend(self, name_or_uuid: str) -> Instance: ...
    def resume(self, name_or_uuid: str) -> Instance: ...
    def resume_state_on_host_boot(self) -> HostBootReport: ...
    def trigger_crash_dump(self, name_or_uuid: str) -> None: ...
    def snapshot(self, name_or_uuid: str, image_name: str, *, timeout: float = ...) -> Image: ...
    def rescue(
        self,
        name_or_uuid: str,
        rescue_image: Image | None = None,
        *,
        config_drive: ConfigDrive | None = None,
    ) -> Instance: ...
    def unrescue(self, name_or_uuid: str) -> Instance: ...
    def resize(
        self,
        name_or_uuid: str,
        flavor: str | Flavor,
        *,
        start: bool | None = ...,
        timeout: float = ...,
    ) -> Instance: ...
    def confirm_resize(self, name_or_uuid: str) -> Instance: ...
    def migrate(
        self,
        name_or_uuid: str,
        dest: Any,  # the other host's ComputeDriver
        *,
        live: bool = ...,
        timeout: float = ...,
        force_after: float | None = ...,
        progress: Callable[[MigrationProgress], None] | None = ...,
        address: str = ...,
        postcopy: bool = ...,
        bandwidth_mib: int = ...,
        secrets: Mapping[str, VolumeSecrets] | None = ...,
    ) -> MigrationResult: ...
    def move_out(
        self,
        name_or_uuid: str,
        target: MigrationTarget,
        *,
        timeout: float = ...,
        force_after: float | None = ...,
        progress: Callable[[MigrationProgress], None] | None = ...,
        postcopy: bool = ...,
        bandwidth_mib: int = ...,
    ) -> tuple[InstanceState, str | None, int]: ...
    def migration_arrival(self, name_or_uuid: str) -> Arrival: ...
    def abort_migration(self, name_or_uuid: str) -> None: ...
    def force_migration(self, name_or_uuid: str) -> str: ...
    def receive(
        self,
        arrival: Arrival,
        *,
        managed_by: str | None = ...,
        secrets: Mapping[str, VolumeSecrets] | None = ...,
    ) -> Prepared: ...
    def pull(
        self,
        arrival: Arrival,
        source: MigrationTarget,
        *,
        address: str = ...,
        managed_by: str | None = ...,
        keep_source: bool = ...,
        secrets: Mapping[str, VolumeSecrets] | None = ...,
    ) -> Instance: ...
    def finish_incoming(self, uuid: str, state: InstanceState) -> Instance: ...
    def abandon_incoming(self, uuid: str) -> bool: ...
    def revert_resize(self, name_or_uuid: str, *, start: bool | None = ...) -> Instance: ...
    def pending_resize(self, name_or_uuid: str) -> Flavor | None: ...
    def get_console_output(self, name_or_uuid: str, max_bytes: int = ...) -> bytes: ...
    def console_log_path(self, name_or_uuid: str) -> Path: ...
    def console_log_of(self, uuid: str) -> Path: ...
    def open_console(self, name_or_uuid: str) -> ConsoleStream: ...
    def get_serial_console(self, name_or_uuid: str) -> SerialConsole: ...
    def attach_volume(
        self,
        name_or_uuid: str,
        volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        target: str | None = ...,
        bus: str | None = ...,
        readonly: bool = ...,
        serial: str | None = ...,
        disk_format: str | None = ...,
        tag: str | None = ...,
    ) -> BlockDeviceSpec: ...
    def detach_volume(
        self, name_or_uuid: str, target: str, timeout: float = ...
    ) -> BlockDeviceSpec: ...
    def attach_fc_volume(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = ...,
        root: Path = ...,
        host_arch: str | None = ...,
        connector_options: Mapping[str, Any] | None = ...,
        tag: str | None = ...,
    ) -> BlockDeviceSpec: ...
    def extend_volume(
        self, name_or_uuid: str, target: str, new_size_bytes: int | None = ...
    ) -> BlockDeviceSpec: ...
    def swap_volume(
        self,
        name_or_uuid: str,
        target: str,
        new_volume: BlockDeviceSpec | DiskSource | Path | str,
        *,
        timeout: float = ...,
    ) -> BlockDeviceSpec: ...
    def swap_volume_connection(
        self,
        name_or_uuid: str,
        target: str,
        connection_info: Mapping[str, Any],
        *,
        encryption: VolumeEncryption | None = ...,
        timeout: float = ...,
        root: Path = ...,
        host_arch: str | None = ...,
        connector_options: Mapping[str, Any] | None = ...,
    ) -> BlockDeviceSpec: ...
    def attach_iscsi_volume(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = ...,
        bus: str | None = ...,
        shareable: bool = ...,
        encryption: VolumeEncryption | None = ...,
        tag: str | None = ...,
    ) -> BlockDeviceSpec: ...
    def attach_volume_connection(
        self,
        name_or_uuid: str,
        connection_info: Mapping[str, Any],
        *,
        target: str | None = ...,
        bus: str | None = ...,
        shareable: bool = ...,
        encryption: VolumeEncryption | None = ...,
        tag: str | None = ...,
    ) -> BlockDeviceSpec: ...
    def iscsi_initiator_name(self) -> str: ...
    def volume_connector(self, root: Path = ...) -> HostVolumePorts: ...
    def attach_interface(self, name_or_uuid: str, nic: NICSpec) -> NICSpec: ...
    def detach_interface(self, name_or_uuid: str, mac: str, timeout: float = ...) -> NICSpec: ...
