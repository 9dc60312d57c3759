"""The state the driver's parts share, in one typed object built once per driver.

:class:`DriverContext` holds the configuration, the state DB, the image store, the connection to
libvirt, the per-instance locks and what the driver learns about its host once (the host view,
QEMU's user). :class:`~zcompute.driver.ComputeDriver` builds it and hands it to each of its
parts (power, devices, snapshot, ...), which keep it as ``self._ctx``: whatever operations share
is here, and nowhere else. Besides the state it answers what every part asks of it: an
instance's live state and paths, and whether a host file may become a guest's disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from pathlib import Path

from zcompute.config import Config
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._files import warn_if_unreachable
from zcompute.driver._host import checked_versions, known_kvm_answer, read_host_view
from zcompute.driver._locks import InstanceLocks
from zcompute.driver._state import instance_state, settled_state
from zcompute.driver._taps import HostTaps
from zcompute.driver._waiters import DomainEvents
from zcompute.errors import ConfigError, HostFileError, InvalidInput, NotFound, ZcomputeError
from zcompute.images import (
    DIR_TRAVERSE,
    ImageStore,
    QemuIds,
    decide_format,
    make_data_dir,
    make_dir,
    qemu_ids,
    tighten,
    unsafe_directory,
)
from zcompute.model import BlockDeviceSpec, InstanceState
from zcompute.plan import HostView
from zcompute.state import SpaceReserve, StateDB
from zcompute.virt import Domains, DomainState, Hypervisor, Secrets
from zcompute.volumes import VolumePolicy, parse_volume_dirs

__all__ = ["ROOT_DISK", "DriverContext"]

LOG = logging.getLogger("zcompute.driver")

ROOT_DISK = "disk.qcow2"


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class DriverContext:
    """What the driver's parts share (see the module docs)."""

    config: Config
    reserve: SpaceReserve  # room kept free in the data directory (:meth:`close` restores it)
    db: StateDB
    images: ImageStore
    instances_dir: Path
    hv: Hypervisor
    domains: Domains
    secrets: Secrets  # the CHAP passwords and LUKS passphrases of network volumes
    events: DomainEvents
    locks: InstanceLocks  # one per instance: its operations serialise, others run in parallel
    taps: HostTaps  # the tap devices of tap NICs, which zcompute creates and removes
    host_view: HostView | None  # read once by :attr:`host`; None until then
    qemu_user: tuple[QemuIds | None] | None  # libvirt's DAC label once asked (None inside: none)

    def __init__(self, config: Config) -> None:
        self.config = config
        data = config.data_dir
        _own_data_dir(data)
        self.reserve = SpaceReserve(data)
        self.reserve.release_if_full()  # a full file system: reads and deletes still work
        self.db = StateDB(data / "state.db")
        self.qemu_user = None
        self.images = ImageStore(data, self.db, self.qemu_group)
        self.instances_dir = data / "instances"
        if not make_dir(self.instances_dir, DIR_TRAVERSE):
            tighten(self.instances_dir, 0o066)  # an older zcompute's 0755: QEMU only traverses
        self.hv = Hypervisor(config.uri)
        self.domains = Domains(self.hv)
        self.secrets = Secrets(self.hv)
        self.locks = InstanceLocks()
        self.taps = HostTaps(data)
        self.host_view = None
        self._host_lock = threading.Lock()
        self.events = DomainEvents(self.hv)

    def close(self) -> None:
        self.hv.close()
        self.db.close()
        self.reserve.ensure()

    # -- the host, read once ---------------------------------------------------------------

    @property
    def host(self) -> HostView:
        """The host as read once: capabilities, CPU model, and whether KVM really runs.

        Reading it never boots anything: whether KVM runs is the KVM probe's recorded answer
        (or the configured virt type); before the probe ever ran, guests are planned with TCG.
        """
        with self._host_lock:
            if self.host_view is None:
                versions = checked_versions(self.hv)
                known = known_kvm_answer(self.config.virt_type, self.config.data_dir, versions)
                self.host_view = read_host_view(self.hv, kvm=bool(known))
            return self.host_view

    def learned_kvm(self, usable: bool) -> None:
        """The KVM probe answered: a host view read with the other answer is read again."""
        with self._host_lock:
            if self.host_view is not None and self.host_view.kvm_usable != usable:
                self.host_view = None

    def qemu_ids(self) -> QemuIds | None:
        """The user and groups QEMU runs with (libvirt's DAC label); None without DAC."""
        if self.qemu_user is None:
            ids = qemu_ids(self.hv.capabilities())
            self.qemu_user = (ids,)
            if ids is not None:
                warn_if_unreachable(ids, self.instances_dir, self.images.images_dir)
        return self.qemu_user[0]

    def qemu_group(self) -> int | None:
        """QEMU's group, or None while libvirt cannot say (see :class:`ImageStore`)."""
        try:
            ids = self.qemu_ids()
        except ZcomputeError:
            return None  # libvirtd away: images get root's group until a guest boots on them
        return None if ids is None else ids.gid

    # -- an instance's state and paths -----------------------------------------------------

    def live_state(self, uuid: str) -> DomainState:
        return self.domains.state_detail(uuid)

    def observed_state(self, uuid: str) -> InstanceState:
        """The instance state libvirt reports now (suspended and crashed included).

        A record whose libvirt domain is gone is in state ``error`` (a hard reboot or the
        host-boot resume defines it again).
        """
        try:
            return instance_state(self.live_state(uuid))
        except NotFound:
            return InstanceState.ERROR

    def record_settled(self, uuid: str) -> None:
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

    def root_disk_path(self, uuid: str) -> Path:
        return self.instances_dir / uuid / ROOT_DISK

    # -- local volumes ---------------------------------------------------------------------

    @property
    def volume_policy(self) -> VolumePolicy:
        """Which host files and block devices may become a guest's disk (``host show``)."""
        return VolumePolicy(parse_volume_dirs(self.config.volume_dirs), self.config.data_dir)

    def checked_volume(self, spec: BlockDeviceSpec) -> BlockDeviceSpec:
        """``spec`` as it will be recorded: the real path, allowed by the volume policy, with
        its format decided once (a block device is raw; a file's format comes from the format
        inspector, or is the one the operator stated and the file really has)."""
        if not isinstance(spec.source, Path):  # QEMU reaches it itself: no host path to check
            if spec.format not in (None, "raw"):
                raise InvalidInput("block_device.format", "a network volume is raw", ["raw"])
            return dataclasses.replace(spec, format="raw")
        volume = self.volume_policy.check(spec.source)
        label = f"volume {spec.source}"
        fmt = "raw" if volume.is_block else decide_format(volume.path, label, spec.format)
        if volume.is_block and spec.format not in (None, "raw"):
            raise InvalidInput("block_device.format", f"{label} is a block device", ["raw"])
        return dataclasses.replace(spec, source=volume.path, format=fmt)


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
