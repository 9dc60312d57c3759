"""``zcompute migrate``: move a guest to another zcompute host, live or stopped.

The other host is a libvirt URI and the data directory of the zcompute that manages guests
there (a host this machine reaches: the second host of the tests, or a data directory on
storage both hosts mount). ``--abort`` and ``--force-complete`` act on a migration another
``zcompute migrate`` runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import human_bytes, open_driver, stderr_console
from zcompute.cli._types import SECONDS
from zcompute.cli._volumes import read_secret
from zcompute.errors import InvalidInput
from zcompute.volumes import VolumeEncryption, VolumeSecrets

__all__ = ["migrate"]


@cli.command()
@click.argument("name", metavar="GUEST")
@click.option("--to", "to_uri", metavar="URI", help="The libvirt URI of the other host.")
@click.option(
    "--to-data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The data directory of the zcompute that manages guests on the other host.",
)
@click.option("--offline", is_flag=True, help="Move a stopped guest (its disks are copied).")
@click.option(
    "--timeout",
    type=SECONDS,
    default=1800.0,
    show_default=True,
    help="Seconds a live migration may take; then it is aborted (the guest stays here).",
)
@click.option(
    "--force-after",
    type=SECONDS,
    help="Seconds after which a live migration that did not complete is forced to.",
)
@click.option(
    "--postcopy",
    is_flag=True,
    help="Forcing switches to post-copy (QEMU needs userfaultfd there), else it pauses the guest.",
)
@click.option(
    "--bandwidth",
    type=click.IntRange(0),
    default=0,
    metavar="MIB_S",
    help="A limit for the migration stream in MiB/s (0: none).",
)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="The other host's address for the migration stream.",
)
@click.option(
    "--chap-password-file",
    "chap_files",
    multiple=True,
    metavar="TARGET=FILE",
    help="The CHAP password of GUEST's iSCSI volume TARGET (vdb, ...), which libvirt keeps "
    "private to this host: the other host defines it again (repeat per volume; '-': stdin).",
)
@click.option(
    "--luks-passphrase-file",
    "luks_files",
    multiple=True,
    metavar="TARGET=FILE",
    help="The LUKS passphrase of GUEST's encrypted iSCSI volume TARGET (repeat per volume).",
)
@click.option("--abort", is_flag=True, help="Cancel the migration of GUEST that is running.")
@click.option(
    "--force-complete", is_flag=True, help="Make the running migration of GUEST complete."
)
@pass_app
def migrate(
    app: AppContext,
    name: str,
    to_uri: str | None,
    to_data_dir: Path | None,
    offline: bool,
    timeout: float,
    force_after: float | None,
    postcopy: bool,
    bandwidth: int,
    address: str,
    chap_files: tuple[str, ...],
    luks_files: tuple[str, ...],
    abort: bool,
    force_complete: bool,
) -> None:
    """Move GUEST to another host: live by default, with its disks copied while it runs."""
    if abort or force_complete:
        with open_driver(app) as driver:
            if abort:
                driver.abort_migration(name)
                click.echo(f"{name}: migration aborted; it stays on this host")
            else:
                how = driver.force_migration(name)
                click.echo(f"{name}: migration forced to complete ({how})")
        return
    if to_uri is None or to_data_dir is None:
        raise click.UsageError("give --to URI and --to-data-dir DIR (or --abort, --force-complete)")
    secrets = _volume_secrets(chap_files, luks_files)
    from zcompute.driver import ComputeDriver

    there = dataclasses.replace(app.config, uri=to_uri, data_dir=to_data_dir.absolute())
    with open_driver(app) as driver:
        dest = ComputeDriver(there)
        try:
            with stderr_console().status(f"migrating {name} ...") as status:

                def report(progress: object) -> None:
                    remaining = getattr(progress, "data_remaining", 0)
                    percent = getattr(progress, "percent", 0.0)
                    status.update(
                        f"migrating {name}: {percent:.0f}%, {human_bytes(remaining)} to go"
                    )

                result = driver.migrate(
                    name,
                    dest,
                    live=not offline,
                    timeout=timeout,
                    force_after=force_after,
                    progress=report,
                    address=address,
                    postcopy=postcopy,
                    bandwidth_mib=bandwidth,
                    secrets=secrets,
                )
        finally:
            dest.close()
    forced = f", forced ({result.forced})" if result.forced else ""
    click.echo(
        f"{name}: migrated to {to_uri} in {result.seconds:.1f} s, downtime "
        f"{result.downtime_ms} ms{forced}; now {result.instance.state.value} there"
    )


def _volume_secrets(
    chap_files: tuple[str, ...], luks_files: tuple[str, ...]
) -> dict[str, VolumeSecrets]:
    """The volumes' secrets the options name, by target (each file read once)."""
    chap = _by_target(chap_files, "--chap-password-file")
    luks = _by_target(luks_files, "--luks-passphrase-file")
    return {
        target: VolumeSecrets(
            chap_password=chap[target].encode() if target in chap else None,
            encryption=VolumeEncryption(luks[target].encode()) if target in luks else None,
        )
        for target in sorted(set(chap) | set(luks))
    }


def _by_target(values: tuple[str, ...], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        target, sep, path = value.partition("=")
        if not sep or not target or not path:
            raise InvalidInput(option, f"{value!r} is not TARGET=FILE", "e.g. vdb=/root/chap")
        if target in found:
            raise InvalidInput(option, f"volume {target} is given twice", "one file per volume")
        found[target] = read_secret(path, option)
    return found
