"""``zcompute interface attach|detach|list``: network interfaces of guests."""

from __future__ import annotations

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import (
    json_option,
    nic_dict,
    nic_place,
    open_driver,
    print_json,
    print_table,
    stderr_console,
)
from zcompute.model import NIC_MODELS, NICSpec

__all__ = ["interface_group"]


@cli.group("interface")
def interface_group() -> None:
    """Network interfaces (NICs) on libvirt networks, host bridges or tap devices."""


@interface_group.command("attach")
@click.argument("name")
@click.option("--network", metavar="NET", help="A libvirt network, e.g. zcompute-isolated.")
@click.option("--bridge", metavar="BRIDGE", help="An existing host bridge.")
@click.option(
    "--tap", metavar="NAME", help="A new tap device, made (and removed) by zcompute for the NIC."
)
@click.option("--mac", help="MAC address; default: a random one in 52:54:00.")
@click.option("--model", type=click.Choice(NIC_MODELS), help="Default: the architecture's.")
@click.option("--mtu", type=int, help="The NIC's MTU (68-65535); default: the network's.")
@pass_app
def interface_attach(
    app: AppContext,
    name: str,
    network: str | None,
    bridge: str | None,
    tap: str | None,
    mac: str | None,
    model: str | None,
    mtu: int | None,
) -> None:
    """Attach a NIC to guest NAME (hot-plugged when it runs)."""
    if sum(x is not None for x in (network, bridge, tap)) != 1:
        raise click.UsageError("give one of --network NET, --bridge BRIDGE and --tap NAME")
    spec = NICSpec(network=network, bridge=bridge, tap=tap, mac=mac, model=model, mtu=mtu)
    with (
        open_driver(app) as driver,
        stderr_console().status(f"attaching a NIC to {name} ..."),
    ):
        attached = driver.attach_interface(name, spec)
    model_name = attached.model or "default model"
    click.echo(f"attached NIC {attached.mac} ({model_name}) on {nic_place(attached)}")


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
        ("mac", "on", "model"),
        ((n.mac, nic_place(n), n.model or "-") for n in inst.nics),
    )
