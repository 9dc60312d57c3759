"""Nova's options that keep their meaning in zcompute's configuration."""

from __future__ import annotations

from typing import Any

import pytest

from zcompute.errors import ConfigError
from zcompute.nova._conf import zcompute_config


@pytest.fixture
def libvirt_conf(nova_conf: Any) -> Any:
    yield nova_conf
    for name in ("cpu_mode", "cpu_models"):
        nova_conf.clear_override(name, group="libvirt")


@pytest.mark.parametrize("mode", [None, "host-model", "none"])
def test_host_model_is_zcompute_s_default(libvirt_conf: Any, mode: str | None) -> None:
    libvirt_conf.set_override("cpu_mode", mode, group="libvirt")
    assert zcompute_config("h1").cpu_baseline_model == ""


def test_a_custom_model_is_the_fleet_s_baseline(libvirt_conf: Any) -> None:
    """A mixed IBM Z fleet pins z15 so that its guests can move to every host of it."""
    libvirt_conf.set_override("cpu_mode", "custom", group="libvirt")
    libvirt_conf.set_override("cpu_models", ["z15", "z14"], group="libvirt")
    assert zcompute_config("h1").cpu_baseline_model == "z15"


def test_custom_without_models_and_host_passthrough_are_refused(libvirt_conf: Any) -> None:
    libvirt_conf.set_override("cpu_mode", "custom", group="libvirt")
    with pytest.raises(ConfigError, match=r"\[libvirt\] cpu_models"):
        zcompute_config("h1")
    libvirt_conf.set_override("cpu_mode", "host-passthrough", group="libvirt")
    with pytest.raises(ConfigError, match=r"\[libvirt\] cpu_mode.*host-model, custom, none"):
        zcompute_config("h1")
