"""``zcompute volume attach|detach|extend|swap|list``: disks added to (and removed from)
running guests, grown, and moved onto other volumes under them.

A local volume is a file or block device (``--file``). A Fibre Channel volume is named the way
an operator on IBM Z knows it, ``--fc DEVNO:WWPN:LUN`` (FCP device, target port, LUN), once per
path; the CLI turns that into the Cinder-style ``connection_info`` the driver's FC connector
takes, zoning each target port to the initiator (the FCP device's WWPN) given with it.
An iSCSI volume is ``--iscsi PORTAL --iqn IQN --lun N``: QEMU logs in to the target itself,
with CHAP when ``--chap-user`` is given; the password is read from a file or stdin, never
taken on the command line (where ``ps`` would show it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import (
    block_device_dict,
    json_option,
    open_driver,
    print_json,
    print_table,
    stderr_console,
)
from zcompute.errors import InvalidInput
from zcompute.model import DISK_BUSES, DISK_FORMATS
from zcompute.volumes import (
    HostFs,
    VolumeEncryption,
    discover_fc_hbas,
    normalize_wwpn,
    validate_ccw_bus_id,
    validate_target_lun,
)

__all__ = [
    "FcPath",
    "fc_connection_info",
    "iscsi_connection_info",
    "parse_fc_path",
    "read_secret",
    "volume_group",
]


@cli.group("volume")
def volume_group() -> None:
    """Volumes: files, block devices, FC and iSCSI LUNs attached to guests."""


@dataclasses.dataclass(frozen=True)
class FcPath:
    """One ``--fc`` path: FCP device (CCW bus-ID), target port WWPN, LUN."""

    devno: str
    wwpn: str
    lun: int


def parse_fc_path(text: str) -> FcPath:
    """``0.0.8000:0x500507680b21ac13:1`` -> FcPath; bad parts raise InvalidInput naming them."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInput("--fc", f"{text!r} is not DEVNO:WWPN:LUN", "e.g. 0.0.8000:0x5005...:1")
    devno, wwpn, lun = parts
    lun_value: object = int(lun, 0) if _is_number(lun) else lun
    return FcPath(
        validate_ccw_bus_id(devno, "--fc DEVNO"),
        normalize_wwpn(wwpn, "--fc WWPN"),
        validate_target_lun(lun_value, "--fc LUN"),
    )


def _is_number(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def fc_connection_info(
    paths: Sequence[FcPath], volume_id: str, fs: HostFs | None = None
) -> dict[str, Any]:
    """The ``connection_info`` for FC ``paths``: each FCP device becomes its initiator WWPN.

    ``fs`` is the host's sysfs (``/`` unless a test passes a tree). An FCP device that is not
    an FC host adapter here is an error listing the ones that are.
    """
    hbas, _problems = discover_fc_hbas(fs or HostFs("/"))
    by_devno = {_adapter_of(hba.device_path): hba.port_name for hba in hbas}
    zoning: dict[str, list[str]] = {}
    for path in paths:
        initiator = by_devno.get(path.devno)
        if initiator is None:
            known = sorted(p for p in by_devno if p is not None)
            raise InvalidInput(
                "--fc DEVNO", f"{path.devno} is not an FCP device of this host", known or "none"
            )
        zoning.setdefault(initiator, []).append(path.wwpn)
    return {
        "driver_volume_type": "fibre_channel",
        "serial": volume_id,
        "data": {
            "volume_id": volume_id,
            "target_wwn": [p.wwpn for p in paths],
            "target_luns": [p.lun for p in paths],
            "initiator_target_map": zoning,
        },
    }


def _adapter_of(device_path: str) -> str | None:
    """The bus-ID of the adapter an FC host hangs off: the path component before ``hostN``.

    ``/sys/devices/css0/0.0.0106/0.0.8000/host0/fc_host/host0`` -> ``0.0.8000``.
    """
    parts = Path(device_path).parts
    for index, part in enumerate(parts[1:], start=1):
        if re.fullmatch(r"host\d+", part):
            return parts[index - 1]
    return None


def read_secret(path: str, option: str) -> str:
    """A password or passphrase from a file (``-``: stdin), its trailing newline dropped."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise InvalidInput(option, f"cannot read {path}: {err.strerror or err}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise InvalidInput(option, f"{path} holds no secret", "a file with the secret")
    return value


def iscsi_connection_info(
    portal: str,
    iqn: str,
    lun: int,
    volume_id: str | None,
    chap: tuple[str, str] | None = None,
    readonly: bool = False,
) -> dict[str, Any]:
    """The Cinder-style ``connection_info`` of one iSCSI LUN (checked by the driver)."""
    data: dict[str, Any] = {
        "target_portal": portal,
        "target_iqn": iqn,
        "target_lun": lun,
        # an IQN has ':' that a disk serial may not: a stable id derived from it instead
        "volume_id": volume_id or f"iscsi-{hashlib.sha256(iqn.encode()).hexdigest()[:8]}-{lun}",
        "access_mode": "ro" if readonly else "rw",
    }
    if chap is not None:
        data |= {"auth_method": "CHAP", "auth_username": chap[0], "auth_password": chap[1]}
    return {"driver_volume_type": "iscsi", "serial": data["volume_id"], "data": data}


def _iscsi_options(portal_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options naming an iSCSI LUN and its CHAP login (attach and swap take them)."""
    options = [
        click.option("--iscsi", "portal", metavar="HOST:PORT", help=portal_help),
        click.option("--iqn", help="The iSCSI target's name (with --iscsi)."),
        click.option(
            "--lun", type=click.IntRange(0, 16383), help="The LUN behind it (with --iscsi)."
        ),
        click.option("--chap-user", help="CHAP user name for the iSCSI login."),
        click.option(
            "--chap-password-file",
            metavar="FILE",
            help="File holding the CHAP password ('-': read stdin); never give it on the "
            "command line.",
        ),
    ]

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):  # listed in --help as written here
            command = option(command)
        return command

    return apply


