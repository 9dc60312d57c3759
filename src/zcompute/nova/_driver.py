"""``ZComputeDriver``: Nova's compute driver interface, answered by zcompute's driver.

Every method translates Nova's objects (:mod:`._translate`, :mod:`._glance`), calls one
operation of zcompute's :class:`~zcompute.driver.ComputeDriver` and maps its errors
(:mod:`._errors`). No guest policy lives here: machine types, consoles, devices and every
architecture rule are zcompute's. A Nova compute service owns only the guests it created
(recorded as managed by ``nova:<host>``): guests of zcompute's CLI and other domains on the
same libvirtd are neither reported to Nova nor touched by it.
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from pathlib import Path
from typing import Any

from nova import exception
from nova.compute import power_state, task_states
from nova.console import type as console_type
from nova.virt import driver, hardware, netutils

from zcompute.configdrive import ConfigDrive
from zcompute.driver import ComputeDriver, InstanceInfo
from zcompute.errors import InvalidState
from zcompute.model import InstanceState
from zcompute.nova import _resources
from zcompute.nova._agentops import AgentMethods
from zcompute.nova._base import AdapterBase
from zcompute.nova._conf import CONF, zcompute_config
from zcompute.nova._devicemeta import save_device_metadata, vif_tags
from zcompute.nova._devnames import DeviceNameMethods
from zcompute.nova._diagnostics import DiagnosticsMethods
from zcompute.nova._errors import nova_errors
from zcompute.nova._events import EventBridge
from zcompute.nova._glance import GlanceImages
from zcompute.nova._imagecache import ImageCacheMethods
from zcompute.nova._interfaces import InterfaceMethods
from zcompute.nova._livemigrate import LiveMigrateMethods
from zcompute.nova._migrate import MigrateMethods, reverting_here
from zcompute.nova._power import PowerMethods
from zcompute.nova._rescue import RescueMethods
from zcompute.nova._swapvol import SwapVolumeMethods
from zcompute.nova._translate import config_drive_of, flavor_of, nics_of
from zcompute.nova._volumes import VolumeMethods, root_mapping, volume_image_properties
from zcompute.properties import VIF_MODEL_PROPERTY

__all__ = ["ZComputeDriver"]

_POWER = {
    InstanceState.RUNNING: power_state.RUNNING,
    InstanceState.PAUSED: power_state.PAUSED,
    InstanceState.SHUTDOWN: power_state.RUNNING,  # still running until it is off
    InstanceState.SHUTOFF: power_state.SHUTDOWN,
    # zcompute's "crashed" is a guest shut off by its crash (on_crash=destroy): it is off,
    # which is what Nova's power-state sync must see to stop the server
    InstanceState.CRASHED: power_state.SHUTDOWN,
    InstanceState.SUSPENDED: power_state.SUSPENDED,
    InstanceState.BUILDING: power_state.NOSTATE,
    InstanceState.ERROR: power_state.NOSTATE,
    InstanceState.NOSTATE: power_state.NOSTATE,
}
_NODE_ID_FILE = "nova-compute-id"


class ZComputeDriver(
    ImageCacheMethods,
    LiveMigrateMethods,
    MigrateMethods,
    VolumeMethods,
    InterfaceMethods,
    SwapVolumeMethods,
    RescueMethods,
    PowerMethods,
    DeviceNameMethods,
    AgentMethods,
    DiagnosticsMethods,
    AdapterBase,
):
    """Nova's compute driver for KVM (and TCG) guests through zcompute, IBM Z first-class.

    Each group of Nova's methods lives in a module of its own (a subclass of
    :class:`~zcompute.nova._base.AdapterBase`); this class combines them and adds the
    service, spawn and destroy, snapshots and consoles.
    """

    capabilities = {
        **driver.ComputeDriver.capabilities,
        "supports_image_type_aki": True,
        "supports_image_type_ami": True,
        "supports_image_type_ari": True,
        "supports_image_type_qcow2": True,
        "supports_image_type_raw": True,
        "supports_device_tagging": True,
        "supports_attach_interface": True,
        "supports_tagged_attach_interface": True,
        "supports_tagged_attach_volume": True,
        "supports_multiattach": True,
        "has_imagecache": True,
        # [libvirt] file_backed_memory: guests' memory is a file (zcompute's
        # file_backed_memory_mib); init_host clears it where that is off, as Nova's libvirt
        # driver does (the trait COMPUTE_MEM_BACKING_FILE follows it)
        "supports_mem_backing_file": True,
        "supports_extend_volume": True,
        "supports_migrate_to_same_host": True,  # a cold migration: a resize to the same flavor
        # an evacuation rebuilds the guest on another host from its image (its own disks are
        # not shared: they stayed on the failed host, which removes the guest once it is back)
        "supports_evacuate": True,
    }

    def init_host(self, host: str) -> None:
        self._host = host
        config = zcompute_config(host)
        self.capabilities = {
            **type(self).capabilities,
            "supports_mem_backing_file": config.file_backed_memory_mib > 0,
        }
        config.data_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        zc = ComputeDriver(config)
        with nova_errors("-"):
            zc.init_host()
        self._zc = zc
        self._node_uuid = _node_uuid(config.data_dir)
        arch = zc.host.caps.arch
        self._images = GlanceImages(zc, config.data_dir, arch)
        self._images.remove_staging_leftovers()
        self._events = EventBridge(self._owns, self.emit_event)
        zc.watch_lifecycle(self._events.on_lifecycle)
        self.remember_inbound(config.uri)  # this service's settings, read once

    def cleanup_host(self, host: str) -> None:
        if self._events is not None:
            self._events.stop()
        if self._zc is not None:
            self._zc.close()

    def get_available_nodes(self, refresh: bool = False) -> list[str]:
        return [self._host]

    def get_nodenames_by_uuid(self, refresh: bool = False) -> dict[str, str]:
        return {self._node_uuid: self._host}

    def get_available_resource(self, nodename: str) -> dict[str, Any]:
        with nova_errors("-"):
            raw = self.zc.get_available_resource()
            capabilities = self.zc.capabilities()
        return _resources.available_resource(raw, capabilities, nodename, self._node_uuid)

    def update_provider_tree(
        self, provider_tree: Any, nodename: str, allocations: Any = None
    ) -> None:
        with nova_errors("-"):
            raw = self.zc.get_available_resource()
            capabilities = self.zc.capabilities()
        current = provider_tree.data(nodename).inventory
        ratios = self._get_allocation_ratios(current)
        provider_tree.update_inventory(nodename, _resources.inventory(raw, ratios))
        wanted = _resources.traits(capabilities, self.zc.host.caps.arch)
        # traits of ours that no longer hold (an arch no longer offered) go; others' stay
        stale = {
            trait
            for trait in provider_tree.data(nodename).traits
            if trait.startswith(_resources.OWN_TRAIT_PREFIXES) and trait not in wanted
        }
        if stale:
            provider_tree.remove_traits(nodename, *stale)
        provider_tree.add_traits(nodename, *wanted)

    def get_host_ip_addr(self) -> str:
        return str(CONF.my_ip)

    def get_host_uptime(self) -> str:
        seconds = float(Path("/proc/uptime").read_text().split()[0])
        days, rest = divmod(int(seconds), 86400)
        load = Path("/proc/loadavg").read_text().split()[:3]
        return f"up {days} days, {rest // 3600:02d}:{rest % 3600 // 60:02d}, load average: " + (
            ", ".join(load)
        )

    def list_instances(self) -> list[str]:
        return [inst.name for inst in self._owned()]

    def list_instance_uuids(self) -> list[str]:
        return [inst.uuid for inst in self._owned()]

    def instance_exists(self, instance: Any) -> bool:
        return self._owns(instance.uuid)

    def get_info(self, instance: Any, use_cache: bool = True) -> hardware.InstanceInfo:
        with self._guest(instance) as uuid:
            info: InstanceInfo = self.zc.get_info(uuid)
        return hardware.InstanceInfo(state=_POWER[info.state], internal_id=info.name)

    # -- spawn and destroy --------------------------------------------------------------------

    def spawn(
        self,
        context: Any,
        instance: Any,
        image_meta: Any,
        injected_files: Any,
        admin_password: Any,
        allocations: Any,
        network_info: Any = None,
        block_device_info: Any = None,
        power_on: bool = True,
        accel_info: Any = None,
    ) -> None:
        uuid = str(instance.uuid)
        _refuse_disks(block_device_info, instance.flavor)
        root = root_mapping(block_device_info)
        raw = volume_image_properties(instance) if root is not None else {}
        # a server booting from a volume may have no image id (a volume made from no image)
        image_id = image_meta.id if image_meta.obj_attr_is_set("id") else None
        key = self._glance.volume_key(raw) if root is not None else str(image_id)
        # the cached image stays while the guest is made of it (the cache's pruning waits)
        with nova_errors(uuid, image_id=image_id), self._glance.in_use(key):
            if root is None:
                image = self._glance.image_for(context, str(image_id))
            else:  # booting from a volume: what the volume holds, described
                image = self._glance.volume_image_for(context, raw)
            vif_model = image_meta.properties.get(VIF_MODEL_PROPERTY)
            tags = vif_tags(context, instance)
            nics = nics_of(network_info or [], str(vif_model) if vif_model else None, tags)
            self.zc.spawn(
                instance.name,
                image,
                flavor_of(instance.flavor),
                nics=nics,
                uuid=uuid,
                config_drive=_config_drive(instance, network_info, admin_password),
                managed_by=self.manager,
                boot_volume=None if root is None else self.boot_volume(context, uuid, root),
            )
            try:
                self.attach_boot_volumes(context, uuid, block_device_info)
                if not power_on:
                    self.zc.power_off(uuid, timeout=0)
                save_device_metadata(context, instance, self.zc.device_metadata(uuid))
            except BaseException:
                # a failed spawn leaves nothing (Nova's contract): the guest goes, with the
                # volumes, connections and secrets attached so far
                with contextlib.suppress(Exception):
                    self.zc.destroy(uuid)
                raise

    def destroy(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_device_info: Any = None,
        destroy_disks: bool = True,
        destroy_secrets: bool = True,
    ) -> None:
        if not self._owns(instance.uuid):
            # never created here, or gone already; disks an earlier destroy_disks=False kept
            # go now if Nova asks for that
            if destroy_disks:
                with nova_errors(instance.uuid):
                    self.zc.remove_kept_disks(instance.uuid)
            return
        if reverting_here(self, instance):
            return  # Nova's revert_resize: finish_revert_migration restores this very guest
        with nova_errors(instance.uuid):
            # destroy_disks=False (shared storage, evacuation): the guest's folder stays
            self.zc.destroy(instance.uuid, keep_disks=not destroy_disks)

    def cleanup(
        self,
        context: Any,
        instance: Any,
        network_info: Any,
        block_device_info: Any = None,
        destroy_disks: bool = True,
        migrate_data: Any = None,
        destroy_vifs: bool = True,
        destroy_secrets: bool = True,
    ) -> None:
        self.destroy(context, instance, network_info, block_device_info, destroy_disks)

    def plug_vifs(self, instance: Any, network_info: Any) -> None:
        """zcompute creates a guest's tap devices with it (and again when it starts)."""

    def unplug_vifs(self, instance: Any, network_info: Any) -> None:
        """zcompute removes a guest's tap devices with it."""

    # -- snapshots and consoles ---------------------------------------------------------------

    def snapshot(self, context: Any, instance: Any, image_id: str, update_task_state: Any) -> None:
        uuid = self._mine(instance)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        with nova_errors(uuid, image_id=image_id):
            copy = self.zc.snapshot(uuid, f"nova-snapshot-{image_id}")
            update_task_state(
                task_state=task_states.IMAGE_UPLOADING,
                expected_state=task_states.IMAGE_PENDING_UPLOAD,
            )
            self._glance.upload_snapshot(context, image_id, copy)

    def get_console_output(self, context: Any, instance: Any) -> bytes:
        with self._guest(instance) as uuid:
            return self.zc.get_console_output(uuid)

    def get_serial_console(self, context: Any, instance: Any) -> console_type.ConsoleSerial:
        """The guest's interactive console as a TCP endpoint, for Nova's serial proxy.

        Unavailable unless the console is one: ``[serial_console] enabled`` was set when the
        guest was last (re)defined (it becomes one on its next start otherwise).
        """
        if not CONF.serial_console.enabled:
            raise exception.ConsoleTypeUnavailable(console_type="serial")
        with self._guest(instance) as uuid:
            try:
                console = self.zc.get_serial_console(uuid)
            except InvalidState as err:  # not running: no endpoint to connect to
                raise exception.InstanceNotReady(instance_id=uuid) from err
        if console.host is None or console.port is None:
            raise exception.ConsoleTypeUnavailable(console_type="serial")
        return console_type.ConsoleSerial(host=console.host, port=console.port)


