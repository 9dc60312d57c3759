"""Shared plumbing of the CLI's command modules: the driver handle, tables, JSON, options.

Nothing here decides anything about guests: it opens the driver the configuration names,
turns zcompute's model objects into table rows and JSON, and parses ``key=value`` options.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zcompute.cli._app import AppContext

if TYPE_CHECKING:
    from zcompute.driver import ComputeDriver, InstanceInfo
    from zcompute.model import BlockDeviceSpec, Flavor, Image, Instance, NICSpec, UnusableRecord

__all__ = [
    "block_device_dict",
    "compile_regex",
    "flavor_dict",
    "human_bytes",
    "image_dict",
    "instance_dict",
    "json_option",
    "key_values",
    "nic_dict",
    "nic_place",
    "open_driver",
    "print_json",
    "print_table",
    "print_unusable",
    "stderr_console",
    "stdout_console",
    "unusable_dict",
]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@contextlib.contextmanager
def open_driver(app: AppContext) -> Iterator[ComputeDriver]:
    """The compute driver for the effective configuration, closed afterwards.

    Imported here, not at module level, so that ``zcompute --help`` stays fast.
    """
    from zcompute.driver import ComputeDriver

    driver = ComputeDriver(app.config)
    try:
        _recover_leftovers(driver)
        yield driver
    finally:
        driver.close()


def _recover_leftovers(driver: ComputeDriver) -> None:
    """Finish or undo what an interrupted earlier command left (a killed boot, a half-made
    image), before this command looks at anything; say what was done."""
    from zcompute.errors import HypervisorUnavailable, ZcomputeError

    try:
        report = driver.recover_leftovers()
    except HypervisorUnavailable:
        raise
    except ZcomputeError as err:  # e.g. a full disk: this command may still read
        click.echo(f"zcompute: warning: could not recover interrupted operations: {err}", err=True)
        return
    for action in report.actions:
        click.echo(f"zcompute: recovered: {action}", err=True)


# -- consoles, tables and JSON -------------------------------------------------------------


def stdout_console() -> Console:
    """A rich console on the current stdout (looked up per call: tests swap sys.stdout).

    On a terminal, tables fit its width; into a pipe or file they get room enough that
    UUIDs and paths stay on one line for grep and awk.
    """
    width = 250
    if sys.stdout.isatty():
        width = max(shutil.get_terminal_size((120, 24)).columns, 80)
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    """A rich console on stderr, for progress bars and spinners that must not mix with output."""
    return Console(file=sys.stderr, highlight=False)


def print_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Print a table; every cell is plain text (paths and properties may hold rich markup)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    stdout_console().print(table)


def print_unusable(records: Sequence[UnusableRecord]) -> None:
    """After a list's table: the records of it that today's rules refuse, and why (if any)."""
    if not records:
        return
    kind = records[0].kind
    print_table(
        f"Unusable {kind}s (recorded under older rules: delete them, or create them anew)",
        ("name", "id", "problem") if kind == "image" else ("name", "problem"),
        ((r.name, r.id, r.reason) if kind == "image" else (r.name, r.reason) for r in records),
    )


def print_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'; binary units, as qemu-img prints them."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- model objects as plain data -----------------------------------------------------------


def image_dict(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "name": image.name,
        "arch": image.arch,
        "kind": "kernel" if image.is_kernel_boot else "disk",
        "disk_format": image.disk_format,
        "path": image.path,
        "kernel_path": image.kernel_path,
        "initrd_path": image.initrd_path,
        "cmdline": image.cmdline,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "sha256": image.sha256,
        "initrd_sha256": image.initrd_sha256,
        "properties": dict(image.properties),
        "created_at": image.created_at,
    }


def flavor_dict(flavor: Flavor) -> dict[str, Any]:
    return {
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "memory_mib": flavor.memory_mib,
        "root_gib": flavor.root_gib,
        "ephemeral_gib": flavor.ephemeral_gib,
        "swap_mib": flavor.swap_mib,
        "extra_specs": dict(flavor.extra_specs),
    }


def unusable_dict(record: UnusableRecord) -> dict[str, Any]:
    """A flavor or image today's rules refuse: what is wrong, and its columns as recorded."""
    identity = {"name": record.name} | ({"id": record.id} if record.kind == "image" else {})
    return identity | {"unusable": record.reason, "recorded": dict(record.recorded)}


def block_device_dict(device: BlockDeviceSpec) -> dict[str, Any]:
    return dataclasses.asdict(device) | {"source": str(device.source)}


def nic_dict(nic: NICSpec) -> dict[str, Any]:
    return dataclasses.asdict(nic)


def nic_place(nic: NICSpec) -> str:
    """Where a NIC is, for a table: ``network default``, ``tap tap3f2a9c1e-7b (mtu 1400)``."""
    if nic.network is not None:
        place = f"network {nic.network}"
    else:
        place = f"tap {nic.tap}" if nic.tap is not None else f"bridge {nic.bridge}"
    return place if nic.mtu is None else f"{place} (mtu {nic.mtu})"


def instance_dict(inst: Instance, info: InstanceInfo | None, console_log: Path) -> dict[str, Any]:
    """An instance as recorded, with libvirt's live view (``info``) when there is one."""
    live = None
    if info is not None:
        live = {
            "state": info.state,
            "max_memory_kib": info.max_memory_kib,
            "memory_kib": info.memory_kib,
            "vcpus": info.vcpus,
            "cpu_time_ns": info.cpu_time_ns,
        }
    return {
        "uuid": inst.uuid,
        "name": inst.name,
        "state": info.state if info is not None else inst.state,
        "recorded_state": inst.state,
        "task": inst.task,
        "arch": inst.arch,
        "machine_type": inst.machine_type,
        "domain_type": inst.domain_type,
        "flavor": flavor_dict(inst.flavor),
        "image": {"id": inst.image.id, "name": inst.image.name},
        "metadata": dict(inst.metadata),
        "block_devices": [block_device_dict(b) for b in inst.block_devices],
        "nics": [nic_dict(n) for n in inst.nics],
        "console_log": console_log,
        "serial_port": inst.serial_port,  # the TCP console's port (serial_tcp), if it has one
        # while rescued: the image it boots from (its root disk is its second disk)
        "rescue": None
        if inst.rescue is None
        else {"image": {"id": inst.rescue.image.id, "name": inst.rescue.image.name}},
        "created_at": inst.created_at,
        "updated_at": inst.updated_at,
        "live": live,
    }


# -- option parsing --------------------------------------------------------------------------


def key_values(option: str, items: Iterable[str]) -> dict[str, str]:
    """``("a=1", "b=x=y")`` -> ``{"a": "1", "b": "x=y"}``; a missing ``=`` is a usage error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key] = value
    return out


def compile_regex(option: str, text: str | None) -> re.Pattern[str] | None:
    """The regular expression given with ``option``; a bad one is a usage error."""
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as err:
        message = f"{text!r} is not a regular expression: {err}"
        raise click.BadParameter(message, param_hint=option) from err
