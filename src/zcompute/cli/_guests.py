"""Guest commands: ``boot``, ``list``, ``show``, ``delete``, the power operations and resize.

Each command parses its options, makes one driver call and renders the result; every
decision about the guest (machine type, consoles, disks, rollback) is the driver's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import BinaryIO, TextIO

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._diskopts import root_volume as parse_root_volume
from zcompute.cli._diskopts import volume_specs
from zcompute.cli._render import (
    compile_regex,
    human_bytes,
    instance_dict,
    json_option,
    key_values,
    nic_place,
    open_driver,
    print_json,
    print_table,
    stderr_console,
)
from zcompute.cli._types import SECONDS
from zcompute.configdrive import MAX_USER_DATA, ConfigDrive, parse_ssh_keys
from zcompute.driver import ComputeDriver
from zcompute.errors import NotFound
from zcompute.model import BlockDeviceSpec, Instance, NICSpec
from zcompute.plan import disk_limits

__all__ = ["boot", "delete", "list_guests", "show"]


# -- boot -------------------------------------------------------------------------------------


def _config_drive(
    user_data: BinaryIO | None, key_files: tuple[TextIO, ...], hostname: str | None, wanted: bool
) -> ConfigDrive | None:
    """The config drive the options ask for (checked before anything is created)."""
    if user_data is None and not key_files and hostname is None and not wanted:
        return None
    keys: list[str] = []
    for handle in key_files:
        keys += parse_ssh_keys(handle.read(), f"--ssh-key {handle.name}")
    data = None if user_data is None else user_data.read(MAX_USER_DATA + 1)
    return ConfigDrive(hostname=hostname, public_keys=tuple(keys), user_data=data)


@cli.command()
@click.argument("name")
@click.option("--image", required=True, help="Image name or id.")
@click.option("--flavor", required=True, help="Flavor name (see 'zcompute flavor list').")
@click.option(
    "--network",
    "networks",
    multiple=True,
    metavar="NET",
    help="Add a NIC on libvirt network NET (repeatable).",
)
@click.option(
    "--bridge",
    "bridges",
    multiple=True,
    metavar="BRIDGE",
    help="Add a NIC on host bridge BRIDGE (repeatable).",
)
@click.option(
    "--tap",
    "taps",
    multiple=True,
    metavar="NAME",
    help="Add a NIC on a new tap device NAME, which zcompute creates and removes with the "
    "guest; the name must not exist on the host (repeatable).",
)
@click.option(
    "--volume",
    "volumes",
    multiple=True,
    metavar="PATH[,target=vdX,...]",
    help="Add a disk: a file or block device, with optional target=, bus=, "
    "serial=, readonly, device=cdrom, format=raw|qcow2 (default: inspected once and recorded; "
    "see volume_dirs in 'host show' for where files may live) (repeatable).",
)
@click.option(
    "--root-volume",
    metavar="VOLUME",
    help="Boot from this volume instead of a local root disk: iscsi://HOST:PORT/IQN/LUN or "
    "fc:DEVNO:WWPN:LUN; --image then says what it holds (a kernel-boot image boots it with "
    "its kernel).",
)
@click.option("--root-chap-user", help="CHAP user name for an iSCSI --root-volume.")
@click.option(
    "--root-chap-password-file",
    metavar="FILE",
    help="The CHAP password, read from FILE ('-': stdin); never an argument.",
)
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="Instance metadata (repeatable).",
)
@click.option(
    "--wait-console",
    "wait_console",
    metavar="REGEX",
    help="Return only once a console log line matches REGEX.",
)
@click.option(
    "--timeout",
    type=SECONDS,
    default=120.0,
    show_default=True,
    help="Seconds to wait for --wait-console.",
)
@click.option(
    "--user-data",
    "user_data",
    type=click.File("rb"),
    help="User data for cloud-init (e.g. a #cloud-config file), on a config drive.",
)
@click.option(
    "--ssh-key",
    "ssh_keys",
    type=click.File("r"),
    multiple=True,
    help="A public key file (authorized_keys lines) for the guest, on a config drive (repeatable).",
)
@click.option("--hostname", help="The guest's hostname, on a config drive (default: from NAME).")
@click.option(
    "--config-drive",
    "config_drive",
    is_flag=True,
    help="Attach a config drive (implied by --user-data, --ssh-key and --hostname).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the domain XML; create nothing (and never boot the KVM probe).",
)
@pass_app
def boot(
    app: AppContext,
    name: str,
    image: str,
    flavor: str,
    networks: tuple[str, ...],
    bridges: tuple[str, ...],
    taps: tuple[str, ...],
    volumes: tuple[str, ...],
    root_volume: str | None,
    root_chap_user: str | None,
    root_chap_password_file: str | None,
    properties: tuple[str, ...],
    wait_console: str | None,
    timeout: float,
    user_data: BinaryIO | None,
    ssh_keys: tuple[TextIO, ...],
    hostname: str | None,
    config_drive: bool,
    dry_run: bool,
) -> None:
    """Create and start guest NAME from an image and a flavor."""
    nics = [NICSpec(network=n) for n in networks] + [NICSpec(bridge=b) for b in bridges]
    nics += [NICSpec(tap=t) for t in taps]
    disks = volume_specs(volumes)
    root = None
    if root_volume is not None:
        root = parse_root_volume(root_volume, root_chap_user, root_chap_password_file)
        if dry_run:
            raise click.UsageError("--dry-run cannot show a --root-volume, which it would connect")
    drive = _config_drive(user_data, ssh_keys, hostname, config_drive)
    wait_for = compile_regex("--wait-console", wait_console)
    metadata = key_values("--property", properties)
    with open_driver(app) as driver:
        if dry_run:
            _print_plan(driver, name, image, flavor, nics, disks, metadata, drive)
            return
        started = time.monotonic()
        waiting = f", waiting for a console line matching {wait_console!r}" if wait_console else ""
        with stderr_console().status(f"booting {name}{waiting} ..."):
            inst = driver.spawn(
                name,
                image,
                flavor,
                nics=nics,
                block_devices=disks,
                metadata=metadata,
                wait_for=wait_for,
                timeout=timeout,
                config_drive=drive,
                boot_volume=root,
            )
        seconds = time.monotonic() - started
        click.echo(
            f"booted {inst.name} ({inst.uuid}) in {seconds:.1f} s: {inst.arch}, "
            f"machine {inst.machine_type}, domain type {inst.domain_type}"
        )
        click.echo(f"  console log  {driver.console_log_path(inst.uuid)}")


def _print_plan(
    driver: ComputeDriver,
    name: str,
    image: str,
    flavor: str,
    nics: Sequence[NICSpec],
    disks: Sequence[BlockDeviceSpec],
    metadata: dict[str, str],
    drive: ConfigDrive | None,
) -> None:
    from zcompute.builder import build_domain_xml

    host, note = driver.dry_run_host()
    plan = driver.plan(
        name,
        image,
        flavor,
        nics=nics,
        block_devices=disks,
        metadata=metadata,
        host=host,
        config_drive=drive,
    )
    if note is not None:  # a comment keeps the output a domain XML that virsh accepts
        click.echo(f"<!-- zcompute dry run: {note} -->")
    click.echo(build_domain_xml(plan), nl=False)


# -- list, show, delete ---------------------------------------------------------------------


@cli.command("list")
@json_option
@pass_app
def list_guests(app: AppContext, as_json: bool) -> None:
    """List the guests zcompute manages, with their state as libvirt reports it now."""
    with open_driver(app) as driver:
        infos = {i.uuid: i for i in driver.list_instances()}
        records = [driver.get_instance(uuid) for uuid in infos]
        logs = {r.uuid: driver.console_log_of(r.uuid) for r in records}
    if as_json:
        print_json([instance_dict(r, infos[r.uuid], logs[r.uuid]) for r in records])
        return
    print_table(
        "Guests",
        ("name", "state", "arch", "machine", "flavor", "image", "vcpus", "memory", "uuid"),
        (
            (
                r.name,
                _state_text(r, infos[r.uuid].state),
                r.arch,
                r.machine_type,
                r.flavor.name,
                r.image.name,
                r.flavor.vcpus,
                f"{r.flavor.memory_mib} MiB",
                r.uuid,
            )
            for r in records
        ),
    )


def _state_text(inst: Instance, state: str) -> str:
    notes = [str(inst.task)] if inst.task is not None else []
    if inst.rescue is not None:
        notes.append(f"rescued from {inst.rescue.image.name}")
    return f"{state} ({', '.join(notes)})" if notes else state


@cli.command()
@click.argument("name")
@json_option
@click.option("--xml", "as_xml", is_flag=True, help="Print the live domain XML.")
@pass_app
def show(app: AppContext, name: str, as_json: bool, as_xml: bool) -> None:
    """Show guest NAME (or uuid): what it runs, where, its devices and live state."""
    with open_driver(app) as driver:
        inst = driver.get_instance(name)
        if as_xml:
            click.echo(driver.domain_xml(inst.uuid), nl=False)
            return
        info = driver.instance_info(inst.uuid)  # the state list shows (error: domain gone)
        data = instance_dict(inst, info, driver.console_log_of(inst.uuid))
        resized_from = driver.pending_resize(inst.uuid)
    if resized_from is not None:
        data["resized_from"] = resized_from.name
    if as_json:
        print_json(data)
        return
    flavor = inst.flavor
    rows: list[tuple[str, object]] = [
        ("name", inst.name),
        ("uuid", inst.uuid),
        ("state", _state_text(inst, data["state"])),
        ("arch", inst.arch),
        ("machine type", inst.machine_type),
        ("domain type", inst.domain_type),
        (
            "flavor",
            f"{flavor.name} ({flavor.vcpus} vCPU, {flavor.memory_mib} MiB, "
            f"{flavor.root_gib} GiB root)",
        ),
        ("image", f"{inst.image.name} ({inst.image.id})"),
        ("console log", data["console_log"]),
        ("created", inst.created_at.isoformat(timespec="seconds")),
    ]
    if inst.serial_port is not None:
        rows.insert(-1, ("serial port", inst.serial_port))
    limits = disk_limits(flavor)
    if limits:  # the flavor's, on each of the guest's own disks (not volumes)
        rows.append(("disk limits", ", ".join(f"{name}={value}" for name, value in limits)))
    if resized_from is not None:
        waiting = f"from {resized_from.name}, awaiting resize-confirm or resize-revert"
        rows.insert(-1, ("resize", waiting))
    rows += [
        (f"disk {b.target}", f"{b.source} ({b.bus}{', ro' if b.readonly else ''})")
        for b in inst.block_devices
    ]
    rows += [(f"nic {n.mac}", nic_place(n)) for n in inst.nics]
    rows += [(f"metadata {k}", v) for k, v in sorted(inst.metadata.items())]
    print_table(f"Guest {inst.name}", ("field", "value"), rows)


@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@pass_app
def delete(app: AppContext, names: tuple[str, ...]) -> None:
    """Stop and delete guests with their disks and console logs."""
    missing = []
    with open_driver(app) as driver:
        for name in names:
            if driver.destroy(name):
                click.echo(f"deleted {name}")
            else:
                missing.append(name)
    if missing:
        raise NotFound("instance", ", ".join(missing))


# -- power and state ---------------------------------------------------------------------------


def _after(driver: ComputeDriver, name: str, verb: str) -> None:
    click.echo(f"{name}: {verb}, now {driver.get_info(name).state}")


def _state_command(
    command: str, doc: str, verb: str, call: Callable[[ComputeDriver, str], object]
) -> None:
    """Register ``zcompute COMMAND NAME``: one driver call, then the state it left."""

    @cli.command(command, help=doc)
    @click.argument("name")
    @pass_app
    def run(app: AppContext, name: str) -> None:
        with open_driver(app) as driver, stderr_console().status(f"{command} {name} ..."):
            call(driver, name)
            _after(driver, name, verb)


_state_command("start", "Power on a stopped guest.", "started", lambda d, n: d.power_on(n))
_state_command("pause", "Pause a running guest (its CPUs stop).", "paused", lambda d, n: d.pause(n))
_state_command("unpause", "Let a paused guest run again.", "unpaused", lambda d, n: d.unpause(n))
_state_command(
    "suspend", "Save a guest's memory to disk and stop it.", "suspended", lambda d, n: d.suspend(n)
)
_state_command(
    "resume",
    "Restore a suspended guest from its saved memory.",
    "resumed",
    lambda d, n: d.resume(n),
)


@cli.command()
@click.argument("name")
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds to wait for a graceful shutdown before forcing it.",
)
@click.option("--force", is_flag=True, help="Power off at once, without asking the guest.")
@pass_app
def stop(app: AppContext, name: str, timeout: float, force: bool) -> None:
    """Shut a guest down (gracefully, forced after --timeout)."""
    with open_driver(app) as driver, stderr_console().status(f"stopping {name} ..."):
        graceful = driver.power_off(name, timeout=0.0 if force else timeout)
        _after(driver, name, "shut down by the guest" if graceful else "forced off")


@cli.command()
@click.argument("name")
@click.option("--hard", is_flag=True, help="Power-cycle the guest instead of asking it.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds to wait for a soft reboot before doing a hard one.",
)
@pass_app
def reboot(app: AppContext, name: str, hard: bool, timeout: float) -> None:
    """Reboot a guest: soft (the guest reboots itself) or --hard."""
    with open_driver(app) as driver, stderr_console().status(f"rebooting {name} ..."):
        soft = driver.reboot(name, hard=hard, timeout=timeout)
        _after(driver, name, "rebooted by the guest" if soft else "power-cycled (hard reboot)")


@cli.command()
@click.argument("name")
@click.argument("image_name", metavar="IMAGE")
@pass_app
def snapshot(app: AppContext, name: str, image_name: str) -> None:
    """Save guest NAME's root disk as a new image IMAGE (bootable with 'zcompute boot')."""
    with open_driver(app) as driver, stderr_console().status(f"snapshotting {name} ..."):
        image = driver.snapshot(name, image_name)
    click.echo(
        f"saved {name} as image {image.name} ({image.id}): {image.disk_format}, "
        f"{human_bytes(image.virtual_size)} virtual, {human_bytes(image.size)} stored"
    )


