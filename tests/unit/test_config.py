from __future__ import annotations

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
