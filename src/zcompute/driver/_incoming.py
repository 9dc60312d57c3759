"""The destination's side of a migration: a guest's record, files and connections made ready.

Before the source moves the guest, this host records it (task ``incoming``), adopts its images
into this store (same id, bytes checked; an image of the same name and bytes here is used as it
is, and the source learns its folder: :class:`Prepared`), makes its folder with disks over the
same backing chain and of the same sizes (a live migration copies their content into them),
writes the small files the source sent (config drive, console log: the log goes on growing here),
defines the libvirt secrets of its network volumes (same UUIDs, values from the caller: they
never travel in an :class:`Arrival`), connects its FC volumes and creates its tap devices. Its
iSCSI volumes log in with this host's initiator name (the storage must let this host in, as it
must zone an FC LUN to it). Every step registers its undo: a failed
preparation leaves nothing. Then the migration either ends (:meth:`IncomingOps.finish`: the
guest is this host's) or is abandoned (:meth:`IncomingOps.abandon`: all of it goes again).
A preparation whose process died is undone by recovery unless the guest runs here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zcompute._faults import fault_point
from zcompute.driver._boundary import map_os_errors
from zcompute.driver._context import ROOT_DISK, DriverContext
from zcompute.driver._guests import Guests, has_root_disk
from zcompute.driver._recovery import Recovery
from zcompute.driver._scratch import create_scratch_disks
from zcompute.driver._secrets import NewSecret, define_secrets, remove_secrets
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import connect_fc
from zcompute.errors import Conflict, InvalidInput, NotFound
from zcompute.model import (
    BlockDeviceSpec,
    Image,
    Instance,
    InstanceState,
    NetworkDiskSource,
    NICSpec,
    Task,
)
from zcompute.plan import CONFIG_DRIVE, CONSOLE_LOG, MANAGED_BY_KEY, boots_from_volume
from zcompute.state import decode_image, decode_instance, encode_image, encode_instance
from zcompute.volumes import VolumeSecrets, iscsi_initiator_name

__all__ = [
    "Arrival",
    "IncomingOps",
    "Prepared",
    "arrival_from_json",
    "arrival_to_json",
    "volume_secrets",
]

_IFNAME_MAX = 15  # characters of a network device's name (Linux's IFNAMSIZ, less its NUL)
#: The files of an instance folder a source sends along (the disks are copied by QEMU).
SENT_FILES = (CONFIG_DRIVE, CONSOLE_LOG)


@dataclasses.dataclass(frozen=True)
class Arrival:
    """What the destination needs of a migrating guest: its record as the source has it,
    the kernel-boot image its disk image boots with (if any), its folder's small files and
    the recorded connections of its FC volumes (by target)."""

    instance: Instance
    boot_image: Image | None = None
    files: Mapping[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    connections: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Where a migrating guest is on the destination: its folder, the folder here of each of
    its images' folders on the source, and the tap devices whose names it changes here (the
    source's domain XML is rewritten with them)."""

    folder: Path
    image_moves: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tap_moves: Mapping[str, str] = dataclasses.field(default_factory=dict)


def image_moves(pairs: Iterable[tuple[Image | None, Image | None]]) -> dict[str, str]:
    """The folder here of each folder the source's images keep their files in."""
    moves = {}
    for theirs, ours in pairs:
        if theirs is None or ours is None:
            continue
        for there, here in (
            (theirs.path, ours.path),
            (theirs.kernel_path, ours.kernel_path),
            (theirs.initrd_path, ours.initrd_path),
        ):
            if there is not None and here is not None:
                moves[str(Path(there).parent)] = str(Path(here).parent)
    return moves


def other_tap_name(name: str) -> str:
    """The name a tap takes on a host that sees its source's tap (see
    :meth:`IncomingOps._nics_here`): a trailing ``_`` added, or taken away going back."""
    if name.endswith("_"):
        return name[:-1]
    return name + "_" if len(name) < _IFNAME_MAX else name[:-1] + "_"


def arrival_to_json(arrival: Arrival) -> str:
    """``arrival`` as text another host's zcompute reads (:func:`arrival_from_json`)."""
    return json.dumps(
        {
            "instance": encode_instance(arrival.instance),
            "boot_image": None if arrival.boot_image is None else encode_image(arrival.boot_image),
            "files": {n: base64.b64encode(data).decode() for n, data in arrival.files.items()},
            "connections": {t: dict(c) for t, c in arrival.connections.items()},
        }
    )


