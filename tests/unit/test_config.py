from __future__ import annotations

import re
from pathlib import Path

import pytest

from zcompute.config import Config, load_config
from zcompute.errors import ConfigError


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_text('uri = "qemu:///session"\nvirt_type = "kvm"\nmachine_types = "x86_64=q35"\n')
    env = {"ZCOMPUTE_VIRT_TYPE": "qemu", "ZCOMPUTE_DATA_DIR": str(tmp_path / "d")}
    config = load_config({"uri": "test:///default"}, config_file=conf, environ=env)
    assert config.uri == "test:///default"  # flag beats file
    assert config.virt_type == "qemu"  # environment beats file
    assert config.machine_types == "x86_64=q35"  # file beats default
    assert config.data_dir == tmp_path / "d"


def test_unknown_setting_names_the_allowed_ones(tmp_path: Path) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_text('virt_tpye = "kvm"\n')
    with pytest.raises(ConfigError, match=r"virt_tpye.*allowed: .*virt_type"):
        load_config(config_file=conf, environ={})


def test_bad_virt_type_is_rejected_with_allowed_values() -> None:
    with pytest.raises(
        ConfigError, match=r"virt_type: unknown value 'xen' \(allowed: auto, kvm, qemu\)"
    ):
        Config(virt_type="xen")


def test_unreadable_toml_is_a_config_error(tmp_path: Path) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_text("uri = \n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(config_file=conf, environ={})


def test_a_config_file_that_is_not_utf8_is_one_error_naming_it(tmp_path: Path) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_bytes(b'uri = "qemu:///system"\n# caf\xe9\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config_file=conf, environ={})
    assert str(caught.value) == (
        f"{conf}: cannot read configuration: not UTF-8 (byte 0xe9 at offset 28)"
    )


@pytest.mark.parametrize("value", ["", ".", "relative/dir", "./zc", "~/zc"])
def test_a_data_dir_must_be_an_absolute_path_wherever_it_comes_from(
    tmp_path: Path, value: str
) -> None:
    """A relative data dir would make the current directory (whatever it is) the data dir."""
    conf = tmp_path / "zcompute.toml"
    conf.write_text(f"data_dir = {value!r}\n".replace("'", '"'))
    message = rf"data_dir: must be an absolute path, got {value!r}"
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(config_file=conf, environ={})
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(environ={"ZCOMPUTE_DATA_DIR": value, "ZCOMPUTE_CONFIG": "/nonexistent"})
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config({"data_dir": value}, config_file=tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="data_dir: must be an absolute path"):
        Config(data_dir=Path(value))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data_dir = 5\n", "data_dir: expected a string, got 5"),
        ('data_dir = "/srv/zc\\u0000x"\n', "data_dir: control characters"),
        ('uri = "qemu:///system\\u0000"\n', "uri: control characters are not allowed"),
        ("virt_type = []\n", "virt_type: expected a string, got []"),
    ],
)
def test_wrong_types_and_control_characters_are_config_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(config_file=conf, environ={})


@pytest.mark.parametrize(
    ("text", "host", "first", "last"),
    [
        ("127.0.0.1:10000-20000", "127.0.0.1", 10000, 20000),
        ("10.1.2.3:5900-5900", "10.1.2.3", 5900, 5900),
        ("[::1]:1-65535", "::1", 1, 65535),
    ],
)
def test_serial_tcp_gives_an_address_and_a_port_range(
    text: str, host: str, first: int, last: int
) -> None:
    endpoints = Config(serial_tcp=text).serial_tcp_endpoints
    assert endpoints is not None
    assert (endpoints.host, endpoints.first, endpoints.last) == (host, first, last)
    assert str(endpoints) == text
    assert Config().serial_tcp_endpoints is None  # off by default: pty consoles


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("127.0.0.1", "invalid value"),
        ("127.0.0.1:10000", "invalid value"),
        ("127.0.0.1:10000:20000", "invalid value"),
        ("localhost:10000-20000", "'localhost' is not an IP address"),
        ("::1:10000-20000", "invalid value"),
        ("[127.0.0.1]:10000-20000", "invalid address"),
        ("127.0.0.1:20000-10000", "invalid port range"),
        ("127.0.0.1:0-10", "invalid port range"),
        ("127.0.0.1:65535-65536", "invalid port range"),
        ("127.0.0.1:1-2\n", "invalid value"),
    ],
)
def test_a_bad_serial_tcp_names_the_field_and_the_allowed_form(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"serial_tcp: {re.escape(problem)}") as info:
        Config(serial_tcp=text)
    assert "LISTEN-ADDRESS:FIRST-LAST, e.g. 127.0.0.1:10000-20000" in str(info.value)


def test_serial_tcp_comes_from_the_environment_and_files(tmp_path: Path) -> None:
    conf = tmp_path / "zcompute.toml"
    conf.write_text('serial_tcp = "127.0.0.1:10000-10010"\n')
    assert load_config(config_file=conf, environ={}).serial_tcp == "127.0.0.1:10000-10010"
    env = {"ZCOMPUTE_SERIAL_TCP": ""}  # the environment turns it off again
    assert load_config(config_file=conf, environ=env).serial_tcp_endpoints is None
    with pytest.raises(ConfigError, match=r"serial_tcp: invalid value 'x'"):
        load_config(config_file=conf, environ={"ZCOMPUTE_SERIAL_TCP": "x"})


def test_cpu_baseline_model_comes_from_files_and_the_environment(tmp_path: Path) -> None:
    assert Config().cpu_baseline_model == ""  # off: KVM guests get host-model
    conf = tmp_path / "zcompute.toml"
    conf.write_text('cpu_baseline_model = "z14"\n')
    assert load_config(config_file=conf, environ={}).cpu_baseline_model == "z14"
    env = {"ZCOMPUTE_CPU_BASELINE_MODEL": "s390x=gen15a,x86_64=Haswell-noTSX"}
    config = load_config(config_file=conf, environ=env)
    assert config.cpu_baseline_model == "s390x=gen15a,x86_64=Haswell-noTSX"
    # Its models are the architecture layer's to check (zcompute.arch.parse_cpu_baselines);
    # the configuration refuses what no setting may hold.
    with pytest.raises(ConfigError, match=r"cpu_baseline_model: control characters"):
        Config(cpu_baseline_model="z14\n")
    conf.write_text("cpu_baseline_model = 14\n")
    with pytest.raises(ConfigError, match=r"cpu_baseline_model: expected a string, got 14"):
        load_config(config_file=conf, environ={})
