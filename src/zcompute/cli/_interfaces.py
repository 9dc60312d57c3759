"""``zcompute interface attach|detach|list``: network interfaces of guests."""

from __future__ import annotations

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import (
    json_option,
    nic_dict,
    open_driver,
    print_json,
    print_table,
    stderr_console,
)
from zcompute.model import NIC_MODELS, NICSpec

__all__ = ["interface_group"]


@cli.group("interface")
def interface_group() -> None:
    """Network interfaces (NICs) on libvirt networks or host bridges."""


@interface_group.command("attach")
@click.argument("name")
@click.option("--network", metavar="NET", help="A libvirt network, e.g. zcompute-isolated.")
@click.option("--bridge", metavar="BRIDGE", help="An existing host bridge.")
@click.option("--mac", help="MAC address; default: a random one in 52:54:00.")
@click.option("--model", type=click.Choice(NIC_MODELS), help="Default: the architecture's.")
@pass_app
def interface_attach(
    app: AppContext,
    name: str,
    network: str | None,
    bridge: str | None,
    mac: str | None,
    model: str | None,
) -> None:
    """Attach a NIC to guest NAME (hot-plugged when it runs)."""
    if (network is None) == (bridge is None):
        raise click.UsageError("give either --network NET or --bridge BRIDGE")
    spec = NICSpec(network=network, bridge=bridge, mac=mac, model=model)
    with (
        open_driver(app) as driver,
        stderr_console().status(f"attaching a NIC to {name} ..."),
    ):
        attached = driver.attach_interface(name, spec)
    where = f"network {attached.network}" if attached.network else f"bridge {attached.bridge}"
    click.echo(f"attached NIC {attached.mac} ({attached.model or 'default model'}) on {where}")


@interface_group.command("detach")
@click.argument("name")
@click.argument("mac")
@pass_app
def interface_detach(app: AppContext, name: str, mac: str) -> None:
    """Detach the NIC with address MAC from guest NAME."""
    with (
        open_driver(app) as driver,
        stderr_console().status(f"detaching {mac} from {name} ..."),
    ):
        driver.detach_interface(name, mac)
    click.echo(f"detached NIC {mac} from {name}")


@interface_group.command("list")
@click.argument("name")
@json_option
@pass_app
def interface_list(app: AppContext, name: str, as_json: bool) -> None:
    """List the NICs of guest NAME."""
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
    if as_json:
        print_json([nic_dict(n) for n in inst.nics])
        return
    print_table(
        f"NICs of {inst.name}",
        ("mac", "network", "bridge", "model"),
        ((n.mac, n.network or "-", n.bridge or "-", n.model or "-") for n in inst.nics),
    )
