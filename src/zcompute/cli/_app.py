"""The root command group, shared options and the error-to-exit-code mapping."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from zcompute.config import Config, load_config
from zcompute.errors import (
    ConfigError,
    Conflict,
    FeatureUnsupported,
    HypervisorUnavailable,
    InvalidInput,
    InvalidState,
    NotFound,
    ZcomputeError,
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--connect", "uri", metavar="URI", help="libvirt URI (default qemu:///system).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="zcompute's data directory.")
@click.option("--virt-type", type=click.Choice(["auto", "kvm", "qemu"]), help="kvm or qemu (TCG).")
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    _load_command_modules()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="zcompute", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except ZcomputeError as err:
        if debug:
            raise
        notes = "".join(f"; {note}" for note in getattr(err, "__notes__", ()))
        click.echo(f"zcompute: error: {err}{notes}", err=True)
        return _exit_code(err)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
