"""zcompute's configuration: one typed object, read from a TOML file, the environment and flags.

Precedence (lowest first): built-in defaults, ``/etc/zcompute/zcompute.toml`` (or the file named
by ``ZCOMPUTE_CONFIG``), ``ZCOMPUTE_*`` environment variables, then explicit overrides (CLI flags).
This module only reads and checks values; what they mean is decided elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute.errors import ConfigError

__all__ = ["VIRT_TYPES", "Config", "default_data_dir", "load_config"]

VIRT_TYPES = ("auto", "kvm", "qemu")
CONSOLE_FORMS = ("console", "serial")
DEFAULT_CONFIG_FILE = Path("/etc/zcompute/zcompute.toml")


def default_data_dir() -> Path:
    """``/var/lib/zcompute`` for root, the XDG data directory otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/zcompute")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "zcompute"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one zcompute host.

    ``virt_type`` is like Nova's ``[libvirt] virt_type``: ``kvm`` or ``qemu`` (TCG); ``auto``
    means zcompute probes whether a KVM guest really runs instead of trusting ``/dev/kvm``.
    ``machine_types`` is the per-arch mapping text, e.g. ``"x86_64=q35,s390x=s390-ccw-virtio"``;
    it is parsed and checked by the architecture layer. ``console_form`` picks the s390x SCLP
    console form: the blueprint's ``<console>`` targets or the newer ``<serial>`` + sclp-serial.
    """

    uri: str = "qemu:///system"
    virt_type: str = "auto"
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    machine_types: str = ""
    console_form: str = "console"

    def __post_init__(self) -> None:
        if self.virt_type not in VIRT_TYPES:
            raise ConfigError("virt_type", f"unknown value {self.virt_type!r}", VIRT_TYPES)
        if self.console_form not in CONSOLE_FORMS:
            raise ConfigError("console_form", f"unknown value {self.console_form!r}", CONSOLE_FORMS)
        if not self.uri:
            raise ConfigError("uri", "must not be empty")


_FIELDS = {f.name for f in dataclasses.fields(Config)}


def _coerce(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            raise ConfigError(f"{origin}: {key}", "unknown setting", sorted(_FIELDS))
        if key == "data_dir":
            value = Path(str(value))
        elif not isinstance(value, str):
            raise ConfigError(f"{origin}: {key}", f"expected a string, got {value!r}")
        out[key] = value
    return out


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective :class:`Config` from file, environment and overrides."""
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get("ZCOMPUTE_CONFIG", str(DEFAULT_CONFIG_FILE)))
    merged: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(str(path), f"cannot read configuration: {err}") from err
        merged.update(_coerce(data, str(path)))
    from_env = {
        name: env[f"ZCOMPUTE_{name.upper()}"]
        for name in _FIELDS
        if f"ZCOMPUTE_{name.upper()}" in env
    }
    merged.update(_coerce(from_env, "environment"))
    merged.update(_coerce({k: v for k, v in (overrides or {}).items() if v is not None}, "option"))
    return Config(**merged)