def arrival_from_json(text: str) -> Arrival:
    """The arrival :func:`arrival_to_json` wrote; every record is checked again."""
    try:
        data = json.loads(text)
        files = {str(n): base64.b64decode(v, validate=True) for n, v in data["files"].items()}
        boot = data["boot_image"]
        return Arrival(
            decode_instance(data["instance"]),
            None if boot is None else decode_image(boot),
            {n: v for n, v in files.items() if n in SENT_FILES},
            {str(t): dict(c) for t, c in data["connections"].items()},
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        raise InvalidInput("arrival", f"not a migrating guest's description: {err}") from None


@map_os_errors  # as the driver's own methods did (see :mod:`._boundary`)
class IncomingOps:
    """The destination's migration steps for :class:`~zcompute.driver.ComputeDriver`."""

    def __init__(self, ctx: DriverContext, guests: Guests, recovery: Recovery) -> None:
        self._ctx = ctx
        self._guests = guests
        self._recovery = recovery

    def prepare(
        self,
        arrival: Arrival,
        *,
        managed_by: str | None = None,
        secrets: Mapping[str, VolumeSecrets] | None = None,
    ) -> Prepared:
        """Make the guest ready to arrive (see the module docs); returns where it is here.
        ``managed_by``: the manager it belongs to here (Nova's ``nova:<host>``);
        ``secrets``: the secrets of its network volumes, by target (every volume with a
        CHAP login or LUKS encryption needs them)."""
        ctx, inst = self._ctx, arrival.instance
        with ctx.locks.hold(inst.name, inst.uuid), UndoStack(guard=ctx.hv.when_back) as undo:
            self._refuse_taken(inst)
            wanted = volume_secrets(inst, secrets or {})  # checked before anything changes
            ctx.reserve.require_room(f"receiving {inst.name}")
            boot = None if arrival.boot_image is None else ctx.images.adopt(arrival.boot_image)
            image = ctx.images.adopt(inst.image)
            moves = image_moves(((arrival.boot_image, boot), (inst.image, image)))
            nics, taps = self._nics_here(inst)
            metadata = dict(inst.metadata)
            if managed_by is not None:
                metadata[MANAGED_BY_KEY] = managed_by
            here = dataclasses.replace(
                inst,
                image=image,
                metadata=metadata,
                task=Task.INCOMING,
                rescue=None,
                block_devices=self._logged_in_here(inst.block_devices),
                nics=nics,
            )
            ctx.db.add_instance(here)
            undo.push(
                "delete the instance record",
                lambda: ctx.db.delete_instance(inst.uuid, missing_ok=True),
            )
            fault_point("incoming.recorded")
            if wanted:  # once the record names them, as attach defines them
                undo.push(
                    "remove the volumes' secrets",
                    lambda: remove_secrets(ctx, [s.uuid for s in wanted]),
                )
                define_secrets(ctx, inst.uuid, wanted)
            folder = ctx.instances_dir / inst.uuid
            folder.mkdir(mode=0o700)
            undo.push("remove the instance directory", lambda: shutil.rmtree(folder))
            self._make_disks(here, folder)
            for name, data in arrival.files.items():
                if name in SENT_FILES:
                    (folder / name).write_bytes(data)
            self._guests.prepare_guest_files(folder, self._guests.replan(here))
            self._connect(here, arrival.connections, undo)
            for nic in here.nics:
                if nic.tap is not None:
                    undo.push(
                        f"remove tap {nic.tap}",
                        functools.partial(ctx.taps.remove, inst.uuid, nic.tap),
                    )
                    ctx.taps.create(inst.uuid, nic.tap, nic.mtu)
            fault_point("incoming.ready")
            undo.forget()
        return Prepared(folder, moves, taps)

    def _refuse_taken(self, inst: Instance) -> None:
        try:
            self._ctx.db.get_instance(inst.uuid)
        except NotFound:
            pass
        else:
            raise Conflict(f"instance {inst.uuid} is recorded on this host already")
        if self._ctx.domains.exists(inst.uuid):
            raise Conflict(f"this host's libvirt has a domain with uuid {inst.uuid} already")
        if (self._ctx.instances_dir / inst.uuid).exists():
            raise Conflict(f"{self._ctx.instances_dir / inst.uuid} exists on this host already")

    def _logged_in_here(self, devices: tuple[BlockDeviceSpec, ...]) -> tuple[BlockDeviceSpec, ...]:
        """The guest's volumes with this host's iSCSI initiator name for their logins."""
        own = self.initiator_name()
        return tuple(
            dataclasses.replace(spec, source=dataclasses.replace(spec.source, initiator=own))
            if isinstance(spec.source, NetworkDiskSource) and spec.source.initiator is not None
            else spec
            for spec in devices
        )

    def _nics_here(self, inst: Instance) -> tuple[tuple[NICSpec, ...], dict[str, str]]:
        """The guest's NICs here, and the taps renamed: a tap this host has already for the
        same guest, of another data directory, is its source's (two hosts sharing one network
        namespace, as on a test machine): both QEMUs hold a tap while the guest moves, so
        the guest takes the other name of :func:`other_tap_name` here."""
        nics, moves = [], {}
        for nic in inst.nics:
            alias = None if nic.tap is None else self._ctx.taps.alias(nic.tap)
            theirs = alias is not None and alias.startswith(f"zcompute:{inst.uuid}:")
            if nic.tap is not None and theirs and alias != self._ctx.taps.mark(inst.uuid):
                moves[nic.tap] = other_tap_name(nic.tap)
                nic = dataclasses.replace(nic, tap=moves[nic.tap])
            nics.append(nic)
        return tuple(nics), moves

    def initiator_name(self) -> str:
        """This host's iSCSI initiator name, the one its guests' volumes log in with."""
        return iscsi_initiator_name(self._ctx.config.data_dir)

    def _make_disks(self, inst: Instance, folder: Path) -> None:
        """Its own disks as its spawn made them: their sizes are the source's (a live
        migration mirrors onto disks of the same size)."""
        images = self._ctx.images
        if has_root_disk(inst.image, inst.flavor, boots_from_volume(inst.block_devices)):
            root = folder / ROOT_DISK
            if inst.image.path is not None:
                images.create_overlay(inst.image, root, inst.flavor.root_gib)
            else:
                images.create_blank(root, inst.flavor.root_gib)
        create_scratch_disks(folder, inst.flavor)

    def _connect(
        self, inst: Instance, connections: Mapping[str, Mapping[str, Any]], undo: UndoStack
    ) -> None:
        """Its FC volumes, connected on this host (their LUNs must be zoned to it)."""
        for target, record in connections.items():
            prepared = connect_fc(
                self._ctx,
                record["connection_info"],
                undo,
                root=Path(record.get("root", "/")),
                connector_options=record.get("options"),
            )
            assert prepared.connection is not None
            self._ctx.db.set_volume_connection(inst.uuid, target, dict(prepared.connection))

    def finish(self, uuid: str, state: InstanceState) -> Instance:
        """The guest is this host's now: its task ends, its state is recorded."""
        inst = self._ctx.db.get_instance(uuid)
        with self._ctx.locks.hold(inst.name, inst.uuid):
            return self._ctx.db.end_task(inst.uuid, state)

    def abandon(self, uuid: str) -> bool:
        """The migration did not happen: everything :meth:`prepare` made goes (and a domain
        libvirt left here). False when nothing was prepared."""
        try:
            inst = self._ctx.db.get_instance(uuid)
        except NotFound:
            return False
        with self._ctx.locks.hold(inst.name, inst.uuid):
            self._recovery.remove_guest(inst)
        return True


def volume_secrets(inst: Instance, given: Mapping[str, VolumeSecrets]) -> list[NewSecret]:
    """The libvirt secrets the guest's network volumes name, with the values ``given`` (by
    target); a missing value or a target the guest lacks is an error that names it."""
    targets = [spec.target for spec in inst.block_devices]
    unknown = sorted(set(given) - set(targets))
    if unknown:
        raise InvalidInput("secrets", f"{inst.name} has no volume {', '.join(unknown)}", targets)
    wanted = []
    for spec in inst.block_devices:
        values = given.get(spec.target, VolumeSecrets())
        volume = spec.serial or spec.target
        if isinstance(spec.source, NetworkDiskSource) and spec.source.auth_secret is not None:
            if values.chap_password is None:
                raise InvalidInput(
                    f"secrets.{spec.target}.chap_password",
                    f"volume {spec.target} of {inst.name} logs in with CHAP: its password "
                    "is needed on the destination",
                    "the CHAP password it was attached with",
                )
            purpose = f"CHAP password of volume {volume}"
            wanted.append(
                NewSecret(spec.source.auth_secret, "iscsi", purpose, values.chap_password)
            )
        if spec.encryption_secret is not None:
            if values.encryption is None:
                raise InvalidInput(
                    f"secrets.{spec.target}.encryption",
                    f"volume {spec.target} of {inst.name} is LUKS-encrypted: its passphrase "
                    "is needed on the destination",
                    "the passphrase it was attached with",
                )
            purpose = f"LUKS passphrase of volume {volume}"
            passphrase = values.encryption.passphrase
            wanted.append(NewSecret(spec.encryption_secret, "volume", purpose, passphrase))
    return wanted