#: The methods of Nova's driver interface that zcompute answers and the capability flags it
#: sets (the support matrix's input: :func:`zcompute.arch.nova_cell`).
IMPLEMENTED_NOVA_METHODS = frozenset(
    name
    for cls in ZComputeDriver.__mro__
    if cls.__module__.startswith("zcompute.nova.")
    for name, value in vars(cls).items()
    if callable(value) and callable(getattr(driver.ComputeDriver, name, None))
) | frozenset(flag for flag, on in ZComputeDriver.capabilities.items() if on)


def _node_uuid(data_dir: Path) -> str:
    """This service's compute node uuid: made once, kept in its data directory and in Nova's
    own identity file (``compute_id`` in ``state_path``).

    Nova's compute manager refuses to start a service it has seen before unless that file is
    there (``_ensure_existing_node_identity``), so without it a compute service could never
    start a second time. Nova's file wins where it exists; a data directory and a file that
    name different nodes are a configuration error.
    """
    from nova.virt import node

    path = data_dir / _NODE_ID_FILE
    try:
        ours: str | None = str(uuidlib.UUID(path.read_text().strip()))
    except FileNotFoundError:
        ours = None
    novas = node.read_local_node_uuid()
    if ours and novas and ours != novas:
        raise exception.InvalidConfiguration(
            f"zcompute's node identity {ours} ({path}) is not Nova's {novas} (state_path)"
        )
    value = novas or ours or str(uuidlib.uuid4())
    if ours is None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        tmp.replace(path)
    if novas is None:
        node.write_local_node_uuid(value)
    return value


