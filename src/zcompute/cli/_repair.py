"""``zcompute repair``: reconcile everything zcompute manages on this host."""

from __future__ import annotations

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import json_option, open_driver, print_json


@cli.command()
@json_option
@pass_app
def repair(app: AppContext, as_json: bool) -> None:
    """Finish or undo interrupted operations and make records and libvirt agree.

    Recovers tasks whose process is gone (a killed boot is undone, a killed delete finished),
    aborts block jobs no snapshot owns, detaches devices the records do not list and drops
    records of devices that are gone, removes image-store leftovers of killed imports and
    deletes, and removes domains of this data directory that have no record. Says what it did.
    """
    with open_driver(app) as driver:
        report = driver.repair()
    if as_json:
        print_json({"actions": list(report.actions)})
        return
    for action in report.actions:
        click.echo(action)
    if not report.actions:
        click.echo("nothing to repair: records, libvirt and the image store agree")
