"""``zcompute volume attach|detach|extend|swap|list``: disks added to (and removed from)
running guests, grown, and moved onto other volumes under them.

A local volume is a file or block device (``--file``). A Fibre Channel volume is named the way
an operator on IBM Z knows it, ``--fc DEVNO:WWPN:LUN`` (FCP device, target port, LUN), once per
path; the CLI turns that into the Cinder-style ``connection_info`` the driver's FC connector
takes, zoning each target port to the initiator (the FCP device's WWPN) given with it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
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
    discover_fc_hbas,
    normalize_wwpn,
    validate_ccw_bus_id,
    validate_target_lun,
)

__all__ = ["FcPath", "fc_connection_info", "parse_fc_path", "volume_group"]


@cli.group("volume")
def volume_group() -> None:
    """Volumes: files, block devices and FC LUNs attached to guests."""


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


@volume_group.command("attach")
@click.argument("name")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False),
    help="A disk image file or block device on this host.",
)
@click.option(
    "--fc",
    "fc_paths",
    multiple=True,
    metavar="DEVNO:WWPN:LUN",
    help="A Fibre Channel path: FCP device, target WWPN, LUN (repeat for multipath).",
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
    if (file is None) == (not fc_paths):
        raise click.UsageError("give either --file PATH or --fc DEVNO:WWPN:LUN")
    paths = [parse_fc_path(p) for p in fc_paths]
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
        with stderr_console().status(f"attaching a volume to {name} ..."):
            if file is not None:
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
@click.argument("new_volume", type=click.Path(exists=True, dir_okay=False))
@pass_app
def volume_swap(app: AppContext, name: str, target: str, new_volume: str) -> None:
    """Move volume TARGET of running guest NAME onto NEW_VOLUME, under the running guest.

    QEMU copies the disk onto NEW_VOLUME (overwriting what it holds) and switches the guest
    over; the guest keeps its device and data, and writes to NEW_VOLUME from then on. The old
    volume is left as it was at the switch-over. NEW_VOLUME must have the disk's size and
    live in a volume directory. An interrupted swap is undone (the guest keeps the old volume)
    or finished by the next command.
    """
    with open_driver(app) as driver, stderr_console().status(f"swapping {target} ..."):
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
