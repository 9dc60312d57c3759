"""Conversion between database rows and :mod:`zcompute.model` objects.

Mappings are stored as JSON text, timestamps as ISO 8601 in UTC, paths as text. Decoding goes
through the model constructors, so a row edited by hand into nonsense is refused on read.

A flavor or image row that today's rules refuse (written by an older zcompute, or by hand)
decodes to an :class:`~zcompute.model.UnusableRecord` instead (:func:`flavor_or_unusable`,
:func:`image_or_unusable`): one such row never keeps the others from being listed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from zcompute.errors import InvalidInput
from zcompute.model import (
    BlockDeviceSpec,
    Flavor,
    Image,
    Instance,
    NetworkDiskSource,
    NICSpec,
    Rescue,
    UnusableRecord,
)

__all__ = [
    "NIC",
    "VOLUME",
    "attachment_row",
    "decode_attachment",
    "dump_json",
    "flavor_from_json",
    "flavor_from_row",
    "flavor_or_unusable",
    "flavor_to_json",
    "image_from_row",
    "image_or_unusable",
    "image_row",
    "instance_from_row",
    "instance_row",
    "timestamp",
]

VOLUME = "volume"
NIC = "nic"


def dump_json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def timestamp(value: datetime) -> str:
    return value.isoformat()


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def image_row(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "name": image.name,
        "arch": image.arch,
        "disk_format": image.disk_format,
        "path": _text(image.path),
        "kernel_path": _text(image.kernel_path),
        "initrd_path": _text(image.initrd_path),
        "cmdline": image.cmdline,
        "properties": dump_json(image.properties),
        "size": image.size,
        "virtual_size": image.virtual_size,
        "sha256": image.sha256,
        "initrd_sha256": image.initrd_sha256,
        "created_at": timestamp(image.created_at),
    }


def image_from_row(row: sqlite3.Row) -> Image:
    return Image(
        id=row["id"],
        name=row["name"],
        arch=row["arch"],
        disk_format=row["disk_format"],
        path=_path(row["path"]),
        kernel_path=_path(row["kernel_path"]),
        initrd_path=_path(row["initrd_path"]),
        cmdline=row["cmdline"],
        properties=json.loads(row["properties"]),
        size=row["size"],
        virtual_size=row["virtual_size"],
        sha256=row["sha256"],
        initrd_sha256=row["initrd_sha256"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def flavor_to_json(flavor: Flavor) -> str:
    return dump_json(
        {
            "name": flavor.name,
            "vcpus": flavor.vcpus,
            "memory_mib": flavor.memory_mib,
            "root_gib": flavor.root_gib,
            "extra_specs": dict(flavor.extra_specs),
            "ephemeral_gib": flavor.ephemeral_gib,
            "swap_mib": flavor.swap_mib,
        }
    )


@functools.lru_cache(maxsize=256)
def flavor_from_json(text: str) -> Flavor:
    # Cached: most instances share a handful of flavors, and Flavor is immutable. A flavor
    # recorded before ephemeral and swap disks existed lacks their keys: it had none (0).
    return Flavor(**json.loads(text))


def flavor_from_row(row: sqlite3.Row) -> Flavor:
    return Flavor(
        name=row["name"],
        vcpus=row["vcpus"],
        memory_mib=row["memory_mib"],
        root_gib=row["root_gib"],
        extra_specs=json.loads(row["extra_specs"]),
        ephemeral_gib=row["ephemeral_gib"],
        swap_mib=row["swap_mib"],
    )


_Record = TypeVar("_Record", Flavor, Image)


def _or_unusable(
    kind: Literal["flavor", "image"],
    key: str,
    row: sqlite3.Row,
    decode: Callable[[sqlite3.Row], _Record],
) -> _Record | UnusableRecord:
    try:
        return decode(row)
    except InvalidInput as err:
        problem = err
    except (ValueError, TypeError) as err:  # JSON or a timestamp that does not parse
        problem = InvalidInput(kind, f"the record cannot be read: {err}")
    return UnusableRecord(kind, str(row[key]), str(row["name"]), problem, dict(row))


def flavor_or_unusable(row: sqlite3.Row) -> Flavor | UnusableRecord:
    """The flavor of ``row``, or what today's rules refuse in it."""
    return _or_unusable("flavor", "name", row, flavor_from_row)


def image_or_unusable(row: sqlite3.Row) -> Image | UnusableRecord:
    """The image of ``row``, or what today's rules refuse in it."""
    return _or_unusable("image", "id", row, image_from_row)


def instance_row(instance: Instance) -> dict[str, Any]:
    return {
        "uuid": instance.uuid,
        "name": instance.name,
        "state": instance.state.value,
        "task": None if instance.task is None else instance.task.value,
        "arch": instance.arch,
        "machine_type": instance.machine_type,
        "domain_type": instance.domain_type,
        "image_id": instance.image.id,
        "flavor_name": instance.flavor.name,
        "flavor": flavor_to_json(instance.flavor),
        "metadata": dump_json(instance.metadata),
        "created_at": timestamp(instance.created_at),
        "updated_at": timestamp(instance.updated_at),
        "config_drive": instance.config_drive,
        "serial_port": instance.serial_port,
        **rescue_columns(instance.rescue),
    }


