"""The CLI as a whole: exit codes, --debug, configuration precedence, help for every command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from tests.unit.cli.cli_support import Zc

import zcompute.cli._app as app
from zcompute.cli import main
from zcompute.errors import NotFound


def _flavors(run: Zc, *argv: str) -> list[str]:
    result = run.raw([*argv, "flavor", "list", "--json"])
    assert result.code == 0, result
    return [f["name"] for f in json.loads(result.out)]


def test_unreachable_libvirt_exits_4_with_the_hint(zc: Zc, tmp_path: Path) -> None:
    uri = f"qemu+unix:///system?socket={tmp_path}/no-such.sock"
    result = zc.raw(["--connect", uri, "--data-dir", str(zc.data_dir), "list"])
    assert result.code == 4
    assert result.err.startswith(f"zcompute: error: cannot connect to {uri}")
    assert "run 'sudo scripts/setup-host' or start libvirtd" in result.err
    assert len(result.err.splitlines()) == 1


def test_debug_shows_the_traceback(zc: Zc) -> None:
    with pytest.raises(NotFound, match="image 'nope' not found"):
        main(
            [
                "--debug",
                "--connect",
                "test:///default",
                "--data-dir",
                str(zc.data_dir),
                "image",
                "show",
                "nope",
            ]
        )


def test_usage_errors_exit_2(zc: Zc) -> None:
    unknown = zc("no-such-command")
    assert unknown.code == 2
    assert "No such command 'no-such-command'" in unknown.err
    assert zc("list", "--no-such-option").code == 2
    assert zc.raw(["--virt-type", "xen", "list"]).code == 2


def test_configuration_file_then_environment_then_flags(zc: Zc, tmp_path: Path) -> None:
    from_file, from_env, from_flag = (tmp_path / d for d in ("file", "env", "flag"))
    config = tmp_path / "zcompute.toml"
    config.write_text(f'uri = "test:///default"\ndata_dir = "{from_file}"\n')
    zc.env = {"ZCOMPUTE_CONFIG": str(config)}
    assert zc.raw(["flavor", "create", "f1", "--vcpus", "1", "--memory", "64"]).code == 0
    assert "f1" in _flavors(zc)
    assert (from_file / "state.db").exists()

    zc.env["ZCOMPUTE_DATA_DIR"] = str(from_env)
    assert "f1" not in _flavors(zc)  # the environment overrides the file
    assert (from_env / "state.db").exists()
    assert "f1" not in _flavors(zc, "--data-dir", str(from_flag))  # the flag overrides both
    assert (from_flag / "state.db").exists()


def test_a_bad_setting_is_a_user_error_naming_it(zc: Zc) -> None:
    zc.env = {"ZCOMPUTE_VIRT_TYPE": "xen"}
    result = zc("list")
    assert result.code == 1
    assert result.err == (
        "zcompute: error: virt_type: unknown value 'xen' (allowed: auto, kvm, qemu)\n"
    )


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_has_help(zc: Zc) -> None:
    app._load_command_modules()
    commands = list(_commands(app.cli))
    for needed in (
        "boot",
        "console",
        "console-log",
        "demo",
        "list",
        "show",
        "delete",
        "stop",
        "start",
        "reboot",
        "pause",
        "unpause",
        "suspend",
        "resume",
        "snapshot",
        "crash-dump",
        "support-matrix",
    ):
        assert (needed,) in commands
    for needed_pair in (
        ("image", "import"),
        ("flavor", "create"),
        ("volume", "attach"),
        ("interface", "attach"),
        ("host", "show"),
        ("xml", "lint"),
        ("testimage", "build"),
    ):
        assert needed_pair in commands
    for argv in commands:
        result = zc.raw([*argv, "--help"])
        assert result.code == 0, (argv, result)
        assert result.out.startswith(f"Usage: zcompute {' '.join(argv)}"), argv


def test_list_and_show_commands_all_have_json(zc: Zc) -> None:
    app._load_command_modules()
    listing = [argv for argv in _commands(app.cli) if argv[-1] in ("list", "show")]
    assert len(listing) >= 8
    for argv in listing:
        assert "--json" in zc.raw([*argv, "--help"]).out, argv
