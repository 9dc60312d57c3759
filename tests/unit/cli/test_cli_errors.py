"""The CLI's error contract, case by case: every bad input is one line and a documented exit
code, nothing hangs, nothing is created; a bug is one ``internal error`` line, exit 70."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from tests.conftest import REPO
from tests.unit.cli.cli_support import GuestFactory, Run, Zc, kernel_image, remove_test_domain
from tests.unit.fifo_support import FifoGuard

import zcompute.cli._app as app
from zcompute.model import MAX_TIMEOUT


def _one_error_line(result: Run) -> str:
    assert "Traceback" not in result.err + result.out
    lines = result.err.splitlines()
    assert len(lines) == 1, result
    return lines[0]


# -- flavors ---------------------------------------------------------------------------------


def test_a_flavor_no_boot_could_use_is_not_created(zc: Zc) -> None:
    result = zc(
        "flavor", "create", "wd", "--vcpus", "1", "--memory", "256",
        "--property", "hw_watchdog_action=explode",
    )  # fmt: skip
    assert result.code == 1
    assert _one_error_line(result) == (
        "zcompute: error: hw_watchdog_action: unknown value 'explode' (allowed: disabled, "
        "reset, shutdown, poweroff, pause, none, dump, inject-nmi)"
    )
    assert "wd" not in [f["name"] for f in json.loads(zc("flavor", "list", "--json").out)]


# -- seconds ---------------------------------------------------------------------------------

SECONDS_OPTIONS = [
    ("boot", "g", "--image", "kimg", "--flavor", "tiny", "--timeout"),
    ("stop", "g", "--timeout"),
    ("reboot", "g", "--timeout"),
    ("console-log", "g", "--follow", "--until", "x", "--timeout"),
    ("console", "g", "--linger"),
    ("demo", "--timeout"),
]


@pytest.mark.parametrize("argv", SECONDS_OPTIONS, ids=lambda argv: " ".join(argv[::2][:2]))
@pytest.mark.parametrize("value", ["nan", "-1", "inf", "1e9", "ten"])
def test_every_seconds_option_refuses_nan_negative_and_huge(
    zc: Zc, argv: tuple[str, ...], value: str
) -> None:
    result = zc(*argv, value)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert (
        f"Invalid value for '{argv[-1]}': '{value}' is not a number of seconds "
        f"from 0 to {MAX_TIMEOUT}" in result.err
    )
    assert not (zc.data_dir / "instances").exists() or not any(
        (zc.data_dir / "instances").iterdir()
    )


# -- metadata --------------------------------------------------------------------------------


def test_a_property_zcompute_sets_itself_is_refused(zc: Zc, files: Path) -> None:
    driver = zc.driver()
    kernel_image(driver, files)
    driver.close()
    result = zc("boot", "g", "--image", "kimg", "--flavor", "tiny", "--property", "name=other")
    assert result.code == 1
    assert _one_error_line(result) == (
        "zcompute: error: metadata name: zcompute sets these keys itself "
        "(allowed: any key but instance, name, flavor, image, managed-by)"
    )


# -- files that are not regular files --------------------------------------------------------


@pytest.fixture
def fifo(files: Path) -> Iterator[FifoGuard]:
    guard = FifoGuard(files / "fifo")
    yield guard
    guard.close()
    assert not guard.rescued, "a command blocked on the FIFO"


def test_no_command_reads_a_fifo_or_device_it_was_given(
    zc: Zc, files: Path, fifo: FifoGuard, make_guest: GuestFactory
) -> None:
    guest = make_guest()
    kernel = files / "vmlinuz"
    kernel.write_bytes(b"kernel")
    f = str(fifo.path)
    usage = [  # refused while the command line is parsed
        ("image", "import", "i", f),
        ("image", "import", "i", "--kernel", f, "--arch", "s390x"),
        ("image", "import", "i", "--kernel", str(kernel), "--initrd", f, "--arch", "s390x"),
        ("image", "import", "i", "/dev/null"),
        ("host", "show", "--cpuinfo", f),
        ("boot", "g", "--image", "kimg", "--flavor", "tiny", "--volume", f),
        ("boot", "g", "--image", "kimg", "--flavor", "tiny", "--volume", "/dev/null"),
        ("boot", "g", "--image", "kimg", "--flavor", "tiny", "--volume", str(files)),
    ]
    for argv in usage:
        result = zc(*argv)
        assert result.code == 2, (argv, result)
        assert re.search(r"is a (FIFO|character device|directory)", result.err), (argv, result)
    user = [  # refused when the command opens the file
        ("xml", "lint", f),
        ("xml", "lint", "/dev/null"),
        ("host", "show", "--capabilities", f),
        ("volume", "attach", guest.name, "--file", f),
    ]
    for argv in user:
        result = zc(*argv)
        assert result.code == 1, (argv, result)
        assert _one_error_line(result).startswith("zcompute: error: "), (argv, result)
    assert [i["name"] for i in json.loads(zc("image", "list", "--json").out)] == ["kimg"]
    assert [g["name"] for g in json.loads(zc("list", "--json").out)] == [guest.name]


# -- show and list agree ---------------------------------------------------------------------


def test_show_reports_the_state_list_reports_for_a_domain_removed_behind_our_back(
    zc: Zc, make_guest: GuestFactory
) -> None:
    guest = make_guest()
    remove_test_domain(guest.uuid)
    listed = {g["name"]: g for g in json.loads(zc("list", "--json").out)}
    shown = json.loads(zc("show", guest.name, "--json").out)
    assert shown["state"] == listed[guest.name]["state"] == "error"
    assert shown["live"] == listed[guest.name]["live"]
    row = next(line for line in zc("show", guest.name).out.splitlines() if " state " in line)
    assert "error" in row
    assert "running" not in row


# -- images ----------------------------------------------------------------------------------


def test_deleting_a_kernel_image_a_snapshot_boots_with_is_refused(zc: Zc, files: Path) -> None:
    (files / "vmlinuz").write_bytes(b"kernel " * 100)
    assert (
        zc("image", "import", "k", "--kernel", str(files / "vmlinuz"), "--arch", "s390x").code == 0
    )
    kernel_id = json.loads(zc("image", "show", "k", "--json").out)["id"]
    disk = files / "snap.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    imported = zc("image", "import", "snap", str(disk), "--property", f"kernel_id={kernel_id}")
    assert imported.code == 0, imported
    result = zc("image", "delete", "k")
    assert result.code == 1
    assert "image k is the kernel-boot image of images snap" in _one_error_line(result)
    assert sorted(i["name"] for i in json.loads(zc("image", "list", "--json").out)) == [
        "k",
        "snap",
    ]


# -- the data directory ----------------------------------------------------------------------


def test_a_data_dir_that_cannot_be_made_is_one_line(zc: Zc, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = zc.raw(["--connect", "test:///default", "--data-dir", str(blocker / "zc"), "list"])
    assert result.code == 1
    assert _one_error_line(result).startswith(f"zcompute: error: data_dir: {blocker}")
    relative = zc.raw(["--connect", "test:///default", "--data-dir", "zc", "list"])
    assert relative.code == 1
    assert _one_error_line(relative) == (
        "zcompute: error: data_dir: must be an absolute path, got 'zc' "
        "(allowed: an absolute path such as /var/lib/zcompute)"
    )


def test_a_config_file_that_is_not_utf8_is_one_line(zc: Zc, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes(b"\xff\xfe")
    zc.env = {"ZCOMPUTE_CONFIG": str(config)}
    result = zc("list")
    assert result.code == 1
    assert _one_error_line(result) == (
        f"zcompute: error: {config}: cannot read configuration: not UTF-8 (byte 0xff at offset 0)"
    )


# -- bugs ------------------------------------------------------------------------------------


@pytest.fixture
def crashing_command() -> Iterator[str]:
    """A command with a bug: it raises an exception zcompute does not know."""

    @app.cli.command("zctest-crash")
    def crash() -> None:
        raise RuntimeError("lost\nkey")

    yield "zctest-crash"
    app.cli.commands.pop("zctest-crash")


def test_a_bug_is_one_internal_error_line_and_exit_70(zc: Zc, crashing_command: str) -> None:
    result = zc(crashing_command)
    assert result.code == app.EXIT_INTERNAL == 70
    assert _one_error_line(result) == (
        "zcompute: internal error: RuntimeError: lost key (run with --debug for the traceback)"
    )
    with pytest.raises(RuntimeError):
        zc("--debug", crashing_command)


def test_every_exit_code_is_documented_in_the_readme_and_the_help(zc: Zc) -> None:
    readme = (REPO / "README.md").read_text()
    sentence = " ".join(readme[readme.index("Exit codes:") :].split("`--debug`")[0].split())
    documented = {int(n) for n in re.findall(r"\b(\d+) [a-z(]", sentence)}
    assert documented == {0, 1, 2, 3, 4, 70, 130, 143}
    assert set(app.EXIT_CODES.values()) <= documented
    help_text = " ".join(zc("--help").out.split())
    assert {int(n) for n in re.findall(r"\b(\d+) [a-z(]", app.EXIT_CODES_HELP)} == documented
    assert " ".join(app.EXIT_CODES_HELP.split()) in help_text


def test_click_is_the_usage_error_path() -> None:
    assert issubclass(click.BadParameter, click.UsageError)  # exit code 2