@cli.command()
@click.argument("name")
@click.option(
    "--image",
    "image_name",
    metavar="IMAGE",
    help="The image to boot from (name or id; default: the guest's own image).",
)
@pass_app
def rescue(app: AppContext, name: str, image_name: str | None) -> None:
    """Boot guest NAME from a rescue image, with its own root disk as its second disk.

    The guest is stopped at once (stop it first for a clean shutdown) and boots from a new
    disk made from IMAGE (a disk image, or a kernel-boot image's kernel and initrd), named
    first so that it boots; its root disk is the second disk (vdb), its NICs, console and
    config drive stay. Its volumes, ephemeral and swap disks are detached while rescued.
    'zcompute unrescue NAME' boots it as before.
    """
    with open_driver(app) as driver, stderr_console().status(f"rescuing {name} ..."):
        image = None if image_name is None else driver.images.get(image_name)
        driver.rescue(name, image)
        _after(driver, name, "rescued")


@cli.command()
@click.argument("name")
@pass_app
def unrescue(app: AppContext, name: str) -> None:
    """Boot a rescued guest NAME as before: its own definition, the rescue disk removed."""
    with open_driver(app) as driver, stderr_console().status(f"unrescuing {name} ..."):
        driver.unrescue(name)
        _after(driver, name, "unrescued")


