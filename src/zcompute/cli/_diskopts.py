"""The disks ``boot`` is given: ``--volume`` files and devices, and a ``--root-volume``.

``--volume PATH[,target=vdX,...]`` adds a local file or block device. ``--root-volume`` is the
volume the guest boots from instead of a local root disk: ``iscsi://HOST:PORT/IQN/LUN``
(QEMU logs in itself, with CHAP when ``--root-chap-user`` is given) or
``fc:DEVNO:WWPN:LUN`` (an FC LUN the host connects, on IBM Z through zfcp).
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

import click

from zcompute.cli._volumes import (
    fc_connection_info,
    iscsi_connection_info,
    parse_fc_path,
    read_secret,
)
from zcompute.errors import InvalidInput
from zcompute.images import file_kind
from zcompute.model import BlockDeviceSpec
from zcompute.volumes import VolumeConnection

__all__ = ["ROOT_VOLUME_FORMS", "VolumeOption", "parse_volume", "root_volume", "volume_specs"]

_VOLUME_KEYS = ("target", "bus", "serial", "readonly", "device", "format")
_BOOL_WORDS = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}
#: What ``--root-volume`` accepts.
ROOT_VOLUME_FORMS = ("iscsi://HOST:PORT/IQN/LUN", "fc:DEVNO:WWPN:LUN")
_ISCSI_URL = re.compile(
    r"iscsi://(?P<portal>\[[^]]+\](:\d+)?|[^/\[\]]+)/(?P<iqn>[^/]+)/(?P<lun>\d+)"
)


def root_volume(
    text: str, chap_user: str | None, chap_password_file: str | None
) -> VolumeConnection:
    """The ``--root-volume`` (see the module docs) as a volume connection."""
    if (chap_user is None) != (chap_password_file is None):
        raise click.UsageError("CHAP needs both --root-chap-user and --root-chap-password-file")
    if text.startswith("fc:"):
        if chap_user is not None:
            raise click.UsageError("CHAP is for an iSCSI --root-volume")
        path = parse_fc_path(text.removeprefix("fc:"))
        volume_id = f"fc-{path.wwpn[-8:]}-{path.lun}"
        return VolumeConnection(fc_connection_info([path], volume_id))
    found = _ISCSI_URL.fullmatch(text)
    if found is None:
        raise InvalidInput("--root-volume", f"{text!r} is no volume", ROOT_VOLUME_FORMS)
    chap = None
    if chap_user is not None and chap_password_file is not None:
        chap = (chap_user, read_secret(chap_password_file, "--root-chap-password-file"))
    portal, iqn, lun = found["portal"], found["iqn"], int(found["lun"])
    return VolumeConnection(iscsi_connection_info(portal, iqn, lun, None, chap))


def volume_specs(specs: Sequence[str]) -> list[BlockDeviceSpec]:
    """The ``--volume`` disks; those without ``target=`` get the next free ``vdX`` after vda."""
    parsed = [parse_volume(spec) for spec in specs]
    taken = {"vda"} | {v.target for v in parsed if v.target}
    free = (t for t in _virtio_targets() if t not in taken)
    out = []
    for volume in parsed:
        target = volume.target
        if target is None:
            if volume.bus != "virtio":
                raise click.BadParameter(
                    f"{volume.source}: give target= for a disk on bus {volume.bus}",
                    param_hint="--volume",
                )
            target = next(free)
        out.append(
            BlockDeviceSpec(
                source=volume.source,
                target=target,
                bus=volume.bus,
                readonly=volume.readonly,
                serial=volume.serial,
                device=volume.device,
                format=volume.format,
            )
        )
    return out


def _virtio_targets() -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return [f"vd{a}" for a in letters] + [f"vd{a}{b}" for a in letters for b in letters]


@dataclasses.dataclass(frozen=True)
class VolumeOption:
    """One ``--volume`` as typed: the model checks the values when the spec is built."""

    source: Path
    target: str | None = None
    bus: str = "virtio"
    serial: str | None = None
    readonly: bool = False
    device: str = "disk"
    format: str | None = None


def parse_volume(spec: str) -> VolumeOption:
    """``/srv/d.img,target=vdc,readonly`` -> VolumeOption with an absolute, existing path.

    Syntax errors are usage errors naming ``--volume``.
    """
    path_text, *options = spec.split(",")
    if not path_text:
        raise click.BadParameter(f"{spec!r} names no file", param_hint="--volume")
    source = Path(os.path.abspath(path_text))
    if not source.exists():
        raise click.BadParameter(f"{path_text}: no such file or device", param_hint="--volume")
    mode = source.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):  # a FIFO, directory, /dev/null ...
        raise click.BadParameter(
            f"{path_text} is {file_kind(mode)}: give a file or block device", param_hint="--volume"
        )
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if key not in _VOLUME_KEYS:
            raise click.BadParameter(
                f"unknown option {key!r} (allowed: {', '.join(_VOLUME_KEYS)})",
                param_hint="--volume",
            )
        values[key] = value if sep else "on"
    readonly = values.pop("readonly", "off").lower()
    if readonly not in _BOOL_WORDS:
        raise click.BadParameter(f"readonly={readonly}: use on or off", param_hint="--volume")
    return VolumeOption(
        source=source,
        target=values.get("target"),
        bus=values.get("bus", "virtio"),
        serial=values.get("serial"),
        readonly=_BOOL_WORDS[readonly],
        device=values.get("device", "disk"),
        format=values.get("format"),
    )
