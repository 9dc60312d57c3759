"""The root command group, shared options and the error-to-exit-code mapping.

Nothing leaves :func:`main` as a traceback (unless ``--debug`` asks for it): zcompute's errors
and ``OSError`` become one line and the exit code of their kind; anything else is a bug, shown
as one ``internal error`` line with exit code 70 (``EX_SOFTWARE`` of sysexits.h).
"""

from __future__ import annotations

import importlib
import signal
import sys
from typing import Any

import click

from zcompute.config import VIRT_TYPES, Config, load_config
from zcompute.errors import (
    ConfigError,
    Conflict,
    FeatureUnsupported,
    HypervisorUnavailable,
    InvalidInput,
    InvalidState,
    NotFound,
    ZcomputeError,
    from_os_error,
)

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in zcompute, never a problem of the input
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped with Ctrl-C
#: Every exit code, for ``zcompute --help`` (the README says the same).
EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 a user error (one line saying what to change), 2 a usage error, "
    "3 not found, 4 libvirt unreachable, 70 an internal error (a bug: --debug shows the "
    "traceback), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."
)

# 0 success, 1 user error, 2 usage error (click's own), 3 not found, 4 libvirt unreachable.
EXIT_CODES: dict[type[ZcomputeError], int] = {
    NotFound: 3,
    HypervisorUnavailable: 4,
    InvalidInput: 1,
    ConfigError: 1,
    FeatureUnsupported: 1,
    InvalidState: 1,
    Conflict: 1,
}

# Command families, each a private module that adds its commands to ``cli`` when imported.
_COMMAND_MODULES = (
    "_host",
    "_testimage",
    "_guests",
    "_images",
    "_flavors",
    "_console",
    "_volumes",
    "_interfaces",
    "_agent",
    "_repair",
    "_migrate",
)


class AppContext:
    """What every command gets: the effective configuration, built lazily."""

    def __init__(self, overrides: dict[str, Any], debug: bool) -> None:
        self.overrides = overrides
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.overrides)
        return self._config


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.option("--connect", "uri", metavar="URI", help="libvirt URI (default qemu:///system).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="zcompute's data directory.")
@click.option("--virt-type", type=click.Choice(VIRT_TYPES), help="kvm or qemu (TCG).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="zcompute")
@click.pass_context
def cli(
    ctx: click.Context, uri: str | None, data_dir: str | None, virt_type: str | None, debug: bool
) -> None:
    """zcompute: KVM guests through libvirt, with IBM Z (s390x) as a first-class platform."""
    overrides = {"uri": uri, "data_dir": data_dir, "virt_type": virt_type}
    ctx.obj = AppContext({k: v for k, v in overrides.items() if v is not None}, debug)


def _exit_code(err: ZcomputeError) -> int:
    for kind in type(err).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    return 1


def _load_command_modules() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"zcompute.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"zcompute.cli.{name}":
                raise


class Terminated(BaseException):
    """SIGTERM arrived (``kill``, ``timeout``, systemd): raised in the main thread so that the
    running operation rolls back as it does on any error, then the command exits 143."""


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    _load_command_modules()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv, debug)
    except Terminated:
        click.echo("zcompute: terminated (SIGTERM); the operation was rolled back", err=True)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None, debug: bool) -> int:
    if argv is not None and any("\0" in arg for arg in argv):
        # a process's arguments cannot hold one; a caller of main() could pass it, and no path,
        # name or value may contain it
        click.echo("zcompute: error: an argument contains a NUL character", err=True)
        return 2
    try:
        cli.main(args=argv, prog_name="zcompute", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except (ZcomputeError, OSError) as err:
        if debug:
            raise
        return _report(err if isinstance(err, ZcomputeError) else from_os_error(err))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as err:  # the last resort: a bug, but still one line, not a traceback
        if debug:
            raise
        message = f"{type(err).__name__}: {_one_line(str(err))}"
        click.echo(
            f"zcompute: internal error: {message} (run with --debug for the traceback)", err=True
        )
        return EXIT_INTERNAL
    return 0


def _report(err: ZcomputeError) -> int:
    notes = "".join(f"; {note}" for note in getattr(err, "__notes__", ()))
    click.echo(f"zcompute: error: {_one_line(f'{err}{notes}')}", err=True)
    return _exit_code(err)


def _one_line(text: str) -> str:
    """``text`` on one line: any line break (also \\x85 or \\u2028 from a file) becomes a space."""
    return " ".join(text.split()) if len(text.splitlines()) > 1 else text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
