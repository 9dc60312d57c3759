"""``zcompute flavor create|list|show|delete``: hardware templates.

The state database starts with built-in flavors (``tiny``, ``small``, ``medium``); operators
add their own and may delete any, as instances keep a copy of the flavor they were built with.
"""

from __future__ import annotations

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import (
    flavor_dict,
    json_option,
    key_values,
    open_driver,
    print_json,
    print_table,
    print_unusable,
    unusable_dict,
)
from zcompute.model import Flavor, UnusableRecord

__all__ = ["flavor_group"]


@cli.group("flavor")
def flavor_group() -> None:
    """Flavors: vCPUs, memory, root disk size and ephemeral and swap disks of a guest."""


@flavor_group.command("create")
@click.argument("name")
@click.option("--vcpus", type=int, required=True, help="Number of virtual CPUs.")
@click.option("--memory", "memory_mib", type=int, required=True, help="Memory in MiB.")
@click.option(
    "--disk",
    "root_gib",
    type=int,
    default=0,
    show_default=True,
    help="Root disk in GiB; 0 means the image's own size (no disk for kernel boot images).",
)
@click.option(
    "--ephemeral",
    "ephemeral_gib",
    type=int,
    default=0,
    show_default=True,
    help="Ephemeral disk in GiB (ext4, label ephemeral0); 0 means none.",
)
@click.option(
    "--swap", "swap_mib", type=int, default=0, show_default=True, help="Swap disk in MiB; 0: none."
)
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra spec, e.g. hw_watchdog_action=reset, or a disk limit per second on each of the "
    "guest's own disks: quota:disk_read_bytes_sec=1048576 (also write/total, _iops_sec) "
    "(repeatable).",
)
@pass_app
def flavor_create(
    app: AppContext,
    name: str,
    vcpus: int,
    memory_mib: int,
    root_gib: int,
    ephemeral_gib: int,
    swap_mib: int,
    properties: tuple[str, ...],
) -> None:
    """Create flavor NAME."""
    specs = key_values("--property", properties)
    flavor = Flavor(name, vcpus, memory_mib, root_gib, specs, ephemeral_gib, swap_mib)
    with open_driver(app) as driver:
        driver.add_flavor(flavor)
    click.echo(f"created flavor {_describe(flavor)}")


def _describe(flavor: Flavor) -> str:
    disk = f"{flavor.root_gib} GiB root disk" if flavor.root_gib else "image-sized root disk"
    if flavor.ephemeral_gib:
        disk += f", {flavor.ephemeral_gib} GiB ephemeral disk"
    if flavor.swap_mib:
        disk += f", {flavor.swap_mib} MiB swap"
    return f"{flavor.name}: {flavor.vcpus} vCPU, {flavor.memory_mib} MiB, {disk}"


@flavor_group.command("list")
@json_option
@pass_app
def flavor_list(app: AppContext, as_json: bool) -> None:
    """List the flavors (one recorded under older rules that no boot can use: after them)."""
    with open_driver(app) as driver:
        records = driver.list_flavors()
    if as_json:
        print_json([flavor_dict(f) if isinstance(f, Flavor) else unusable_dict(f) for f in records])
        return
    flavors = [f for f in records if isinstance(f, Flavor)]
    print_table(
        "Flavors",
        ("name", "vcpus", "memory MiB", "root GiB", "ephemeral GiB", "swap MiB", "extra specs"),
        (
            (
                f.name,
                f.vcpus,
                f.memory_mib,
                f.root_gib,
                f.ephemeral_gib,
                f.swap_mib,
                ", ".join(f"{k}={v}" for k, v in sorted(f.extra_specs.items())),
            )
            for f in flavors
        ),
    )
    print_unusable([f for f in records if isinstance(f, UnusableRecord)])


@flavor_group.command("show")
@click.argument("name")
@json_option
@pass_app
def flavor_show(app: AppContext, name: str, as_json: bool) -> None:
    """Show one flavor."""
    with open_driver(app) as driver:
        flavor = driver.get_flavor(name)
    if as_json:
        print_json(flavor_dict(flavor))
        return
    click.echo(_describe(flavor))
    for key, value in sorted(flavor.extra_specs.items()):
        click.echo(f"  {key}={value}")


@flavor_group.command("delete")
@click.argument("name")
@pass_app
def flavor_delete(app: AppContext, name: str) -> None:
    """Delete flavor NAME (instances built with it keep their copy)."""
    with open_driver(app) as driver:
        driver.delete_flavor(name)
    click.echo(f"deleted flavor {name}")
