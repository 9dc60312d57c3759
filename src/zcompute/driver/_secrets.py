"""The libvirt secrets of an instance's network volumes: made by attach, gone with the disk.

A secret's usage id names the data directory (a hash of its instances folder) and the instance
that own it, and the secret itself: ``zcompute:<dir>:<instance uuid>:<secret uuid>`` for CHAP
(libvirt's iSCSI usage takes no ``/``), ``/zcompute/<dir>/<instance uuid>/<secret uuid>`` for
a LUKS passphrase (the volume usage takes a path). So secrets of other data directories on
the same libvirtd are never touched, and each usage id is unique.
Which of an instance's secrets are in use is a function of its record: each recorded network
volume names its CHAP and LUKS secrets. Detach removes a volume's secrets, destroy all of the
instance's; recovery and repair remove those no record names (an attach cut short after
defining them, a detach cut short before removing them).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from zcompute.driver._context import DriverContext
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, NetworkDiskSource, validate_uuid
from zcompute.virt import SecretInfo, SecretUsage

__all__ = [
    "NewSecret",
    "define_secrets",
    "owned_secrets",
    "remove_instance_secrets",
    "remove_secrets",
    "remove_unrecorded_secrets",
    "remove_unused_secrets",
    "secrets_of_volume",
]

LOG = logging.getLogger("zcompute.driver")
_USAGES = ("iscsi", "volume")


@dataclass(frozen=True)
class NewSecret:
    """A secret attach defines: its UUID, usage, what it is (for the description), value."""

    uuid: str
    usage: SecretUsage
    purpose: str
    value: bytes = field(repr=False)


def define_secrets(ctx: DriverContext, instance_uuid: str, secrets: Iterable[NewSecret]) -> None:
    for secret in secrets:
        parts = ("zcompute", _directory_tag(ctx), instance_uuid, secret.uuid)
        usage_id = ":".join(parts) if secret.usage == "iscsi" else "/" + "/".join(parts)
        description = (
            f"zcompute: {secret.purpose} of instance {instance_uuid} ({ctx.instances_dir})"
        )
        ctx.secrets.define(secret.uuid, secret.usage, usage_id, description, secret.value)


def secrets_of_volume(spec: BlockDeviceSpec) -> list[str]:
    """The UUIDs of the secrets a recorded volume uses."""
    found = [spec.encryption_secret]
    if isinstance(spec.source, NetworkDiskSource):
        found.append(spec.source.auth_secret)
    return [uuid for uuid in found if uuid is not None]


def remove_secrets(ctx: DriverContext, uuids: Iterable[str]) -> None:
    for uuid in uuids:
        if ctx.secrets.undefine(uuid):
            LOG.info("libvirt secret %s removed", uuid)


def remove_unused_secrets(ctx: DriverContext, instance_uuid: str) -> list[str]:
    """Remove the instance's secrets that no recorded volume names; says what went."""
    inst = ctx.db.get_instance(instance_uuid)
    used = {uuid for spec in inst.block_devices for uuid in secrets_of_volume(spec)}
    unused = [s.uuid for s in owned_secrets(ctx).get(instance_uuid, []) if s.uuid not in used]
    remove_secrets(ctx, unused)
    return [f"libvirt secret {uuid} of no volume removed" for uuid in unused]


def remove_instance_secrets(ctx: DriverContext, instance_uuid: str) -> None:
    """Remove every secret of an instance whose guest is gone."""
    remove_secrets(ctx, [s.uuid for s in owned_secrets(ctx).get(instance_uuid, [])])


def remove_unrecorded_secrets(ctx: DriverContext, known: Collection[str]) -> list[str]:
    """Remove this data directory's secrets of instances without a record."""
    done = []
    for owner, secrets in sorted(owned_secrets(ctx).items()):
        if owner not in known:
            remove_secrets(ctx, [s.uuid for s in secrets])
            done += [
                f"libvirt secret {s.uuid} of instance {owner}, which has no record, removed"
                for s in secrets
            ]
    return done


def owned_secrets(ctx: DriverContext) -> dict[str, list[SecretInfo]]:
    """This data directory's secrets, by the instance they belong to."""
    tag = _directory_tag(ctx)
    owned: dict[str, list[SecretInfo]] = {}
    for info in ctx.secrets.list():
        parts = info.usage_id.lstrip("/").replace("/", ":").split(":")
        if info.usage_type not in _USAGES or parts[:2] != ["zcompute", tag] or len(parts) != 4:
            continue
        with contextlib.suppress(InvalidInput):
            owned.setdefault(validate_uuid(parts[2]), []).append(info)
    return owned


def _directory_tag(ctx: DriverContext) -> str:
    """Short and stable for a data directory: its secrets' usage ids carry it."""
    return hashlib.sha256(str(ctx.instances_dir).encode()).hexdigest()[:12]