def rescue_columns(rescue: Rescue | None) -> dict[str, Any]:
    """The columns that record a rescue (all NULL: the instance is not rescued)."""
    if rescue is None:
        return {"rescue_image_id": None, "rescue_config_drive": None}
    return {"rescue_image_id": rescue.image.id, "rescue_config_drive": int(rescue.config_drive)}


def instance_from_row(
    row: sqlite3.Row,
    image: Image,
    attachments: Iterable[sqlite3.Row],
    rescue_image: Image | None = None,
) -> Instance:
    devices = [decode_attachment(a) for a in attachments]
    rescue = None
    if rescue_image is not None:
        rescue = Rescue(rescue_image, bool(row["rescue_config_drive"]))
    return Instance(
        uuid=row["uuid"],
        name=row["name"],
        flavor=flavor_from_json(row["flavor"]),
        image=image,
        arch=row["arch"],
        machine_type=row["machine_type"],
        domain_type=row["domain_type"],
        metadata=json.loads(row["metadata"]),
        state=row["state"],
        task=row["task"],
        block_devices=tuple(d for d in devices if isinstance(d, BlockDeviceSpec)),
        nics=tuple(d for d in devices if isinstance(d, NICSpec)),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        config_drive=row["config_drive"],
        serial_port=row["serial_port"],
        rescue=rescue,
    )


def attachment_row(device: BlockDeviceSpec | NICSpec) -> tuple[str, str, str]:
    """``(kind, target, source json)`` of a device; a NIC is identified by its MAC."""
    source: dict[str, Any]
    if isinstance(device, BlockDeviceSpec):
        source = {
            "source": _volume_source(device.source),
            "bus": device.bus,
            "readonly": device.readonly,
            "serial": device.serial,
            "device": device.device,
            "format": device.format,
            "tag": device.tag,
            "size_bytes": device.size_bytes,
            "shareable": device.shareable,
            "encryption_secret": device.encryption_secret,
            "boot": device.boot,
        }
        return VOLUME, device.target, dump_json(source)
    if device.mac is None:
        raise InvalidInput("nic.mac", "a NIC needs its MAC address before it is recorded")
    source = {
        "network": device.network,
        "bridge": device.bridge,
        "model": device.model,
        "tap": device.tap,
        "mtu": device.mtu,
        "tag": device.tag,
    }
    return NIC, device.mac, dump_json(source)


def decode_attachment(row: sqlite3.Row) -> BlockDeviceSpec | NICSpec:
    source = json.loads(row["source"])
    if row["kind"] == VOLUME:
        where = source["source"]
        return BlockDeviceSpec(
            # a mapping: a network volume (recorded as JSON keys; no schema change was needed)
            source=NetworkDiskSource(**where) if isinstance(where, dict) else Path(where),
            target=row["target"],
            bus=source["bus"],
            readonly=source["readonly"],
            serial=source["serial"],
            device=source["device"],
            # None: recorded before formats were; planned as raw, which reads no header
            format=source.get("format"),
            tag=source.get("tag"),  # absent: recorded before device tags were
            size_bytes=source.get("size_bytes"),  # None: recorded before extend and swap were
            # absent: recorded before network volumes were, when none was shared or encrypted
            shareable=source.get("shareable", False),
            encryption_secret=source.get("encryption_secret"),
            boot=source.get("boot", False),  # absent: recorded before boot from volume was
        )
    return NICSpec(
        network=source["network"],
        bridge=source["bridge"],
        mac=row["target"],
        model=source["model"],
        # None: recorded before taps and MTUs were (no migration: the keys are simply absent)
        tap=source.get("tap"),
        mtu=source.get("mtu"),
        tag=source.get("tag"),
    )


def _volume_source(source: Path | NetworkDiskSource) -> str | dict[str, Any]:
    if isinstance(source, NetworkDiskSource):
        return dataclasses.asdict(source)
    return str(source)


def encode_instance(instance: Instance) -> dict[str, Any]:
    """An instance with its image(s) and devices as one JSON-safe mapping (for another host's
    zcompute: a migration); :func:`decode_instance` checks everything again."""
    images = [image_row(instance.image)]
    if instance.rescue is not None:
        images.append(image_row(instance.rescue.image))
    attached: list[BlockDeviceSpec | NICSpec] = [*instance.block_devices, *instance.nics]
    devices = [attachment_row(d) for d in attached]
    return {
        "instance": instance_row(instance),
        "images": images,
        "devices": [{"kind": k, "target": t, "source": src} for k, t, src in devices],
    }


def decode_instance(data: Mapping[str, Any]) -> Instance:
    """The instance :func:`encode_instance` described; InvalidInput naming a bad field."""
    try:
        row = data["instance"]
        images = {i["id"]: image_from_row(i) for i in data["images"]}
        rescue = images.get(row["rescue_image_id"]) if row.get("rescue_image_id") else None
        return instance_from_row(row, images[row["image_id"]], data["devices"], rescue)
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInput("instance", f"an incomplete description: {err}") from None


def encode_image(image: Image) -> dict[str, Any]:
    """An image record as a JSON-safe mapping (:func:`decode_image` reads it back)."""
    return image_row(image)


def decode_image(data: Mapping[str, Any]) -> Image:
    try:
        return image_from_row(data)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInput("image", f"an incomplete description: {err}") from None
