"""``zcompute guest quiesce|unquiesce|set-password``: what a guest's QEMU guest agent does.

These need a guest booted from an image (or flavor) with ``hw_qemu_guest_agent=yes`` whose
agent runs. A password is read from a file or standard input, never from the command line
(any user of the host can read a process's arguments).
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import open_driver, stderr_console

__all__ = ["guest_group"]

_MAX_PASSWORD_FILE = 4096


@cli.group("guest")
def guest_group() -> None:
    """Inside a guest, through its QEMU guest agent (images with hw_qemu_guest_agent=yes)."""


@guest_group.command("quiesce")
@click.argument("name")
@pass_app
def guest_quiesce(app: AppContext, name: str) -> None:
    """Freeze guest NAME's file systems (flushed; writes wait) until 'guest unquiesce'.

    Use it around a copy of the guest's disks taken outside zcompute ('zcompute snapshot'
    quiesces by itself when the image sets os_require_quiesce or hw_qemu_guest_agent).
    """
    with open_driver(app) as driver, stderr_console().status(f"quiescing {name} ..."):
        count = driver.quiesce(name)
    click.echo(f"{name}: {count} file systems frozen; 'zcompute guest unquiesce {name}' thaws")


@guest_group.command("unquiesce")
@click.argument("name")
@pass_app
def guest_unquiesce(app: AppContext, name: str) -> None:
    """Thaw guest NAME's file systems (nothing happens if they are not frozen)."""
    with open_driver(app) as driver:
        count = driver.unquiesce(name)
    click.echo(f"{name}: {count} file systems thawed" if count else f"{name}: was not frozen")


@guest_group.command("set-password")
@click.argument("name")
@click.option("--user", help="The guest user; default: the image's os_admin_user, else root.")
@click.option(
    "--password-file",
    type=click.File("r", encoding="utf-8"),
    default="-",
    show_default="standard input; asked for on a terminal",
    help="Read the password from this file (its first line). Never give it as an argument.",
)
@pass_app
def guest_set_password(app: AppContext, name: str, user: str | None, password_file: TextIO) -> None:
    """Set a user's password inside running guest NAME (through its guest agent)."""
    password = _read_password(password_file)
    with open_driver(app) as driver, stderr_console().status(f"setting a password in {name} ..."):
        login = driver.set_admin_password(name, password, user=user)
    click.echo(f"{name}: password of {login} set")


def _read_password(handle: TextIO) -> str:
    """The first line of ``handle`` without its line break; on a terminal, asked twice."""
    if handle is sys.stdin and sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    text = handle.read(_MAX_PASSWORD_FILE + 1)
    if len(text) > _MAX_PASSWORD_FILE:
        raise click.BadParameter("longer than a password can be", param_hint="--password-file")
    first, _, _rest = text.partition("\n")
    return first.removesuffix("\r")