def _connected_volume_options(
    *, fc_help: str, portal_help: str, luks_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options naming a volume zcompute connects: FC paths, an iSCSI LUN with its CHAP
    login, a LUKS passphrase (attach and swap take them, each with its own help)."""
    fc = click.option("--fc", "fc_paths", multiple=True, metavar="DEVNO:WWPN:LUN", help=fc_help)
    luks = click.option("--luks-passphrase-file", metavar="FILE", help=luks_help)

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        return fc(_iscsi_options(portal_help)(luks(command)))  # listed in --help in this order

    return apply


@volume_group.command("attach")
@click.argument("name")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False),
    help="A disk image file or block device on this host.",
)
@_connected_volume_options(
    fc_help="A Fibre Channel path: FCP device, target WWPN, LUN (repeat for multipath).",
    portal_help="An iSCSI target portal.",
    luks_help="The iSCSI volume is LUKS: QEMU opens it with the passphrase in FILE ('-': stdin).",
)
@click.option(
    "--shareable", is_flag=True, help="Other guests may attach it too (multiattach; no host cache)."
)
@click.option("--target", help="Guest device name (vdb, sdc, ...); default: the next free one.")
@click.option(
    "--bus", type=click.Choice(DISK_BUSES), help="Disk bus; default: the image's or the arch's."
)
@click.option("--readonly", is_flag=True, help="Attach read-only.")
@click.option(
    "--format",
    "disk_format",
    type=click.Choice(DISK_FORMATS),
    help="The file's format; default: decided once by the format inspector and recorded.",
)
@click.option("--serial", help="Disk serial the guest sees (FC: the volume id).")
@pass_app
def volume_attach(
    app: AppContext,
    name: str,
    file: str | None,
    fc_paths: tuple[str, ...],
    portal: str | None,
    iqn: str | None,
    lun: int | None,
    chap_user: str | None,
    chap_password_file: str | None,
    luks_passphrase_file: str | None,
    shareable: bool,
    target: str | None,
    bus: str | None,
    readonly: bool,
    serial: str | None,
    disk_format: str | None,
) -> None:
    """Attach a volume to guest NAME (running: hot-plugged, and kept in its definition).

    A file must live in one of the volume directories ('host show' names them); a block
    device must not be mounted, used as swap or held by another device.
    """
    if sum((file is not None, bool(fc_paths), portal is not None)) != 1:
        raise click.UsageError(
            "give one of --file PATH, --fc DEVNO:WWPN:LUN or --iscsi PORTAL --iqn IQN --lun N"
        )
    paths = [parse_fc_path(p) for p in fc_paths]
    iscsi = None
    if portal is not None:
        iscsi = _iscsi_request(
            portal, iqn, lun, chap_user, chap_password_file, luks_passphrase_file, serial, readonly
        )
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
        with stderr_console().status(f"attaching a volume to {name} ..."):
            if iscsi is not None:
                info, encryption = iscsi
                spec = driver.attach_volume_connection(
                    inst.uuid,
                    info,
                    target=target,
                    bus=bus,
                    shareable=shareable,
                    encryption=encryption,
                )
            elif file is not None:
                spec = driver.attach_volume(
                    inst.uuid,
                    Path(os.path.abspath(file)),
                    target=target,
                    bus=bus,
                    readonly=readonly,
                    serial=serial,
                    disk_format=disk_format,
                )
            else:
                volume_id = serial or f"{paths[0].wwpn}-{paths[0].lun}"
                # The driver connects the LUN, attaches it and records the connection, so
                # that detach and delete disconnect it on the host again.
                spec = driver.attach_fc_volume(
                    inst.uuid, fc_connection_info(paths, volume_id), target=target
                )
    click.echo(f"attached {spec.source} to {name} as {spec.target}")


def _iscsi_request(
    portal: str,
    iqn: str | None,
    lun: int | None,
    chap_user: str | None,
    chap_password_file: str | None,
    luks_passphrase_file: str | None,
    serial: str | None,
    readonly: bool,
) -> tuple[dict[str, Any], VolumeEncryption | None]:
    if iqn is None or lun is None:
        raise click.UsageError("--iscsi needs --iqn IQN and --lun N")
    if (chap_user is None) != (chap_password_file is None):
        raise click.UsageError("CHAP needs both --chap-user and --chap-password-file")
    chap = None
    if chap_user is not None and chap_password_file is not None:
        chap = (chap_user, read_secret(chap_password_file, "--chap-password-file"))
    encryption = None
    if luks_passphrase_file is not None:
        passphrase = read_secret(luks_passphrase_file, "--luks-passphrase-file")
        encryption = VolumeEncryption(passphrase.encode())
    info = iscsi_connection_info(portal, iqn, lun, serial, chap, readonly)
    if encryption is not None:
        info["data"]["encrypted"] = True
    return info, encryption


@volume_group.command("detach")
@click.argument("name")
@click.argument("target")
@pass_app
def volume_detach(app: AppContext, name: str, target: str) -> None:
    """Detach the volume TARGET (e.g. vdb) from guest NAME."""
    with (
        open_driver(app) as driver,
        stderr_console().status(f"detaching {target} from {name} ..."),
    ):
        driver.detach_volume(name, target)
    click.echo(f"detached {target} from {name}")


@volume_group.command("extend")
@click.argument("name")
@click.argument("target")
@pass_app
def volume_extend(app: AppContext, name: str, target: str) -> None:
    """Tell guest NAME that its volume TARGET (e.g. vdb) grew.

    Grow the storage first (the file, the block device); the new size is read from it and
    the running guest sees its disk grow (a stopped one at its next boot). Only raw volumes;
    shrinking is refused.
    """
    with open_driver(app) as driver, stderr_console().status(f"extending {target} ..."):
        spec = driver.extend_volume(name, target)
    click.echo(f"{target} of {name} is {spec.size_bytes} bytes")


@volume_group.command("swap")
@click.argument("name")
@click.argument("target")
@click.argument("new_volume", required=False, type=click.Path(exists=True, dir_okay=False))
@_connected_volume_options(
    fc_help="The new volume is this Fibre Channel LUN (repeat for multipath); it is connected.",
    portal_help="The new volume's iSCSI portal.",
    luks_help="The new iSCSI volume is LUKS: QEMU opens it with the passphrase in FILE "
    "('-': stdin).",
)
@click.option("--serial", help="The new volume's id, the disk serial of its record (FC, iSCSI).")
@pass_app
def volume_swap(
    app: AppContext,
    name: str,
    target: str,
    new_volume: str | None,
    fc_paths: tuple[str, ...],
    portal: str | None,
    iqn: str | None,
    lun: int | None,
    chap_user: str | None,
    chap_password_file: str | None,
    luks_passphrase_file: str | None,
    serial: str | None,
) -> None:
    """Move volume TARGET of running guest NAME onto another volume, under the running guest.

    The new volume is a file or block device (NEW_VOLUME), an FC LUN the host connects
    (--fc) or an iSCSI LUN QEMU logs in to (--iscsi). QEMU copies the disk onto it
    (overwriting what it holds) and switches the guest over; the guest keeps its device and
    data, and writes to the new volume from then on. The old volume is left as it was at the
    switch-over (an FC LUN is disconnected, iSCSI secrets removed). The new volume must have
    the disk's size (a file: live in a volume directory). An interrupted swap is undone (the
    guest keeps the old volume) or finished by the next command.
    """
    if sum((new_volume is not None, bool(fc_paths), portal is not None)) != 1:
        raise click.UsageError(
            "give one of NEW_VOLUME, --fc DEVNO:WWPN:LUN or --iscsi PORTAL --iqn IQN --lun N"
        )
    paths = [parse_fc_path(p) for p in fc_paths]
    with open_driver(app) as driver, stderr_console().status(f"swapping {target} ..."):
        if portal is not None:
            info, encryption = _iscsi_request(
                portal, iqn, lun, chap_user, chap_password_file, luks_passphrase_file, serial,
                False,
            )  # fmt: skip
            spec = driver.swap_volume_connection(name, target, info, encryption=encryption)
        elif paths:
            volume_id = serial or f"{paths[0].wwpn}-{paths[0].lun}"
            spec = driver.swap_volume_connection(name, target, fc_connection_info(paths, volume_id))
        else:
            assert new_volume is not None
            spec = driver.swap_volume(name, target, Path(os.path.abspath(new_volume)))
    click.echo(f"{target} of {name} now uses {spec.source}")


@volume_group.command("list")
@click.argument("name", required=False)
@json_option
@pass_app
def volume_list(app: AppContext, name: str | None, as_json: bool) -> None:
    """List the volumes attached to guest NAME, or to every guest."""
    with open_driver(app) as driver:
        if name is not None:
            instances = [driver.get_instance(name)]
        else:
            instances = [driver.get_instance(i.uuid) for i in driver.list_instances()]
    rows = [(inst, bd) for inst in instances for bd in inst.block_devices]
    if as_json:
        print_json([{"instance": inst.name, **block_device_dict(bd)} for inst, bd in rows])
        return
    print_table(
        "Volumes",
        ("instance", "target", "source", "bus", "device", "readonly", "serial"),
        (
            (inst.name, bd.target, bd.source, bd.bus, bd.device, bd.readonly, bd.serial or "-")
            for inst, bd in rows
        ),
    )
