"""Property: whatever bad input the CLI gets, it answers with one error and a documented exit
code, never a traceback, and creates nothing.

Hypothesis generates names (unicode, slashes, empty, too long, leading dots or dashes, control
characters), sizes (negative, zero, huge, non-numeric, NaN), paths (missing, directories, a FIFO,
/dev/null), flavor extra specs, MACs, timeouts and configuration files (random bytes, non-UTF-8,
unknown keys, wrong types). Each example runs the real ``main`` against libvirt's test driver in
one data directory that holds a kernel image and a running guest; after every example the
instances, images and flavors are as before and no file appeared in the data directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.unit.cli.cli_support import TEST_URI, GuestFactory, Run, Zc
from tests.unit.fifo_support import FifoGuard

from zcompute.config import load_config
from zcompute.errors import ConfigError, InvalidInput
from zcompute.model import (
    IMAGE_PROPERTIES,
    MAX_TIMEOUT,
    Flavor,
    NICSpec,
    validate_extra_specs,
    validate_name,
)
from zcompute.state import StateDB

#: The exit codes bad input may get (README): user error, usage error, not found, no libvirt.
BAD_INPUT_CODES = {1, 2, 3, 4}

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,  # nothing written into the work tree; failures print their example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- the world the examples run in -----------------------------------------------------------


class World:
    """A data directory with a kernel image ``kimg``, the built-in flavors and one running
    guest; ``files`` holds an ordinary file, a directory and a FIFO outside of it."""

    def __init__(self, zc: Zc, guest: str, files: Path, fifo: FifoGuard) -> None:
        self.zc = zc
        self.guest = guest
        self.files = files
        self.fifo = fifo
        self.kernel = files / "vmlinuz"
        self.kernel.write_bytes(b"kernel")
        self.before = self.snapshot()

    def snapshot(self) -> tuple[object, ...]:
        """What must not change: records by name, and every file in the data directory."""
        with StateDB(self.zc.data_dir / "state.db") as db:
            records = (
                sorted(i.name for i in db.list_instances()),
                sorted(i.name for i in db.list_images()),
                sorted(f.name for f in db.list_flavors()),
            )
        files = sorted(
            str(p.relative_to(self.zc.data_dir))
            for p in self.zc.data_dir.rglob("*")
            # what any read of SQLite makes, and the reserve any command keeps (state/_reserve)
            if not p.name.endswith(("-wal", "-shm", "-journal", ".space-reserve"))
        )
        return (*records, files)

    def run(self, *argv: str) -> Run:
        result = self.zc(*argv)
        check(result, argv)
        assert self.snapshot() == self.before, (argv, result)
        return result


def check(result: Run, argv: tuple[str, ...]) -> None:
    text = result.out + result.err
    assert "Traceback" not in text, (argv, result)
    assert "internal error" not in text, (argv, result)
    assert result.code in BAD_INPUT_CODES, (argv, result)
    assert result.err.strip(), (argv, result)  # it said what was wrong


@pytest.fixture
def world(zc: Zc, make_guest: GuestFactory, files: Path) -> Iterator[World]:
    guest = make_guest()  # imports the kernel image "kimg" too
    fifo = FifoGuard(files / "fifo")
    try:
        yield World(zc, guest.name, files, fifo)
    finally:
        fifo.close()
    assert not fifo.rescued, "a command blocked on the FIFO"


# -- strategies ------------------------------------------------------------------------------


def _is_bad_name(text: str) -> bool:
    try:
        validate_name(text)
    except InvalidInput:
        return True
    return False


FIXED_BAD_NAMES = [
    "", ".", "..", ".hidden", "-x", "a/b", "../etc", "a b", "ä", "x" * 64, "a..b", "a\tb",
    "名前", "a\x00b", "/", "web1\n",
]  # fmt: skip
BAD_NAMES = st.one_of(
    st.sampled_from(FIXED_BAD_NAMES), st.text(min_size=0, max_size=80).filter(_is_bad_name)
)
NOT_NUMBERS = st.sampled_from(["", "nan", "inf", "-inf", "1.5", "1e3", "ten", "0x", "1 2", "½"])


def _bad_int(low: int, high: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(max_value=low - 1).map(str),
        st.integers(min_value=high + 1, max_value=10**30).map(str),
        NOT_NUMBERS,
    )


BAD_SECONDS = st.one_of(
    st.floats(max_value=-1e-9, allow_nan=False).map(repr),
    st.floats(min_value=MAX_TIMEOUT + 1, allow_nan=False).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "-0.5", "", "1s", "ten"]),
)


def _bad_spec(pair: tuple[str, str]) -> bool:
    try:
        validate_extra_specs(dict([pair]))
    except InvalidInput:
        return True
    return False


KNOWN_KEYS = sorted(IMAGE_PROPERTIES)
BAD_SPECS = st.one_of(
    st.tuples(st.sampled_from(KNOWN_KEYS), st.text(max_size=40)),
    st.tuples(st.text(max_size=20).filter(lambda k: "=" not in k), st.text(max_size=20)),
).filter(_bad_spec)


# -- properties ------------------------------------------------------------------------------


@SETTINGS
@given(name=BAD_NAMES, command=st.sampled_from(["boot", "flavor", "image", "snapshot", "show"]))
def test_bad_names(world: World, name: str, command: str) -> None:
    argv = {
        "boot": ("boot", name, "--image", "kimg", "--flavor", "tiny"),
        "flavor": ("flavor", "create", name, "--vcpus", "1", "--memory", "64"),
        "image": ("image", "import", name, "--kernel", str(world.kernel), "--arch", "s390x"),
        "snapshot": ("snapshot", world.guest, name),
        "show": ("show", name),
    }[command]
    world.run(*argv)


@SETTINGS
@given(
    field=st.sampled_from(["--vcpus", "--memory", "--disk"]),
    data=st.data(),
)
def test_bad_flavor_sizes(world: World, field: str, data: st.DataObject) -> None:
    ranges = {"--vcpus": (1, 4096), "--memory": (16, 16 * 1024 * 1024), "--disk": (0, 64 * 1024)}
    value = data.draw(_bad_int(*ranges[field]), label=field)
    sizes = {"--vcpus": "1", "--memory": "64", "--disk": "1", field: value}
    argv = ["flavor", "create", "bad-size"]
    for option, given_value in sizes.items():
        argv += [option, given_value]
    world.run(*argv)


@SETTINGS
@given(pair=BAD_SPECS)
def test_bad_extra_specs(world: World, pair: tuple[str, str]) -> None:
    key, value = pair
    world.run(
        "flavor", "create", "bad-spec", "--vcpus", "1", "--memory", "64",
        "--property", f"{key}={value}",
    )  # fmt: skip
    assume(key)  # an empty key is a usage error above; a flavor needs one to be refused
    with pytest.raises(InvalidInput):
        Flavor("bad-spec", 1, 64, 0, {key: value})


def _paths(world: World) -> list[str]:
    return [
        str(world.files / "missing.img"),
        str(world.files),  # a directory
        str(world.fifo.path),
        "/dev/null",
        "",
        str(world.files / "missing" / "deeper.img"),
        "relative/missing.img",
    ]


@SETTINGS
@given(which=st.integers(min_value=0, max_value=6), data=st.data())
def test_bad_paths(world: World, which: int, data: st.DataObject) -> None:
    path = _paths(world)[which]
    k = str(world.kernel)
    argv = data.draw(
        st.sampled_from(
            [
                ("image", "import", "img", path),
                ("image", "import", "img", "--kernel", path, "--arch", "s390x"),
                ("image", "import", "img", "--kernel", k, "--initrd", path, "--arch", "s390x"),
                ("xml", "lint", path),
                ("boot", "g2", "--image", "kimg", "--flavor", "tiny", "--volume", path),
                ("volume", "attach", world.guest, "--file", path),
                ("host", "show", "--capabilities", path),
            ]
        ),
        label="argv",
    )
    world.run(*argv)


@SETTINGS
@given(
    seconds=BAD_SECONDS,
    command=st.sampled_from(["boot", "stop", "reboot", "console-log", "console"]),
)
def test_bad_timeouts(world: World, seconds: str, command: str) -> None:
    argv = {
        "boot": ("boot", "g2", "--image", "kimg", "--flavor", "tiny", "--timeout", seconds),
        "stop": ("stop", world.guest, "--timeout", seconds),
        "reboot": ("reboot", world.guest, "--timeout", seconds),
        "console-log": ("console-log", world.guest, "-f", "--until", "x", "--timeout", seconds),
        "console": ("console", world.guest, "--linger", seconds),
    }[command]
    result = world.run(*argv)
    assert result.code == 2
    assert f"seconds from 0 to {MAX_TIMEOUT}" in result.err


MACS = st.one_of(
    st.sampled_from(["", "52:54:00:12:34", "01:00:5e:00:00:01", "00:00:00:00:00:00", "zz"]),
    st.text(max_size=20),
)


@SETTINGS
@given(mac=MACS, network=st.one_of(st.just("default"), BAD_NAMES))
def test_bad_interfaces(world: World, mac: str, network: str) -> None:
    try:
        NICSpec(network="default", mac=mac)
        good_mac = True
    except InvalidInput:
        good_mac = False
    assume(not good_mac or network != "default")  # else the attach is valid input
    world.run("interface", "attach", world.guest, "--network", network, "--mac", mac)


TOML_VALUES = st.one_of(
    st.integers().map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.just("[1, 2]"),
    st.just("{ a = 1 }"),
    st.text(max_size=20).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
)
CONFIG_FILES = st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=1, max_size=50).map(lambda b: b'uri = "' + b + b'\xff"\n'),
    st.tuples(st.text(min_size=1, max_size=12), TOML_VALUES).map(
        lambda kv: f'"{kv[0].replace(chr(34), "")}" = {kv[1]}\n'.encode(errors="replace")
    ),
    st.tuples(
        st.sampled_from(["uri", "virt_type", "data_dir", "machine_types", "console_form"]),
        TOML_VALUES,
    ).map(lambda kv: f"{kv[0]} = {kv[1]}\n".encode()),
)


@SETTINGS
@given(content=CONFIG_FILES)
def test_bad_config_files(world: World, content: bytes) -> None:
    config = world.files / "zcompute.toml"
    config.write_bytes(content)
    flags = {"uri": TEST_URI, "data_dir": str(world.zc.data_dir)}  # what zc passes
    try:
        load_config(flags, config_file=config, environ={})
    except ConfigError:
        pass
    else:
        assume(False)  # valid after all (e.g. empty, or a bad uri the flag overrides)
    world.zc.env = {"ZCOMPUTE_CONFIG": str(config)}
    try:
        result = world.run("list")
    finally:
        world.zc.env = {}
    assert result.code == 1
    assert len(result.err.splitlines()) == 1, result


def test_the_world_is_what_the_properties_assume(world: World) -> None:
    assert world.before[0] == [world.guest]
    assert world.before[1] == ["kimg"]
    assert {"tiny", "small", "medium"} <= set(world.before[2])  # type: ignore[call-overload]
    assert world.fifo.path.exists()