def _config_drive(instance: Any, network_info: Any, admin_password: Any) -> ConfigDrive | None:
    """The config drive Nova asks for (``required_by``), or None."""
    from nova.virt import configdrive

    if not configdrive.required_by(instance):
        return None
    network_data = netutils.get_network_metadata(network_info or [])
    extra = {
        "availability_zone": instance.availability_zone,
        "project_id": instance.project_id,
        "launch_index": instance.launch_index,
    }
    if admin_password:  # as Nova's metadata has it (the drive is root's only)
        extra["admin_pass"] = admin_password
    return config_drive_of(instance, network_data, extra)


def _refuse_disks(block_device_info: Any, flavor: Any) -> None:
    """Refuse ephemeral or swap disks other than the flavor's (zcompute makes exactly those:
    one ext4 ephemeral disk and one swap disk, of the flavor's sizes)."""
    info = block_device_info or {}
    wanted = int(flavor.ephemeral_gb or 0)
    asked = driver.block_device_info_get_ephemerals(info)
    if asked and (
        len(asked) != 1
        or int(asked[0].get("size") or 0) != wanted
        or asked[0].get("guest_format") not in (None, "ext4")
    ):
        sizes = ", ".join(f"{e.get('size')} GB {e.get('guest_format') or ''}" for e in asked)
        raise exception.InvalidInput(
            reason=f"zcompute creates the flavor's ephemeral disk only ({wanted} GB, ext4), "
            f"not the ephemeral disks asked for: {sizes}"
        )
    swap = int(driver.block_device_info_get_swap(info).get("swap_size") or 0)
    if swap and swap != int(flavor.swap or 0):
        raise exception.InvalidInput(
            reason=f"zcompute creates the flavor's swap disk only ({flavor.swap or 0} MB), "
            f"not one of {swap} MB"
        )