@cli.command("crash-dump")
@click.argument("name")
@pass_app
def crash_dump(app: AppContext, name: str) -> None:
    """Inject a non-maskable interrupt so the guest kernel dumps or panics."""
    with open_driver(app) as driver:
        driver.trigger_crash_dump(name)
    click.echo(f"{name}: crash dump triggered (NMI injected)")


# -- resize ------------------------------------------------------------------------------------


@cli.command()
@click.argument("name", metavar="GUEST")
@click.argument("flavor")
@click.option(
    "--timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds the guest gets to shut down before it is forced off.",
)
@click.option(
    "--start/--no-start",
    default=None,
    help="Start the guest afterwards [default: if it was running].",
)
@pass_app
def resize(app: AppContext, name: str, flavor: str, timeout: float, start: bool | None) -> None:
    """Give GUEST another FLAVOR (vCPUs, memory, bigger disks), on this host.

    The guest is powered off; its old disks, flavor and definition are kept in its folder
    until 'resize-confirm' drops them or 'resize-revert' restores them. The root and
    ephemeral disks grow (never shrink: a smaller one is refused); the guest grows its own
    file systems. NICs (MACs), consoles, the config drive and volumes stay as they are.
    """
    with open_driver(app) as driver, stderr_console().status(f"resizing {name} ..."):
        inst = driver.resize(name, flavor, start=start, timeout=timeout)
        state = driver.get_info(name).state
    size = inst.flavor
    click.echo(
        f"{name}: resized to {size.name} ({size.vcpus} vCPUs, {size.memory_mib} MiB, "
        f"root {size.root_gib} GiB), now {state}; confirm with 'zcompute resize-confirm "
        f"{name}' or go back with 'zcompute resize-revert {name}'"
    )


@cli.command("resize-confirm")
@click.argument("name", metavar="GUEST")
@pass_app
def resize_confirm(app: AppContext, name: str) -> None:
    """Keep GUEST's new flavor: the state kept for a revert is removed."""
    with open_driver(app) as driver:
        inst = driver.confirm_resize(name)
    click.echo(f"{name}: resize to {inst.flavor.name} confirmed")


@cli.command("resize-revert")
@click.argument("name", metavar="GUEST")
@click.option(
    "--start/--no-start",
    default=None,
    help="Start the guest afterwards [default: if it ran before the resize].",
)
@pass_app
def resize_revert(app: AppContext, name: str, start: bool | None) -> None:
    """Undo GUEST's resize: its old flavor, disk content and definition come back."""
    with open_driver(app) as driver, stderr_console().status(f"reverting {name} ..."):
        inst = driver.revert_resize(name, start=start)
        state = driver.get_info(name).state
    click.echo(f"{name}: back to {inst.flavor.name}, now {state}")
